"""Processes by pid: alive (zombies and reused pids are not), signalled, stopped with their group; log tails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blastflow.process import alive, send_signal, start_time, stop, tail

LINUX = sys.platform.startswith("linux")
SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session of its own, as the local stack starts its server and worker."""
    process = subprocess.Popen(SLEEP, start_new_session=True)
    yield process
    stop(process.pid, grace_s=2)
    process.wait()


# ------------------------------------------------------------------------------------------------------
# alive / start_time
# ------------------------------------------------------------------------------------------------------


def test_own_process_is_alive_and_a_reused_pid_is_not() -> None:
    start = start_time(os.getpid())
    assert start is not None
    assert alive(os.getpid(), start)
    assert alive(os.getpid(), None)
    if LINUX:
        assert not alive(os.getpid(), start + 1), "same pid, other start time: another process"
    assert not alive(None, None)


def test_finished_and_zombie_processes_are_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = start_time(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    if LINUX:
        assert not alive(child.pid, start)
        assert start_time(child.pid) is None
    child.wait()
    assert not alive(child.pid, start)
    assert start_time(child.pid) is None


def test_an_exited_child_is_dead_and_its_exit_status_stays_with_its_owner() -> None:
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    _wait_for(lambda: not alive(child.pid))
    assert child.wait(timeout=10) == 3  # `alive` looked without reaping it


def test_no_pid_is_never_alive() -> None:
    assert [alive(pid) for pid in (None, 0, -1)] == [False, False, False]


# ------------------------------------------------------------------------------------------------------
# send_signal / stop
# ------------------------------------------------------------------------------------------------------


def test_send_signal_reaches_the_process_or_says_it_is_gone(sleeper: subprocess.Popen[bytes]) -> None:
    assert send_signal(sleeper.pid, signal.SIGTERM) is True
    assert sleeper.wait(timeout=10) == -signal.SIGTERM
    assert send_signal(sleeper.pid, signal.SIGTERM) is False


def test_stop_ends_the_whole_process_group() -> None:
    # A parent and its child in one session, like `prefect worker` and what it starts.
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); " \
           "print(flush=True); time.sleep(120)"
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert parent.stdout is not None
        parent.stdout.readline()  # the child has started
        children = _children(parent.pid)
        assert children

        assert stop(parent.pid, grace_s=5) is True

        assert not alive(parent.pid)
        assert not [child for child in children if alive(child)]
    finally:
        stop(parent.pid, grace_s=1)
        parent.wait()


def test_stop_kills_what_ignores_sigterm_after_the_grace_period() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(120)"
    stubborn = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert stubborn.stdout is not None
    stubborn.stdout.readline()  # SIGTERM is ignored from here on

    assert stop(stubborn.pid, grace_s=0.5) is True

    assert stubborn.wait(timeout=10) == -signal.SIGKILL


def test_stop_of_a_gone_process_says_so(sleeper: subprocess.Popen[bytes]) -> None:
    stop(sleeper.pid, grace_s=2)
    assert stop(sleeper.pid) is False


# ------------------------------------------------------------------------------------------------------
# tail
# ------------------------------------------------------------------------------------------------------


def test_tail_of_a_long_log(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert tail(path, 3) == ["line 99997", "line 99998", "line 99999"]
    assert tail(path, 0) == []
    assert len(tail(path, 20_000)) == 20_000


def test_tail_of_unreadable_or_odd_files(tmp_path: Path) -> None:
    assert tail(tmp_path / "missing.txt", 5) == []
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"first\nbad \xff byte\nlast line without newline")
    assert tail(odd, 2) == ["bad \ufffd byte", "last line without newline"]


def _children(pid: int) -> list[int]:
    _wait_for(lambda: Path(f"/proc/{pid}/task/{pid}/children").read_text().strip() != "")
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
