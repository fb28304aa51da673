"""Refresh (fixes N, P1) and tabs (fix L2): live, then a backfill window, then stop; one switch to Descriptions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import Phase, StepName
from tests.ui.view.jobs import T0, make_job
from ui.view.refresh import (
    LIST_REFRESH_S,
    LIVE_REFRESH_S,
    decide_tab,
    list_refresh_interval,
    opening_tab,
    refresh_interval,
)


def test_refresh_interval_live_then_backfill_window_then_stop() -> None:
    live = make_job(JobUpdate(phase=Phase.RUNNING))
    assert refresh_interval(live, live.updated_at + timedelta(hours=3)) == LIVE_REFRESH_S
    done = merge(live, JobUpdate(phase=Phase.COMPLETED), T0)
    assert refresh_interval(done, done.updated_at) == 10.0
    assert refresh_interval(done, done.updated_at + timedelta(minutes=4, seconds=59)) == 10.0
    assert refresh_interval(done, done.updated_at + timedelta(minutes=5)) is None
    failed = merge(live, JobUpdate(phase=Phase.FAILED, error="x"), T0)
    assert refresh_interval(failed, failed.updated_at + timedelta(minutes=1)) == 10.0
    # a late backfill write moves updated_at: the window starts again
    backfilled = merge(
        done, JobUpdate(steps={StepName.RUN: StepUpdate(last_output="pod log")}), T0 + timedelta(hours=1)
    )
    assert refresh_interval(backfilled, T0 + timedelta(hours=1, minutes=2)) == 10.0
    assert refresh_interval(None, T0) == 10.0


@pytest.mark.parametrize(
    ("seen", "phase", "tab", "expected"),
    [
        (Phase.RUNNING, Phase.COMPLETED, "Run", "Descriptions"),  # rising edge while on Run
        (Phase.FINALIZING, Phase.COMPLETED, "Run", "Descriptions"),
        (Phase.COMPLETED, Phase.COMPLETED, "Run", None),  # user went back to Run by hand
        (Phase.RUNNING, Phase.COMPLETED, "Plots", None),  # user is elsewhere: leave them
        (Phase.RUNNING, Phase.RUNNING, "Run", None),
        (Phase.RUNNING, Phase.FAILED, "Run", None),
        (None, Phase.COMPLETED, "Run", None),  # a reload or a link never saw it live: no edge (fix L2)
        (None, Phase.RUNNING, "Run", None),
    ],
)
def test_tab_switches_to_descriptions_on_the_rising_edge_only(
    seen: Phase | None, phase: Phase, tab: str, expected: str | None
) -> None:
    assert decide_tab(seen, phase, tab).switch_to == expected


@pytest.mark.parametrize(
    ("phase", "url_tab", "expected"),
    [
        (Phase.COMPLETED, None, "Descriptions"),  # a finished job's link lands on its results
        (Phase.COMPLETED, "Run", "Run"),  # ...unless the URL names a tab: a reload keeps the user's choice
        (Phase.COMPLETED, "Plots", "Plots"),
        (Phase.COMPLETED, "<script>", "Descriptions"),  # an unknown tab is ignored
        (Phase.RUNNING, None, "Run"),
        (Phase.FAILED, None, "Run"),  # the failure is on the timeline
        (Phase.RUNNING, "Downloads", "Downloads"),
    ],
)
def test_a_page_opens_on_the_urls_tab_else_results_for_a_completed_job(
    phase: Phase, url_tab: str | None, expected: str
) -> None:
    assert opening_tab(phase, url_tab) == expected


def test_tab_switch_fires_once_over_a_sequence_of_refreshes() -> None:
    tab, seen, switches = opening_tab(Phase.RUNNING, None), None, []
    for i, phase in enumerate([Phase.RUNNING, Phase.FINALIZING, Phase.COMPLETED, Phase.COMPLETED, Phase.COMPLETED]):
        decision = decide_tab(seen, phase, tab)
        if decision.switch_to:
            tab = decision.switch_to
            switches.append(i)
        if i == 3:
            tab = "Run"  # the user goes back to the timeline
        seen = phase
    assert switches == [2] and tab == "Run"


def test_job_list_refreshes_only_while_a_job_is_live() -> None:
    done = make_job(JobUpdate(phase=Phase.PREPARING), JobUpdate(phase=Phase.COMPLETED))
    live = make_job(JobUpdate(phase=Phase.PREPARING), JobUpdate(phase=Phase.RUNNING))
    assert list_refresh_interval([done]) is None
    assert list_refresh_interval([done, live]) == LIST_REFRESH_S == 5.0
