"""Where `blastflow ui` listens and when it refuses: the pure rules, then the command through typer's CliRunner."""

from __future__ import annotations

import doctest
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ops.page_server
from blastflow.errors import ConfigError
from ops.cli import app
from ops.page_server import DEFAULT_HOST, plan_from_files, streamlit_argv

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"
COOKIE = "cookie-c00k1e-never-shown"
CLIENT_SECRET = "client-s3cr3t-never-shown"
COMPLETE = f"""
[auth]
redirect_uri = "http://blast.example.org:8501/oauth2callback"
cookie_secret = "{COOKIE}"

[auth.microsoft]
client_id = "00000000-0000-0000-0000-000000000001"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "https://login.microsoftonline.com/tenant/v2.0/.well-known/openid-configuration"
"""


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """An empty project directory (the cwd) and home directory: no secrets.toml Streamlit would read."""
    cwd, home = tmp_path / "project", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    assert not (APP.parent / ".streamlit" / "secrets.toml").exists(), "a script-level secrets.toml would leak in"
    yield cwd, home


def _secrets(directory: Path, text: str) -> Path:
    path = directory / ".streamlit" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _plan(dirs: tuple[Path, Path], host: str, no_auth: bool = False) -> ops.page_server.PageServer:
    cwd, home = dirs
    return plan_from_files(host, 8501, no_auth=no_auth, app=APP, cwd=cwd, home=home)


def test_default_is_loopback_without_a_login(dirs: tuple[Path, Path]) -> None:
    argv = streamlit_argv(_plan(dirs, DEFAULT_HOST), APP)
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.port") + 1] == "8501"
    assert argv[argv.index("--") :] == ["--", "--auth", "none"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1"])
def test_loopback_hosts_need_no_login(dirs: tuple[Path, Path], host: str) -> None:
    server = _plan(dirs, host)
    assert (server.auth, server.exposed, ops.page_server.exposure_warning(server)) == ("none", False, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "blast.example.org"])
def test_exposure_without_a_login_is_refused_naming_the_fix(dirs: tuple[Path, Path], host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _plan(dirs, host)
    message = str(caught.value)
    assert f"on {host} without a login" in message
    assert "missing: [auth]" in message and "--no-auth" in message
    assert str(dirs[0] / ".streamlit" / "secrets.toml") in message  # says which files it looked at
    assert str(dirs[1] / ".streamlit" / "secrets.toml") in message


def test_a_complete_login_config_is_accepted_and_the_app_is_told_to_require_it(dirs: tuple[Path, Path]) -> None:
    _secrets(dirs[0], COMPLETE)
    server = _plan(dirs, "0.0.0.0")
    assert (server.auth, ops.page_server.exposure_warning(server)) == ("oidc", None)
    assert streamlit_argv(server, APP)[-3:] == ["--", "--auth", "oidc"]


def test_the_project_auth_table_replaces_the_home_one(dirs: tuple[Path, Path]) -> None:
    _secrets(dirs[1], COMPLETE)
    assert _plan(dirs, "0.0.0.0").auth == "oidc"  # the user's ~/.streamlit counts too
    _secrets(dirs[0], '[auth]\nredirect_uri = "http://h:8501/oauth2callback"\n')
    with pytest.raises(ConfigError, match=r"missing: auth\.cookie_secret, auth\.client_id"):
        _plan(dirs, "0.0.0.0")  # Streamlit replaces [auth] as a whole: nothing of the home table is left


def test_an_incomplete_config_names_what_is_missing_and_no_secret(dirs: tuple[Path, Path]) -> None:
    _secrets(dirs[0], COMPLETE.replace("server_metadata_url", "# server_metadata_url").replace(
        "redirect_uri", "# redirect_uri"))
    with pytest.raises(ConfigError) as caught:
        _plan(dirs, "0.0.0.0")
    message = str(caught.value)
    assert "missing: auth.redirect_uri, auth.microsoft.server_metadata_url;" in message
    assert COOKIE not in message and CLIENT_SECRET not in message


def test_a_broken_secrets_file_is_named_without_its_text(dirs: tuple[Path, Path]) -> None:
    path = _secrets(dirs[0], f'[auth]\ncookie_secret = "{COOKIE}\n')
    with pytest.raises(ConfigError) as caught:
        _plan(dirs, "0.0.0.0")
    assert str(path) in str(caught.value) and "not valid TOML" in str(caught.value)
    assert COOKIE not in str(caught.value)


def test_no_auth_serves_anyone_and_warns(dirs: tuple[Path, Path]) -> None:
    server = _plan(dirs, "0.0.0.0", no_auth=True)
    assert streamlit_argv(server, APP)[-3:] == ["--", "--auth", "none"]
    assert "anyone who can reach http://0.0.0.0:8501 sees every job" in str(ops.page_server.exposure_warning(server))


def test_the_examples_in_the_docstrings_hold() -> None:
    result = doctest.testmod(ops.page_server)
    assert result.attempted >= 5 and result.failed == 0


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv `blastflow ui` would start Streamlit with (nothing is started)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda argv, **_: calls.append(list(argv)) or 0)
    return calls


def test_cli_binds_to_localhost_by_default(dirs: tuple[Path, Path], started: list[list[str]]) -> None:
    result = CliRunner().invoke(app, ["ui"])
    assert result.exit_code == 0, result.output
    argv = started[0]
    assert argv[1:5] == ["-m", "streamlit", "run", str(APP)]
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1" and argv[-1] == "none"
    assert result.stderr == ""


def test_cli_refuses_exposure_without_a_login(dirs: tuple[Path, Path], started: list[list[str]]) -> None:
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--port", "8600"])
    assert result.exit_code == 2 and not started
    assert "error: refusing to serve the monitoring page on 0.0.0.0 without a login" in result.stderr
    assert "pass --no-auth" in result.stderr


def test_cli_no_auth_warns_and_starts(dirs: tuple[Path, Path], started: list[list[str]]) -> None:
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--port", "8600", "--no-auth"])
    assert result.exit_code == 0, result.output
    assert "warning: --no-auth: anyone who can reach http://0.0.0.0:8600 sees every job, its logs and results" in (
        result.stderr
    )
    assert started[0][started[0].index("--server.address") + 1] == "0.0.0.0" and started[0][-1] == "none"


def test_cli_with_a_login_config_starts_with_the_login_required(
    dirs: tuple[Path, Path], started: list[list[str]]
) -> None:
    _secrets(dirs[0], COMPLETE)
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0"])
    assert result.exit_code == 0 and result.stderr == ""
    assert started[0][-3:] == ["--", "--auth", "oidc"]
