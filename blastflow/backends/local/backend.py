"""The `local` backend: BLAST+ on this machine, one process per query batch, run by a detached supervisor.

`prepare` validates the query, options and database, makes the database and
writes the batches and `local.json`; `submit_command` is the
`submit` child (`python -m blastflow.backends.local.submit submit --config ...`),
which checks the run, starts the supervisor in its own session and exits
once the supervisor has written its state file. Counts, status and logs
come from the files in the job directory (see `run_files`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from blastflow.backends.local.run_files import (
    LocalConfig,
    PodPhase,
    PodState,
    RunFiles,
    SupervisorPhase,
    SupervisorState,
    file_mode,
    process_alive,
    read_state,
    tail_lines,
)
from blastflow.errors import BackendError, ConfigError
from blastflow.programs import check_program, check_query_molecule
from blastflow.search import PodCounts, PreparedRun, RunState, RunStatus, SearchSpec
from blastflow.settings import Settings, get_settings

if TYPE_CHECKING:
    from blastflow.backends.local.database import Database, FastaDatabase

__all__ = ["DEFAULT_RETRY_BACKOFF_S", "LocalBackend", "available_cores"]

# A failed batch waits 10 s, 20 s, 40 s … before its next attempt, as a Kubernetes Job's pods do.
DEFAULT_RETRY_BACKOFF_S = 10.0


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalBackend:
    """BLAST+ on this machine. See the module docstring; the contract is `blastflow.backends.base.Backend`."""

    name = "local"

    def __init__(self, settings: Settings | None = None, *, retry_backoff_s: float | None = None) -> None:
        self.settings = settings or get_settings()
        self.retry_backoff_s = retry_backoff_s if retry_backoff_s is not None else self.settings.batch_retry_backoff_s

    # -- prepare ----------------------------------------------------------------------------------------

    def prepare(self, job_id: str, spec: SearchSpec, workdir: Path) -> PreparedRun:
        """Validate the search and write the job directory; nothing starts running.

        Every check comes first (query, molecule type, options, database, job
        directory), so bad input fails before any file is written. The
        directory is then built under a temporary name next to `workdir` and
        renamed into place, so a failed prepare leaves no half-written job.

        Args:
            job_id: the job's id (recorded in the config).
            spec: what the user asked for.
            workdir: the job directory; must not exist yet, or be empty.

        Returns:
            The `PreparedRun`, also saved as `workdir/run.json`.

        Raises:
            InputError: bad query, options or database, with what to fix.
            ConfigError: the job directory cannot be used.
            BackendError: BLAST+ is missing or makeblastdb failed.
        """
        # Imported here, not at the top: the submit child and `status` never need Biopython or makeblastdb.
        from blastflow.backends.local.database import FastaDatabase, resolve_database
        from blastflow.batch import default_batch_len, write_batches
        from blastflow.options import search_options
        from blastflow.query import load_query

        workdir = Path(workdir).absolute()
        program = check_program(spec.program)
        query = load_query(spec.query)
        check_query_molecule(program, query.molecule, query.source, query.records[0].id)
        options = search_options(program, spec.options, spec.evalue, spec.max_target_seqs)
        db = resolve_database(spec.db, program, query.molecule)
        blast = shutil.which(program)
        if blast is None:
            raise BackendError(f"BLAST+ is not installed here: {program} was not found on PATH", code="blast_missing")
        _check_workdir(workdir, building_db=isinstance(db, FastaDatabase))

        slots = self.settings.max_parallel_batches
        batch_len = spec.batch_len or default_batch_len(program, query.total_length, slots)
        workdir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{workdir.name}.prepare-", dir=workdir.parent))
        try:
            database = _database_in(db, staging, workdir)
            batches = [
                batch.model_copy(update={"path": workdir / "query_batches" / batch.path.name})
                for batch in write_batches(query.records, batch_len, staging / "query_batches")
            ]
            concurrency = max(1, min(slots, len(batches)))
            config = LocalConfig(
                job_id=job_id,
                program=program,
                blast=blast,
                database=database.path,
                database_label=database.label,
                molecule=query.molecule,
                options=options,
                batches=batches,
                workdir=workdir,
                max_parallel=slots,
                # Each running batch gets an equal share of the cores: all are used, none oversubscribed.
                threads_per_pod=max(1, available_cores() // concurrency),
                batch_retries=self.settings.batch_retries,
                retry_backoff_s=self.retry_backoff_s,
            )
            files = RunFiles(workdir)
            run = PreparedRun(
                job_id=job_id,
                backend=self.name,
                program=program,
                workdir=workdir,
                config_path=files.config,
                database=database.path,
                database_label=database.label,
                molecule=query.molecule,
                options=options,
                batches=batches,
                query_count=query.count,
                query_length=query.total_length,
                results_location=str(workdir / "results"),
            )
            (staging / files.config.name).write_text(config.model_dump_json(indent=2))
            (staging / run.run_file.name).write_text(run.model_dump_json(indent=2))
            (staging / files.pods.name).mkdir()
            staging.chmod(file_mode(directory=True))  # mkdtemp makes it private; a job directory is not
            if workdir.exists():
                workdir.rmdir()  # empty, checked above
            os.rename(staging, workdir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return run

    # -- submit -----------------------------------------------------------------------------------------

    def submit_command(self, run: PreparedRun) -> list[str]:
        return [sys.executable, "-m", "blastflow.backends.local.submit", "submit", "--config", str(run.config_path)]

    def submit_env(self, run: PreparedRun) -> dict[str, str]:
        return {"PYTHONUNBUFFERED": "1"}

    # -- observe ----------------------------------------------------------------------------------------

    def pod_counts(self, run: PreparedRun) -> PodCounts:
        """Counts from the pod state files (no file yet: pending).

        Once the supervisor is dead without a final state, no unfinished pod
        will ever finish: those count as failed, not as pending or running.
        """
        counts = PodCounts()
        orphaned = _supervisor_lost(RunFiles(run.workdir))
        for pod in _pods(run):
            phase = pod.phase if pod else PodPhase.PENDING
            if orphaned and phase in (PodPhase.PENDING, PodPhase.RUNNING):
                phase = PodPhase.FAILED
            setattr(counts, phase.value, getattr(counts, phase.value) + 1)
        return counts

    def status(self, run: PreparedRun) -> RunStatus:
        """SUCCESS / FAILURE from the supervisor's final state, RUNNING while it works.

        FAILURE as soon as a pod has failed for good (the supervisor is then
        stopping the rest), and FAILURE when the supervisor is gone without a
        final state, so a dead run never looks like one still running.
        """
        files = RunFiles(run.workdir)
        state = read_state(files.supervisor, SupervisorState)  # first: pods are final before it is
        pods = _pods(run)
        counts = self.pod_counts(run)
        if state is None:
            return RunStatus(
                state=RunState.UNKNOWN,
                counts=counts,
                message=f"the run has not been submitted: no supervisor state in {run.workdir}",
            )
        if state.phase is SupervisorPhase.SUCCESS:
            return RunStatus(state=RunState.SUCCESS, counts=counts, message=state.message)
        if state.phase is SupervisorPhase.FAILURE:
            return RunStatus(state=RunState.FAILURE, counts=counts, message=state.message)
        failed = _root_failure(pods)
        if failed is not None:
            return RunStatus(state=RunState.FAILURE, counts=counts, message=failed.message)
        if _supervisor_lost(files):
            last = [line for line in tail_lines(files.supervisor_log, 5) if line.strip()]
            return RunStatus(
                state=RunState.FAILURE,
                counts=counts,
                message=(
                    f"the local supervisor (pid {state.pid}) stopped without finishing: {counts.succeeded} of "
                    f"{counts.total} batches had succeeded"
                    + (f"; last line of {files.supervisor_log.name}: {last[-1]}" if last else "")
                ),
            )
        return RunStatus(state=RunState.RUNNING, counts=counts, message=_progress(counts))

    def exit_meaning(self, returncode: int) -> str | None:
        return {2: "the run config is missing or invalid"}.get(returncode)

    def pod_problems(self, run: PreparedRun) -> list[str]:
        """Local batches wait only for a free slot; a dead supervisor shows up in `status`."""
        return []

    def pod_logs(self, run: PreparedRun, tail_lines: int = 200) -> dict[str, str]:
        files = RunFiles(run.workdir)
        logs = {}
        for batch in run.batches:
            lines = _tail(files.pod_log(batch.name), tail_lines)
            if lines:
                logs[batch.name] = "\n".join(lines)
        return logs

    def fetch_results(self, run: PreparedRun, dest: Path) -> list[Path]:
        """Copy each batch's archive to `dest/batch_NNN.asn`, in batch order.

        Raises:
            BackendError: a batch has no archive (it has not succeeded).
        """
        files = RunFiles(run.workdir)
        missing = [b.name for b in run.batches if not files.pod_out(b.name).is_file()]
        if missing:
            raise BackendError(f"no results archive for {', '.join(missing)}: those batches have not succeeded")
        dest.mkdir(parents=True, exist_ok=True)
        copies = []
        for batch in run.batches:
            copy = dest / f"{batch.name}.asn"
            shutil.copyfile(files.pod_out(batch.name), copy)
            copies.append(copy)
        return copies

    def cancel(self, run: PreparedRun) -> None:
        """Ask the supervisor to stop: a `cancel` file, then SIGTERM. Idempotent.

        If the supervisor is already gone, any BLAST process it left is terminated here.
        """
        files = RunFiles(run.workdir)
        files.cancel.touch()
        state = read_state(files.supervisor, SupervisorState)
        if state is None or state.phase is not SupervisorPhase.RUNNING:
            return
        if process_alive(state.pid, state.pid_start):
            _signal(state.pid, signal.SIGTERM)
            return
        for pod in _pods(run):
            if pod and pod.phase is PodPhase.RUNNING and process_alive(pod.pid, pod.pid_start):
                _signal(pod.pid, signal.SIGTERM)  # type: ignore[arg-type]


def _check_workdir(workdir: Path, *, building_db: bool) -> None:
    if workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir())):
        raise ConfigError(f"job directory {workdir} already exists and is not empty: a job is prepared once")
    if building_db and re.search(r"\s", str(workdir)):
        raise ConfigError(
            f"job directory {workdir} contains whitespace, and BLAST cannot use a database under such a path: "
            "set BLASTFLOW_DATA_DIR to a directory without spaces"
        )


def _database_in(db: Database | FastaDatabase, staging: Path, workdir: Path) -> Database:
    """The database as the search uses it: made under `staging` for a FASTA file, named by its final path."""
    from blastflow.backends.local.database import FastaDatabase, make_database

    if not isinstance(db, FastaDatabase):
        return db
    parse_seqids = make_database(db, staging / "db" / db.label)
    return db.built_at(workdir / "db" / db.label, parse_seqids=parse_seqids)


def _supervisor_lost(files: RunFiles) -> bool:
    """True when the supervisor has stopped without writing a final state (killed, crashed, machine restarted)."""
    state = read_state(files.supervisor, SupervisorState)
    if state is None or state.phase is not SupervisorPhase.RUNNING or process_alive(state.pid, state.pid_start):
        return False
    final = read_state(files.supervisor, SupervisorState)  # it may have finished between the two looks
    return final is not None and final.phase is SupervisorPhase.RUNNING


def _pods(run: PreparedRun) -> list[PodState | None]:
    files = RunFiles(run.workdir)
    return [read_state(files.pod_state(batch.name), PodState) for batch in run.batches]


def _root_failure(pods: list[PodState | None]) -> PodState | None:
    """The pod whose own error failed the run (not one stopped because of it)."""
    failed = [pod for pod in pods if pod and pod.phase is PodPhase.FAILED]
    return next((pod for pod in failed if pod.reason == "error"), None)


def _progress(counts: PodCounts) -> str:
    return f"{counts.succeeded} of {counts.total} batches done, {counts.running} running, {counts.pending} pending" + (
        f", {counts.failed} failed" if counts.failed else ""
    )


def _tail(path: Path, count: int) -> list[str]:
    lines = tail_lines(path, count)
    return lines if any(line.strip() for line in lines) else []


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, signum)
