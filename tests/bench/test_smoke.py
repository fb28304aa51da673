"""Each benchmark in bench/ in its smoke size: it runs, and its own correctness checks hold (never its timings)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
needs_blast = pytest.mark.skipif(shutil.which("blastp") is None, reason="BLAST+ is not installed")


def bench(name: str) -> ModuleType:
    """Load `bench/<name>.py` as a module (bench/ is scripts, not a package; each puts the repo root on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"bench_smoke_{name}", REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_live_logs_smoke_loses_and_repeats_no_line() -> None:
    results = bench("bench_live_logs").main(["--smoke"])
    assert [m.store for m in results] == ["sqlite"]
    for m in results:
        assert m.lines == 30  # 3 s at 10 lines/s
        assert m.seen == m.lines
        assert m.duplicates == 0


def test_sanitise_bench_modes_agree() -> None:
    # The benchmark's own check: line by line and one string give the same text (exit code 0).
    assert bench("bench_sanitise").main(["--mb", "0.2", "--repeat", "1"]) == 0


def test_store_bench_race_loses_no_update_and_reads_every_line(tmp_path: Path) -> None:
    # measure() asserts the two racing processes' 400 updates all landed and all 20,000 lines read back.
    row = bench("bench_store").measure({"kind": "sqlite", "path": str(tmp_path / "bench.db")})
    assert row["race 2x200 s"] > 0 and row["tail lines/s"] > 0


def test_ui_bench_renders_the_long_log_tail_and_the_list(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", "unset")  # the bench sets it; monkeypatch restores it afterwards
    bench("bench_ui").main(["--lines", "3000", "--jobs", "30", "--repeat", "1"])  # raises if the page raised
    out = capsys.readouterr().out
    assert "| job, 3,000-line log, first view (2,000 lines shown) |" in out
    assert "| list, 30 jobs |" in out


@needs_blast
def test_overhead_smoke_runs_on_the_server_and_as_a_new_user_give_the_raw_hits(prefect_api: str) -> None:
    # (b) on the session's server (CI skips `blastflow up`), (c) with Prefect's temporary server.
    (comparison,) = bench("bench_overhead").main(["--smoke", "--api-url", prefect_api])
    (raw,), (stack,), (new_user,) = comparison.runs["raw"], comparison.runs["stack"], comparison.runs["new user"]
    assert raw.rows > 0 and stack.rows == new_user.rows == raw.rows
    assert comparison.same_hits()
    assert stack.on_stack  # its flow run is on the given server
    assert stack.peak_kib["python"] > 0 and new_user.peak_kib["BLAST"] > 0  # the detached BLAST processes found
    split = {"start-up", "prepare", "submit", "BLAST", "poll slack", "finalize", "exit"}
    assert set(stack.split) == set(new_user.split) == split


@needs_blast
def test_batching_smoke_every_batching_gives_the_direct_hits() -> None:
    results = bench("bench_batching").main(["--smoke"])
    (timings,) = results.values()
    batches = {config.label: runs[0].batches for config, runs in timings.items()}
    assert batches["1 batches"] == 1 and batches["2 batches"] == 2
    reference = timings[next(iter(timings))][0]
    assert reference.rows > 0
    assert all(t.rows == reference.rows and t.pairs == reference.pairs for runs in timings.values() for t in runs)


@pytest.mark.azurite
def test_store_scale_smoke_loses_no_line_and_no_update(azurite) -> None:
    outcome = bench("bench_store_scale").main(["--smoke", "--connection-string", azurite.connection_string])
    assert outcome.produced == 4 * 60  # 4 jobs, 20 lines/s, 3 s
    assert outcome.stored == outcome.produced
    assert (outcome.lost_lines, outcome.unseen_lines, outcome.duplicate_lines) == (0, 0, 0)
    assert (outcome.version_off, outcome.line_count_off, outcome.counter_off) == (0, 0, 0)
    assert outcome.updates > 4  # the rows were written during the run, not only created


@needs_blast
def test_million_hits_smoke_renders_every_tab_from_the_parquet_finalize_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", "unset")  # the bench sets it; monkeypatch restores it afterwards
    outcome = bench("million_hits").main(["--queries", "4", "--batch", "2", "--repeat", "2", "--work", str(tmp_path)])
    assert outcome.hits > 1_000 and outcome.queries == 4  # every query hits many proteins at e-value 100000
    assert outcome.finalize_s is not None and outcome.parquet_mb > 0
    assert {"Descriptions, rerun", "Plots, rerun", "Downloads, rerun"} <= set(outcome.renders)
    assert outcome.page_rss_mb > 0


@needs_blast
def test_results_views_smoke_times_every_format_and_an_alignment_page() -> None:
    lines = bench("bench_results_views").main(["--smoke"])
    assert [line.split(" |")[0] for line in lines if line.startswith("| ") and "first" not in line][:5] == [
        "| pairwise", "| xml", "| tabular-comments", "| sam", "| csv"]
    assert any(line.startswith("| open a page of 10 hits, median") for line in lines)


def test_heartbeat_smoke_writes_at_most_one_heartbeat_per_interval() -> None:
    results = bench("bench_heartbeat").main(["--smoke"])
    assert {m.step for m in results} == {"wait for pods", "poll", "finalize pod-log retries"}
    for m in results:  # ten fake minutes at a 900 s threshold: a heartbeat every 225 s at most
        assert 1 <= m.heartbeats <= 10 * 60 / (m.threshold_s / 4) + 1


@needs_blast
def test_resume_smoke_reuses_finished_batches_and_finds_the_same_hits() -> None:
    outcome = bench("bench_resume").main(["--smoke"])
    assert outcome.same_hits
    assert outcome.reused >= 1 and outcome.reused + outcome.rerun == outcome.batches
