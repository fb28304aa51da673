"""Query batches: whole sequences, in order, at most `batch_len` residues unless one sequence is longer."""

from __future__ import annotations

from pathlib import Path

import pytest
from Bio import SeqIO
from hypothesis import given
from hypothesis import strategies as st

from blastflow.batch import plan_batches, write_batches
from blastflow.query import load_query

PROT = Path(__file__).resolve().parent.parent / "data" / "sinvicta" / "Sinvicta2-2-3.prot.subset.fasta"


@given(st.lists(st.integers(1, 3000), max_size=60), st.integers(1, 5000))
def test_plan_keeps_order_and_limits(lengths: list[int], batch_len: int) -> None:
    batches = plan_batches(lengths, batch_len)
    assert [i for batch in batches for i in batch] == list(range(len(lengths)))  # every sequence once, in order
    for number, batch in enumerate(batches):
        size = sum(lengths[i] for i in batch)
        assert batch, "no empty batch"
        assert size <= batch_len or len(batch) == 1  # only a lone long sequence may exceed
        if number + 1 < len(batches):  # greedy: the next sequence did not fit
            assert size + lengths[batches[number + 1][0]] > batch_len


def test_long_sequence_gets_its_own_batch() -> None:
    assert plan_batches([100, 5000, 100, 100], 1000) == [[0], [1], [2, 3]]


def test_bad_batch_len() -> None:
    with pytest.raises(ValueError, match="batch_len must be at least 1"):
        plan_batches([1], 0)


def test_written_batches_hold_the_query_exactly(tmp_path: Path) -> None:
    query = load_query(str(PROT))
    batches = write_batches(query.records[:50], 5_000, tmp_path / "query_batches")
    assert [b.path.name for b in batches] == [f"batch_{i:03d}.fa" for i in range(len(batches))]
    assert [b.name for b in batches] == [f"batch_{i:03d}" for i in range(len(batches))]
    written = [record for b in batches for record in SeqIO.parse(b.path, "fasta")]
    assert [(r.description, str(r.seq)) for r in written] == [(q.title, q.sequence) for q in query.records[:50]]
    for batch in batches:
        records = list(SeqIO.parse(batch.path, "fasta"))
        assert batch.sequences == len(records)
        assert batch.residues == sum(len(r) for r in records)
        assert batch.residues <= 5_000 or batch.sequences == 1
    assert max(len(line) for b in batches for line in b.path.read_text().splitlines() if not line.startswith(">")) == 80
