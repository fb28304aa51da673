"""The hits files: `hits.tsv` converted, streaming, to `hits.parquet` with every row, in order, typed."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from blastflow.hits import HIT_COLUMNS, HIT_SCHEMA, Hit, read_hits, tsv_to_parquet, write_hits


def _hit(n: int, description: str = "kinase") -> Hit:
    return Hit(f"q{n % 3}", f"s{n}", description, 90.5, 100, 1, 0, 1, 100, 5, 104, 10.0**-n, 50.0 + n, 80.0, 120, 300)


def test_every_row_in_order_with_awkward_titles(tmp_path: Path) -> None:
    """Tabs, quotes, pipes and markup in a title survive both files; numbers keep their types."""
    titles = ['a "quoted" title', "tab\tinside", "pipe | and <b>markup</b>", "comma, semicolon;", "plain"]
    hits = [_hit(n, titles[n % len(titles)]) for n in range(50)]
    write_hits(tmp_path / "hits.tsv", hits)
    assert tsv_to_parquet(tmp_path / "hits.tsv", tmp_path / "hits.parquet") == 50
    table = pq.read_table(tmp_path / "hits.parquet")
    assert table.schema.equals(HIT_SCHEMA)
    assert [Hit(**row) for row in table.to_pylist()] == hits == read_hits(tmp_path / "hits.tsv")


def test_many_blocks_keep_their_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("blastflow.hits._BLOCK_BYTES", 4096)  # many small blocks, as a large file has
    hits = [_hit(n) for n in range(2_000)]
    write_hits(tmp_path / "hits.tsv", hits)
    tsv_to_parquet(tmp_path / "hits.tsv", tmp_path / "hits.parquet")
    parquet = pq.ParquetFile(tmp_path / "hits.parquet")
    assert parquet.metadata.num_row_groups > 1
    assert parquet.read().column("subject").to_pylist() == [h.subject for h in hits]


def test_an_empty_search_gives_an_empty_file_with_the_schema(tmp_path: Path) -> None:
    write_hits(tmp_path / "hits.tsv", [])
    assert tsv_to_parquet(tmp_path / "hits.tsv", tmp_path / "hits.parquet") == 0
    table = pq.read_table(tmp_path / "hits.parquet")
    assert table.num_rows == 0 and table.schema.equals(HIT_SCHEMA)
    (tmp_path / "blank.tsv").write_text("")
    assert tsv_to_parquet(tmp_path / "blank.tsv", tmp_path / "blank.parquet") == 0
    assert tuple(pq.read_table(tmp_path / "blank.parquet").column_names) == HIT_COLUMNS


def test_a_file_that_is_not_hits_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "other.tsv").write_text("name\tvalue\nx\t1\n")
    with pytest.raises(ValueError, match="is not a blastflow hits file"):
        tsv_to_parquet(tmp_path / "other.tsv", tmp_path / "hits.parquet")
    write_hits(tmp_path / "hits.tsv", [_hit(1)])
    with (tmp_path / "hits.tsv").open("a") as handle:
        handle.write("q1\ts1\tbroken row\tnot-a-number\n")
    with pytest.raises(ValueError, match="does not fit the hits columns"):
        tsv_to_parquet(tmp_path / "hits.tsv", tmp_path / "hits.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.tsv", "other.tsv"]  # no partial Parquet file
