"""The local supervisor: one BLAST+ process per batch ("pod"), a few at once, retried like a Kubernetes Job.

Started detached by the submit child (`python -m blastflow.backends.local.supervisor
--config local.json`), it owns the run until every pod has succeeded or one
has failed for good:

- at most `concurrency` pods run at once, each with `threads_per_pod` threads;
- a failed attempt is retried after a backoff that doubles (base
  `retry_backoff_s`), up to `batch_retries` retries (a Job's backoffLimit);
- a pod that fails for good stops the rest (the job has failed; the machine
  is freed at once) and the run ends in FAILURE;
- a `cancel` file or SIGTERM / SIGINT / SIGHUP terminates the running BLAST
  processes and fails every unfinished pod as cancelled;
- BLAST processes get SIGTERM if the supervisor itself dies (Linux), so a
  killed supervisor leaves no BLAST running.

A resumed run (`rerun.json` names the batches to run again) keeps every
other batch as succeeded, its archive untouched.

Every pod writes `state.json` (atomically), `log.txt` (BLAST's output and
`[supervisor]` lines) and, on success, `out.asn`; the run ends with
`supervisor.json` in SUCCESS or FAILURE.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Literal

from blastflow.backends.local.run_files import (
    LocalConfig,
    PodPhase,
    PodState,
    RerunSelection,
    RunFiles,
    SupervisorPhase,
    SupervisorState,
    read_state,
    write_state,
)
from blastflow.model import utcnow
from blastflow.process import start_time, tail
from blastflow.search import Batch

__all__ = ["LOG_PREFIX", "Supervisor", "last_blast_line", "main", "retry_delay"]

LOG_PREFIX = "[supervisor]"
TERMINATE_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


def retry_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Seconds before the retry that follows failed attempt number `attempt` (1-based): doubling, capped.

    >>> [retry_delay(n, 10, 60) for n in (1, 2, 3, 4)]
    [10, 20, 40, 60]
    """
    return min(max_s, base_s * 2 ** (attempt - 1))


def last_blast_line(lines: list[str]) -> str:
    """The last line BLAST itself wrote in the latest attempt of a pod log (not a supervisor line).

    >>> last_blast_line(["[supervisor] t attempt 1 started: x", "Warning: w", "BLAST Database error: gone",
    ...                  "[supervisor] t attempt 1 exited with code 2"])
    'BLAST Database error: gone'
    """
    for line in reversed(lines):
        text = line.strip()
        if text.startswith(LOG_PREFIX):
            if " started: " in text:
                break
            continue
        if text:
            return text
    return ""


@dataclass
class _Attempt:
    batch: Batch
    process: subprocess.Popen[bytes]
    log: IO[bytes]


