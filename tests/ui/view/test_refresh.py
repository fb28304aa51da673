"""Refresh (fixes N, P1) and tabs (fix L2): live, then a backfill window, then stop; one switch to Descriptions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import Phase, StepName
from tests.ui.view.jobs import T0, make_job
from ui.view.refresh import LIST_REFRESH_S, LIVE_REFRESH_S, decide_tab, list_refresh_interval, refresh_interval


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
    assert decide_tab(seen, phase, tab, in_url).switch_to == expected


def test_tab_switch_fires_once_over_a_sequence_of_refreshes() -> None:
    tab, seen, switches = "Run", None, []
    for i, phase in enumerate([Phase.RUNNING, Phase.FINALIZING, Phase.COMPLETED, Phase.COMPLETED, Phase.COMPLETED]):
        decision = decide_tab(seen, phase, tab, tab_in_url=False)
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
