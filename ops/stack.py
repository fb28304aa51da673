"""The local Prefect stack: a `prefect server`, work pools, the deployments, a process worker, zombie detection.

`up` is idempotent: it reuses a healthy server it started earlier, creates or updates the work pools,
the zombie automation and the notifications (`ops.notify`), redeploys `prefect.yaml` pinned to the code
version its worker will run (fix J) with the automation that runs reconcile when a search's run ends
badly, and replaces the worker it started earlier rather than adding a second
one. `down` stops what `up` started (pid files under `<data dir>/stack/`) and any flow-run process that still
carries the stack's PREFECT_HOME. Everything lives under the blastflow data dir: the server's PREFECT_HOME and SQLite
database, logs, pid files.

The server listens on 127.0.0.1 unless `up` is given another `host`; then Prefect's own API auth is on: a
random string made once, kept in `<data dir>/stack/api-auth` (mode 0600), given to the server
(PREFECT_SERVER_API_AUTH_STRING) and to every client of the stack (`StackFiles.api`, `PrefectApi`). `up` refuses
a non-loopback host when the installed Prefect has no such setting. The string never goes into the state file,
a progress line, `status` or an error message: they name the file.

This module puts the pieces together: `ops.stack_files` (where the stack keeps its state, what `status`
reports), `ops.prefect_admin` (everything that talks to Prefect), `ops.processes` (starting and finding
the stack's processes) and `blastflow.process` (alive, stop).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from blastflow.errors import ConfigError
from blastflow.notify import NotifyKind, notify_kind
from blastflow.process import stop, tail
from blastflow.sanitise import sanitise
from blastflow.settings import get_settings
from ops import notify as notify_admin
from ops import prefect_admin
from ops.prefect_admin import HEARTBEAT_FREQUENCY_S, HOST, K8S_POOL, LOCAL_POOL, ROOT, PrefectApi, StackError
from ops.processes import command_line, live_searches, read_pid, spawn, stack_processes
from ops.stack_files import StackFiles, StackStatus

__all__ = ["StackError", "down", "status", "up"]

Echo = Callable[[str], None]
_SERVER_MARKER = "server start"  # in the server's command line: how its pid file is trusted


def up(
    *,
    port: int = prefect_admin.DEFAULT_PORT,
    host: str = HOST,
    k8s: bool = False,
    force: bool = False,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    echo: Echo = print,
    timeout_s: float = 180.0,
    notify_url: str | None = None,
    notify_kind: str | None = None,
) -> StackStatus:
    """Bring the local stack up, or bring a running one up to date. Safe to run again.

    Args:
        port: Port of the Prefect server (API at /api, UI at /).
        host: Address the server listens on. Not loopback: Prefect's API auth goes on (string in
            `<data_dir>/stack/api-auth`).
        k8s: Also create the Kubernetes work pool and deploy `blast-search-k8s` to it.
        force: Replace the worker even while it runs searches (they are stopped with it).
        data_dir: The blastflow data dir (default BLASTFLOW_DATA_DIR); the stack lives in `<data_dir>/stack`.
        env: Environment for the server, `prefect deploy` and the worker, over this process's (BLASTFLOW_STORE_URL…).
        echo: Where progress lines go.
        timeout_s: How long each part may take to come up.
        notify_url: Webhook to notify when a blast-search run ends (a secret: shown masked); empty removes
            the notification; None takes BLASTFLOW_NOTIFY_URL, and leaves notifications as they are if unset.
        notify_kind: webhook, slack or teams; None takes BLASTFLOW_NOTIFY_KIND, else the URL's host decides.

    Returns:
        The status of the running stack.

    Raises:
        ConfigError: The notification URL or kind is invalid, or the host is not loopback and the installed
            Prefect has no API auth (both checked before anything starts), the port is taken by something
            else, this stack's server runs on another host or port, or the
            worker runs searches and `force` is off (nothing is deployed or restarted then).
        StackError: The server, the deployment or the worker failed; the message holds the log's tail.
    """
    data_dir = Path(data_dir or get_settings().data_dir).expanduser().resolve()
    files = StackFiles.of(data_dir)
    notify = _notify_request(notify_url, notify_kind)
    auth = _server_auth(files, host)
    files.prefect_home.mkdir(parents=True, exist_ok=True)
    child_env = _child_env(files, data_dir, {**os.environ, **(env or {})})

    api = _ensure_server(files, _Address(host, port), auth, child_env, echo, timeout_s)
    child_env.update(api.env())
    pools = [LOCAL_POOL, K8S_POOL] if k8s else [LOCAL_POOL]
    prefect_admin.ensure_pools(api, pools, echo)
    prefect_admin.ensure_zombie_automation(api, echo)
    _apply_notify(api, notify, echo)
    if not force and read_pid(files.worker_pid, files.worker_name) is not None:
        _refuse_to_stop_searches(files, "restarting the worker", "blastflow up --force")
    version = prefect_admin.code_version(child_env)
    names = prefect_admin.deployment_names(prefect_admin.load_prefect_yaml(), pools)
    prefect_admin.deploy(names, version, child_env, echo, timeout_s)
    prefect_admin.ensure_reconcile_automation(api, echo)  # names the reconcile deployment: after deploy
    worker_pid = _restart_worker(files, api, child_env, echo, timeout_s)
    files.write_state(api_url=api.url, host=host, port=port, code_version=version, deployments=names,
                      worker_pid=worker_pid)
    return status(data_dir=data_dir)


def down(*, force: bool = False, data_dir: Path | None = None, echo: Echo = print) -> list[int]:
    """Stop the worker, any flow run still running for this stack, and the server. Returns the pids stopped.

    Raises:
        ConfigError: Searches are running and `force` is off (nothing is stopped then).
    """
    files = StackFiles.of(Path(data_dir or get_settings().data_dir))
    if not force:
        _refuse_to_stop_searches(files, "stopping the stack", "blastflow down --force")
    stopped: list[int] = []
    worker = read_pid(files.worker_pid, files.worker_name)
    server = read_pid(files.server_pid, _SERVER_MARKER)
    if worker is not None and stop(worker):
        echo(f"Stopped the worker (pid {worker}).")
        stopped.append(worker)
    files.worker_pid.unlink(missing_ok=True)
    for pid in stack_processes(files.prefect_home, exclude={worker, server}):  # flow runs the worker left behind
        if stop(pid):
            echo(f"Stopped flow-run process {pid}.")
            stopped.append(pid)
    if server is not None and stop(server):
        echo(f"Stopped the Prefect server (pid {server}).")
        stopped.append(server)
    files.server_pid.unlink(missing_ok=True)
    if not stopped:
        echo("Nothing of the local Prefect stack was running.")
    return stopped


def status(*, data_dir: Path | None = None) -> StackStatus:
    """What of the local stack runs now (pid files checked against the live processes)."""
    files = StackFiles.of(Path(data_dir or get_settings().data_dir))
    state = files.read_state()
    server = read_pid(files.server_pid, _SERVER_MARKER)
    worker = read_pid(files.worker_pid, files.worker_name)
    api_url = state.get("api_url")
    host = state.get("host")
    exposed = bool(host) and prefect_admin.needs_auth(host)
    return StackStatus(
        api_url=api_url,
        server_pid=server,
        worker_pid=worker,
        healthy=bool(server and api_url and prefect_admin.healthy(files.api(api_url))),
        code_version=state.get("code_version"),
        deployments=list(state.get("deployments") or []),
        other_pids=stack_processes(files.prefect_home, exclude={server, worker}),
        host=host if exposed else None,
        auth_file=files.api_auth if exposed and files.auth_string() else None,
    )


# ------------------------------------------------------------------------------------------------------
# The steps of `up`
# ------------------------------------------------------------------------------------------------------


def _child_env(files: StackFiles, data_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    """Environment of every process the stack starts: its own PREFECT_HOME, no profile or Cloud key.

    Nor the notification URL: it lives only in its Prefect block.
    """
    # Nor an API auth string of the user's shell: the stack's own, if any, is added where it belongs.
    dropped = {"PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE", "BLASTFLOW_NOTIFY_URL",
               "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING"}
    env = {k: v for k, v in base.items() if k not in dropped}
    env.update(
        PREFECT_HOME=str(files.prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY=str(HEARTBEAT_FREQUENCY_S),
        BLASTFLOW_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass(frozen=True)
class _Address:
    """Where the server listens."""

    host: str
    port: int


def _server_auth(files: StackFiles, host: str) -> str | None:
    """The server's API auth string: none on loopback; on any other host Prefect's auth, or no start at all."""
    if not prefect_admin.needs_auth(host):
        return None
    prefect_admin.require_server_auth()
    return files.ensure_auth_string()


def _ensure_server(files: StackFiles, at: _Address, auth: str | None, env: Mapping[str, str], echo: Echo,
                   timeout_s: float) -> PrefectApi:
    """This stack's server API: the server it started earlier if that answers, else a new one."""
    api = PrefectApi(prefect_admin.local_api_url(at.port, at.host), auth)
    running = read_pid(files.server_pid, _SERVER_MARKER)
    if running is not None:
        _check_same_address(running, at)
        if prefect_admin.wait_healthy(api, running, timeout_s):
            echo(f"Prefect server already running (pid {running}) at {api.url}")
            return api
        raise StackError(f"this stack's Prefect server (pid {running}) does not answer at {api.url}: "
                         f"run `blastflow down` then `blastflow up`; its log: {files.server_log}")
    if prefect_admin.port_taken(at.port, at.host):
        raise ConfigError(f"port {at.port} is already in use by another program: choose another with --port")
    echo(f"Starting the Prefect server on {at.host}:{at.port} (database {files.database}) ...")
    if auth:
        echo(f"Not loopback: Prefect's API auth is on; its string is in {files.api_auth} (readable by you only)")
    server_env = prefect_admin.server_env(env, files.database, auth)
    pid = spawn(prefect_admin.server_command(at.port, at.host), server_env, files.server_log)
    files.server_pid.write_text(f"{pid}\n")
    if not prefect_admin.wait_healthy(api, pid, timeout_s):
        stop(pid)
        files.server_pid.unlink(missing_ok=True)
        raise StackError(f"the Prefect server did not come up within {timeout_s:g} s; the end of its log "
                         f"({files.server_log}):\n{_log_tail(files.server_log)}")
    echo(f"Prefect server up (pid {pid}) at {api.url}")
    return api


