"""Resume a job whose run died or failed: may it be resumed, which batches to keep, which to run, and the record.

A batch is kept only when its result archive is there and reads as finalize
will read it: `blast_formatter` renders it, and it holds one result per query
of that batch, in order (`archive_complete`). Backend work that is still
running is adopted, never started twice. Running the steps is the flow's job
(`flows.blast_search`, `blastflow.steps.resume`); this module decides.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from blastflow.errors import BackendError, InputError
from blastflow.merge import JobUpdate
from blastflow.model import JobRecord, Phase, ResumeRecord
from blastflow.provenance import query_ids
from blastflow.results import blast_formatter
from blastflow.search import Batch, RunState

__all__ = [
    "LIVE_STATES",
    "ResumeAction",
    "ResumePlan",
    "ResumeRefused",
    "archive_complete",
    "batch_ranges",
    "check_resumable",
    "outfmt7_queries",
    "plan_resume",
    "resume_lines",
    "resume_update",
]

# Backend states in which its work still runs: a resume adopts it (ElasticBLAST's creating/submitting too).
LIVE_STATES = frozenset({RunState.RUNNING, RunState.CREATING, RunState.SUBMITTING})


class ResumeRefused(InputError):
    """The job cannot be resumed (not found, never prepared, completed, still running); it is left as it was."""

    code = "resume_refused"


class ResumeAction(StrEnum):
    ADOPT = "adopt"  # the backend's work still runs: poll it and finalize, start nothing
    SUBMIT = "submit"  # run the batches without a valid archive, then finalize
    FINALIZE = "finalize"  # every batch's results are there: finalize only


@dataclass(frozen=True, slots=True)
class ResumePlan:
    action: ResumeAction
    reused: tuple[Batch, ...] = ()  # batches whose finished archives are kept
    rerun: tuple[Batch, ...] = ()  # batches to run again (SUBMIT only)

    def summary(self) -> str:
        """One line for the job's log, e.g. "Resume: 4 batches reused (checked), 3 run again"."""
        if self.action is ResumeAction.ADOPT:
            return f"Resume: the backend's work is still running; adopting it ({len(self.reused)} batches done so far)"
        if self.action is ResumeAction.FINALIZE:
            return f"Resume: all {len(self.reused)} batches' results are complete; finalizing only"
        return f"Resume: {len(self.reused)} batches reused (archives checked), {len(self.rerun)} run again"


def check_resumable(
    job: JobRecord | None, job_id: str, *, prepared: bool, flow_alive: bool | None, flow_run_id: str | None = None
) -> JobRecord:
    """The job, when it may be resumed; else `ResumeRefused` saying why and what to do.

    Args:
        job: its record, or None when the store has none.
        job_id: the id asked for (for the message).
        prepared: whether its prepared run (`run.json`) exists.
        flow_alive: whether the flow process the row names still runs (None: it ran on another host).
        flow_run_id: the resuming flow run: a job this run has taken over already is its own (a retried task).

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobRecord(job_id="j", phase=Phase.WORKER_LOST, created_at=t, updated_at=t)
        >>> check_resumable(job, "j", prepared=True, flow_alive=None).phase.value
        'worker_lost'
    """
    if job is None:
        raise ResumeRefused(f"no job {job_id!r} in this store: `blastflow jobs` lists the jobs it holds")
    if job.phase is Phase.COMPLETED:
        raise ResumeRefused(
            f"job {job_id} completed already (results in {job.results_location}): nothing to resume; "
            f"`blastflow rerun {job_id}` runs its search again as a new job"
        )
    if not prepared:
        raise ResumeRefused(
            f"job {job_id} was never prepared (it stopped while {job.phase.value}): it has no batches to reuse; "
            f"`blastflow rerun {job_id}` starts its search again as a new job"
        )
    if not job.is_terminal and flow_alive is not False and not (flow_run_id and job.flow_run_id == flow_run_id):
        where = f"pid {job.pid} on {job.host}"
        raise ResumeRefused(
            f"job {job_id} is still {job.phase.value} in flow run {job.flow_run_id} ({where})"
            + (f": wait for it to end, or stop it with `blastflow cancel {job_id}`, then resume" if flow_alive else
               ", whose process cannot be checked from this host: run `blastflow reconcile` there (it marks a lost "
               "run), then resume")
        )
    return job


def plan_resume(
    batches: Sequence[Batch],
    state: RunState,
    archives: dict[str, Path] | None,
    complete: Callable[[Batch, Path], bool],
) -> ResumePlan:
    """What a resume does, from the backend's run state and its finished archives.

    Args:
        batches: the prepared batches.
        state: the backend's run state now.
        archives: batch name -> archive on this machine, for the batches that have one; None when the backend
            keeps none here (ElasticBLAST: its status speaks for the whole search).
        complete: whether an archive is complete and valid for its batch (`archive_complete`).

    Example:
        >>> from pathlib import Path
        >>> bs = [Batch(index=i, path=Path(f"b{i}.fa"), sequences=1, residues=9) for i in range(3)]
        >>> plan = plan_resume(bs, RunState.FAILURE, {"batch_000": Path("a"), "batch_001": Path("b")},
        ...                    lambda batch, path: path.name == "a")
        >>> plan.action.value, [b.index for b in plan.reused], [b.index for b in plan.rerun]
        ('submit', [0], [1, 2])
    """
    if state in LIVE_STATES:
        return ResumePlan(ResumeAction.ADOPT, reused=tuple(b for b in batches if archives and b.name in archives))
    if archives is None:
        if state is RunState.SUCCESS:
            return ResumePlan(ResumeAction.FINALIZE, reused=tuple(batches))
        return ResumePlan(ResumeAction.SUBMIT, rerun=tuple(batches))
    reused = tuple(b for b in batches if b.name in archives and complete(b, archives[b.name]))
    rerun = tuple(b for b in batches if b not in reused)
    return ResumePlan(ResumeAction.SUBMIT if rerun else ResumeAction.FINALIZE, reused=reused, rerun=rerun)


