"""The stack's Prefect server stays on loopback; exposed with `--host`, it asks for Prefect's own API auth string.

The rules without a server first, then one real stack on 0.0.0.0 (server, `prefect deploy`, worker) that refuses
a request without the string and lets its own worker and clients in with it.
"""

from __future__ import annotations

import socket
import stat
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from blastflow.errors import ConfigError
from ops import prefect_admin, stack
from ops.prefect_admin import LOCAL_POOL
from ops.stack_files import StackFiles, StackStatus
from tests.e2e.local_stack import STACK_TIMEOUT_S, free_port

# ------------------------------------------------------------------------------------------------------
# Without a server
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "exposed"), [("127.0.0.1", False), ("127.0.0.2", False), ("::1", False),
                                               ("localhost", False), ("0.0.0.0", True), ("::", True),
                                               ("10.1.2.3", True), ("blast.example.org", True)])
def test_only_a_loopback_host_leaves_the_api_without_auth(tmp_path: Path, host: str, exposed: bool) -> None:
    files = StackFiles.of(tmp_path)
    auth = stack._server_auth(files, host)
    assert (auth is not None) == exposed == files.api_auth.exists()
    env = prefect_admin.server_env({}, files.database, auth)
    assert ("PREFECT_SERVER_API_AUTH_STRING" in env) == exposed
    if auth:
        assert env["PREFECT_SERVER_API_AUTH_STRING"] == auth == files.auth_string()
        assert env["PREFECT_UI_API_URL"] == "/api"  # a browser elsewhere reaches the API where it found the UI


def test_the_default_server_listens_on_loopback_only() -> None:
    command = prefect_admin.server_command(4300)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert prefect_admin.local_api_url(4300, "0.0.0.0") == "http://127.0.0.1:4300/api"  # this machine's clients


def test_the_installed_prefect_has_both_auth_settings() -> None:
    assert prefect_admin.server_auth_supported()


def test_a_prefect_without_a_server_auth_setting_is_found_out(monkeypatch: pytest.MonkeyPatch) -> None:
    class ServerAPISettings(BaseModel):  # an older Prefect's: host and port, no auth_string
        host: str = "127.0.0.1"
        port: int = 4200

    module = type(sys)("prefect.settings.models.server.api")
    module.ServerAPISettings = ServerAPISettings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "prefect.settings.models.server.api", module)
    assert not prefect_admin.server_auth_supported()


def test_up_refuses_an_exposed_host_when_prefect_has_no_api_auth(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefect_admin, "server_auth_supported", lambda: False)
    files = StackFiles.of(tmp_path / "data")
    with pytest.raises(ConfigError, match=r"the installed Prefect has no API auth setting .* keep the default "
                                          r"--host 127.0.0.1"):
        stack.up(host="0.0.0.0", port=free_port(), data_dir=files.root.parent, echo=lambda _: None, timeout_s=5)
    assert not files.server_pid.exists() and not files.api_auth.exists()  # nothing started, nothing made


