"""The page's decisions, tested without Streamlit: banner text, step states, logs, refresh, tabs, lists, hits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from blastflow.hits import Hit
from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import (
    FAILURE_PHASES,
    PHASE_MESSAGES,
    STEP_ORDER,
    TERMINAL_PHASES,
    JobRecord,
    JobStatus,
    Phase,
    StepName,
    StepStatus,
    new_job_id,
)
from blastflow.store.base import LogLine
from ui import view

T0 = datetime(2026, 5, 22, 17, 28, 4, tzinfo=UTC)
ATTRIBUTE_ERROR = "AttributeError: module 'x' has no attribute '_tail_text'"
BENIGN = "\x1b[33m[parallel-prep] running 4 azcopy checks concurrently\x1b[0m"


def _job(*updates: JobUpdate, start: datetime = T0, step_s: float = 1.5) -> JobRecord:
    job = None
    for i, update in enumerate(updates):
        if i == 0 and update.job_id is None:
            update = update.model_copy(update={"job_id": new_job_id()})
        job = merge(job, update, start + timedelta(seconds=i * step_s))
    assert job is not None
    return job


def _submitting_with_benign_tail() -> JobRecord:
    return _job(
        JobUpdate(phase=Phase.PREPARING, title="ant proteins", program="blastp", database="swissprot"),
        JobUpdate(phase=Phase.SUBMITTING, steps={StepName.SUBMIT: StepUpdate(lines=["Starting helper…", BENIGN])}),
    )


def _orphan(job: JobRecord, phase: Phase = Phase.FAILED, error: str | None = ATTRIBUTE_ERROR) -> JobRecord:
    """The row a writer that bypassed the merge leaves: failed job, step still `running`."""
    return job.model_copy(update={"phase": phase, "status": JobStatus.FAILED, "error": error})


# --- failure banner (fix D) ------------------------------------------------------------------------------------


def test_banner_shows_the_job_error_not_the_benign_last_line_of_the_running_step() -> None:
    job = _orphan(_submitting_with_benign_tail())
    assert job.steps[StepName.SUBMIT].status is StepStatus.RUNNING
    assert "azcopy" in job.steps[StepName.SUBMIT].last_output
    banner = view.failure_banner(job)
    assert banner is not None
    assert banner.text == ATTRIBUTE_ERROR
    assert banner.heading == "Job failed at Submit job"


def test_banner_through_the_merge_shows_the_job_error_too() -> None:
    job = merge(_submitting_with_benign_tail(), JobUpdate(phase=Phase.FAILED, error=ATTRIBUTE_ERROR), T0)
    banner = view.failure_banner(job)
    assert banner is not None and banner.text == ATTRIBUTE_ERROR


def test_banner_falls_back_to_the_step_that_failed_by_itself_then_to_its_output() -> None:
    base = _submitting_with_benign_tail()
    own_error = merge(
        base,
        JobUpdate(steps={StepName.SUBMIT: StepUpdate(status=StepStatus.FAILED, error="exit 8: quota exceeded")}),
        T0,
    ).model_copy(update={"phase": Phase.SUBMIT_FAILED, "status": JobStatus.FAILED})
    assert view.failure_banner(own_error).text == "exit 8: quota exceeded"  # type: ignore[union-attr]
    only_output = _orphan(base, error=None)
    assert view.failure_banner(only_output).text == "[parallel-prep] running 4 azcopy checks concurrently"  # type: ignore[union-attr]
    nothing = _orphan(_job(JobUpdate(phase=Phase.QUEUED)), phase=Phase.WORKER_LOST, error=None)
    assert view.failure_banner(nothing).text == PHASE_MESSAGES[Phase.WORKER_LOST]  # type: ignore[union-attr]


def test_banner_prefers_the_error_code_over_step_output() -> None:
    job = _orphan(_submitting_with_benign_tail(), error=None).model_copy(update={"error_code": "OOMKilled"})
    assert view.failure_banner(job).text == "OOMKilled"  # type: ignore[union-attr]


def test_no_banner_unless_the_job_is_in_a_failure_phase() -> None:
    assert view.failure_banner(_submitting_with_benign_tail()) is None
    done = merge(_submitting_with_benign_tail(), JobUpdate(phase=Phase.COMPLETED), T0)
    assert view.failure_banner(done) is None


# --- timeline (fixes E, I, K, L) -------------------------------------------------------------------------------


@pytest.mark.parametrize(("phase", "status"), itertools.product(sorted(TERMINAL_PHASES), list(StepStatus)))
def test_a_terminal_job_never_shows_an_active_step(phase: Phase, status: StepStatus) -> None:
    job = _job(JobUpdate(phase=Phase.QUEUED))
    steps = {name: job.steps[name].model_copy(update={"status": status}) for name in STEP_ORDER}
    job = job.model_copy(update={"phase": phase, "steps": steps})
    views = view.timeline(job)
    assert all(v.state is not view.StepDisplay.ACTIVE for v in views)
    assert all(v.icon != "spinner" for v in views)
    if phase in FAILURE_PHASES and status is StepStatus.RUNNING:
        assert {v.state for v in views} == {view.StepDisplay.ERROR}
        assert all(v.detail == "stopped when the job failed" for v in views)


def test_failed_job_with_an_orphan_running_step_shows_it_failed_and_open() -> None:
    views = {v.name: v for v in view.timeline(_orphan(_submitting_with_benign_tail()))}
    assert views[StepName.SUBMIT].state is view.StepDisplay.ERROR
    assert views[StepName.SUBMIT].expanded
    assert views[StepName.PREPARE].state is view.StepDisplay.DONE
    assert not views[StepName.PREPARE].expanded


def test_submitted_shows_wait_for_pods_active_with_its_message() -> None:
    job = _job(JobUpdate(phase=Phase.PREPARING), JobUpdate(phase=Phase.SUBMITTING), JobUpdate(phase=Phase.SUBMITTED))
    views = {v.name: v for v in view.timeline(job)}
    wait = views[StepName.WAIT_FOR_PODS]
    assert wait.state is view.StepDisplay.ACTIVE and wait.icon == "spinner" and wait.expanded
    assert wait.detail == PHASE_MESSAGES[Phase.SUBMITTED]
    assert [v.name for v in views.values() if v.state is view.StepDisplay.ACTIVE] == [StepName.WAIT_FOR_PODS]
    # even on a row whose wait step was never marked running (the transit gap)
    raw = job.model_copy(deep=True)
    raw.steps[StepName.WAIT_FOR_PODS].status = StepStatus.PENDING
    assert view.resolve_step_state(Phase.SUBMITTED, StepName.WAIT_FOR_PODS, raw.steps[StepName.WAIT_FOR_PODS]) is (
        view.StepDisplay.ACTIVE
    )


def test_only_the_active_step_is_open_by_default() -> None:
    job = _job(JobUpdate(phase=Phase.PREPARING), JobUpdate(phase=Phase.SUBMITTING), JobUpdate(phase=Phase.RUNNING))
    assert [v.name for v in view.timeline(job) if v.expanded] == [StepName.RUN]
    done = merge(job, JobUpdate(phase=Phase.COMPLETED), T0 + timedelta(minutes=1))
    assert [v.name for v in view.timeline(done) if v.expanded] == []


def test_completed_steps_say_how_long_they_took_from_duration_ms_and_nothing_made_up() -> None:
    job = _job(
        JobUpdate(phase=Phase.PREPARING),
        JobUpdate(phase=Phase.SUBMITTING),
        JobUpdate(phase=Phase.SUBMITTED),
        JobUpdate(phase=Phase.RUNNING),
        JobUpdate(phase=Phase.FINALIZING),
        JobUpdate(phase=Phase.COMPLETED),
        step_s=12.3,
    )
    views = view.timeline(job)
    assert [v.title for v in views] == [
        "Prepare run · done in 12.3 s",
        "Submit job · done in 12.3 s",
        "Wait for pods · done in 12.3 s",
        "BLAST run · done in 12.3 s",
        "Finalize & export · done in 12.3 s",
    ]
    no_duration = job.model_copy(deep=True)
    no_duration.steps[StepName.RUN].duration_ms = None
    run = view.timeline(no_duration)[3]
    assert run.title == "BLAST run · done"
    for v in [*views, run]:
        assert "?" not in v.title + v.detail and "poll" not in v.title + v.detail


def test_run_step_shows_batch_and_pod_counts() -> None:
    job = _job(
        JobUpdate(phase=Phase.RUNNING),
        JobUpdate(steps={StepName.RUN: StepUpdate(counters={"pending": 1, "running": 2, "succeeded": 4, "failed": 1})}),
    )
    run = view.timeline(job)[3]
    assert run.counters == "5 of 8 batches finished · 2 running · 1 pending · 4 succeeded · 1 failed"
    assert view.counters_text({"queries": 473, "batches": 5}) == "5 batches · 473 queries"


def test_an_active_step_keeps_its_bare_label_while_it_runs() -> None:
    job = _job(JobUpdate(phase=Phase.RUNNING), JobUpdate(steps={StepName.RUN: StepUpdate(message="3 of 8 done")}))
    run = view.timeline(job)[3]
    assert run.title == "BLAST run" and run.detail == "3 of 8 done"


# --- step logs (fix H) -----------------------------------------------------------------------------------------


def _lines(step: StepName, seqs: range) -> list[LogLine]:
    return [LogLine(step, s, f"line {s}") for s in seqs]


def test_log_tail_keeps_the_newest_lines_and_counts_the_rest() -> None:
    tail = view.extend_tail(view.LogTail(), _lines(StepName.RUN, range(1, 101)), "run:100", limit=30)
    assert tail.lines[0] == "line 71" and tail.lines[-1] == "line 100" and len(tail.lines) == 30
    assert tail.hidden == 70 and tail.cursor == "run:100"
    tail = view.extend_tail(tail, _lines(StepName.RUN, range(101, 106)), "run:105", limit=30)
    assert tail.lines[0] == "line 76" and tail.lines[-1] == "line 105" and tail.hidden == 75


def test_log_tail_never_holds_a_line_twice() -> None:
    tail = view.extend_tail(view.LogTail(), _lines(StepName.RUN, range(1, 6)), "run:5")
    again = view.extend_tail(tail, _lines(StepName.RUN, range(3, 8)), "run:7")
    assert again.lines == tuple(f"line {i}" for i in range(1, 8))
    unchanged = view.extend_tail(again, [], None)
    assert unchanged == again


def test_log_tail_started_mid_log_counts_the_lines_before_it() -> None:
    tail = view.extend_tail(
        view.LogTail(cursor="run:98000"), _lines(StepName.RUN, range(98_001, 100_001)), "run:100000"
    )
    assert tail.hidden == 98_000 and len(tail.lines) == 2_000


def test_console_is_one_block_from_the_log_table_or_else_the_snapshot_never_both() -> None:
    tail = view.extend_tail(view.LogTail(), _lines(StepName.SUBMIT, range(1, 4)), "submit:3")
    from_log = view.console_view(tail, last_output="line 2\nline 3")
    assert from_log.source == "log" and from_log.text == "line 1\nline 2\nline 3"
    assert from_log.text.count("line 3") == 1
    backfill = view.console_view(view.LogTail(), last_output="pod-1: done")
    assert backfill.source == "snapshot" and backfill.text == "pod-1: done"
    assert view.console_view(view.LogTail(), "  ").source == "none"


# --- refresh (fixes N, P1) and tabs (fix L2) -------------------------------------------------------------------


def test_refresh_interval_live_then_backfill_window_then_stop() -> None:
    live = _job(JobUpdate(phase=Phase.RUNNING))
    assert view.refresh_interval(live, live.updated_at + timedelta(hours=3)) == view.LIVE_REFRESH_S
    done = merge(live, JobUpdate(phase=Phase.COMPLETED), T0)
    assert view.refresh_interval(done, done.updated_at) == 10.0
    assert view.refresh_interval(done, done.updated_at + timedelta(minutes=4, seconds=59)) == 10.0
    assert view.refresh_interval(done, done.updated_at + timedelta(minutes=5)) is None
    failed = merge(live, JobUpdate(phase=Phase.FAILED, error="x"), T0)
    assert view.refresh_interval(failed, failed.updated_at + timedelta(minutes=1)) == 10.0
    # a late backfill write moves updated_at: the window starts again
    backfilled = merge(
        done, JobUpdate(steps={StepName.RUN: StepUpdate(last_output="pod log")}), T0 + timedelta(hours=1)
    )
    assert view.refresh_interval(backfilled, T0 + timedelta(hours=1, minutes=2)) == 10.0
    assert view.refresh_interval(None, T0) == 10.0


@pytest.mark.parametrize(
    ("seen", "phase", "tab", "in_url", "expected"),
    [
        (Phase.RUNNING, Phase.COMPLETED, "Run", True, "Descriptions"),  # rising edge while on Run
        (Phase.FINALIZING, Phase.COMPLETED, "Run", False, "Descriptions"),
        (Phase.COMPLETED, Phase.COMPLETED, "Run", False, None),  # user went back to Run by hand
        (Phase.RUNNING, Phase.COMPLETED, "Plots", True, None),  # user is elsewhere: leave them
        (Phase.RUNNING, Phase.RUNNING, "Run", False, None),
        (Phase.RUNNING, Phase.FAILED, "Run", False, None),
        (None, Phase.COMPLETED, "Run", False, "Descriptions"),  # opening a finished job lands on results
        (None, Phase.COMPLETED, "Run", True, None),  # ...unless the URL asked for Run
        (None, Phase.RUNNING, "Run", False, None),
    ],
)
def test_tab_switches_to_descriptions_once(
    seen: Phase | None, phase: Phase, tab: str, in_url: bool, expected: str | None
) -> None:
    assert view.decide_tab(seen, phase, tab, in_url).switch_to == expected


def test_tab_switch_fires_once_over_a_sequence_of_refreshes() -> None:
    tab, seen, switches = "Run", None, []
    for i, phase in enumerate([Phase.RUNNING, Phase.FINALIZING, Phase.COMPLETED, Phase.COMPLETED, Phase.COMPLETED]):
        decision = view.decide_tab(seen, phase, tab, tab_in_url=False)
        if decision.switch_to:
            tab = decision.switch_to
            switches.append(i)
        if i == 3:
            tab = "Run"  # the user goes back to the timeline
        seen = phase
    assert switches == [2] and tab == "Run"


# --- header ----------------------------------------------------------------------------------------------------


def test_header_of_a_finished_job() -> None:
    job = _job(
        JobUpdate(phase=Phase.PREPARING, title="Ant proteins", program="blastp", database="sp", query_count=3),
        JobUpdate(phase=Phase.RUNNING, flow_run_id="0b1c-2d"),
        JobUpdate(phase=Phase.COMPLETED),
        step_s=30,
    )
    header = view.job_header(job, T0 + timedelta(days=1), prefect_ui_url="http://127.0.0.1:4200")
    assert header.title == "Ant proteins"
    assert header.badge.label == "Completed"
    assert header.phase_message == PHASE_MESSAGES[Phase.COMPLETED]
    assert header.started == "2026-05-22 17:28:04 UTC" and header.finished == "2026-05-22 17:29:04 UTC"
    assert header.elapsed == "1 min 00 s"  # from the steps, not from "now"
    assert header.queries == "3 queries"
    assert header.prefect_url == "http://127.0.0.1:4200/runs/flow-run/0b1c-2d"


def test_header_of_a_live_job_counts_elapsed_to_now_and_has_no_finish() -> None:
    job = _job(JobUpdate(phase=Phase.PREPARING, program="blastn", database="nt"))
    header = view.job_header(job, T0 + timedelta(minutes=4, seconds=5))
    assert header.elapsed == "4 min 05 s" and header.finished == "" and header.prefect_url is None
    assert header.title == "blastn against nt search"


def test_prefect_link_cannot_be_steered_by_the_run_id() -> None:
    url = view.prefect_run_url("https://prefect.example/", "../../evil?x=<script>")
    assert url == "https://prefect.example/runs/flow-run/..%2F..%2Fevil%3Fx%3D%3Cscript%3E"
    assert view.prefect_run_url("javascript:alert(1)//", "abc") is None


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, ""),
        (-1, ""),
        (0, "0 ms"),
        (999, "999 ms"),
        (1_000, "1.0 s"),
        (59_949, "59.9 s"),
        (60_000, "1 min 00 s"),
        (3_599_000, "59 min 59 s"),
        (3_600_000, "1 h 00 min"),
    ],
)
def test_format_duration(ms: int | None, text: str) -> None:
    assert view.format_duration(ms) == text


# --- job list --------------------------------------------------------------------------------------------------


def _listed(title: str, minutes: int, phase: Phase) -> JobRecord:
    job = _job(
        JobUpdate(phase=Phase.PREPARING, title=title, program="blastn", database="ants"),
        start=T0 + timedelta(minutes=minutes),
    )
    return merge(job, JobUpdate(phase=phase, error="x" if phase in FAILURE_PHASES else None), job.updated_at)


def test_job_list_newest_first_filtered_by_status_and_search() -> None:
    jobs = [
        _listed("Ant genes", 1, Phase.COMPLETED),
        _listed("Bee genes", 3, Phase.RUNNING),
        _listed("ant proteins", 2, Phase.FAILED),
    ]
    assert [j.title for j in view.filter_jobs(jobs)] == ["Bee genes", "ant proteins", "Ant genes"]
    assert [j.title for j in view.filter_jobs(jobs, search="ANT")] == ["ant proteins", "Ant genes"]
    assert [j.title for j in view.filter_jobs(jobs, [JobStatus.FAILED, JobStatus.RUNNING])] == [
        "Bee genes",
        "ant proteins",
    ]
    by_id = view.filter_jobs(jobs, search=jobs[0].job_id[:13])
    assert [j.job_id for j in by_id] == [jobs[0].job_id]


def test_job_rows_are_text_with_badge_program_database_elapsed() -> None:
    job = _listed("Ant genes", 0, Phase.RUNNING)
    (row,) = view.job_rows([job], job.created_at + timedelta(seconds=90))
    assert row == {
        "Status": "● Running",
        "Title": "Ant genes",
        "Program": "blastn",
        "Database": "ants",
        "Created": "2026-05-22 17:28:04 UTC",
        "Elapsed": "1 min 30 s",
        "Job id": job.job_id,
    }
    assert list(row) == list(view.JOB_LIST_COLUMNS)


def test_job_list_refreshes_only_while_a_job_is_live() -> None:
    assert view.list_refresh_interval([_listed("a", 0, Phase.COMPLETED)]) is None
    assert view.list_refresh_interval([_listed("a", 0, Phase.COMPLETED), _listed("b", 0, Phase.RUNNING)]) == 5.0


# --- hits ------------------------------------------------------------------------------------------------------


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
    frame = view.hits_frame(HITS)
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
    assert view.hits_frame([]).columns.tolist() == frame.columns.tolist()


def test_filter_hits_by_text_evalue_and_identity() -> None:
    frame = view.hits_frame(HITS)
    assert view.filter_hits(frame, "S3 KIN")["Subject"].tolist() == ["s3"]
    assert view.filter_hits(frame, max_evalue=1e-10)["Subject"].tolist() == ["s1", "s3", "s4"]
    assert view.filter_hits(frame, min_identity=75)["Subject"].tolist() == ["s1", "s3"]
    assert view.filter_hits(frame, "q1", 1e-10, 75)["Subject"].tolist() == ["s1"]


def test_hits_per_query_most_first() -> None:
    counts = view.hits_per_query(view.hits_frame(HITS))
    assert counts.to_dict("records") == [{"Query": "q1", "Hits": 3}, {"Query": "q2", "Hits": 1}]


def test_overview_rows_one_bar_per_hit_best_first_on_the_query_axis() -> None:
    rows = view.overview_rows(view.hits_frame(HITS), "q1")
    assert rows["Subject"].tolist() == ["s1", "s4", "s2"]
    assert rows["Row"].tolist() == [1, 2, 3]
    assert rows[["Start", "End"]].values.tolist() == [[1, 100], [1, 100], [120, 250]]  # minus strand: ordered
    assert rows["-log10 E"].tolist() == [50.0, 20.0, 5.0]
    zero = view.overview_rows(view.hits_frame(HITS), "q2")
    assert zero["-log10 E"].tolist() == [300.0]


# --- text safety -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "**bold** _it_ [link](http://x)",
        "![img](http://evil/t.png)",
        ":red[colour] :material/home:",
        "$x^2$",
        "# heading\n- list",
        "a\\*b",
    ],
)
def test_escape_markdown_leaves_no_markup_character_unescaped(text: str) -> None:
    escaped = view.escape_markdown(text)
    specials = set("\\`*_{}[]()#+-.!|<>~$:&\"'=^")
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in specials
            i += 2
            continue
        assert escaped[i] not in specials, (text, escaped)
        i += 1
    assert "\n" not in escaped


def test_the_examples_in_the_docstrings_hold() -> None:
    """The doctests of ui/view.py, run here too: the suite's doctest collection covers tests/ and blastflow/ only."""
    import doctest

    result = doctest.testmod(view)
    assert result.attempted >= 15 and result.failed == 0
