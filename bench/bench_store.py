"""State store throughput and latency, SQLite and Azure Table (a local Azurite), as the pipeline uses them.

What is measured, per store:
- update: sequential merges into one job row (read, merge, conditional write);
- race: two OS processes merging 200 updates each into one row (every write contends);
- append: 20,000 log lines appended 50 at a time (the streamer's batch);
- tail: reading them back in pages of 1,000, and one poll that finds nothing new;
- list: the 50 newest of 300 jobs.

Run from the repository root (Azurite from `npm ci`):

    .venv/bin/python bench/bench_store.py
    .venv/bin/python bench/bench_store.py --store sqlite

Recorded on the project machine (2 cores) on 2026-11-27 while other test suites ran (load
average 6.5, so these are pessimistic; `--store` and a quiet machine give better numbers):

| store   | update/s | update p95 ms | race 2x200 s | append lines/s | tail lines/s | empty poll ms | list ms |
|---------|---------:|--------------:|-------------:|---------------:|-------------:|--------------:|--------:|
| sqlite  |      554 |          5.58 |         0.98 |         45,616 |      138,432 |          0.07 |    7.16 |
| azurite |     52.9 |          31.3 |         13.7 |          1,617 |       15,153 |          39.6 |     233 |

("list" is the 50 newest of 300 jobs; "empty poll" reads all five steps and finds nothing new.)

Azurite is an emulator (Node.js, one process): against Azure the round trip
dominates instead (tens of ms a request), which is why log lines travel in
batches and the page reads chunks of up to 200 lines per entity.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blastflow.merge import JobUpdate, StepUpdate  # noqa: E402
from blastflow.model import Phase, StepName, new_job_id  # noqa: E402
from blastflow.store.base import StateStore  # noqa: E402

__all__ = ["main", "measure"]

WORKER = REPO / "tests" / "store" / "store_worker.py"


def _open(spec: dict[str, str]) -> StateStore:
    if spec["kind"] == "sqlite":
        from blastflow.store.sqlite import SqliteStore

        return SqliteStore(spec["path"])
    from blastflow.store.azure_table import AzureTableStore

    return AzureTableStore(spec["connection_string"], table_prefix=spec["table_prefix"])


def _race(spec: dict[str, str], job_id: str, count: int) -> float:
    barrier = Path(tempfile.mkdtemp(prefix="bench-barrier-"))
    env = {**os.environ, "BLASTFLOW_TEST_STORE_SPEC": json.dumps(spec), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(WORKER), "updates", job_id, str(count)]
    processes = [subprocess.Popen([*argv, tag, str(barrier), "2"], env=env, stdout=subprocess.DEVNULL) for tag in "AB"]
    while len(list(barrier.glob("*.ready"))) < 2:  # time the updates, not the interpreters starting
        time.sleep(0.001)
    start = time.perf_counter()
    for process in processes:
        if process.wait(timeout=600) != 0:
            raise SystemExit("a race worker failed")
    return time.perf_counter() - start


def measure(spec: dict[str, str]) -> dict[str, float]:
    """One row of the results table for the store `spec` names."""
    store = _open(spec)
    try:
        job_id = new_job_id()
        store.update(job_id, JobUpdate(phase=Phase.RUNNING, title="bench"))
        latencies = []
        for i in range(300):
            start = time.perf_counter()
            store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=[f"line {i}"])}))
            latencies.append(time.perf_counter() - start)

        race_job = new_job_id()
        store.update(race_job, JobUpdate(phase=Phase.RUNNING))
        race_s = _race(spec, race_job, 200)
        assert store.get(race_job).version == 401, "the race lost an update"

        lines = [
            f"INFO: batch_{i % 97:03d}.fa: {i * 37 % 100_000:,} residues, query SI2.2.0_{i:05d}" for i in range(20_000)
        ]
        start = time.perf_counter()
        for i in range(0, len(lines), 50):
            store.append_logs(job_id, StepName.RUN, lines[i : i + 50])
        append_s = time.perf_counter() - start

        start = time.perf_counter()
        cursor, read = None, 0
        while page := store.read_logs(job_id, after=cursor, limit=1_000):
            if not page.lines:
                break
            read, cursor = read + len(page.lines), page.cursor
        tail_s = time.perf_counter() - start
        assert read == len(lines)
        polls = []
        for _ in range(20):
            start = time.perf_counter()
            store.read_logs(job_id, after=cursor)
            polls.append(time.perf_counter() - start)

        for i in range(300):
            store.update(new_job_id(), JobUpdate(title=f"job {i}", phase=Phase.COMPLETED))
        start = time.perf_counter()
        assert len(store.list_jobs(limit=50)) == 50
        list_s = time.perf_counter() - start
    finally:
        store.close()
    return {
        "update ops/s": len(latencies) / sum(latencies),
        "update p95 ms": statistics.quantiles(latencies, n=20)[-1] * 1000,
        "race 2x200 s": race_s,
        "append lines/s": len(lines) / append_s,
        "tail lines/s": read / tail_s,
        "empty poll ms": statistics.median(polls) * 1000,
        "list 50/300 ms": list_s * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "azurite", "both"], default="both")
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        if args.store in ("sqlite", "both"):
            rows["sqlite"] = measure({"kind": "sqlite", "path": f"{tmp}/bench.db"})
        if args.store in ("azurite", "both"):
            from tests.conftest import Azurite

            azurite = Azurite(Path(tmp) / "azurite")
            azurite.start()
            try:
                spec = {
                    "kind": "azurite",
                    "connection_string": azurite.connection_string,
                    "table_prefix": "b" + uuid.uuid4().hex[:10],
                }
                rows["azurite"] = measure(spec)
            finally:
                azurite.stop()
    names = list(next(iter(rows.values())))
    print("| store | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for store, row in rows.items():
        print(
            f"| {store} | " + " | ".join(f"{row[n]:,.2f}" if row[n] < 100 else f"{row[n]:,.0f}" for n in names) + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
