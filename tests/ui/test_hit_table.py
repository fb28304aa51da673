"""The hits table's column names, the e-value score of the plots, and hit text sanitised for the page."""

from __future__ import annotations

import pandas as pd

from blastflow import hit_query
from tests.sanitise_corpus import ACCOUNT_KEY, GITHUB_TOKEN
from ui.hit_table import HIT_TABLE_COLUMNS, neg_log10_evalue, shown_hits


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


def test_the_page_gets_hit_text_sanitised_and_the_rows_read_stay_as_blast_wrote_them() -> None:
    raw = f"\x1b[31mkinase\x1b[0m \x1b]8;;https://evil.example/\x07link\x1b]8;;\x07 AccountKey={ACCOUNT_KEY};"
    rows = pd.DataFrame({"Query": [GITHUB_TOKEN, "q2"], "Subject": ["token=abc123def456", "s2"],
                         "Description": [raw, None], "E-value": [1e-50, 1e-3]})  # fmt: skip
    shown = shown_hits(rows)
    assert shown["Description"].tolist()[0] == "kinase link AccountKey=***;"
    assert shown["Query"].tolist() == ["***", "q2"] and shown["Subject"].tolist() == ["token=***", "s2"]
    assert pd.isna(shown["Description"].tolist()[1]) and shown["E-value"].tolist() == [1e-50, 1e-3]
    assert rows["Description"].tolist()[0] == raw and rows["Query"].tolist()[0] == GITHUB_TOKEN  # a copy
