"""Server-side render time of the monitoring page: a job with a 100,000-line log, and a list of 1,000 jobs.

"Render" is one run of `ui/app.py` under Streamlit's AppTest: the script runs in
a real ScriptRunner against a real SQLite store and produces the element
messages a browser would get (network and drawing in the browser are not in it).
AppTest's own start-up (it scans installed packages for components, about 2 s)
is paid once per session before timing.

What is measured:
- job, first view: the job page with no log tail held (reads the newest 2,000 of 100,000 lines);
- job, refresh: the same session reruns with nothing new, and with 100 new lines each time;
- list: the job list with 1,000 jobs (all read from the store and shown on every run).

Run from the repository root:

    .venv/bin/python bench/bench_ui.py
    .venv/bin/python bench/bench_ui.py --lines 100000 --jobs 1000 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

from blastflow.merge import JobUpdate, StepUpdate  # noqa: E402
from blastflow.model import FAILURE_PHASES, Phase, StepName, new_job_id  # noqa: E402
from blastflow.store import open_store  # noqa: E402
from blastflow.store.base import StateStore  # noqa: E402

__all__ = ["main"]

APP = str(REPO / "ui" / "app.py")
_PHASES = [Phase.COMPLETED] * 6 + [Phase.RUNNING, Phase.FAILED, Phase.SUBMITTED, Phase.CANCELLED]


def seed_long_log(store: StateStore, lines: int) -> str:
    """A running job whose run step has logged `lines` lines, written as the flow's step log writes them."""
    job_id = new_job_id()
    store.update(
        job_id,
        JobUpdate(job_id=job_id, phase=Phase.RUNNING, title="Chatty run", program="blastn", database="sinvicta-cdna"),
    )
    chunk = 1_000
    for start in range(1, lines + 1, chunk):
        batch = [
            f"batch_{n % 7:03d} [pod blast-{n % 5}] Searching query {n}: 12 hits, 0.8 s"
            for n in range(start, min(lines, start + chunk - 1) + 1)
        ]
        store.append_logs(job_id, StepName.RUN, batch)
        store.update(
            job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=batch[-50:], log_lines_added=len(batch) - 50)})
        )
    return job_id


def seed_jobs(store: StateStore, count: int) -> None:
    """`count` jobs in a mix of phases, each made by the one write path."""
    for n in range(count):
        job_id = new_job_id()
        phase = _PHASES[n % len(_PHASES)]
        store.update(
            job_id,
            JobUpdate(
                job_id=job_id,
                phase=Phase.PREPARING,
                title=f"Search {n:04d}",
                program="blastp",
                database="sinvicta-prot",
                query_count=12,
            ),
        )
        store.update(
            job_id, JobUpdate(phase=phase, error="exit 3: BLAST engine error" if phase in FAILURE_PHASES else None)
        )


def _page(query: dict[str, str]) -> AppTest:
    """A session on the page, already run once (AppTest's own start-up, imports and the store are paid)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for name, value in query.items():
        at.query_params[name] = value
    _run(at)
    return at


def _run(at: AppTest) -> float:
    """One run of the page script, in milliseconds."""
    start = time.perf_counter()
    at.run()
    elapsed = (time.perf_counter() - start) * 1000
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception}")
    return elapsed


def _forget_logs(at: AppTest) -> None:
    """Drop the log tails the session holds, so the next run reads them as a new visitor would."""
    for key in [k for k in at.session_state if k.startswith("log:")]:
        del at.session_state[key]


def _summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):8.1f} | {max(samples):8.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["BLASTFLOW_STORE_URL"] = url
        store = open_store(url)
        start = time.perf_counter()
        long_job = seed_long_log(store, args.lines)
        seed_jobs(store, args.jobs - 1)
        print(f"seeded {args.lines:,} log lines and {args.jobs:,} jobs in {time.perf_counter() - start:.1f} s")

        at = _page({"job": long_job})
        first = []
        for _ in range(args.repeat):
            _forget_logs(at)
            first.append(_run(at))
        shown = at.code[0].value.count("\n") + 1
        idle = [_run(at) for _ in range(args.repeat)]
        grow = []
        for i in range(args.repeat):
            store.append_logs(long_job, StepName.RUN, [f"new line {i}-{k}" for k in range(100)])
            grow.append(_run(at))
        listing_page = _page({})
        listing = [_run(listing_page) for _ in range(args.repeat)]
        rows = len(listing_page.dataframe[0].value)
        store.close()

    print(f"\n| page run ({args.repeat} runs) | median ms | max ms |")
    print("|---|---:|---:|")
    print(f"| job, {args.lines:,}-line log, first view ({shown:,} lines shown) | {_summary(first)} |")
    print(f"| job, refresh, nothing new | {_summary(idle)} |")
    print(f"| job, refresh, 100 new lines | {_summary(grow)} |")
    print(f"| list, {rows:,} jobs | {_summary(listing)} |")


if __name__ == "__main__":
    main()
