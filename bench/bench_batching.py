"""Batching: the local backend with 1, 2, 4, 8 batches, by work and capped, versus one BLAST+ process on every core.

The backend is driven directly, without Prefect, to isolate batching: `prepare`
(with `batch_len` chosen to give each batch count), the real submit child
(which starts the real supervisor), then `status` every 50 ms until SUCCESS,
then `fetch_results` + `merge_results` (one blast_formatter per batch, as
finalize does). The local backend runs at most BLASTFLOW_MAX_PARALLEL_BATCHES
batches at once (default: the cores) with `-num_threads cores // concurrency`.

Side by side, interleaved per repetition, on one prebuilt database:
- direct: one BLAST+ process, `-num_threads <nproc>`, archive output (format
  11, as the pods write), then one blast_formatter (the same rendering);
- direct, `-mt_mode 1`: the same with BLAST's threads split by query;
- the backend with 1, 2, 4 and 8 batches; "by work", the default batching
  (`blastflow.backends.local.batch_size.plan_by_work`: one batch for a short
  search, about 4 per slot for a long one); and "capped", the default before it
  (`capped_batch_len`: one batch per slot within per-program caps).

Columns: run = submit start -> SUCCESS seen (submit child, supervisor, every
BLAST process); render = fetch + merge_results; total = run + render; ratio =
total / direct total. Every configuration must give the direct run's hits.

Run from the repository root (BLAST+ on PATH):

    .venv/bin/python bench/bench_batching.py                   # sample blastp + long blastx, 2 repetitions
    .venv/bin/python bench/bench_batching.py --workloads sample --repeat 3
    .venv/bin/python bench/bench_batching.py --smoke           # a few seconds; what CI runs

Results: bench/RESULTS.md, "Batching".
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_overhead import WORKLOADS, Workload, build_database, load_average, machine, smoke_workload  # noqa: E402
from blastflow.backends.local.backend import LocalBackend, available_cores  # noqa: E402
from blastflow.backends.local.batch_size import batch_len_for, capped_batch_len, plan_by_work  # noqa: E402
from blastflow.backends.local.run_files import LocalConfig, PodState, RunFiles, read_state  # noqa: E402
from blastflow.batch import plan_batches  # noqa: E402
from blastflow.model import new_job_id  # noqa: E402
from blastflow.options import search_options  # noqa: E402
from blastflow.query import load_query  # noqa: E402
from blastflow.results import merge_results, render_hits  # noqa: E402
from blastflow.search import PreparedRun, RunState, SearchSpec  # noqa: E402
from blastflow.settings import Settings  # noqa: E402
from blastflow.steps.prepare import check_search  # noqa: E402

__all__ = ["Config", "Timing", "main"]

STATUS_EVERY_S = 0.05
COUNTS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Config:
    label: str
    batch_len: int | None  # None: direct
    mt_mode: int | None = None


@dataclass
class Timing:
    run_s: float
    render_s: float
    rows: int
    pairs: set[tuple[str, str]]
    batches: int = 1
    threads: int = 0
    blast_span_s: float = 0.0
    pod_s: list[float] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.run_s + self.render_s


def _direct(work: Workload, db: str, tmp: Path, mt_mode: int | None) -> Timing:
    archive = tmp / f"direct-{work.name}.asn"
    options = search_options(work.program, work.options, work.evalue, work.max_target_seqs)
    argv = [work.program, "-query", str(work.query), "-db", db, "-out", str(archive), "-outfmt", "11"]
    argv += ["-num_threads", str(available_cores()), *options]
    argv += ["-mt_mode", str(mt_mode)] if mt_mode is not None else []
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    run_s = time.perf_counter() - start
    start = time.perf_counter()
    hits = render_hits(archive)
    render_s = time.perf_counter() - start
    return Timing(run_s, render_s, len(hits), {(h.query, h.subject) for h in hits}, threads=available_cores())


def _backend_run(backend: LocalBackend, work: Workload, db: str, batch_len: int, tmp: Path) -> Timing:
    job_id = new_job_id()
    spec = SearchSpec(
        program=work.program,  # type: ignore[arg-type]
        query=str(work.query),
        db=db,
        options=work.options,
        evalue=work.evalue,
        max_target_seqs=work.max_target_seqs,
        batch_len=batch_len,
    )
    roots = backend.settings.input_root_paths()
    run = backend.prepare(job_id, check_search(spec, roots), backend.settings.job_dir(job_id))
    start = time.perf_counter()
    submitted = subprocess.run(
        backend.submit_command(run),
        env={**os.environ, **backend.submit_env(run)},
        cwd=run.workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if submitted.returncode != 0:
        raise SystemExit(f"the submit child failed: {submitted.stderr}")
    while (status := backend.status(run)).state is not RunState.SUCCESS:
        if status.state is RunState.FAILURE:
            raise SystemExit(f"the run failed: {status.message}")
        time.sleep(STATUS_EVERY_S)
    run_s = time.perf_counter() - start
    start = time.perf_counter()
    results = merge_results(backend.fetch_results(run, run.workdir / "results" / "archives"), run.workdir / "results")
    render_s = time.perf_counter() - start
    pods = _pods(run)
    return Timing(
        run_s,
        render_s,
        len(results.hits),
        {(h.query, h.subject) for h in results.hits},
        batches=len(run.batches),
        threads=LocalConfig.model_validate_json(run.config_path.read_bytes()).threads_per_pod,
        blast_span_s=max(p.finished_at.timestamp() for p in pods) - min(p.started_at.timestamp() for p in pods),
        pod_s=[(p.finished_at - p.started_at).total_seconds() for p in pods],
    )


def _pods(run: PreparedRun) -> list[PodState]:
    pods = [read_state(RunFiles(run.workdir).pod_state(b.name), PodState) for b in run.batches]
    assert all(p is not None and p.started_at and p.finished_at for p in pods), "a pod has no start or end time"
    return pods  # type: ignore[return-value]


def configs(work: Workload, slots: int, counts: tuple[int, ...] = COUNTS) -> list[Config]:
    """Direct, direct -mt_mode 1, each batch count, the default (by work) and the old default (capped).

    "by work" is run with the batch length the default chooses, so it makes exactly the default's batches.
    """
    lengths = [record.length for record in load_query(str(work.query)).records]
    db_letters = sum(record.length for record in load_query(str(work.db_fasta)).records)
    options = search_options(work.program, work.options, work.evalue, work.max_target_seqs)
    by_work = plan_by_work(work.program, options, lengths, db_letters, cores=available_cores(), slots=slots)
    print(f"  {work.name}, by work: {by_work.reason}")
    capped = capped_batch_len(work.program, sum(lengths), slots)
    capped_count = len(plan_batches(lengths, capped))
    return [
        Config("direct", None),
        Config("direct -mt_mode 1", None, mt_mode=1),
        *[Config(f"{n} batches", batch_len_for(lengths, n)) for n in counts],
        Config(f"by work, the default ({_count(by_work.count)})", by_work.batch_len),
        Config(f"capped, the old default ({_count(capped_count)} of <= {capped:,})", capped),
    ]


def _count(batches: int) -> str:
    return "1 batch" if batches == 1 else f"{batches} batches"


def measure(
    work: Workload,
    db: str,
    tmp: Path,
    backend: LocalBackend,
    repeat: int,
    *,
    counts: tuple[int, ...] = COUNTS,
    mt_mode: bool = True,
) -> tuple[dict[Config, list[Timing]], list[str]]:
    """Every configuration `repeat` times, interleaved; the timings and the load average per repetition."""
    slots = backend.settings.max_parallel_batches
    chosen = [c for c in configs(work, slots, counts) if mt_mode or c.mt_mode is None]
    timings: dict[Config, list[Timing]] = {c: [] for c in chosen}
    loads = []
    for repetition in range(repeat):
        loads.append(load_average())
        for config in chosen:
            if config.batch_len is None:
                timings[config].append(_direct(work, db, tmp, config.mt_mode))
            else:
                timings[config].append(_backend_run(backend, work, db, config.batch_len, tmp))
        print(
            f"  {work.name} repetition {repetition + 1}: "
            + ", ".join(f"{c.label} {t[-1].total_s:.2f} s" for c, t in timings.items()),
            flush=True,
        )
    return timings, loads


def table(work: Workload, timings: dict[Config, list[Timing]]) -> str:
    direct = statistics.median(t.total_s for t in timings[next(iter(timings))])
    rows = [
        f"{work.name}: {work.describe()}",
        "| configuration | batches | threads each | run s | BLAST span s | render s | total s | ratio to direct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config, runs in timings.items():
        med = statistics.median
        span = f"{med(t.blast_span_s for t in runs):.2f}" if config.batch_len else ""
        total = med(t.total_s for t in runs)
        rows.append(
            f"| {config.label} | {runs[0].batches} | {runs[0].threads} | {med(t.run_s for t in runs):.2f} | {span} "
            f"| {med(t.render_s for t in runs):.2f} | {total:.2f} | {total / direct:.2f} |"
        )
    return "\n".join(rows)


def same_hits(timings: dict[Config, list[Timing]]) -> bool:
    """Every configuration gave the first direct run's rows and query-subject pairs."""
    reference = next(iter(timings.values()))[0]
    return all(t.rows == reference.rows and t.pairs == reference.pairs for runs in timings.values() for t in runs)


