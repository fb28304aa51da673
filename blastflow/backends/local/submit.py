"""The local backend's submit child: checks a prepared run, starts its supervisor detached, and exits.

`python -m blastflow.backends.local.submit --config JOBDIR/local.json`. The flow
streams this child like `elastic-blast submit`: progress a line at a time on
stdout, errors on stderr, exit 0 once the supervisor has written its state file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from blastflow.backends.local.run_files import LocalConfig, RerunSelection, RunFiles, SupervisorState, read_state
from blastflow.process import tail
from blastflow.programs import MOLECULE_NAMES

__all__ = ["SUPERVISOR_START_TIMEOUT_S", "main", "submit"]

SUPERVISOR_START_TIMEOUT_S = 30.0


def submit(config_path: Path, *, start_timeout_s: float = SUPERVISOR_START_TIMEOUT_S) -> int:
    """Check a prepared run, start its supervisor detached, and return once it runs (exit code).

    Progress goes to stdout a line at a time; errors go to stderr.
    """
    config_path = config_path.absolute()  # the supervisor runs in the job directory
    try:
        config = _read_config(config_path)
        files = RunFiles(config.workdir)
        _check_run(config, files)
        process = _start_supervisor(config_path, config, files)
        _wait_until_running(process, files, start_timeout_s)
    except _Refused as refused:
        return _fail(refused.message, refused.exit_code)
    _say(
        f"Supervisor running (pid {process.pid}): at most {config.concurrency} batches at once, "
        f"{config.threads_per_pod} BLAST thread{'' if config.threads_per_pod == 1 else 's'} each, "
        f"log in {files.supervisor_log}"
    )
    rerun = read_state(files.rerun, RerunSelection)  # a resume runs only these; the other batches are kept
    kept = f" ({len(config.batches) - len(rerun.batches)} kept from an earlier run)" if rerun is not None else ""
    _say(f"Submitted {len(config.batches) if rerun is None else len(rerun.batches)} batches{kept}")
    return 0


class _Refused(Exception):
    """The run cannot be submitted: `message` goes to stderr, `exit_code` is the child's exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _read_config(config_path: Path) -> LocalConfig:
    try:
        return LocalConfig.model_validate_json(config_path.read_bytes())
    except FileNotFoundError:
        raise _Refused(f"no local run config at {config_path}: prepare the run first", 2) from None
    except ValidationError as exc:
        raise _Refused(f"{config_path} is not a valid local run config: {exc.errors()[0]['msg']}", 2) from None


def _check_run(config: LocalConfig, files: RunFiles) -> None:
    """The query batches and BLAST+ are there, and the run was not submitted before."""
    unit = "bases" if config.molecule == "nucl" else "residues"
    query = MOLECULE_NAMES[config.molecule]
    _say(f"Job {config.job_id}: {config.program} of a {query} query against {config.database_label}")
    _say("Checking query batches")
    missing = [b.name for b in config.batches if not b.path.is_file()]
    if missing:
        raise _Refused(f"query batch files missing: {', '.join(missing)} (under {config.workdir / 'query_batches'})")
    _say(f"{len(config.batches)} batches, {sum(b.residues for b in config.batches):,} {unit} total")
    if not os.access(config.blast, os.X_OK):
        raise _Refused(f"BLAST+ program {config.blast} is missing or not executable")
    existing = read_state(files.supervisor, SupervisorState)
    if existing is not None:
        raise _Refused(
            f"this run was already submitted (supervisor pid {existing.pid}, {existing.phase.value}): "
            "a run is submitted once; start a new job to search again"
        )


def _start_supervisor(config_path: Path, config: LocalConfig, files: RunFiles) -> subprocess.Popen[bytes]:
    """The supervisor, detached: its own session and log file, so this child can exit and leave it running."""
    _say("Starting supervisor…")
    with files.supervisor_log.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "blastflow.backends.local.supervisor", "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,  # its own log file: nothing ties it to this child's pipes, so this child can exit
            stderr=subprocess.STDOUT,
            cwd=config.workdir,
            start_new_session=True,  # not in our process group: a Ctrl-C or kill of the submit leaves it be
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _wait_until_running(process: subprocess.Popen[bytes], files: RunFiles, start_timeout_s: float) -> None:
    """Until the supervisor's state file names its pid; it exiting first, or the timeout, is a refusal."""
    deadline = time.monotonic() + start_timeout_s
    while True:
        state = read_state(files.supervisor, SupervisorState)
        if state is not None and state.pid == process.pid:
            return
        code = process.poll()
        if code is not None:
            last = [line for line in tail(files.supervisor_log, 5) if line.strip()]
            raise _Refused(f"the supervisor exited at start (code {code})" + (f": {last[-1]}" if last else ""))
        if time.monotonic() > deadline:
            process.kill()
            raise _Refused(f"the supervisor did not start within {start_timeout_s:.0f} s; see {files.supervisor_log}")
        time.sleep(0.05)


def _say(text: str) -> None:
    print(text, flush=True)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """`python -m blastflow.backends.local.submit submit --config JOBDIR/local.json`."""
    parser = argparse.ArgumentParser(
        prog="python -m blastflow.backends.local.submit", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("submit", help="start a prepared run's supervisor and exit once it runs")
    start.add_argument("--config", required=True, type=Path, help="the run's local.json, e.g. JOBDIR/local.json")
    args = parser.parse_args(argv)
    return submit(args.config)


if __name__ == "__main__":
    sys.exit(main())
