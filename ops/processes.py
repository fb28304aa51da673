"""The local stack's processes: start one detached, trust a pid file only for its own process, find the flow runs.

Whether a process runs and how it is stopped are `blastflow.process`'s answers; this module adds what only the
stack needs: sessions of their own, command lines, and the processes that carry the stack's PREFECT_HOME.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from blastflow.process import alive

__all__ = ["command_line", "live_searches", "read_pid", "spawn", "stack_processes"]


def spawn(command: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None) -> int:
    """Start `command` in a session of its own (so it outlives the CLI and stops as one group); its pid.

    Its output (stdout and stderr) is appended to `log`.
    """
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process.pid


def read_pid(path: Path, marker: str) -> int | None:
    """The pid in `path` if that process is alive and is ours (a Prefect command line holding `marker`)."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    command = command_line(pid)
    if not alive(pid) or command is None or "prefect" not in command or marker not in command:
        return None  # gone, or the pid now belongs to something else
    return pid


def command_line(pid: int) -> str | None:
    """The command line of process `pid`, arguments joined by spaces; None if there is none."""
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return None
    done = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def stack_processes(prefect_home: Path, exclude: Iterable[int | None] = ()) -> list[int]:
    """Live processes started from a stack (their environment holds its PREFECT_HOME); Linux only."""
    return sorted(_environments(prefect_home, exclude))


def live_searches(prefect_home: Path) -> dict[str, list[int]]:
    """Flow run id -> live processes of the stack's blast-search runs (the flow and its BLAST supervisor)."""
    searches: dict[str, list[int]] = {}
    for pid, environ in _environments(prefect_home).items():
        variables = dict(item.split("=", 1) for item in environ.split("\0") if "=" in item)
        if variables.get("PREFECT__FLOW_NAME") == "blast-search" and variables.get("PREFECT__FLOW_RUN_ID"):
            searches.setdefault(variables["PREFECT__FLOW_RUN_ID"], []).append(pid)
    return searches


def _environments(prefect_home: Path, exclude: Iterable[int | None] = ()) -> dict[int, str]:
    """Pid -> environment (NUL-separated) of every live process whose PREFECT_HOME is `prefect_home`."""
    needle = f"PREFECT_HOME={prefect_home}\0"
    skip = {os.getpid(), *(pid for pid in exclude if pid)}
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if needle in environ and alive(pid):
            found[pid] = environ
    return found
