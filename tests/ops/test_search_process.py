"""The search process of `blastflow run`: which Prefect server it gets, and how it is ended.

Its run itself (a real search, on a terminal and without one) is in tests/ops/test_cli_run.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.search_process import end, flow_run_link, stack_api, stop_temporary_server, temporary_server_argv
from ops.stack_files import StackFiles
from tests.doubles.faultkit import live_pids


@pytest.fixture
def fake_stack_server(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line reads as the stack's server (`prefect … server start`), to own its pid file."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "prefect", "server", "start"])
    yield process
    process.kill()
    process.wait()


def write_stack(data_dir: Path, api_url: str, server_pid: int, auth: str | None = None) -> StackFiles:
    files = StackFiles.of(data_dir)
    files.root.mkdir(parents=True)
    files.write_state(api_url=api_url, host="127.0.0.1", port=4200)
    files.server_pid.write_text(f"{server_pid}\n")
    if auth:
        files.api_auth.write_text(auth + "\n")
    return files


def test_a_running_stack_is_used_with_its_auth_string_unless_prefect_api_url_names_a_server(
    tmp_path: Path, prefect_api: str, fake_stack_server: subprocess.Popen[bytes]
) -> None:
    """The stack's "server" answers health checks: the session's Prefect API stands in for it."""
    write_stack(tmp_path, prefect_api, fake_stack_server.pid, auth="blastflow:s3cret")

    api = stack_api({}, tmp_path)

    assert api is not None and api.url == prefect_api
    assert api.env() == {"PREFECT_API_URL": prefect_api, "PREFECT_API_AUTH_STRING": "blastflow:s3cret"}
    assert "s3cret" not in repr(api)
    assert stack_api({"PREFECT_API_URL": "http://elsewhere:4200/api"}, tmp_path) is None


def test_no_stack_or_one_that_does_not_answer_leaves_prefect_to_start_its_own(
    tmp_path: Path, fake_stack_server: subprocess.Popen[bytes]
) -> None:
    assert stack_api({}, tmp_path / "never-up") is None
    write_stack(tmp_path, "http://127.0.0.1:9/api", fake_stack_server.pid)  # the discard port: nothing answers
    assert stack_api({}, tmp_path) is None


def test_the_flow_run_link_is_the_ui_page_of_the_run() -> None:
    assert flow_run_link("http://127.0.0.1:4200/api/", "f00") == "http://127.0.0.1:4200/runs/flow-run/f00"


def test_end_stops_the_search_process_and_everything_in_its_group(tmp_path: Path) -> None:
    """A process that ignores SIGTERM and has a child: both go (SIGKILL after the grace period)."""
    pids = tmp_path / "pids.json"
    code = ("import json, signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
            f"open({str(pids)!r}, 'w').write(json.dumps([child.pid])); time.sleep(120)")  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pids.exists() or not pids.read_text():
        assert time.monotonic() < deadline and process.poll() is None, "the test process did not start its child"
        time.sleep(0.05)
    child = json.loads(pids.read_text())[0]

    end(process, grace_s=0.5)

    assert process.returncode is not None
    deadline = time.monotonic() + 10  # the group's SIGKILL reaches the child a moment after its parent is reaped
    while live_pids([child]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_pids([child]) == [], "the child in the search process's group was ended too"


def test_the_temporary_server_is_started_as_prefect_starts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The argv and environment are those of Prefect's own `SubprocessASGIServer._run_uvicorn_command`."""
    from prefect.server.api import server as prefect_server

    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(prefect_server.subprocess, "Popen", lambda args, env, **_: started.append((args, env)))
    prefect_server.SubprocessASGIServer(port=8123)._run_uvicorn_command()
    prefect_argv, prefect_env = started[0]

    argv, extra = temporary_server_argv(8123)

    assert argv == prefect_argv
    assert {key: prefect_env[key] for key in extra} == extra


def test_the_temporary_server_is_stopped_by_pid_only_while_that_pid_is_a_server() -> None:
    """A pid that is not (or no longer) a Prefect server is never signalled."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    other = subprocess.Popen(sleeper)
    server_like = subprocess.Popen([*sleeper, "--factory", "prefect.server.api.server:create_app"])
    try:
        stop_temporary_server(other.pid)
        stop_temporary_server(server_like.pid)

        assert server_like.wait(timeout=30) == -signal.SIGTERM
        assert other.poll() is None
    finally:
        for process in (other, server_like):
            process.kill()
            process.wait()
