"""The job page under Streamlit's AppTest, against a seeded SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.testing.v1 import AppTest, local_script_runner
from streamlit.testing.v1.element_tree import Block, Node

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import PHASE_MESSAGES, Phase, StepName, new_job_id

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


@pytest.fixture
def page(seeded: Any, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    monkeypatch.setenv("BLASTFLOW_PREFECT_UI_URL", "http://127.0.0.1:4200")

    def open_page(job_id: str, tab: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        at.query_params["job"] = job_id
        if tab is not None:
            at.query_params["tab"] = tab
        at.run()
        assert not at.exception, at.exception
        return at

    return open_page


def _reload(at: AppTest) -> AppTest:
    """The browser's reload: a new session on the URL the page left in the address bar."""
    again = AppTest.from_file(APP, default_timeout=30)
    again.query_params.update(at.query_params)
    again.run()
    assert not again.exception, again.exception
    return again


@pytest.fixture
def refresh_every(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """Per run of a page, the refresh interval it sent the browser (fix N); None: it sent none, refreshing stops."""
    sent: list[float | None] = []
    parse = local_script_runner.parse_tree_from_messages

    def spy(messages: list[ForwardMsg]) -> Any:
        intervals = [m.auto_rerun.interval for m in messages if m.HasField("auto_rerun")]
        sent.append(intervals[-1] if intervals else None)
        return parse(messages)

    monkeypatch.setattr(local_script_runner, "parse_tree_from_messages", spy)
    return sent


def _nodes(node: Node, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Node]]:
    for index, child in getattr(node, "children", {}).items():
        yield (*path, index), child
        yield from _nodes(child, (*path, index))


def _console_block(at: AppTest, step: str = "run") -> tuple[tuple[int, ...], Block]:
    """The block around a step's console, and its place on the page (the browser keeps a block by its place)."""
    (found,) = [
        (path, node)
        for path, node in _nodes(at.main)
        if type(node) is Block and node.proto is not None and node.proto.id.endswith(f"-console_{step}")
    ]
    return found


def _texts(at: AppTest) -> list[str]:
    return [e.value for e in at.text] + [e.value for e in at.code] + [e.value for e in at.caption]


def test_running_job_spins_on_the_run_step_only_and_tails_its_log(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.running()
    at = page(job_id)
    assert at.subheader[0].value == "Fire ant transcripts vs proteins"
    assert "BLAST is running on the batches…" in _texts(at)
    steps = {e.label: e for e in at.expander}
    assert [label for label, e in steps.items() if e.icon == "spinner"] == ["BLAST run"]
    assert [label for label, e in steps.items() if e.proto.expanded] == ["BLAST run"]
    (bar,) = at.get("progress")  # issue 15: a real bar of the batches finished, and one line beside it
    assert bar.proto.value == 40
    assert "2 of 5 batches done" in _texts(at)
    assert not [text for text in _texts(at) if "batches finished" in text], "no second progress line"
    (console,) = at.code  # one console block: the open step's, from the log table
    assert console.value.splitlines() == ["batch_000: started", "batch_001: started", seeded.HOSTILE]
    _, block = _console_block(at)
    assert block.proto.autoscroll  # fix M: the console follows the tail while the user is at its bottom
    assert block.proto.height_config.pixel_height > 0  # a fixed height: it scrolls inside itself, not the page
    assert [child.value for child in block.children.values()] == [console.value]
    (link,) = at.get("link_button")
    assert link.proto.url == "http://127.0.0.1:4200/runs/flow-run/5a9e2c1d-0000-4000-8000-000000000001"
    assert not at.error  # no failure banner


def test_new_log_lines_appear_once_on_the_next_refresh(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.running()
    at = page(job_id)
    place, _ = _console_block(at)
    seeded.log(job_id, StepName.RUN, ["batch_002: started", "batch_000: done"])
    seeded.store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(message="3 of 5 batches done")}))
    at.run()
    lines = at.code[0].value.splitlines()
    assert lines[-2:] == ["batch_002: started", "batch_000: done"]
    assert len(lines) == len(set(lines)) == 5
    # Fix M: the same block in the same place, so the browser keeps its scroll position and follows on.
    assert _console_block(at)[0] == place and _console_block(at)[1].proto.autoscroll