def _check_same_address(running: int, at: _Address) -> None:
    """A server already running elsewhere (or without the auth a new host needs) is never silently reused."""
    args = (command_line(running) or "").split()
    given = dict(pairwise(args))  # flag -> the word after it (port 4301 is not 43010)
    if (given.get("--host"), given.get("--port")) != (at.host, str(at.port)):
        raise ConfigError(
            f"this stack's Prefect server (pid {running}) runs on another host or port than {at.host}:{at.port}: "
            "run `blastflow down` first, or `blastflow up` with the --host and --port it uses "
            "(`blastflow stack status`)"
        )


def _notify_request(url: str | None, kind: str | None) -> tuple[str, NotifyKind | None] | None:
    """What `up` does with notifications: None leaves them; ("", None) removes them; (url, kind) sets them."""
    settings = get_settings()
    if url is None and settings.notify_url is not None:
        url = settings.notify_url.get_secret_value()
    if url is None:
        return None
    url = url.strip()
    return (url, notify_kind(url, kind or settings.notify_kind)) if url else ("", None)


def _apply_notify(api: PrefectApi, notify: tuple[str, NotifyKind | None] | None, echo: Echo) -> None:
    if notify is None:
        return
    url, kind = notify
    if kind is None:
        notify_admin.remove_notifications(api, echo)
    else:
        notify_admin.ensure_notifications(api, url, kind, get_settings().monitor_url, echo)


