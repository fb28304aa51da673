"""The local Prefect stack: a `prefect server`, work pools, the deployments, a process worker, zombie detection.

`up` is idempotent: it reuses a healthy server it started earlier, creates or updates the work pools and
the zombie automation, redeploys `prefect.yaml` pinned to the code version its worker will run (fix J),
and replaces the worker it started earlier rather than adding a second one. `down` stops what `up`
started (pid files under `<data dir>/stack/`) and any flow-run process that still carries the stack's
PREFECT_HOME. Everything lives under the blastflow data dir: the server's PREFECT_HOME and SQLite
database, logs, pid files.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from blastflow.errors import BlastflowError, ConfigError
from blastflow.sanitise import sanitise
from blastflow.settings import get_settings

__all__ = [
    "DEFAULT_PORT",
    "HEARTBEAT_FREQUENCY_S",
    "K8S_POOL",
    "LOCAL_POOL",
    "PREFECT_YAML",
    "WORK_POOLS",
    "ZOMBIE_AUTOMATION",
    "ZOMBIE_WITHIN_S",
    "StackError",
    "StackFiles",
    "StackStatus",
    "base_job_template",
    "deployment_names",
    "down",
    "load_prefect_yaml",
    "status",
    "up",
    "zombie_automation",
]

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "prefect.yaml"
K8S_TEMPLATE = ROOT / "deployments" / "k8s" / "base-job-template.json"

LOCAL_POOL = "blastflow-local"
K8S_POOL = "blastflow-k8s"
WORK_POOLS: dict[str, str] = {LOCAL_POOL: "process", K8S_POOL: "kubernetes"}  # name -> Prefect worker type
DEFAULT_PORT = 4200
HEARTBEAT_FREQUENCY_S = 30  # Prefect's minimum; flow runs beat this often
ZOMBIE_WITHIN_S = 4 * HEARTBEAT_FREQUENCY_S  # four missed beats (Prefect advises at least three) = crashed
ZOMBIE_AUTOMATION = "blastflow: crash flow runs whose heartbeats stopped"

_HOST = "127.0.0.1"
_STOP_GRACE_S = 15.0
Echo = Callable[[str], None]


class StackError(BlastflowError):
    """A part of the local stack would not start or answer; the message names its log."""

    code = "stack"


# ------------------------------------------------------------------------------------------------------
# What the stack is made of (pure)
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackFiles:
    """Where one stack keeps its state: `<data dir>/stack/`."""

    root: Path

    @classmethod
    def of(cls, data_dir: Path) -> StackFiles:
        return cls(Path(data_dir).expanduser().resolve() / "stack")

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def database(self) -> Path:
        return self.prefect_home / "prefect.db"

    @property
    def server_pid(self) -> Path:
        return self.root / "server.pid"

    @property
    def worker_pid(self) -> Path:
        return self.root / "worker.pid"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    @property
    def worker_log(self) -> Path:
        return self.root / "worker.log"

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def worker_name(self) -> str:
        """Unique per stack, so a pid check can tell this stack's worker from any other."""
        return f"{LOCAL_POOL}-{hashlib.sha1(str(self.root).encode()).hexdigest()[:8]}"


@dataclass
class StackStatus:
    """What runs now, as `status` reports it."""

    api_url: str | None = None
    server_pid: int | None = None
    worker_pid: int | None = None
    healthy: bool = False
    code_version: str | None = None
    deployments: list[str] = field(default_factory=list)
    other_pids: list[int] = field(default_factory=list)  # flow runs (and their children) of this stack

    @property
    def ui_url(self) -> str | None:
        return self.api_url.removesuffix("/api") if self.api_url else None

    def lines(self) -> list[str]:
        """Human-readable summary."""
        if self.server_pid is None and self.worker_pid is None and not self.other_pids:
            return ["The local Prefect stack is not running: start it with `blastflow up`."]
        server = f"pid {self.server_pid}" if self.server_pid else "not running"
        answer = "answering" if self.healthy else "NOT answering"
        out = [
            f"Prefect server: {server}, {answer} at {self.api_url or '-'}",
            f"Prefect UI:     {self.ui_url or '-'}",
            f"Worker:         {f'pid {self.worker_pid}' if self.worker_pid else 'not running'} (pool {LOCAL_POOL})",
            f"Deployed code:  {self.code_version or '-'}",
        ]
        if self.deployments:
            out.append(f"Deployments:    {', '.join(self.deployments)}")
        if self.other_pids:
            out.append(f"Flow-run processes: {', '.join(map(str, self.other_pids))}")
        return out


