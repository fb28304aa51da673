"""The local backend's batching by work: one batch for a short search, about four per slot for a long one."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow.backends.local import batch_size
from blastflow.backends.local.batch_size import (
    BATCH_LEN_CAP,
    BATCH_LEN_FLOOR,
    BATCHES_PER_SLOT,
    MIN_BATCH_WORK_S,
    ONE_BATCH_S,
    batch_count,
    batch_len_for,
    capped_batch_len,
    estimated_work_s,
    plan_by_work,
)
from blastflow.batch import plan_batches
from blastflow.query import load_query

DATA = Path(__file__).resolve().parents[3] / "data" / "sinvicta"
PROT_LETTERS, CDNA_LETTERS = 280_047, 287_752  # `blastdbcmd -info` of the sample databases


@pytest.fixture(scope="module")
def proteins() -> list[int]:
    return [r.length for r in load_query(str(DATA / "Sinvicta2-2-3.prot.subset.fasta")).records]


@pytest.fixture(scope="module")
def transcripts() -> list[int]:
    return [r.length for r in load_query(str(DATA / "Sinvicta2-2-3.cdna.subset.fasta")).records]


def test_the_sample_all_vs_all_blastp_is_one_batch_on_every_core(proteins: list[int]) -> None:
    batching = plan_by_work("blastp", [], proteins, PROT_LETTERS, cores=2, slots=2)
    assert (batching.count, batching.batch_len) == (1, sum(proteins))
    assert plan_batches(proteins, batching.batch_len) == [list(range(len(proteins)))]
    assert batching.reason == "1 batch: ~4 s of blastp work on all 2 cores"


def test_long_work_gets_four_batches_per_slot(transcripts: list[int]) -> None:
    # blastx of the transcripts against a database 20x the sample proteins: ~100 s of one thread's work.
    for slots in (2, 4):
        batching = plan_by_work("blastx", [], transcripts, 20 * PROT_LETTERS, cores=slots, slots=slots)
        assert batching.count == BATCHES_PER_SLOT * slots == len(plan_batches(transcripts, batching.batch_len))
        assert batching.reason.startswith(f"{4 * slots} batches: ~")
        assert batching.reason.endswith(f" of blastx work on {slots} cores; 4 per slot on {slots} slots")


def test_batch_len_is_the_smallest_that_makes_the_count(transcripts: list[int]) -> None:
    for count in (2, 3, 8, 50):
        batch_len = batch_len_for(transcripts, count)
        assert len(plan_batches(transcripts, batch_len)) <= count < len(plan_batches(transcripts, batch_len - 1))


def test_one_batch_up_to_the_threshold_then_at_least_one_per_slot() -> None:
    assert batch_count(ONE_BATCH_S * 2, cores=2, slots=2, sequences=500) == 1
    assert batch_count(ONE_BATCH_S * 2 + 0.1, cores=2, slots=2, sequences=500) == 4  # 20.1 s: 4 of >= 5 s
    assert batch_count(ONE_BATCH_S * 2 + 0.1, cores=2, slots=8, sequences=500) == 8  # still one per slot


def test_medium_work_stops_at_batches_worth_their_cost() -> None:
    work_s = 7 * MIN_BATCH_WORK_S + 1  # 36 s of one thread: 18 s on 2 cores
    assert batch_count(work_s, cores=2, slots=2, sequences=500) == 7
    assert batch_count(1000 * work_s, cores=2, slots=2, sequences=500) == BATCHES_PER_SLOT * 2


def test_never_more_batches_than_sequences() -> None:
    batching = plan_by_work("blastx", [], [3000, 2000, 2500], 10**9, cores=2, slots=2)
    assert batching.count == 3
    assert batch_count(None, cores=4, slots=4, sequences=1) == 1


def test_seeding_options_leave_the_work_unknown_so_it_counts_as_long(transcripts: list[int]) -> None:
    options = ["-threshold", "6", "-evalue", "1e-05", "-max_target_seqs", "10"]
    assert estimated_work_s("blastx", options, sum(transcripts), PROT_LETTERS) is None
    batching = plan_by_work("blastx", options, transcripts, PROT_LETTERS, cores=2, slots=2)
    assert batching.count == 8
    assert (
        batching.reason == "8 batches: the cost of blastx with -threshold 6 is not estimated, so it counts as long work"
    )


def test_the_task_picks_the_cost() -> None:
    default = estimated_work_s("blastn", [], 10**6, 10**6)
    assert default is not None and estimated_work_s("blastn", ["-task", "megablast"], 10**6, 10**6) == default
    assert estimated_work_s("blastp", ["-task", "blastp"], 10**6, 10**6) == estimated_work_s("blastp", [], 10**6, 10**6)
    assert estimated_work_s("blastn", ["-task", "rmblastn"], 10**6, 10**6) is None
    reason = plan_by_work("blastn", ["-task", "rmblastn"], [100, 100], 10**6, cores=2, slots=2).reason
    assert reason == "2 batches: the cost of blastn with -task rmblastn is not estimated, so it counts as long work"


def test_every_measured_cost_is_positive() -> None:
    assert {program for program, _task in batch_size.COST_PER_CELL} == set(BATCH_LEN_CAP)
    assert all(cost > 0 for cost in batch_size.COST_PER_CELL.values())


def test_an_unknown_database_size_falls_back_to_the_capped_rule(proteins: list[int]) -> None:
    batching = plan_by_work("blastp", [], proteins, None, cores=2, slots=2)
    assert batching.batch_len == BATCH_LEN_CAP["blastp"] == capped_batch_len("blastp", sum(proteins), 2)
    assert batching.count == len(plan_batches(proteins, 10_000)) > 20
    unknown = "the database's size is unknown, so no estimate"
    assert batching.reason == f"{batching.count} batches of <= 10,000 residues: {unknown}"


def test_an_asked_batch_len_overrides_the_estimate(proteins: list[int]) -> None:
    batching = plan_by_work("blastp", [], proteins, PROT_LETTERS, cores=2, slots=2, asked=50_000)
    assert batching.batch_len == 50_000 and batching.count == len(plan_batches(proteins, 50_000))
    assert batching.reason == f"{batching.count} batches of <= 50,000 residues, as asked (batch_len)"


@pytest.mark.parametrize("program", BATCH_LEN_CAP)
def test_capped_batch_len_bounds(program: str) -> None:
    assert capped_batch_len(program, 10, 8) == BATCH_LEN_FLOOR[program]
    assert capped_batch_len(program, 10**12, 8) == BATCH_LEN_CAP[program]
