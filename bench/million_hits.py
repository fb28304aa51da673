"""A million hits: finalize's Parquet writing, and the results tabs' render time over a search with ≥ 1,000,000 hits.

The search is real: the first N sample proteins (default 400) against all 1,189
with blastp at a permissive e-value (-evalue 100000 -comp_based_stats 0
-max_target_seqs 5000; about 3,000 hits per query), in batches of 100 queries
run two at a time, each writing a BLAST archive (format 11) as a pod does. The
archives, database and results are kept in the work directory (default
/tmp/blastflow-million), so a re-run skips BLAST (and finalize, unless
--refinalize).

Finalize is `blastflow.results.merge_results` (the code the finalize step runs):
one blast_formatter over the merged archive straight into hits.tsv, then hits.parquet. It runs in a fresh
Python process so its memory is its own; that process's peak RSS and the time are printed.

The page: a completed job in a SQLite store points at the results; each tab
(Descriptions, Plots, Downloads) is opened with Streamlit's AppTest (one run of
`ui/app.py`, see bench/bench_ui.py for what "render" means) and rerun
`--repeat` times; then Descriptions is rerun after asking for page 2, a sort by
bit score (descending) and a text filter. The peak RSS printed for the page is
this process's (it ran only the page: finalize was in its child).

Run from the repository root:

    .venv/bin/python bench/million_hits.py                       # builds once (about 3 min of BLAST on 2 cores)
    .venv/bin/python bench/million_hits.py --repeat 7
    .venv/bin/python bench/million_hits.py --queries 20 --batch 10 --work /tmp/bf-small   # the smoke size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))  # bench_ui's page timer

from bench_ui import _run  # noqa: E402
from Bio import SeqIO  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from blastflow.hit_query import totals  # noqa: E402
from blastflow.hits import PARQUET_FILE  # noqa: E402
from blastflow.merge import JobUpdate, StepUpdate  # noqa: E402
from blastflow.model import Phase, StepName, StepStatus  # noqa: E402
from blastflow.store import open_store  # noqa: E402

__all__ = ["main"]

APP = str(REPO / "ui" / "app.py")
PROTEINS = REPO / "data" / "sinvicta" / "Sinvicta2-2-3.prot.subset.fasta"
BLAST_OPTIONS = ["-evalue", "100000", "-comp_based_stats", "0", "-max_target_seqs", "5000"]


@dataclass
class Outcome:
    hits: int = 0
    queries: int = 0
    finalize_s: float | None = None
    finalize_rss_mb: float | None = None
    parquet_mb: float = 0.0
    renders: dict[str, list[float]] = field(default_factory=dict)
    page_rss_mb: float = 0.0


def build_archives(work: Path, queries: int, batch: int) -> list[Path]:
    """The batch archives of the search, made by real blastp unless already in `work`."""
    (work / "archives").mkdir(parents=True, exist_ok=True)
    db = work / "db" / "prot"
    if not db.with_suffix(".pin").is_file():
        subprocess.run(["makeblastdb", "-in", str(PROTEINS), "-dbtype", "prot", "-out", str(db), "-parse_seqids"],
                       check=True, capture_output=True)  # fmt: skip
    records = list(SeqIO.parse(PROTEINS, "fasta"))[:queries]
    archives, pending = [], []
    for index, start in enumerate(range(0, len(records), batch)):
        archive = work / "archives" / f"batch_{index:03d}.asn"
        archives.append(archive)
        if not archive.is_file():
            SeqIO.write(records[start : start + batch], work / f"batch_{index:03d}.fa", "fasta")
            pending.append(index)
    _blast(work, db, pending)
    return archives


def _blast(work: Path, db: Path, pending: list[int], slots: int = 2) -> None:
    """Run the pending batches, `slots` at a time, each to `<archive>.part` then renamed (a killed run leaves none)."""
    running: list[tuple[subprocess.Popen[bytes], Path]] = []
    for index in pending:
        while len(running) >= slots:
            _reap(running.pop(0))
        archive = work / "archives" / f"batch_{index:03d}.asn"
        argv = ["blastp", "-query", str(work / f"batch_{index:03d}.fa"), "-db", str(db), "-outfmt", "11",
                "-out", f"{archive}.part", *BLAST_OPTIONS]  # fmt: skip
        running.append((subprocess.Popen(argv), archive))
    for job in running:
        _reap(job)


def _reap(job: tuple[subprocess.Popen[bytes], Path]) -> None:
    process, archive = job
    if process.wait() != 0:
        raise RuntimeError(f"blastp failed for {archive.name} (exit {process.returncode})")
    os.replace(f"{archive}.part", archive)


_FINALIZE = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from blastflow.results import merge_results
work, archives = Path(sys.argv[3]), [Path(a) for a in sys.argv[4:]]
start = time.perf_counter()
merge_results(archives, work / sys.argv[2] / "results", program="blastp", blastdb=work / "db")
print(json.dumps([time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
"""


# The job the page is asked about: the page serves only a job's own folder, `<jobs dir>/<job id>/results`.
JOB_ID = "1d0c5b8a-7e6f-4a3b-9c2d-0e1f2a3b4c5d"


