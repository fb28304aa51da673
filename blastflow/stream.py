"""Run a child CLI and hand each line of its output over as it is printed.

Fix B of the hardening notes: the child gets `PYTHONUNBUFFERED=1`, stdout and
stderr are drained concurrently by two threads (a full stderr pipe would
deadlock a stdout-only reader; `communicate()` would hold every line to the
end), and every line is sanitised once before anything sees it (fix C) and cut
to the store's one line limit (`blastflow.store.limits.fit_log_line`). No shell.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from blastflow.errors import SubmitError
from blastflow.sanitise import LineSanitiser
from blastflow.store.limits import fit_log_line

__all__ = ["StreamResult", "child_env", "stream_child"]

_EOF = object()


@dataclass(frozen=True, slots=True)
class StreamResult:
    returncode: int
    lines: int
    timed_out: bool = False


def child_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The child's environment: ours, the backend's extras (None: remove that variable), unbuffered output.

    Example:
        >>> env = child_env({"BLASTFLOW_DOCTEST": "1", "HOME": None})
        >>> env["BLASTFLOW_DOCTEST"], "HOME" in env, env["PYTHONUNBUFFERED"]
        ('1', False, '1')
    """
    env = dict(os.environ)
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["PYTHONUNBUFFERED"] = "1"  # fix B: line-by-line flush even when stdout is a pipe
    return env


def stream_child(
    argv: Sequence[str],
    on_line: Callable[[str, str], None],
    *,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    timeout_s: float | None = None,
    on_tick: Callable[[], None] | None = None,
    tick_s: float = 0.25,
) -> StreamResult:
    """Run `argv` and call `on_line(stream, line)` for every output line, in this thread.

    Args:
        argv: the command as an argument list (never a shell string).
        on_line: called with ("stdout" | "stderr", sanitised line without newline).
        env: extra environment variables for the child.
        cwd: working directory of the child.
        timeout_s: kill the child after this long; the result says `timed_out`.
        on_tick: called at least every `tick_s` while waiting, so sinks can flush on time.
        tick_s: the tick interval.

    Returns:
        The exit code and number of lines.

    Raises:
        SubmitError: the child could not be started (`child_started=False`: safe to retry).

    Example:
        >>> import sys
        >>> seen = []
        >>> stream_child([sys.executable, "-c", "print('hi')"], lambda s, l: seen.append((s, l))).returncode
        0
        >>> seen
        [('stdout', 'hi')]
    """
    proc = _start(argv, env=env, cwd=cwd)
    lines = _start_readers(proc)
    deadline = time.monotonic() + timeout_s if timeout_s else None
    try:
        count, timed_out = _relay(proc, lines, on_line, deadline=deadline, on_tick=on_tick, tick_s=tick_s)
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return StreamResult(returncode=returncode, lines=count, timed_out=timed_out)


def _start(argv: Sequence[str], *, env: Mapping[str, str] | None, cwd: Path | None) -> subprocess.Popen[bytes]:
    """Start the child with both output pipes, no stdin and no shell."""
    try:
        return subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=child_env(env),
            cwd=cwd,
        )
    except OSError as exc:
        raise SubmitError(
            f"could not start {Path(argv[0]).name!r}: {exc.strerror or exc}. Check that it is installed and on PATH.",
            child_started=False,
            code="submit_not_started",
        ) from exc


def _start_readers(proc: subprocess.Popen[bytes]) -> queue.Queue[tuple[str, object]]:
    """One thread per pipe, both feeding one queue: (stream, line), then (stream, _EOF)."""
    lines: queue.Queue[tuple[str, object]] = queue.Queue()
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, "stdout", lines), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, "stderr", lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    return lines


def _relay(
    proc: subprocess.Popen[bytes],
    lines: queue.Queue[tuple[str, object]],
    on_line: Callable[[str, str], None],
    *,
    deadline: float | None,
    on_tick: Callable[[], None] | None,
    tick_s: float,
) -> tuple[int, bool]:
    """Hand each queued line to `on_line` until both pipes close, ticking and enforcing the deadline.

    Returns:
        The number of lines, and whether the child was killed for running past `deadline`.
    """
    open_streams, count, timed_out = 2, 0, False
    next_tick = time.monotonic() + tick_s
    while open_streams:
        wait = max(0.0, next_tick - time.monotonic())
        try:
            stream, item = lines.get(timeout=wait)
        except queue.Empty:
            stream, item = "", None
        if item is _EOF:
            open_streams -= 1
        elif isinstance(item, str):
            count += 1
            on_line(stream, item)
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + tick_s
            if on_tick is not None:
                on_tick()
        if deadline is not None and now > deadline and proc.poll() is None:
            timed_out = True
            proc.kill()
    return count, timed_out


def _drain(pipe: IO[bytes] | None, name: str, sink: queue.Queue[tuple[str, object]]) -> None:
    assert pipe is not None
    clean = LineSanitiser()  # one per stream: a key block spans lines of one pipe
    with pipe:
        for raw in iter(pipe.readline, b""):
            # Sanitised before it is cut, so a cut never leaves half a secret unmasked; cut to the one
            # line limit the store accepts (`fit_log_line`), so a step log takes the line as it is.
            text = fit_log_line(clean(raw.decode("utf-8", errors="replace").rstrip("\r\n")))
            sink.put((name, text))
    sink.put((name, _EOF))
