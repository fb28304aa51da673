"""Dry run: every check runs and the backend's config is written, then the flow stops; nothing is submitted."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastflow.backends.local.run_files import RunFiles
from blastflow.model import Phase, StepName, StepStatus
from blastflow.sanitise import register_secret
from blastflow.settings import get_settings
from blastflow.steps.dry_run import DRY_RUN_MESSAGE
from flows.blast_search import blast_search
from ops.cli import app
from tests.doubles.elb_doubles import PROT_DB, ElbWorld, first_records

JOB = "0b7d3e2a-9c4f-4d1e-8a6b-5c3d2e1f0a9b"


def _assert_dry(job_id: str, store) -> None:
    job = store.get(job_id)
    assert job.phase is Phase.COMPLETED
    assert job.steps[StepName.PREPARE].status is StepStatus.COMPLETED
    assert job.steps[StepName.SUBMIT].status is StepStatus.SKIPPED
    assert job.steps[StepName.SUBMIT].message == DRY_RUN_MESSAGE
    assert all(job.steps[name].status is StepStatus.SKIPPED for name in (StepName.WAIT_FOR_PODS, StepName.RUN))


def test_a_local_dry_run_writes_the_config_and_starts_nothing(pipeline, sample_fasta) -> None:
    result = blast_search(query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]),
                          program="blastp", job_id=JOB, dry_run=True)  # fmt: skip

    workdir = get_settings().job_dir(JOB)
    assert result["dry_run"] is True and result["config_path"] == str(workdir / "local.json")
    assert '"program": "blastp"' in str(result["config_text"])
    assert str(result["command"]).endswith(f"-m blastflow.backends.local.submit submit --config {workdir}/local.json")
    assert not RunFiles(workdir).supervisor.exists(), "the supervisor must not have started"
    _assert_dry(JOB, pipeline)


@pytest.mark.azurite
def test_an_elastic_blast_dry_run_shows_the_ini_masked_and_submits_nothing(
    pipeline, elb_world: ElbWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_secret("tok3n-in-a-label")
    monkeypatch.setenv("BLASTFLOW_ELB_LABELS", "team=ants,token=tok3n-in-a-label")

    result = blast_search(query=first_records("prot", 4), db=PROT_DB, program="blastp", backend="elastic-blast",
                          job_id=JOB, dry_run=True)  # fmt: skip

    text = str(result["config_text"])
    assert "[blast]" in text and "program = blastp" in text and "labels = team=ants,token=***" in text
    assert "tok3n-in-a-label" not in str(result)
    assert str(result["command"]).startswith("elastic-blast submit --cfg ") and result["config_path"] in str(
        result["command"]
    )
    assert Path(str(result["config_path"])).read_text().count("tok3n-in-a-label") == 1  # the file is the real one
    assert elb_world.cluster.search(pipeline.get(JOB).results_location) is None, "nothing may reach the cluster"
    _assert_dry(JOB, pipeline)


def test_the_cli_dry_run_prints_the_config_and_the_command(pipeline, sample_fasta) -> None:
    outcome = CliRunner().invoke(app, ["run", "--query", str(sample_fasta["query_prot"]), "--db",
                                       str(sample_fasta["db_prot"]), "--dry-run"])  # fmt: skip

    assert outcome.exit_code == 0, outcome.output
    assert "every check passed; nothing was submitted" in outcome.output
    assert "Config: " in outcome.output and "Would run: " in outcome.output


def test_a_failing_check_fails_the_cli_dry_run_with_its_message(pipeline, sample_fasta) -> None:
    argv = ["run", "--query", str(sample_fasta["query_prot"]), "--db", str(sample_fasta["db_prot"])]
    outcome = CliRunner().invoke(app, [*argv, "--options", "-outfmt 6", "--dry-run"])

    assert outcome.exit_code != 0
    assert "option -outfmt is not allowed" in outcome.output
