"""Orchestration overhead: raw BLAST+ against `blastflow run` with the local stack up and as a new user.

Per workload, in one session, interleaved per repetition (a, b, c, then again):

(a) raw     one BLAST+ process with every core (`-num_threads <nproc>`), the pipeline's own search options
            (`blastflow.options.search_options`), `-outfmt 6`: what a person would type.
(b) stack   the local stack up (`blastflow up` on a free port, in a temporary BLASTFLOW_DATA_DIR; `blastflow
            down --force` at the end, on an error and on Ctrl-C too), then the real `blastflow run` CLI in a child
            process with that data dir and its own PREFECT_HOME. `--stack-url-env` (default) sets PREFECT_API_URL
            to the stack's API for it; `--no-stack-url-env` leaves it out, so `run` must find the stack by itself.
            Either way the bench checks that the run's flow run is on the stack's server and says so.
(c) new     `blastflow run` as a new user: no PREFECT_API_URL, no stack, a PREFECT_HOME and BLASTFLOW_DATA_DIR of its
    user    own, made by one first run ever (timed and printed apart: Prefect creates its database) and then kept,
            as a user's are; `--smoke` uses a fresh one every run (the first-run path, what CI checks). Either
            way `run` starts Prefect's temporary server beside its search process.

All three search one prebuilt database (made as prepare makes it), so makeblastdb is in none. Every child runs
without the caller's PREFECT_* and BLASTFLOW_* variables, with PREFECT_SERVER_ANALYTICS_ENABLED=false. In a full
run one (b) run of the smoke search comes first and is left out (the stack's first flow run registers its tasks).

Reported per workload: medians over repetitions of the wall time of (a), (b) and (c); for (b) and (c) the
medians of the paired differences and ratios to (a) of the same repetition; the targets (small search: (b) <= raw
+ 2 s, (c) <= raw + 5 s; long search: ratio <= 1.05) met or not; the peak memory of each run's process tree (psutil
is not installed: /proc/<pid>/status VmRSS of the CLI process, its descendants found through /proc/*/stat ppid,
and the processes it starts in sessions of their own (`run`'s search process, the local backend's supervisor and
its BLAST processes), found by a marker variable in /proc/<pid>/environ, every 0.1 s; the peak of the summed RSS
of the Python processes and, separately, of the BLAST processes); how long a run's processes ran on after its
CLI exited (the next run waits for them, up to 30 s, then stops them); the load average at each repetition;
the hits (row count and query-subject pairs, read from the first two columns of `hits.tsv`, with or without a
header row) of every run, which must equal raw BLAST+'s (the bench fails otherwise). Where the time of a
`blastflow run` goes, on one clock from the job row's step times and the pods' state files:

    start-up   process start -> prepare starts (imports, Prefect server or client, flow run, first row write)
    prepare    the prepare step (query, options and database checks, batch files)
    submit     prepare done -> first BLAST process starts (task hand-off, submit child, supervisor)
    BLAST      first BLAST process starts -> last one ends (batching changes this, both ways)
    poll slack last BLAST process ends -> finalize starts
    finalize   the finalize step (render, merge, pod logs, artifacts)
    exit       finalize done -> the CLI exits (flow run completion, Prefect shutdown)

Run from the repository root (BLAST+ on PATH), on a quiet machine:

    .venv/bin/python bench/bench_overhead.py                           # sample + long, 3 repetitions
    .venv/bin/python bench/bench_overhead.py --workloads sample --repeat 1
    .venv/bin/python bench/bench_overhead.py --no-stack-url-env        # (b) with `run` finding the stack itself
    .venv/bin/python bench/bench_overhead.py --smoke                   # 20 proteins against 150, once
    .venv/bin/python bench/bench_overhead.py --smoke --api-url URL     # (b) on a running server, no `up`

CI (tests/bench/test_smoke.py) runs `--smoke --api-url <the test session's Prefect server>`: (b) then runs
with PREFECT_API_URL set to that server and skips `blastflow up`, which took 80-130 s on the loaded two-core
machine (`--smoke` alone runs it).
Results: bench/RESULTS.md, "Orchestration overhead".
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blastflow.backends.local.backend import available_cores  # noqa: E402
from blastflow.backends.local.run_files import PodState, RunFiles, read_state  # noqa: E402
from blastflow.hits import HITS_FILE  # noqa: E402
from blastflow.model import JobRecord, StepName  # noqa: E402
from blastflow.options import search_options  # noqa: E402
from blastflow.settings import Settings  # noqa: E402
from blastflow.store import open_store  # noqa: E402

__all__ = [
    "Comparison",
    "Run",
    "Workload",
    "build_database",
    "machine",
    "main",
    "peak_tree",
    "read_pairs",
]

DATA = REPO / "data" / "sinvicta"
PROTEINS = DATA / "Sinvicta2-2-3.prot.subset.fasta"
TRANSCRIPTS = DATA / "Sinvicta2-2-3.cdna.subset.fasta"
BLASTFLOW = Path(sys.executable).with_name("blastflow")  # the venv's console script, as a user runs it

RAW, STACK, NEW_USER = "raw", "stack", "new user"
LABELS = {RAW: "(a) raw BLAST+", STACK: "(b) blastflow run, stack up", NEW_USER: "(c) blastflow run, new user"}
SPLIT = ("start-up", "prepare", "submit", "BLAST", "poll slack", "finalize", "exit")
SMALL_TARGET_S = {STACK: 2.0, NEW_USER: 5.0}  # run - raw, on a search one process finishes in seconds
LONG_TARGET_RATIO = 1.05
SAMPLE_EVERY_S = 0.1
LEFTOVER_GRACE_S = 30.0  # a run's processes may outlive its CLI (Prefect's shutdown): the next run waits for them
MARKER = "BENCH_OVERHEAD_RUN"  # in every process a run starts, detached or not: how the sampler finds them
BLAST_PROGRAMS = frozenset(
    {"blastn", "blastp", "blastx", "tblastn", "tblastx", "blast_formatter", "blastdbcmd", "makeblastdb"}
)
HEADER_PAIRS = {("query", "subject"), ("qseqid", "sseqid")}  # a hits file's header row, if it has one


@dataclass(frozen=True)
class Workload:
    """One search, as every run is given it."""

    name: str
    program: str
    query: Path
    db_fasta: Path
    options: str = ""
    evalue: float = 1e-5
    max_target_seqs: int = 10
    long: bool = False  # judged by ratio (long) or by seconds over raw (small)

    def describe(self) -> str:
        extra = f" {self.options}" if self.options else ""
        return f"{self.program}{extra} of {self.query.name} against {self.db_fasta.name}"


WORKLOADS = {
    "sample": Workload("sample", "blastp", PROTEINS, PROTEINS),  # all-vs-all, 1,189 proteins
    # 473 transcripts against the proteins with a lower neighbourhood-word threshold than blastx's default:
    # more seeds, a more sensitive search, and >= 60 s of BLAST on two cores.
    "long": Workload("long", "blastx", TRANSCRIPTS, PROTEINS, options="-threshold 6", long=True),
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


# -- inputs and hits --------------------------------------------------------------------------------------


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


def read_pairs(path: Path) -> tuple[int, set[tuple[str, str]]]:
    """Rows and (query, subject) pairs of tabular hits: the first two columns, as `-outfmt 6` orders them.

    Works on raw BLAST+ output and on `hits.tsv` in either layout (a header row of names, or none).
    """
    rows = [line.split("\t", 2) for line in path.read_text().splitlines() if line and not line.startswith("#")]
    if rows and tuple(rows[0][:2]) in HEADER_PAIRS:
        rows = rows[1:]
    return len(rows), {(row[0], row[1]) for row in rows}


# -- memory: a run's process tree, from /proc ------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, start time in clock ticks) of every process now."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": comm may hold spaces
        table[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return table


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0  # ended, or a zombie


def _kind(pid: int) -> str | None:
    """The kind, "python" or "BLAST" (None: neither), from the program the process runs (its exe, not its argv)."""
    try:
        name = Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return None
    if name.startswith("python"):
        return "python"
    return "BLAST" if name in BLAST_PROGRAMS else None


class PeakTree:
    """The peak summed RSS (KiB) of a run's Python processes and, apart, of its BLAST processes.

    A run's processes: the CLI process, its descendants, and every process whose environment carries the
    run's marker with their descendants (the local backend's supervisor detaches into its own session, so
    its parent is gone by the time its BLAST processes run).
    """

    def __init__(self, root: int, token: str) -> None:
        self.root = root
        self.marker = f"{MARKER}={token}".encode()
        self.peak = {"python": 0, "BLAST": 0}
        self._marked: dict[tuple[int, int], bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-tree", daemon=True)

    def __enter__(self) -> PeakTree:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(SAMPLE_EVERY_S):
                return

    def sample(self) -> None:
        sums = {"python": 0, "BLAST": 0}
        for pid in self.members(_proc_table()):
            kind = _kind(pid)
            if kind is not None:
                sums[kind] += _rss_kib(pid)
        self.peak = {kind: max(self.peak[kind], value) for kind, value in sums.items()}

    def members(self, table: dict[int, tuple[int, int]]) -> set[int]:
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo = [pid for pid, (_, start) in table.items() if pid == self.root or self._is_marked(pid, start)]
        found: set[int] = set()
        while todo:
            pid = todo.pop()
            if pid not in found:
                found.add(pid)
                todo.extend(children.get(pid, ()))
        return found

    def _is_marked(self, pid: int, start: int) -> bool:
        key = (pid, start)
        if key not in self._marked:
            try:
                self._marked[key] = self.marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:  # another user's process, or it ended
                self._marked[key] = False
        return self._marked[key]

    def stop_leftovers(self, grace_s: float) -> list[str]:
        """Wait up to `grace_s` for the run's other processes to end, then SIGTERM the rest; each as "pid command".

        Zombies are not running: they are left to their parent."""
        deadline = time.monotonic() + grace_s
        while (left := self._running()) and time.monotonic() < deadline:
            time.sleep(0.1)
        named = [f"{pid} {_command(pid)}" for pid in left]
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        return named

    def _running(self) -> list[int]:
        table = _proc_table()
        return sorted(pid for pid in self.members(table) - {self.root, os.getpid()} if not _zombie(pid))


def _zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # gone
    return text[text.rindex(")") + 2] in "ZX"


def _command(pid: int) -> str:
    try:
        return " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:4])
    except OSError:
        return "(ended)"


@dataclass
class Timed:
    """One child process: its wall clock (epoch seconds), exit code, output and peak memory (KiB)."""

    start: float
    end: float
    tail_s: float  # from the CLI's exit until the last process it started ended (or was stopped)
    code: int
    stdout: str
    stderr: str
    peak_kib: dict[str, int]

    @property
    def wall_s(self) -> float:
        return self.end - self.start


def peak_tree(argv: list[str], env: dict[str, str], cwd: Path) -> Timed:
    """Run `argv` to its exit while sampling its process tree's memory; leftovers are stopped afterwards.

    Output goes to files, not pipes: the wall clock ends when the process exits, as a prompt returns, not when
    the last process that inherited its output lets go of it.
    """
    token = uuid.uuid4().hex
    out, err = (Path(tempfile.mkstemp(prefix=f"{Path(argv[0]).name}-", suffix=s, dir=cwd)[1]) for s in (".out", ".err"))
    with out.open("w") as stdout, err.open("w") as stderr:
        start = time.time()
        child = subprocess.Popen(argv, env={**env, MARKER: token}, cwd=cwd, stdin=subprocess.DEVNULL,
                                 stdout=stdout, stderr=stderr)  # fmt: skip
    tree = PeakTree(child.pid, token)
    try:
        with tree:  # sampling on until the run's last process has ended, after the CLI too
            child.wait()
            end = time.time()
            left = tree.stop_leftovers(LEFTOVER_GRACE_S)
            settled = time.time()
    finally:
        if child.poll() is None:  # Ctrl-C or an error here: the run goes too
            child.kill()
            child.wait()
            tree.stop_leftovers(0.0)
    if left:
        print(f"  stopped what {Path(argv[0]).name} left running: {'; '.join(left)}", flush=True)
    stdout, stderr = (path.read_text(errors="replace") for path in (out, err))
    return Timed(start, end, settled - end, child.returncode, stdout, stderr, tree.peak)


# -- the runs ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run of one workload, in one of the three ways."""

    mode: str
    wall_s: float
    rows: int
    pairs: set[tuple[str, str]]
    peak_kib: dict[str, int]
    argv: list[str]
    batches: int | None = None
    split: dict[str, float] = field(default_factory=dict)  # empty if the job record lacked a step time
    flow_run_id: str | None = None
    tail_s: float = 0.0  # its processes ran on this long after the CLI exited
    on_stack: bool | None = None  # (b): the run's flow run is on the stack's server


