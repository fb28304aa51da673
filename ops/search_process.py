"""The search process of `blastflow run`: what it runs, and how the CLI starts and ends it.

Run as `python -m ops.search_process`, it reads the flow's parameters (the job id among them) as JSON on stdin,
runs `blast_search(**params)` and exits 0 when the search completed, 1 otherwise (the error on stderr). The CLI
starts it in a session of its own, so a terminal's Ctrl-C reaches only the CLI, which asks what to do; its
output goes to a log file in the data dir (or to the terminal with `--verbose`). Prefect and the flow are
imported only in that process: the CLI that starts it stays quick.

When PREFECT_API_URL is unset and the `blastflow up` stack answers, the process gets the stack's API (and its
auth string, through the environment only), so the run shows in the stack's UI; otherwise Prefect starts its
temporary server in the process, as a direct call of the flow does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.prefect_admin import PrefectApi
    from ops.stack_files import StackStatus

__all__ = ["END_GRACE_S", "end", "flow_run_link", "log_path", "main", "stack_api", "stack_api_url", "start"]

END_GRACE_S = 10.0  # between SIGTERM and SIGKILL of the search process's group


def stack_api_url(environ: Mapping[str, str], stack: StackStatus) -> str | None:
    """The stack's API URL when the search should use it: PREFECT_API_URL unset and the stack's server answers.

    Example:
        >>> from ops.stack_files import StackStatus
        >>> up = StackStatus(api_url="http://127.0.0.1:4200/api", server_pid=1, healthy=True)
        >>> stack_api_url({}, up), stack_api_url({"PREFECT_API_URL": "http://elsewhere/api"}, up)
        ('http://127.0.0.1:4200/api', None)
        >>> stack_api_url({}, StackStatus(api_url="http://127.0.0.1:4200/api", server_pid=1, healthy=False))
    """
    if environ.get("PREFECT_API_URL") or not stack.healthy:
        return None
    return stack.api_url or None


def stack_api(environ: Mapping[str, str], data_dir: Path) -> PrefectApi | None:
    """The `blastflow up` server (with its auth string, if any) to run the search on; None to leave Prefect be.

    One health request when the stack's server process runs; nothing but a few file reads otherwise.
    """
    if environ.get("PREFECT_API_URL"):
        return None  # the user chose a server: no need to look at the stack
    from ops import stack
    from ops.stack_files import StackFiles

    url = stack_api_url(environ, stack.status(data_dir=data_dir))
    return StackFiles.of(data_dir).api(url) if url else None


def flow_run_link(api_url: str, flow_run_id: str) -> str:
    """The Prefect UI page of a flow run on the server at `api_url`.

    Example:
        >>> flow_run_link("http://127.0.0.1:4200/api", "abc")
        'http://127.0.0.1:4200/runs/flow-run/abc'
    """
    return f"{api_url.rstrip('/').removesuffix('/api')}/runs/flow-run/{flow_run_id}"


def log_path(data_dir: Path, job_id: str) -> Path:
    """Where the search process's output goes when it is not shown (`<data dir>/logs/run-<job id>.log`)."""
    return data_dir / "logs" / f"run-{job_id}.log"


def start(params: Mapping[str, object], env: Mapping[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    """Start the search process on `params`; its output into `log` (None: this process's stdout and stderr).

    An argument list, never a shell; a session of its own (a terminal's Ctrl-C is the CLI's to handle).
    """
    command = [sys.executable, "-m", "ops.search_process"]
    child_env = {**env, "PYTHONUNBUFFERED": "1"}
    # Prefect's temporary server (no stack, no PREFECT_API_URL) would otherwise phone home at start-up and every
    # few minutes: an outbound request and a write racing the run's own on its SQLite database.
    child_env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if log is None:
        process = subprocess.Popen(command, env=child_env, stdin=subprocess.PIPE, start_new_session=True)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            process = subprocess.Popen(command, env=child_env, stdin=subprocess.PIPE, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdin is not None
    with process.stdin:
        process.stdin.write(json.dumps(dict(params)).encode())
    return process


def end(process: subprocess.Popen[bytes], grace_s: float = END_GRACE_S) -> None:
    """End the search process and its group: SIGTERM, then SIGKILL after `grace_s` seconds."""
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> int:
    """The search process: the parameters from stdin, the flow, 0 when the search completed."""
    params = json.load(sys.stdin)
    from blastflow.sanitise import sanitise
    from flows.blast_search import blast_search

    try:
        blast_search(**params)
    except Exception as exc:  # the job row holds the error too; this line is for the log
        print(f"error: {sanitise(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
