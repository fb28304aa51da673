"""Orchestration overhead: `blastflow run` against a running Prefect server versus the same BLAST+ run directly.

Per workload, side by side in one session and interleaved per repetition:
- direct: one BLAST+ process with every core (`-num_threads <nproc>`), the
  pipeline's own search options (`blastflow.options.search_options`), tabular
  output — what a person would type;
- direct, `-mt_mode 1`: the same, with BLAST's threads split by query instead of
  by database (BLAST+ 2.12's default splits a small database poorly);
- pipeline: the real `blastflow run` CLI in a child process (local backend,
  default batching), talking to a `prefect server` started here, at each poll
  interval asked for (BLASTFLOW_POLL_INTERVAL_S).

Both use one prebuilt database (made as prepare makes it), so makeblastdb is in
neither. Every pipeline run must give the same hits as the direct run (row
count, and the same query-subject pairs). The overhead is split on one clock
using the job row's step times and the pods' state files:

    start-up   process start -> prepare starts (imports, Prefect flow run, first row write)
    prepare    the prepare step (query, options and database checks, batch files)
    submit     prepare done -> first BLAST process starts (task hand-off, submit child, supervisor)
    BLAST      first BLAST process starts -> last one ends (batching changes this, both ways)
    poll slack last BLAST process ends -> poll sees SUCCESS
    finalize   the finalize step (blast_formatter per batch, merge, pod logs, artifacts)
    exit       finalize done -> the CLI exits (flow run completion, Prefect shutdown)

fixed overhead = pipeline wall - BLAST span; ratio = pipeline wall / direct wall.

Run from the repository root (BLAST+ on PATH):

    .venv/bin/python bench/bench_overhead.py                  # sample blastp + long blastx, 2 repetitions
    .venv/bin/python bench/bench_overhead.py --workloads sample --repeat 3
    .venv/bin/python bench/bench_overhead.py --smoke          # a few seconds of BLAST; what CI runs

Targets (issue 7): ratio <= 1.10 on the long workload, fixed overhead <= 3 s.
Results: bench/RESULTS.md, "Orchestration overhead".
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blastflow.backends.local.backend import available_cores  # noqa: E402
from blastflow.backends.local.run_files import PodState, RunFiles, read_state  # noqa: E402
from blastflow.hits import HIT_FIELDS, HITS_FILE, read_hits  # noqa: E402
from blastflow.model import StepName  # noqa: E402
from blastflow.options import search_options  # noqa: E402
from blastflow.store import open_store  # noqa: E402

__all__ = [
    "DirectRun",
    "PipelineRun",
    "Workload",
    "build_database",
    "direct_run",
    "machine",
    "main",
    "pipeline_run",
    "prefect_server",
]

DATA = REPO / "data" / "sinvicta"
PROTEINS = DATA / "Sinvicta2-2-3.prot.subset.fasta"
TRANSCRIPTS = DATA / "Sinvicta2-2-3.cdna.subset.fasta"
SERVER_START_TIMEOUT_S = 180.0
SPLIT = ("start-up", "prepare", "submit", "BLAST", "poll slack", "finalize", "exit")


@dataclass(frozen=True)
class Workload:
    """One search, as both the pipeline and the direct run are given it."""

    name: str
    program: str
    query: Path
    db_fasta: Path
    options: str = ""
    evalue: float = 1e-5
    max_target_seqs: int = 10

    def describe(self) -> str:
        extra = f" {self.options}" if self.options else ""
        return f"{self.program}{extra} of {self.query.name} against {self.db_fasta.name}"


WORKLOADS = {
    "sample": Workload("sample", "blastp", PROTEINS, PROTEINS),  # all-vs-all, 1,189 proteins
    # 473 transcripts against the proteins with a lower neighbourhood-word threshold than blastx's default:
    # more seeds, a more sensitive search, and >= 60 s of BLAST on two cores.
    "long": Workload("long", "blastx", TRANSCRIPTS, PROTEINS, options="-threshold 6"),
}


# -- the machine ------------------------------------------------------------------------------------------


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. "0.52 0.61 0.70"."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    """nproc, CPU model, Python, BLAST+ version and the date, for RESULTS.md."""
    model = "unknown CPU"
    for row in Path("/proc/cpuinfo").read_text().splitlines():
        if row.startswith("model name"):
            model = row.split(":", 1)[1].strip()
            break
    blast = subprocess.run(["blastp", "-version"], capture_output=True, text=True, check=True).stdout.split()[1]
    return (
        f"{os.cpu_count()} CPUs ({available_cores()} usable), {model}, Python {platform.python_version()}, "
        f"BLAST+ {blast}, {datetime.now(UTC):%Y-%m-%d}"
    )


# -- inputs -----------------------------------------------------------------------------------------------


def build_database(fasta: Path, prefix: Path) -> str:
    """Make the BLAST database exactly as the pipeline's prepare does; return its prefix."""
    from blastflow.backends.local.database import inspect_fasta, make_database

    make_database(inspect_fasta(fasta), prefix)
    return str(prefix)


