"""The BLAST search flow: prepare → submit → wait for pods → poll → finalize."""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from prefect import Task, flow, get_run_logger
from prefect.runtime import deployment, flow_run
from prefect.states import Completed, Failed, State
from pydantic import ValidationError

from blastflow.errors import ConfigError, InputError
from blastflow.failure import failure_update, sanitised_exception
from blastflow.merge import JobUpdate
from blastflow.model import Phase, is_job_id
from blastflow.notify import completed_message, failed_message
from blastflow.resume import ResumeAction, ResumeRefused
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun, Program, SearchSpec
from blastflow.settings import SAMPLE_DATA_DIR
from blastflow.steps.resume import Resumed, Worker
from blastflow.store import StateStore
from blastflow.version import code_version
from flows.hooks import on_cancellation, on_crashed, on_failure
from tasks.context import store
from tasks.dry_run import dry_run as report_dry_run
from tasks.finalize import finalize
from tasks.poll import poll
from tasks.prepare import prepare
from tasks.resume import resume
from tasks.submit import submit
from tasks.wait_for_pods import wait_for_pods

__all__ = ["SAMPLE_PROTEINS", "SAMPLE_TRANSCRIPTS", "blast_search"]

_DATA = SAMPLE_DATA_DIR / "sinvicta"
SAMPLE_PROTEINS = str(_DATA / "Sinvicta2-2-3.prot.subset.fasta")
SAMPLE_TRANSCRIPTS = str(_DATA / "Sinvicta2-2-3.cdna.subset.fasta")


def _check_pinned_code() -> None:
    """Fix J: a run from a deployment fails at once unless this process runs the code the deployment was made from."""
    pinned, running = deployment.version, code_version()
    if pinned is not None and pinned != running:
        raise ConfigError(
            f"this worker runs code {running} but the deployment {deployment.name!r} was made from {pinned}: "
            "restart the worker with `blastflow up` (it redeploys from the code it runs); for an image, deploy "
            f"with BLASTFLOW_CODE_VERSION={running} or rebuild the image",
            code="stale_code",
        )


def _search_spec(**fields: object) -> SearchSpec:
    """The search the parameters ask for; a parameter out of range is an `InputError` naming it and its bounds."""
    try:
        return SearchSpec(**fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']} (got {error['input']!r})"
            for error in exc.errors()
        )
        raise InputError(f"invalid search parameters: {problems}", code="invalid_parameters") from None


@flow(
    name="blast-search",
    on_failure=[on_failure],
    on_crashed=[on_crashed],
    on_cancellation=[on_cancellation],
    log_prints=True,
)
def blast_search(
    query: str = SAMPLE_TRANSCRIPTS,
    db: str = SAMPLE_PROTEINS,
    program: Program = "blastx",
    options: str = "",
    evalue: float = 1e-5,
    max_target_seqs: int = 10,
    batch_len: int | None = None,
    backend: Literal["local", "elastic-blast"] = "local",
    title: str = "",
    job_id: str | None = None,
    dry_run: bool = False,
    rerun_of: str | None = None,
    resume_job_id: str | None = None,
) -> dict[str, object]:
    """Run a BLAST search and record every step in the job store.

    Args:
        query: Query sequences: a path to a FASTA file, or FASTA text starting with ">" (up to about
            256 KB: Prefect refuses larger run parameters, so give a path for more).
        db: Database: a FASTA file (made into a BLAST database) or an existing BLAST database path.
        program: BLAST program: blastn, blastp, blastx, tblastn or tblastx.
        options: Extra BLAST options, e.g. "-word_size 3 -matrix BLOSUM62" (the pipeline sets -query, -db,
            -out, -outfmt and -num_threads itself).
        evalue: Expectation value threshold for hits.
        max_target_seqs: Most database sequences to keep per query.
        batch_len: Residues per query batch (one pod per batch); empty for the backend's default.
        backend: Where BLAST runs: "local" (BLAST+ on this machine) or "elastic-blast" (a Kubernetes cluster).
        title: A title for the job list.
        job_id: Job id to use (UUID4); empty to use the flow run id.
        dry_run: Check everything and write the backend's config, then stop: nothing is submitted. The
            result holds the config's path and content and the command that would run.
        rerun_of: The job id this search runs again (set by `blastflow rerun` and the page's Run again).
        resume_job_id: A job whose run died or failed, to resume (`blastflow resume`): its batches and every
            complete batch result are reused, only the rest run, and the whole search is finalized under
            the same job id. The search parameters above are then ignored (the job's own are used).

    Returns:
        The job id, its final phase, the hit count and where the results are.
    """
    if resume_job_id:
        return _resume_search(resume_job_id, job_id)  # type: ignore[return-value]
    try:  # an exception here would reach Prefect's log and state message raw: it fails the run sanitised
        job_id = _job_id(job_id)
        jobs = store()
        jobs.update(
            job_id, _queued(job_id, program=program, query=query, title=title, backend=backend, rerun_of=rerun_of)
        )
    except Exception as exc:
        return _failed(exc)  # type: ignore[return-value]  # no job row to record it on
    try:
        spec = _search_spec(
            program=program,
            query=query,
            db=db,
            options=options,
            evalue=evalue,
            max_target_seqs=max_target_seqs,
            batch_len=batch_len,
            title=title,
        )
        _check_pinned_code()
        result = _run_steps(job_id, backend, spec, dry_run=dry_run)
    except Exception as exc:
        _record_failure(jobs, job_id, exc)
        return _failed(exc)  # type: ignore[return-value]
    summary = {"job_id": job_id, "phase": Phase.COMPLETED.value, **result}
    # The hit count in the state message, where the notification automation can read it; callers get the dict.
    return Completed(message=completed_message(summary), data=summary)  # type: ignore[return-value]


