"""Job records and log lines as Table entities (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastflow.errors import StoreError, StoreLimitError
from blastflow.model import JobRecord, StepName
from blastflow.store.entities import (
    LINES_PER_CHUNK,
    chunk_lines,
    job_entity,
    lines_of_chunk,
    log_chunk_entity,
    record_of_entity,
)
from blastflow.store.limits import PROPERTY_CHUNK_UNITS, check_entity, utf16_units

T0 = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


def _record(**fields: object) -> JobRecord:
    return JobRecord(job_id="3f2c0b9e-8d1a-4c5e-9f00-0123456789ab", created_at=T0, updated_at=T0, **fields)


@given(st.text(max_size=70_000))
def test_any_record_round_trips_through_its_entity(title: str) -> None:
    record = _record(title=title)
    entity = job_entity(record)
    assert record_of_entity(entity) == record
    chunks = [entity[f"record_{i}"] for i in range(entity["record_chunks"])]
    assert all(utf16_units(chunk) <= PROPERTY_CHUNK_UNITS for chunk in chunks)


def test_top_level_properties_carry_what_queries_need() -> None:
    entity = job_entity(_record(title="t" * 5_000, program="blastn", error_code=None))
    assert entity["status"] == "queued" and entity["phase"] == "queued" and entity["program"] == "blastn"
    assert entity["created_at"] == T0 and entity["updated_at"] == T0
    assert len(entity["title"]) == 1_000
    assert "error_code" not in entity  # None is left out, not stored as a string


def test_a_record_too_big_for_one_entity_names_its_largest_fields() -> None:
    with pytest.raises(StoreLimitError, match=r"Largest fields: title \(700,000 characters\)"):
        job_entity(_record(title="x" * 700_000))


def test_a_row_that_is_not_a_record_is_reported() -> None:
    with pytest.raises(StoreError, match="not a blastflow record"):
        record_of_entity({"PartitionKey": "j", "RowKey": "current", "record_chunks": 2, "record_0": "{}"})


@given(st.lists(st.text(max_size=3_000), max_size=400))
def test_chunks_keep_order_and_fit_one_property(lines: list[str]) -> None:
    chunks = chunk_lines(lines)
    assert [line for chunk in chunks for line in chunk] == lines
    seq = 1
    for chunk in chunks:
        assert 0 < len(chunk) <= LINES_PER_CHUNK
        entity = log_chunk_entity("job", StepName.RUN, seq, chunk)
        check_entity(entity, "a chunk")
        assert utf16_units(entity["lines"]) <= PROPERTY_CHUNK_UNITS
        assert lines_of_chunk(entity) == list(enumerate(chunk, start=seq))
        seq += len(chunk)


def test_a_chunk_entity_says_which_lines_it_holds() -> None:
    entity = log_chunk_entity("job", StepName.SUBMIT, 41, ["a", 'quote " and \\'])
    assert entity["RowKey"] == "submit:0000000041"
    assert (entity["first_seq"], entity["last_seq"]) == (41, 42)
    assert json.loads(entity["lines"]) == ["a", 'quote " and \\']
