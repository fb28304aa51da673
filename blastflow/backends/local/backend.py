"""The `local` backend: BLAST+ on this machine, one process per query batch, run by a detached supervisor.

`prepare` checks the database, makes it and writes the batches and
`local.json`; `submit_command` is the
`submit` child (`python -m blastflow.backends.local.submit submit --config ...`),
which checks the run, starts the supervisor in its own session and exits
once the supervisor has written its state file. Counts, status and logs
come from the files in the job directory (see `run_files`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from blastflow.backends.local.run_files import (
    LocalConfig,
    PodPhase,
    PodState,
    RerunSelection,
    RunFiles,
    SupervisorPhase,
    SupervisorState,
    file_mode,
    read_state,
    write_state,
)
from blastflow.confine import confine_database
from blastflow.errors import BackendError, ConfigError
from blastflow.process import alive, send_signal, tail
from blastflow.programs import PROGRAMS
from blastflow.progress import progress_line
from blastflow.provenance import BackendProvenance, profile_text
from blastflow.results import find_database
from blastflow.search import Batch, CheckedSearch, PodCounts, PreparedRun, RunState, RunStatus
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
    status_interval_s = 0.0  # status reads the run's files

    def __init__(self, settings: Settings | None = None, *, retry_backoff_s: float | None = None) -> None:
        self.settings = settings or get_settings()
        self.retry_backoff_s = retry_backoff_s if retry_backoff_s is not None else self.settings.batch_retry_backoff_s

    # -- prepare ----------------------------------------------------------------------------------------

    def prepare(self, job_id: str, search: CheckedSearch, workdir: Path) -> PreparedRun:
        """Check where the database is, then write the job directory; nothing starts running.

        Every check comes first (database, BLAST+, job directory), so bad input
        fails before any file is written. The directory is then built under a
        temporary name next to `workdir` and renamed into place, so a failed
        prepare leaves no half-written job.

        Args:
            job_id: the job's id (recorded in the config).
            search: the search, through the checks every backend needs.
            workdir: the job directory; must not exist yet, or be empty.

        Returns:
            The `PreparedRun`, also saved as `workdir/run.json`.

        Raises:
            InputError: bad database, with what to fix.
            ConfigError: the job directory cannot be used.
            BackendError: BLAST+ is missing or makeblastdb failed.
        """
        # Imported here, not at the top: the submit child and `status` never need Biopython or makeblastdb.
        from blastflow.backends.local.batch_size import plan_by_work
        from blastflow.backends.local.database import FastaDatabase, resolve_database
        from blastflow.batch import write_batches

        workdir = Path(workdir).absolute()
        given = confine_database(search.spec.db, self.settings.input_root_paths())  # a path only under the roots
        db = resolve_database(given, search.program, search.query.molecule)
        blast = _blast_executable(search.program)
        _check_workdir(workdir, building_db=isinstance(db, FastaDatabase))
        slots = self.settings.max_parallel_batches
        lengths = [record.length for record in search.query.records]
        batching = plan_by_work(
            search.program, search.options, lengths, db.residues,
            cores=available_cores(), slots=slots, asked=search.spec.batch_len,
        )  # fmt: skip
        with _staging(workdir) as staging:
            database = _database_in(db, staging, workdir)
            batches = [
                batch.model_copy(update={"path": workdir / "query_batches" / batch.path.name})
                for batch in write_batches(search.query.records, batching.batch_len, staging / "query_batches")
            ]
            run = self._prepared_run(job_id, search, workdir, database, batches, batching.reason)
            _write_job_files(staging, run, self._config(run, blast, slots))
        return run

    def _prepared_run(
        self, job_id: str, search: CheckedSearch, workdir: Path, database: Database, batches: list[Batch], why: str
    ) -> PreparedRun:
        return PreparedRun(
            job_id=job_id,
            backend=self.name,
            program=search.program,
            workdir=workdir,
            config_path=RunFiles(workdir).config,
            database=database.path,
            database_label=database.label,
            molecule=search.query.molecule,
            options=search.options,
            batches=batches,
            query_count=search.query.count,
            query_length=search.query.total_length,
            results_location=str(workdir / "results"),
            batching=why,
        )

    def _config(self, run: PreparedRun, blast: str, slots: int) -> LocalConfig:
        concurrency = max(1, min(slots, len(run.batches)))
        return LocalConfig(
            job_id=run.job_id,
            program=run.program,
            blast=blast,
            database=run.database,
            database_label=run.database_label,
            molecule=run.molecule,
            options=run.options,
            batches=run.batches,
            workdir=run.workdir,
            max_parallel=slots,
            # Each running batch gets an equal share of the cores: all are used, none oversubscribed.
            threads_per_pod=max(1, available_cores() // concurrency),
            batch_retries=self.settings.batch_retries,
            retry_backoff_s=self.retry_backoff_s,
        )

    # -- submit -----------------------------------------------------------------------------------------

    def submit_command(self, run: PreparedRun) -> list[str]:
        return [sys.executable, "-m", "blastflow.backends.local.submit", "submit", "--config", str(run.config_path)]

    def submit_env(self, run: PreparedRun) -> dict[str, str | None]:
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
            last = [line for line in tail(files.supervisor_log, 5) if line.strip()]
            return RunStatus(
                state=RunState.FAILURE,
                counts=counts,
                message=(
                    f"the local supervisor (pid {state.pid}) stopped without finishing: {counts.succeeded} of "
                    f"{counts.total} batches had succeeded"
                    + (f"; last line of {files.supervisor_log.name}: {last[-1]}" if last else "")
                ),
            )
        return RunStatus(state=RunState.RUNNING, counts=counts, message=progress_line(counts))

    def exit_meaning(self, returncode: int) -> str | None:
        return {2: "the run config is missing or invalid"}.get(returncode)

    def pod_problems(self, run: PreparedRun) -> list[str]:
        """Local batches wait only for a free slot; a dead supervisor shows up in `status`."""
        return []

    def pod_logs(self, run: PreparedRun, tail_lines: int = 200) -> dict[str, str]:
        files = RunFiles(run.workdir)
        logs = {}
        for batch in run.batches:
            lines = tail(files.pod_log(batch.name), tail_lines)
            if any(line.strip() for line in lines):
                logs[batch.name] = "\n".join(lines)
        return logs

    def pod_logs_elsewhere(self, run: PreparedRun) -> str:
        """Never needed here (`pod_logs` always answers); the per-batch log files, should anyone ask."""
        return f"the per-batch log files under {RunFiles(run.workdir).pods}"

    def results_database(self, run: PreparedRun) -> Path:
        """The directory of the database the search used on this machine (the archives name it by that path).

        Raises:
            BackendError: it is gone since the search ran (`database_unavailable`).
        """
        found = find_database(run.database, PROGRAMS[run.program][1])
        if found is None:
            raise BackendError(
                f"blast_formatter needs the database {run.database!r} the search used to render the hits, and it is "
                "no longer there: restore it at that path (or, for a database name, in a directory named by "
                "BLASTDB) and re-run finalize",
                code="database_unavailable",
            )
        return found

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

    def provenance(self, run: PreparedRun) -> BackendProvenance:
        """Each batch's command exactly as the supervisor runs it (`LocalConfig.pod_argv`), and its limits."""
        config = LocalConfig.model_validate_json(run.config_path.read_bytes())
        files = RunFiles(run.workdir)
        return BackendProvenance(
            commands=[config.pod_argv(batch, files.pod_out(batch.name)) for batch in config.batches],
            profile=profile_text(
                {"max_parallel": config.max_parallel, "threads_per_pod": config.threads_per_pod,
                 "batch_retries": config.batch_retries, "host": platform.node()}
            ),
        )

    # -- resume ---------------------------------------------------------------------------------------

    def batch_archives(self, run: PreparedRun) -> dict[str, Path]:
        """Each batch's `out.asn` that exists (the supervisor renames it into place only when BLAST exited 0)."""
        files = RunFiles(run.workdir)
        return {b.name: files.pod_out(b.name) for b in run.batches if files.pod_out(b.name).is_file()}

    def resume_submit(self, run: PreparedRun, batches: Sequence[Batch]) -> str:
        """Select `batches` for the next supervisor (`rerun.json`); the earlier supervisor's state is kept aside.

        Raises:
            BackendError: the earlier supervisor still runs (`supervisor_running`): adopt it instead.
        """
        files = RunFiles(run.workdir)
        state = read_state(files.supervisor, SupervisorState)
        if state is not None and state.phase is SupervisorPhase.RUNNING and alive(state.pid, state.pid_start):
            raise BackendError(
                f"the supervisor of job {run.job_id} (pid {state.pid}) is still running: resume adopts it instead "
                "of starting another",
                code="supervisor_running",
            )
        kept = _set_aside(files.supervisor) if state is not None else None
        files.cancel.unlink(missing_ok=True)  # else the new supervisor would stop at once
        for batch in batches:  # an archive that failed its check is not kept; the batch writes a new one
            files.pod_out(batch.name).unlink(missing_ok=True)
            files.pod_partial(batch.name).unlink(missing_ok=True)
        write_state(files.rerun, RerunSelection(batches=[b.name for b in batches]))
        return f"The next supervisor runs {len(batches)} of {len(run.batches)} batches" + (
            f"; the earlier supervisor's final state is kept as {kept.name}" if kept else ""
        )

    def cancel(self, run: PreparedRun, others_live: Sequence[PreparedRun] = ()) -> str:
        """Stop the run's supervisor and every BLAST process of the run; finished batches stay. Idempotent.

        A `cancel` file (a supervisor still starting reads it), then SIGTERM: the supervisor stops its BLAST
        processes and records the unfinished pods as cancelled. One still running after `CANCEL_GRACE_S` is
        killed. Then every process of this run left in the supervisor's process group (BLAST a killed
        supervisor left behind) is killed and waited for: none is left when this returns. Other runs have
        supervisors and process groups of their own, so `others_live` needs no care.
        """
        files = RunFiles(run.workdir)
        files.cancel.touch()
        state = read_state(files.supervisor, SupervisorState)
        if state is None:
            return "no supervisor was running: nothing to stop"
        pods = [pod for pod in _pods(run) if pod and pod.phase is PodPhase.RUNNING]
        running = sum(alive(pod.pid, pod.pid_start) for pod in pods)
        said = _stop_supervisor(state) if state.phase is SupervisorPhase.RUNNING else None
        left = _kill_run_processes(run.workdir, group=state.pid)  # the supervisor leads its own session
        if said is None and not left:
            return "no supervisor was running: nothing to stop"
        return (
            f"{said or f'the supervisor (pid {state.pid}) had ended'} ({running} BLAST process(es) were running)"
            + (f"; killed {left} process(es) it left behind" if left else "")
            + "; no process of this job is left; finished batch archives are kept"
        )


