"""The execution timeline: how each step of a job shows (only an active step spins), its detail line and counts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from blastflow.merge import ORPHAN_SOURCE
from blastflow.model import (
    FAILURE_PHASES,
    PHASE_MESSAGES,
    PHASE_TO_STEP,
    STEP_LABELS,
    STEP_ORDER,
    JobRecord,
    Phase,
    StepName,
    StepState,
    StepStatus,
)
from blastflow.progress import format_duration, percent_done, stopped_line, without_eta
from blastflow.search import PodCounts

__all__ = [
    "StepDisplay",
    "StepView",
    "counters_text",
    "pod_counts",
    "resolve_step_state",
    "step_progress",
    "step_summary",
    "timeline",
]


class StepDisplay(StrEnum):
    """How the timeline shows a step. Only ACTIVE spins."""

    PENDING = "pending"
    ACTIVE = "active"
    DONE = "done"
    ERROR = "error"
    SKIPPED = "skipped"


_STEP_ICONS: dict[StepDisplay, str] = {
    StepDisplay.PENDING: ":material/radio_button_unchecked:",
    StepDisplay.ACTIVE: "spinner",
    StepDisplay.DONE: ":material/check_circle:",
    StepDisplay.ERROR: ":material/error:",
    StepDisplay.SKIPPED: ":material/do_not_disturb_on:",
}

_STATUS_DISPLAY: dict[StepStatus, StepDisplay] = {
    StepStatus.PENDING: StepDisplay.PENDING,
    StepStatus.RUNNING: StepDisplay.ACTIVE,
    StepStatus.COMPLETED: StepDisplay.DONE,
    StepStatus.FAILED: StepDisplay.ERROR,
    StepStatus.SKIPPED: StepDisplay.SKIPPED,
}


def resolve_step_state(phase: Phase, name: StepName, step: StepState) -> StepDisplay:
    """How to show `step` of a job in `phase`.

    The failure phase is checked BEFORE "is the step running" (fix E): a step
    left `running` in a failed job (a crashed worker, a legacy row, a writer that
    bypassed the merge) shows as failed, never as a spinner. A completed job
    shows no spinner either. The transit phase `submitted` makes `wait_for_pods`
    active even before its row says so (fix I).

    Example:
        >>> resolve_step_state(Phase.FAILED, StepName.SUBMIT, StepState(status=StepStatus.RUNNING)).value
        'error'
        >>> resolve_step_state(Phase.SUBMITTED, StepName.WAIT_FOR_PODS, StepState()).value
        'active'
    """
    if phase in FAILURE_PHASES:
        if step.status in (StepStatus.RUNNING, StepStatus.FAILED):
            return StepDisplay.ERROR
        return StepDisplay.PENDING if step.status is StepStatus.PENDING else _STATUS_DISPLAY[step.status]
    if phase is Phase.COMPLETED:
        if step.status in (StepStatus.RUNNING, StepStatus.COMPLETED):
            return StepDisplay.DONE
        return _STATUS_DISPLAY[step.status] if step.status is not StepStatus.PENDING else StepDisplay.SKIPPED
    if PHASE_TO_STEP[phase] is name and step.status in (StepStatus.PENDING, StepStatus.RUNNING):
        return StepDisplay.ACTIVE
    return _STATUS_DISPLAY[step.status]


@dataclass(frozen=True, slots=True)
class StepView:
    """One step of the timeline as the page shows it."""

    name: StepName
    label: str
    state: StepDisplay
    icon: str
    detail: str  # one truthful line: what the step is doing, how long it took, or why it failed
    summary: str  # the line under the heading: live progress while active; after, only what is still true
    counters: str  # batch/pod counts, empty when none
    expanded: bool  # open by default: only the active or failed step (fix L)
    log_line_count: int
    progress: float | None = None  # fraction of batches finished, for the active step that has batches

    @property
    def title(self) -> str:
        """The step's heading: its label, and how it ended once it has (our own words only).

        An active step's heading stays the bare label, so it does not change while the step runs.
        """
        if self.state in (StepDisplay.ACTIVE, StepDisplay.PENDING) or not self.detail:
            return self.label
        return f"{self.label} · {self.detail}"


_COUNTER_ORDER = ("running", "pending", "succeeded", "failed")


def counters_text(counters: dict[str, int]) -> str:
    """Batch/pod counts in a sentence; empty when there are none.

    Example:
        >>> counters_text({"pending": 1, "running": 2, "succeeded": 5, "failed": 0})
        '5 of 8 batches finished · 2 running · 1 pending · 5 succeeded · 0 failed'
        >>> counters_text({})
        ''
    """
    if not counters:
        return ""
    parts: list[str] = []
    known = {k: counters[k] for k in _COUNTER_ORDER if k in counters}
    total = counters.get("batches") or sum(known.values())
    if known and total:
        finished = known.get("succeeded", 0) + known.get("failed", 0)
        parts.append(f"{finished} of {total} batches finished")
    elif total:
        parts.append(f"{total} batches")
    parts += [f"{value} {name}" for name, value in known.items()]
    parts += [
        f"{value} {name.replace('_', ' ')}"
        for name, value in sorted(counters.items())
        if name not in known and name != "batches"
    ]
    return " · ".join(parts)


def _step_detail(phase: Phase, name: StepName, step: StepState, state: StepDisplay) -> str:
    # fix K: durations come from duration_ms; nothing is said that the row does not carry.
    duration = format_duration(None if step.duration_ms is None else step.duration_ms / 1000)
    if state is StepDisplay.ACTIVE:
        if step.message:
            return step.message
        return PHASE_MESSAGES[phase] if PHASE_TO_STEP[phase] is name else "Running…"
    if state is StepDisplay.DONE:
        return f"done in {duration}" if duration else "done"
    if state is StepDisplay.ERROR:
        if step.source == ORPHAN_SOURCE or step.status is StepStatus.RUNNING:
            return "stopped when the job failed"
        return f"failed after {duration}" if duration else "failed"
    if state is StepDisplay.SKIPPED:
        return "skipped"
    return ""


def step_summary(phase: Phase, name: StepName, step: StepState, state: StepDisplay) -> str:
    """The line shown under a step's heading (fix K: truthful text).

    While the step is active: its progress, ETA included. A failed or cancelled step says where it
    stopped (batches finished, time in) and never a future-tense estimate; any other finished step keeps
    its last message, less an ETA it may still carry.

    Example:
        >>> ran = StepState(status=StepStatus.FAILED, duration_ms=100_000, message="12 of 29 … about 21 s left",
        ...                 counters={"succeeded": 12, "running": 3, "pending": 14, "failed": 0})
        >>> step_summary(Phase.CANCELLED, StepName.RUN, ran, StepDisplay.ERROR)
        'stopped after 12 of 29 batches, 1 min 40 s in'
    """
    if state is StepDisplay.ACTIVE:
        return _step_detail(phase, name, step, state)
    if state is StepDisplay.ERROR:
        return stopped_line(pod_counts(step.counters), _ran_for(step))
    return without_eta(step.message or "")


def step_progress(step: StepState, state: StepDisplay) -> float | None:
    """The fraction of batches finished, for an active step that counts batches (the page draws it as a bar).

    Example:
        >>> step_progress(StepState(counters={"succeeded": 2, "running": 2, "pending": 1}), StepDisplay.ACTIVE)
        0.4
        >>> step_progress(StepState(counters={"succeeded": 2}), StepDisplay.DONE) is None
        True
    """
    counts = pod_counts(step.counters) if state is StepDisplay.ACTIVE else None
    return percent_done(counts) / 100 if counts is not None and counts.total else None


def pod_counts(counters: dict[str, int]) -> PodCounts | None:
    """The batch counts among a step's counters (wait for pods, run), or None for a step without batches."""
    fields = {name: counters[name] for name in ("pending", "running", "succeeded", "failed") if name in counters}
    return PodCounts(**fields) if fields else None