def smoke_workload(tmp: Path) -> Workload:
    """20 query proteins against a 150-protein database: a few seconds of BLAST."""
    lines = PROTEINS.read_text().splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(">")]
    query, db = tmp / "smoke_query.fasta", tmp / "smoke_db.fasta"
    query.write_text("".join(lines[: starts[20]]))
    db.write_text("".join(lines[: starts[150]]))
    return Workload("smoke", "blastp", query, db)


# -- direct -----------------------------------------------------------------------------------------------


@dataclass
class DirectRun:
    wall_s: float
    rows: int
    pairs: set[tuple[str, str]]
    argv: list[str]


def direct_argv(work: Workload, db: str, out: Path, *, mt_mode: int | None = None) -> list[str]:
    """One BLAST+ process with every core and the pipeline's own options, tabular output."""
    options = search_options(work.program, work.options, work.evalue, work.max_target_seqs)
    argv = [work.program, "-query", str(work.query), "-db", db, "-outfmt", f"6 {HIT_FIELDS}", "-out", str(out)]
    argv += ["-num_threads", str(available_cores()), *options]
    return argv + (["-mt_mode", str(mt_mode)] if mt_mode is not None else [])


def direct_run(work: Workload, db: str, out: Path, *, mt_mode: int | None = None) -> DirectRun:
    argv = direct_argv(work, db, out, mt_mode=mt_mode)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    rows = [line.split("\t", 2) for line in out.read_text().splitlines() if line and not line.startswith("#")]
    return DirectRun(wall_s=wall, rows=len(rows), pairs={(r[0], r[1]) for r in rows}, argv=argv)


# -- the Prefect server -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A `prefect server start` of our own (its own PREFECT_HOME and SQLite database); yields the API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        # A loaded two-core machine: SQLite waits for its lock rather than failing a request.
        PREFECT_SERVER_DATABASE_TIMEOUT="60",
        PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT="30",
    )
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with (home / "server.log").open("ab") as log:
        server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(api_url):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (home / "server.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"the Prefect server did not come up at {api_url}:\n{tail}")
            time.sleep(0.5)
        yield api_url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: the server and any child it started
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


# -- the pipeline -----------------------------------------------------------------------------------------


@dataclass
class PipelineRun:
    wall_s: float
    poll_interval_s: float
    rows: int
    pairs: set[tuple[str, str]]
    batches: int
    split: dict[str, float] = field(default_factory=dict)
    detail: dict[str, float] = field(default_factory=dict)  # start-up and exit split by the flow run's times
    argv: list[str] = field(default_factory=list)

    @property
    def blast_s(self) -> float:
        return self.split["BLAST"]

    @property
    def fixed_s(self) -> float:
        return self.wall_s - self.blast_s


def _epoch(moment: datetime | None, what: str) -> float:
    if moment is None:
        raise SystemExit(f"the job record has no {what}: the run did not go through every step")
    return moment.timestamp()


def pipeline_argv(work: Workload, db: str) -> list[str]:
    """`blastflow run …` as a user types it (the venv's console script)."""
    blastflow = Path(sys.executable).with_name("blastflow")
    return [
        str(blastflow), "run", "--query", str(work.query), "--db", db, "--program", work.program,
        "--options", work.options, "--evalue", f"{work.evalue:g}", "--max-target-seqs", str(work.max_target_seqs),
        "--title", f"bench {work.name}",
    ]  # fmt: skip


def pipeline_run(work: Workload, db: str, api_url: str, tmp: Path, poll_interval_s: float) -> PipelineRun:
    """One `blastflow run` in a child process; the wall clock and where it went."""
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=tmp))
    store_url = f"sqlite:///{data_dir / 'state.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BLASTFLOW_"))}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(tmp / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        BLASTFLOW_DATA_DIR=str(data_dir),
        BLASTFLOW_STORE_URL=store_url,
        BLASTFLOW_POLL_INTERVAL_S=f"{poll_interval_s:g}",
    )
    argv = pipeline_argv(work, db)
    start = time.time()
    done = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True, check=False)
    end = time.time()
    if done.returncode != 0:
        raise SystemExit(f"blastflow run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    found = re.search(r"^Job ([0-9a-f-]{36}):", done.stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no job id in the output of blastflow run:\n{done.stdout[-2000:]}")
    store = open_store(store_url)
    try:
        job = store.get(found.group(1))
    finally:
        store.close()
    assert job is not None and job.results_location is not None
    workdir = data_dir / "jobs" / job.job_id
    pods = [read_state(RunFiles(workdir).pod_state(p.name), PodState) for p in sorted((workdir / "pods").iterdir())]
    first_pod = min(_epoch(p.started_at if p else None, "pod start") for p in pods)
    last_pod = max(_epoch(p.finished_at if p else None, "pod end") for p in pods)
    steps = job.steps
    prepare_start = _epoch(steps[StepName.PREPARE].started_at, "prepare start")
    prepare_end = _epoch(steps[StepName.PREPARE].completed_at, "prepare end")
    finalize_start = _epoch(steps[StepName.FINALIZE].started_at, "finalize start")
    finalize_end = _epoch(steps[StepName.FINALIZE].completed_at, "finalize end")
    split = {
        "start-up": prepare_start - start,
        "prepare": prepare_end - prepare_start,
        "submit": first_pod - prepare_end,
        "BLAST": last_pod - first_pod,
        "poll slack": finalize_start - last_pod,
        "finalize": finalize_end - finalize_start,
        "exit": end - finalize_end,
    }
    flow = _flow_run_times(api_url, job.flow_run_id)
    detail = {
        "process start -> flow run created": flow["created"] - start,
        "flow run created -> running": flow["start_time"] - flow["created"],
        "flow running -> prepare starts": prepare_start - flow["start_time"],
        "finalize done -> flow run ended": flow["end_time"] - finalize_end,
        "flow run ended -> process exit": end - flow["end_time"],
    }
    hits = read_hits(Path(job.results_location) / HITS_FILE)
    return PipelineRun(
        wall_s=end - start,
        poll_interval_s=poll_interval_s,
        rows=len(hits),
        pairs={(h.query, h.subject) for h in hits},
        batches=len(pods),
        split=split,
        detail=detail,
        argv=argv,
    )


