"""`blastflow results`: the summary of a finished job, one format written out, and jobs without results refused."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastflow.merge import JobUpdate
from blastflow.model import Phase, new_job_id
from blastflow.provenance import NO_HITS_FILE
from blastflow.settings import get_settings
from blastflow.store import open_store
from ops.cli import app
from tests.test_formats import run_search

pytestmark = pytest.mark.skipif(shutil.which("blast_formatter") is None, reason="BLAST+ is not installed")

runner = CliRunner()


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One real blastp search in batches, its results merged as finalize merges them."""
    search = run_search(tmp_path_factory.mktemp("cli-results"), "blastp", direct=False)
    (search["results"] / NO_HITS_FILE).write_text("SI2.2.0_nohit_1\nSI2.2.0_nohit_2\n")
    return search


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    get_settings.cache_clear()
    with open_store() as opened:
        yield opened
    get_settings.cache_clear()


def _job(store, job_id: str | None = None, **fields: object) -> str:
    job_id = job_id or new_job_id()
    store.update(job_id, JobUpdate(job_id=job_id, program="blastp", database="db", **fields))
    return job_id


def test_summary_counts_hits_queries_and_lists_the_formats(store, searched: dict) -> None:
    job_id = _job(store, searched["results"].parent.name, phase=Phase.COMPLETED,
                  results_location=str(searched["results"]))
    done = runner.invoke(app, ["results", job_id])
    assert done.exit_code == 0, done.output
    rows = (searched["results"] / "hits.tsv").read_text().splitlines()[1:]
    assert f"hits: {len(rows):,}" in done.output
    assert f"queries with hits: {len({row.split(chr(9))[0] for row in rows})}" in done.output
    assert "queries without hits: 2 (SI2.2.0_nohit_1, SI2.2.0_nohit_2)" in done.output
    assert "formats: tsv, csv, pairwise, xml, tabular-comments, archive" in done.output  # no SAM for blastp


def test_format_xml_is_written_to_out(store, searched: dict, tmp_path: Path) -> None:
    job_id = _job(store, searched["results"].parent.name, phase=Phase.COMPLETED,
                  results_location=str(searched["results"]))
    out = tmp_path / "results.xml"
    done = runner.invoke(app, ["results", job_id, "--format", "xml", "--out", str(out)])
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert text.startswith("<?xml") and text.count("<Iteration>") == searched["queries"]
    path = runner.invoke(app, ["results", job_id, "--format", "xml"])
    assert path.stdout.strip() == str(searched["results"] / "formats" / "results.xml")


def test_sam_for_blastp_is_refused_with_the_reason(store, searched: dict) -> None:
    job_id = _job(store, searched["results"].parent.name, phase=Phase.COMPLETED,
                  results_location=str(searched["results"]))
    done = runner.invoke(app, ["results", job_id, "--format", "sam"])
    assert done.exit_code == 1
    assert "SAM (outfmt 17) exists only for blastn" in done.output and "this search is blastp" in done.output


def test_a_running_job_says_why_and_which_formats_will_exist(store) -> None:
    job_id = _job(store, phase=Phase.RUNNING)
    done = runner.invoke(app, ["results", job_id, "--format", "xml"])
    assert done.exit_code == 1
    assert f"job {job_id} has no results: it is running (running)" in done.output
    assert "When it completes it will have these formats: tsv, csv, pairwise, xml" in done.output


def test_a_failed_job_says_its_error(store) -> None:
    job_id = _job(store, phase=Phase.FAILED, error="blastp exited with code 3: out of memory")
    done = runner.invoke(app, ["results", job_id])
    assert done.exit_code == 1
    assert "it is failed (failed)" in done.output and "error: blastp exited with code 3: out of memory" in done.output
    assert f"blastflow rerun {job_id}" in done.output and "tabular-comments" in done.output


def test_a_missing_archive_is_named(store, tmp_path: Path) -> None:
    results = tmp_path / "j1" / "results"
    results.mkdir(parents=True)
    job_id = _job(store, "j1", phase=Phase.COMPLETED, results_location=str(results))
    done = runner.invoke(app, ["results", job_id, "--format", "pairwise"])
    assert done.exit_code == 1
    assert f"{results / 'results.asn'} is missing" in done.output


def test_an_unknown_job_is_named(store) -> None:
    done = runner.invoke(app, ["results", "nope"])
    assert done.exit_code == 1 and "no job 'nope'" in done.output


@pytest.mark.parametrize("job_id", ["../../etc", "a/b", "..", "x\\y"])
@pytest.mark.parametrize("command", ["results", "show", "logs", "rerun"])
def test_a_job_id_that_could_name_a_path_is_refused_first(store, command: str, job_id: str) -> None:
    done = runner.invoke(app, [command, job_id])
    assert done.exit_code == 1
    assert "job id" in done.output and "Traceback" not in done.output


def test_results_of_another_folder_are_never_printed(store, searched: dict) -> None:
    job_id = _job(store, phase=Phase.COMPLETED, results_location=str(searched["results"]))  # not its folder
    done = runner.invoke(app, ["results", job_id, "--format", "tsv", "--out", "-"])
    assert done.exit_code == 1
    assert f"is not job {job_id}'s own results folder" in done.output and "SINV_" not in done.output


@pytest.mark.parametrize("fmt", ["archive", "tsv", "xml"])
def test_a_result_file_linked_out_of_the_folder_is_refused(store, searched: dict, tmp_path: Path, fmt: str) -> None:
    results = tmp_path / "j1" / "results"
    shutil.copytree(searched["results"], results)
    (tmp_path / "elsewhere.txt").write_text("root:x:0:0:hunter2\n")
    for name in ("results.asn", "hits.tsv"):
        (results / name).unlink()
        (results / name).symlink_to(tmp_path / "elsewhere.txt")
    shutil.rmtree(results / "formats", ignore_errors=True)
    job_id = _job(store, "j1", phase=Phase.COMPLETED, results_location=str(results))
    done = runner.invoke(app, ["results", job_id, "--format", fmt, "--out", "-"])
    assert done.exit_code == 1
    assert "is not a file of the results folder" in done.output and "hunter2" not in done.output
