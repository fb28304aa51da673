"""Fix J's worker replacement without a server: `blastflow up` stops this stack's earlier worker, then starts one.

The worker here is a sleeping process named like the stack's worker (what the pid checks look for), and "online"
means "still alive": the Prefect side of a real worker is in tests/e2e/test_server_worker.py.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from blastflow.process import alive, stop
from ops import prefect_admin, stack
from ops.processes import command_line, read_pid, spawn, stack_processes
from ops.stack_files import StackFiles


def _sleeping_worker(name: str) -> list[str]:
    """A process whose command line reads like this stack's worker: `prefect` and the worker's name."""
    return [sys.executable, "-c", "import time; time.sleep(120)", "prefect", "worker", "start", "--name", name]


def _started(pid: int) -> int:
    deadline = time.monotonic() + 30
    while not command_line(pid):  # the kernel fills /proc in just after the exec
        assert time.monotonic() < deadline, f"process {pid} never started"
        time.sleep(0.05)
    return pid


def test_up_replaces_the_earlier_worker_and_leaves_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = StackFiles.of(tmp_path / "data")
    files.prefect_home.mkdir(parents=True)
    monkeypatch.setattr(prefect_admin, "worker_command", _sleeping_worker)
    monkeypatch.setattr(prefect_admin, "wait_worker_online", lambda api, name, since, pid, timeout_s: alive(pid))
    env = stack._child_env(files, files.root.parent, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    earlier = _started(spawn(_sleeping_worker(files.worker_name), env, files.worker_log))
    files.worker_pid.write_text(f"{earlier}\n")
    pids = [earlier]
    try:
        said: list[str] = []
        pids.append(stack._restart_worker(files, None, env, said.append, 30.0))  # type: ignore[arg-type]
        new = _started(pids[-1])
        assert not alive(earlier), "the earlier (stale) worker still runs beside the new one"
        assert read_pid(files.worker_pid, files.worker_name) == new != earlier
        assert stack_processes(files.prefect_home) == [new]  # one worker of this stack, no duplicate
        assert said[0] == f"Stopped the earlier worker (pid {earlier})"
    finally:
        for pid in pids:
            stop(pid, grace_s=2)
