"""The read-merge-write loop on its own: a row held in a dict, changed under the writer's feet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blastflow.errors import StoreError
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import JobRecord, StepName
from blastflow.store.optimistic import Read, WriteConflict, backoff_s, merge_and_write

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class DictRow:
    """The smallest conditional store: one row and its version, checked on write."""

    def __init__(self) -> None:
        self.record: JobRecord | None = None
        self.conflicts_left = 0

    def read(self) -> Read[int]:
        return Read(self.record, self.record.version if self.record else 0)

    def write(self, record: JobRecord, current: Read[int]) -> None:
        if self.conflicts_left:
            self.conflicts_left -= 1
            raise WriteConflict
        assert (self.record.version if self.record else 0) == current.token
        self.record = record


def test_conflicts_are_retried_on_a_fresh_read() -> None:
    row = DictRow()
    row.conflicts_left = 3
    update = JobUpdate(steps={StepName.RUN: StepUpdate(lines=["x"])})
    stored = merge_and_write("job", update, row.read, row.write, now=lambda: T0)
    assert stored is row.record and stored.version == 1 and stored.job_id == "job"
    assert stored.steps[StepName.RUN].log_line_count == 1


def test_endless_conflicts_end_in_a_clear_error() -> None:
    row = DictRow()
    row.conflicts_left = 10**6
    with pytest.raises(StoreError, match="5 writes in a row met a concurrent change") as raised:
        merge_and_write("job", JobUpdate(title="t"), row.read, row.write, attempts=5, now=lambda: T0)
    assert raised.value.code == "store_conflict"
    assert row.record is None


def test_backoff_grows_but_stays_small() -> None:
    assert all(0 <= backoff_s(attempt) <= 0.25 for attempt in range(50))
