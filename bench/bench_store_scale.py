"""Store at scale: 50 concurrent jobs each streaming 20 lines/s for 60 s into Azure Table storage (Azurite).

The real write path, one job per flow process as in production, grouped here
into a few writer processes (threads inside, one store client per job):

- a `StepLog` per job (log table about once a second, the row's tail every
  5 s, as the pipeline's settings have it) fed by a thread calling
  `StepLog.add` at the rate asked for; each line carries the time of its add();
- a second writer per job, as the poll step is, merging a progress counter into
  the same row through `store.update` every `--poll-every` seconds, so the two
  writers race on one row (ETag, re-read and re-merge on conflict);
- reader processes, as the page is, polling `read_logs` per job with a cursor
  and noting when each line first becomes readable.

Checked at the end, per job, against what the writers produced and had
acknowledged: lost lines (produced but not stored, or never seen by a reader),
lines stored twice, lost updates (the row's `log_line_count` must equal the
lines produced, its `version` the count of acknowledged `update` calls plus
its creation, the progress counter the last value written). Reported: latency
from add() to readable (p50 / p95 / max), and writes per second per job.

Run from the repository root (Azurite from `npm ci`):

    .venv/bin/python bench/bench_store_scale.py                    # 50 jobs x 20 lines/s x 60 s
    .venv/bin/python bench/bench_store_scale.py --jobs 20 --seconds 30
    .venv/bin/python bench/bench_store_scale.py --smoke            # a few seconds; what CI runs

Targets (issue 7): 0 lost lines, 0 lost updates; latency p95 reported.
Results: bench/RESULTS.md, "Store at scale".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blastflow.joblog import StepLog  # noqa: E402
from blastflow.merge import JobUpdate, StepUpdate  # noqa: E402
from blastflow.model import Phase, StepName, new_job_id  # noqa: E402
from blastflow.store import open_store  # noqa: E402
from blastflow.store.base import StateStore  # noqa: E402

__all__ = ["Outcome", "main", "reader", "writer"]

STEP = StepName.RUN
STORE_ENV = "BLASTFLOW_BENCH_STORE_URL"  # the connection string travels in the environment, never in argv
READ_PAUSE_S = 0.05  # a reader's pause after a sweep over its jobs that found nothing new
START_MARGIN_S = 8.0  # writer processes start adding lines together, once all have imported the SDK


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class CountingStore:
    """One job's store client; counts the writes the store acknowledged."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.appends = self.log_updates = self.poll_updates = 0
        self._lock = threading.Lock()

    def append_logs(self, *args, **kwargs):
        result = self.inner.append_logs(*args, **kwargs)
        self.appends += 1
        return result

    def update(self, job_id: str, update: JobUpdate, *, poll: bool = False):
        result = self.inner.update(job_id, update)
        with self._lock:
            if poll:
                self.poll_updates += 1
            else:
                self.log_updates += 1
        return result


# -- writer process ---------------------------------------------------------------------------------------


def _count_conflicts() -> list[int]:
    """Count the row writes that lost a race (ETag changed), which the store then re-reads and re-merges.

    Instrumentation only: the store's own `merge_and_write` still does the work, with its `write` counted.
    """
    from blastflow.store import azure_table
    from blastflow.store.optimistic import WriteConflict

    counter, lock = [0], threading.Lock()
    original = azure_table.merge_and_write

    def counting(job_id, update, read, write, **kwargs):
        def counted(record, token):
            try:
                write(record, token)
            except WriteConflict:
                with lock:
                    counter[0] += 1
                raise

        return original(job_id, update, read, counted, **kwargs)

    azure_table.merge_and_write = counting
    return counter


def _write_job(
    job_id: str, url: str, rate: float, seconds: float, start_at: float, poll_every: float, out: dict
) -> None:
    store = CountingStore(open_store(url))
    log = StepLog(store, job_id, STEP, flush_interval_s=1.0, row_interval_s=5.0)  # type: ignore[arg-type]
    total = int(rate * seconds)
    finished = threading.Event()
    polls = 0

    def poller() -> None:
        nonlocal polls
        while not finished.wait(poll_every):
            value = polls + 1
            update = JobUpdate(steps={STEP: StepUpdate(counters={"polls": value}, message=f"poll {value}")})
            store.update(job_id, update, poll=True)
            polls = value

    while time.time() < start_at:
        time.sleep(min(0.05, max(0.0, start_at - time.time())))
    thread = threading.Thread(target=poller, daemon=True)
    thread.start()
    began = time.monotonic()
    for i in range(total):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        log.add(f"job {job_id[:8]} line {i} added-at {time.time():.6f}")
    log.close()
    elapsed = time.monotonic() - began
    finished.set()
    thread.join()
    out[job_id] = {
        "produced": total,
        "written": log.lines_written,
        "elapsed": elapsed,
        "appends": store.appends,
        "log_updates": store.log_updates,
        "poll_updates": store.poll_updates,
        "polls": polls,
    }
    store.inner.close()