def finalize(archives: list[Path], work: Path) -> tuple[float, float]:
    """Run finalize's merge in a fresh Python process: (seconds, that process's peak RSS in MB).

    blast_formatter runs as its child, so its memory is not in the figure (it is BLAST's, not blastflow's).
    """
    argv = [sys.executable, "-c", _FINALIZE, str(REPO), JOB_ID, str(work), *map(str, archives)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    seconds, rss = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, rss


def seed_job(store_url: str, results: Path) -> str:
    """A completed job whose results are `results` (its own folder, `<work>/<JOB_ID>/results`), written through
    the store as the flow writes it."""
    store = open_store(store_url)
    job_id = results.parent.name
    store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.RUNNING, title="A million hits", program="blastp",
                                   database="sinvicta-prot"))  # fmt: skip
    store.update(
        job_id,
        JobUpdate(
            phase=Phase.COMPLETED,
            results_location=str(results),
            steps={StepName.FINALIZE: StepUpdate(status=StepStatus.COMPLETED, message="hits")},
        ),
    )
    store.close()
    return job_id


def time_tabs(job_id: str, repeat: int) -> dict[str, list[float]]:
    """Render times (ms) of each tab: a new session's first view (the first one ever fills the page's caches:
    reported apart), reruns of a session, and Descriptions after paging, sorting and filtering. The Run tab is
    the baseline: what any new session of the job page costs before a results tab reads anything."""
    renders: dict[str, list[float]] = {}
    warm = _session(job_id, "Run")  # AppTest's own start-up and the imports, paid once
    _run(warm)
    for tab in ("Run", "Descriptions", "Plots", "Downloads"):
        firsts = []
        for _ in range(repeat):
            at = _session(job_id, tab)
            firsts.append(_run(at))
        if tab != "Run":
            renders[f"{tab}, first view ever (cold cache)"] = firsts[:1]
        renders[f"{tab}, first view of a new session"] = firsts[1:]
        renders[f"{tab}, rerun"] = [_run(at) for _ in range(repeat)]
        if tab == "Descriptions":
            renders.update(_interactions(at, repeat))
    return renders


def _session(job_id: str, tab: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["job"], at.query_params["tab"] = job_id, tab
    return at


def _interactions(at: AppTest, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    assert len(at.dataframe[0].value) == 100, "the first page shows 100 rows"
    at.number_input(key="hits_page").set_value(2)
    out["Descriptions, page 2"] = [_run(at) for _ in range(repeat)]
    at.selectbox(key="hits_sort").select("Bit score")
    at.radio(key="hits_order").set_value("Descending")
    out["Descriptions, sorted by bit score desc."] = [_run(at) for _ in range(repeat)]
    scores = at.dataframe[0].value["Bit score"].tolist()
    assert scores == sorted(scores, reverse=True), "sorted by bit score, descending"
    for n, text in enumerate(["scaffold0", "SI2.2.0_0", "quality=9", "pep_1", "kinase"][:repeat]):
        at.text_input(key="hits_filter").input(text)  # a new text each time: its count is not cached yet
        out.setdefault("Descriptions, a new text filter", []).append(_run(at))
        if n == 0:
            at.number_input(key="hits_page").set_value(2)
            out["Descriptions, text filter, page 2"] = [_run(at) for _ in range(repeat)]
    return out


def main(argv: list[str] | None = None) -> Outcome:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "blastflow-million")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--refinalize", action="store_true", help="run finalize again even if its results exist")
    args = parser.parse_args(argv)
    outcome = Outcome()
    archives = build_archives(args.work, args.queries, args.batch)
    parquet = args.work / JOB_ID / "results" / PARQUET_FILE
    if args.refinalize or not parquet.is_file():
        outcome.finalize_s, outcome.finalize_rss_mb = finalize(archives, args.work)
    outcome.hits, outcome.queries = totals(parquet)
    outcome.parquet_mb = parquet.stat().st_size / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BLASTFLOW_STORE_URL"] = f"sqlite:///{Path(tmp) / 'bench.db'}"
        job_id = seed_job(os.environ["BLASTFLOW_STORE_URL"], parquet.parent)
        outcome.renders = time_tabs(job_id, args.repeat)
    outcome.page_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report(outcome)
    return outcome


def report(outcome: Outcome) -> None:
    print(f"\n{outcome.hits:,} hits for {outcome.queries:,} queries; hits.parquet {outcome.parquet_mb:.1f} MB")
    if outcome.finalize_s is not None:
        print(f"finalize (blast_formatter, hits.tsv, hits.parquet): {outcome.finalize_s:.1f} s, "
              f"peak RSS {outcome.finalize_rss_mb:.0f} MB")  # fmt: skip
    print("\n| page run | runs | median ms | max ms |\n|---|---:|---:|---:|")
    for name, samples in outcome.renders.items():
        print(f"| {name} | {len(samples)} | {statistics.median(samples):.0f} | {max(samples):.0f} |")
    print(f"\npage process peak RSS: {outcome.page_rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