def load_prefect_yaml(path: Path = PREFECT_YAML) -> dict[str, Any]:
    """prefect.yaml as data (YAML anchors and merge keys resolved, as `prefect deploy` reads it)."""
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def deployment_names(config: Mapping[str, Any], pools: Iterable[str]) -> list[str]:
    """The deployments of `config` whose work pool is one of `pools`, in file order.

    Example:
        >>> config = {"deployments": [{"name": "a", "work_pool": {"name": "p"}},
        ...                           {"name": "b", "work_pool": {"name": "q"}}]}
        >>> deployment_names(config, ["p"])
        ['a']
    """
    wanted = set(pools)
    return [d["name"] for d in config.get("deployments") or [] if (d.get("work_pool") or {}).get("name") in wanted]


def zombie_automation() -> Any:
    """The automation that marks a flow run Crashed when its heartbeats stop (Prefect's "detect zombie flows").

    After each `prefect.flow-run.heartbeat` of a run, another event of that run (a beat or a state change)
    is expected within ZOMBIE_WITHIN_S; if none comes, the run is set to CRASHED.

    Example:
        >>> automation = zombie_automation()
        >>> automation.trigger.posture.value, automation.trigger.within.total_seconds()
        ('Proactive', 120.0)
        >>> automation.actions[0].state.value
        'CRASHED'
    """
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=ZOMBIE_AUTOMATION,
        description=(
            f"Flow runs beat every {HEARTBEAT_FREQUENCY_S} s (PREFECT_FLOWS_HEARTBEAT_FREQUENCY); a run silent for "
            f"{ZOMBIE_WITHIN_S} s lost its worker. Created by `blastflow up`; reconcile then fails its job."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.*"},  # another beat, or any state change (custom state names too)
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=ZOMBIE_WITHIN_S),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {ZOMBIE_WITHIN_S} s: the worker or machine running this flow run is gone.",
            )
        ],
    )