def writer(job_ids: list[str], url: str, rate: float, seconds: float, start_at: float, poll_every: float) -> dict:
    """Stream every job of `job_ids` at once (a thread each); per job what was produced and acknowledged."""
    out: dict = {}
    conflicts = _count_conflicts()
    threads = [
        threading.Thread(target=_write_job, args=(job_id, url, rate, seconds, start_at, poll_every, out))
        for job_id in job_ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"jobs": out, "conflicts": conflicts[0]}


# -- reader process ---------------------------------------------------------------------------------------


def reader(job_ids: list[str], url: str, stop_file: Path) -> dict:
    """Poll each job's log with a cursor until `stop_file` exists and a sweep finds nothing new.

    Returns, per job: the latency of every line seen (first sight minus its add() time) and the
    duplicates; and the mean seconds between two reads of one job.
    """
    store = open_store(url)
    cursors: dict[str, str | None] = dict.fromkeys(job_ids)
    seen: dict[str, dict[int, float]] = {job_id: {} for job_id in job_ids}
    duplicates = dict.fromkeys(job_ids, 0)
    sweeps, began = 0, time.monotonic()
    while True:
        stopping = stop_file.exists()
        new = 0
        for job_id in job_ids:
            page = store.read_logs(job_id, STEP, after=cursors[job_id])
            now = time.time()
            for line in page.lines:
                head, stamp = line.text.rsplit(" added-at ", 1)
                index = int(head.rsplit(" ", 1)[1])
                if index in seen[job_id]:
                    duplicates[job_id] += 1
                    continue
                seen[job_id][index] = now - float(stamp)
            new += len(page.lines)
            cursors[job_id] = page.cursor or cursors[job_id]
        sweeps += 1
        if stopping and not new:
            break
        if not new:
            time.sleep(READ_PAUSE_S)
    store.close()
    return {
        "jobs": {j: {"latencies": list(seen[j].values()), "seen": len(seen[j]), "twice": duplicates[j]} for j in seen},
        "revisit_s": (time.monotonic() - began) / max(sweeps, 1),
    }


# -- the benchmark ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    jobs: int
    rate: float
    seconds: float
    produced: int
    stored: int
    lost_lines: int
    unseen_lines: int
    duplicate_lines: int
    updates: int  # acknowledged row updates, all jobs
    conflicts: int  # row writes that lost a race to the job's other writer and were re-merged
    version_off: int  # sum over jobs of |row version - acknowledged updates|: lost (or doubled) updates
    line_count_off: int  # sum over jobs of |row log_line_count - lines produced|
    counter_off: int  # jobs whose progress counter is not the last value written
    p50_s: float
    p95_s: float
    max_s: float
    revisit_s: float
    appends_per_job_s: float
    row_writes_per_job_s: float
    poll_writes_per_job_s: float
    load_before: str
    load_after: str


def _spawn(role: str, url: str, args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, STORE_ENV: url, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(Path(__file__).resolve()), "--role", role, *args]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)


def _chunks(items: list[str], count: int) -> list[list[str]]:
    count = max(1, min(count, len(items)))
    return [items[i::count] for i in range(count)]


def _result(process: subprocess.Popen[str], what: str) -> dict:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"a {what} process failed with exit code {process.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def _stored(store: StateStore, job_id: str) -> list[str]:
    texts, cursor = [], None
    while True:
        page = store.read_logs(job_id, STEP, after=cursor, limit=1_000)
        if not page.lines:
            return texts
        texts += [line.text for line in page.lines]
        cursor = page.cursor


