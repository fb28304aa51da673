"""Fixtures for the store tests: the same tests run on SQLite and on a real Azurite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blastflow.store.base import StateStore

WORKER = Path(__file__).with_name("store_worker.py")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StoreSpec:
    """Enough to open the same store again, here or in another process."""

    kind: str  # "sqlite" | "azurite"
    path: str = ""
    connection_string: str = ""
    table_prefix: str = ""

    def open(self) -> StateStore:
        if self.kind == "sqlite":
            from blastflow.store.sqlite import SqliteStore

            return SqliteStore(self.path)
        from blastflow.store.azure_table import AzureTableStore

        return AzureTableStore(self.connection_string, table_prefix=self.table_prefix)

    def run_workers(self, mode: str, job_id: str, count: int, tags: list[str], tmp_path: Path) -> None:
        """Run one store_worker.py process per tag at once (they start together) and wait for all."""
        barrier = tmp_path / f"barrier-{mode}"
        barrier.mkdir()
        env = {
            **os.environ,
            "BLASTFLOW_TEST_STORE_SPEC": json.dumps(self.__dict__),  # secrets via env, not argv
            "PYTHONPATH": str(REPO),
        }
        processes = [
            subprocess.Popen(
                [sys.executable, str(WORKER), mode, job_id, str(count), tag, str(barrier), str(len(tags))],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for tag in tags
        ]
        failures = []
        for process in processes:
            out, err = process.communicate(timeout=240)
            if process.returncode != 0:
                failures.append(f"worker exited {process.returncode}:\n{out}\n{err[-3000:]}")
        assert not failures, "\n".join(failures)


@pytest.fixture(params=["sqlite", pytest.param("azurite", marks=pytest.mark.azurite)])
def spec(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> StoreSpec:
    """Where the test's store lives: a fresh SQLite file, or fresh tables in the session's Azurite."""
    if request.param == "sqlite":
        return StoreSpec("sqlite", path=str(tmp_path / "state" / "blastflow.db"))
    azurite = request.getfixturevalue("azurite")
    return StoreSpec("azurite", connection_string=azurite.connection_string, table_prefix=unique_name)


@pytest.fixture
def store(spec: StoreSpec) -> Iterator[StateStore]:
    opened = spec.open()
    try:
        yield opened
    finally:
        opened.close()
