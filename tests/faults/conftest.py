"""Fixtures of the fault and bad-input suites: the ElasticBLAST doubles, an Azurite-backed pipeline, spawn records."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doubles"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from elb_doubles import (  # noqa: F401 - fixtures, found by name
    ElbWorld,
    elb_blast_dbs,
    elb_world,
    fake_cluster,
    fake_elastic_blast,
    fake_k8s,
    fake_kubeconfig,
)

from blastflow.store.base import StateStore

# The tools whose start would mean work began: BLAST searches, database builds, the ElasticBLAST CLI.
WORK_TOOLS = ("blastn", "blastp", "blastx", "tblastn", "tblastx", "makeblastdb", "elastic-blast")
# Read-only look-ups prepare may make while checking a database name.
PROBE_TOOLS = ("blastdbcmd",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a fault test that runs a whole flow (tens of seconds); runs in CI")


@pytest.fixture
def azure_pipeline(pipeline_with, azurite_private) -> StateStore:
    """Like `pipeline`, but the job store is a private Azurite's Table service (to stop and restart)."""
    return pipeline_with(azurite_private.connection_string)


class SpawnRecord:
    """Which BLAST+ / ElasticBLAST programs were started while it was on PATH (each start appends a line)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def started(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def work_started(self) -> list[str]:
        """Starts of programs that do work (searches, database builds, submits), not read-only probes."""
        return [line for line in self.started() if line.split(" ", 1)[0] in WORK_TOOLS]


@pytest.fixture
def spawn_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SpawnRecord:
    """Put recording shims for BLAST+ (and `elastic-blast`, if one is on PATH) first on PATH.

    Each shim appends its name and arguments to a file, then execs the real program, so code under
    test runs exactly as before and the test knows whether (and which) programs were started.
    """
    shims = tmp_path / "spawn-shims"
    shims.mkdir()
    record = SpawnRecord(tmp_path / "spawned.txt")
    for tool in WORK_TOOLS + PROBE_TOOLS + ("blast_formatter",):
        real = shutil.which(tool)
        if real is None:
            continue
        shim = shims / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{record.path}"\nexec "{real}" "$@"\n')
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    return record
