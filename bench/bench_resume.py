"""Resume: an all-vs-all blastp killed at about half, then resumed, against a full rerun of the same search.

Workload: the 1,189 sample proteins six times over (ids renamed ``<id>_c1`` …
``<id>_c6``: 7,134 queries) against the 1,189 proteins, in the local backend's
default batches. The local backend and the resume step are driven directly,
without Prefect (the flow adds the same fixed cost to both sides):

1. full: `prepare`, the real submit child and supervisor, `status` every 50 ms
   until SUCCESS, then `fetch_results` + `merge_results` as finalize does them:
   what a full rerun costs;
2. killed: the same search as a new job, its supervisor SIGKILLed once about
   half the batches have succeeded (its BLAST processes die with it);
3. resumed: `blastflow.steps.resume.resume` (the backend's state, every
   finished archive checked with blast_formatter, the row's resume record, the
   batches to run again), the submit child for those, `status` until SUCCESS,
   then fetch + merge.

Reports the batches reused and run again, the time of each part, and the time
saved against the full rerun; the resumed search must give the full run's
hits.tsv byte for byte.

Run from the repository root (BLAST+ on PATH):

    .venv/bin/python bench/bench_resume.py              # 7,134 queries (a few minutes on 2 cores)
    .venv/bin/python bench/bench_resume.py --copies 1   # 1,189 queries
    .venv/bin/python bench/bench_resume.py --smoke      # 60 queries against 150 proteins, seconds

Results: bench/RESULTS.md, "Resume".
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_overhead import PROTEINS, build_database, load_average, machine  # noqa: E402
from blastflow.backends.local.backend import LocalBackend  # noqa: E402
from blastflow.backends.local.run_files import PodPhase, PodState, RunFiles, SupervisorState, read_state  # noqa: E402
from blastflow.merge import JobUpdate, StepUpdate  # noqa: E402
from blastflow.model import Phase, StepName, StepStatus, new_job_id  # noqa: E402
from blastflow.process import alive  # noqa: E402
from blastflow.results import merge_results  # noqa: E402
from blastflow.search import PreparedRun, RunState, SearchSpec  # noqa: E402
from blastflow.settings import Settings  # noqa: E402
from blastflow.steps.context import StepContext  # noqa: E402
from blastflow.steps.prepare import check_search  # noqa: E402
from blastflow.steps.resume import Worker, resume  # noqa: E402
from blastflow.store import open_store  # noqa: E402
from blastflow.store.base import StateStore  # noqa: E402

__all__ = ["Outcome", "main", "replicate"]

STATUS_EVERY_S = 0.05


@dataclass
class Outcome:
    queries: int
    batches: int
    full_run_s: float
    full_render_s: float
    killed_after_s: float
    reused: int
    rerun: int
    check_s: float
    resume_run_s: float
    resume_render_s: float
    same_hits: bool

    @property
    def full_s(self) -> float:
        return self.full_run_s + self.full_render_s

    @property
    def resume_s(self) -> float:
        return self.check_s + self.resume_run_s + self.resume_render_s

    def table(self) -> str:
        saved = self.full_s - self.resume_s
        return "\n".join([
            f"{self.queries:,} queries, {self.batches} batches; supervisor killed after {self.killed_after_s:.1f} s",
            "| | batches run | check s | run s | render s | total s |",
            "|---|---:|---:|---:|---:|---:|",
            f"| full rerun | {self.batches} | | {self.full_run_s:.2f} | {self.full_render_s:.2f} | {self.full_s:.2f} |",
            f"| resume ({self.reused} reused) | {self.rerun} | {self.check_s:.2f} | {self.resume_run_s:.2f} "
            f"| {self.resume_render_s:.2f} | {self.resume_s:.2f} |",
            f"time saved: {saved:.2f} s ({saved / self.full_s:.0%} of a full rerun); same hits: {self.same_hits}",
        ])  # fmt: skip


def replicate(fasta: Path, copies: int, dest: Path, limit: int | None = None) -> int:
    """`copies` copies of the first `limit` records of `fasta` (all by default), ids suffixed ``_c1``…; the count."""
    records = ("\n" + fasta.read_text()).split("\n>")[1:][:limit]  # a header may hold '>' itself
    with dest.open("w") as out:
        for copy in range(1, copies + 1):
            for record in records:
                header, _, sequence = record.partition("\n")
                name, _, rest = header.partition(" ")
                out.write(f">{name}_c{copy} {rest}\n{sequence.rstrip()}\n")
    return len(records) * copies


def _prepare(backend: LocalBackend, query: Path, db: str, batch_len: int | None = None) -> PreparedRun:
    job_id = new_job_id()
    spec = SearchSpec(program="blastp", query=str(query), db=db, batch_len=batch_len)
    checked = check_search(spec, backend.settings.input_root_paths())
    return backend.prepare(job_id, checked, backend.settings.job_dir(job_id))


def _submit(backend: LocalBackend, run: PreparedRun) -> None:
    done = subprocess.run(backend.submit_command(run), env={**os.environ, **backend.submit_env(run)},
                          cwd=run.workdir, capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the submit child failed: {done.stderr}")


def _until_success(backend: LocalBackend, run: PreparedRun) -> None:
    while (status := backend.status(run)).state is not RunState.SUCCESS:
        if status.state is RunState.FAILURE:
            raise SystemExit(f"the run failed: {status.message}")
        time.sleep(STATUS_EVERY_S)


def _render(backend: LocalBackend, run: PreparedRun) -> tuple[float, str]:
    start = time.perf_counter()
    merged = merge_results(backend.fetch_results(run, run.workdir / "results" / "archives"), run.workdir / "results")
    return time.perf_counter() - start, merged.hits_path.read_text()


def _kill_at_half(backend: LocalBackend, run: PreparedRun) -> float:
    """Submit, SIGKILL the supervisor once half the batches succeeded, wait for its BLAST to go; seconds it ran."""
    start = time.perf_counter()
    _submit(backend, run)
    while backend.pod_counts(run).succeeded < len(run.batches) // 2:
        time.sleep(STATUS_EVERY_S)
    supervisor = read_state(RunFiles(run.workdir).supervisor, SupervisorState)
    assert supervisor is not None
    os.kill(supervisor.pid, signal.SIGKILL)
    ran = time.perf_counter() - start
    files = RunFiles(run.workdir)
    pods = [read_state(files.pod_state(b.name), PodState) for b in run.batches]
    blast = [p.pid for p in pods if p and p.phase is PodPhase.RUNNING and p.pid]
    while any(alive(pid) for pid in blast):  # they get SIGTERM when the supervisor dies
        time.sleep(STATUS_EVERY_S)
    return ran


def _lost_row(store: StateStore, job_id: str) -> None:
    """The row a killed run leaves once reconcile has seen it: prepared, then worker_lost."""
    store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.PREPARING))
    store.update(job_id, JobUpdate(steps={StepName.PREPARE: StepUpdate(status=StepStatus.COMPLETED)}))
    store.update(job_id, JobUpdate(phase=Phase.WORKER_LOST, error="Worker lost: killed by the benchmark"))


def measure(
    backend: LocalBackend, store: StateStore, query: Path, queries: int, db: str, batch_len: int | None = None
) -> Outcome:
    full = _prepare(backend, query, db, batch_len)
    start = time.perf_counter()
    _submit(backend, full)
    _until_success(backend, full)
    full_run_s = time.perf_counter() - start
    full_render_s, full_hits = _render(backend, full)
    print(f"  full run: {full_run_s:.2f} s + render {full_render_s:.2f} s", flush=True)

    killed = _prepare(backend, query, db, batch_len)
    killed_after_s = _kill_at_half(backend, killed)
    _lost_row(store, killed.job_id)
    ctx = StepContext(job_id=killed.job_id, store=store, backend=backend, settings=backend.settings)
    start = time.perf_counter()
    plan = resume(ctx, Worker(new_job_id(), socket.gethostname(), os.getpid(), "bench")).plan
    check_s = time.perf_counter() - start
    start = time.perf_counter()
    _submit(backend, killed)
    _until_success(backend, killed)
    resume_run_s = time.perf_counter() - start
    resume_render_s, resumed_hits = _render(backend, killed)
    return Outcome(queries, len(full.batches), full_run_s, full_render_s, killed_after_s, len(plan.reused),
                   len(plan.rerun), check_s, resume_run_s, resume_render_s, resumed_hits == full_hits)  # fmt: skip


def main(argv: list[str] | None = None) -> Outcome:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="copies of the 1,189 proteins as the query (default 6)")
    parser.add_argument("--smoke", action="store_true", help="60 proteins x 1 against 150, small batches")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp_name:
        tmp = Path(tmp_name)
        query, db_fasta = tmp / "query.fasta", PROTEINS
        if args.smoke:
            db_fasta = tmp / "db.fasta"
            replicate(PROTEINS, 1, db_fasta, limit=150)
        queries = replicate(PROTEINS, 1 if args.smoke else args.copies, query, limit=60 if args.smoke else None)
        settings = Settings(data_dir=tmp / "data", batch_retries=0, input_roots=str(tmp))
        store = open_store(f"sqlite:///{tmp / 'state.db'}")
        db = build_database(db_fasta, tmp / "db" / db_fasta.stem)
        # The smoke search is seconds of work, which the default runs as one batch: small batches, to have some to kill.
        outcome = measure(LocalBackend(settings), store, query, queries, db, batch_len=2_000 if args.smoke else None)
        store.close()
    print(outcome.table())
    print(f"load average at end: {load_average()}")
    if not outcome.same_hits:
        raise SystemExit("the resumed search's hits differ from the full run's")
    return outcome


if __name__ == "__main__":
    main()
