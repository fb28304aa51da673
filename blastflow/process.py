"""Processes by pid: is one alive (zombies and reused pids count as gone), signal or stop it, tail its log.

The one place these questions are answered, for the local backend (supervisor, BLAST pods), reconcile
(the flow process of a job) and the local Prefect stack (server, worker, flow runs). A pid alone can
name another process once its own has ended: callers that recorded the process's start time pass it,
and a process that started at another time is not theirs. Linux answers every question from /proc;
elsewhere a live pid cannot be told from a reused one, nor a zombie that is not our child.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

__all__ = ["STOP_GRACE_S", "alive", "send_signal", "start_time", "stop", "tail"]

STOP_GRACE_S = 15.0  # between SIGTERM and SIGKILL in `stop`
_KILL_WAIT_S = 5.0  # how long `stop` waits for a SIGKILLed process to go


def start_time(pid: int) -> int | None:
    """When the process `pid` started (clock ticks since boot), or None if it is not running.

    A zombie (exited, not yet reaped) is not running. 0 when the process exists but its start cannot be
    read (no /proc, or another user's process hidden from us): its identity cannot be checked then.

    Example:
        >>> start_time(os.getpid()) is not None
        True
    """
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return None if fields[0] in ("Z", "X") else int(fields[19])


def alive(pid: int | None, start: int | None = None) -> bool:
    """Whether the process `pid` runs: not gone, not a zombie, and (given `start`) not a reused pid.

    Args:
        pid: The process id; None reads as "no process".
        start: Its `start_time` when it was recorded; a process with this pid but another start time is
            someone else's. None (or 0) skips that check.

    Returns:
        True while the process runs. An exited child of this process is not alive even where there is
        no /proc; it is left for its owner to reap (its exit status stays with its `Popen`).

    Example:
        >>> alive(os.getpid()), alive(os.getpid(), start_time(os.getpid())), alive(None)
        (True, True, False)
    """
    if pid is None or _exited_child(pid):
        return False
    now = start_time(pid)
    return now is not None and (not start or not now or now == start)


def _exited_child(pid: int) -> bool:
    """An exited child of ours that nobody reaped yet (looked at without reaping it)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except (OSError, AttributeError):  # not our child (ChildProcessError); no waitid on this platform
        return False


def send_signal(pid: int, signum: int) -> bool:
    """Send `signum` to the process `pid` only (not its group); False when it is already gone.

    Example:
        >>> send_signal(os.getpid(), 0)
        True
    """
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def stop(pid: int, grace_s: float = STOP_GRACE_S) -> bool:
    """Stop a process and its group: SIGTERM, then SIGKILL if it still runs after `grace_s`. Waits for it.

    The whole process group is signalled when `pid` leads one (a process started in a session of its
    own, with what it started), otherwise `pid` alone.

    Returns:
        True if the process was alive (it is gone now), False if there was nothing to stop.
    """
    if not alive(pid):
        return False
    try:
        group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return False
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, _KILL_WAIT_S)):
        try:
            os.killpg(pid, signum) if group else os.kill(pid, signum)
        except ProcessLookupError:
            return True
        if _wait_gone(pid, wait_s):
            return True
    return True


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def tail(path: Path, count: int) -> list[str]:
    """The last `count` lines of a text file such as a process's log (decoded leniently); [] if unreadable.

    Reads from the end, so a long log costs what its tail costs.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".log") as log:
        ...     _ = log.write("one\\ntwo\\nthree\\n"); log.flush()
        ...     tail(Path(log.name), 2)
        ['two', 'three']
        >>> tail(Path("/no/such.log"), 2)
        []
    """
    if count <= 0:
        return []
    try:
        with path.open("rb") as handle:
            position = handle.seek(0, os.SEEK_END)
            data = b""
            while position > 0 and data.count(b"\n") <= count:
                step = min(65536, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-count:]
