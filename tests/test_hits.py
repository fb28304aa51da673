"""The hits files: `hits.tsv` converted, streaming, to `hits.parquet` with every row, in order, typed."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from blastflow.hits import (
    HIT_COLUMNS,
    HIT_SCHEMA,
    LEGACY_COLUMNS,
    Hit,
    hit_rows,
    is_legacy,
    parse_outfmt6,
    read_hits,
    tsv_to_parquet,
    write_hits,
)


def _hit(n: int, description: str = "kinase") -> Hit:
    return Hit(f"q{n % 3}", f"s{n}", 90.5, 100, 1, 0, 1, 100, 5, 104, 10.0**-n, 50.0 + n, 80.0, 120, 300, description)


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
    with pytest.raises(ValueError, match=r"is not a blastflow hits file: its first row 'name\\tvalue' has 2 fields"):
        tsv_to_parquet(tmp_path / "other.tsv", tmp_path / "hits.parquet")
    write_hits(tmp_path / "hits.tsv", [_hit(1)])
    with (tmp_path / "hits.tsv").open("a") as handle:
        handle.write("q1\ts1\tbroken row\tnot-a-number\n")
    with pytest.raises(ValueError, match="does not fit the hits columns"):
        tsv_to_parquet(tmp_path / "hits.tsv", tmp_path / "hits.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.tsv", "other.tsv"]  # no partial Parquet file


def test_the_layout_is_blast_tabular_with_the_title_last(tmp_path: Path) -> None:
    """No header; the 12 standard outfmt 6 columns, qcovs, qlen, slen, then the title (tabs and quotes as is)."""
    write_hits(tmp_path / "hits.tsv", [_hit(2, 'say "hi"\tthere')])
    assert (tmp_path / "hits.tsv").read_text() == (
        "q2\ts2\t90.5\t100\t1\t0\t1\t100\t5\t104\t0.01\t52.0\t80.0\t120\t300\tsay \"hi\"\tthere\n"
    )
    assert HIT_COLUMNS[:2] == ("query", "subject") and HIT_COLUMNS[-1] == "description"
    assert not is_legacy(tmp_path / "hits.tsv")


def test_blast_rows_parse_with_the_rest_of_the_line_as_the_title() -> None:
    row = "q1\ts1\t99.500\t100\t0\t0\t1\t100\t1\t100\t3.80e-149\t407\t100\t100\t120\ttitle\twith\ttabs\n"
    (hit,) = parse_outfmt6(["# a comment\n", row])
    assert (hit.description, hit.pct_identity, hit.evalue, hit.bitscore) == ("title\twith\ttabs", 99.5, 3.8e-149, 407.0)


def test_a_block_with_a_tabbed_title_among_plain_ones_keeps_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap tab count sends only blocks holding a tabbed title through the Python split; order is kept."""
    monkeypatch.setattr("blastflow.hits._BLOCK_BYTES", 512)
    hits = [_hit(n, "a\tb\tc" if n == 17 else f"plain {n}") for n in range(60)]
    write_hits(tmp_path / "hits.tsv", hits)
    assert tsv_to_parquet(tmp_path / "hits.tsv", tmp_path / "hits.parquet") == 60
    table = pq.read_table(tmp_path / "hits.parquet")
    assert [Hit(**row) for row in table.to_pylist()] == hits
    assert pq.ParquetFile(tmp_path / "hits.parquet").metadata.num_row_groups > 2


def test_a_hits_file_of_the_old_layout_is_still_read_the_old_way(tmp_path: Path) -> None:
    """Written before BLAST's own layout: a header row, description third, csv quoting ('"' doubled)."""
    hits = [_hit(1, 'a "quoted"\ttitle'), _hit(2)]
    lines = ["\t".join(LEGACY_COLUMNS)]
    for hit in hits:
        values = [str(getattr(hit, name)) for name in LEGACY_COLUMNS]
        values[2] = '"a ""quoted""\ttitle"' if hit.subject == "s1" else values[2]
        lines.append("\t".join(values))
    old = tmp_path / "old.tsv"
    old.write_text("\n".join(lines) + "\n")
    assert is_legacy(old)
    assert read_hits(old) == hits
    assert [row[0] for row in hit_rows(old)] == ["q1", "q2"]
    assert tsv_to_parquet(old, tmp_path / "old.parquet") == 2
    assert [Hit(**row) for row in pq.read_table(tmp_path / "old.parquet").to_pylist()] == hits
