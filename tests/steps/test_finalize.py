"""Finalize: pod-log capture (empty logs are retried, then said to be unavailable, fix P3; a run without pods is
said so at once), and rendering with the database the backend makes available."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from blastflow.errors import BackendError, TransientBackendError
from blastflow.model import Phase, StepName
from blastflow.results import Results
from blastflow.steps.finalize import POD_LOGS_CAPTURED, POD_LOGS_UNAVAILABLE, capture_pod_logs, finalize
from tests.doubles.scripted_backend import ScriptedBackend


def test_pod_logs_that_flush_late_are_captured_on_a_retry(make_ctx, run, sqlite_store, clock) -> None:
    backend = ScriptedBackend(pod_logs=[{}, {"batch_000": "  \n"}, {"batch_000": "run end 000 0\n"}])
    ctx = make_ctx(backend, phase=Phase.FINALIZING, pod_log_retry_delay_s=60)
    log = ctx.log(StepName.FINALIZE)
    assert capture_pod_logs(ctx, run, log) == POD_LOGS_CAPTURED
    log.close()
    assert backend.calls["pod_logs"] == 3 and sum(clock.slept) == 120
    run_lines = [line.text for line in sqlite_store.read_logs(run.job_id, StepName.RUN).lines]
    assert run_lines == ["── batch_000 ──", "run end 000 0"]
    assert sqlite_store.get(run.job_id).steps[StepName.RUN].last_output.endswith("run end 000 0")


def test_a_retry_line_is_visible_during_the_delay(make_ctx, run, sqlite_store, clock) -> None:
    backend = ScriptedBackend(pod_logs=[{}])
    ctx = make_ctx(backend, phase=Phase.FINALIZING, pod_log_retry_delay_s=60)
    seen_during_delay: list[list[str]] = []
    sleep = clock.sleep

    def watching_sleep(seconds: float) -> None:
        sleep(seconds)
        if 10 <= clock.now < 11:
            seen_during_delay.append([x.text for x in sqlite_store.read_logs(run.job_id, StepName.FINALIZE).lines])

    ctx.sleep = watching_sleep
    log = ctx.log(StepName.FINALIZE)
    log.add("Fetched 3 batch result archives")  # written at once: the retry line below is buffered
    assert capture_pod_logs(ctx, run, log) == POD_LOGS_UNAVAILABLE
    log.close()
    assert seen_during_delay[0][-1] == "No pod log readable yet (attempt 1 of 3); retrying in 60 s"
    lines = [x.text for x in sqlite_store.read_logs(run.job_id, StepName.FINALIZE).lines]
    assert lines[-1] == "Pod logs unavailable: none could be read after 3 attempts"


def test_a_run_without_pod_logs_is_said_so_at_once_with_where_the_logs_are(
    make_ctx, run, sqlite_store, clock
) -> None:
    """AWS Batch: no pods to read (the backend answers None), so no retries and no pause for logs that never come."""
    backend = ScriptedBackend(pod_logs=[None])
    ctx = make_ctx(backend, phase=Phase.FINALIZING, pod_log_retry_delay_s=60, pod_log_attempts=3)
    log = ctx.log(StepName.FINALIZE)
    assert capture_pod_logs(ctx, run, log) == POD_LOGS_UNAVAILABLE
    log.close()
    assert backend.calls["pod_logs"] == 1 and clock.slept == []
    lines = [line.text for line in sqlite_store.read_logs(run.job_id, StepName.FINALIZE).lines]
    assert lines == ["Pod logs unavailable: this run has no pods to read them from; "
                     "scripted: the logs are in the scripted log service"]  # fmt: skip
    assert sqlite_store.read_logs(run.job_id, StepName.RUN).lines == []


def test_finalize_renders_with_the_database_the_backend_provides(
    make_ctx, run, sqlite_store, tmp_path: Path, monkeypatch
) -> None:
    archives = [tmp_path / "archives" / "batch_000.asn"]
    backend = ScriptedBackend(pod_logs=[{"batch_000": "run end 000 0\n"}], archives=archives,
                              database=tmp_path / "blastdb")  # fmt: skip
    seen: dict[str, object] = {}

    def merge(found: list[Path], dest: Path, *, program: str | None = None, blastdb: Path | None = None) -> Results:
        seen.update(archives=found, blastdb=blastdb)
        return Results(hits_path=dest / "hits.tsv", archive_path=dest / "results.asn", hit_count=0)

    monkeypatch.setattr(importlib.import_module("blastflow.steps.finalize"), "merge_results", merge)
    finalize(make_ctx(backend, phase=Phase.FINALIZING), run)
    assert seen == {"archives": archives, "blastdb": tmp_path / "blastdb"}
    assert sqlite_store.get(run.job_id).phase is Phase.COMPLETED
    lines = [line.text for line in sqlite_store.read_logs(run.job_id, StepName.FINALIZE).lines]
    assert f"Rendering with the search's database from {tmp_path / 'blastdb'}" in lines


def test_a_database_that_cannot_be_had_fails_finalize_and_keeps_the_archives(
    make_ctx, run, sqlite_store, tmp_path: Path
) -> None:
    archives = tmp_path / "results" / "archives"
    archives.mkdir(parents=True)
    kept = [archives / f"batch_00{i}.asn" for i in range(2)]
    for path in kept:
        path.write_bytes(b"archive")
    said = "blast_formatter needs the database 'swissprot' on this worker to render the hits: put it in BLASTDB"
    backend = ScriptedBackend(archives=kept, database=BackendError(said, code="database_unavailable"))
    with pytest.raises(BackendError) as raised:
        finalize(make_ctx(backend, phase=Phase.FINALIZING), run)
    assert str(raised.value) == f"{said}; the 2 batch archives are kept in {archives}"
    assert raised.value.code == "database_unavailable"
    assert all(path.read_bytes() == b"archive" for path in kept)
    assert backend.calls.get("pod_logs") is None  # failed before anything else


def test_a_database_storage_that_does_not_answer_stays_transient(make_ctx, run) -> None:
    """The finalize task retries transient errors: the message is the backend's, unchanged."""
    backend = ScriptedBackend(database=TransientBackendError("cannot reach the database storage"))
    with pytest.raises(TransientBackendError, match=r"^cannot reach the database storage$"):
        finalize(make_ctx(backend, phase=Phase.FINALIZING), run)