def raw_argv(work: Workload, db: str, out: Path) -> list[str]:
    """One BLAST+ process with every core and the pipeline's options, `-outfmt 6`."""
    options = search_options(work.program, work.options, work.evalue, work.max_target_seqs)
    argv = [work.program, "-query", str(work.query), "-db", db, "-outfmt", "6", "-out", str(out)]
    return [*argv, "-num_threads", str(available_cores()), *options]


def raw_run(work: Workload, db: str, out: Path) -> Run:
    argv = raw_argv(work, db, out)
    done = peak_tree(argv, dict(os.environ), out.parent)
    if done.code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.code}):\n{done.stderr[-3000:]}")
    rows, pairs = read_pairs(out)
    return Run(RAW, done.wall_s, rows, pairs, done.peak_kib, argv)


def run_argv(work: Workload, db: str, title: str) -> list[str]:
    """`blastflow run …` as a user types it."""
    return [
        str(BLASTFLOW), "run", "--query", str(work.query), "--db", db, "--program", work.program,
        "--options", work.options, "--evalue", f"{work.evalue:g}", "--max-target-seqs", str(work.max_target_seqs),
        "--title", title,
    ]  # fmt: skip


def blastflow_run(work: Workload, db: str, mode: str, env: dict[str, str], cwd: Path) -> Run:
    """One `blastflow run` in a child process with `env`; its hits and where its time went, from its job."""
    title = f"bench {work.name} {mode} {uuid.uuid4().hex[:8]}"  # finds the job whatever `run` prints
    argv = run_argv(work, db, title)
    done = peak_tree(argv, env, cwd)
    if done.code != 0:
        raise SystemExit(f"blastflow run ({mode}) failed ({done.code}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    data_dir = Path(env["BLASTFLOW_DATA_DIR"])
    job = find_job(data_dir, title)
    if job.results_location is None:
        raise SystemExit(f"job {job.job_id} ({mode}) has no results location: {job.status}, {job.error}")
    rows, pairs = read_pairs(Path(job.results_location) / HITS_FILE)
    pods = pod_times(data_dir / "jobs" / job.job_id)
    batches = pods[2] if pods else None
    split = step_split(job, pods, done)
    return Run(mode, done.wall_s, rows, pairs, done.peak_kib, argv, batches, split, job.flow_run_id, done.tail_s)


def find_job(data_dir: Path, title: str) -> JobRecord:
    """The job a run made, by its unique title, from the store a user of that data dir has by default."""
    store = open_store(Settings(data_dir=data_dir).default_store_url)
    try:
        jobs = [job for job in store.list_jobs() if job.title == title]
    finally:
        store.close()
    if len(jobs) != 1:
        raise SystemExit(f"{len(jobs)} jobs titled {title!r} in the store of {data_dir}")
    return jobs[0]


def pod_times(workdir: Path) -> tuple[float, float, int] | None:
    """First BLAST process start, last end (epoch s) and the number of batches; None if a time is missing."""
    pods_dir = workdir / "pods"
    if not pods_dir.is_dir():
        return None
    files = RunFiles(workdir)
    states = [read_state(files.pod_state(p.name), PodState) for p in sorted(pods_dir.iterdir()) if p.is_dir()]
    if not states or any(s is None or s.started_at is None or s.finished_at is None for s in states):
        return None
    starts = [s.started_at.timestamp() for s in states if s and s.started_at]
    ends = [s.finished_at.timestamp() for s in states if s and s.finished_at]
    return min(starts), max(ends), len(states)


def step_split(job: JobRecord, pods: tuple[float, float, int] | None, done: Timed) -> dict[str, float]:
    """SPLIT's parts as the differences of consecutive moments; {} if the job or its pods lack one."""
    prepare, finalize = job.steps[StepName.PREPARE], job.steps[StepName.FINALIZE]
    marks = [prepare.started_at, prepare.completed_at, finalize.started_at, finalize.completed_at]
    if pods is None or any(mark is None for mark in marks):
        return {}
    p0, p1, f0, f1 = (mark.timestamp() for mark in marks if mark is not None)
    moments = [done.start, p0, p1, pods[0], pods[1], f0, f1, done.end]
    return {name: b - a for name, (a, b) in zip(SPLIT, pairwise(moments), strict=True)}


def flow_run_on(api_url: str, flow_run_id: str | None) -> bool:
    """Whether the Prefect server at `api_url` holds this flow run: the run used that server."""
    import httpx

    if flow_run_id is None:
        return False
    try:
        return httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=30).status_code == 200
    except httpx.HTTPError:
        return False