def run(url: str, args: argparse.Namespace, tmp: Path) -> Outcome:
    store = open_store(url)
    job_ids = [new_job_id() for _ in range(args.jobs)]
    for job_id in job_ids:
        store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.RUNNING, title="store scale bench", program="blastn"))
    load_before = _load()
    stop_file = tmp / "stop"
    start_at = time.time() + args.start_margin
    common = ["--rate", str(args.rate), "--seconds", str(args.seconds), "--poll-every", str(args.poll_every)]
    writers = [
        _spawn("writer", url, [*common, "--start-at", f"{start_at:.6f}", *chunk])
        for chunk in _chunks(job_ids, args.writer_processes)
    ]
    readers = [
        _spawn("reader", url, ["--stop-file", str(stop_file), *chunk]) for chunk in _chunks(job_ids, args.readers)
    ]
    written: dict = {}
    conflicts = 0
    for process in writers:
        result = _result(process, "writer")
        written.update(result["jobs"])
        conflicts += result["conflicts"]
    load_after = _load()
    stop_file.touch()
    read_jobs: dict = {}
    revisits = []
    for process in readers:
        result = _result(process, "reader")
        read_jobs.update(result["jobs"])
        revisits.append(result["revisit_s"])

    produced = stored = lost = unseen = twice = version_off = count_off = counter_off = 0
    latencies: list[float] = []
    for job_id in job_ids:
        wrote, read = written[job_id], read_jobs[job_id]
        texts = _stored(store, job_id)
        expected = wrote["produced"]
        indices = [int(t.rsplit(" added-at ", 1)[0].rsplit(" ", 1)[1]) for t in texts]
        produced += expected
        stored += len(texts)
        lost += len(set(range(expected)) - set(indices))
        twice += len(indices) - len(set(indices)) + read["twice"]
        unseen += expected - read["seen"]
        latencies += read["latencies"]
        job = store.get(job_id)
        assert job is not None
        step = job.steps[STEP]
        acknowledged = 1 + wrote["log_updates"] + wrote["poll_updates"]  # 1: the row's creation
        version_off += abs(job.version - acknowledged)
        count_off += abs(step.log_line_count - expected)
        counter_off += step.counters.get("polls", 0) != wrote["polls"]
    store.close()
    latencies.sort()
    elapsed = statistics.mean(w["elapsed"] for w in written.values())
    per_job = len(job_ids) * elapsed
    return Outcome(
        jobs=len(job_ids),
        rate=args.rate,
        seconds=elapsed,
        produced=produced,
        stored=stored,
        lost_lines=lost,
        unseen_lines=unseen,
        duplicate_lines=twice,
        updates=sum(1 + w["log_updates"] + w["poll_updates"] for w in written.values()),
        conflicts=conflicts,
        version_off=version_off,
        line_count_off=count_off,
        counter_off=counter_off,
        p50_s=statistics.median(latencies),
        p95_s=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        max_s=latencies[-1],
        revisit_s=statistics.mean(revisits),
        appends_per_job_s=sum(w["appends"] for w in written.values()) / per_job,
        row_writes_per_job_s=sum(w["log_updates"] for w in written.values()) / per_job,
        poll_writes_per_job_s=sum(w["poll_updates"] for w in written.values()) / per_job,
        load_before=load_before,
        load_after=load_after,
    )


def report(o: Outcome) -> str:
    return "\n".join(
        [
            "| jobs | lines/s each | s | lines produced | stored | lost | unseen by readers | twice | row updates "
            "| conflicts re-merged | lost updates (version) | log_line_count off | counter off "
            "| p50 s | p95 s | max s | log-table writes/s/job | row writes/s/job (log tail) "
            "| row writes/s/job (poll) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {o.jobs} | {o.rate:g} | {o.seconds:.1f} | {o.produced:,} | {o.stored:,} | {o.lost_lines} "
            f"| {o.unseen_lines} | {o.duplicate_lines} | {o.updates:,} | {o.conflicts} | {o.version_off} "
            f"| {o.line_count_off} | {o.counter_off} | {o.p50_s:.2f} | {o.p95_s:.2f} "
            f"| {o.max_s:.2f} | {o.appends_per_job_s:.2f} | {o.row_writes_per_job_s:.2f} "
            f"| {o.poll_writes_per_job_s:.2f} |",
            f"readers revisit each job every {o.revisit_s:.2f} s on average; "
            f"load average before {o.load_before}, at the writers' end {o.load_after}",
        ]
    )


def main(argv: list[str] | None = None) -> Outcome | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="lines per second per job")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll-every", type=float, default=2.0, help="seconds between a job's progress updates")
    parser.add_argument("--writer-processes", type=int, default=5)
    parser.add_argument("--readers", type=int, default=5, help="reader processes (each polls its share of jobs)")
    parser.add_argument("--start-margin", type=float, default=START_MARGIN_S)
    parser.add_argument("--connection-string", help="use this Azurite or account instead of starting Azurite")
    parser.add_argument("--smoke", action="store_true", help="4 jobs x 20 lines/s x 3 s, 2 writers, 1 reader")
    parser.add_argument("--role", choices=["writer", "reader"], help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("job_ids", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "writer":
        print(json.dumps(writer(args.job_ids, os.environ[STORE_ENV], args.rate, args.seconds, args.start_at,
                                args.poll_every)))  # fmt: skip
        return None
    if args.role == "reader":
        print(json.dumps(reader(args.job_ids, os.environ[STORE_ENV], args.stop_file)))
        return None
    if args.smoke:
        args.jobs, args.seconds, args.writer_processes, args.readers, args.start_margin = 4, 3.0, 2, 1, 4.0

    with tempfile.TemporaryDirectory(prefix="bench-store-scale-") as tmp_name:
        tmp = Path(tmp_name)
        if args.connection_string:
            outcome = run(args.connection_string, args, tmp)
        else:
            from tests.conftest import Azurite

            azurite = Azurite(tmp / "azurite")
            azurite.start()
            try:
                outcome = run(azurite.connection_string, args, tmp)
            finally:
                azurite.stop()
    print(report(outcome))
    return outcome


if __name__ == "__main__":
    main()