def test_failed_job_with_an_orphan_step_shows_the_real_error_and_no_spinner(
    seeded: Any, page: Callable[..., AppTest]
) -> None:
    job_id = seeded.failed_with_orphan()
    at = page(job_id)
    assert all(e.icon != "spinner" for e in at.expander)
    submit = next(e for e in at.expander if e.label.startswith("Submit job"))
    assert submit.label == "Submit job · stopped when the job failed" and submit.icon == ":material/error:"
    assert [e.label for e in at.expander if e.proto.expanded] == [submit.label]
    assert at.error[0].value == "Job failed at Submit job"
    assert not at.get("link_button")  # no flow run id, no Prefect link
    assert at.code[0].value == seeded.ATTRIBUTE_ERROR
    assert "azcopy" not in at.code[0].value
    # the benign line is still in the step's console, as plain text without its colour codes
    assert at.code[-1].value.splitlines()[-1] == "[parallel-prep] running 4 azcopy checks concurrently"
    assert PHASE_MESSAGES[Phase.FAILED] in _texts(at)


def test_job_text_is_never_markup(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.failed_with_orphan()
    at = page(job_id)
    heading = at.subheader[0].value
    assert "<script>" not in heading and r"\<script\>" in heading  # escaped: Markdown shows it as text
    assert "**bold**" not in heading


def test_completed_job_opens_on_descriptions_with_the_hits_table(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.completed()
    at = page(job_id)
    assert at.session_state["tab"] == "Descriptions"
    (table,) = at.dataframe
    frame = table.value
    assert len(frame) == 12
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
    assert seeded.HOSTILE in frame["Description"].tolist()  # a cell holds text, whatever it looks like
    caption = "rows 1–12 of 12 filtered (12 total; 3 queries with hits); page 1 of 1."
    assert any(text.startswith(caption) for text in _texts(at))
    at.text_input(key="hits_filter").input("SINV_00002").run()
    assert len(at.dataframe[0].value) == 4
    at.selectbox(key="hits_evalue").select("≤ 1e-20").run()
    assert at.dataframe[0].value["Subject"].tolist() == [
        "sp|P20001|KIN1_HUMAN",
        "sp|P20002|KIN2_HUMAN",
        "sp|P20003|KIN3_HUMAN",
    ]


def test_plots_and_downloads_tabs(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.completed()
    at = page(job_id, tab="Plots")
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4  # overview, e-value, identity, hits per query
    assert at.selectbox(key="overview_query").value == "SINV_00001-PA"
    at = page(job_id, tab="Downloads")
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Hits (TSV)", "Hits (CSV)", "Hits (JSON)", "Pairwise alignments (outfmt 0)",
                      "BLAST XML (outfmt 5)", "Tabular with comments (outfmt 7)",
                      "BLAST archive (ASN.1, outfmt 11)"]  # blastx: no SAM


def test_completion_while_on_run_switches_to_descriptions_once(
    seeded: Any, page: Callable[..., AppTest], refresh_every: list[float | None]
) -> None:
    job_id = seeded.running()
    at = page(job_id)
    assert at.session_state["tab"] == "Run" and at.query_params["tab"] == "Run"  # the URL names the tab, Run too
    results = seeded.tmp / job_id / "results"
    results.mkdir(parents=True)
    from blastflow.hits import HITS_FILE, write_hits

    write_hits(results / HITS_FILE, seeded.hits(2, 2))
    seeded.complete(job_id, results)
    at.run()
    assert not at.exception
    assert at.session_state["tab"] == "Descriptions" and at.query_params["tab"] == "Descriptions"
    assert len(at.dataframe[0].value) == 4
    assert refresh_every[-1] == 10.0  # fix N: completed, the page still refreshes for the late pod-log backfill
    # The user clicks Run: the page stays there through later refreshes, and the URL says so.
    at.session_state["tab"] = "Run"
    at.run()
    at.run()
    assert at.session_state["tab"] == "Run" and at.query_params["tab"] == "Run"
    assert all(e.icon != "spinner" for e in at.expander)
    assert not at.dataframe
    assert _reload(at).session_state["tab"] == "Run"  # fix L2: a reload does not flip back to Descriptions


def test_a_reload_keeps_the_tab_the_user_chose(seeded: Any, page: Callable[..., AppTest]) -> None:
    """Fix L2: a reload is a new session that never saw the job live, so it opens on the tab in the URL."""
    job_id = seeded.completed()
    at = page(job_id)  # a link without a tab: a completed job opens on its results
    assert at.session_state["tab"] == "Descriptions"
    at.session_state["tab"] = "Run"  # the user goes to the timeline
    at.run()
    reloaded = _reload(at)
    reloaded.run()  # and a refresh after it
    assert reloaded.session_state["tab"] == "Run"
    assert not reloaded.dataframe and any(e.label.startswith("Finalize & export") for e in reloaded.expander)
    assert at.query_params["tab"] == reloaded.query_params["tab"] == "Run"  # because the URL names it, Run too


def test_a_reload_reads_fresh_state(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.running()
    at = page(job_id)
    seeded.store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(message="4 of 5 batches done")}))
    at.run()
    assert "4 of 5 batches done" in _texts(at)


