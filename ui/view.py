"""What the monitoring page shows, decided by pure functions of job data (no Streamlit here).

The page files only render what these functions return, so every decision a
user can see (which step spins, which text goes in the failure banner, when
the page stops refreshing, when the tab switches) is tested without a browser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

import pandas as pd

from blastflow.hits import Hit
from blastflow.merge import ORPHAN_SOURCE
from blastflow.model import (
    FAILURE_PHASES,
    PHASE_MESSAGES,
    PHASE_TO_STEP,
    STEP_LABELS,
    STEP_ORDER,
    TERMINAL_PHASES,
    JobRecord,
    JobStatus,
    Phase,
    StepName,
    StepState,
    StepStatus,
)
from blastflow.store.base import LogLine

__all__ = [
    "BACKFILL_REFRESH_S",
    "BACKFILL_WINDOW",
    "HIT_TABLE_COLUMNS",
    "JOB_LIST_COLUMNS",
    "LIST_REFRESH_S",
    "LIVE_REFRESH_S",
    "LOG_TAIL_LINES",
    "TABS",
    "TAB_DESCRIPTIONS",
    "TAB_DOWNLOADS",
    "TAB_PLOTS",
    "TAB_RUN",
    "Badge",
    "ConsoleView",
    "FailureBanner",
    "JobHeader",
    "LogTail",
    "StepDisplay",
    "StepView",
    "TabDecision",
    "console_view",
    "counters_text",
    "decide_tab",
    "elapsed_ms",
    "escape_markdown",
    "extend_tail",
    "failed_step",
    "failure_banner",
    "filter_hits",
    "filter_jobs",
    "finished_at",
    "format_duration",
    "format_time",
    "hits_frame",
    "hits_per_query",
    "job_header",
    "job_rows",
    "job_title",
    "list_refresh_interval",
    "overview_rows",
    "prefect_run_url",
    "refresh_interval",
    "resolve_step_state",
    "started_at",
    "status_badge",
    "timeline",
]

LIVE_REFRESH_S = 2.0
LIST_REFRESH_S = 5.0
BACKFILL_REFRESH_S = 10.0  # fix N: late pod-log backfill lands after the terminal phase
BACKFILL_WINDOW = timedelta(minutes=5)
LOG_TAIL_LINES = 2_000  # lines of one step's log the page renders at most

TAB_RUN = "Run"
TAB_DESCRIPTIONS = "Descriptions"
TAB_PLOTS = "Plots"
TAB_DOWNLOADS = "Downloads"
TABS = (TAB_RUN, TAB_DESCRIPTIONS, TAB_PLOTS, TAB_DOWNLOADS)


# --- status and time -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Badge:
    """A status badge: the words, a Streamlit colour name, a Material icon, and a plain symbol for table cells."""

    label: str
    color: str
    icon: str
    symbol: str  # in every common font, unlike emoji


_BADGES: dict[JobStatus, Badge] = {
    JobStatus.QUEUED: Badge("Queued", "gray", ":material/schedule:", "○"),
    JobStatus.RUNNING: Badge("Running", "blue", ":material/progress_activity:", "●"),
    JobStatus.COMPLETED: Badge("Completed", "green", ":material/check_circle:", "✓"),
    JobStatus.FAILED: Badge("Failed", "red", ":material/error:", "✗"),
    JobStatus.CANCELLED: Badge("Cancelled", "orange", ":material/cancel:", "⊘"),
}


def status_badge(status: JobStatus) -> Badge:
    """The badge for a job status.

    Example:
        >>> status_badge(JobStatus.FAILED).label
        'Failed'
    """
    return _BADGES[status]


def format_duration(ms: int | float | None) -> str:
    """A duration for people: ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; empty when unknown.

    Example:
        >>> [format_duration(v) for v in (None, 850, 12_300, 245_000, 7_380_000)]
        ['', '850 ms', '12.3 s', '4 min 05 s', '2 h 03 min']
    """
    if ms is None or ms < 0 or math.isnan(ms):
        return ""
    if ms < 1_000:
        return f"{int(ms)} ms"
    seconds = ms / 1_000
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3_600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3_600} h {whole % 3_600 // 60:02d} min"


def format_time(moment: datetime | None) -> str:
    """A timestamp in UTC, to the second; empty when unknown.

    Example:
        >>> from datetime import UTC
        >>> format_time(datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC))
        '2026-01-02 03:04:05 UTC'
    """
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def started_at(job: JobRecord) -> datetime:
    """When work on the job began: the first step start, else the creation time."""
    starts = [s.started_at for s in job.steps.values() if s.started_at is not None]
    return min(starts) if starts else job.created_at


def finished_at(job: JobRecord) -> datetime | None:
    """When a terminal job finished (its last step end; the row's time if no step ended); None while live.

    `updated_at` alone would drift: late backfill writes touch the row after the end.
    """
    if not job.is_terminal:
        return None
    ends = [s.completed_at for s in job.steps.values() if s.completed_at is not None]
    return max(ends) if ends else job.updated_at


def elapsed_ms(job: JobRecord, now: datetime) -> int:
    """Run time so far (live) or in total (terminal), in milliseconds."""
    end = finished_at(job) or now
    return max(0, int((end - started_at(job)).total_seconds() * 1000))


# --- header and failure banner ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobHeader:
    """Everything in the job page header, as text."""

    title: str
    badge: Badge
    phase_message: str
    started: str
    finished: str
    elapsed: str
    backend: str
    program: str
    database: str
    queries: str
    prefect_url: str | None


def prefect_run_url(prefect_ui_url: str | None, flow_run_id: str | None) -> str | None:
    """The Prefect UI page of the flow run, when both the UI URL and the run id are known.

    The run id comes from a job row, so it is quoted: it can only ever be one path segment.

    Example:
        >>> prefect_run_url("http://127.0.0.1:4200/", "abc-123")
        'http://127.0.0.1:4200/runs/flow-run/abc-123'
        >>> prefect_run_url(None, "abc") is None
        True
    """
    if not prefect_ui_url or not flow_run_id:
        return None
    if not prefect_ui_url.startswith(("http://", "https://")):
        return None
    return f"{prefect_ui_url.rstrip('/')}/runs/flow-run/{quote(flow_run_id, safe='')}"


def job_title(job: JobRecord) -> str:
    """The job's title, or a stand-in naming the search when it has none."""
    if job.title.strip():
        return job.title.strip()
    what = " against ".join(part for part in (job.program, job.database) if part)
    return f"{what} search" if what else f"Job {job.job_id[:8]}"


def job_header(job: JobRecord, now: datetime, prefect_ui_url: str | None = None) -> JobHeader:
    """The header of the job page."""
    finished = finished_at(job)
    queries = ""
    if job.query_count:
        queries = f"{job.query_count:,} quer{'y' if job.query_count == 1 else 'ies'}"
        if job.query_length:
            queries += f", {job.query_length:,} residues"
    return JobHeader(
        title=job_title(job),
        badge=status_badge(job.status),
        phase_message=PHASE_MESSAGES[job.phase],
        started=format_time(started_at(job)),
        finished=format_time(finished),
        elapsed=format_duration(elapsed_ms(job, now)),
        backend=job.backend,
        program=job.program,
        database=job.database,
        queries=queries,
        prefect_url=prefect_run_url(prefect_ui_url, job.flow_run_id),
    )


@dataclass(frozen=True, slots=True)
class FailureBanner:
    """The failure banner: a heading from our own words, and the job's text (rendered as text)."""

    heading: str
    text: str
    code: str | None


def failed_step(job: JobRecord) -> StepName | None:
    """The step the job failed at: a step that failed by itself before one failed as an orphan."""
    failed = [name for name in STEP_ORDER if job.steps[name].status in (StepStatus.FAILED, StepStatus.RUNNING)]
    for name in failed:
        if job.steps[name].source != ORPHAN_SOURCE:
            return name
    return failed[0] if failed else None


def failure_banner(job: JobRecord) -> FailureBanner | None:
    """The failure banner of a job in a failure phase, or None.

    The text comes from the authoritative fields first (fix D): the job's error,
    then its error code; per-step errors next (a step that failed by itself
    before orphans), and a step's last output line only when nothing else is
    known. So a benign last log line never hides the real error.

    Example:
        >>> from datetime import UTC, datetime
        >>> from blastflow.merge import JobUpdate, StepUpdate, merge
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = merge(None, JobUpdate(job_id="j", phase=Phase.SUBMITTING,
        ...     steps={StepName.SUBMIT: StepUpdate(lines=["[prep] running 4 azcopy checks"])}), t)
        >>> failure_banner(merge(job, JobUpdate(phase=Phase.FAILED, error="AttributeError: x"), t)).text
        'AttributeError: x'
    """
    if job.phase not in FAILURE_PHASES:
        return None
    step = failed_step(job)
    where = f" at {STEP_LABELS[step]}" if step is not None else ""
    verb = {Phase.CANCELLED: "was cancelled", Phase.TIMED_OUT: "timed out", Phase.WORKER_LOST: "lost its worker"}
    heading = f"Job {verb.get(job.phase, 'failed')}{where}"
    return FailureBanner(heading=heading, text=_failure_text(job, step), code=job.error_code or None)


def _failure_text(job: JobRecord, step: StepName | None) -> str:
    steps = [job.steps[name] for name in STEP_ORDER]
    own = [s for s in steps if s.status is StepStatus.FAILED and s.source != ORPHAN_SOURCE]
    orphans = [s for s in steps if s.status is StepStatus.FAILED and s.source == ORPHAN_SOURCE]
    candidates: list[str | None] = [job.error, job.error_code]
    candidates += [s.error for s in own] + [s.error for s in orphans]
    if step is not None:
        candidates.append(_last_line(job.steps[step].last_output))
    candidates += [_last_line(s.last_output) for s in own]
    for text in candidates:
        if text and text.strip():
            return text.strip()
    return PHASE_MESSAGES[job.phase]


def _last_line(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


# --- timeline --------------------------------------------------------------------------------------------------


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
    counters: str  # batch/pod counts, empty when none
    expanded: bool  # open by default: only the active or failed step (fix L)
    log_line_count: int

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
    duration = format_duration(step.duration_ms)
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
                counters=counters_text(step.counters),
                expanded=state in (StepDisplay.ACTIVE, StepDisplay.ERROR),
                log_line_count=step.log_line_count,
            )
        )
    return views


