"""How job records and log lines map onto Table entities (pure; both stores check against it).

A job row: PartitionKey = job id, RowKey = ``current``; a few top-level
properties for queries and people browsing the table (status, phase, times,
title…), and the whole record as JSON split over ``record_0``, ``record_1``, …,
each at most 32,000 UTF-16 code units.

A log chunk: PartitionKey = job id, RowKey = ``<step>:<first seq, 10 digits>``;
``lines`` holds a JSON list of consecutive lines (at most `LINES_PER_CHUNK`,
at most 32,000 code units), ``first_seq`` / ``last_seq`` say which. A counter
entity per step (RowKey ``~last:<step>``) holds the last sequence number used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from blastflow.errors import StoreError, StoreLimitError
from blastflow.model import JobRecord, StepName
from blastflow.store.limits import PROPERTY_CHUNK_UNITS, check_entity, split_utf16, utf16_units

__all__ = [
    "JOB_ROW_KEY",
    "LINES_PER_CHUNK",
    "SEQ_DIGITS",
    "chunk_lines",
    "counter_batches",
    "counter_entity",
    "counter_row_key",
    "job_entity",
    "lines_of_chunk",
    "log_chunk_entity",
    "log_row_key",
    "record_of_entity",
]

JOB_ROW_KEY = "current"
LINES_PER_CHUNK = 200  # bounds how far before a cursor a reader must look for the chunk holding it
SEQ_DIGITS = 10
_RECORD_PREFIX = "record_"
_TOP_TEXT_UNITS = 1_000  # top-level copies are for queries and browsing; the JSON holds the full value
_TOP_LEVEL = ("status", "phase", "title", "program", "database", "backend", "flow_run_id", "error_code")


def job_entity(record: JobRecord) -> dict[str, Any]:
    """The jobs-table entity for `record`, checked against the service limits.

    Raises:
        StoreLimitError: the record would not fit one entity; the message names its largest fields.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> e = job_entity(JobRecord(job_id="j1", created_at=t, updated_at=t, title="demo"))
        >>> e["RowKey"], e["status"], e["record_chunks"], record_of_entity(e).title
        ('current', 'queued', 1, 'demo')
    """
    text = record.model_dump_json()
    chunks = split_utf16(text, PROPERTY_CHUNK_UNITS)
    entity: dict[str, Any] = {
        "PartitionKey": record.job_id,
        "RowKey": JOB_ROW_KEY,
        "schema_version": record.schema_version,
        "version": record.version,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "record_chunks": len(chunks),
    }
    for name in _TOP_LEVEL:
        value = getattr(record, name)
        if value is not None:
            value = str(value)
            entity[name] = value if utf16_units(value) <= _TOP_TEXT_UNITS else split_utf16(value, _TOP_TEXT_UNITS)[0]
    for i, chunk in enumerate(chunks):
        entity[f"{_RECORD_PREFIX}{i}"] = chunk
    try:
        check_entity(entity, f"the record of job {record.job_id}")
    except StoreLimitError as err:
        largest = _largest_fields(record)
        raise StoreLimitError(f"{err}. Largest fields: {largest}; the stored row is unchanged") from None
    return entity


def record_of_entity(entity: Mapping[str, Any]) -> JobRecord:
    """The record a jobs-table entity holds (inverse of `job_entity`)."""
    try:
        count = int(entity["record_chunks"])
        text = "".join(entity[f"{_RECORD_PREFIX}{i}"] for i in range(count))
        return JobRecord.model_validate_json(text)
    except (KeyError, TypeError, ValueError) as err:
        raise StoreError(
            f"the row of job {entity.get('PartitionKey')!r} is not a blastflow record ({type(err).__name__}); "
            "was it written by something other than blastflow?"
        ) from None


def _largest_fields(record: JobRecord) -> str:
    def size(value: Any) -> int:
        return len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False))

    sizes = [(size(value), name) for name, value in record.model_dump(mode="json", exclude={"steps"}).items()]
    for step, state in record.steps.items():
        sizes.extend(
            (size(value), f"steps.{step.value}.{name}") for name, value in state.model_dump(mode="json").items()
        )
    sizes.sort(reverse=True)
    return ", ".join(f"{name} ({size:,} characters)" for size, name in sizes[:3])


def log_row_key(step: StepName, first_seq: int) -> str:
    """RowKey of the log chunk whose first line is `first_seq`; sorts in sequence order.

    Example:
        >>> log_row_key(StepName.SUBMIT, 42)
        'submit:0000000042'
    """
    return f"{step.value}:{first_seq:0{SEQ_DIGITS}d}"


def counter_row_key(step: StepName) -> str:
    """RowKey of the entity holding the last sequence number of `step` ('~' sorts after every log key)."""
    return f"~last:{step.value}"


def chunk_lines(lines: Sequence[str]) -> list[list[str]]:
    """Consecutive lines packed into chunks of at most `LINES_PER_CHUNK` lines and 32,000 code units.

    Every line must already have passed `limits.check_log_line`.

    Example:
        >>> [len(c) for c in chunk_lines(["x" * 10_000] * 7)]
        [3, 3, 1]
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    units = 2  # the list's brackets
    for line in lines:
        size = utf16_units(json.dumps(line, ensure_ascii=False)) + 1  # and a comma
        if current and (units + size > PROPERTY_CHUNK_UNITS or len(current) >= LINES_PER_CHUNK):
            chunks.append(current)
            current, units = [], 2
        current.append(line)
        units += size
    if current:
        chunks.append(current)
    return chunks


def log_chunk_entity(job_id: str, step: StepName, first_seq: int, lines: Sequence[str]) -> dict[str, Any]:
    """The joblogs entity holding `lines`, numbered from `first_seq`."""
    return {
        "PartitionKey": job_id,
        "RowKey": log_row_key(step, first_seq),
        "step": step.value,
        "first_seq": first_seq,
        "last_seq": first_seq + len(lines) - 1,
        "lines": json.dumps(list(lines), ensure_ascii=False, separators=(",", ":")),
    }


def lines_of_chunk(entity: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(seq, text) of every line in a log chunk entity."""
    first = int(entity["first_seq"])
    return [(first + i, text) for i, text in enumerate(json.loads(entity["lines"]))]


RECENT_BATCHES = 16  # batch marks a counter remembers: retries come right after the write they repeat


def counter_entity(job_id: str, step: StepName, last_seq: int, batches: Sequence[str] = ()) -> dict[str, Any]:
    """The entity recording `last_seq` as the last sequence number used for `step`, and the latest batch marks."""
    return {
        "PartitionKey": job_id,
        "RowKey": counter_row_key(step),
        "step": step.value,
        "last_seq": last_seq,
        "batches": ",".join(list(batches)[-RECENT_BATCHES:]),
    }


def counter_batches(entity: Mapping[str, Any] | None) -> list[str]:
    """The batch marks a counter entity remembers."""
    text = (entity or {}).get("batches") or ""
    return [mark for mark in text.split(",") if mark]
