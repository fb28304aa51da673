"""The provenance card and the Run again button on the job page (AppTest, seeded store)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from streamlit.testing.v1 import AppTest

from blastflow.provenance import PROVENANCE_FILE, DatabaseInfo, Provenance, QueryInfo, write_provenance
from blastflow.search import SearchSpec, save_spec
from blastflow.settings import get_settings

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


class RecordedPopen:
    """TEST DOUBLE for `subprocess.Popen` as ui.provenance calls it: records the argv instead of starting
    `blastflow rerun` (that command is tested for real in tests/ops/test_rerun.py)."""

    calls: ClassVar[list[list[str]]] = []

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        assert "shell" not in kwargs and kwargs["start_new_session"] is True
        RecordedPopen.calls.append(list(argv))


@pytest.fixture
def page(seeded: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    monkeypatch.setenv("BLASTFLOW_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    monkeypatch.setattr(subprocess, "Popen", RecordedPopen)
    RecordedPopen.calls = []

    def open_page(job_id: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        at.query_params["job"] = job_id
        at.run()
        assert not at.exception, at.exception
        return at

    yield open_page
    get_settings.cache_clear()


def _provenance(job_id: str, results: Path) -> Provenance:
    record = Provenance(
        job_id=job_id, flow_run_id="fr-1", code_version="0.1.0", backend="local", program="blastx",
        blast_version="2.12.0+", parameters={"evalue": 1e-10, "max_target_seqs": 5},
        query=QueryInfo(source="transcripts.fasta", sequences=473, letters=287_752, sha256="ab" * 32),
        database=DatabaseInfo(name="prot", title="<b>fire ant</b> proteins", sequences=1189, letters=280_047,
                              date="Nov 29, 2026"),
        commands=["blastx -query query_batches/batch_000.fa -db prot -outfmt 11"],
        recorded_at=datetime(2026, 11, 29, tzinfo=UTC),
    )
    write_provenance(results / PROVENANCE_FILE, record)
    return record


def test_a_completed_job_shows_its_provenance_card_as_text(seeded: Any, page) -> None:
    job_id = seeded.completed()
    _provenance(job_id, Path(seeded.store.get(job_id).results_location))
    at = page(job_id)
    (card,) = [e for e in at.expander if e.label.startswith("Provenance")]
    assert card.label == "Provenance: blastx 2.12.0+"
    text = "\n".join(code.value for code in card.code)
    assert "<b>fire ant</b> proteins (1,189 sequences, 280,047 letters; Nov 29, 2026)" in text  # as text
    assert "ab" * 32 in text and "blastx -query query_batches/batch_000.fa" in text
    assert [b.label for b in card.get("download_button")] == ["provenance.json"]


def test_run_again_starts_blastflow_rerun_for_the_job_and_links_the_new_one(seeded: Any, page) -> None:
    job_id = seeded.completed()
    get_settings().job_dir(job_id).mkdir(parents=True)
    save_spec(SearchSpec(program="blastx", query=">q\nACGT\n", db="prot"), get_settings().job_dir(job_id))
    at = page(job_id)
    at.button(key=f"rerun_button:{job_id}").click().run()
    ((argv),) = RecordedPopen.calls
    assert argv[:5] == [sys.executable, "-m", "ops.cli", "rerun", job_id] and argv[5] == "--job-id"
    new_id = argv[6]
    assert any(new_id in s.value for s in at.success)
    (link,) = [b for b in at.get("link_button") if b.proto.label == "Open the new job"]
    assert link.proto.url == f"?job={new_id}"


def test_run_again_of_a_job_that_kept_no_search_says_why_and_starts_nothing(seeded: Any, page) -> None:
    job_id = seeded.completed()
    at = page(job_id)
    at.button(key=f"rerun_button:{job_id}").click().run()
    assert RecordedPopen.calls == []
    assert at.error[0].value == "This search cannot be run again."
    assert any("kept no record of its search" in code.value for code in at.code)


def test_a_running_job_has_neither_card_nor_run_again(seeded: Any, page) -> None:
    at = page(seeded.running())
    assert not [e for e in at.expander if e.label.startswith("Provenance")]
    assert not [b for b in at.button if b.label == "Run again"]


def test_a_rerun_says_which_job_it_runs_again(seeded: Any, page) -> None:
    from blastflow.merge import JobUpdate

    original = seeded.completed()
    job_id = seeded.running()
    seeded.store.update(job_id, JobUpdate(rerun_of=original))
    at = page(job_id)
    assert any(f"rerun of {original}" in t.value for t in at.text)