def main(argv: list[str] | None = None) -> dict[str, dict[Config, list[Timing]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="sample,long", help="comma-separated: sample, long")
    parser.add_argument("--repeat", type=int, default=2, help="repetitions (default 2)")
    parser.add_argument(
        "--smoke", action="store_true", help="20 proteins against 150, once: 1 and 2 batches, by work, capped"
    )
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}")
    results: dict[str, dict[Config, list[Timing]]] = {}
    tables = []
    with tempfile.TemporaryDirectory(prefix="bench-batching-") as tmp_name:
        tmp = Path(tmp_name)
        # Inputs are read from the temporary directory (smoke query, databases) and the sample data only.
        roots = os.pathsep.join([str(tmp), str(REPO / "data")])
        settings = Settings(data_dir=tmp / "data", batch_retries=0, input_roots=roots)
        backend = LocalBackend(settings)
        print(f"max parallel batches: {settings.max_parallel_batches}, cores: {available_cores()}")
        works = [smoke_workload(tmp)] if args.smoke else [WORKLOADS[n] for n in args.workloads.split(",")]
        for work in works:
            db = build_database(work.db_fasta, tmp / "db" / f"{work.name}-{work.db_fasta.stem}")
            if args.smoke:
                timings, loads = measure(work, db, tmp, backend, 1, counts=(1, 2), mt_mode=False)
            else:
                timings, loads = measure(work, db, tmp, backend, args.repeat)
            results[work.name] = timings
            tables.append(table(work, timings) + f"\nload average per repetition: {'; '.join(loads)}")
    print()
    print("\n\n".join(tables))
    print(f"load average at end: {load_average()}")
    for name, timings in results.items():
        reference = next(iter(timings.values()))[0]
        print(f"{name}: every configuration gave {reference.rows} rows, same query-subject pairs: {same_hits(timings)}")
    if not all(same_hits(t) for t in results.values()):
        raise SystemExit("a batching gave other hits than the direct run")
    return results


if __name__ == "__main__":
    main()
