"""Progress text: truthful counts and an ETA only when there is a rate to go by."""

from blastflow.progress import eta_seconds, progress_line
from blastflow.search import PodCounts


def test_no_eta_before_any_batch_finished() -> None:
    counts = PodCounts(running=4, pending=4)
    assert eta_seconds(counts, 120) is None
    assert "left" not in progress_line(counts, 120)


def test_failed_batches_are_named_and_eta_stops_at_the_end() -> None:
    assert progress_line(PodCounts(succeeded=7, failed=1), 100) == (
        "8 of 8 batches done (100%), 0 running, 0 pending, 1 failed"
    )