def _child_env(files: StackFiles, data_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    """Environment of every process the stack starts: its own PREFECT_HOME, no profile or Cloud key."""
    env = {k: v for k, v in base.items() if k not in {"PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE"}}
    env.update(
        PREFECT_HOME=str(files.prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY=str(HEARTBEAT_FREQUENCY_S),
        BLASTFLOW_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def _server_env(files: StackFiles, env: Mapping[str, str]) -> dict[str, str]:
    out = dict(env)
    out.update(
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{files.database}",
        # A loaded two-core machine: SQLite waits for its lock rather than failing a request.
        PREFECT_SERVER_DATABASE_TIMEOUT=out.get("PREFECT_SERVER_DATABASE_TIMEOUT", "60"),
        PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT=out.get("PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT", "30"),
    )
    out.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
    return out


# ------------------------------------------------------------------------------------------------------
# up / down / status
# ------------------------------------------------------------------------------------------------------


def up(
    *,
    port: int = DEFAULT_PORT,
    k8s: bool = False,
    force: bool = False,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    echo: Echo = print,
    timeout_s: float = 180.0,
) -> StackStatus:
    """Bring the local stack up, or bring a running one up to date. Safe to run again.

    Args:
        port: Port of the Prefect server (API at /api, UI at /).
        k8s: Also create the Kubernetes work pool and deploy `blast-search-k8s` to it.
        force: Replace the worker even while it runs searches (they are stopped with it).
        data_dir: The blastflow data dir (default BLASTFLOW_DATA_DIR); the stack lives in `<data_dir>/stack`.
        env: Environment for the server, `prefect deploy` and the worker, over this process's (BLASTFLOW_STORE_URL…).
        echo: Where progress lines go.
        timeout_s: How long each part may take to come up.

    Returns:
        The status of the running stack.

    Raises:
        ConfigError: The port is taken by something else, this stack's server runs on another port, or the
            worker runs searches and `force` is off (nothing is deployed or restarted then).
        StackError: The server, the deployment or the worker failed; the message holds the log's tail.
    """
    data_dir = Path(data_dir or get_settings().data_dir).expanduser().resolve()
    files = StackFiles.of(data_dir)
    files.prefect_home.mkdir(parents=True, exist_ok=True)
    child_env = _child_env(files, data_dir, {**os.environ, **(env or {})})

    api_url = _ensure_server(files, port, child_env, echo, timeout_s)
    child_env["PREFECT_API_URL"] = api_url
    pools = [LOCAL_POOL, K8S_POOL] if k8s else [LOCAL_POOL]
    _ensure_pools(api_url, pools, echo)
    _ensure_zombie_automation(api_url, echo)
    if not force and _read_pid(files.worker_pid, files.worker_name) is not None:
        _refuse_to_stop_searches(files, "restarting the worker", "blastflow up --force")
    version = _code_version(child_env)
    names = deployment_names(load_prefect_yaml(), pools)
    _deploy(names, version, child_env, echo, timeout_s)
    worker_pid = _restart_worker(files, api_url, child_env, echo, timeout_s)
    files.state.write_text(json.dumps({"api_url": api_url, "port": port, "code_version": version,
                                       "deployments": names, "worker_pid": worker_pid}, indent=2))
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
    worker = _read_pid(files.worker_pid, files.worker_name)
    server = _read_pid(files.server_pid, "server start")
    if worker is not None and _stop(worker):
        echo(f"Stopped the worker (pid {worker}).")
        stopped.append(worker)
    files.worker_pid.unlink(missing_ok=True)
    for pid in _stack_processes(files, exclude={worker, server}):  # flow runs the worker left behind
        if _stop(pid):
            echo(f"Stopped flow-run process {pid}.")
            stopped.append(pid)
    if server is not None and _stop(server):
        echo(f"Stopped the Prefect server (pid {server}).")
        stopped.append(server)
    files.server_pid.unlink(missing_ok=True)
    if not stopped:
        echo("Nothing of the local Prefect stack was running.")
    return stopped


def status(*, data_dir: Path | None = None) -> StackStatus:
    """What of the local stack runs now (pid files checked against the live processes)."""
    files = StackFiles.of(Path(data_dir or get_settings().data_dir))
    state = json.loads(files.state.read_text()) if files.state.exists() else {}
    server = _read_pid(files.server_pid, "server start")
    worker = _read_pid(files.worker_pid, files.worker_name)
    api_url = state.get("api_url")
    return StackStatus(
        api_url=api_url,
        server_pid=server,
        worker_pid=worker,
        healthy=bool(server and api_url and _healthy(api_url)),
        code_version=state.get("code_version"),
        deployments=list(state.get("deployments") or []),
        other_pids=_stack_processes(files, exclude={server, worker}),
    )


# ------------------------------------------------------------------------------------------------------
# The steps of `up`
# ------------------------------------------------------------------------------------------------------


def _ensure_server(files: StackFiles, port: int, env: Mapping[str, str], echo: Echo, timeout_s: float) -> str:
    api_url = f"http://{_HOST}:{port}/api"
    running = _read_pid(files.server_pid, "server start")
    if running is not None:
        if f"--port {port}" not in (_command_line(running) or ""):
            raise ConfigError(
                f"this stack's Prefect server (pid {running}) runs on another port than {port}: "
                "run `blastflow down` first, or `blastflow up` with the port it uses (`blastflow status`)"
            )
        if _wait_healthy(api_url, running, timeout_s):
            echo(f"Prefect server already running (pid {running}) at {api_url}")
            return api_url
        raise StackError(f"this stack's Prefect server (pid {running}) does not answer at {api_url}: "
                         f"run `blastflow down` then `blastflow up`; its log: {files.server_log}")
    if _port_taken(port):
        raise ConfigError(f"port {port} is already in use by another program: choose another with --port")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", _HOST, "--port", str(port)]
    echo(f"Starting the Prefect server on port {port} (database {files.database}) ...")
    pid = _spawn(command, _server_env(files, env), files.server_log)
    files.server_pid.write_text(f"{pid}\n")
    if not _wait_healthy(api_url, pid, timeout_s):
        _stop(pid)
        files.server_pid.unlink(missing_ok=True)
        raise StackError(f"the Prefect server did not come up within {timeout_s:g} s; the end of its log "
                         f"({files.server_log}):\n{_tail(files.server_log)}")
    echo(f"Prefect server up (pid {pid}) at {api_url}")
    return api_url


def _ensure_pools(api_url: str, pools: Iterable[str], echo: Echo) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate

    with SyncPrefectClient(api_url) as client:
        for name in pools:
            template = base_job_template(WORK_POOLS[name])
            client.create_work_pool(WorkPoolCreate(name=name, type=WORK_POOLS[name], base_job_template=template),
                                    overwrite=True)
            echo(f"Work pool {name} ({WORK_POOLS[name]}) ready")


def base_job_template(pool_type: str) -> dict[str, Any]:
    """The base job template `up` gives a pool of this type (Kubernetes: deployments/k8s/base-job-template.json)."""
    if pool_type == "kubernetes":
        if K8S_TEMPLATE.exists():
            return json.loads(K8S_TEMPLATE.read_text())
        from prefect_kubernetes.worker import KubernetesWorker

        return KubernetesWorker.get_default_base_job_template()
    from prefect.workers.process import ProcessWorker

    return ProcessWorker.get_default_base_job_template()


def _ensure_zombie_automation(api_url: str, echo: Echo) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import AutomationCore

    wanted = zombie_automation()
    # The server refuses `owner_resource` on an update; left unset, it is left out of both requests.
    core = AutomationCore(**wanted.model_dump(exclude={"id", "owner_resource"}))
    with SyncPrefectClient(api_url) as client:
        existing = client.read_automations_by_name(ZOMBIE_AUTOMATION)
        for extra in existing[1:]:  # one is enough; duplicates would crash a run twice
            client.delete_automation(extra.id)
        if existing:
            client.update_automation(existing[0].id, core)
        else:
            client.create_automation(core)
    echo(f"Zombie detection on: heartbeat every {HEARTBEAT_FREQUENCY_S} s, Crashed after {ZOMBIE_WITHIN_S} s silent")


def _refuse_to_stop_searches(files: StackFiles, action: str, forced: str) -> None:
    """A search in progress is never killed by surprise: the user waits for it, or says so."""
    searches = _live_searches(files)
    if searches:
        runs = ", ".join(sorted(searches))
        raise ConfigError(
            f"{len(searches)} search(es) are running on this stack (flow runs {runs}): {action} now would stop "
            f"them. Wait until they finish (`blastflow jobs`, `blastflow status`), or run `{forced}`"
        )


def _code_version(env: Mapping[str, str]) -> str:
    """The code version a flow run started by this stack's worker will report (same interpreter, env, dir)."""
    probe = [sys.executable, "-c", "from blastflow.version import code_version; print(code_version())"]
    done = subprocess.run(probe, cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise StackError(f"could not read the code version: {sanitise(done.stderr.strip()[-2000:])}")
    return done.stdout.strip().splitlines()[-1]


def _deploy(names: list[str], version: str, env: Mapping[str, str], echo: Echo, timeout_s: float) -> None:
    echo(f"Deploying {', '.join(names)} (code {version}) ...")
    command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--prefect-file", str(PREFECT_YAML)]
    for name in names:
        command += ["--name", name]
    # `prefect deploy` records its working directory as where the worker runs the flows: the checkout.
    done = subprocess.run(command, cwd=ROOT, env={**env, "BLASTFLOW_CODE_VERSION": version}, capture_output=True,
                          text=True, timeout=max(timeout_s, 60), check=False)
    if done.returncode != 0:
        output = sanitise((done.stdout + done.stderr).strip()[-3000:])
        raise StackError(f"`prefect deploy` failed (exit {done.returncode}):\n{output}")
    echo(f"Deployed {len(names)} deployment(s) from {PREFECT_YAML.name}")


def _restart_worker(files: StackFiles, api_url: str, env: Mapping[str, str], echo: Echo, timeout_s: float) -> int:
    # Fix J: never a second worker beside a stale one; the old one goes before the new one starts.
    earlier = _read_pid(files.worker_pid, files.worker_name)
    if earlier is not None:
        _stop(earlier)
        echo(f"Stopped the earlier worker (pid {earlier})")
    files.worker_pid.unlink(missing_ok=True)
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", LOCAL_POOL, "--type", "process",
               "--name", files.worker_name]
    started = datetime.now(UTC)
    pid = _spawn(command, dict(env), files.worker_log, cwd=ROOT)
    files.worker_pid.write_text(f"{pid}\n")
    if not _wait_worker_online(api_url, files.worker_name, started, pid, timeout_s):
        _stop(pid)
        files.worker_pid.unlink(missing_ok=True)
        raise StackError(f"the worker did not come online within {timeout_s:g} s; the end of its log "
                         f"({files.worker_log}):\n{_tail(files.worker_log)}")
    echo(f"Worker {files.worker_name} online (pid {pid}), polling pool {LOCAL_POOL}")
    return pid


def _wait_worker_online(api_url: str, name: str, since: datetime, pid: int, timeout_s: float) -> bool:
    from prefect.client.orchestration import SyncPrefectClient

    deadline = time.monotonic() + timeout_s
    with SyncPrefectClient(api_url) as client:
        while time.monotonic() < deadline:
            if not _alive(pid):
                return False
            for worker in client.read_workers_for_work_pool(LOCAL_POOL):
                beat = worker.last_heartbeat_time
                if worker.name == name and beat is not None and beat >= since:
                    return True
            time.sleep(1.0)
    return False


# ------------------------------------------------------------------------------------------------------
# Processes: start detached, check, stop
# ------------------------------------------------------------------------------------------------------


def _spawn(command: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None) -> int:
    """Start `command` in a session of its own (so it outlives the CLI and stops as one group)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process.pid


def _read_pid(path: Path, marker: str) -> int | None:
    """The pid in `path` if that process is alive and is ours (its command line holds `marker`)."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    command = _command_line(pid)
    if not _alive(pid) or command is None or "prefect" not in command or marker not in command:
        return None  # gone, or the pid now belongs to something else
    return pid


def _command_line(pid: int) -> str | None:
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return None
    done = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a child of ours that exited is reaped here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _stop(pid: int, grace_s: float = _STOP_GRACE_S) -> bool:
    """SIGTERM the process (its whole group when it leads one), SIGKILL after `grace_s`. True if it was alive."""
    if not _alive(pid):
        return False
    try:
        group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return False
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig) if group else os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.1)
    return True


def _stack_processes(files: StackFiles, exclude: Iterable[int | None] = ()) -> list[int]:
    """Live processes started from this stack (their environment holds its PREFECT_HOME); Linux only."""
    return sorted(_stack_environments(files, exclude))


def _live_searches(files: StackFiles) -> dict[str, list[int]]:
    """Flow run id -> live processes of the blast-search runs of this stack (the flow and its BLAST supervisor)."""
    searches: dict[str, list[int]] = {}
    for pid, environ in _stack_environments(files).items():
        variables = dict(item.split("=", 1) for item in environ.split("\0") if "=" in item)
        if variables.get("PREFECT__FLOW_NAME") == "blast-search" and variables.get("PREFECT__FLOW_RUN_ID"):
            searches.setdefault(variables["PREFECT__FLOW_RUN_ID"], []).append(pid)
    return searches


def _stack_environments(files: StackFiles, exclude: Iterable[int | None] = ()) -> dict[int, str]:
    needle = f"PREFECT_HOME={files.prefect_home}\0"
    skip = {os.getpid(), *(pid for pid in exclude if pid)}
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if needle in environ and _alive(pid):
            found[pid] = environ
    return found


# ------------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------------


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_healthy(api_url: str, pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _healthy(api_url):
            return True
        if not _alive(pid):
            return False
        time.sleep(0.5)
    return False


def _port_taken(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return sanitise("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    except OSError:
        return "(no log)"
