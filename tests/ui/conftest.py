"""Seeded stores for the page tests: jobs made only through `store.update` and `store.append_logs`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blastflow.hits import ARCHIVE_FILE, HITS_FILE, Hit, write_hits
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus, new_job_id
from blastflow.store import open_store
from blastflow.store.base import StateStore

BENIGN_LINE = "\x1b[33m[parallel-prep] running 4 azcopy checks concurrently\x1b[0m"
ATTRIBUTE_ERROR = "AttributeError: module 'x' has no attribute '_tail_text'"
HOSTILE = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)> **bold** [link](http://x)"


def sample_hits(queries: int = 3, per_query: int = 4) -> list[Hit]:
    """Hits shaped like a real blastp search: several subjects per query along a 300-residue query."""
    span = max(1, 150 // per_query)
    hits = []
    for q in range(1, queries + 1):
        for s in range(1, per_query + 1):
            start = 1 + span * (s - 1)
            hits.append(
                Hit(
                    query=f"SINV_{q:05d}-PA",
                    subject=f"sp|P{q}{s:04d}|KIN{s}_HUMAN",
                    description=f"Kinase {s} OS=Homo sapiens" if s != 2 else HOSTILE,
                    pct_identity=max(30.0, 100.0 - 7.5 * s),
                    length=150,
                    mismatches=s,
                    gap_opens=0,
                    q_start=start,
                    q_end=start + 149,
                    s_start=1,
                    s_end=150,
                    evalue=10.0 ** min(-1, -60 + 12 * s),
                    bitscore=max(25.0, 300.0 - 40 * s),
                    query_coverage=50.0,
                    query_length=300,
                    subject_length=400,
                )
            )
    return hits


@dataclass
class Seeder:
    """Makes jobs in a store the way the flow does: updates through the merge, lines into the log table."""

    store: StateStore
    url: str
    tmp: Path

    BENIGN_LINE = BENIGN_LINE
    ATTRIBUTE_ERROR = ATTRIBUTE_ERROR
    HOSTILE = HOSTILE

    @staticmethod
    def hits(queries: int = 3, per_query: int = 4) -> list[Hit]:
        return sample_hits(queries, per_query)

    def running(self, title: str = "Fire ant transcripts vs proteins") -> str:
        job_id = new_job_id()
        s = self.store
        s.update(
            job_id,
            JobUpdate(
                job_id=job_id,
                phase=Phase.QUEUED,
                title=title,
                program="blastx",
                database="sinvicta-prot",
                query_count=473,
                flow_run_id="5a9e2c1d-0000-4000-8000-000000000001",
                query_length=812_345,
            ),
        )
        s.update(job_id, JobUpdate(phase=Phase.PREPARING))
        self.log(job_id, StepName.PREPARE, ["Checking 473 queries", "Split into 5 batches"])
        s.update(
            job_id,
            JobUpdate(phase=Phase.SUBMITTING, steps={StepName.PREPARE: StepUpdate(message="473 queries in 5 batches")}),
        )
        self.log(job_id, StepName.SUBMIT, ["Submitting 5 batches", BENIGN_LINE])
        s.update(job_id, JobUpdate(phase=Phase.SUBMITTED))
        s.update(
            job_id,
            JobUpdate(
                phase=Phase.RUNNING,
                steps={
                    StepName.RUN: StepUpdate(
                        counters={"pending": 1, "running": 2, "succeeded": 2, "failed": 0},
                        message="2 of 5 batches done",
                    )
                },
            ),
        )
        self.log(job_id, StepName.RUN, ["batch_000: started", "batch_001: started", HOSTILE])
        return job_id

    def failed_with_orphan(self) -> str:
        """A job that failed while its submit step was running: the merge leaves no running step."""
        job_id = new_job_id()
        s = self.store
        s.update(
            job_id,
            JobUpdate(
                job_id=job_id,
                phase=Phase.PREPARING,
                title="Crashed submit " + HOSTILE,
                program="blastp",
                database="swissprot",
            ),
        )
        s.update(job_id, JobUpdate(phase=Phase.SUBMITTING))
        self.log(job_id, StepName.SUBMIT, ["Starting elastic-blast submit helper job…", BENIGN_LINE])
        s.update(
            job_id,
            JobUpdate(phase=Phase.FAILED, error=ATTRIBUTE_ERROR, error_code="AttributeError", source="reconcile"),
        )
        return job_id

    def completed(self, hits: list[Hit] | None = None) -> str:
        job_id = self.running(title="Completed search")
        results = self.tmp / job_id / "results"  # the job's own folder: the page serves no other
        results.mkdir(parents=True)
        write_hits(results / HITS_FILE, hits if hits is not None else sample_hits())
        (results / ARCHIVE_FILE).write_bytes(b"Blast4-archive ::= { }\n")
        self.complete(job_id, results)
        return job_id

    def complete(self, job_id: str, results: Path) -> None:
        self.store.update(job_id, JobUpdate(phase=Phase.FINALIZING))
        self.log(job_id, StepName.FINALIZE, ["Fetched 5 batch result archives"])
        self.store.update(
            job_id,
            JobUpdate(
                phase=Phase.COMPLETED,
                results_location=str(results),
                steps={
                    StepName.FINALIZE: StepUpdate(
                        status=StepStatus.COMPLETED, message="12 hits", counters={"hits": 12, "batches": 5}
                    )
                },
            ),
        )

    def long_log(self, lines: int = 100_000) -> str:
        job_id = new_job_id()
        self.store.update(
            job_id,
            JobUpdate(
                job_id=job_id, phase=Phase.RUNNING, title="Chatty run", program="blastn", database="sinvicta-cdna"
            ),
        )
        chunk = 5_000
        for start in range(1, lines + 1, chunk):
            self.log(
                job_id,
                StepName.RUN,
                [f"pod batch_{n % 7:03d}: line {n}" for n in range(start, min(lines, start + chunk - 1) + 1)],
            )
        return job_id

    def log(self, job_id: str, step: StepName, lines: list[str]) -> None:
        """Lines into the log table and the row's counters, as the flow's step log does."""
        self.store.append_logs(job_id, step, lines)
        self.store.update(
            job_id, JobUpdate(steps={step: StepUpdate(lines=lines[-50:], log_lines_added=max(0, len(lines) - 50))})
        )


@pytest.fixture
def seeder_for(tmp_path: Path) -> Iterator[Callable[[str], Seeder]]:
    """Seeders for given store URLs (a server started elsewhere may read the same store)."""
    stores: list[StateStore] = []

    def make(url: str) -> Seeder:
        store = open_store(url)
        stores.append(store)
        return Seeder(store, url, tmp_path)

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def seeded(seeder_for: Callable[[str], Seeder], tmp_path: Path) -> Seeder:
    """A seeder over a fresh SQLite store in the test's tmp_path."""
    return seeder_for(f"sqlite:///{tmp_path / 'state.db'}")
