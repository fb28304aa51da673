"""`blastflow run` while its search process runs: the live display or plain lines, and what Ctrl-C does.

The job row is read from the store every `READ_EVERY_S` seconds; `blastflow.run_progress` decides what it
says. On a terminal one Rich display shows it (the step, a batch bar, elapsed, ETA); elsewhere plain lines do.
Ctrl-C on a terminal asks whether to cancel the job or leave it running; without a terminal to ask on, the
job is left running and the commands to follow or cancel it are printed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from blastflow.model import JobRecord
from blastflow.run_progress import EXIT_INTERRUPTED, PlainState, RunProgress, exit_code, plain_update, run_progress
from ops import search_process

if TYPE_CHECKING:
    from blastflow.store.base import StateStore

__all__ = ["READ_EVERY_S", "Followed", "Mode", "follow", "renderable"]

READ_EVERY_S = 0.25  # a row read from the store: cheap, and what `run` waits at most after the job ends
ENDED_WAIT_S = 0.25  # then how long it waits for the search process (it may still render alignments, or exit)
Mode = Literal["live", "plain", "quiet"]


@dataclass(frozen=True)
class Followed:
    """How the search ended for `run`: the job as stored last (None: never written) and the exit code."""

    job: JobRecord | None
    code: int
    process_code: int | None = None  # the search process's exit code; None while it runs (left running)


@dataclass
class _Watch:
    """What one `run` follows: the search process, its job, and where to say things."""

    process: subprocess.Popen[bytes]
    job_id: str
    store: StateStore
    stack_api_url: str | None  # the `blastflow up` server the search runs on, announced once
    announced: bool = False
    started: float = field(default_factory=time.monotonic)

    def progress(self, job: JobRecord | None) -> RunProgress:
        return run_progress(job, datetime.now(UTC), time.monotonic() - self.started)

    def read(self) -> JobRecord | None:
        job = self.store.get(self.job_id)
        if not self.announced and self.stack_api_url and job is not None and job.flow_run_id:
            self.announced = True
            link = search_process.flow_run_link(self.stack_api_url, job.flow_run_id)
            typer.echo(f"Using the Prefect server of `blastflow up`: {link}")
        return job


def renderable(progress: RunProgress) -> RenderableType:
    """The live display: the progress line, and a bar of batches done while a step counts them."""
    line = Text(progress.line)
    if progress.counts is None or not progress.counts.total:
        return line
    bar = ProgressBar(total=progress.counts.total, completed=progress.counts.finished, width=40)
    return Group(line, bar)


def follow(process: subprocess.Popen[bytes], job_id: str, store: StateStore, *, mode: Mode,
           stack_api_url: str | None) -> Followed:
    """Show the search's progress until its process ends, or Ctrl-C; the job's end and the exit code.

    Args:
        process: the search process (`ops.search_process.start`).
        job_id: its job.
        store: the job store to read the row from.
        mode: "live" (one Rich display, on a terminal), "plain" (a line at each step change and at most
            every 10 s within one), "quiet" (nothing: `--verbose` shows Prefect's own log lines).
        stack_api_url: the `blastflow up` API the search runs on, to link the flow run once it is known.
    """
    watch = _Watch(process, job_id, store, stack_api_url)
    shells = {"live": _follow_live, "plain": _follow_plain, "quiet": _follow_quiet}
    try:
        shells[mode](watch)
    except KeyboardInterrupt:
        return _interrupted(watch)
    job = watch.read()
    return Followed(job, exit_code(job), watch.process.returncode)


def _poll(watch: _Watch, show: Callable[[JobRecord | None], None]) -> None:
    """Show each read of the row until the search process ends, or shortly after the job has (the process
    may still be closing Prefect's temporary server: nothing the user waits for)."""
    ended_at: float | None = None
    while watch.process.poll() is None:
        job = watch.read()
        show(job)
        if job is not None and job.is_terminal:
            ended_at = ended_at or time.monotonic()
            if time.monotonic() - ended_at >= ENDED_WAIT_S:
                return
        time.sleep(READ_EVERY_S)


def _follow_quiet(watch: _Watch) -> None:
    _poll(watch, lambda job: None)


def _follow_live(watch: _Watch) -> None:
    console = Console()
    with Live(renderable(watch.progress(None)), console=console, auto_refresh=False, transient=True) as display:
        _poll(watch, lambda job: display.update(renderable(watch.progress(job)), refresh=True))


def _follow_plain(watch: _Watch) -> None:
    state = PlainState()

    def show(job: JobRecord | None) -> None:
        nonlocal state
        line, state = plain_update(state, watch.progress(job), time.monotonic())
        if line is not None:
            typer.echo(line)

    _poll(watch, show)


def _interrupted(watch: _Watch) -> Followed:
    """Ctrl-C: cancel the job or leave it running (asked on a terminal; left running otherwise)."""
    typer.echo("")
    job = watch.store.get(watch.job_id)
    if job is not None and job.is_terminal:  # it ended meanwhile: nothing to decide
        return Followed(job, exit_code(job), watch.process.poll())
    if sys.stdin.isatty() and _ask_cancel(watch.job_id):
        return _cancel(watch)
    typer.echo(f"Job {watch.job_id} keeps running.\n"
               f"  Follow it: blastflow status {watch.job_id}   or   blastflow logs {watch.job_id} -f\n"
               f"  Cancel it: blastflow cancel {watch.job_id}")
    return Followed(watch.store.get(watch.job_id), EXIT_INTERRUPTED)


def _ask_cancel(job_id: str) -> bool:
    """True for cancel; a second Ctrl-C or the end of input leaves the job running."""
    while True:
        typer.echo(f"Cancel job {job_id} or leave it running? [c/l] ", nl=False, err=True)  # not into a pipe
        try:
            answer = input().strip().lower()
        except (KeyboardInterrupt, EOFError):
            return False
        if answer in ("c", "cancel"):
            return True
        if answer in ("l", "leave"):
            return False


def _cancel(watch: _Watch) -> Followed:
    """Cancel through the one cancel path (the job ends cancelled, its backend work stopped), then end the process."""
    from blastflow.cleanup import cancel_job
    from blastflow.errors import BlastflowError
    from blastflow.settings import get_settings

    typer.echo(f"Cancelling job {watch.job_id} ...")
    if watch.store.get(watch.job_id) is None:  # the flow has not started: ending its process is enough,
        search_process.end(watch.process)  # unless it wrote the row meanwhile (cancelled below)
        if watch.store.get(watch.job_id) is None:
            typer.echo(f"Job {watch.job_id} never started; its search process is ended")
            return Followed(None, EXIT_INTERRUPTED, watch.process.returncode)
    try:  # before the process ends: its crash hooks would otherwise record a failure first
        job, outcome = cancel_job(watch.job_id, watch.store, get_settings(), by="Ctrl-C in `blastflow run`")
        typer.echo(f"Job {watch.job_id} {job.phase.value}; backend work: {outcome}")
    except BlastflowError as exc:
        typer.secho(f"error: could not cancel job {watch.job_id}: {exc}", err=True, fg=typer.colors.RED)
    search_process.end(watch.process)
    return Followed(watch.store.get(watch.job_id), EXIT_INTERRUPTED, watch.process.returncode)

