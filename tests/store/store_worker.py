"""A separate OS process hammering one job of a store, for the concurrency contract tests.

Usage: store_worker.py {updates|logs} JOB_ID COUNT TAG BARRIER_DIR WORKERS
(the store comes from BLASTFLOW_TEST_STORE_SPEC). Every worker waits at the
barrier until all have opened their store, so their writes interleave.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _open(spec: dict[str, str]):
    if spec["kind"] == "sqlite":
        from blastflow.store.sqlite import SqliteStore

        return SqliteStore(spec["path"])
    from blastflow.store.azure_table import AzureTableStore

    return AzureTableStore(spec["connection_string"], table_prefix=spec["table_prefix"])


def _wait_for_all(barrier: Path, tag: str, workers: int) -> None:
    (barrier / f"{tag}.ready").touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.glob("*.ready"))) < workers:
        if time.monotonic() > deadline:
            raise SystemExit("the other workers never came")
        time.sleep(0.001)


def main(argv: list[str]) -> int:
    from blastflow.merge import JobUpdate, StepUpdate
    from blastflow.model import StepName

    mode, job_id, count, tag, barrier, workers = argv
    store = _open(json.loads(os.environ["BLASTFLOW_TEST_STORE_SPEC"]))
    _wait_for_all(Path(barrier), tag, int(workers))
    if mode == "updates":
        for i in range(int(count)):
            store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=[f"{tag} {i}"])}))
            time.sleep(0.001)  # yield the core: on 2 busy cores one worker could otherwise finish first
    elif mode == "logs":
        i, sizes = 0, (1, 2, 3, 5)
        while i < int(count):
            size = min(sizes[i % len(sizes)], int(count) - i)
            store.append_logs(job_id, StepName.SUBMIT, [f"{tag} {k}" for k in range(i, i + size)])
            i += size
            time.sleep(0.001)  # yield the core: on 2 busy cores one worker could otherwise finish first
    else:
        raise SystemExit(f"unknown mode {mode}")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