def _flow_run_times(api_url: str, flow_run_id: str | None) -> dict[str, float]:
    """When the Prefect server says the flow run was created, started and ended (epoch seconds)."""
    import httpx

    if flow_run_id is None:
        raise SystemExit("the job record has no flow run id")
    data = httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=30).raise_for_status().json()
    return {key: datetime.fromisoformat(data[key]).timestamp() for key in ("created", "start_time", "end_time")}


def import_seconds(repeat: int = 3) -> float:
    """Median time for a fresh Python to import the flow module (Prefect and the pipeline), no work done."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import flows.blast_search"], cwd=REPO, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


# -- report -----------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    work: Workload
    direct: list[DirectRun] = field(default_factory=list)
    direct_mt1: list[DirectRun] = field(default_factory=list)
    pipeline: dict[float, list[PipelineRun]] = field(default_factory=dict)
    loads: list[str] = field(default_factory=list)

    def same_hits(self) -> bool:
        """Every pipeline run gave the direct run's rows and query-subject pairs."""
        reference = self.direct[0]
        return all(
            r.rows == reference.rows and r.pairs == reference.pairs for runs in self.pipeline.values() for r in runs
        )

    def hits_line(self) -> str:
        reference = self.direct[0]
        rows = sorted({r.rows for runs in self.pipeline.values() for r in runs})
        differing = max((len(r.pairs ^ reference.pairs) for runs in self.pipeline.values() for r in runs), default=0)
        mt1 = sorted({r.rows for r in self.direct_mt1})
        return (
            f"hits: direct {reference.rows} rows, direct -mt_mode 1 {mt1} rows, pipeline {rows} rows; "
            f"query-subject pairs differing from direct: {differing}"
        )


def _median(values: list[float]) -> float:
    return statistics.median(values)


def report(comparisons: list[Comparison]) -> str:
    out = [
        "| workload | run | poll s | batches | wall s (median) | ratio to direct | fixed overhead s | "
        + " | ".join(SPLIT)
        + " |",
        "|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(SPLIT),
    ]
    for c in comparisons:
        direct = _median([d.wall_s for d in c.direct])
        out.append(f"| {c.work.name} | direct | | 1 | {direct:.2f} | 1.00 | | " + " | ".join("" for _ in SPLIT) + " |")
        if c.direct_mt1:
            mt1 = _median([d.wall_s for d in c.direct_mt1])
            blank = " | ".join("" for _ in SPLIT)
            out.append(f"| {c.work.name} | direct -mt_mode 1 | | 1 | {mt1:.2f} | {mt1 / direct:.2f} | | {blank} |")
        for interval, runs in c.pipeline.items():
            wall = _median([r.wall_s for r in runs])
            fixed = _median([r.fixed_s for r in runs])
            parts = " | ".join(f"{_median([r.split[name] for r in runs]):.2f}" for name in SPLIT)
            out.append(
                f"| {c.work.name} | pipeline | {interval:g} | {runs[0].batches} | {wall:.2f} | {wall / direct:.2f} "
                f"| {fixed:.2f} | {parts} |"
            )
    return "\n".join(out)


