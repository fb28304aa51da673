"""The embedded state store: one SQLite file (WAL), safe for several processes and threads.

``jobs`` (job_id PK, version, created_at, status, record JSON) and ``joblogs``
(job_id, step, seq, text). A row changes only by read, `merge`, then
``UPDATE … WHERE version = ?`` inside ``BEGIN IMMEDIATE``; a lost race re-reads
and re-merges. Log sequence numbers are allocated under the same write lock,
so they stay unique and gap-free across processes. Records and lines are held
to the Table service limits too, so a job that fits here fits Azure.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

from blastflow.errors import ConfigError, StoreUnavailable
from blastflow.merge import JobUpdate
from blastflow.model import JobRecord, JobStatus, StepName
from blastflow.store.base import LogPage
from blastflow.store.entities import job_entity
from blastflow.store.limits import check_job_id
from blastflow.store.logs import clean_lines, page_of_lines, parse_limit, parse_statuses, parse_step, read_plan
from blastflow.store.optimistic import Read, WriteConflict, merge_and_write

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at DESC);
CREATE TABLE IF NOT EXISTS joblogs (
    job_id TEXT NOT NULL,
    step TEXT NOT NULL,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (job_id, step, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS joblog_batches (
    job_id TEXT NOT NULL,
    step TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (job_id, step, batch_id)
) WITHOUT ROWID;
"""


def _sortable(record: JobRecord) -> str:
    # Fixed width, UTC: text order is time order.
    return record.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqliteStore:
    """A `StateStore` in one SQLite file.

    Args:
        path: the database file; its parent directories are created.
        busy_timeout_s: how long a writer waits for another process's write lock.

    Example:
        >>> import tempfile
        >>> from blastflow.merge import JobUpdate
        >>> from blastflow.model import Phase
        >>> with tempfile.TemporaryDirectory() as tmp, SqliteStore(f"{tmp}/s.db") as store:
        ...     store.update("job-1", JobUpdate(phase=Phase.PREPARING)).phase.value
        'preparing'
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 15.0) -> None:
        self.path = Path(path).expanduser()
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._pid = os.getpid()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"cannot create the directory of the SQLite store {self.path}: {err.strerror}; "
                "set BLASTFLOW_DATA_DIR or BLASTFLOW_STORE_URL to a writable place"
            ) from None
        with self._errors("creating the tables"), self._write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    # -- connections ---------------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._pid != os.getpid():
            conn = None  # a forked child must not use its parent's connection (SQLite forbids it)
            self._local = threading.local()
            with self._guard:
                self._connections = []
            self._pid = os.getpid()
        if conn is None:
            if self._closed:
                raise StoreUnavailable(f"the SQLite store {self.path} is closed")
            # One connection per thread; autocommit mode, transactions are explicit.
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across crashes of the process
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its start."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise StoreUnavailable(
                    f"the SQLite store {self.path} stayed locked by another writer for {self._busy_timeout_s:g} s "
                    f"while {doing}; retry, or check for a stuck process holding it"
                ) from None
            raise StoreUnavailable(
                f"the SQLite store {self.path} failed while {doing}: {err}; check the file and its directory "
                "are writable and the disk is not full"
            ) from None
        except sqlite3.DatabaseError as err:
            raise StoreUnavailable(
                f"the SQLite store {self.path} failed while {doing}: {err}; is it a blastflow database?"
            ) from None

    # -- jobs ------------------------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The current record, or None when the job has no row."""
        check_job_id(job_id)
        return self._read(job_id).record

    def _read(self, job_id: str) -> Read[int | None]:
        with self._errors("reading a job"):
            row = self._conn().execute("SELECT version, record FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            return Read(None, None)
        return Read(JobRecord.model_validate_json(row[1]), row[0])

    def update(self, job_id: str, update: JobUpdate) -> JobRecord:
        """Merge `update` into the job's row (creating it) and return the stored record."""
        check_job_id(job_id)
        return merge_and_write(job_id, update, lambda: self._read(job_id), self._write_record)

    def _write_record(self, record: JobRecord, current: Read[int | None]) -> None:
        job_entity(record)  # the same limits as Table storage, checked before writing
        values = (record.version, _sortable(record), record.status.value, record.model_dump_json())
        with self._errors("writing a job"), self._write() as conn:
            if current.token is None:
                try:
                    conn.execute(
                        "INSERT INTO jobs (version, created_at, status, record, job_id) VALUES (?, ?, ?, ?, ?)",
                        (*values, record.job_id),
                    )
                except sqlite3.IntegrityError:
                    raise WriteConflict from None
            else:
                changed = conn.execute(
                    "UPDATE jobs SET version = ?, created_at = ?, status = ?, record = ? "
                    "WHERE job_id = ? AND version = ?",
                    (*values, record.job_id, current.token),
                ).rowcount
                if changed != 1:
                    raise WriteConflict

    def list_jobs(self, *, status: JobStatus | Sequence[JobStatus] | None = None, limit: int = 200) -> list[JobRecord]:
        """Jobs newest first (by `created_at`), optionally only those with the given status(es)."""
        statuses = parse_statuses(status)
        limit = parse_limit(limit, "limit")
        sql = "SELECT record FROM jobs"
        params: list[object] = []
        if statuses is not None:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            params.extend(s.value for s in statuses)
        sql += " ORDER BY created_at DESC, job_id LIMIT ?"
        params.append(limit)
        with self._errors("listing jobs"):
            rows = self._conn().execute(sql, params).fetchall()
        return [JobRecord.model_validate_json(row[0]) for row in rows]

    # -- logs ------------------------------------------------------------------------------------------------

    def append_logs(self, job_id: str, step: StepName, lines: Sequence[str], *, batch_id: str | None = None) -> int:
        """Append sanitised lines to the job's log for `step`; return the last sequence number."""
        check_job_id(job_id)
        step = parse_step(step)
        texts = clean_lines(lines)  # all checked before anything is written
        with self._errors("appending log lines"), self._write() as conn:
            if batch_id is not None:
                done = conn.execute(
                    "SELECT last_seq FROM joblog_batches WHERE job_id = ? AND step = ? AND batch_id = ?",
                    (job_id, step.value, batch_id),
                ).fetchone()
                if done is not None:
                    return int(done[0])  # this batch is stored already: a retry
            last = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM joblogs WHERE job_id = ? AND step = ?", (job_id, step.value)
            ).fetchone()[0]
            conn.executemany(
                "INSERT INTO joblogs (job_id, step, seq, text) VALUES (?, ?, ?, ?)",
                [(job_id, step.value, last + i, text) for i, text in enumerate(texts, start=1)],
            )
            if batch_id is not None:
                conn.execute(
                    "INSERT INTO joblog_batches (job_id, step, batch_id, last_seq) VALUES (?, ?, ?, ?)",
                    (job_id, step.value, batch_id, last + len(texts)),
                )
        return last + len(texts)

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
                rows = (
                    self._conn()
                    .execute(
                        "SELECT seq, text FROM joblogs WHERE job_id = ? AND step = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (job_id, name.value, seen, -1 if remaining is None else remaining),
                    )
                    .fetchall()
                )
                found.append((name, [(seq, text) for seq, text in rows]))
                if remaining is not None:
                    remaining -= len(rows)
        return page_of_lines(plan, found)

    # -- lifetime --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        self._closed = True
        with self._guard:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
