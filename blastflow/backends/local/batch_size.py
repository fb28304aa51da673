"""The local backend's batches, sized by the search's estimated work: one batch for a short search, about four
per parallel slot for a long one.

Every batch costs about 0.24 s (a BLAST process starting and loading the
database, the supervisor's turn between pods, one more archive to render), so a
short search runs fastest as ONE batch, one BLAST process with every core. A
long search runs fastest as several one-thread batches, about four per slot:
one multi-threaded BLAST process splits a small database among its threads
poorly, and a few equal-residue batches are not equal work, so a slot idles
while the last one finishes (bench/RESULTS.md, "Batching").

The work is estimated as query residues × database letters × the program's
cost (`COST_PER_CELL`, CPU seconds of one BLAST thread, measured here). Options
that change the seeding (`-threshold`, `-word_size`) change the cost by orders
of magnitude (blastx `-threshold 6` is 30-50× the default), so with them there is
no estimate and the search is treated as long. Without the database size the
old rule applies (`capped_batch_len`).

ElasticBLAST has its own table (`blastflow.backends.elastic_blast.config`): on a
cluster a batch also pays for a pod start and a database download, so the
trade-off differs and so do the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from blastflow.batch import plan_batches
from blastflow.programs import check_program

__all__ = [
    "BATCHES_PER_SLOT",
    "BATCH_LEN_CAP",
    "BATCH_LEN_FLOOR",
    "COST_PER_CELL",
    "DEFAULT_TASK",
    "MIN_BATCH_WORK_S",
    "ONE_BATCH_S",
    "SEEDING_OPTIONS",
    "Batching",
    "batch_count",
    "batch_len_for",
    "capped_batch_len",
    "estimated_work_s",
    "plan_by_work",
]

# CPU seconds per (query residue × database letter) for ONE BLAST thread (-num_threads 1), BLAST+ 2.12, with the
# pipeline's defaults (-evalue 1e-05 -max_target_seqs 10, -outfmt 11), by program and -task (DEFAULT_TASK if none).
# Measured 2026-11-30 on a 2-core AMD EPYC (load average 2-5, other tests running) as user+sys seconds of
#   /usr/bin/time PROGRAM -query Q -db D -outfmt 11 -out /dev/null -num_threads 1 -evalue 1e-05 -max_target_seqs 10
# (plus -task T) on the sample data: P = Sinvicta2-2-3.prot.subset.fasta (1,189 proteins, 280,047 residues),
# C = Sinvicta2-2-3.cdna.subset.fasta (473 transcripts, 287,752 bases), P300 and C60 = the first 300 proteins
# (62,680 residues) and the first 60 transcripts (47,607 bases); databases made from P and C by makeblastdb.
# Each figure is the median seconds / (query letters × database letters); it includes a BLAST process's start
# (~0.1-0.3 s), which only matters for searches far below ONE_BATCH_S.
COST_PER_CELL: dict[tuple[str, str], float] = {
    ("blastp", "blastp"): 1.12e-10,  # P vs P: 8.81, 8.79, 8.55 s
    ("blastp", "blastp-short"): 6.3e-11,  # P300 vs P: 1.11 s
    ("blastp", "blastp-fast"): 8.6e-10,  # P vs P: 67.3 s (its word-6 lookup table costs more here, not less)
    ("blastn", "megablast"): 4.7e-12,  # C vs C: 0.29, 0.39, 0.41 s
    ("blastn", "blastn"): 6.9e-12,  # C vs C: 0.57 s
    ("blastn", "dc-megablast"): 6.2e-12,  # C vs C: 0.51 s
    ("blastn", "blastn-short"): 4.1e-11,  # C60 vs C: 0.56 s
    ("blastx", "blastx"): 6.5e-11,  # C vs P: 4.91, 5.22, 5.25 s
    ("blastx", "blastx-fast"): 1.27e-9,  # C vs P: 102.4 s
    ("tblastn", "tblastn"): 3.9e-11,  # P vs C: 2.89, 3.16, 3.21 s
    ("tblastn", "tblastn-fast"): 7.2e-10,  # P vs C: 58.0 s
    ("tblastx", "tblastx"): 4.3e-11,  # C60 vs C: 0.59 s; C vs C: 3.52, 4.36 s
}
DEFAULT_TASK = {"blastn": "megablast"}  # BLAST+'s own default; every other program's is its name
# Options whose value changes how many seeds BLAST extends, and with it the cost, by orders of magnitude.
SEEDING_OPTIONS = ("-threshold", "-word_size")
# At most this much estimated BLAST time (one process on every core) runs as one batch. Splitting into
# BATCHES_PER_SLOT per slot saves ~16% of the BLAST time (long blastx: 1 batch 84.6 s, 8 batches 70.8 s) and
# costs ~0.24 s per batch (8 batches on 2 slots: ~1.9 s); the two are equal at ~12 s, so 10 s errs towards one.
ONE_BATCH_S = 10.0
BATCHES_PER_SLOT = 4  # best or within 1.1 s of best on both benchmark workloads
# The least one-thread work worth a batch of its own: its ~0.3 s of slot time stays under ~6% of it.
MIN_BATCH_WORK_S = 5.0

# The old rule, kept for a database of unknown size: at most this many residues per batch, per program
# (blastn and blastp follow ElasticBLAST's defaults, 5,000,000 and 10,000) ...
BATCH_LEN_CAP: dict[str, int] = {
    "blastn": 5_000_000,
    "blastp": 10_000,
    "blastx": 20_000,
    "tblastn": 20_000,
    "tblastx": 20_000,
}
# ... and at least this many: below it a BLAST process spends more time loading the database than searching.
BATCH_LEN_FLOOR: dict[str, int] = {
    "blastn": 10_000,
    "blastp": 1_000,
    "blastx": 3_000,
    "tblastn": 1_000,
    "tblastx": 3_000,
}


@dataclass(frozen=True, slots=True)
class Batching:
    """The batch length chosen, how many batches it makes, and why, in words for the prepare step's log."""

    batch_len: int
    count: int
    reason: str


