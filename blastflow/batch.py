"""Query batches: whole sequences packed in order into FASTA files of at most `batch_len` residues.

Like ElasticBLAST's batch-len: a sequence is never split, and one longer than
`batch_len` gets a batch of its own. Batch `i` is written as `batch_{i:03d}.fa`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from blastflow.query import FastaRecord
from blastflow.search import Batch

__all__ = ["plan_batches", "write_batches"]

FASTA_LINE_WIDTH = 80


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