# --- step logs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogTail:
    """The bounded tail of one step's log the page holds between refreshes.

    `cursor` is the store's cursor after the last line read, so a refresh reads
    only newer lines; `seqs` are the sequence numbers of the lines kept.
    """

    lines: tuple[str, ...] = ()
    seqs: tuple[int, ...] = ()
    cursor: str | None = None

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    @property
    def hidden(self) -> int:
        """How many earlier lines exist but are not kept (sequence numbers start at 1)."""
        return self.seqs[0] - 1 if self.seqs else 0


def extend_tail(tail: LogTail, new: Sequence[LogLine], cursor: str | None, limit: int = LOG_TAIL_LINES) -> LogTail:
    """The tail after `new` lines arrived: at most `limit` lines, the newest ones.

    Lines at or below the last sequence already held are dropped, so a line is
    never shown twice even if a page of lines is read again.

    Example:
        >>> from blastflow.store.base import LogLine
        >>> t = extend_tail(LogTail(), [LogLine(StepName.RUN, i, f"l{i}") for i in (1, 2, 3)], "c3", limit=2)
        >>> t.lines, t.hidden
        (('l2', 'l3'), 1)
    """
    fresh = [line for line in new if line.seq > tail.last_seq]
    if not fresh:
        return LogTail(tail.lines, tail.seqs, cursor or tail.cursor)
    lines = (tail.lines + tuple(line.text for line in fresh))[-limit:]
    seqs = (tail.seqs + tuple(line.seq for line in fresh))[-limit:]
    return LogTail(lines, seqs, cursor or tail.cursor)