CANCEL_GRACE_S = 15.0  # the supervisor stops its BLAST processes within its own 5 s grace, then exits


def _stop_supervisor(state: SupervisorState) -> str:
    """SIGTERM the supervisor and wait for it; SIGKILL it after `CANCEL_GRACE_S`. What happened, in words."""
    if not alive(state.pid, state.pid_start):
        return f"the supervisor (pid {state.pid}) was gone"
    send_signal(state.pid, signal.SIGTERM)
    if _wait_until(lambda: not alive(state.pid, state.pid_start), CANCEL_GRACE_S):
        return f"stopped the supervisor (pid {state.pid})"
    if alive(state.pid, state.pid_start):
        send_signal(state.pid, signal.SIGKILL)
    return f"killed the supervisor (pid {state.pid}): it did not stop within {CANCEL_GRACE_S:.0f} s"


def _kill_run_processes(workdir: Path, *, group: int) -> int:
    """SIGKILL every live process in process group `group` whose command line names `workdir`; wait for them.

    Both conditions: a pid alone may have been reused, but a process of that group running on this run's
    files is this run's. Linux only (/proc); elsewhere nothing is found.
    """
    pids = _run_processes(workdir, group)
    for pid in pids:
        send_signal(pid, signal.SIGKILL)
    _wait_until(lambda: not _run_processes(workdir, group), 5.0)
    return len(pids)