def _restart_worker(files: StackFiles, api: PrefectApi, env: Mapping[str, str], echo: Echo, timeout_s: float) -> int:
    """Start this stack's worker, after stopping the one it started earlier; its pid once it is online."""
    # Fix J: never a second worker beside a stale one; the old one goes before the new one starts.
    earlier = read_pid(files.worker_pid, files.worker_name)
    if earlier is not None:
        stop(earlier)
        echo(f"Stopped the earlier worker (pid {earlier})")
    files.worker_pid.unlink(missing_ok=True)
    started = datetime.now(UTC)
    pid = spawn(prefect_admin.worker_command(files.worker_name), dict(env), files.worker_log, cwd=ROOT)
    files.worker_pid.write_text(f"{pid}\n")
    if not prefect_admin.wait_worker_online(api, files.worker_name, started, pid, timeout_s):
        stop(pid)
        files.worker_pid.unlink(missing_ok=True)
        raise StackError(f"the worker did not come online within {timeout_s:g} s; the end of its log "
                         f"({files.worker_log}):\n{_log_tail(files.worker_log)}")
    echo(f"Worker {files.worker_name} online (pid {pid}), polling pool {LOCAL_POOL}")
    return pid


def _refuse_to_stop_searches(files: StackFiles, action: str, forced: str) -> None:
    """A search in progress is never killed by surprise: the user waits for it, or says so."""
    searches = live_searches(files.prefect_home)
    if searches:
        runs = ", ".join(sorted(searches))
        raise ConfigError(
            f"{len(searches)} search(es) are running on this stack (flow runs {runs}): {action} now would stop "
            f"them. Wait until they finish (`blastflow jobs`, `blastflow stack status`), or run `{forced}`"
        )


def _log_tail(path: Path, lines: int = 30) -> str:
    """The end of a log, for an error message."""
    return sanitise("\n".join(tail(path, lines))) or "(no log)"