@dataclass(frozen=True, slots=True)
class ConsoleView:
    """The one console block of a step: text, and how many earlier lines it leaves out."""

    text: str
    hidden: int
    source: str  # "log" (the log table), "snapshot" (the row's bounded tail) or "none"


def console_view(tail: LogTail, last_output: str) -> ConsoleView:
    """The console block of a step: the log table's lines, or the row's tail when the table has none.

    Never both (fix H): the row's `last_output` is a debounced sample of the
    same stream, so showing it beside the log lines would repeat them.

    Example:
        >>> console_view(LogTail(("a", "b"), (1, 2), "c"), "b").text
        'a\\nb'
        >>> console_view(LogTail(), "backfilled pod log").source
        'snapshot'
    """
    if tail.lines:
        return ConsoleView("\n".join(tail.lines), tail.hidden, "log")
    if last_output.strip():
        return ConsoleView(last_output, 0, "snapshot")
    return ConsoleView("", 0, "none")


# --- refresh and tabs ------------------------------------------------------------------------------------------


def refresh_interval(job: JobRecord | None, now: datetime) -> float | None:
    """Seconds between refreshes of the job page, or None to stop refreshing.

    Live jobs refresh every `LIVE_REFRESH_S`. After a terminal phase the page
    keeps refreshing every `BACKFILL_REFRESH_S` until the row has been quiet for
    `BACKFILL_WINDOW`, because pod logs may be backfilled after the end (fix N).

    Example:
        >>> from datetime import UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobRecord(job_id="j", phase=Phase.COMPLETED, created_at=t, updated_at=t)
        >>> refresh_interval(job, t + timedelta(minutes=1)), refresh_interval(job, t + timedelta(minutes=6))
        (10.0, None)
    """
    if job is None:
        return BACKFILL_REFRESH_S  # the row may not exist yet: look again soon
    if job.phase not in TERMINAL_PHASES:
        return LIVE_REFRESH_S
    if now - job.updated_at < BACKFILL_WINDOW:
        return BACKFILL_REFRESH_S
    return None


