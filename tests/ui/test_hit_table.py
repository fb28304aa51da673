"""The hits table of the results tabs: its columns, filters, per-query counts and overview bars."""

from __future__ import annotations

from blastflow.hits import Hit
from ui.hit_table import filter_hits, hits_frame, hits_per_query, neg_log10_evalue, overview_rows


def _hit(query: str, subject: str, evalue: float, identity: float = 90.0, q: tuple[int, int] = (1, 100)) -> Hit:
    return Hit(
        query, subject, f"{subject} kinase", identity, 100, 1, 0, q[0], q[1], 1, 100, evalue, 50.0, 80.0, 300, 400
    )


HITS = [
    _hit("q1", "s1", 1e-50, 99.0),
    _hit("q1", "s2", 1e-5, 40.0, (250, 120)),
    _hit("q2", "s3", 0.0, 100.0),
    _hit("q1", "s4", 1e-20, 70.0),
]


def test_hits_table_has_the_descriptions_columns_first() -> None:
    frame = hits_frame(HITS)
    assert list(frame.columns[:8]) == [
        "Query",
        "Subject",
        "Description",
        "% identity",
        "Alignment length",
        "E-value",
        "Bit score",
        "Query coverage %",
    ]
    assert len(frame) == 4 and frame["Subject"].tolist() == ["s1", "s2", "s3", "s4"]
    assert hits_frame([]).columns.tolist() == frame.columns.tolist()


def test_filter_hits_by_text_evalue_and_identity() -> None:
    frame = hits_frame(HITS)
    assert filter_hits(frame, "S3 KIN")["Subject"].tolist() == ["s3"]
    assert filter_hits(frame, max_evalue=1e-10)["Subject"].tolist() == ["s1", "s3", "s4"]
    assert filter_hits(frame, min_identity=75)["Subject"].tolist() == ["s1", "s3"]
    assert filter_hits(frame, "q1", 1e-10, 75)["Subject"].tolist() == ["s1"]


def test_hits_per_query_most_first() -> None:
    counts = hits_per_query(hits_frame(HITS))
    assert counts.to_dict("records") == [{"Query": "q1", "Hits": 3}, {"Query": "q2", "Hits": 1}]


def test_overview_rows_one_bar_per_hit_best_first_on_the_query_axis() -> None:
    rows = overview_rows(hits_frame(HITS), "q1")
    assert rows["Subject"].tolist() == ["s1", "s4", "s2"]
    assert rows["Row"].tolist() == [1, 2, 3]
    assert rows[["Start", "End"]].values.tolist() == [[1, 100], [1, 100], [120, 250]]  # minus strand: ordered
    assert rows["-log10 E"].tolist() == [50.0, 20.0, 5.0]
    zero = overview_rows(hits_frame(HITS), "q2")
    assert zero["-log10 E"].tolist() == [300.0]


def test_evalues_score_as_minus_log10_with_zero_capped_at_300() -> None:
    assert [neg_log10_evalue(e) for e in (1e-50, 1e-5, 1.0, 10.0)] == [50.0, 5.0, 0.0, -1.0]
    assert neg_log10_evalue(0.0) == neg_log10_evalue(1e-320) == 300.0