def estimated_work_s(program: str, options: Sequence[str], query_letters: int, db_letters: int) -> float | None:
    """CPU seconds one BLAST thread would spend on the search; None when the options make the cost unknown.

    Example:
        >>> round(estimated_work_s("blastp", [], 280_047, 280_047), 1)  # the sample all-vs-all
        8.8
        >>> estimated_work_s("blastx", ["-threshold", "6"], 287_752, 280_047) is None
        True
        >>> estimated_work_s("blastn", ["-task", "rmblastn"], 1_000, 1_000) is None  # a task not measured
        True
    """
    check_program(program)
    if any(option in SEEDING_OPTIONS for option in options):
        return None
    cost = COST_PER_CELL.get((program, _task(program, options)))
    return None if cost is None else cost * query_letters * db_letters


def _task(program: str, options: Sequence[str]) -> str:
    names = list(options)
    return names[names.index("-task") + 1] if "-task" in names[:-1] else DEFAULT_TASK.get(program, program)


def batch_count(work_s: float | None, cores: int, slots: int, sequences: int) -> int:
    """How many batches: one if every core finishes within ONE_BATCH_S, else about BATCHES_PER_SLOT per slot.

    Never fewer than one per slot for long work, never so many that a batch holds less than MIN_BATCH_WORK_S,
    never more than the query has sequences. Unknown work (None) counts as long.

    Example:
        >>> batch_count(8.8, cores=2, slots=2, sequences=1189)  # ~4.4 s on 2 cores: one process
        1
        >>> batch_count(160.0, cores=2, slots=2, sequences=473)  # ~80 s: 4 per slot
        8
        >>> batch_count(30.0, cores=2, slots=2, sequences=473)  # ~15 s: 6 batches of 5 s
        6
        >>> batch_count(None, cores=2, slots=2, sequences=3)  # no more batches than sequences
        3
    """
    cores, slots, sequences = max(cores, 1), max(slots, 1), max(sequences, 1)
    if work_s is not None and work_s / cores <= ONE_BATCH_S:
        return 1
    count = BATCHES_PER_SLOT * slots
    if work_s is not None:
        count = min(count, max(slots, math.floor(work_s / MIN_BATCH_WORK_S)))
    return min(count, sequences)


def batch_len_for(lengths: Sequence[int], count: int) -> int:
    """The smallest batch length that packs `lengths` (in order, whole sequences) into at most `count` batches.

    The batch count only falls as the length grows, so a binary search finds it. It lies between
    ceil(total / count) and that plus the longest sequence: with a length that large every closed batch
    holds more than total / count, so fewer than `count` of them close.

    Example:
        >>> batch_len_for([400, 300, 500, 1200, 100], 2)
        1300
        >>> plan_batches([400, 300, 500, 1200, 100], 1300)
        [[0, 1, 2], [3, 4]]
    """
    total, longest = sum(lengths), max(lengths)
    low = max(longest, math.ceil(total / max(count, 1)))
    high = min(total, low + longest)
    while low < high:
        middle = (low + high) // 2
        if len(plan_batches(lengths, middle)) <= count:
            high = middle
        else:
            low = middle + 1
    return low


