"""Fix J at run time: a run from a deployment made from other code fails at once, before any step.

The whole path (a real server, worker and deployment) is tests/e2e/test_server_worker.py; here the flow runs in
this process against the test Prefect API, with the deployment it belongs to given through Prefect's runtime
variables (the way Prefect documents mocking `prefect.runtime`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow.errors import ConfigError
from blastflow.model import Phase, new_job_id
from blastflow.store.base import StateStore
from blastflow.version import code_version
from flows.blast_search import blast_search


def test_a_deployment_made_from_other_code_fails_the_run_before_any_step(
    pipeline: StateStore, monkeypatch: pytest.MonkeyPatch, sample_fasta: dict[str, Path]
) -> None:
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", "blast-search")
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__VERSION", "0.0.9+stale")
    job_id = new_job_id()
    with pytest.raises(ConfigError):
        blast_search(query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]), program="blastp",
                     job_id=job_id)  # fmt: skip
    job = pipeline.get(job_id)
    assert job is not None and job.phase is Phase.FAILED and job.error_code == "stale_code"
    expected = f"this worker runs code {code_version()} but the deployment 'blast-search' was made from 0.0.9+stale"
    assert job.error is not None and expected in job.error
    assert [name for name, step in job.steps.items() if step.started_at is not None] == []  # no step ran