def _run_processes(workdir: Path, group: int) -> list[int]:
    """Live processes of process group `group` whose command line names `workdir`."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
                argv = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
            if int(pgrp) == group and state not in ("Z", "X") and str(workdir) in argv:
                found.append(int(entry.name))
    return found


def _wait_until(done: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _check_workdir(workdir: Path, *, building_db: bool) -> None:
    if workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir())):
        raise ConfigError(f"job directory {workdir} already exists and is not empty: a job is prepared once")
    if building_db and re.search(r"\s", str(workdir)):
        raise ConfigError(
            f"job directory {workdir} contains whitespace, and BLAST cannot use a database under such a path: "
            "set BLASTFLOW_DATA_DIR to a directory without spaces"
        )


def _blast_executable(program: str) -> str:
    blast = shutil.which(program)
    if blast is None:
        raise BackendError(f"BLAST+ is not installed here: {program} was not found on PATH", code="blast_missing")
    return blast


@contextlib.contextmanager
def _staging(workdir: Path) -> Iterator[Path]:
    """A private directory next to `workdir`, renamed to `workdir` when the block succeeds, removed if it fails."""
    workdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{workdir.name}.prepare-", dir=workdir.parent))
    try:
        yield staging
        staging.chmod(file_mode(directory=True))  # mkdtemp makes it private; a job directory is not
        if workdir.exists():
            workdir.rmdir()  # empty, checked before
        os.rename(staging, workdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_job_files(staging: Path, run: PreparedRun, config: LocalConfig) -> None:
    files = RunFiles(staging)
    files.config.write_text(config.model_dump_json(indent=2))
    (staging / run.run_file.name).write_text(run.model_dump_json(indent=2))
    files.pods.mkdir()


def _database_in(db: Database | FastaDatabase, staging: Path, workdir: Path) -> Database:
    """The database as the search uses it: made under `staging` for a FASTA file, named by its final path."""
    from blastflow.backends.local.database import FastaDatabase, make_database

    if not isinstance(db, FastaDatabase):
        return db
    parse_seqids = make_database(db, staging / "db" / db.label)
    return db.built_at(workdir / "db" / db.label, parse_seqids=parse_seqids)


def _set_aside(path: Path) -> Path:
    """Rename `supervisor.json` to the first free `supervisor.N.json` (its history stays beside the run)."""
    number = 1
    while (kept := path.with_name(f"{path.stem}.{number}{path.suffix}")).exists():
        number += 1
    os.replace(path, kept)
    return kept


def _supervisor_lost(files: RunFiles) -> bool:
    """True when the supervisor has stopped without writing a final state (killed, crashed, machine restarted)."""
    state = read_state(files.supervisor, SupervisorState)
    if state is None or state.phase is not SupervisorPhase.RUNNING or alive(state.pid, state.pid_start):
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