# -- environments and the stack ---------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """This process's environment without Prefect's or blastflow's settings: a shell with none set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BLASTFLOW_"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # no telemetry calls out of a benchmark
    return env


@dataclass(frozen=True)
class Stack:
    """The server (b) runs against: the stack `blastflow up` started, or one given with --api-url."""

    api_url: str
    data_dir: Path
    how: str  # which way (b) ran, for the output
    url_env: bool  # PREFECT_API_URL set for (b)
    up_s: float | None = None

    def env(self, prefect_home: Path) -> dict[str, str]:
        env = {**clean_env(), "BLASTFLOW_DATA_DIR": str(self.data_dir), "PREFECT_HOME": str(prefect_home)}
        return {**env, "PREFECT_API_URL": self.api_url} if self.url_env else env


def new_user_env(tmp: Path) -> dict[str, str]:
    """(c): nothing configured, nothing running; a fresh Prefect home and data dir of its own."""
    home = Path(tempfile.mkdtemp(prefix="new-user-", dir=tmp))
    return {**clean_env(), "PREFECT_HOME": str(home / "prefect"), "BLASTFLOW_DATA_DIR": str(home / "data")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(args: list[str], env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BLASTFLOW), *args], env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(
            f"blastflow {args[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


@contextmanager
def local_stack(tmp: Path, *, url_env: bool) -> Iterator[Stack]:
    """`blastflow up` in a data dir of its own on a free port; `blastflow down --force` however this ends."""
    data_dir = tmp / "stack-data"
    env = {**clean_env(), "BLASTFLOW_DATA_DIR": str(data_dir)}
    start = time.perf_counter()
    try:
        _cli(["up", "--port", str(_free_port())], env)
        up_s = time.perf_counter() - start
        from ops.stack_files import StackFiles

        api_url = StackFiles.of(data_dir).read_state()["api_url"]
        how = (
            f"`blastflow up` ({up_s:.1f} s), then `blastflow run` with PREFECT_API_URL={api_url} set by the bench"
            if url_env
            else f"`blastflow up` ({up_s:.1f} s), then `blastflow run` without PREFECT_API_URL"
        )
        yield Stack(api_url, data_dir, how, url_env, up_s)
    finally:
        down = _cli(["down", "--force"], env, check=False)
        print(f"blastflow down --force ({down.returncode}): {' '.join((down.stdout + down.stderr).split())[-500:]}")


@contextmanager
def the_stack(args: argparse.Namespace, tmp: Path) -> Iterator[Stack]:
    if args.api_url:
        how = f"the Prefect server given with --api-url (PREFECT_API_URL={args.api_url}); no `blastflow up`"
        yield Stack(args.api_url.rstrip("/"), tmp / "given-server-data", how, True)
        return
    with local_stack(tmp, url_env=args.stack_url_env) as stack:
        yield stack


def stack_run(work: Workload, db: str, stack: Stack, tmp: Path) -> Run:
    run = blastflow_run(work, db, STACK, stack.env(tmp / "user-prefect-home"), tmp)
    run.on_stack = flow_run_on(stack.api_url, run.flow_run_id)
    return run


# -- report -----------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Every run of one workload, by mode, in repetition order."""

    work: Workload
    runs: dict[str, list[Run]] = field(default_factory=lambda: {RAW: [], STACK: [], NEW_USER: []})
    loads: list[str] = field(default_factory=list)

    def same_hits(self) -> bool:
        """Every run gave the first raw run's rows and query-subject pairs."""
        reference = self.runs[RAW][0]
        return all(r.rows == reference.rows and r.pairs == reference.pairs for runs in self.runs.values() for r in runs)

    def hits_line(self) -> str:
        reference = self.runs[RAW][0]
        rows = {mode: sorted({r.rows for r in runs}) for mode, runs in self.runs.items() if runs}
        differing = max((len(r.pairs ^ reference.pairs) for runs in self.runs.values() for r in runs), default=0)
        return f"hits (rows): {rows}; query-subject pairs differing from raw: {differing}"

    def paired(self, mode: str) -> tuple[list[float], list[float]]:
        """Per repetition: run - raw (s) and run / raw, each against the raw run of the same repetition."""
        pairs = list(zip(self.runs[mode], self.runs[RAW], strict=False))
        return [r.wall_s - a.wall_s for r, a in pairs], [r.wall_s / a.wall_s for r, a in pairs]

    def verdict(self, mode: str) -> str:
        diffs, ratios = self.paired(mode)
        if self.work.long:
            ratio = statistics.median(ratios)
            return f"ratio <= {LONG_TARGET_RATIO:g}: {'met' if ratio <= LONG_TARGET_RATIO else 'not met'}"
        limit = SMALL_TARGET_S[mode]
        return f"<= raw + {limit:g} s: {'met' if statistics.median(diffs) <= limit else 'not met'}"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def table_row(c: Comparison, mode: str) -> str:
    runs = c.runs[mode]
    wall = statistics.median(r.wall_s for r in runs)
    python = _mib(max(r.peak_kib["python"] for r in runs)) if mode != RAW else ""
    blast = _mib(max(r.peak_kib["BLAST"] for r in runs))
    batches = "1" if mode == RAW else "/".join(sorted({str(r.batches) for r in runs}))
    if mode == RAW:
        return f"| {c.work.name} | {LABELS[mode]} | {wall:.2f} | | | | {python} | {blast} | {batches} |"
    diffs, ratios = c.paired(mode)
    return (
        f"| {c.work.name} | {LABELS[mode]} | {wall:.2f} | {statistics.median(diffs):+.2f} | "
        f"{statistics.median(ratios):.2f} | {c.verdict(mode)} | {python} | {blast} | {batches} |"
    )


def report(comparisons: list[Comparison]) -> str:
    out = [
        "| workload | run | wall s (median) | run - raw s (median, paired) | ratio (median, paired) | target "
        "| peak Python MiB | peak BLAST MiB | batches |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for c in comparisons:
        out += [table_row(c, mode) for mode, runs in c.runs.items() if runs]
    return "\n".join(out)


def details(c: Comparison, stack_how: str | None) -> str:
    lines = [f"{c.work.name}: {c.work.describe()}", f"  load average per repetition: {'; '.join(c.loads)}"]
    for mode, runs in c.runs.items():
        if not runs:
            continue
        lines.append(f"  {LABELS[mode]} wall s: " + ", ".join(f"{r.wall_s:.2f}" for r in runs))
        if mode != RAW:
            lines.append(f"    {_split_line(runs)}")
            lines.append(
                "    peak MiB per run (Python/BLAST): "
                + ", ".join(f"{_mib(r.peak_kib['python'])}/{_mib(r.peak_kib['BLAST'])}" for r in runs)
                + "; its processes ran on after the CLI exited (s): "
                + ", ".join(f"{r.tail_s:.1f}" for r in runs)
            )
    if c.runs[STACK]:
        on = [r.on_stack for r in c.runs[STACK]]
        lines.append(f"  (b) ran as: {stack_how}; its flow runs on that server: {on.count(True)} of {len(on)}")
    lines.append("  " + c.hits_line())
    lines += [f"  {LABELS[mode]}: {' '.join(runs[0].argv)}" for mode, runs in c.runs.items() if runs]
    return "\n".join(lines)


def _split_line(runs: list[Run]) -> str:
    if not all(r.split for r in runs):
        return "where the time went: n/a (a job record or pod state file lacked a time)"
    return "where the time went, medians: " + "; ".join(
        f"{name} {statistics.median(r.split[name] for r in runs):.2f} s" for name in SPLIT
    )


# -- main -------------------------------------------------------------------------------------------------


def compare(
    work: Workload, db: str, stack: Stack, tmp: Path, repeat: int, user: dict[str, str] | None = None
) -> Comparison:
    """`repeat` rounds of (a), (b), (c), one after the other: load changes hit all three alike.

    (c) runs with `user`'s Prefect home when given (a new user's second run on: Prefect's database exists),
    else with a fresh one each time (the first run ever, which creates it).
    """
    result = Comparison(work)
    for repetition in range(repeat):
        result.loads.append(load_average())
        result.runs[RAW].append(raw_run(work, db, tmp / f"raw-{work.name}-{repetition}.tsv"))
        result.runs[STACK].append(stack_run(work, db, stack, tmp))
        result.runs[NEW_USER].append(blastflow_run(work, db, NEW_USER, user or new_user_env(tmp), tmp))
        print(
            f"  {work.name} repetition {repetition + 1} (load {result.loads[-1]}): "
            + ", ".join(f"{LABELS[mode]} {runs[-1].wall_s:.2f} s" for mode, runs in result.runs.items() if runs),
            flush=True,
        )
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workloads", default="sample,long", help="comma-separated: sample, long (default both)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per workload (default 3)")
    parser.add_argument(
        "--stack-url-env", action=argparse.BooleanOptionalAction, default=True,
        help="(b): set PREFECT_API_URL to the stack's API (default); --no-stack-url-env: `run` finds the stack",
    )  # fmt: skip
    parser.add_argument("--api-url", help="(b) against this running Prefect server instead of `blastflow up`")
    parser.add_argument(
        "--smoke", action="store_true", help="20 proteins against 150, once (CI adds --api-url: no `blastflow up`)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeat = 1
    unknown = set(args.workloads.split(",")) - set(WORKLOADS)
    if unknown and not args.smoke:
        parser.error(f"unknown workload(s) {sorted(unknown)}: choose from {sorted(WORKLOADS)}")
    return args


def databases(works: list[Workload], tmp: Path) -> dict[Path, str]:
    """One prebuilt database per FASTA, shared by every run."""
    built: dict[Path, str] = {}
    for work in works:
        if work.db_fasta not in built:
            built[work.db_fasta] = build_database(work.db_fasta, tmp / "db" / work.db_fasta.stem)
    return built


def measure(args: argparse.Namespace, tmp: Path) -> tuple[list[Comparison], str]:
    """Every comparison, with the stack up around them; and which way (b) ran."""
    warm = smoke_workload(tmp)
    works = [warm] if args.smoke else [WORKLOADS[name] for name in args.workloads.split(",")]
    dbs = databases([*works, warm], tmp)
    user = None
    with the_stack(args, tmp) as stack:
        print(f"(b) runs with {stack.how}", flush=True)
        if not args.smoke:  # the stack's first flow run registers its tasks; a new user's first creates Prefect's db
            stack_run(warm, dbs[warm.db_fasta], stack, tmp)
            user = new_user_env(tmp)
            first = blastflow_run(warm, dbs[warm.db_fasta], NEW_USER, user, tmp)
            print(f"(c) a new user's first run ever (Prefect creates its database), smoke search: "
                  f"{first.wall_s:.2f} s; (c) below reuses that Prefect home", flush=True)
        comparisons = [compare(work, dbs[work.db_fasta], stack, tmp, args.repeat, user) for work in works]
        return comparisons, stack.how


def main(argv: list[str] | None = None) -> list[Comparison]:
    args = parse_args(argv)
    if shutil.which("blastp") is None:
        raise SystemExit("BLAST+ is not on PATH")
    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp_name:
        comparisons, how = measure(args, Path(tmp_name))
    print()
    print(report(comparisons))
    print()
    for c in comparisons:
        print(details(c, how))
    print(f"load average at end: {load_average()}")
    if not all(c.same_hits() for c in comparisons):
        raise SystemExit("a blastflow run's hits differ from raw BLAST+'s")
    if not all(r.on_stack for c in comparisons for r in c.runs[STACK]):
        raise SystemExit("a (b) run did not use the stack's server: its flow run is not there")
    return comparisons


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # a kill ends like Ctrl-C: the stack comes down, the runs' leftovers stop


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    main()
