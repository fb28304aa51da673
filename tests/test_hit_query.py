"""The page's questions over hits.parquet, answered by DuckDB: counts, pages, sorts, filters, bins, per query."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow import hit_query
from blastflow.hit_query import HitFilter
from blastflow.hits import Hit, tsv_to_parquet, write_hits


def _hit(query: str, subject: str, evalue: float, identity: float, bits: float, q: tuple[int, int] = (1, 100)) -> Hit:
    return Hit(query, subject, identity, 100, 1, 0, q[0], q[1], 1, 100, evalue, bits, 80.0, 300, 400,
               f"{subject} kinase")  # fmt: skip


HITS = [
    _hit("q1", "s1", 1e-50, 99.0, 180.0),
    _hit("q1", "s2", 1e-5, 40.0, 60.0, (250, 120)),
    _hit("q2", "s3", 0.0, 100.0, 400.0),
    _hit("q1", "s4", 1e-20, 70.0, 90.0),
    _hit("q3", "s5", 5.0, 25.0, 20.0),
    _hit("q3", "s6", 1e-20, 65.0, 95.0),  # same e-value as s4: file order breaks the tie
]


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hit_query")
    write_hits(base / "hits.tsv", HITS)
    tsv_to_parquet(base / "hits.tsv", base / "hits.parquet")
    return base / "hits.parquet"


def test_totals_and_filtered_counts(parquet: Path) -> None:
    assert hit_query.totals(parquet) == (6, 3)
    assert hit_query.count_hits(parquet) == 6
    assert hit_query.count_hits(parquet, HitFilter(text="S3 KIN")) == 1  # any case, across the columns
    assert hit_query.count_hits(parquet, HitFilter(max_evalue=1e-10)) == 4
    assert hit_query.count_hits(parquet, HitFilter(min_identity=75)) == 2
    assert hit_query.count_hits(parquet, HitFilter("q1", 1e-10, 75)) == 1


def test_a_page_is_sorted_with_file_order_for_ties_and_has_the_people_columns(parquet: Path) -> None:
    rows = hit_query.page(parquet)
    assert list(rows.columns) == list(hit_query.HIT_TABLE_COLUMNS.values())
    assert rows["Subject"].tolist() == ["s3", "s1", "s4", "s6", "s2", "s5"]  # e-value ascending
    down = hit_query.page(parquet, sort="Bit score", descending=True)
    assert down["Bit score"].tolist() == [400.0, 180.0, 95.0, 90.0, 60.0, 20.0]
    assert hit_query.page(parquet, sort="Query", limit=3)["Subject"].tolist() == ["s1", "s2", "s4"]


def test_paging_walks_the_filtered_rows_without_gaps(parquet: Path) -> None:
    pages = [hit_query.page(parquet, sort="E-value", offset=o, limit=4)["Subject"].tolist() for o in (0, 4, 8)]
    assert pages == [["s3", "s1", "s4", "s6"], ["s2", "s5"], []]
    only_q1 = hit_query.page(parquet, HitFilter(text="q1"), offset=1, limit=1)
    assert only_q1["Subject"].tolist() == ["s4"]
    with pytest.raises(ValueError, match="offset ≥ 0"):
        hit_query.page(parquet, offset=-1)


@pytest.mark.parametrize("sort", ["evalue; DROP TABLE hits", "E-value DESC, (SELECT 1)", "evalue", "1"])
def test_a_sort_outside_the_columns_is_refused(parquet: Path, sort: str) -> None:
    with pytest.raises(ValueError, match=r"cannot sort by .*choose one of Query, Subject"):
        hit_query.page(parquet, sort=sort)


def test_filter_text_is_a_value_never_sql(parquet: Path) -> None:
    for text in ("' OR 1=1 --", "%", "_", "kinase'; DROP TABLE x; --"):
        assert hit_query.count_hits(parquet, HitFilter(text=text)) == 0
        assert hit_query.page(parquet, HitFilter(text=text)).empty
    assert hit_query.query_names(parquet, "' OR '1'='1") == []


def test_histograms_are_binned_counts_of_every_hit(parquet: Path) -> None:
    identity = hit_query.identity_histogram(parquet, bins=4)
    assert identity.to_dict("records") == [  # empty bins are left out: 0–25 has none
        {"From": 25.0, "To": 50.0, "Hits": 2},  # 25.0 is a bin's lower edge: in it
        {"From": 50.0, "To": 75.0, "Hits": 2},
        {"From": 75.0, "To": 100.0, "Hits": 2},  # 100 falls in the last bin
    ]
    evalue = hit_query.evalue_histogram(parquet, bins=10)
    assert evalue["Hits"].sum() == 6
    assert evalue["From"].iloc[0] == pytest.approx(-0.69897, abs=1e-4)  # -log10(5), the worst hit
    assert evalue["To"].iloc[-1] == pytest.approx(300.0)  # e-value 0 capped at 300
    assert (evalue["To"] > evalue["From"]).all()


def test_hits_per_query_and_the_query_picker(parquet: Path) -> None:
    assert hit_query.hits_per_query(parquet).to_dict("records") == [
        {"Query": "q1", "Hits": 3},
        {"Query": "q3", "Hits": 2},
        {"Query": "q2", "Hits": 1},
    ]
    assert hit_query.hits_per_query(parquet, top=1)["Query"].tolist() == ["q1"]
    assert hit_query.query_names(parquet) == ["q1", "q3", "q2"]
    assert hit_query.query_names(parquet, "Q2") == ["q2"]
    assert hit_query.query_names(parquet, limit=2) == ["q1", "q3"]


def test_overview_rows_one_bar_per_hit_best_first_on_the_query_axis(parquet: Path) -> None:
    rows = hit_query.overview_rows(parquet, "q1")
    assert rows["Subject"].tolist() == ["s1", "s4", "s2"] and rows["Row"].tolist() == [1, 2, 3]
    assert rows[["Start", "End"]].values.tolist() == [[1, 100], [1, 100], [120, 250]]  # minus strand: ordered
    assert rows["-log10 E"].tolist() == [50.0, 20.0, 5.0]
    assert hit_query.overview_rows(parquet, "q2")["-log10 E"].tolist() == [300.0]
    assert len(hit_query.overview_rows(parquet, "q1", limit=2)) == 2
    assert hit_query.overview_rows(parquet, "nobody").empty


def test_top_hits_and_the_queries_with_hits(parquet: Path) -> None:
    best = hit_query.top_hits(parquet, limit=3)
    assert [row["subject"] for row in best] == ["s3", "s1", "s6"]  # s6 ties s4's e-value with more bits
    assert Hit(**best[0]) == HITS[2]  # every field, by its Hit name
    assert hit_query.queries_with_hits(parquet) == {h.query for h in HITS}
