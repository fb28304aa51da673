"""The stack's processes: own sessions, pid files trusted only for their own process, found by PREFECT_HOME."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from blastflow.process import stop
from ops.processes import command_line, live_searches, read_pid, spawn, stack_processes

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids to stop after the test."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        stop(pid, grace_s=2)


def test_spawn_starts_a_session_of_its_own_and_logs_its_output(tmp_path: Path, started: list[int]) -> None:
    log = tmp_path / "out.log"
    command = [sys.executable, "-c", "print('hello', flush=True); import time; time.sleep(120)"]
    pid = spawn(command, {}, log)
    started.append(pid)
    assert os.getsid(pid) == pid != os.getsid(0)  # a Ctrl-C of the CLI does not reach it; it stops as one group
    _wait_for(lambda: log.read_text() == "hello\n")
    assert command_line(pid) == " ".join(command)


def test_a_pid_file_is_trusted_only_for_a_prefect_process_with_its_marker(tmp_path: Path, started: list[int]) -> None:
    pid = spawn([sys.executable, "-c", "import time; time.sleep(120)", "prefect", "server start"], {}, tmp_path / "log")
    started.append(pid)
    _wait_for(lambda: bool(command_line(pid)))  # the kernel fills it in just after the exec
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(f"{pid}\n")
    assert read_pid(pid_file, "server start") == pid
    assert read_pid(pid_file, "worker-abc") is None  # someone else's process under that pid
    assert read_pid(tmp_path / "missing.pid", "server start") is None
    pid_file.write_text("not a pid\n")
    assert read_pid(pid_file, "server start") is None


def test_the_stack_processes_and_its_searches_are_found_by_their_prefect_home(
    tmp_path: Path, started: list[int]
) -> None:
    home, other = tmp_path / "stack" / "prefect", tmp_path / "other" / "prefect"
    flow = spawn(SLEEP, {"PREFECT_HOME": str(home)}, tmp_path / "flow.log")
    search = spawn(SLEEP, {"PREFECT_HOME": str(home), "PREFECT__FLOW_NAME": "blast-search",
                           "PREFECT__FLOW_RUN_ID": "run-1"}, tmp_path / "search.log")
    elsewhere = spawn(SLEEP, {"PREFECT_HOME": str(other)}, tmp_path / "elsewhere.log")
    started.extend([flow, search, elsewhere])
    for pid in started:
        _wait_for(lambda pid=pid: bool(command_line(pid)))  # its /proc entries are filled in just after the exec

    assert stack_processes(home) == sorted([flow, search])
    assert stack_processes(home, exclude={flow, None}) == [search]
    assert live_searches(home) == {"run-1": [search]}
    assert stack_processes(other) == [elsewhere] and live_searches(other) == {}


def _wait_for(condition, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
