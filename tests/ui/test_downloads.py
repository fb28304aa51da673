"""The Downloads tab under AppTest, over the results of real searches: a button per format, errors as text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from blastflow.errors import BackendError
from blastflow.formats import formatted
from blastflow.hits import ARCHIVE_FILE, HITS_FILE
from blastflow.provenance import NO_HITS_FILE
from tests.test_formats import run_search

pytestmark = pytest.mark.skipif(shutil.which("blast_formatter") is None, reason="BLAST+ is not installed")


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The results folder of one real blastp search (batched, merged as finalize merges them).

    The blastn job of the first test shares it: which buttons show depends only on the program, as nothing is
    rendered until a click (tests/test_formats.py renders real blastn results).
    """
    results = run_search(tmp_path_factory.mktemp("downloads"), "blastp", direct=False)["results"]
    return {"blastn": results, "blastp": results}


def _tab(results_dir: str, program: str) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from blastflow.model import JobRecord, Phase
    from ui.downloads import render_downloads
    from ui.results import load_results

    now = datetime.now(UTC)
    job = JobRecord(
        job_id=Path(results_dir).parent.name, created_at=now, updated_at=now, phase=Phase.COMPLETED,
        program=program, results_location=results_dir,
    )  # fmt: skip
    render_downloads(job, load_results(job))


def _open(results_dir: Path, program: str) -> AppTest:
    at = AppTest.from_function(_tab, kwargs={"results_dir": str(results_dir), "program": program}, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def _buttons(at: AppTest) -> list[str]:
    return [element.proto.label for element in at.get("download_button")]


def test_one_button_per_format_and_nothing_rendered_on_opening(searched: dict[str, Path]) -> None:
    at = _open(searched["blastn"], "blastn")
    assert _buttons(at) == [
        "Hits (TSV)", "Hits (CSV)", "Hits (JSON)", "Pairwise alignments (outfmt 0)", "BLAST XML (outfmt 5)",
        "Tabular with comments (outfmt 7)", "SAM (outfmt 17)", "BLAST archive (ASN.1, outfmt 11)",
    ]  # fmt: skip
    assert any("lists queries without hits" in caption.value for caption in at.caption)
    assert not (searched["blastn"] / "formats").exists()  # lazy: no format was made by opening the tab


def test_sam_is_absent_for_blastp_and_the_no_hits_list_is_offered(searched: dict[str, Path]) -> None:
    (searched["blastp"] / NO_HITS_FILE).write_text("SI2.2.0_nohit_1\n")
    try:
        buttons = _buttons(_open(searched["blastp"], "blastp"))
    finally:
        (searched["blastp"] / NO_HITS_FILE).unlink()
    assert "SAM (outfmt 17)" not in buttons and "BLAST XML (outfmt 5)" in buttons
    assert "Queries without hits (one id per line)" in buttons


def test_the_tsv_download_is_hits_tsv_byte_for_byte(searched: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """What a click on "Hits (TSV)" sends is hits.tsv itself: BLAST's outfmt 6 bytes, no header row.

    The button's data is made on the click (a deferred callable): the test asks AppTest's media file manager for
    it as the browser's click would (`execute_deferred`), then reads what would be served.
    """
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    managers: list[MediaFileManager] = []
    storages: list[MemoryMediaFileStorage] = []
    monkeypatch.setattr(app_test, "MediaFileManager", lambda storage: managers.append(MediaFileManager(storage))
                        or managers[-1])  # fmt: skip
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", lambda endpoint: storages.append(
        MemoryMediaFileStorage(endpoint)) or storages[-1])  # fmt: skip
    at = _open(searched["blastp"], "blastp")
    (button,) = [b for b in at.get("download_button") if b.proto.label == "Hits (TSV)"]
    url = managers[-1].execute_deferred(button.proto.deferred_file_id)
    sent = storages[-1].get_file(url.rsplit("/", 1)[1])
    assert sent.content == (searched["blastp"] / HITS_FILE).read_bytes() and sent.content.count(b"\n") > 5
    assert not sent.content.startswith(b"query\t") and sent.filename.endswith("-hits.tsv")


def test_a_corrupt_archive_shows_its_error_instead_of_the_buttons(searched: dict[str, Path], tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(searched["blastp"], results)
    good = (results / ARCHIVE_FILE).read_text()
    (results / ARCHIVE_FILE).write_text(good[: len(good) // 2])  # cut short
    with pytest.raises(BackendError):
        formatted(results, "xml", program="blastp")  # a click on the XML button: the render fails
    at = _open(results, "blastp")
    assert "BLAST XML (outfmt 5)" not in _buttons(at) and "Hits (TSV)" in _buttons(at)
    codes = [code.value for code in at.code]
    assert any(f"{results / ARCHIVE_FILE} cannot be read by blast_formatter" in code for code in codes)


def test_an_archive_that_is_not_one_is_named_at_once(searched: dict[str, Path], tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(searched["blastp"], results)
    (results / ARCHIVE_FILE).write_text("not an archive\n")
    at = _open(results, "blastp")
    assert _buttons(at) == ["Hits (TSV)", "Hits (CSV)", "Hits (JSON)"]
    assert sum(f"{results / ARCHIVE_FILE} is not a BLAST archive" in code.value for code in at.code) == 4


def _running_tab(program: str) -> None:
    from datetime import UTC, datetime

    from blastflow.model import JobRecord, Phase
    from ui.downloads import render_downloads
    from ui.results import load_results

    now = datetime.now(UTC)
    job = JobRecord(job_id="0b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b", created_at=now, updated_at=now,
                    phase=Phase.RUNNING, program=program)  # fmt: skip
    render_downloads(job, load_results(job))


def test_a_running_search_says_which_formats_it_will_have() -> None:
    at = AppTest.from_function(_running_tab, kwargs={"program": "blastn"}, default_timeout=30)
    at.run()
    assert not at.exception and not at.get("download_button")
    assert at.info[0].value == "Results appear here when the search completes."
    (caption,) = [c.value for c in at.caption if c.value.startswith("A completed")]
    assert caption.startswith("A completed blastn search has: Hits (TSV), Hits (CSV), Hits (JSON), Pairwise")
    assert "SAM (outfmt 17)" in caption and "queries without hits" in caption
