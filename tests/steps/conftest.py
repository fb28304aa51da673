from __future__ import annotations

from pathlib import Path

import pytest

from blastflow.merge import JobUpdate
from blastflow.model import Phase
from blastflow.search import Batch, PreparedRun
from blastflow.settings import Settings
from blastflow.steps import StepContext
from tests.doubles.scripted_backend import FakeClock, ScriptedBackend

JOB_ID = "3c1e2d4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run(tmp_path: Path) -> PreparedRun:
    batches = [Batch(index=i, path=tmp_path / f"batch_{i:03d}.fa", sequences=1, residues=100) for i in range(3)]
    return PreparedRun(
        job_id=JOB_ID,
        backend="scripted",
        program="blastp",
        workdir=tmp_path,
        config_path=tmp_path / "cfg",
        database="db",
        database_label="db",
        molecule="prot",
        batches=batches,
    )


@pytest.fixture
def make_ctx(sqlite_store, clock, tmp_path):
    def make(backend: ScriptedBackend, phase: Phase = Phase.SUBMITTED, **settings) -> StepContext:
        sqlite_store.update(JOB_ID, JobUpdate(job_id=JOB_ID, phase=phase))
        return StepContext(
            job_id=JOB_ID,
            store=sqlite_store,
            backend=backend,
            settings=Settings(**{"data_dir": tmp_path, "poll_interval_s": 2.0, **settings}),
            sleep=clock.sleep,
            clock=clock,
        )

    return make
