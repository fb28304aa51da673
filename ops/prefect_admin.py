"""Prefect administration for the local stack: the server, work pools, deployments, the automations, the worker.

Everything here talks to Prefect (its API, its CLI, its models) and knows nothing of where the stack keeps its
files; `ops.stack` puts the pieces together. The automations are data in `deployments/automations/`, validated
with Prefect's own `Automation` model: the zombie one (its name and window are read from it), and the one that
runs reconcile when a search's run crashes, fails or is cancelled.
Prefect is imported inside the functions that need it: importing this module stays cheap.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from blastflow.errors import BlastflowError, ConfigError
from blastflow.process import alive
from blastflow.sanitise import sanitise
from ops.page_server import is_loopback

__all__ = [
    "DEFAULT_PORT",
    "HEARTBEAT_FREQUENCY_S",
    "HOST",
    "K8S_POOL",
    "LOCAL_POOL",
    "PREFECT_YAML",
    "RECONCILE_AUTOMATION",
    "RECONCILE_AUTOMATION_FILE",
    "RECONCILE_DEPLOYMENT",
    "ROOT",
    "WORK_POOLS",
    "ZOMBIE_AUTOMATION",
    "ZOMBIE_AUTOMATION_FILE",
    "ZOMBIE_WITHIN_S",
    "Api",
    "PrefectApi",
    "StackError",
    "base_job_template",
    "code_version",
    "deploy",
    "deployment_names",
    "ensure_pools",
    "ensure_reconcile_automation",
    "ensure_zombie_automation",
    "healthy",
    "load_prefect_yaml",
    "local_api_url",
    "needs_auth",
    "port_taken",
    "reconcile_automation",
    "require_server_auth",
    "server_auth_supported",
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
RECONCILE_AUTOMATION_FILE = ROOT / "deployments" / "automations" / "reconcile-failed-searches.yaml"
RECONCILE_DEPLOYMENT = "reconcile/reconcile"  # <flow name>/<deployment name> (flows/reconcile.py, prefect.yaml)

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


@dataclass(frozen=True)
class PrefectApi:
    """Where a stack's API answers, and the auth string its server asks for (None: a loopback server, no auth).

    The one place a client of the stack gets its credentials from: the Prefect client, `prefect` subprocesses
    and plain HTTP requests all take them from here. The string stays out of `repr`, hence out of any log
    line or exception that shows this object.
    """

    url: str
    auth_string: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, api: Api) -> PrefectApi:
        """A bare URL is an API without auth (what callers passed before auth existed)."""
        return api if isinstance(api, PrefectApi) else cls(api)

    def client(self) -> Any:
        """A `SyncPrefectClient`: it sends the string itself (it does not read PREFECT_API_AUTH_STRING)."""
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.url, auth_string=self.auth_string)

    def env(self) -> dict[str, str]:
        """Prefect's client settings for a `prefect` subprocess (deploy, worker, the worker's flow runs)."""
        auth = {"PREFECT_API_AUTH_STRING": self.auth_string} if self.auth_string else {}
        return {"PREFECT_API_URL": self.url, **auth}

    def headers(self) -> dict[str, str]:
        """The header Prefect's client sends (HTTP Basic over the whole string), for a plain HTTP request."""
        if not self.auth_string:
            return {}
        return {"Authorization": f"Basic {base64.b64encode(self.auth_string.encode()).decode()}"}

    def settings(self) -> dict[Any, str]:
        """The same settings as `env`, for `prefect.settings.temporary_settings` (what `Block.save` reads)."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

        auth = {PREFECT_API_AUTH_STRING: self.auth_string} if self.auth_string else {}
        return {PREFECT_API_URL: self.url, **auth}


Api = PrefectApi | str


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


def ensure_zombie_automation(api: Api, echo: Echo) -> None:
    """Create the zombie automation on the server, or update it (by name) to what the file says."""
    wanted = zombie_automation()
    with PrefectApi.of(api).client() as client:
        upsert_automation(client, _core(wanted))  # duplicates would crash a run twice
    window_s = wanted.trigger.within.total_seconds()
    echo(f"Zombie detection on: heartbeat every {HEARTBEAT_FREQUENCY_S} s, Crashed after {window_s:g} s silent")


def _core(automation: Any) -> Any:
    """What `create_automation`/`update_automation` send for `automation` (an `Automation` not yet created)."""
    from prefect.events.schemas.automations import AutomationCore

    # The server refuses `owner_resource` on an update; left unset, it is left out of both requests.
    return AutomationCore(**automation.model_dump(exclude={"id", "owner_resource"}))


# ------------------------------------------------------------------------------------------------------
# The automation that runs reconcile when a search's run ends badly (data in deployments/automations/)
# ------------------------------------------------------------------------------------------------------

RECONCILE_AUTOMATION: str = _read_automation_file(RECONCILE_AUTOMATION_FILE)["name"]


def reconcile_automation(deployment_id: Any, path: Path = RECONCILE_AUTOMATION_FILE) -> Any:
    """The automation that runs the reconcile deployment for a blast-search run entering Crashed, Failed or Cancelled.

    Reconcile then settles that run's job at once (`flow_run_id` parameter), rather than at its next scheduled
    run. The file leaves the deployment's id out (the server gives it when `prefect deploy` makes the
    deployment): every `run-deployment` action gets `deployment_id`.

    Returns:
        A `prefect.automations.Automation` (not yet created).

    Raises:
        ConfigError: The file is not a Prefect automation.

    Example:
        >>> automation = reconcile_automation("9f0e3b1c-8a52-4c1e-9a7d-2b8f5d6e4c3a")
        >>> automation.actions[0].type, str(automation.actions[0].deployment_id)[:8]
        ('run-deployment', '9f0e3b1c')
    """
    from prefect.automations import Automation
    from pydantic import ValidationError

    data = _read_automation_file(path)
    for action in data.get("actions") or []:
        if isinstance(action, dict) and action.get("type") == "run-deployment":
            action["deployment_id"] = str(deployment_id)
    try:
        return Automation.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path} is not a Prefect automation: {exc}") from exc


def ensure_reconcile_automation(api: Api, echo: Echo) -> None:
    """Create or update (by name) the automation that reconciles a search's job as its run ends badly.

    Call it after `deploy`: the automation names the reconcile deployment by the id the server gave it.
    """
    with PrefectApi.of(api).client() as client:
        deployment = client.read_deployment_by_name(RECONCILE_DEPLOYMENT)
        upsert_automation(client, _core(reconcile_automation(deployment.id)))  # duplicates would reconcile twice
    echo("Event-driven reconcile on: a blast-search run that crashes, fails or is cancelled gets its job settled")


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


def local_api_url(port: int, host: str = HOST) -> str:
    """The API of the server listening on `host`:`port`, as this machine reaches it (UI: the URL without `/api`).

    Example:
        >>> [local_api_url(4300), local_api_url(4300, "0.0.0.0"), local_api_url(4300, "10.0.0.5")]
        ['http://127.0.0.1:4300/api', 'http://127.0.0.1:4300/api', 'http://10.0.0.5:4300/api']
        >>> local_api_url(4300, "::")
        'http://[::1]:4300/api'
    """
    name = _reached_at(host)
    return f"http://{f'[{name}]' if ':' in name else name}:{port}/api"


def _reached_at(host: str) -> str:
    """The address this machine reaches a server on `host` at: loopback for a wildcard (every address)."""
    return {"0.0.0.0": HOST, "::": "::1", "": HOST}.get(host, host)


def server_command(port: int, host: str = HOST) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]


def needs_auth(host: str) -> bool:
    """Whether a server listening on `host` must ask for an auth string: anything but loopback is reachable."""
    return not is_loopback(host)


def server_auth_supported() -> bool:
    """Whether the installed Prefect has both auth settings: the server's (which turns its check on) and the
    client's (which the worker and `prefect deploy` send). Read from its settings models, not assumed."""
    try:
        from prefect.settings.models.api import APISettings
        from prefect.settings.models.server.api import ServerAPISettings
    except ImportError:  # another layout of the settings: no setting we know how to use
        return False
    return all("auth_string" in model.model_fields for model in (APISettings, ServerAPISettings))


