"""The Azure Table storage state store (azure-data-tables); also runs against Azurite.

Tables ``jobs`` and ``joblogs`` (see `blastflow.store.entities` for the
layout). A job row changes by read, `merge`, then a write conditional on the
ETag read (``create_entity`` for the first one); a lost race re-reads and
re-merges. Log chunks are appended in entity-group transactions together with
the step's sequence counter, guarded twice: the counter's ETag (If-Match), and
the chunk RowKeys themselves (an insert of an existing key fails the whole
transaction), so sequence numbers stay unique and gap-free across processes
even where an emulator ignores If-Match inside a batch.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableServiceClient, TableTransactionError, UpdateMode

from blastflow.errors import ConfigError, StoreError, StoreUnavailable
from blastflow.merge import JobUpdate
from blastflow.model import JobRecord, JobStatus, StepName
from blastflow.sanitise import sanitise
from blastflow.settings import quiet_azure_sdk_loggers
from blastflow.store.base import LogPage
from blastflow.store.connection import AzureTarget, parse_azure_connection_string
from blastflow.store.entities import (
    JOB_ROW_KEY,
    LINES_PER_CHUNK,
    chunk_lines,
    counter_batches,
    counter_entity,
    counter_row_key,
    job_entity,
    lines_of_chunk,
    log_chunk_entity,
    log_row_key,
    record_of_entity,
)
from blastflow.store.limits import MAX_BATCH_BYTES, MAX_BATCH_OPERATIONS, check_entity, check_job_id
from blastflow.store.logs import clean_lines, page_of_lines, parse_limit, parse_statuses, parse_step, read_plan
from blastflow.store.optimistic import MAX_ATTEMPTS, Read, WriteConflict, backoff_s, merge_and_write

__all__ = ["AzureTableStore"]

# An unreachable endpoint must fail in seconds: few, quick retries of requests that never left.
_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 3,
    "retry_connect": 2,
    "retry_read": 1,
    "retry_status": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 2,
    "connection_timeout": 5,
    "read_timeout": 10,  # a hung endpoint: StoreUnavailable in about 20 s (one read retry)
}
# A write whose request may have reached the service is not retried by the SDK: a blind retry of a
# create or a log append could apply it twice. Our own loop re-reads before it writes again.
_WRITE_OPTIONS: dict[str, Any] = {"retry_read": 0, "retry_status": 0}
_BATCH_BUDGET = MAX_BATCH_BYTES * 7 // 8  # multipart framing and JSON escaping take the rest
_LIST_READERS = 8
_TABLE_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,40}")


def _wire_size(entity: dict[str, Any]) -> int:
    # What an operation adds to a transaction payload: its JSON as the SDK sends it (non-ASCII
    # escaped), with room for the part's headers and the type annotations.
    size = 600
    for name, value in entity.items():
        size += 2 * len(name) + 40
        size += len(json.dumps(value)) if isinstance(value, str) else 40
    return size


class AzureTableStore:
    """A `StateStore` in Azure Table storage (or Azurite).

    Args:
        connection_string: the storage account's connection string (checked; its secrets are masked from now on).
        table_prefix: put before the table names (``<prefix>jobs``, ``<prefix>joblogs``), e.g. one per deployment.
        azure_sdk_logging: let the Azure SDK log its HTTP traffic (off: it is noise).

    Raises:
        ConfigError: the connection string is malformed or the credentials are refused.
        StoreUnavailable: the Table endpoint cannot be reached.
    """

    def __init__(self, connection_string: str, *, table_prefix: str = "", azure_sdk_logging: bool = False) -> None:
        quiet_azure_sdk_loggers(verbose=azure_sdk_logging)
        self._target: AzureTarget = parse_azure_connection_string(connection_string)
        if table_prefix and not _TABLE_PREFIX.fullmatch(table_prefix):
            raise ConfigError(f"table prefix {table_prefix!r} must be a letter then up to 40 letters or digits")
        self.host = self._target.host
        self.jobs_table_name = f"{table_prefix}jobs"
        self.logs_table_name = f"{table_prefix}joblogs"
        try:
            self._service = TableServiceClient.from_connection_string(self._target.connection_string, **_CLIENT_OPTIONS)
        except ValueError as err:  # the SDK's own connection-string checks
            raise ConfigError(f"the Azure connection string was refused by the SDK: {sanitise(str(err))}") from None
        with self._errors("creating the tables"):
            self._jobs = self._service.create_table_if_not_exists(self.jobs_table_name)
            self._logs = self._service.create_table_if_not_exists(self.logs_table_name)

    # -- errors ----------------------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn SDK errors into blastflow errors that name the endpoint, never the key."""
        hint = "check BLASTFLOW_STORE_URL / that Azurite or the account is reachable"
        try:
            yield
        except (ServiceRequestError, ServiceResponseError) as err:
            raise StoreUnavailable(
                f"cannot reach the Table endpoint at {self.host} while {doing}: {_reason(err)}; {hint}"
            ) from None
        except HttpResponseError as err:
            status = err.status_code or 0
            code = _error_code(err)
            if isinstance(err, ClientAuthenticationError) or status in (401, 403):
                raise ConfigError(
                    f"the Table endpoint at {self.host} refused the credentials while {doing} ({status} {code}); "
                    "check AccountName and AccountKey (or the SAS token) in the connection string; keys are "
                    "rotated on the account's 'Access keys' page"
                ) from None
            if status in (408, 429) or status >= 500:
                raise StoreUnavailable(
                    f"the Table endpoint at {self.host} answered {status} {code} while {doing} (busy or failing); "
                    "retry later"
                ) from None
            raise StoreError(
                f"the Table endpoint at {self.host} rejected a request while {doing}: {status} {code} {_reason(err)}"
            ) from None

    # -- jobs ------------------------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The current record, or None when the job has no row."""
        check_job_id(job_id)
        return self._read(job_id).record

    def _read(self, job_id: str) -> Read[str | None]:
        with self._errors("reading a job"):
            try:
                entity = self._jobs.get_entity(job_id, JOB_ROW_KEY)
            except ResourceNotFoundError:
                return Read(None, None)
        return Read(record_of_entity(entity), entity.metadata["etag"])

    def update(self, job_id: str, update: JobUpdate) -> JobRecord:
        """Merge `update` into the job's row (creating it) and return the stored record."""
        check_job_id(job_id)
        return merge_and_write(job_id, update, lambda: self._read(job_id), self._write_record)

    def _write_record(self, record: JobRecord, current: Read[str | None]) -> None:
        entity = job_entity(record)  # StoreLimitError here: nothing was written
        with self._errors("writing a job"):
            try:
                if current.token is None:
                    self._jobs.create_entity(entity, **_WRITE_OPTIONS)
                else:
                    # REPLACE, so record chunks a smaller record no longer needs do not linger.
                    self._jobs.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=current.token,
                        match_condition=MatchConditions.IfNotModified,
                        **_WRITE_OPTIONS,
                    )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                raise WriteConflict from None

    def list_jobs(self, *, status: JobStatus | Sequence[JobStatus] | None = None, limit: int = 200) -> list[JobRecord]:
        """Jobs newest first (by `created_at`), optionally only those with the given status(es).

        Table storage cannot sort, so this scans the few top-level properties of
        every row, sorts, then reads the full records of the newest `limit`.
        """
        statuses = parse_statuses(status)
        limit = parse_limit(limit, "limit")
        query = "RowKey eq @row"
        params: dict[str, Any] = {"row": JOB_ROW_KEY}
        if statuses:
            # The SDK substitutes @names only in space-separated words: keep the parentheses apart.
            query += " and ( " + " or ".join(f"status eq @s{i}" for i in range(len(statuses))) + " )"
            params.update({f"s{i}": s.value for i, s in enumerate(statuses)})
        with self._errors("listing jobs"):
            rows = [
                (row["created_at"], row["PartitionKey"])
                for row in self._jobs.query_entities(
                    query, parameters=params, select=["PartitionKey", "created_at"], results_per_page=1000
                )
                if isinstance(row.get("created_at"), datetime)
            ]
        rows.sort(key=lambda r: (-r[0].timestamp(), r[1]))
        newest = [job_id for _, job_id in rows[:limit]]
        if not newest:
            return []
        with ThreadPoolExecutor(max_workers=min(_LIST_READERS, len(newest))) as pool:
            records = list(pool.map(lambda job_id: self._read(job_id).record, newest))
        wanted = set(statuses) if statuses else None
        # A row may have changed between the scan and the read: keep the filter true.
        return [r for r in records if r is not None and (wanted is None or r.status in wanted)]

    # -- logs ------------------------------------------------------------------------------------------------

    def append_logs(self, job_id: str, step: StepName, lines: Sequence[str], *, batch_id: str | None = None) -> int:
        """Append sanitised lines to the job's log for `step`; return the last sequence number.

        Lines go in entity-group transactions of at most 100 entities and about 3.5 MiB; each
        transaction is all-or-nothing. Every line is checked before the first is written.
        """
        check_job_id(job_id)
        step = parse_step(step)
        texts = clean_lines(lines)
        if not texts:
            with self._errors("reading the log counter"):
                counter = self._counter(job_id, step)
            return int(counter["last_seq"]) if counter is not None else 0
        chunks = chunk_lines(texts)
        for chunk in chunks:  # the keys and sizes are known before the first write
            check_entity(log_chunk_entity(job_id, step, 1, chunk), f"a log chunk of job {job_id}")
        last = 0
        for index, group in enumerate(self._transactions(job_id, step, chunks)):
            # Each transaction carries its mark on the counter it updates, atomically with its lines.
            mark = f"{batch_id}.{index}" if batch_id is not None else None
            last = self._append_group(job_id, step, group, mark)
        return last

    @staticmethod
    def _transactions(job_id: str, step: StepName, chunks: list[list[str]]) -> Iterator[list[list[str]]]:
        group: list[list[str]] = []
        size = _wire_size(counter_entity(job_id, step, 0))
        for chunk in chunks:
            chunk_size = _wire_size(log_chunk_entity(job_id, step, 1, chunk))
            # One operation of every transaction is the counter.
            if group and (len(group) + 2 > MAX_BATCH_OPERATIONS or size + chunk_size > _BATCH_BUDGET):
                yield group
                group, size = [], _wire_size(counter_entity(job_id, step, 0))
            group.append(chunk)
            size += chunk_size
        if group:
            yield group

    def _counter(self, job_id: str, step: StepName) -> Any | None:
        try:
            return self._logs.get_entity(job_id, counter_row_key(step))
        except ResourceNotFoundError:
            return None

    def _append_group(self, job_id: str, step: StepName, chunks: list[list[str]], mark: str | None) -> int:
        """Write `chunks` after the step's last line in one transaction; retry if another writer got there first."""
        for attempt in range(MAX_ATTEMPTS):
            with self._errors("appending log lines"):
                counter = self._counter(job_id, step)
                marks = counter_batches(counter)
                if mark is not None and mark in marks:
                    return int(counter["last_seq"])  # this transaction landed already: a retry
                marks = [*marks, mark] if mark is not None else marks
                first = int(counter["last_seq"]) + 1 if counter is not None else 1
                operations: list[Any] = []
                seq = first
                for chunk in chunks:
                    operations.append(("create", log_chunk_entity(job_id, step, seq, chunk)))
                    seq += len(chunk)
                last = seq - 1
                if counter is None:
                    operations.insert(0, ("create", counter_entity(job_id, step, last, marks)))
                else:
                    condition = {
                        "mode": UpdateMode.REPLACE,
                        "etag": counter.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    }
                    operations.insert(0, ("update", counter_entity(job_id, step, last, marks), condition))
                try:
                    self._logs.submit_transaction(operations, **_WRITE_OPTIONS)
                    return last
                except TableTransactionError as err:
                    if err.status_code not in (409, 412):
                        raise
            time.sleep(backoff_s(attempt))
        raise StoreError(
            f"job {job_id}: {MAX_ATTEMPTS} log appends in a row met a concurrent append to step {step.value}; "
            "too many writers at once. Retry later",
            code="store_conflict",
        )

    def read_logs(
        self, job_id: str, step: StepName | None = None, after: str | None = None, limit: int | None = None
    ) -> LogPage:
        """Lines in order (by step order, then sequence), only those after the `after` cursor."""
        check_job_id(job_id)
        plan = read_plan(step, after, limit)
        found: list[tuple[StepName, list[tuple[int, str]]]] = []
        remaining = plan.limit
        with self._errors("reading log lines"):
            for name, seen in plan.steps:
                if remaining is not None and remaining <= 0:
                    break
                rows = self._lines_after(job_id, name, seen, remaining)
                found.append((name, rows))
                if remaining is not None:
                    remaining -= len(rows)
        return page_of_lines(plan, found)

    def _lines_after(self, job_id: str, step: StepName, seen: int, limit: int | None) -> list[tuple[int, str]]:
        # The chunk holding line seen+1 starts at most LINES_PER_CHUNK - 1 lines before it.
        low = max(1, seen + 2 - LINES_PER_CHUNK)
        entities = self._logs.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high and last_seq gt @seen",
            parameters={"pk": job_id, "low": log_row_key(step, low), "high": f"{step.value};", "seen": seen},
            select=["first_seq", "lines"],
        )
        rows: list[tuple[int, str]] = []
        for entity in entities:
            rows.extend((seq, text) for seq, text in lines_of_chunk(entity) if seq > seen)
            if limit is not None and len(rows) >= limit:
                return rows[:limit]
        return rows

    # -- lifetime --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connections."""
        self._service.close()

    def __enter__(self) -> AzureTableStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AzureTableStore(host={self.host!r}, tables={self.jobs_table_name!r}/{self.logs_table_name!r})"


def _error_code(err: HttpResponseError) -> str:
    code = getattr(err, "error_code", None) or ""
    return str(getattr(code, "value", code))


def _reason(err: Exception) -> str:
    """A short, key-free reason from an SDK error (its text may carry a URL with a SAS token)."""
    text = str(getattr(err, "message", None) or err)
    errno = re.search(r"\[Errno -?\d+\] [^'\"\n)>]+", text)
    if errno:
        return errno.group().strip()
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return sanitise(first)[:160]
