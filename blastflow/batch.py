"""Query batches: whole sequences packed in order into FASTA files of at most `batch_len` residues.

Like ElasticBLAST's batch-len: a sequence is never split, and one longer than
`batch_len` gets a batch of its own. Batch `i` is written as `batch_{i:03d}.fa`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from blastflow.programs import check_program
from blastflow.query import FastaRecord
from blastflow.search import Batch

__all__ = ["BATCH_LEN_CAP", "BATCH_LEN_FLOOR", "default_batch_len", "plan_batches", "write_batches"]

# The most residues a default batch holds, per program. Search cost per query residue grows from blastn
# (fast seeding, nucleotide) to the translated searches; a bounded batch keeps progress visible and makes a
# retried batch cheap. blastn and blastp follow ElasticBLAST's defaults (5,000,000 and 10,000).
BATCH_LEN_CAP: dict[str, int] = {
    "blastn": 5_000_000,
    "blastp": 10_000,
    "blastx": 20_000,
    "tblastn": 20_000,
    "tblastx": 20_000,
}
# The fewest residues a default batch holds: below this a BLAST process spends more time loading the
# database than searching, so smaller batches only add overhead.
BATCH_LEN_FLOOR: dict[str, int] = {
    "blastn": 10_000,
    "blastp": 1_000,
    "blastx": 3_000,
    "tblastn": 1_000,
    "tblastx": 3_000,
}
FASTA_LINE_WIDTH = 80


def default_batch_len(program: str, total_residues: int, slots: int) -> int:
    """Residues per batch when the user gives none: enough batches to fill `slots` parallel BLAST processes.

    One batch per slot uses every core from the start; the cap splits big queries further (progress, cheap
    retries) and the floor stops tiny queries from being split into batches that cost more than they save.

    Args:
        program: the BLAST program.
        total_residues: the query's total length.
        slots: how many BLAST processes may run at once.

    Example:
        >>> default_batch_len("blastp", 8_000, 2)  # two batches of ~4,000 residues fill two slots
        4000
        >>> default_batch_len("blastp", 1_000_000, 4)  # capped: many batches of 10,000
        10000
        >>> default_batch_len("blastp", 1_200, 4)  # floored: not four batches of 300
        1000
    """
    check_program(program)
    per_slot = math.ceil(max(total_residues, 1) / max(slots, 1))
    return max(BATCH_LEN_FLOOR[program], min(BATCH_LEN_CAP[program], per_slot))


def plan_batches(lengths: Sequence[int], batch_len: int) -> list[list[int]]:
    """Group sequence indices, in order, into batches of at most `batch_len` residues.

    Args:
        lengths: each sequence's length, in query order.
        batch_len: the most residues a batch holds (a longer sequence is a batch alone).

    Returns:
        The indices of each batch.

    Example:
        >>> plan_batches([400, 300, 500, 1200, 100], 1000)
        [[0, 1], [2], [3], [4]]
    """
    if batch_len < 1:
        raise ValueError(f"batch_len must be at least 1, not {batch_len}")
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, length in enumerate(lengths):
        if current and size + length > batch_len:
            batches.append(current)
            current, size = [], 0
        current.append(index)
        size += length
    if current:
        batches.append(current)
    return batches


def write_batches(records: Sequence[FastaRecord], batch_len: int, directory: Path) -> list[Batch]:
    """Write the records as `batch_NNN.fa` files in `directory`; return the batches in order.

    Headers are written exactly as read, so BLAST reports the same query ids as
    for the original file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    batches = []
    for index, members in enumerate(plan_batches([r.length for r in records], batch_len)):
        chosen = [records[i] for i in members]
        path = directory / f"batch_{index:03d}.fa"
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            for record in chosen:
                handle.write(f">{record.title}\n")
                for start in range(0, record.length, FASTA_LINE_WIDTH):
                    handle.write(record.sequence[start : start + FASTA_LINE_WIDTH] + "\n")
        batches.append(Batch(index=index, path=path, sequences=len(chosen), residues=sum(r.length for r in chosen)))
    return batches