def test_finalize_counts_and_best_hits_come_from_the_parquet_file(
    make_ctx, run, sqlite_store, tmp_path: Path, monkeypatch
) -> None:
    """Counts, the summary's table and the artifact's top hits are DuckDB's answers over hits.parquet."""
    from blastflow.hits import Hit, tsv_to_parquet, write_hits

    hits = [Hit(f"q{n % 4}", f"s{n}", 90.0, 100, 1, 0, 1, 100, 1, 100, 10.0**-n, float(n), 80.0, 100, 120,
                f"title {n}") for n in range(40)]  # fmt: skip
    backend = ScriptedBackend(pod_logs=[{"batch_000": "run end 000 0\n"}], archives=[tmp_path / "batch_000.asn"])

    def merge(found: list[Path], dest: Path, *, program: str | None = None, blastdb: Path | None = None) -> Results:
        dest.mkdir(parents=True, exist_ok=True)
        write_hits(dest / "hits.tsv", hits)
        tsv_to_parquet(dest / "hits.tsv", dest / "hits.parquet")
        return Results(dest / "hits.tsv", dest / "results.asn", hit_count=40, parquet_path=dest / "hits.parquet")

    monkeypatch.setattr(importlib.import_module("blastflow.steps.finalize"), "merge_results", merge)
    result = finalize(make_ctx(backend, phase=Phase.FINALIZING), run)
    assert (result.hit_count, result.queries_hit) == (40, 4)
    assert [row["subject"] for row in result.top_hits[:3]] == ["s39", "s38", "s37"]  # lowest e-value first
    assert len(result.top_hits) == 25
    assert "**40** hits" in result.summary and "with hits: 4" in result.summary
    assert "| q3 | s39 |" in result.summary
    step = sqlite_store.get(run.job_id).steps[StepName.FINALIZE]
    assert step.counters["hits"] == 40 and step.message == "40 hits"


def test_pod_log_tails_are_stored_not_printed_again(make_ctx, run, sqlite_store) -> None:
    """Issue 15 item 2: the tails are on the run step (page, `blastflow logs`); the terminal gets one line."""
    import logging

    printed: list[str] = []

    class Recording(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            printed.append(record.getMessage())

    logger = logging.getLogger("test-finalize-tails")
    logger.addHandler(Recording())
    logger.setLevel(logging.INFO)
    backend = ScriptedBackend(pod_logs=[{"batch_000": "run end 000 0\n", "batch_001": "run end 001 0\n"}])
    ctx = make_ctx(backend, phase=Phase.FINALIZING)
    ctx.logger = logger
    log = ctx.log(StepName.FINALIZE)
    assert capture_pod_logs(ctx, run, log) == POD_LOGS_CAPTURED
    log.close()
    stored = [line.text for line in sqlite_store.read_logs(run.job_id, StepName.RUN).lines]
    assert stored == ["── batch_000 ──", "run end 000 0", "── batch_001 ──", "run end 001 0"]
    assert printed == ["Pod log tails stored for 2 pods"]
