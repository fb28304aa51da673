"""Prefect administration for the local stack: the server, work pools, deployments, the zombie automation, the worker.

Everything here talks to Prefect (its API, its CLI, its models) and knows nothing of where the stack keeps its
files; `ops.stack` puts the pieces together. The zombie automation is data, `deployments/automations/
zombie-flow-runs.yaml`, validated with Prefect's own `Automation` model; its name and window are read from it.
Prefect is imported inside the functions that need it: importing this module stays cheap.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from blastflow.errors import BlastflowError, ConfigError
from blastflow.process import alive
from blastflow.sanitise import sanitise

__all__ = [
    "DEFAULT_PORT",
    "HEARTBEAT_FREQUENCY_S",
    "HOST",
    "K8S_POOL",
    "LOCAL_POOL",
    "PREFECT_YAML",
    "ROOT",
    "WORK_POOLS",
    "ZOMBIE_AUTOMATION",
    "ZOMBIE_AUTOMATION_FILE",
    "ZOMBIE_WITHIN_S",
    "StackError",
    "base_job_template",
    "code_version",
    "deploy",
    "deployment_names",
    "ensure_pools",
    "ensure_zombie_automation",
    "healthy",
    "load_prefect_yaml",
    "local_api_url",
    "port_taken",
    "server_command",
    "server_env",
    "upsert_automation",
    "wait_healthy",
    "wait_worker_online",
    "worker_command",
    "zombie_automation",
]

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "prefect.yaml"
K8S_TEMPLATE = ROOT / "deployments" / "k8s" / "base-job-template.json"
ZOMBIE_AUTOMATION_FILE = ROOT / "deployments" / "automations" / "zombie-flow-runs.yaml"

LOCAL_POOL = "blastflow-local"
K8S_POOL = "blastflow-k8s"
WORK_POOLS: dict[str, str] = {LOCAL_POOL: "process", K8S_POOL: "kubernetes"}  # name -> Prefect worker type
HOST = "127.0.0.1"
DEFAULT_PORT = 4200
HEARTBEAT_FREQUENCY_S = 30  # Prefect's minimum; flow runs beat this often (the stack sets it for its processes)
MIN_MISSED_BEATS = 3  # Prefect advises a zombie window of at least three heartbeats

Echo = Callable[[str], None]


class StackError(BlastflowError):
    """A part of the local stack would not start or answer; the message names its log."""

    code = "stack"


# ------------------------------------------------------------------------------------------------------
# The zombie automation (data in deployments/automations/)
# ------------------------------------------------------------------------------------------------------


def _read_automation_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the automation file {path}: {exc}") from exc
    trigger = data.get("trigger") if isinstance(data, dict) else None
    if not isinstance(trigger, dict) or "within" not in trigger or not isinstance(data.get("name"), str):
        raise ConfigError(f"{path} is not an automation with a `name` and a `trigger.within`: restore it from git")
    return data


_ZOMBIE = _read_automation_file(ZOMBIE_AUTOMATION_FILE)
ZOMBIE_AUTOMATION: str = _ZOMBIE["name"]
ZOMBIE_WITHIN_S: int = int(_ZOMBIE["trigger"]["within"])  # seconds without an event before a run is Crashed


def zombie_automation(path: Path = ZOMBIE_AUTOMATION_FILE) -> Any:
    """The automation that marks a flow run Crashed when its heartbeats stop (Prefect's "detect zombie flows").

    After each `prefect.flow-run.heartbeat` of a run, another event of that run (a beat or a state change)
    is expected within ZOMBIE_WITHIN_S; if none comes, the run is set to CRASHED. Read from `path` and
    validated as `prefect automation create --from-file` validates it.

    Returns:
        A `prefect.automations.Automation` (not yet created: `.create()` does that against PREFECT_API_URL).

    Raises:
        ConfigError: The file is not a Prefect automation, or its window is under three heartbeats.

    Example:
        >>> automation = zombie_automation()
        >>> automation.trigger.posture.value, automation.trigger.within.total_seconds()
        ('Proactive', 120.0)
        >>> automation.actions[0].state.value
        'CRASHED'
    """
    from prefect.automations import Automation
    from pydantic import ValidationError

    try:
        automation = Automation.model_validate(_read_automation_file(path))
    except ValidationError as exc:
        raise ConfigError(f"{path} is not a Prefect automation: {exc}") from exc
    window_s = automation.trigger.within.total_seconds()
    if window_s < MIN_MISSED_BEATS * HEARTBEAT_FREQUENCY_S:
        raise ConfigError(
            f"{path}: `within` is {window_s:g} s, under {MIN_MISSED_BEATS} heartbeats of {HEARTBEAT_FREQUENCY_S} s: "
            "a slow run would be crashed; raise it"
        )
    return automation


def ensure_zombie_automation(api_url: str, echo: Echo) -> None:
    """Create the zombie automation on the server, or update it (by name) to what the file says."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import AutomationCore

    wanted = zombie_automation()
    # The server refuses `owner_resource` on an update; left unset, it is left out of both requests.
    core = AutomationCore(**wanted.model_dump(exclude={"id", "owner_resource"}))
    with SyncPrefectClient(api_url) as client:
        upsert_automation(client, core)  # duplicates would crash a run twice
    window_s = wanted.trigger.within.total_seconds()
    echo(f"Zombie detection on: heartbeat every {HEARTBEAT_FREQUENCY_S} s, Crashed after {window_s:g} s silent")


# ------------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------------


def upsert_automation(client: Any, wanted: Any) -> None:
    """Create the automation named like `wanted`, or update it in place; delete any duplicate of it."""
    existing = client.read_automations_by_name(wanted.name)
    for extra in existing[1:]:  # one is enough: two would act twice on every event
        client.delete_automation(extra.id)
    if existing:
        client.update_automation(existing[0].id, wanted)
    else:
        client.create_automation(wanted)


def local_api_url(port: int) -> str:
    """The API of the local server on `port` (its UI is the same URL without `/api`)."""
    return f"http://{HOST}:{port}/api"


def server_command(port: int) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]