def details(c: Comparison) -> str:
    lines = [f"{c.work.name}: {c.work.describe()}", f"  load average per repetition: {'; '.join(c.loads)}"]
    lines.append("  direct wall s: " + ", ".join(f"{d.wall_s:.2f}" for d in c.direct))
    if c.direct_mt1:
        lines.append("  direct -mt_mode 1 wall s: " + ", ".join(f"{d.wall_s:.2f}" for d in c.direct_mt1))
    for interval, runs in c.pipeline.items():
        lines.append(
            f"  pipeline (poll {interval:g} s) wall s: "
            + ", ".join(f"{r.wall_s:.2f}" for r in runs)
            + "; ratio per repetition: "
            + ", ".join(f"{r.wall_s / d.wall_s:.2f}" for r, d in zip(runs, c.direct, strict=False))
        )
        lines.append(
            "    start-up and exit, medians: "
            + "; ".join(f"{name} {_median([r.detail[name] for r in runs]):.2f} s" for name in runs[0].detail)
        )
    lines.append("  " + c.hits_line())
    lines.append(f"  direct: {' '.join(c.direct[0].argv)}")
    first = next(iter(c.pipeline.values()))[0]
    lines.append(f"  pipeline: {' '.join(first.argv)}")
    return "\n".join(lines)


def compare(work: Workload, db: str, api_url: str, tmp: Path, args: argparse.Namespace) -> Comparison:
    result = Comparison(work, pipeline={interval: [] for interval in args.poll_intervals})
    for repetition in range(args.repeat):
        result.loads.append(load_average())
        out = tmp / f"direct-{work.name}-{repetition}.tsv"
        result.direct.append(direct_run(work, db, out))
        for interval in args.poll_intervals:
            result.pipeline[interval].append(pipeline_run(work, db, api_url, tmp, interval))
        if not args.no_mt_mode:
            result.direct_mt1.append(direct_run(work, db, out, mt_mode=1))
        print(
            f"  {work.name} repetition {repetition + 1}: direct {result.direct[-1].wall_s:.2f} s, pipeline "
            + ", ".join(f"{runs[-1].wall_s:.2f} s (poll {i:g})" for i, runs in result.pipeline.items()),
            flush=True,
        )
    return result


def main(argv: list[str] | None = None) -> list[Comparison]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="sample,long", help="comma-separated: sample, long")
    parser.add_argument("--repeat", type=int, default=2, help="repetitions per workload (default 2)")
    parser.add_argument(
        "--poll-intervals", default="2,0.5", help="BLASTFLOW_POLL_INTERVAL_S values for the pipeline (default 2,0.5)"
    )
    parser.add_argument("--no-mt-mode", action="store_true", help="skip the direct -mt_mode 1 runs")
    parser.add_argument("--api-url", help="use this running Prefect server instead of starting one")
    parser.add_argument("--smoke", action="store_true", help="20 proteins against 150, once, no -mt_mode 1 run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeat, args.poll_intervals, args.no_mt_mode = 1, "0.5", True
    args.poll_intervals = [float(v) for v in args.poll_intervals.split(",")]
    if shutil.which("blastp") is None:
        raise SystemExit("BLAST+ is not on PATH")

    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}")
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        works = [smoke_workload(tmp)] if args.smoke else [WORKLOADS[n] for n in args.workloads.split(",")]
        databases = {}
        for work in works:
            if work.db_fasta not in databases:
                databases[work.db_fasta] = build_database(work.db_fasta, tmp / "db" / work.db_fasta.stem)
        with _server(args.api_url, tmp) as api_url:
            if not args.smoke:
                print(f"Python import of the flow module: {import_seconds():.2f} s (median of 3)")
                warm = smoke_workload(tmp)  # the server's first flow run registers the flow and tasks
                pipeline_run(warm, build_database(warm.db_fasta, tmp / "db" / "warm"), api_url, tmp, 2.0)
            for work in works:
                comparisons.append(compare(work, databases[work.db_fasta], api_url, tmp, args))
    print()
    print(report(comparisons))
    print()
    for c in comparisons:
        print(details(c))
    print(f"load average at end: {load_average()}")
    if not all(c.same_hits() for c in comparisons):
        raise SystemExit("the pipeline's hits differ from the direct run's")
    return comparisons


@contextmanager
def _server(api_url: str | None, tmp: Path) -> Iterator[str]:
    if api_url:
        yield api_url
        return
    with prefect_server(tmp / "prefect-server") as url:
        yield url


if __name__ == "__main__":
    main()
