"""The Descriptions tab over a search's hits.parquet: paged, sorted and filtered server-side, rows open alignments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from blastflow.hits import PARQUET_FILE
from ui import results
from ui.alignments import ALIGN_QUERY_KEY, ALIGN_SUBJECT_KEY

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


@pytest.fixture
def descriptions(seeded: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[AppTest, Any]:
    """The Descriptions tab of a completed job with 300 hits (30 queries × 10), as a finished job before
    hits.parquet existed: only hits.tsv (the page converts it)."""
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    job_id = seeded.completed(hits=seeded.hits(queries=30, per_query=10))
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["job"] = job_id
    at.run()
    assert not at.exception, at.exception
    return at, seeded.store.get(job_id)


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("rows "))


def test_a_finished_job_with_only_a_tsv_is_converted_once(descriptions: tuple[AppTest, Any]) -> None:
    at, job = descriptions
    parquet = Path(job.results_location) / PARQUET_FILE
    assert parquet.is_file()
    made = parquet.stat().st_mtime_ns
    at.run()
    assert parquet.stat().st_mtime_ns == made  # read, not written again
    assert _caption(at).startswith("rows 1–100 of 300 filtered (300 total; 30 queries with hits); page 1 of 3.")


def test_paging_controls_change_the_rows_shown(descriptions: tuple[AppTest, Any]) -> None:
    at, _ = descriptions
    first = at.dataframe[0].value
    assert len(first) == 100
    at.number_input(key="hits_page").set_value(3).run()
    third = at.dataframe[0].value
    assert _caption(at).startswith("rows 201–300 of 300 filtered")
    assert set(zip(first["Query"], first["Subject"], strict=True)).isdisjoint(
        zip(third["Query"], third["Subject"], strict=True)
    )
    at.selectbox(key="hits_page_size").select(500).run()  # a new page size starts at page 1
    assert len(at.dataframe[0].value) == 300 and _caption(at).startswith("rows 1–300 of 300")


def test_a_filter_changes_the_count_and_goes_back_to_page_one(descriptions: tuple[AppTest, Any]) -> None:
    at, _ = descriptions
    at.number_input(key="hits_page").set_value(2).run()
    at.text_input(key="hits_filter").input("SINV_00002-PA").run()
    assert _caption(at).startswith("rows 1–10 of 10 filtered (300 total")
    assert set(at.dataframe[0].value["Query"]) == {"SINV_00002-PA"}
    at.selectbox(key="hits_evalue").select("≤ 1e-20").run()
    assert _caption(at).startswith("rows 1–3 of 3 filtered")  # 1e-48, 1e-36, 1e-24
    at.text_input(key="hits_filter").input("no such hit").run()
    assert _caption(at).startswith("rows 0–0 of 0 filtered") and at.dataframe[0].value.empty


def test_sorting_by_evalue_both_ways_and_by_another_column(descriptions: tuple[AppTest, Any]) -> None:
    at, _ = descriptions
    evalues = at.dataframe[0].value["E-value"].tolist()
    assert evalues == sorted(evalues) and evalues[0] == 1e-48  # the default: best e-value first
    at.radio(key="hits_order").set_value("Descending").run()
    evalues = at.dataframe[0].value["E-value"].tolist()
    assert evalues == sorted(evalues, reverse=True) and evalues[0] == 0.1
    at.selectbox(key="hits_sort").select("Subject")
    at.radio(key="hits_order").set_value("Ascending").run()
    subjects = at.dataframe[0].value["Subject"].tolist()
    assert subjects == sorted(subjects)


def test_selecting_a_row_sets_the_alignment_keys_and_opens_the_alignments_tab(
    descriptions: tuple[AppTest, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AppTest cannot click a dataframe row: the selection callback runs on the state the page left."""
    at, _ = descriptions
    at.number_input(key="hits_page").set_value(2).run()
    shown = at.session_state["hits_shown"]
    table = at.dataframe[0].value
    assert shown == list(zip(table["Query"], table["Subject"], strict=True))  # the rows on the page, in order
    state: dict[str, Any] = {"hits_table": {"selection": {"rows": [3]}}, "hits_shown": shown, "tab": "Descriptions"}
    monkeypatch.setattr(results.st, "session_state", state)
    results._open_alignment()
    assert (state[ALIGN_QUERY_KEY], state[ALIGN_SUBJECT_KEY]) == shown[3]
    assert state["tab"] == "Alignments"
    assert results.selected_hit([100], shown) is None  # a row no longer shown opens nothing


def test_a_search_without_hits_says_so_on_descriptions_and_plots(seeded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    job_id = seeded.completed(hits=[])
    for tab, said in (("Descriptions", "The search found no hits"), ("Plots", "No hits to plot.")):
        at = AppTest.from_file(APP, default_timeout=30)
        at.query_params["job"], at.query_params["tab"] = job_id, tab
        at.run()
        assert not at.exception, at.exception
        assert at.info[0].value.startswith(said)
        assert not at.dataframe and not at.get("vega_lite_chart")


def test_the_queries_without_hits_are_counted_and_listed(descriptions: tuple[AppTest, Any]) -> None:
    at, job = descriptions
    assert not [e for e in at.expander if "without hits" in e.label]  # an older job: no list, nothing claimed
    (Path(job.results_location) / "no_hits.txt").write_text("SINV_09999-PA\n<b>odd</b>\n")
    at.run()
    (listed,) = [e for e in at.expander if "without hits" in e.label]
    assert listed.label == "2 queries without hits"
    assert [c.value for c in listed.code] == ["SINV_09999-PA\n<b>odd</b>"]  # as text
    (Path(job.results_location) / "no_hits.txt").write_text("")
    at.run()
    assert "Every query has at least one hit." in [c.value for c in at.caption]


FILE_SECRET = "hunter2-IN-A-LINKED-FILE"


@pytest.mark.parametrize("escape", ["another job's folder", "hits symlinked out", "archive symlinked out"])
def test_only_the_jobs_own_result_files_are_read(seeded: Any, monkeypatch: pytest.MonkeyPatch, escape: str) -> None:
    """A row naming another folder, or result files linked out of the folder, shows why and nothing of them."""
    from tests.doubles.faultkit import page_strings

    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    other = seeded.completed(hits=seeded.hits(queries=2, per_query=2))
    secret = seeded.tmp / "secret.tsv"
    secret.write_text(f"query\tsubject\n{FILE_SECRET}\tx\n")
    job_id = seeded.completed(hits=seeded.hits(queries=2, per_query=2))
    own = Path(seeded.store.get(job_id).results_location)
    if escape == "another job's folder":
        seeded.complete(job_id, Path(seeded.store.get(other).results_location))
        said = f"is not job {job_id}'s own results folder"
    else:
        name = "hits.tsv" if escape == "hits symlinked out" else "results.asn"
        (own / name).unlink()
        (own / PARQUET_FILE).unlink(missing_ok=True)
        (own / name).symlink_to(secret)
        said = f"'{name}' is not a file of the results folder"
    for tab in ("Descriptions", "Downloads", "Alignments"):
        at = AppTest.from_file(APP, default_timeout=30)
        at.query_params["job"], at.query_params["tab"] = job_id, tab
        at.run()
        assert not at.exception, at.exception
        shown = page_strings(at)
        assert any(said in text for text in shown), (tab, shown)
        assert not any(FILE_SECRET in text for text in shown)
