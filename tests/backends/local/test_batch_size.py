"""The local backend's default batch size: bounded per program, enough batches to fill the parallel slots."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow.backends.local.batch_size import BATCH_LEN_CAP, BATCH_LEN_FLOOR, default_batch_len
from blastflow.batch import plan_batches
from blastflow.query import load_query

PROT = Path(__file__).resolve().parents[3] / "data" / "sinvicta" / "Sinvicta2-2-3.prot.subset.fasta"


@pytest.mark.parametrize("program", BATCH_LEN_CAP)
def test_default_batch_len_bounds(program: str) -> None:
    assert default_batch_len(program, 10, 8) == BATCH_LEN_FLOOR[program]
    assert default_batch_len(program, 10**12, 8) == BATCH_LEN_CAP[program]


def test_default_batch_len_fills_the_slots() -> None:
    query = load_query(str(PROT))
    records = query.records[:40]
    total = sum(r.length for r in records)
    batch_len = default_batch_len("blastp", total, 4)
    batches = plan_batches([r.length for r in records], batch_len)
    assert batch_len == -(-total // 4)
    assert 4 <= len(batches) <= 5  # whole sequences rarely pack exactly: at most one extra, small batch