def _ran_for(step: StepState) -> float | None:
    """Seconds the step ran: its recorded duration, else from its start to its end; None when the row says neither."""
    if step.duration_ms is not None:
        return step.duration_ms / 1000
    if step.started_at is not None and step.completed_at is not None:
        return (step.completed_at - step.started_at).total_seconds()
    return None


def timeline(job: JobRecord) -> list[StepView]:
    """The execution timeline of a job, one view per step in order.

    Example:
        >>> from datetime import UTC, datetime
        >>> from blastflow.merge import JobUpdate, merge
        >>> job = merge(None, JobUpdate(job_id="j", phase=Phase.SUBMITTED), datetime(2026, 1, 1, tzinfo=UTC))
        >>> [(v.name.value, v.state.value) for v in timeline(job)][2]
        ('wait_for_pods', 'active')
    """
    views = []
    for name in STEP_ORDER:
        step = job.steps[name]
        state = resolve_step_state(job.phase, name, step)
        views.append(
            StepView(
                name=name,
                label=STEP_LABELS[name],
                state=state,
                icon=_STEP_ICONS[state],
                detail=_step_detail(job.phase, name, step, state),
                summary=step_summary(job.phase, name, step, state),
                counters=counters_text(step.counters),
                expanded=state in (StepDisplay.ACTIVE, StepDisplay.ERROR),
                log_line_count=step.log_line_count,
                progress=step_progress(step, state),
            )
        )
    return views