def test_hundred_thousand_line_log_renders_only_the_bounded_tail(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.long_log(100_000)
    at = page(job_id)
    (console,) = at.code
    lines = console.value.splitlines()
    assert len(lines) == 2_000
    assert lines[0] == "pod batch_001: line 98001" and lines[-1] == "pod batch_005: line 100000"
    assert "98,000 earlier lines not shown; the newest 2,000 follow." in _texts(at)
    seeded.log(job_id, StepName.RUN, ["one more line"])
    at.run()
    lines = at.code[0].value.splitlines()
    assert len(lines) == 2_000 and lines[-1] == "one more line" and lines[0] == "pod batch_002: line 98002"


def test_unknown_and_malformed_job_ids(
    seeded: Any, page: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page(new_job_id())
    assert "There is no job with this id in the store (yet)." in at.warning[0].value
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["job"] = "<script>"
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("The link does not name a job")


def test_submitted_shows_wait_for_pods_active_with_its_message(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = new_job_id()
    for phase in (Phase.PREPARING, Phase.SUBMITTING, Phase.SUBMITTED):
        seeded.store.update(job_id, JobUpdate(job_id=job_id, phase=phase, title="Waiting"))
    at = page(job_id)
    spinning = [e.label for e in at.expander if e.icon == "spinner"]
    assert spinning == ["Wait for pods"]
    assert PHASE_MESSAGES[Phase.SUBMITTED] in _texts(at)
    assert "Job accepted by the cluster. Waiting for pods to start running…" in _texts(at)


def test_results_in_a_bucket_say_where_they_are(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.running()
    seeded.store.update(
        job_id,
        JobUpdate(phase=Phase.COMPLETED, results_location="https://acct.blob.core.windows.net/results/run-1"),
    )
    at = page(job_id)
    assert at.session_state["tab"] == "Descriptions"
    assert at.info[0].value == "The results are not on this machine. They are stored at:"
    assert "https://acct.blob.core.windows.net/results/run-1" in [c.value for c in at.code]
    assert not at.dataframe


def test_a_search_without_hits(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.completed(hits=[])
    at = page(job_id)
    assert at.info[0].value.startswith("The search found no hits")
    at = page(job_id, tab="Downloads")
    assert [b.proto.label for b in at.get("download_button")][:2] == ["Hits (TSV)", "Hits (CSV)"]


def test_refresh_follows_the_job_and_stops_five_minutes_after_the_end(
    seeded: Any, page: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch, refresh_every: list[float | None]
) -> None:
    live = seeded.running()
    just_done = seeded.completed()
    # A job that ended ten minutes ago, written through the store at that time (the store's own clock).
    from blastflow.store import optimistic

    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    with monkeypatch.context() as clock:
        clock.setattr(optimistic, "utcnow", lambda: ten_minutes_ago)
        long_done = seeded.completed()
    intervals = {}
    for name, job_id in (("live", live), ("just done", just_done), ("long done", long_done)):
        wanted = page(job_id).session_state[f"refresh:{job_id}"]
        intervals[name] = (wanted, refresh_every[-1])  # what the page wants, and what it sent the browser
    assert intervals == {"live": (2.0, 2.0), "just done": (10.0, 10.0), "long done": (None, None)}


def test_header_shows_the_code_version_that_ran_the_job(seeded: Any, page: Callable[..., AppTest]) -> None:
    job_id = seeded.running()
    seeded.store.update(job_id, JobUpdate(code_version="0.1.0+abc123def456"))
    at = page(job_id)
    assert any("code 0.1.0+abc123def456" in text for text in _texts(at))
