"""SqliteStore: the file layout, threads sharing one store, a locked or unusable database."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from blastflow.errors import ConfigError, StoreUnavailable
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, new_job_id
from blastflow.store.sqlite import SqliteStore


def test_one_wal_file_with_the_documented_tables_in_new_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "blastflow.db"
    with SqliteStore(path) as store:
        job_id = new_job_id()
        record = store.update(job_id, JobUpdate(phase=Phase.RUNNING))
        store.append_logs(job_id, StepName.RUN, ["hello"])

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = {t: [c[1] for c in raw.execute(f"PRAGMA table_info({t})")] for t in ("jobs", "joblogs")}
        assert columns == {
            "jobs": ["job_id", "version", "created_at", "status", "record"],
            "joblogs": ["job_id", "step", "seq", "text"],
        }
        row = raw.execute("SELECT version, status, record FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        assert row[:2] == (1, "running") and row[2] == record.model_dump_json()
        assert raw.execute("SELECT step, seq, text FROM joblogs").fetchall() == [("run", 1, "hello")]


def test_threads_sharing_one_store_lose_no_update(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        job_id = new_job_id()
        store.update(job_id, JobUpdate(phase=Phase.RUNNING))
        errors: list[BaseException] = []

        def writer(tag: str) -> None:
            try:
                for i in range(50):
                    store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=[f"{tag}{i}"])}))
                    store.append_logs(job_id, StepName.RUN, [f"{tag}{i}"])
            except BaseException as err:  # reported below: a thread's exception is otherwise lost
                errors.append(err)

        threads = [threading.Thread(target=writer, args=(tag,)) for tag in "ABCD"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        job = store.get(job_id)
        assert job.version == 201 and job.steps[StepName.RUN].log_line_count == 200
        assert [line.seq for line in store.read_logs(job_id).lines] == list(range(1, 201))


def test_a_database_locked_too_long_is_unavailable_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SqliteStore(path, busy_timeout_s=0.2) as store:
        job_id = new_job_id()
        before = store.update(job_id, JobUpdate(phase=Phase.RUNNING))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        try:
            with pytest.raises(StoreUnavailable, match="locked by another writer"):
                store.update(job_id, JobUpdate(title="blocked"))
            with pytest.raises(StoreUnavailable, match="locked by another writer"):
                store.append_logs(job_id, StepName.RUN, ["blocked"])
            assert store.get(job_id) == before  # readers are not blocked in WAL mode
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.update(job_id, JobUpdate(title="after")).version == 2


def test_a_path_that_cannot_be_a_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot create the directory"):
        SqliteStore(blocker / "sub" / "s.db")


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database " * 100)
    with pytest.raises(StoreUnavailable, match=r"notes\.db"):
        SqliteStore(path)
    assert path.read_text().startswith("these are my notes")


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.close()
    errors: list[BaseException] = []

    def use() -> None:  # a thread that never had a connection
        try:
            store.get(new_job_id())
        except StoreUnavailable as err:
            errors.append(err)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "closed" in str(errors[0])


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    """SQLite connections must not cross fork(): the child's writes still land, the parent's still work."""
    with SqliteStore(tmp_path / "s.db") as store:
        job_id = new_job_id()
        store.update(job_id, JobUpdate(phase=Phase.RUNNING))  # the parent now holds a connection

        def child() -> None:
            store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=["from the child"])}))

        process = multiprocessing.get_context("fork").Process(target=child)
        process.start()
        process.join(60)

        assert process.exitcode == 0
        job = store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=["from the parent"])}))
        assert job.version == 3
        assert job.steps[StepName.RUN].last_output == "from the child\nfrom the parent"