def _job_id(requested: str | None) -> str:
    """The job id asked for, else the flow run id; either must be a UUID4."""
    job_id = requested or str(flow_run.id)
    if not is_job_id(job_id):
        raise InputError(f"job_id {job_id!r} is not a UUID4; leave it empty to use the flow run id")
    return job_id


def _queued(job_id: str, *, program: str, query: str, title: str, backend: str, rerun_of: str | None) -> JobUpdate:
    """The job's first record: queued, with what it searches and where this run executes."""
    return JobUpdate(
        job_id=job_id,
        phase=Phase.QUEUED,
        title=title or _default_title(program, query),
        program=program,
        backend=backend,
        flow_run_id=str(flow_run.id),
        host=socket.gethostname(),
        pid=os.getpid(),
        code_version=code_version(),
        rerun_of=_rerun_of(rerun_of),
        source="flow",
    )


def _rerun_of(original: str | None) -> str | None:
    """The job a rerun names, which must be a job id (a UUID4), or None."""
    if original and not is_job_id(original):
        raise InputError(f"rerun_of {original!r} is not a job id (a UUID4); leave it empty for a new search")
    return original or None


def _default_title(program: str, query: str) -> str:
    """``blastx transcripts.fasta``, or ``blastx query`` for FASTA text."""
    return f"{program} {Path(query).name if not query.lstrip().startswith('>') else 'query'}"


def _run_steps(job_id: str, backend: str, spec: SearchSpec, *, dry_run: bool) -> dict[str, object]:
    """prepare → submit → wait for pods → poll → finalize, each a Prefect task; finalize's summary.

    A dry run stops after prepare with the dry-run report instead.
    """
    run = prepare(job_id, backend, spec)
    if dry_run:
        return {"dry_run": True, **report_dry_run(run)}
    return _chain(run, (submit, wait_for_pods, poll, finalize))


def _chain(run: PreparedRun, tasks: Sequence[Task[..., Any]], after: object = None) -> Any:
    """Run each task on `run`, each waiting on the one before (the first on `after`); the last one's result.

    Every task takes prepare's `run`, so without `wait_for` Prefect records (and its UI draws) each of them
    hanging off prepare. The state is what is waited on: submit returns None, which Prefect cannot link to its
    task run. `state.result()` raises a failed task's exception, as a plain call does.
    """
    result: Any = None
    for step in tasks:
        state = step(run, wait_for=None if after is None else [after], return_state=True)
        result, after = state.result(), state
    return result


def _resume_search(resume_job_id: str, job_id: str | None) -> State:
    """The resume branch: take the job over, run only what is missing, finalize; the job keeps its id.

    A refused resume (`ResumeRefused`: not found, never prepared, completed, still running) leaves the job as
    it was; any later failure is recorded on it like a search's.
    """
    try:
        _check_resume_id(resume_job_id, job_id)
        _check_pinned_code()
    except Exception as exc:
        return _failed(exc)  # nothing was touched
    try:
        resumed = resume(resume_job_id, _worker())
        result = _resumed_steps(resumed)
    except ResumeRefused as exc:
        return _failed(exc)
    except Exception as exc:
        _record_failure(store(), resume_job_id, exc)
        return _failed(exc)
    summary = {"job_id": resume_job_id, "phase": Phase.COMPLETED.value, "resumed": resumed.plan.summary(), **result}
    return Completed(message=completed_message(summary), data=summary)


def _check_resume_id(resume_job_id: str, job_id: str | None) -> None:
    if not is_job_id(resume_job_id):
        raise ResumeRefused(f"resume_job_id {resume_job_id!r} is not a job id (a UUID4): `blastflow jobs` lists them")
    if job_id:
        raise ResumeRefused("give resume_job_id alone: a resumed job keeps its own id, so job_id must stay empty")


def _worker() -> Worker:
    """This flow run and process, which take the job over."""
    return Worker(flow_run_id=str(flow_run.id), host=socket.gethostname(), pid=os.getpid(), code_version=code_version())


def _resumed_steps(resumed: Resumed) -> dict[str, object]:
    """submit (only the batches to run again) → wait for pods → poll → finalize, as far as the plan needs.

    The first waits on resume's result, so the run graph draws the chain from resume.
    """
    tasks = {
        ResumeAction.SUBMIT: (submit, wait_for_pods, poll, finalize),
        ResumeAction.ADOPT: (wait_for_pods, poll, finalize),
        ResumeAction.FINALIZE: (finalize,),
    }[resumed.plan.action]
    return _chain(resumed.run, tasks, after=resumed)


def _failed(exc: Exception) -> State:
    """The run's end when `exc` stopped it: everything Prefect keeps or shows of it sanitised.

    Prefect would log the exception and quote it in the state message raw; instead the run's log gets the
    sanitised traceback (where it failed), the state a sanitised message (Prefect shows it, notifications
    send it), and its data a sanitised copy of `exc`, which a direct call raises (same type and attributes).
    """
    get_run_logger().error("The search failed:\n%s", sanitise("".join(traceback.format_exception(exc))))
    return Failed(message=failed_message(exc), data=sanitised_exception(exc))


def _record_failure(jobs: StateStore, job_id: str, exc: Exception) -> None:
    """Fail the job at the step it was in, with the exception's message and code."""
    current = jobs.get(job_id)
    step = current.active_step if current is not None else None
    jobs.update(job_id, failure_update(exc, step, source="flow"))
