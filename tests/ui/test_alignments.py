"""The Alignments tab under Streamlit's AppTest: a completed job whose results hold a real blastx archive."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from Bio import SeqIO
from streamlit.testing.v1 import AppTest

from blastflow.hits import ARCHIVE_FILE, HITS_FILE, write_hits
from ui.alignments import ALIGN_PAGE_KEY, ALIGN_QUERY_KEY, ALIGN_SUBJECT_KEY, HITS_PER_PAGE

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")

pytestmark = pytest.mark.skipif(shutil.which("blast_formatter") is None, reason="BLAST+ is not installed")


@pytest.fixture(scope="module")
def archive(sample_fasta: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A blastx archive (3 transcripts vs 150 proteins, up to 25 hits each) and its query ids."""
    base = tmp_path_factory.mktemp("align_ui")
    queries = list(SeqIO.parse(sample_fasta["query_nucl"], "fasta"))[:3]
    SeqIO.write(queries, base / "q.fa", "fasta")
    subprocess.run(["makeblastdb", "-in", str(sample_fasta["db_prot"]), "-dbtype", "prot", "-out", str(base / "db")],
                   capture_output=True, check=True)  # fmt: skip
    subprocess.run(["blastx", "-query", str(base / "q.fa"), "-db", str(base / "db"), "-evalue", "1000",
                    "-max_target_seqs", "25", "-outfmt", "11", "-out", str(base / ARCHIVE_FILE)],
                   capture_output=True, check=True)  # fmt: skip
    return base / ARCHIVE_FILE, [q.id for q in queries]


def _completed(seeded: Any, archive: Path | None) -> tuple[str, Path]:
    """A completed blastx job whose results directory holds the archive (None: no archive)."""
    job_id = seeded.running()
    results = seeded.tmp / job_id / "results"  # the job's own folder: the page serves no other
    results.mkdir(parents=True)
    write_hits(results / HITS_FILE, seeded.hits())
    if archive is not None:
        shutil.copy(archive, results / ARCHIVE_FILE)
    seeded.complete(job_id, results)
    return job_id, results


def _open(seeded: Any, monkeypatch: pytest.MonkeyPatch, job_id: str, **state: Any) -> AppTest:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["job"] = job_id
    at.query_params["tab"] = "Alignments"
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _ranks(at: AppTest) -> list[int]:
    return [int(m.group(1)) for t in at.text if (m := re.match(r"(\d+)\. ", t.value))]


def test_the_tab_shows_each_hsp_as_blast_text(
    seeded: Any, monkeypatch: pytest.MonkeyPatch, archive: tuple[Path, list[str]]
) -> None:
    job_id, _ = _completed(seeded, archive[0])
    at = _open(seeded, monkeypatch, job_id)
    query = at.selectbox(key=ALIGN_QUERY_KEY)
    assert query.options == archive[1]  # every query has hits at -evalue 1000, in result order
    assert query.value == archive[1][0]
    assert _ranks(at) == list(range(1, HITS_PER_PAGE + 1))
    first = at.code[0].value
    assert first.startswith(" Score = ") and "\n Frame = " in first
    assert re.search(r"^Query  1 +[A-Z*]+  \d+$", first, re.M)
    assert re.search(r"^Sbjct  \d+ +[A-Z*-]+  \d+$", first, re.M)
    assert any(f"hits 1-{HITS_PER_PAGE} of 25" in t.value for t in at.text)
    assert not at.error


def test_pages_of_hits(seeded: Any, monkeypatch: pytest.MonkeyPatch, archive: tuple[Path, list[str]]) -> None:
    job_id, _ = _completed(seeded, archive[0])
    at = _open(seeded, monkeypatch, job_id)
    at.number_input(key=ALIGN_PAGE_KEY).set_value(3).run()
    assert _ranks(at) == list(range(21, 26))
    at.selectbox(key=ALIGN_QUERY_KEY).select(archive[1][1]).run()  # another query starts on its first page
    assert at.number_input(key=ALIGN_PAGE_KEY).value == 1
    assert _ranks(at)[0] == 1


def test_a_hit_chosen_through_the_session_keys(
    seeded: Any, monkeypatch: pytest.MonkeyPatch, archive: tuple[Path, list[str]]
) -> None:
    job_id, _ = _completed(seeded, archive[0])
    query = archive[1][1]
    at = _open(seeded, monkeypatch, job_id, **{ALIGN_QUERY_KEY: query})
    subject = re.match(r"\d+\. (\S+)", next(t.value for t in at.text if t.value.startswith("3. "))).group(1)
    at = _open(seeded, monkeypatch, job_id, **{ALIGN_QUERY_KEY: query, ALIGN_SUBJECT_KEY: subject})
    assert at.selectbox(key=ALIGN_QUERY_KEY).value == query
    headers = [t.value for t in at.text if re.match(r"\d+\. ", t.value)]
    assert len(headers) == 1 and headers[0].startswith(f"1. {subject} ")
    assert f"Only the hit of subject {subject}" in [t.value for t in at.text]
    at.button(key="align_all_hits").click().run()
    assert len(_ranks(at)) == HITS_PER_PAGE


def test_a_missing_or_corrupt_archive_is_an_error_naming_the_file(seeded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, results = _completed(seeded, None)
    at = _open(seeded, monkeypatch, job_id)
    assert at.error[0].value == "The alignments cannot be shown."
    assert str(results / ARCHIVE_FILE) in at.code[0].value
    (results / ARCHIVE_FILE).write_bytes(b"Blast4-archive ::= { }\n")
    at = _open(seeded, monkeypatch, job_id)
    assert at.error[0].value == "The alignments cannot be shown."
    assert str(results / ARCHIVE_FILE) in at.code[0].value


def test_a_running_job_says_results_come_later(seeded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(seeded, monkeypatch, seeded.running())
    assert "Results appear here when the search completes." in [i.value for i in at.info]
    assert not at.code or all(not c.value.startswith(" Score") for c in at.code)