@dataclass(frozen=True, slots=True)
class TabDecision:
    """Which tab to switch to (None: leave the user where they are)."""

    switch_to: str | None


def decide_tab(seen_phase: Phase | None, phase: Phase, current_tab: str, tab_in_url: bool) -> TabDecision:
    """Whether to move the user to Descriptions (fix L2).

    Once, on the rising edge of `completed` seen by this page while the user
    is on Run; and when a completed job is first opened without a tab in the
    URL. Never after that, so a user who goes back to Run stays there.

    Args:
        seen_phase: the phase this page showed last for the job (None: first view).
        phase: the phase just read from the store.
        current_tab: the selected tab.
        tab_in_url: the URL named a tab when the page opened.

    Example:
        >>> decide_tab(Phase.RUNNING, Phase.COMPLETED, "Run", True).switch_to
        'Descriptions'
        >>> decide_tab(Phase.COMPLETED, Phase.COMPLETED, "Run", False).switch_to is None
        True
    """
    if phase is not Phase.COMPLETED or current_tab != TAB_RUN:
        return TabDecision(None)
    if seen_phase is None:
        return TabDecision(None if tab_in_url else TAB_DESCRIPTIONS)
    if seen_phase is not Phase.COMPLETED:
        return TabDecision(TAB_DESCRIPTIONS)
    return TabDecision(None)


# --- job list --------------------------------------------------------------------------------------------------


def filter_jobs(jobs: Iterable[JobRecord], statuses: Iterable[JobStatus] = (), search: str = "") -> list[JobRecord]:
    """Jobs with one of `statuses` (all when empty) whose title or id contains `search`, newest first.

    Example:
        >>> from datetime import UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> jobs = [JobRecord(job_id=i, title=n, created_at=t + timedelta(seconds=s), updated_at=t)
        ...         for i, n, s in (("a1", "Ant genes", 1), ("b2", "Bee", 2))]
        >>> [j.job_id for j in filter_jobs(jobs, search="ant")], [j.job_id for j in filter_jobs(jobs)]
        (['a1'], ['b2', 'a1'])
    """
    wanted = set(statuses)
    needle = search.strip().casefold()
    kept = [
        job
        for job in jobs
        if (not wanted or job.status in wanted)
        and (not needle or needle in job.title.casefold() or needle in job.job_id.casefold())
    ]
    return sorted(kept, key=lambda job: job.created_at, reverse=True)


JOB_LIST_COLUMNS = ("Status", "Title", "Program", "Database", "Created", "Elapsed", "Job id")


def job_rows(jobs: Iterable[JobRecord], now: datetime) -> list[dict[str, str]]:
    """Rows of the job list, one per job, in the given order (text cells only)."""
    rows = []
    for job in jobs:
        badge = status_badge(job.status)
        rows.append(
            {
                "Status": f"{badge.symbol} {badge.label}",
                "Title": job_title(job),
                "Program": job.program,
                "Database": job.database,
                "Created": format_time(job.created_at),
                "Elapsed": format_duration(elapsed_ms(job, now)),
                "Job id": job.job_id,
            }
        )
    return rows


