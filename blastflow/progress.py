"""Batch progress for people: percent done and an ETA (ElasticBLAST reports neither)."""

from __future__ import annotations

from blastflow.search import PodCounts

__all__ = ["eta_seconds", "format_duration", "percent_done", "progress_line"]


def percent_done(counts: PodCounts) -> float:
    """Percent of batches finished (succeeded or failed), 0-100.

    Example:
        >>> percent_done(PodCounts(succeeded=3, running=1))
        75.0
    """
    return 100.0 * counts.finished / counts.total if counts.total else 0.0


def eta_seconds(counts: PodCounts, elapsed_s: float) -> float | None:
    """Seconds left at the rate seen so far; None until one batch has finished.

    Example:
        >>> eta_seconds(PodCounts(succeeded=2, running=2, pending=4), elapsed_s=60)
        180.0
    """
    if counts.finished == 0 or counts.total == 0 or elapsed_s <= 0:
        return None
    rate = counts.finished / elapsed_s
    return (counts.total - counts.finished) / rate


def format_duration(seconds: float) -> str:
    """Short human duration: 45 s, 3 min 20 s, 2 h 05 min.

    Example:
        >>> format_duration(200), format_duration(7500), format_duration(4.2)
        ('3 min 20 s', '2 h 05 min', '4 s')
    """
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def progress_line(counts: PodCounts, elapsed_s: float) -> str:
    """One line a person reads in the log and on the timeline.

    Example:
        >>> progress_line(PodCounts(succeeded=2, running=2, pending=4), 60)
        '2 of 8 batches done (25%), 2 running, 4 pending; about 3 min 00 s left'
    """
    text = (
        f"{counts.finished} of {counts.total} batches done ({percent_done(counts):.0f}%), "
        f"{counts.running} running, {counts.pending} pending"
    )
    if counts.failed:
        text += f", {counts.failed} failed"
    eta = eta_seconds(counts, elapsed_s)
    if eta is not None and counts.finished < counts.total:
        text += f"; about {format_duration(eta)} left"
    return text
