"""Progress text: truthful counts and an ETA only when there is a rate to go by."""

import pytest

from blastflow.progress import eta_seconds, format_duration, progress_line, stopped_line, without_eta
from blastflow.search import PodCounts


def test_no_eta_before_any_batch_finished() -> None:
    counts = PodCounts(running=4, pending=4)
    assert eta_seconds(counts, 120) is None
    assert "left" not in progress_line(counts, 120)


def test_failed_batches_are_named_and_eta_stops_at_the_end() -> None:
    assert progress_line(PodCounts(succeeded=7, failed=1), 100) == (
        "8 of 8 batches done (100%), 0 running, 0 pending, 1 failed"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (-0.001, ""),
        (float("nan"), ""),
        (0, "0 ms"),
        (0.57, "570 ms"),
        (0.999, "999 ms"),
        (1.0, "1.0 s"),
        (59.949, "59.9 s"),
        (60, "1 min 00 s"),
        (3_599, "59 min 59 s"),
        (3_600, "1 h 00 min"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    """One format for the CLI, the progress line and the page (the page's step and elapsed times)."""
    assert format_duration(seconds) == text


def test_a_stopped_step_says_where_it_stopped_and_never_how_long_is_left() -> None:
    """Fix K: a failed or cancelled step's text is in the past tense."""
    counts = PodCounts(succeeded=12, running=3, pending=14)
    assert stopped_line(counts, 100) == "stopped after 12 of 29 batches, 1 min 40 s in"
    assert stopped_line(PodCounts(succeeded=3, failed=2, running=1), 12.3) == (
        "stopped after 5 of 6 batches (2 failed), 12.3 s in"
    )
    assert stopped_line(None, None) == "stopped"
    live = progress_line(counts, 100)
    assert live.endswith(" left")  # the live line has an ETA …
    assert without_eta(live) == progress_line(counts)  # … which is all `without_eta` takes out
    assert without_eta("waiting for 3 pods") == "waiting for 3 pods"
