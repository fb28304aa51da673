"""The search process of `blastflow run`: what it runs, and how the CLI starts and ends it.

Run as `python -m ops.search_process`, it reads the flow's parameters (the job id among them) as JSON on stdin,
runs `blast_search(**params)` and exits 0 when the search completed, 1 otherwise (the error on stderr). The CLI
starts it in a session of its own, so a terminal's Ctrl-C reaches only the CLI, which asks what to do; its
output goes to a log file in the data dir (or to the terminal with `--verbose`). Prefect and the flow are
imported only in that process: the CLI that starts it stays quick.

When PREFECT_API_URL is unset and the `blastflow up` stack answers, the process gets the stack's API (and its
auth string, through the environment only), so the run shows in the stack's UI. Otherwise the CLI starts
Prefect's temporary server itself, the way Prefect does (`temporary_server_argv`), at the same moment as the
search process: the server's start-up (a Python importing Prefect's server, its SQLite database) overlaps the
search process importing Prefect and the flow, instead of following it. The server runs in the search
process's group (ended with it) and the search process stops it when the flow is done.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.prefect_admin import PrefectApi
    from ops.stack_files import StackStatus

__all__ = [
    "END_GRACE_S", "SERVER_PID_ENV", "end", "flow_run_link", "log_path", "main", "stack_api", "stack_api_url", "start",
    "start_temporary_server", "stop_temporary_server", "temporary_server_argv",
]

END_GRACE_S = 10.0  # between SIGTERM and SIGKILL of the search process's group
_SERVER_APP = "prefect.server.api.server:create_app"
SERVER_PID_ENV = "BLASTFLOW_TEMPORARY_SERVER_PID"  # set for the search process: the server it waits for and stops


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


def temporary_server_argv(port: int) -> tuple[list[str], dict[str, str]]:
    """The command and extra environment of Prefect's temporary server on `port`, as Prefect itself starts it.

    Taken from prefect/server/api/server.py, `SubprocessASGIServer._run_uvicorn_command` (Prefect 3.4–3.9): uvicorn
    on Prefect's app factory, the UI off, the server marked ephemeral (its services for a single client).
    """
    spec = importlib.util.find_spec("prefect")  # where Prefect is, without importing it here
    assert spec is not None and spec.submodule_search_locations
    app_dir = str(Path(next(iter(spec.submodule_search_locations))).parent)
    argv = [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory", _SERVER_APP,
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    return argv, {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_temporary_server(env: Mapping[str, str], log: Path | None) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start Prefect's temporary server for one search; the server and what the search process's environment adds.

    In a session of its own (a terminal's Ctrl-C is the CLI's); the search process stops it when its flow is
    done (`SERVER_PID_ENV`), the CLI when it ends the search process.
    """
    port = _free_port()
    argv, extra = temporary_server_argv(port)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as files:
        out = files.enter_context(open(log, "ab")) if log is not None else None  # None: shown, as with --verbose
        server = subprocess.Popen(argv, env={**env, **extra}, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT if out else None, start_new_session=True)
    return server, {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api", SERVER_PID_ENV: str(server.pid)}


def stop_temporary_server(pid: int) -> None:
    """SIGTERM to the temporary server `pid`, if that pid is still one (never to a process that took its number)."""
    with contextlib.suppress(OSError):
        if _SERVER_APP.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)


def _wait_for_server(api_url: str, timeout_s: float) -> None:
    """Until the temporary server answers its health check (Prefect's own wait, with its timeout setting)."""
    import httpx  # Prefect's own client library, already loaded with the flow

    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Prefect's temporary server at {api_url} did not answer within {timeout_s:.0f} s")
        time.sleep(0.1)


def main() -> int:
    """The search process: the parameters from stdin, the flow, 0 when the search completed."""
    params = json.load(sys.stdin)
    from blastflow.sanitise import sanitise
    from flows.blast_search import blast_search

    server_pid = os.environ.get(SERVER_PID_ENV)
    if server_pid:  # at exit, after Prefect's own exit handlers (registered later, run first) sent their last logs
        atexit.register(stop_temporary_server, int(server_pid))
    try:
        if server_pid:  # the flow's imports above overlapped the server's start; now it must answer
            _wait_for_server(os.environ["PREFECT_API_URL"],
                             float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")))
        blast_search(**params)
    except Exception as exc:  # the job row holds the error too; this line is for the log
        print(f"error: {sanitise(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
