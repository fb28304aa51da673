"""The local backend's default batch size: enough batches to keep every parallel BLAST process busy.

ElasticBLAST has its own table (`blastflow.backends.elastic_blast.config`): on a
cluster a batch also pays for a pod start and a database download, so the
trade-off differs and so do the numbers.
"""

from __future__ import annotations

import math

from blastflow.programs import check_program

__all__ = ["BATCH_LEN_CAP", "BATCH_LEN_FLOOR", "default_batch_len"]

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
