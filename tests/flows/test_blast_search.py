"""The blast-search flow end to end: real Prefect API, real BLAST+, the local backend, SQLite."""

from __future__ import annotations

import pytest
from prefect.artifacts import Artifact

from blastflow.errors import InputError
from blastflow.hits import read_hits
from blastflow.model import Phase, StepName, StepStatus
from blastflow.settings import get_settings
from flows.blast_search import blast_search

JOB = "5d2c8b1e-7f3a-4e6d-9b0c-1a2b3c4d5e6f"


def test_search_completes_every_step_with_results(pipeline, sample_fasta) -> None:
    result = blast_search(
        query=str(sample_fasta["query_prot"]),
        db=str(sample_fasta["db_prot"]),
        program="blastp",
        batch_len=1500,
        title="twelve proteins",
        job_id=JOB,
    )
    job = pipeline.get(JOB)
    assert result["phase"] == "completed" and job.phase is Phase.COMPLETED
    for name, step in job.steps.items():
        assert step.status is StepStatus.COMPLETED, name
        assert step.duration_ms is not None and step.started_at is not None
    assert job.query_count == 12 and job.steps[StepName.PREPARE].counters["batches"] >= 2
    assert job.pod_logs == "captured"
    assert job.flow_run_id and job.code_version and job.host and job.pid

    hits = read_hits(get_settings().job_dir(JOB) / "results" / "hits.tsv")
    assert result["hits"] == len(hits) > 0
    # Each query is also in the database: it must find itself, whole and identical.
    self_hits = {h.query for h in hits if h.query == h.subject and h.pct_identity == 100.0}
    assert len(self_hits) == 12

    submit_lines = [line.text for line in pipeline.read_logs(JOB, StepName.SUBMIT).lines]
    assert any("batches" in line for line in submit_lines)
    assert job.steps[StepName.SUBMIT].log_line_count == len(submit_lines)
    run_lines = [line.text for line in pipeline.read_logs(JOB, StepName.RUN).lines]
    assert any(line.startswith("── batch_000") for line in run_lines)  # pod log tails backfilled

    summary = Artifact.get(f"blast-summary-{JOB}")
    assert summary is not None and f"**{len(hits):,}** hits" in summary.data
    assert Artifact.get(f"blast-hits-{JOB}") is not None


def test_bad_input_fails_in_prepare_before_any_work(pipeline, tmp_path, sample_fasta) -> None:
    bad = tmp_path / "bad.fasta"
    bad.write_text("this is not FASTA\n")
    job_id = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
    with pytest.raises(InputError):
        blast_search(query=str(bad), db=str(sample_fasta["db_prot"]), program="blastp", job_id=job_id)
    job = pipeline.get(job_id)
    assert job.phase is Phase.FAILED and job.error.startswith("Invalid input:")
    assert job.steps[StepName.PREPARE].status is StepStatus.FAILED
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    assert job.steps[StepName.SUBMIT].status is StepStatus.PENDING  # nothing was handed over
    assert not (get_settings().job_dir(job_id) / "pods").exists()


def test_wrong_molecule_names_the_right_program(pipeline, sample_fasta) -> None:
    job_id = "8f9a0b1c-2d3e-4f5a-9b6c-7d8e9f0a1b2c"
    with pytest.raises(InputError) as info:
        blast_search(query=str(sample_fasta["query_nucl"]), db=str(sample_fasta["db_prot"]), program="blastp",
                     job_id=job_id)
    assert "blastx" in str(info.value)
    assert pipeline.get(job_id).phase is Phase.FAILED