def outfmt7_queries(lines: Iterable[str]) -> tuple[list[str], int | None]:
    """The query ids of BLAST's commented tabular output (`-outfmt 7`), and the count of its closing line.

    Every query has a ``# Query:`` line, with or without hits; a whole archive ends with
    ``# BLAST processed N queries``.

    Example:
        >>> outfmt7_queries(["# BLASTP 2.12.0+", "# Query: q1 some protein", "# 0 hits found",
        ...                  "# Query: q2", "q2\\ts9", "# BLAST processed 2 queries"])
        (['q1', 'q2'], 2)
    """
    ids: list[str] = []
    processed = None
    for line in lines:
        if line.startswith("# Query: "):
            words = line.removeprefix("# Query: ").split()
            ids.append(words[0] if words else "")
        elif line.startswith("# BLAST processed ") and line.rstrip().endswith(" queries"):
            processed = int(line.split()[3]) if line.split()[3].isdigit() else None
    return ids, processed


def archive_complete(archive: Path, batch: Batch, blastdb: Path | None) -> bool:
    """Whether `archive` holds BLAST's whole result for `batch`: blast_formatter reads it (as finalize will), and it
    has one result per query of the batch, in the batch's order.
    """
    try:
        expected = query_ids([batch.path])
    except (InputError, OSError):
        return False  # the batch itself is gone or damaged: it cannot be checked, so it is not kept
    with tempfile.TemporaryDirectory(prefix="blastflow-resume-") as tmp:
        out = Path(tmp) / "queries.txt"
        try:
            blast_formatter(archive, out, "7 qseqid", blastdb=blastdb)
        except (BackendError, OSError, subprocess.SubprocessError):
            return False
        with out.open(encoding="utf-8", errors="replace") as handle:
            ids, processed = outfmt7_queries(handle)
    return ids == expected and processed == len(expected)


def batch_ranges(batches: Iterable[Batch]) -> str:
    """Batch indexes as short ranges, for the job's row.

    Example:
        >>> from pathlib import Path
        >>> batch_ranges(Batch(index=i, path=Path("b"), sequences=1, residues=1) for i in (0, 1, 2, 5, 7, 8))
        '0-2,5,7-8'
    """
    parts: list[str] = []
    run: list[int] = []
    for index in sorted({b.index for b in batches}):
        if run and index != run[-1] + 1:
            parts.append(_range_text(run))
            run = []
        run.append(index)
    if run:
        parts.append(_range_text(run))
    return ",".join(parts)


def _range_text(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def resume_update(plan: ResumePlan, *, flow_run_id: str, host: str, pid: int, code_version: str) -> JobUpdate:
    """The update that reopens the job for this resume (merge rule 0) and names the process that took it over.

    Its id derives from the flow run, so a retried write counts the resume once.
    """
    record = ResumeRecord(
        flow_run_id=flow_run_id,
        adopted=plan.action is ResumeAction.ADOPT,
        reused_count=len(plan.reused),
        reused=batch_ranges(plan.reused),
        rerun_count=len(plan.rerun),
        rerun=batch_ranges(plan.rerun),
    )
    return JobUpdate(
        resume=record,
        flow_run_id=flow_run_id,
        host=host,
        pid=pid,
        code_version=code_version,
        source="resume",
        update_id=f"resume-{flow_run_id}"[:64],
    )


def resume_lines(job: JobRecord) -> list[str]:
    """The job's resume history, a line per resume kept (`blastflow show`).

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> r = ResumeRecord(number=1, flow_run_id="f1", at=t, from_phase=Phase.WORKER_LOST, reused_count=3,
        ...                  reused="0-2", rerun_count=1, rerun="3")
        >>> resume_lines(JobRecord(job_id="j", created_at=t, updated_at=t, resume_count=1, resumes=[r]))
        ['resume 1 at 2026-01-01 00:00:00Z by flow run f1, from worker_lost: 3 batches reused (0-2), 1 run again (3)']
    """
    lines = []
    for r in job.resumes:
        at = f" at {r.at:%Y-%m-%d %H:%M:%S}Z" if r.at else ""
        came = f", from {r.from_phase.value}" if r.from_phase else ""
        if r.adopted:
            what = f"adopted the running backend work ({r.reused_count} batches done then)"
        else:
            what = f"{r.reused_count} batches reused" + (f" ({r.reused})" if r.reused else "")
            what += f", {r.rerun_count} run again" + (f" ({r.rerun})" if r.rerun else "")
        lines.append(f"resume {r.number}{at} by flow run {r.flow_run_id}{came}: {what}")
    return lines
