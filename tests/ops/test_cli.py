"""The CLI: what it hands the flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow.settings import get_settings
from ops.cli import INLINE_QUERY_MAX_CHARS, _query_argument


def test_small_fasta_text_and_paths_pass_as_they_are() -> None:
    assert _query_argument(">q1\nMKV\n") == ">q1\nMKV\n"
    assert _query_argument("data/sinvicta/Sinvicta2-2-3.prot.subset.fasta").endswith(".fasta")


def test_large_fasta_text_travels_as_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLASTFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    text = ">q1\n" + "ACGT" * (INLINE_QUERY_MAX_CHARS // 4) + "\n"
    try:
        argument = _query_argument(text)
    finally:
        get_settings.cache_clear()
    path = Path(argument)
    assert path.parent == tmp_path / "inputs" and path.read_text() == text


def test_run_reads_inputs_from_its_own_directory_and_nowhere_else(
    pipeline, sample_fasta: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset BLASTFLOW_INPUT_ROOTS: `blastflow run` adds the directory it runs in to the data dir and samples."""
    import shutil

    from typer.testing import CliRunner

    from ops.cli import app

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    for place in (work, elsewhere):
        place.mkdir()
    shutil.copy(sample_fasta["query_prot"], work / "q.fasta")
    shutil.copy(sample_fasta["db_prot"], work / "db.fasta")
    monkeypatch.delenv("BLASTFLOW_INPUT_ROOTS")  # restored after the test, with what `run` set
    get_settings.cache_clear()
    monkeypatch.chdir(work)
    here = CliRunner().invoke(app, ["run", "--query", "q.fasta", "--db", "db.fasta", "--dry-run"])
    assert here.exit_code == 0, here.output

    monkeypatch.delenv("BLASTFLOW_INPUT_ROOTS")
    get_settings.cache_clear()
    monkeypatch.chdir(elsewhere)
    there = CliRunner().invoke(app, ["run", "--query", str(work / "q.fasta"), "--db", "db.fasta", "--dry-run"])
    assert there.exit_code == 1
    assert f"query '{work / 'q.fasta'}' is outside the directories" in there.output
    assert "BLASTFLOW_INPUT_ROOTS" in there.output
