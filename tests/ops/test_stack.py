"""The local stack's bookkeeping without a server: pid files, stopping what it started, refusing a taken port.

The full path (a real server, worker and flow runs) is tests/e2e/test_server_worker.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blastflow.errors import ConfigError
from blastflow.process import alive, stop
from ops import stack
from ops.processes import command_line, spawn
from ops.stack_files import StackFiles, StackStatus

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def files(tmp_path: Path) -> StackFiles:
    files = StackFiles.of(tmp_path / "data")
    files.prefect_home.mkdir(parents=True)
    return files


@pytest.fixture
def sleeper(files: StackFiles) -> Iterator[int]:
    """A process in a session of its own, started the way the stack starts its server and worker."""
    pid = _spawn_running(SLEEP, {}, files.root / "sleep.log")
    yield pid
    stop(pid, grace_s=2)


def test_a_pid_file_naming_someone_elses_process_is_not_trusted(files: StackFiles, sleeper: int) -> None:
    """A reused pid (here: a process that is not this stack's worker) is never reported nor stopped."""
    files.worker_pid.write_text(f"{sleeper}\n")
    files.server_pid.write_text(f"{sleeper}\n")

    assert stack.status(data_dir=files.root.parent).worker_pid is None
    assert stack.down(data_dir=files.root.parent, echo=lambda _: None) == []
    assert alive(sleeper)


def test_a_pid_file_of_a_dead_process_reads_as_not_running(files: StackFiles) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    files.worker_pid.write_text(done.stdout)

    assert stack.status(data_dir=files.root.parent) == StackStatus()


def test_down_with_nothing_running_says_so(files: StackFiles) -> None:
    lines: list[str] = []
    assert stack.down(data_dir=files.root.parent, echo=lines.append) == []
    assert lines == ["Nothing of the local Prefect stack was running."]
    assert stack.status(data_dir=files.root.parent).lines() == [
        "The local Prefect stack is not running: start it with `blastflow up`."
    ]


def test_up_refuses_a_port_another_program_listens_on(files: StackFiles) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} is already in use by another program: choose another"):
            stack.up(port=port, data_dir=files.root.parent, echo=lambda _: None, timeout_s=5)
    assert not files.server_pid.exists()  # nothing was started


def test_the_processes_the_stack_starts_carry_its_prefect_home_and_no_cloud_key(files: StackFiles) -> None:
    env = stack._child_env(files, files.root.parent, {"PATH": "/usr/bin:/bin", "PREFECT_API_KEY": "pnu_secret"})
    assert "PREFECT_API_KEY" not in env  # a Cloud key of the user's shell never reaches the local stack
    assert env["PREFECT_HOME"] == str(files.prefect_home)
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"


def test_down_stops_a_flow_run_the_worker_left_behind(files: StackFiles) -> None:
    env = stack._child_env(files, files.root.parent, {"PATH": "/usr/bin:/bin"})
    pid = _spawn_running(SLEEP, env, files.root / "run.log")
    try:
        assert stack.status(data_dir=files.root.parent).other_pids == [pid]
        assert pid in stack.down(data_dir=files.root.parent, echo=lambda _: None)
        assert not alive(pid)
    finally:
        stop(pid, grace_s=2)


def test_down_refuses_to_kill_a_running_search_unless_forced(files: StackFiles) -> None:
    env = stack._child_env(files, files.root.parent, {"PATH": "/usr/bin:/bin"})
    env |= {"PREFECT__FLOW_NAME": "blast-search", "PREFECT__FLOW_RUN_ID": "run-1"}  # what the worker gives a run
    pid = _spawn_running(SLEEP, env, files.root / "run.log")
    try:
        with pytest.raises(ConfigError, match=r"1 search\(es\) are running on this stack \(flow runs run-1\): "
                                              r"stopping the stack now would stop them.*`blastflow down --force`"):
            stack.down(data_dir=files.root.parent, echo=lambda _: None)
        assert alive(pid)

        assert stack.down(force=True, data_dir=files.root.parent, echo=lambda _: None) == [pid]
        assert not alive(pid)
    finally:
        stop(pid, grace_s=2)


def test_up_never_reuses_this_stacks_server_on_another_host(files: StackFiles) -> None:
    """A loopback server must not be taken for an exposed one (it has no auth), nor the other way round."""
    pid = _spawn_running([*SLEEP, "--host", "127.0.0.1", "--port", "4301"], {}, files.root / "server.log")
    try:
        stack._check_same_address(pid, stack._Address("127.0.0.1", 4301))  # the same: reused
        with pytest.raises(ConfigError, match=r"runs on another host or port than 0.0.0.0:4301: run `blastflow "
                                              r"down` first, or `blastflow up` with the --host and --port it uses"):
            stack._check_same_address(pid, stack._Address("0.0.0.0", 4301))
        with pytest.raises(ConfigError, match=r"another host or port than 127\.0\.0\.1:430\b"):
            stack._check_same_address(pid, stack._Address("127.0.0.1", 430))  # a prefix of 4301 is not 4301
    finally:
        stop(pid, grace_s=2)


def test_a_log_tail_in_an_error_says_when_there_is_no_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert stack._log_tail(log) == "(no log)"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert stack._log_tail(log).splitlines() == [f"line {i}" for i in range(70, 100)]


def _spawn_running(command: list[str], env: dict[str, str], log: Path) -> int:
    """`spawn`, then wait until the kernel has filled in its /proc entries (just after the exec)."""
    pid = spawn(command, env, log)
    deadline = time.monotonic() + 30
    while not command_line(pid):
        assert time.monotonic() < deadline, f"process {pid} never started"
        time.sleep(0.05)
    return pid
