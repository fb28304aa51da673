"""Finalize: merge batch results, keep pod log tails, and close the job as completed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blastflow.alignments import alignment_index
from blastflow.errors import BackendError, ConfigError, TransientBackendError
from blastflow.formats import formatted
from blastflow.hit_query import queries_with_hits, top_hits, totals
from blastflow.joblog import StepLog
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.provenance import NO_HITS_FILE, PROVENANCE_FILE, Provenance
from blastflow.results import merge_results
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun
from blastflow.steps.context import StepContext
from blastflow.steps.provenance import record_provenance
from blastflow.summary import summary_markdown

__all__ = ["POD_LOGS_CAPTURED", "POD_LOGS_UNAVAILABLE", "FinalizeResult", "capture_pod_logs", "finalize"]

POD_LOGS_CAPTURED = "captured"
POD_LOGS_UNAVAILABLE = "unavailable"
PRERENDER_MAX_HITS = 20_000  # BLAST XML takes about 3 KB a hit: 20,000 hits is some 60 MB, rendered in seconds


@dataclass
class FinalizeResult:
    results_dir: Path
    hits_path: Path
    archive_path: Path | None
    hit_count: int = 0
    queries_hit: int = 0
    top_hits: list[dict[str, Any]] = field(default_factory=list)  # the 25 best, field-named (`hit_query.top_hits`)
    parquet_path: Path | None = None
    pod_logs: str = POD_LOGS_UNAVAILABLE
    summary: str = ""
    provenance: Provenance | None = None
    without_hits: list[str] = field(default_factory=list)  # ids of the queries without a hit, in query order


def finalize(ctx: StepContext, run: PreparedRun) -> FinalizeResult:
    """Collect results and pod logs, then mark the job completed."""
    log = ctx.log(StepName.FINALIZE)
    results_dir = run.workdir / "results"
    archives = ctx.backend.fetch_results(run, results_dir / "archives")
    log.add(f"Fetched {len(archives)} batch result archives")
    blastdb = _results_database(ctx, run, archives, results_dir / "archives", log)
    merged = merge_results(archives, results_dir, program=run.program, blastdb=blastdb)
    hit_count, queries_hit = totals(merged.parquet_path) if merged.parquet_path else (merged.hit_count, 0)
    log.add(f"{hit_count:,} hits for {queries_hit:,} queries")
    with_hits = queries_with_hits(merged.parquet_path) if merged.parquet_path else set()
    provenance, without = record_provenance(
        ctx, run, results_dir, archives=archives, blastdb=blastdb, hits=hit_count, hit_queries=with_hits
    )
    log.add(f"{len(without):,} queries without hits" + (f" (their ids: {NO_HITS_FILE})" if without else ""))
    log.add(f"Provenance: {PROVENANCE_FILE} (BLAST+ {provenance.blast_version or 'version unknown'})")
    log.add(f"Tabular hits: {merged.hits_path}")
    if merged.archive_path is not None:
        log.add(f"BLAST archive (format 11, for blast_formatter): {merged.archive_path}")
    pod_logs = capture_pod_logs(ctx, run, log)
    log.close()
    job = ctx.write(
        JobUpdate(
            phase=Phase.COMPLETED,
            results_location=str(results_dir),
            pod_logs=pod_logs,
            steps={
                StepName.FINALIZE: StepUpdate(
                    status=StepStatus.COMPLETED,
                    counters={"hits": hit_count, "batches": len(archives), "queries_without_hits": len(without)},
                    message=f"{hit_count:,} hits",
                )
            },
        )
    )
    # After the job is completed: the hits are there, whoever waits for them goes on (`blastflow run` returns);
    # the XML the Alignments view reads is a convenience that takes seconds (3.5 s for 3,500 hits here).
    _prerender_alignments(ctx, results_dir, run.program, hit_count)
    best = top_hits(merged.parquet_path) if merged.parquet_path else []
    return FinalizeResult(
        results_dir=results_dir,
        hits_path=merged.hits_path,
        archive_path=merged.archive_path,
        hit_count=hit_count,
        queries_hit=queries_hit,
        top_hits=best,
        parquet_path=merged.parquet_path,
        pod_logs=pod_logs,
        summary=summary_markdown(
            job, pod_logs, hits=hit_count, queries_hit=queries_hit, best=best, without_hits=without
        ),
        provenance=provenance,
        without_hits=without,
    )


def _prerender_alignments(ctx: StepContext, results_dir: Path, program: str, hits: int) -> None:
    """Render the XML the Alignments view reads, and its index, now: the page then opens any query at once.

    Runs once the job is completed, its lines appended to finalize's log. Skipped above `PRERENDER_MAX_HITS`
    (the XML of millions of hits is gigabytes; the page renders it the first time someone asks). Failing here
    fails nothing: the search is complete, and the page renders on demand and shows why it cannot.
    """
    log = ctx.log(StepName.FINALIZE)
    if hits > PRERENDER_MAX_HITS:
        log.add(f"Alignments: rendered when first opened ({hits:,} hits is more than {PRERENDER_MAX_HITS:,})")
    else:
        try:
            alignment_index(formatted(results_dir, "xml", program=program))
            log.add("Alignments ready (BLAST XML rendered and indexed)")
        except Exception as exc:  # a completed search stays completed; the page tries again when opened
            log.add(f"Alignments could not be prepared now (the page will try again when opened): {exc}")
    log.close()


def _results_database(
    ctx: StepContext, run: PreparedRun, archives: list[Path], kept_in: Path, log: StepLog
) -> Path | None:
    """Where blast_formatter finds the search's database (the backend fetches it when it must).

    A database that cannot be had fails finalize with the backend's words plus where the archives are: they stay
    in the run's directory (nothing removes them on failure), so a re-run needs only the database.
    """
    try:
        blastdb = ctx.backend.results_database(run)
    except TransientBackendError:
        raise  # the task retries; the archives stay where they are
    except (BackendError, ConfigError) as exc:  # e.g. no credentials for the database's bucket
        raise type(exc)(f"{exc}; the {len(archives)} batch archives are kept in {kept_in}", code=exc.code) from exc
    if blastdb is not None:
        log.add(f"Rendering with the search's database from {blastdb}")
    return blastdb


def capture_pod_logs(ctx: StepContext, run: PreparedRun, log: StepLog) -> str:
    """Store each pod's log tail on the run step; retry while none is readable (fix P3).

    Pods often have not flushed their output when the container exits, so an
    empty answer is retried `pod_log_attempts` times, `pod_log_retry_delay_s`
    apart, before the job says plainly that the logs are unavailable. A run
    without pods (the backend answers None, e.g. AWS Batch) is said so at once,
    with where its logs are: waiting would never bring them.
    """
    attempts = ctx.settings.pod_log_attempts
    for attempt in range(1, attempts + 1):
        answer = ctx.backend.pod_logs(run, tail_lines=200)
        if answer is None:
            where = ctx.backend.pod_logs_elsewhere(run)
            log.add(f"Pod logs unavailable: this run has no pods to read them from; {where}")
            return POD_LOGS_UNAVAILABLE
        tails = {pod: text for pod, text in answer.items() if text.strip()}
        if tails:
            break
        if attempt < attempts:
            delay = ctx.settings.pod_log_retry_delay_s
            log.add(f"No pod log readable yet (attempt {attempt} of {attempts}); retrying in {delay:.0f} s")
            ctx.pause(delay, on_tick=ctx.waiting(log))  # the line above shows during the delay; the row heartbeats
    else:
        log.add(f"Pod logs unavailable: none could be read after {attempts} attempts")
        return POD_LOGS_UNAVAILABLE
    run_log = ctx.log(StepName.RUN, echo=False)  # stored for the page and `blastflow logs`, not printed again
    for pod, text in sorted(tails.items()):
        # The whole tail at once: a secret block spanning lines is masked whole.
        for line in [f"── {sanitise(pod)} ──", *sanitise(text).splitlines()]:
            run_log.add(line)
    run_log.close()  # also puts the tail on the run step's row (late backfill, fix N)
    log.add(f"Pod log tails stored for {len(tails)} pods")
    return POD_LOGS_CAPTURED