def list_refresh_interval(jobs: Iterable[JobRecord]) -> float | None:
    """Seconds between refreshes of the job list: only while a listed job is live.

    Example:
        >>> list_refresh_interval([]) is None
        True
    """
    return LIST_REFRESH_S if any(not job.is_terminal for job in jobs) else None


# --- results ---------------------------------------------------------------------------------------------------

# Hit field -> column header, in the order of the Descriptions table.
HIT_TABLE_COLUMNS: dict[str, str] = {
    "query": "Query",
    "subject": "Subject",
    "description": "Description",
    "pct_identity": "% identity",
    "length": "Alignment length",
    "evalue": "E-value",
    "bitscore": "Bit score",
    "query_coverage": "Query coverage %",
    "mismatches": "Mismatches",
    "gap_opens": "Gap opens",
    "q_start": "Query start",
    "q_end": "Query end",
    "s_start": "Subject start",
    "s_end": "Subject end",
    "query_length": "Query length",
    "subject_length": "Subject length",
}


def hits_frame(hits: Sequence[Hit]) -> pd.DataFrame:
    """The hits as a table with people's column names, in the Descriptions order.

    Example:
        >>> h = Hit("q1", "s1", "kinase", 99.5, 100, 0, 0, 1, 100, 5, 104, 1e-50, 180.0, 100.0, 100, 300)
        >>> list(hits_frame([h]).columns[:3]), float(hits_frame([h])["E-value"][0])
        (['Query', 'Subject', 'Description'], 1e-50)
    """
    frame = pd.DataFrame(
        [{field: getattr(hit, field) for field in HIT_TABLE_COLUMNS} for hit in hits], columns=list(HIT_TABLE_COLUMNS)
    )
    return frame.rename(columns=HIT_TABLE_COLUMNS)


def filter_hits(
    frame: pd.DataFrame, text: str = "", max_evalue: float | None = None, min_identity: float = 0.0
) -> pd.DataFrame:
    """Hits whose query, subject or description contains `text`, within the e-value and identity bounds."""
    keep = pd.Series(True, index=frame.index)
    needle = text.strip().casefold()
    if needle:
        searchable = frame["Query"] + "\t" + frame["Subject"] + "\t" + frame["Description"]
        keep &= searchable.str.casefold().str.contains(needle, regex=False)
    if max_evalue is not None:
        keep &= frame["E-value"] <= max_evalue
    if min_identity > 0:
        keep &= frame["% identity"] >= min_identity
    return frame[keep].reset_index(drop=True)


def hits_per_query(frame: pd.DataFrame) -> pd.DataFrame:
    """Number of hits per query, most first (columns Query, Hits)."""
    counts = frame.groupby("Query", sort=False).size().reset_index(name="Hits")
    return counts.sort_values(["Hits", "Query"], ascending=[False, True], kind="stable").reset_index(drop=True)


def overview_rows(frame: pd.DataFrame, query: str, limit: int = 50) -> pd.DataFrame:
    """The graphical overview of one query: one bar per hit from query start to end, best hits first.

    Bars are stacked by rank (`Row`); `-log10 E` colours them (0 e-values are capped at 300).
    """
    rows = frame[frame["Query"] == query].sort_values(["E-value", "Bit score"], ascending=[True, False])
    rows = rows.head(limit).reset_index(drop=True)
    start = rows[["Query start", "Query end"]].min(axis=1)
    end = rows[["Query start", "Query end"]].max(axis=1)
    evalues = rows["E-value"].clip(lower=1e-300)
    return pd.DataFrame(
        {
            "Row": range(1, len(rows) + 1),
            "Subject": rows["Subject"],
            "Description": rows["Description"],
            "Start": start,
            "End": end,
            "E-value": rows["E-value"],
            "-log10 E": [min(300.0, -math.log10(v)) for v in evalues],
            "% identity": rows["% identity"],
            "Query length": rows["Query length"],
        }
    )


# --- text safety -----------------------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&\"'=^])")


def escape_markdown(text: str) -> str:
    """`text` with every Markdown/HTML-significant character escaped, for the few places that take Markdown.

    Job text goes to text elements; a heading is the exception, and goes through this.

    Example:
        >>> escape_markdown("**x** <script>")
        '\\\\*\\\\*x\\\\*\\\\* \\\\<script\\\\>'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
