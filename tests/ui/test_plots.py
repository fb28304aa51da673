"""The plot builders: what each chart encodes, checked on its Vega-Lite spec."""

from __future__ import annotations

from typing import Any

from ui import plots
from ui.hit_table import hits_frame


def _frame(seeded: Any):
    return hits_frame(seeded.hits(queries=3, per_query=4))


def test_overview_draws_one_bar_per_hit_along_the_query_coloured_by_evalue(seeded: Any) -> None:
    spec = plots.overview_chart(_frame(seeded), "SINV_00002-PA").to_dict()
    query_layer, hits_layer = spec["layer"]
    assert spec["title"] == "Graphical overview: SINV_00002-PA"
    assert hits_layer["encoding"]["x"]["field"] == "Start" and hits_layer["encoding"]["x2"]["field"] == "End"
    assert hits_layer["encoding"]["x"]["scale"]["domain"] == [0, 300]  # the query's length
    assert hits_layer["encoding"]["color"]["field"] == "-log10 E"
    hits = spec["datasets"][hits_layer["data"]["name"]]
    assert [(h["Start"], h["End"]) for h in hits] == [(1, 150), (38, 187), (75, 224), (112, 261)]
    assert [h["Row"] for h in hits] == [1, 2, 3, 4]
    assert spec["datasets"][query_layer["data"]["name"]] == [
        {"Start": 1, "End": 300, "Row": 0, "Label": "SINV_00002-PA (300)"}
    ]


def test_hits_per_query_and_distributions(seeded: Any) -> None:
    frame = _frame(seeded)
    per_query = plots.hits_per_query_chart(frame).to_dict()
    assert per_query["encoding"]["y"]["field"] == "Query" and per_query["encoding"]["x"]["field"] == "Hits"
    assert [row["Hits"] for row in next(iter(per_query["datasets"].values()))] == [4, 4, 4]
    evalues = plots.evalue_chart(frame).to_dict()
    assert evalues["encoding"]["x"]["bin"] == {"maxbins": 40}
    assert sorted({round(r["-log10 E"]) for r in next(iter(evalues["datasets"].values()))}) == [12, 24, 36, 48]
    identity = plots.identity_chart(frame).to_dict()
    assert identity["encoding"]["x"]["field"] == "% identity"