def plan_by_work(
    program: str,
    options: Sequence[str],
    lengths: Sequence[int],
    db_letters: int | None,
    *,
    cores: int,
    slots: int,
    asked: int | None = None,
) -> Batching:
    """The batching of a search: the batch length asked for, else one from the estimated work and the slots.

    Args:
        program: the BLAST program.
        options: the checked BLAST options, argv form (a `-task` or seeding option changes the cost).
        lengths: each query sequence's length, in order.
        db_letters: the database's total letters (residues or bases); None or 0 when unknown.
        cores: the cores this machine gives BLAST (one batch gets them all).
        slots: how many batches may run at once.
        asked: the batch length the user gave (`--batch-len`), which overrides the estimate.

    Example:
        >>> plan_by_work("blastp", [], [100] * 2_800, 280_047, cores=2, slots=2)  # 280,000 x 280,047 residues
        Batching(batch_len=280000, count=1, reason='1 batch: ~4 s of blastp work on all 2 cores')
        >>> plan_by_work("blastx", [], [600] * 480, 20 * 280_047, cores=2, slots=2).reason
        '8 batches: ~52 s of blastx work on 2 cores; 4 per slot on 2 slots'
    """
    if asked:
        count = len(plan_batches(lengths, asked))
        return Batching(asked, count, f"{_batches(count)} of <= {asked:,} residues, as asked (batch_len)")
    if not db_letters:
        batch_len = capped_batch_len(program, sum(lengths), slots)
        count = len(plan_batches(lengths, batch_len))
        reason = f"{_batches(count)} of <= {batch_len:,} residues: the database's size is unknown, so no estimate"
        return Batching(batch_len, count, reason)
    work_s = estimated_work_s(program, options, sum(lengths), db_letters)
    wanted = batch_count(work_s, cores, slots, len(lengths))
    batch_len = sum(lengths) if wanted == 1 else batch_len_for(lengths, wanted)
    count = len(plan_batches(lengths, batch_len))
    return Batching(batch_len, count, _reason(program, options, work_s, count, cores, slots))


def _reason(program: str, options: Sequence[str], work_s: float | None, count: int, cores: int, slots: int) -> str:
    if work_s is None:
        given = _seeding(options) or f"-task {_task(program, options)}"
        return f"{_batches(count)}: the cost of {program} with {given} is not estimated, so it counts as long work"
    elapsed = work_s / max(cores, 1)
    about = "<1 s" if elapsed < 1 else f"~{elapsed:,.0f} s"
    if count == 1:
        return f"1 batch: {about} of {program} work on all {cores} cores"
    per_slot = f"{count / slots:.2g} per slot"
    return f"{_batches(count)}: {about} of {program} work on {cores} cores; {per_slot} on {slots} slots"


def _seeding(options: Sequence[str]) -> str:
    """The seeding options given, with their values: "-threshold 6"."""
    return " ".join(f"{o} {v}" for o, v in zip(options, [*options[1:], ""], strict=True) if o in SEEDING_OPTIONS)


def _batches(count: int) -> str:
    return "1 batch" if count == 1 else f"{count} batches"


def capped_batch_len(program: str, total_residues: int, slots: int) -> int:
    """The old default, for a database of unknown size: one batch per slot within per-program caps and floors.

    Args:
        program: the BLAST program.
        total_residues: the query's total length.
        slots: how many BLAST processes may run at once.

    Example:
        >>> capped_batch_len("blastp", 8_000, 2)  # two batches of ~4,000 residues fill two slots
        4000
        >>> capped_batch_len("blastp", 1_000_000, 4)  # capped: many batches of 10,000
        10000
        >>> capped_batch_len("blastp", 1_200, 4)  # floored: not four batches of 300
        1000
    """
    check_program(program)
    per_slot = math.ceil(max(total_residues, 1) / max(slots, 1))
    return max(BATCH_LEN_FLOOR[program], min(BATCH_LEN_CAP[program], per_slot))