def server_env(env: Mapping[str, str], database: Path) -> dict[str, str]:
    """The server's environment: `env` with its SQLite database, patient with the database lock."""
    out = dict(env)
    out.update(
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{database}",
        # A loaded two-core machine: SQLite waits for its lock rather than failing a request.
        PREFECT_SERVER_DATABASE_TIMEOUT=out.get("PREFECT_SERVER_DATABASE_TIMEOUT", "60"),
        PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT=out.get("PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT", "30"),
    )
    out.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
    return out


def healthy(api_url: str) -> bool:
    """Whether the Prefect API at `url` answers its health check."""
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(api_url: str, pid: int, timeout_s: float) -> bool:
    """Wait until the API answers; False at the timeout or as soon as the server process `pid` is gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy(api_url):
            return True
        if not alive(pid):
            return False
        time.sleep(0.5)
    return False


def port_taken(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------------
# Work pools and deployments
# ------------------------------------------------------------------------------------------------------


def ensure_pools(api_url: str, pools: Iterable[str], echo: Echo) -> None:
    """Create each work pool, or overwrite it with its type and base job template."""
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


def code_version(env: Mapping[str, str]) -> str:
    """The code version a flow run started by this stack's worker will report (same interpreter, env, dir)."""
    probe = [sys.executable, "-c", "from blastflow.version import code_version; print(code_version())"]
    done = subprocess.run(probe, cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise StackError(f"could not read the code version: {sanitise(done.stderr.strip()[-2000:])}")
    return done.stdout.strip().splitlines()[-1]


def deploy(names: list[str], version: str, env: Mapping[str, str], echo: Echo, timeout_s: float) -> None:
    """`prefect deploy` the named deployments of prefect.yaml, pinned to code `version` (fix J)."""
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


# ------------------------------------------------------------------------------------------------------
# The worker
# ------------------------------------------------------------------------------------------------------


def worker_command(name: str) -> list[str]:
    """A process worker named `name` polling the local pool."""
    return [sys.executable, "-m", "prefect", "worker", "start", "--pool", LOCAL_POOL, "--type", "process",
            "--name", name]


def wait_worker_online(api_url: str, name: str, since: datetime, pid: int, timeout_s: float) -> bool:
    """Wait until the worker `name` (process `pid`) has sent a heartbeat after `since`; False if it dies first."""
    from prefect.client.orchestration import SyncPrefectClient

    deadline = time.monotonic() + timeout_s
    with SyncPrefectClient(api_url) as client:
        while time.monotonic() < deadline:
            if not alive(pid):
                return False
            for worker in client.read_workers_for_work_pool(LOCAL_POOL):
                beat = worker.last_heartbeat_time
                if worker.name == name and beat is not None and beat >= since:
                    return True
            time.sleep(1.0)
    return False