def require_server_auth() -> None:
    """Refuse to expose a server that could not ask for credentials.

    Raises:
        ConfigError: The installed Prefect has no API auth setting.
    """
    if not server_auth_supported():
        raise ConfigError(
            "the installed Prefect has no API auth setting (PREFECT_SERVER_API_AUTH_STRING), so a server on a "
            "non-loopback --host would be open to anyone who reaches it: upgrade Prefect to a 3.x release that "
            "has it, or keep the default --host 127.0.0.1"
        )


def server_env(env: Mapping[str, str], database: Path, auth_string: str | None = None) -> dict[str, str]:
    """The server's environment: `env` with its SQLite database, patient with the database lock.

    With `auth_string` (an exposed server) the API asks for it, and the UI reaches the API at the address the
    browser used (`/api`): its default, http://127.0.0.1:<port>/api, is the browser's own machine.
    """
    out = dict(env)
    if auth_string:
        out["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
        out.setdefault("PREFECT_UI_API_URL", "/api")
    out.update(
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{database}",
        # A loaded two-core machine: SQLite waits for its lock rather than failing a request.
        PREFECT_SERVER_DATABASE_TIMEOUT=out.get("PREFECT_SERVER_DATABASE_TIMEOUT", "60"),
        PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT=out.get("PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT", "30"),
    )
    out.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
    return out


def healthy(api: Api) -> bool:
    """Whether the Prefect API answers its health check (Prefect leaves it open; the credentials go anyway)."""
    import httpx

    api = PrefectApi.of(api)
    try:
        return httpx.get(f"{api.url}/health", headers=api.headers(), timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(api: Api, pid: int, timeout_s: float) -> bool:
    """Wait until the API answers; False at the timeout or as soon as the server process `pid` is gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy(api):
            return True
        if not alive(pid):
            return False
        time.sleep(0.5)
    return False


def port_taken(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((_reached_at(host), port), timeout=0.5):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------------
# Work pools and deployments
# ------------------------------------------------------------------------------------------------------


def ensure_pools(api: Api, pools: Iterable[str], echo: Echo) -> None:
    """Create each work pool, or overwrite it with its type and base job template."""
    from prefect.client.schemas.actions import WorkPoolCreate

    with PrefectApi.of(api).client() as client:
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


def wait_worker_online(api: Api, name: str, since: datetime, pid: int, timeout_s: float) -> bool:
    """Wait until the worker `name` (process `pid`) has sent a heartbeat after `since`; False if it dies first."""
    deadline = time.monotonic() + timeout_s
    with PrefectApi.of(api).client() as client:
        while time.monotonic() < deadline:
            if not alive(pid):
                return False
            for worker in client.read_workers_for_work_pool(LOCAL_POOL):
                beat = worker.last_heartbeat_time
                if worker.name == name and beat is not None and beat >= since:
                    return True
            time.sleep(1.0)
    return False
