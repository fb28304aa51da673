"""The hits table's column names and the e-value score of the plots."""

from __future__ import annotations

from blastflow import hit_query
from ui.hit_table import HIT_TABLE_COLUMNS, neg_log10_evalue


def test_the_descriptions_columns_come_first_and_are_the_queries_columns() -> None:
    assert list(HIT_TABLE_COLUMNS.values())[:8] == [
        "Query",
        "Subject",
        "Description",
        "% identity",
        "Alignment length",
        "E-value",
        "Bit score",
        "Query coverage %",
    ]
    assert HIT_TABLE_COLUMNS is hit_query.HIT_TABLE_COLUMNS  # one list of names for the page and the queries


def test_evalues_score_as_minus_log10_with_zero_capped_at_300() -> None:
    assert [neg_log10_evalue(e) for e in (1e-50, 1e-5, 1.0, 10.0)] == [50.0, 5.0, 0.0, -1.0]
    assert neg_log10_evalue(0.0) == neg_log10_evalue(1e-320) == 300.0
