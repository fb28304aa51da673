"""Live log latency: time from a child's print to the line being readable in the store's log table.

The submit path exactly as the pipeline runs it: a Python child printing
timestamped lines (without flushing) at 1, 10 and 100 lines/s, `stream_child`
draining it, a `StepLog` writing the log table (about once a second) and the
row tail (every 5 s); a reader polls `read_logs` with a cursor every 50 ms, as
the page does, and notes when each line appears. Also counted: log-table and
row writes per second per job, and lost or duplicated lines.

Run from the repository root (Azurite from `npm ci`):

    .venv/bin/python bench/bench_live_logs.py                      # 60 s per rate, SQLite and Azurite
    .venv/bin/python bench/bench_live_logs.py --seconds 10 --store sqlite
    .venv/bin/python bench/bench_live_logs.py --smoke              # a few seconds; what CI runs

The earlier pipeline's anchor: a 15 s state-write debounce and a 33 s stall.
Target: p95 under 1.5 s, at most about one log-table write per second and one
row write per 5 s per job. Results: bench/RESULTS.md, "Live log latency".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blastflow.joblog import StepLog  # noqa: E402
from blastflow.model import StepName, new_job_id  # noqa: E402
from blastflow.store import open_store  # noqa: E402
from blastflow.store.base import StateStore  # noqa: E402
from blastflow.stream import stream_child  # noqa: E402

__all__ = ["Measurement", "main", "measure"]

READ_EVERY_S = 0.05


@dataclass
class Measurement:
    store: str
    rate: int
    seconds: float
    lines: int
    seen: int
    duplicates: int
    p50_s: float
    p95_s: float
    max_s: float
    table_writes_per_s: float
    row_writes_per_s: float


class CountingStore:
    """Passes calls through to a real store and counts the writes."""

    def __init__(self, inner: StateStore) -> None:
        self.inner, self.appends, self.updates = inner, 0, 0

    def append_logs(self, *args, **kwargs):
        self.appends += 1
        return self.inner.append_logs(*args, **kwargs)

    def update(self, *args, **kwargs):
        self.updates += 1
        return self.inner.update(*args, **kwargs)


def _child(tmp: Path, rate: int, seconds: float) -> list[str]:
    script = tmp / f"printer_{rate}.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            start = time.monotonic()
            for i in range({int(rate * seconds)}):
                target = start + i / {rate}
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                print(f"line {{i}} printed-at {{time.time():.6f}}")  # no flush: PYTHONUNBUFFERED must do it
            """
        )
    )
    return [sys.executable, str(script)]


def measure(store: StateStore, label: str, rate: int, seconds: float, tmp: Path) -> Measurement:
    job_id = new_job_id()
    counting = CountingStore(store)
    log = StepLog(counting, job_id, StepName.SUBMIT, flush_interval_s=1.0, row_interval_s=5.0)
    latencies: dict[int, float] = {}
    duplicates = 0
    done = threading.Event()

    def reader() -> None:
        nonlocal duplicates
        cursor = None
        while True:
            finished = done.is_set()
            page = store.read_logs(job_id, StepName.SUBMIT, after=cursor)
            now = time.time()
            for line in page.lines:
                index, stamp = line.text.split(" printed-at ")
                seq = int(index.split()[1])
                if seq in latencies:
                    duplicates += 1
                latencies[seq] = now - float(stamp)
            cursor = page.cursor or cursor
            if finished and not page.lines:
                return
            time.sleep(READ_EVERY_S)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    start = time.monotonic()
    result = stream_child(_child(tmp, rate, seconds), lambda s, line: log.add(line, s), on_tick=log.tick)
    log.close()
    elapsed = time.monotonic() - start
    done.set()
    thread.join(timeout=60)
    values = sorted(latencies.values()) or [float("nan")]
    return Measurement(
        store=label,
        rate=rate,
        seconds=elapsed,
        lines=result.lines,
        seen=len(latencies),
        duplicates=duplicates,
        p50_s=statistics.median(values),
        p95_s=values[min(len(values) - 1, int(0.95 * len(values)))],
        max_s=values[-1],
        table_writes_per_s=counting.appends / elapsed,
        row_writes_per_s=counting.updates / elapsed,
    )


def _row(m: Measurement) -> str:
    return (
        f"| {m.store} | {m.rate} | {m.lines:,} | {m.lines - m.seen} | {m.duplicates} | {m.p50_s:.2f} | {m.p95_s:.2f} "
        f"| {m.max_s:.2f} | {m.table_writes_per_s:.2f} | {m.row_writes_per_s:.2f} |"
    )


def main(argv: list[str] | None = None) -> list[Measurement]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rates", default="1,10,100")
    parser.add_argument("--store", choices=["sqlite", "azurite", "both"], default="both")
    parser.add_argument("--smoke", action="store_true", help="3 s at 10 lines/s on SQLite")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.rates, args.store = 3.0, "10", "sqlite"
    rates = [int(r) for r in args.rates.split(",")]
    results: list[Measurement] = []
    print("| store | lines/s | lines | lost | twice | p50 s | p95 s | max s | table writes/s | row writes/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp_name:
        tmp = Path(tmp_name)
        if args.store in ("sqlite", "both"):
            store = open_store(f"sqlite:///{tmp / 'live.db'}")
            for rate in rates:
                results.append(measure(store, "sqlite", rate, args.seconds, tmp))
                print(_row(results[-1]), flush=True)
            store.close()
        if args.store in ("azurite", "both"):
            from tests.conftest import Azurite

            azurite = Azurite(tmp / "azurite")
            azurite.start()
            try:
                store = open_store(azurite.connection_string)
                for rate in rates:
                    results.append(measure(store, "azurite", rate, args.seconds, tmp))
                    print(_row(results[-1]), flush=True)
                store.close()
            finally:
                azurite.stop()
    return results


if __name__ == "__main__":
    main()
