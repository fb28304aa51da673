"""The `local` backend: BLAST+ on this machine, one process per query batch, run by a detached supervisor.

`prepare` validates the query, options and database, makes the database and
writes the batches and `local.json`; `submit_command` is this module's
`submit` child (`python -m blastflow.backends.local submit --config ...`),
which checks the run, starts the supervisor in its own session and exits
once the supervisor has written its state file. Counts, status and logs
come from the files in the job directory (see `local_state`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from blastflow.backends.base import PodCounts, PreparedRun, RunState, RunStatus, SearchSpec
from blastflow.backends.local_state import (
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
from blastflow.programs import MOLECULE_NAMES, check_program, check_query_molecule
from blastflow.settings import Settings, get_settings

if TYPE_CHECKING:
    from blastflow.database import Database, FastaDatabase

__all__ = ["DEFAULT_RETRY_BACKOFF_S", "LocalBackend", "available_cores", "main", "submit"]

# A failed batch waits 10 s, 20 s, 40 s … before its next attempt, as a Kubernetes Job's pods do.
DEFAULT_RETRY_BACKOFF_S = 10.0
SUPERVISOR_START_TIMEOUT_S = 30.0


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
        from blastflow.batch import default_batch_len, write_batches
        from blastflow.database import FastaDatabase, resolve_database
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
        return [sys.executable, "-m", "blastflow.backends.local", "submit", "--config", str(run.config_path)]

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
    from blastflow.database import FastaDatabase, make_database

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


# -- the submit child ---------------------------------------------------------------------------------------


def submit(config_path: Path, *, start_timeout_s: float = SUPERVISOR_START_TIMEOUT_S) -> int:
    """Check a prepared run, start its supervisor detached, and return once it runs (exit code).

    Progress goes to stdout a line at a time; errors go to stderr.
    """
    config_path = config_path.absolute()  # the supervisor runs in the job directory
    try:
        config = LocalConfig.model_validate_json(config_path.read_bytes())
    except FileNotFoundError:
        return _fail(f"no local run config at {config_path}: prepare the run first", 2)
    except ValidationError as exc:
        return _fail(f"{config_path} is not a valid local run config: {exc.errors()[0]['msg']}", 2)
    files = RunFiles(config.workdir)
    unit = "bases" if config.molecule == "nucl" else "residues"
    query = MOLECULE_NAMES[config.molecule]
    _say(f"Job {config.job_id}: {config.program} of a {query} query against {config.database_label}")
    _say("Checking query batches")
    missing = [b.name for b in config.batches if not b.path.is_file()]
    if missing:
        return _fail(f"query batch files missing: {', '.join(missing)} (under {config.workdir / 'query_batches'})", 1)
    _say(f"{len(config.batches)} batches, {sum(b.residues for b in config.batches):,} {unit} total")
    if not os.access(config.blast, os.X_OK):
        return _fail(f"BLAST+ program {config.blast} is missing or not executable", 1)
    existing = read_state(files.supervisor, SupervisorState)
    if existing is not None:
        return _fail(
            f"this run was already submitted (supervisor pid {existing.pid}, {existing.phase.value}): "
            "a run is submitted once; start a new job to search again",
            1,
        )
    _say("Starting supervisor…")
    with files.supervisor_log.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "blastflow.backends.supervisor", "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,  # its own log file: nothing ties it to this child's pipes, so this child can exit
            stderr=subprocess.STDOUT,
            cwd=config.workdir,
            start_new_session=True,  # not in our process group: a Ctrl-C or kill of the submit leaves it be
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + start_timeout_s
    while True:
        state = read_state(files.supervisor, SupervisorState)
        if state is not None and state.pid == process.pid:
            break
        code = process.poll()
        if code is not None:
            last = [line for line in tail_lines(files.supervisor_log, 5) if line.strip()]
            return _fail(
                f"the supervisor exited at start (code {code})" + (f": {last[-1]}" if last else ""),
                1,
            )
        if time.monotonic() > deadline:
            process.kill()
            return _fail(f"the supervisor did not start within {start_timeout_s:.0f} s; see {files.supervisor_log}", 1)
        time.sleep(0.05)
    _say(
        f"Supervisor running (pid {process.pid}): at most {config.concurrency} batches at once, "
        f"{config.threads_per_pod} BLAST thread{'' if config.threads_per_pod == 1 else 's'} each, "
        f"log in {files.supervisor_log}"
    )
    _say(f"Submitted {len(config.batches)} batches")
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """`python -m blastflow.backends.local submit --config JOBDIR/local.json`."""
    parser = argparse.ArgumentParser(prog="python -m blastflow.backends.local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("submit", help="start a prepared run's supervisor and exit once it runs")
    start.add_argument("--config", required=True, type=Path, help="the run's local.json, e.g. JOBDIR/local.json")
    args = parser.parse_args(argv)
    return submit(args.config)


if __name__ == "__main__":
    sys.exit(main())
