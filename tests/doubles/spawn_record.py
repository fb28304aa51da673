"""TEST DOUBLE: recording shims for the BLAST+ and `elastic-blast` programs (spies that record each start).

Each shim stands in for the real program of its name on PATH: it appends its name and arguments to a file,
then execs the real program, so the code under test runs exactly as before and the test knows whether (and
which) programs were started. Used by the bad-input suite to show bad input starts no work.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

__all__ = ["PROBE_TOOLS", "WORK_TOOLS", "SpawnRecord", "spawn_record"]

# The tools whose start would mean work began: BLAST searches, database builds, the ElasticBLAST CLI.
WORK_TOOLS = ("blastn", "blastp", "blastx", "tblastn", "tblastx", "makeblastdb", "elastic-blast")
# Read-only look-ups prepare may make while checking a database name.
PROBE_TOOLS = ("blastdbcmd",)


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
