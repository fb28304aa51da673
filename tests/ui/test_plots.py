"""The plot builders: what each chart encodes, checked on its Vega-Lite spec, from DuckDB's aggregated rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blastflow import hit_query
from blastflow.hits import tsv_to_parquet, write_hits
from ui import plots


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.ui.conftest import sample_hits

    base = tmp_path_factory.mktemp("plots")
    write_hits(base / "hits.tsv", sample_hits(queries=3, per_query=4))
    tsv_to_parquet(base / "hits.tsv", base / "hits.parquet")
    return base / "hits.parquet"


def _data(spec: dict[str, Any], layer: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return spec["datasets"][(layer or spec)["data"]["name"]]


def test_overview_draws_one_bar_per_hit_along_the_query_coloured_by_evalue(parquet: Path) -> None:
    rows = hit_query.overview_rows(parquet, "SINV_00002-PA")
    spec = plots.overview_chart(rows, "SINV_00002-PA").to_dict()
    query_layer, hits_layer = spec["layer"]
    assert spec["title"] == "Graphical overview: SINV_00002-PA"
    assert hits_layer["encoding"]["x"]["field"] == "Start" and hits_layer["encoding"]["x2"]["field"] == "End"
    assert hits_layer["encoding"]["x"]["scale"]["domain"] == [0, 300]  # the query's length
    assert hits_layer["encoding"]["color"]["field"] == "-log10 E"
    hits = _data(spec, hits_layer)
    assert [(h["Start"], h["End"]) for h in hits] == [(1, 150), (38, 187), (75, 224), (112, 261)]
    assert [h["Row"] for h in hits] == [1, 2, 3, 4]
    assert _data(spec, query_layer) == [{"Start": 1, "End": 300, "Row": 0, "Label": "SINV_00002-PA (300)"}]


def test_hits_per_query_and_distributions_draw_aggregated_rows(parquet: Path) -> None:
    per_query = plots.hits_per_query_chart(hit_query.hits_per_query(parquet)).to_dict()
    assert per_query["encoding"]["y"]["field"] == "Query" and per_query["encoding"]["x"]["field"] == "Hits"
    assert [row["Hits"] for row in _data(per_query)] == [4, 4, 4]
    evalues = plots.evalue_chart(hit_query.evalue_histogram(parquet)).to_dict()
    assert (evalues["encoding"]["x"]["field"], evalues["encoding"]["x2"]["field"]) == ("From", "To")
    bins = _data(evalues)
    assert sum(b["Hits"] for b in bins) == 12 and len(bins) == 4  # one bin per e-value: 1e-48 … 1e-12
    identity = plots.identity_chart(hit_query.identity_histogram(parquet)).to_dict()
    assert identity["encoding"]["y"]["field"] == "Hits"
    assert sum(b["Hits"] for b in _data(identity)) == 12 and len(_data(identity)) <= 40
