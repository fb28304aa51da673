"""The local stack's bookkeeping without a server: pid files, stopping process groups, refusing a taken port.

The full path (a real server, worker and flow runs) is tests/e2e/test_server_worker.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from blastflow.errors import ConfigError
from ops import stack
from ops.stack import StackFiles, StackStatus


@pytest.fixture
def files(tmp_path: Path) -> StackFiles:
    files = StackFiles.of(tmp_path / "data")
    files.prefect_home.mkdir(parents=True)
    return files


@pytest.fixture
def sleeper(files: StackFiles) -> Iterator[int]:
    """A process in a session of its own, started the way the stack starts its server and worker."""
    pid = stack._spawn([sys.executable, "-c", "import time; time.sleep(120)"], {}, files.root / "sleep.log")
    yield pid
    stack._stop(pid, grace_s=2)


def test_stop_ends_the_whole_process_group(files: StackFiles) -> None:
    # A parent and its child in one session, like `prefect worker` and what it starts.
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); " \
           "print(flush=True); time.sleep(120)"
    pid = stack._spawn([sys.executable, "-c", code], {}, files.root / "group.log")
    _wait_for(lambda: (files.root / "group.log").read_text() != "")
    children = _children(pid)
    assert children

    assert stack._stop(pid, grace_s=5) is True

    assert not stack._alive(pid)
    assert not [child for child in children if stack._alive(child)]


def test_stop_of_a_gone_process_says_so(sleeper: int) -> None:
    stack._stop(sleeper, grace_s=2)
    assert stack._stop(sleeper) is False


def test_a_pid_file_naming_someone_elses_process_is_not_trusted(files: StackFiles, sleeper: int) -> None:
    """A reused pid (here: a process that is not this stack's worker) is never reported nor stopped."""
    files.worker_pid.write_text(f"{sleeper}\n")
    files.server_pid.write_text(f"{sleeper}\n")

    assert stack.status(data_dir=files.root.parent).worker_pid is None
    assert stack.down(data_dir=files.root.parent, echo=lambda _: None) == []
    assert stack._alive(sleeper)


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


def test_the_stack_processes_are_found_by_their_prefect_home(files: StackFiles) -> None:
    env = stack._child_env(files, files.root.parent, {"PATH": "/usr/bin:/bin", "PREFECT_API_KEY": "pnu_secret"})
    assert "PREFECT_API_KEY" not in env  # a Cloud key of the user's shell never reaches the local stack
    pid = stack._spawn([sys.executable, "-c", "import time; time.sleep(120)"], env, files.root / "run.log")
    try:
        assert pid in stack._stack_processes(files)
        assert stack.status(data_dir=files.root.parent).other_pids == [pid]
        assert pid in stack.down(data_dir=files.root.parent, echo=lambda _: None)  # a flow run left behind
        assert not stack._alive(pid)
    finally:
        stack._stop(pid, grace_s=2)


def test_down_refuses_to_kill_a_running_search_unless_forced(files: StackFiles) -> None:
    env = stack._child_env(files, files.root.parent, {"PATH": "/usr/bin:/bin"})
    env |= {"PREFECT__FLOW_NAME": "blast-search", "PREFECT__FLOW_RUN_ID": "run-1"}  # what the worker gives a run
    pid = stack._spawn([sys.executable, "-c", "import time; time.sleep(120)"], env, files.root / "run.log")
    try:
        with pytest.raises(ConfigError, match=r"1 search\(es\) are running on this stack \(flow runs run-1\): "
                                              r"stopping the stack now would stop them.*`blastflow down --force`"):
            stack.down(data_dir=files.root.parent, echo=lambda _: None)
        assert stack._alive(pid)

        assert stack.down(force=True, data_dir=files.root.parent, echo=lambda _: None) == [pid]
        assert not stack._alive(pid)
    finally:
        stack._stop(pid, grace_s=2)


def test_the_status_lines_say_where_to_look() -> None:
    status = StackStatus(api_url="http://127.0.0.1:4200/api", server_pid=10, worker_pid=11, healthy=True,
                         code_version="0.1.0+abc", deployments=["blast-search", "reconcile"])
    assert status.ui_url == "http://127.0.0.1:4200"
    assert status.lines() == [
        "Prefect server: pid 10, answering at http://127.0.0.1:4200/api",
        "Prefect UI:     http://127.0.0.1:4200",
        "Worker:         pid 11 (pool blastflow-local)",
        "Deployed code:  0.1.0+abc",
        "Deployments:    blast-search, reconcile",
    ]


def test_each_stack_has_its_own_worker_name(tmp_path: Path) -> None:
    one, two = StackFiles.of(tmp_path / "a"), StackFiles.of(tmp_path / "b")
    assert one.worker_name != two.worker_name and one.worker_name.startswith("blastflow-local-")


def _children(pid: int) -> list[int]:
    _wait_for(lambda: Path(f"/proc/{pid}/task/{pid}/children").read_text().strip() != "")
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _wait_for(condition, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
