"""Batch progress for people: percent done and an ETA (ElasticBLAST reports neither).

An ETA is said only while the work runs: a step that failed or was cancelled says where it
stopped (`stopped_line`), in the past tense (fix K of the hardening notes: truthful text).
"""

from __future__ import annotations

import math
import re

from blastflow.search import PodCounts

__all__ = ["eta_seconds", "format_duration", "percent_done", "progress_line", "stopped_line", "without_eta"]

_ETA_CLAUSE = "; about {} left"  # the one ETA wording: `progress_line` writes it, `without_eta` takes it out
_ETA = re.compile(re.escape(_ETA_CLAUSE).replace(re.escape("{}"), "[^;]*") + "$")


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


def format_duration(seconds: float | None) -> str:
    """A duration for people: ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; empty when unknown.

    The one duration format of blastflow: the CLI, the progress line and the page all use it.

    Args:
        seconds: the duration; None, a negative number or NaN means unknown.

    Returns:
        Milliseconds under a second, tenths of a second under a minute, then whole
        minutes and seconds, then hours and minutes (both truncated, never rounded up).

    Example:
        >>> [format_duration(s) for s in (None, 0.85, 12.3, 245, 7380)]
        ['', '850 ms', '12.3 s', '4 min 05 s', '2 h 03 min']
    """
    if seconds is None or seconds < 0 or math.isnan(seconds):
        return ""
    ms = round(seconds * 1_000)  # rounded: 0.57 * 1000 is 569.99..., and stored durations are whole ms
    if ms < 1_000:
        return f"{ms} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3_600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3_600} h {whole % 3_600 // 60:02d} min"


def progress_line(counts: PodCounts, elapsed_s: float | None = None) -> str:
    """One line a person reads in the log and on the timeline; with `elapsed_s`, an ETA once there is a rate.

    The one progress text of every backend and step (status messages, wait-for-pods, poll).

    Example:
        >>> progress_line(PodCounts(succeeded=2, running=2, pending=4), 60)
        '2 of 8 batches done (25%), 2 running, 4 pending; about 3 min 00 s left'
        >>> progress_line(PodCounts(pending=2))
        '0 of 2 batches done (0%), 0 running, 2 pending'
    """
    text = (
        f"{counts.finished} of {counts.total} batches done ({percent_done(counts):.0f}%), "
        f"{counts.running} running, {counts.pending} pending"
    )
    if counts.failed:
        text += f", {counts.failed} failed"
    eta = eta_seconds(counts, elapsed_s) if elapsed_s is not None else None
    if eta is not None and counts.finished < counts.total:
        text += _ETA_CLAUSE.format(format_duration(eta))
    return text


def without_eta(text: str) -> str:
    """`text` without the ETA clause of `progress_line`: what a stopped step's last message still truly says.

    Example:
        >>> without_eta("2 of 8 batches done (25%), 2 running, 4 pending; about 3 min 00 s left")
        '2 of 8 batches done (25%), 2 running, 4 pending'
    """
    return _ETA.sub("", text)


def stopped_line(counts: PodCounts | None, elapsed_s: float | None) -> str:
    """Where a failed or cancelled step stopped: the batches it finished and how long it had run. Never an ETA.

    Args:
        counts: the step's last batch counts; None (or no batches) for a step without any.
        elapsed_s: how long the step ran; None when unknown.

    Example:
        >>> stopped_line(PodCounts(succeeded=11, failed=1, running=3, pending=14), 100)
        'stopped after 12 of 29 batches (1 failed), 1 min 40 s in'
        >>> stopped_line(None, 2.5), stopped_line(PodCounts(pending=4), None)
        ('stopped 2.5 s in', 'stopped after 0 of 4 batches')
    """
    where = ""
    if counts is not None and counts.total:
        where = f" after {counts.finished} of {counts.total} batches"
        if counts.failed:
            where += f" ({counts.failed} failed)"
    duration = format_duration(elapsed_s)
    if duration:
        where += f"{',' if where else ''} {duration} in"
    return f"stopped{where}"
