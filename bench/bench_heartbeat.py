"""Heartbeat writes: what keeping a waiting job's row fresh costs, in row writes per job per minute.

Each waiting step of the pipeline (wait for pods, poll, finalize's pod-log retries) runs for an hour of
fake time against a real SQLite store, its backend answering the same thing every time (pods pending, a
run whose progress line never changes, pod logs that never come): the worst case, where nothing but the
heartbeat writes the row. Row writes are counted by kind: heartbeats (an empty update, `StepContext.heartbeat`)
and the step's own writes (first counts, progress, its log's tail). The heartbeat interval is a quarter of
the quiet threshold (BLASTFLOW_QUIET_THRESHOLD_S), so the cost is 60 / (threshold / 4) writes a minute at
most; a step that writes anyway pays nothing extra. Fake time makes the hour instant and exact.

Run from the repository root:

    .venv/bin/python bench/bench_heartbeat.py              # thresholds 900 s (default) and 300 s, one hour each
    .venv/bin/python bench/bench_heartbeat.py --smoke      # ten minutes of fake time; what a quick check runs

Results: bench/RESULTS.md, "Heartbeat writes".
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blastflow.errors import BlastflowError  # noqa: E402
from blastflow.merge import JobUpdate  # noqa: E402
from blastflow.model import Phase, StepName, new_job_id  # noqa: E402
from blastflow.search import Batch, PodCounts, PreparedRun, RunState, RunStatus  # noqa: E402
from blastflow.settings import Settings  # noqa: E402
from blastflow.steps import StepContext, poll, wait_for_pods  # noqa: E402
from blastflow.steps.finalize import capture_pod_logs  # noqa: E402
from blastflow.store import open_store  # noqa: E402
from blastflow.store.base import StateStore  # noqa: E402


class _Clock:
    """Time that moves only when a step sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _Waiting:
    """A backend that never moves on: three pods pending, or running with no end, and no pod logs."""

    name = "waiting"
    status_interval_s = 0.0

    def __init__(self, counts: PodCounts) -> None:
        self.counts = counts

    def pod_counts(self, run: PreparedRun) -> PodCounts:
        return self.counts

    def status(self, run: PreparedRun) -> RunStatus:
        return RunStatus(state=RunState.RUNNING, counts=self.counts)

    def pod_problems(self, run: PreparedRun) -> list[str]:
        return []

    def pod_logs(self, run: PreparedRun, tail_lines: int = 200) -> dict[str, str]:
        return {}


class _Counting:
    """The store, counting row writes by kind and log-table appends."""

    def __init__(self, inner: StateStore) -> None:
        self.inner, self.heartbeats, self.step_writes, self.log_appends = inner, 0, 0, 0

    def update(self, job_id: str, update: JobUpdate) -> object:
        if update == JobUpdate(update_id=update.update_id):
            self.heartbeats += 1
        else:
            self.step_writes += 1
        return self.inner.update(job_id, update)

    def append_logs(self, job_id: str, step: object, lines: Sequence[str], **kw: object) -> int:
        self.log_appends += 1
        return self.inner.append_logs(job_id, step, lines, **kw)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@dataclass
class Measurement:
    step: str
    threshold_s: float
    minutes: float
    heartbeats: int
    step_writes: int
    log_appends: int

    @property
    def per_minute(self) -> float:
        return self.heartbeats / self.minutes


# Each waiting step: the phase it waits in, its log, and its backend's unchanging pod counts.
_STEPS = {
    "wait for pods": (Phase.SUBMITTED, StepName.WAIT_FOR_PODS, PodCounts(pending=3)),
    "poll": (Phase.RUNNING, StepName.RUN, PodCounts(running=3)),
    "finalize pod-log retries": (Phase.FINALIZING, StepName.FINALIZE, PodCounts(succeeded=3)),
}


def _run(step: str, minutes: float, threshold_s: float, workdir: Path) -> Measurement:
    phase, log_step, counts = _STEPS[step]
    store = _Counting(open_store(f"sqlite:///{workdir / f'{log_step.value}-{threshold_s:.0f}.db'}"))
    job_id, clock = new_job_id(), _Clock()
    settings = Settings(data_dir=workdir, quiet_threshold_s=threshold_s, wait_for_pods_timeout_s=minutes * 60,
                        run_timeout_s=minutes * 60, pod_log_attempts=3, pod_log_retry_delay_s=minutes * 30)  # fmt: skip
    store.inner.update(job_id, JobUpdate(job_id=job_id, phase=phase))
    ctx = StepContext(job_id=job_id, store=store, backend=_Waiting(counts), settings=settings,  # type: ignore[arg-type]
                      sleep=clock.sleep, clock=clock)  # fmt: skip
    run = _run_of(job_id, workdir)
    with contextlib.suppress(BlastflowError):  # each ends by timing out, or giving up on the pod logs
        if log_step is StepName.WAIT_FOR_PODS:
            wait_for_pods(ctx, run)
        elif log_step is StepName.RUN:
            poll(ctx, run)
        else:
            capture_pod_logs(ctx, run, ctx.log(log_step))
    store.inner.close()
    return Measurement(step, threshold_s, clock.now / 60, store.heartbeats, store.step_writes, store.log_appends)


def _run_of(job_id: str, workdir: Path) -> PreparedRun:
    batches = [Batch(index=i, path=workdir / f"b{i}.fa", sequences=1, residues=9) for i in range(3)]
    return PreparedRun(job_id=job_id, backend="waiting", program="blastp", workdir=workdir, config_path=workdir / "c",
                       database="db", database_label="db", molecule="prot", batches=batches)  # fmt: skip


def main(argv: list[str] | None = None) -> list[Measurement]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="fake minutes each step waits")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[900.0, 300.0], help="quiet thresholds, s")
    parser.add_argument("--smoke", action="store_true", help="ten fake minutes, the default threshold only")
    args = parser.parse_args(argv)
    minutes, thresholds = (10.0, [900.0]) if args.smoke else (args.minutes, args.thresholds)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for threshold in thresholds:
            for step in ("wait for pods", "poll", "finalize pod-log retries"):
                results.append(_run(step, minutes, threshold, Path(tmp)))
    print("| waiting step | quiet threshold s | fake minutes | heartbeats | heartbeats / job / min | step's own row"
          " writes | log-table appends |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in results:
        print(f"| {m.step} | {m.threshold_s:.0f} | {m.minutes:.0f} | {m.heartbeats} | {m.per_minute:.2f} | "
              f"{m.step_writes} | {m.log_appends} |")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
