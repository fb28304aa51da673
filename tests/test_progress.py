"""Progress text: truthful counts and an ETA only when there is a rate to go by."""

import pytest

from blastflow.progress import eta_seconds, format_duration, progress_line
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
