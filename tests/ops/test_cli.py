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