def test_stack_up_host_reaches_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`blastflow stack up --host` is checked by `up`; the port is taken, so a dropped --host fails fast."""
    from typer.testing import CliRunner

    from blastflow.settings import get_settings
    from ops.cli import app

    monkeypatch.setenv("BLASTFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(prefect_admin, "server_auth_supported", lambda: False)
    get_settings.cache_clear()
    try:
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen()
            port = str(other.getsockname()[1])
            result = CliRunner().invoke(app, ["stack", "up", "--host", "0.0.0.0", "--port", port])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "the installed Prefect has no API auth setting" in result.output, result.output


def test_a_shell_auth_string_never_reaches_the_stacks_processes(tmp_path: Path) -> None:
    files = StackFiles.of(tmp_path)
    base = {"PATH": "/usr/bin", "PREFECT_API_AUTH_STRING": "u:other", "PREFECT_SERVER_API_AUTH_STRING": "u:x"}
    env = stack._child_env(files, tmp_path, base)
    assert "PREFECT_API_AUTH_STRING" not in env and "PREFECT_SERVER_API_AUTH_STRING" not in env


# ------------------------------------------------------------------------------------------------------
# One real stack on 0.0.0.0
# ------------------------------------------------------------------------------------------------------


@dataclass
class Exposed:
    files: StackFiles
    status: StackStatus
    log: list[str] = field(default_factory=list)

    @property
    def secret(self) -> str:
        value = self.files.auth_string()
        assert value is not None
        return value


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exposed]:
    """`blastflow up --host 0.0.0.0` on a free port, in a data dir of its own."""
    root = tmp_path_factory.mktemp("exposed")
    env = {"BLASTFLOW_STORE_URL": f"sqlite:///{root / 'state.db'}",
           "BLASTFLOW_CODE_VERSION": f"0.1.0+auth.{uuid.uuid4().hex[:8]}", "PREFECT_WORKER_QUERY_SECONDS": "2"}
    files = StackFiles.of(root / "data")
    log: list[str] = []
    try:
        status = stack.up(host="0.0.0.0", port=free_port(), data_dir=root / "data", env=env, echo=log.append,
                          timeout_s=STACK_TIMEOUT_S)
        yield Exposed(files, status, log)
    finally:
        stack.down(force=True, data_dir=root / "data", echo=log.append)


@pytest.mark.e2e
def test_the_exposed_api_refuses_a_request_without_the_auth_string(exposed: Exposed) -> None:
    url = f"{exposed.status.api_url}/work_pools/{LOCAL_POOL}/workers/filter"
    assert httpx.post(url, json={}, timeout=30).status_code == 401
    wrong = {"Authorization": "Basic Ymxhc3RmbG93Ondyb25n"}  # blastflow:wrong
    assert httpx.post(url, json={}, headers=wrong, timeout=30).status_code == 401

    api = exposed.files.api(exposed.status.api_url or "")
    workers = httpx.post(url, json={}, headers=api.headers(), timeout=30)
    assert workers.status_code == 200
    # The worker registered and beats: it sent the string too (the server would have refused it otherwise).
    assert [w["name"] for w in workers.json() if w["last_heartbeat_time"]] == [exposed.files.worker_name]


@pytest.mark.e2e
def test_the_stacks_own_clients_deploy_and_read_with_the_auth_string(exposed: Exposed) -> None:
    status = stack.status(data_dir=exposed.files.root.parent)
    assert status.healthy and status.worker_pid and status.host == "0.0.0.0"
    with exposed.files.api(status.api_url or "").client() as client:  # what ops.rerun and ops.notify use
        assert {d.name for d in client.read_deployments()} == set(status.deployments) != set()
    ui = httpx.get(f"{status.ui_url}/ui-settings", timeout=30).json()
    assert (ui["auth"], ui["api_url"]) == ("BASIC", "/api")  # the Prefect UI asks for the string


@pytest.mark.e2e
def test_the_auth_string_is_only_in_its_file(exposed: Exposed) -> None:
    status = stack.status(data_dir=exposed.files.root.parent)
    assert f"API auth:       on (string in {exposed.files.api_auth})" in status.lines()
    assert stat.S_IMODE(exposed.files.api_auth.stat().st_mode) == 0o600
    shown = [*exposed.log, *status.lines(), *status.remote_lines(), repr(status), exposed.files.state.read_text()]
    assert not [text for text in shown if exposed.secret in text]
    logs = [exposed.files.server_log, exposed.files.worker_log]
    assert not [log.name for log in logs if exposed.secret in log.read_text(errors="replace")]


@pytest.mark.e2e
def test_down_stops_the_exposed_server(exposed: Exposed) -> None:
    server = exposed.status.server_pid
    assert server in stack.down(force=True, data_dir=exposed.files.root.parent, echo=exposed.log.append)
    assert stack.status(data_dir=exposed.files.root.parent).server_pid is None