class Supervisor:
    """Runs the pods of one local run to the end. `run()` returns the process exit code."""

    def __init__(self, config: LocalConfig, *, poll_s: float = 0.2) -> None:
        self.config = config
        self.files = RunFiles(config.workdir)
        self.poll_s = poll_s
        self.pods = {b.name: PodState(batch=b.name) for b in config.batches}
        self.kept = _kept_batches(self.files, config.batches)  # a resumed run keeps these batches' archives
        self.waiting: list[Batch] = [b for b in config.batches if b.name not in self.kept]  # pending, in order
        self.not_before: dict[str, float] = {}  # monotonic time a retry may start
        self.running: dict[str, _Attempt] = {}
        self.cancel_requested = False
        self.state = SupervisorState(pid=os.getpid(), pid_start=start_time(os.getpid()))
        self._preexec = _die_with_parent()

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self._say(
            f"job {self.config.job_id}: {len(self.config.batches)} batches, at most {self.config.concurrency} "
            f"at once, {self.config.threads_per_pod} BLAST thread(s) each"
        )
        for pod in self.pods.values():
            if pod.batch in self.kept:
                pod.phase, pod.exit_code, pod.finished_at = PodPhase.SUCCEEDED, 0, utcnow()
                pod.message = "kept from an earlier run (its archive was checked by the resume)"
            self._save(pod)
        if self.kept:
            self._say(f"resumed: {len(self.kept)} batches kept from an earlier run, {len(self.waiting)} to run")
        write_state(self.files.supervisor, self.state)  # the submit child waits for this file
        try:
            failed = self._loop()
        except BaseException as exc:  # write a final state whatever happens, then stop
            self._stop_all("stopped", f"stopped: the supervisor failed ({type(exc).__name__}: {exc})")
            self._finish(SupervisorPhase.FAILURE, f"the supervisor failed: {type(exc).__name__}: {exc}")
            raise
        if self.cancel_requested:
            done = sum(p.phase == PodPhase.SUCCEEDED for p in self.pods.values())
            self.state.cancelled = True
            self._finish(SupervisorPhase.FAILURE, f"cancelled: {done} of {len(self.pods)} batches had succeeded")
            return 1
        if failed is not None:
            self._finish(SupervisorPhase.FAILURE, failed.message)
            return 1
        self._finish(SupervisorPhase.SUCCESS, f"all {len(self.pods)} batches succeeded")
        return 0

    def _loop(self) -> PodState | None:
        """Run until all pods are done, one fails for good (returned), or a cancel arrives."""
        while True:
            if self.cancel_requested or self.files.cancel.exists():
                self.cancel_requested = True
                self._say("cancel requested: stopping every pod")
                self._stop_all("cancelled", "cancelled")
                return None
            failed = None
            for name in list(self.running):
                code = self.running[name].process.poll()
                if code is not None:  # record every finished pod, even after one has failed
                    ended = self._finished(self.running.pop(name), code)
                    failed = failed or ended
            failed = failed or self._start_ready()
            if failed is not None:
                self._stop_all("stopped", f"stopped: {failed.batch} failed")
                return failed
            if not self.running and not self.waiting:
                return None
            time.sleep(self.poll_s)

    def _start_ready(self) -> PodState | None:
        now = time.monotonic()
        for batch in list(self.waiting):
            if len(self.running) >= self.config.concurrency:
                break
            if self.not_before.get(batch.name, 0.0) <= now:
                self.waiting.remove(batch)
                failed = self._start(batch)
                if failed is not None:
                    return failed
        return None

    # -- one pod ----------------------------------------------------------------------------------------

    def _start(self, batch: Batch) -> PodState | None:
        """Start a pod's next attempt; return the pod if it could not start and has failed for good."""
        pod = self.pods[batch.name]
        attempt = pod.attempts + 1
        partial = self.files.pod_partial(batch.name)
        partial.unlink(missing_ok=True)
        argv = self.config.pod_argv(batch, partial)
        log = self.files.pod_log(batch.name).open("ab", buffering=0)
        _note(log, f"attempt {attempt} of {self.config.batch_retries + 1} started: {shlex.join(argv)}")
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.config.workdir,
                close_fds=True,
                preexec_fn=self._preexec,  # safe: the supervisor runs no threads
            )
        except OSError as exc:  # the BLAST program vanished: a failed attempt like any other
            log.write(f"{exc}\n".encode())
            pod.attempts = attempt
            try:
                return self._failed_attempt(batch, pod, log, None)
            finally:
                log.close()
        pod.phase, pod.attempts, pod.pid = PodPhase.RUNNING, attempt, process.pid
        pod.pid_start = start_time(process.pid)
        pod.started_at, pod.finished_at, pod.retry_at, pod.exit_code = utcnow(), None, None, None
        pod.message = f"attempt {attempt} running"
        self._save(pod)
        self.running[batch.name] = _Attempt(batch, process, log)
        return None

    def _finished(self, attempt: _Attempt, code: int) -> PodState | None:
        """Record an attempt's end; return the pod if it has now failed for good."""
        batch, log = attempt.batch, attempt.log
        pod = self.pods[batch.name]
        partial = self.files.pod_partial(batch.name)
        _note(log, f"attempt {pod.attempts} {_exit_text(code)}")
        try:
            if code == 0 and partial.exists():
                os.replace(partial, self.files.pod_out(batch.name))
                pod.phase, pod.exit_code, pod.finished_at = PodPhase.SUCCEEDED, 0, utcnow()
                pod.pid = pod.pid_start = None
                pod.message = f"succeeded on attempt {pod.attempts}"
                self._save(pod)
                return None
            if code == 0:
                log.write(b"BLAST exited with code 0 but wrote no results archive\n")
            return self._failed_attempt(batch, pod, log, code)
        finally:
            log.close()

    def _failed_attempt(self, batch: Batch, pod: PodState, log: IO[bytes], code: int | None) -> PodState | None:
        cause = last_blast_line(tail(self.files.pod_log(batch.name), 50)) or "no error message"
        pod.exit_code, pod.pid, pod.pid_start, pod.finished_at = code, None, None, utcnow()
        exit_text = "could not start" if code is None else _exit_text(code)
        if pod.attempts <= self.config.batch_retries:
            delay = retry_delay(pod.attempts, self.config.retry_backoff_s, self.config.retry_backoff_max_s)
            pod.phase, pod.retry_at = PodPhase.PENDING, utcnow() + timedelta(seconds=delay)
            pod.message = f"attempt {pod.attempts} {exit_text}: {cause}; retrying in {delay:g} s"
            _note(log, f"retrying in {delay:g} s (backoff limit {self.config.batch_retries})")
            self.not_before[batch.name] = time.monotonic() + delay
            self.waiting.insert(self._waiting_index(batch), batch)
            self._save(pod)
            return None
        pod.phase, pod.reason = PodPhase.FAILED, "error"
        pod.message = f"{batch.name} failed after {pod.attempts} attempt(s), {exit_text}: {cause}"
        _note(log, f"failed for good: backoff limit {self.config.batch_retries} reached")
        self._save(pod)
        return pod

    def _waiting_index(self, batch: Batch) -> int:
        return sum(b.index < batch.index for b in self.waiting)

    def _stop_all(self, reason: Literal["cancelled", "stopped"], message: str) -> None:
        """Terminate running pods (SIGTERM, then SIGKILL after a grace period) and fail every unfinished pod."""
        for attempt in self.running.values():
            _note(attempt.log, f"{message}: terminating BLAST (pid {attempt.process.pid})")
            attempt.process.terminate()
        deadline = time.monotonic() + TERMINATE_GRACE_S
        for attempt in self.running.values():
            try:
                attempt.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                attempt.process.kill()
                attempt.process.wait()
        for name, attempt in self.running.items():
            pod = self.pods[name]
            pod.exit_code = attempt.process.returncode
            _note(attempt.log, f"attempt {pod.attempts} {_exit_text(pod.exit_code)}")
            attempt.log.close()
        self.running.clear()
        for pod in self.pods.values():
            if pod.phase in (PodPhase.PENDING, PodPhase.RUNNING):
                pod.phase, pod.reason, pod.message = PodPhase.FAILED, reason, message
                pod.pid = pod.pid_start = pod.retry_at = None
                pod.finished_at = utcnow()
                self._save(pod)
        self.waiting.clear()

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _finish(self, phase: SupervisorPhase, message: str) -> None:
        self.state.phase, self.state.message, self.state.finished_at = phase, message, utcnow()
        write_state(self.files.supervisor, self.state)
        self._say(f"{phase.value.upper()}: {message}")

    def _save(self, pod: PodState) -> None:
        write_state(self.files.pod_state(pod.batch), pod)

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.cancel_requested = True  # only a flag: the loop acts on it (no I/O inside a signal handler)

    @staticmethod
    def _say(text: str) -> None:
        print(f"{utcnow():%Y-%m-%dT%H:%M:%SZ} {text}", flush=True)


def _kept_batches(files: RunFiles, batches: list[Batch]) -> set[str]:
    """The batches a resume keeps: all but those `rerun.json` names; none without it (a first run)."""
    selection = read_state(files.rerun, RerunSelection)
    if selection is None:
        return set()
    return {b.name for b in batches} - set(selection.batches)


def _note(log: IO[bytes], text: str) -> None:
    log.write(f"{LOG_PREFIX} {utcnow():%Y-%m-%dT%H:%M:%SZ} {text}\n".encode())


def _exit_text(code: int | None) -> str:
    if code is None:
        return "could not start"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when the supervisor dies; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only makes the call
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died between fork and prctl
            os._exit(1)

    return hook


def main(argv: list[str] | None = None) -> int:
    """`python -m blastflow.backends.local.supervisor --config local.json`."""
    parser = argparse.ArgumentParser(
        prog="python -m blastflow.backends.local.supervisor", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", required=True, type=Path, help="the run's local.json, e.g. JOBDIR/local.json")
    args = parser.parse_args(argv)
    config = LocalConfig.model_validate_json(args.config.read_bytes())
    return Supervisor(config).run()


if __name__ == "__main__":
    sys.exit(main())
