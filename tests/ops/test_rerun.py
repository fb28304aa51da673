"""`blastflow rerun` without a stack: the same search runs here as a new job linked to the original, and
finalize's provenance record shows both were the same search."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from prefect.artifacts import Artifact
from typer.testing import CliRunner

from blastflow.model import Phase, StepName
from blastflow.provenance import NO_HITS_FILE, PROVENANCE_FILE, file_sha256, read_provenance
from blastflow.search import PreparedRun
from blastflow.settings import get_settings
from flows.blast_search import blast_search
from ops.cli import app

OLD = "5d2c8b1e-7f3a-4e6d-9b0c-1a2b3c4d5e6f"
NEW = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"


def _query_with_one_query_that_finds_nothing(sample_fasta: dict[str, Path], tmp_path: Path) -> Path:
    rng = random.Random(7)
    nothing = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(90))  # a random protein: no homologue
    query = tmp_path / "query.fasta"
    query.write_text(sample_fasta["query_prot"].read_text() + f">no_homologue random\n{nothing}\n")
    return query


def _finalize_lines(store, job_id: str) -> list[str]:
    return [line.text for line in store.read_logs(job_id, step=StepName.FINALIZE).lines]


def test_a_rerun_runs_the_same_search_as_a_new_linked_job(pipeline, sample_fasta, tmp_path: Path, monkeypatch) -> None:
    query = _query_with_one_query_that_finds_nothing(sample_fasta, tmp_path)
    first = blast_search(query=str(query), db=str(sample_fasta["db_prot"]), program="blastp", batch_len=1500,
                         title="provenance", job_id=OLD)
    results = get_settings().job_dir(OLD) / "results"
    record = read_provenance(results / PROVENANCE_FILE)
    run = PreparedRun.load(get_settings().job_dir(OLD))
    job = pipeline.get(OLD)
    assert (results / NO_HITS_FILE).read_text() == "no_homologue\n"
    assert job.steps[StepName.FINALIZE].counters["queries_without_hits"] == 1
    assert record.query.sha256 == file_sha256(run.query_files()) and record.query.source == str(query)
    assert record.query.sequences == 13 and record.hits == first["hits"] and record.queries_without_hits == 1
    assert len(record.commands) == len(run.batches) >= 2
    assert record.commands[0].startswith("blastp -query ") and str(run.workdir) not in "".join(record.commands)
    assert "-outfmt 11" in record.commands[0] and "-evalue 1e-05" in record.commands[0]
    assert record.database.sequences == 150 and record.database.sha256 and record.blast_version.startswith("2.")
    assert record.flow_run_id == job.flow_run_id and record.code_version == job.code_version
    assert record.parameters["batch_len"] == 1500 and record.backend == "local"
    artifact = Artifact.get(f"blast-provenance-{OLD}")
    assert artifact is not None and record.query.sha256 in artifact.data
    assert (results / "formats" / "results.xml").is_file()  # rendered for the Alignments tab, and indexed
    assert (results / "formats" / "results.xml.index.json").is_file()
    assert "Alignments ready (BLAST XML rendered and indexed)" in _finalize_lines(pipeline, OLD)

    finalize_module = sys.modules["blastflow.steps.finalize"]  # (the package exports a function of that name)
    monkeypatch.setattr(finalize_module, "PRERENDER_MAX_HITS", 1)  # the rerun: too many hits to render now
    query.write_text(">edited\nMKVLAAGIVGLLLA\n")  # the user's file changes: a rerun still runs the search that ran
    outcome = CliRunner().invoke(app, ["rerun", OLD, "--job-id", NEW])
    assert outcome.exit_code == 0, outcome.output
    again = pipeline.get(NEW)
    assert again.phase is Phase.COMPLETED and again.rerun_of == OLD and again.title == "provenance"
    second = read_provenance(get_settings().job_dir(NEW) / "results" / PROVENANCE_FILE)
    assert second.query.sha256 == record.query.sha256 and second.hits == record.hits
    assert second.rerun_of == OLD and second.parameters | {"query": 0} == record.parameters | {"query": 0}
    assert not (get_settings().job_dir(NEW) / "results" / "formats" / "results.xml").exists()
    assert any(line.startswith("Alignments: rendered when first opened") for line in _finalize_lines(pipeline, NEW))
    shown = CliRunner().invoke(app, ["show", NEW])
    assert f"(rerun of {OLD})" in shown.output
    assert json.loads((get_settings().job_dir(NEW) / "search.json").read_text())["batch_len"] == 1500


def test_a_job_without_a_search_record_is_refused_with_the_reason(pipeline, tmp_path: Path) -> None:
    from blastflow.merge import JobUpdate

    pipeline.update(OLD, JobUpdate(job_id=OLD, phase=Phase.FAILED, error="no such database"))
    outcome = CliRunner().invoke(app, ["rerun", OLD])
    assert outcome.exit_code == 1 and "kept no record of its search" in outcome.output
    assert pipeline.get(OLD).rerun_of is None and len(pipeline.list_jobs()) == 1
