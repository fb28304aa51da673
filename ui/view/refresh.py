"""When the pages refresh (live, then a backfill window, then never: fix N) and when the job page switches tab."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from blastflow.model import TERMINAL_PHASES, JobRecord, Phase

__all__ = [
    "BACKFILL_REFRESH_S",
    "BACKFILL_WINDOW",
    "LIST_REFRESH_S",
    "LIVE_REFRESH_S",
    "TABS",
    "TAB_ALIGNMENTS",
    "TAB_DESCRIPTIONS",
    "TAB_DOWNLOADS",
    "TAB_PLOTS",
    "TAB_RUN",
    "TabDecision",
    "decide_tab",
    "list_refresh_interval",
    "opening_tab",
    "refresh_interval",
]

LIVE_REFRESH_S = 2.0
LIST_REFRESH_S = 5.0
BACKFILL_REFRESH_S = 10.0  # fix N: late pod-log backfill lands after the terminal phase
BACKFILL_WINDOW = timedelta(minutes=5)

TAB_RUN = "Run"
TAB_DESCRIPTIONS = "Descriptions"
TAB_ALIGNMENTS = "Alignments"
TAB_PLOTS = "Plots"
TAB_DOWNLOADS = "Downloads"
TABS = (TAB_RUN, TAB_DESCRIPTIONS, TAB_ALIGNMENTS, TAB_PLOTS, TAB_DOWNLOADS)


def refresh_interval(job: JobRecord | None, now: datetime) -> float | None:
    """Seconds between refreshes of the job page, or None to stop refreshing.

    Live jobs refresh every `LIVE_REFRESH_S`. After a terminal phase the page
    keeps refreshing every `BACKFILL_REFRESH_S` until the row has been quiet for
    `BACKFILL_WINDOW`, because pod logs may be backfilled after the end (fix N).

    Example:
        >>> from datetime import UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobRecord(job_id="j", phase=Phase.COMPLETED, created_at=t, updated_at=t)
        >>> refresh_interval(job, t + timedelta(minutes=1)), refresh_interval(job, t + timedelta(minutes=6))
        (10.0, None)
    """
    if job is None:
        return BACKFILL_REFRESH_S  # the row may not exist yet: look again soon
    if job.phase not in TERMINAL_PHASES:
        return LIVE_REFRESH_S
    if now - job.updated_at < BACKFILL_WINDOW:
        return BACKFILL_REFRESH_S
    return None


@dataclass(frozen=True, slots=True)
class TabDecision:
    """Which tab to switch to (None: leave the user where they are)."""

    switch_to: str | None


def opening_tab(phase: Phase, url_tab: str | None) -> str:
    """The tab a job page opens on (fix L2): the one the URL names, else the one a user wants first.

    A link with a tab (a reload, a bookmark: the page always keeps the tab in
    the URL) opens on that tab. A link without one opens a completed job on
    its results and any other job on its run.

    Example:
        >>> opening_tab(Phase.COMPLETED, "Run"), opening_tab(Phase.COMPLETED, None), opening_tab(Phase.RUNNING, None)
        ('Run', 'Descriptions', 'Run')
    """
    if url_tab in TABS:
        return url_tab
    return TAB_DESCRIPTIONS if phase is Phase.COMPLETED else TAB_RUN


def decide_tab(seen_phase: Phase | None, phase: Phase, current_tab: str) -> TabDecision:
    """Whether to move the user to Descriptions (fix L2): only on the rising edge of `completed`.

    The page must have shown the job live and now see it completed, with the
    user on Run. A page that first sees the job completed (a reload, a link)
    never switches: `opening_tab` chose its tab. After the edge the seen phase
    is `completed`, so a user who goes back to Run stays there.

    Args:
        seen_phase: the phase this browser session showed last for the job (None: not shown yet).
        phase: the phase just read from the store.
        current_tab: the selected tab.

    Example:
        >>> decide_tab(Phase.RUNNING, Phase.COMPLETED, "Run").switch_to
        'Descriptions'
        >>> decide_tab(None, Phase.COMPLETED, "Run").switch_to is None
        True
    """
    rising = seen_phase is not None and seen_phase is not Phase.COMPLETED and phase is Phase.COMPLETED
    return TabDecision(TAB_DESCRIPTIONS if rising and current_tab == TAB_RUN else None)


def list_refresh_interval(jobs: Iterable[JobRecord]) -> float | None:
    """Seconds between refreshes of the job list: only while a listed job is live.

    Example:
        >>> list_refresh_interval([]) is None
        True
    """
    return LIST_REFRESH_S if any(not job.is_terminal for job in jobs) else None
