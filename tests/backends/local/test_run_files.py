"""Files of a local run: atomic state writes, tails of logs, and telling a live process from a dead or reused pid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from blastflow.backends.local.run_files import (
    PodPhase,
    PodState,
    RunFiles,
    file_mode,
    process_alive,
    process_start,
    read_state,
    tail_lines,
    write_state,
)


def test_state_round_trip_and_no_temporary_files(tmp_path: Path) -> None:
    path = RunFiles(tmp_path).pod_state("batch_007")
    assert path == tmp_path / "pods" / "batch_007" / "state.json"
    assert read_state(path, PodState) is None
    state = PodState(batch="batch_007", phase=PodPhase.RUNNING, attempts=2, pid=123)
    write_state(path, state)
    write_state(path, state.model_copy(update={"phase": PodPhase.SUCCEEDED}))
    assert read_state(path, PodState) == state.model_copy(update={"phase": PodPhase.SUCCEEDED})
    assert os.listdir(path.parent) == ["state.json"]
    assert path.stat().st_mode & 0o777 == file_mode()  # readable like any file the user writes, not mkstemp's 0600


def test_tail_of_a_long_log(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert tail_lines(path, 3) == ["line 99997", "line 99998", "line 99999"]
    assert tail_lines(path, 0) == []
    assert len(tail_lines(path, 20_000)) == 20_000


def test_tail_of_unreadable_or_odd_files(tmp_path: Path) -> None:
    assert tail_lines(tmp_path / "missing.txt", 5) == []
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"first\nbad \xff byte\nlast line without newline")
    assert tail_lines(odd, 2) == ["bad \ufffd byte", "last line without newline"]


def test_own_process_is_alive_and_a_reused_pid_is_not() -> None:
    start = process_start(os.getpid())
    assert start is not None
    assert process_alive(os.getpid(), start)
    assert process_alive(os.getpid(), None)
    if sys.platform.startswith("linux"):
        assert not process_alive(os.getpid(), start + 1), "same pid, other start time: another process"
    assert not process_alive(None, None)


def test_finished_and_zombie_processes_are_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = process_start(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    if sys.platform.startswith("linux"):
        assert not process_alive(child.pid, start)
    child.wait()
    assert not process_alive(child.pid, start)


@pytest.mark.parametrize("directory", [False, True])
def test_file_mode_follows_the_umask(directory: bool) -> None:
    old = os.umask(0o027)
    try:
        assert file_mode(directory) == (0o750 if directory else 0o640)
    finally:
        os.umask(old)
