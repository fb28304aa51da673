"""Files of a local run: paths and atomic state writes (process checks and log tails: tests/test_process.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blastflow.backends.local.run_files import (
    PodPhase,
    PodState,
    RunFiles,
    file_mode,
    read_state,
    write_state,
)


def test_state_round_trip_and_no_temporary_files(tmp_path: Path) -> None:
    path = RunFiles(tmp_path).pod_state("batch_007")
    assert path == tmp_path / "pods" / "batch_007" / "state.json"
    assert read_state(path, PodState) is None
    state = PodState(batch="batch_007", phase=PodPhase.RUNNING, attempts=2, pid=123)
    write_state(path, state)
    write_state(path, state.model_copy(update={"phase": PodPhase.SUCCEEDED}))
    assert read_state(path, PodState) == state.model_copy(update={"phase": PodPhase.SUCCEEDED})
    assert os.listdir(path.parent) == ["state.json"]
    assert path.stat().st_mode & 0o777 == file_mode()  # readable like any file the user writes, not mkstemp's 0600


@pytest.mark.parametrize("directory", [False, True])
def test_file_mode_follows_the_umask(directory: bool) -> None:
    old = os.umask(0o027)
    try:
        assert file_mode(directory) == (0o750 if directory else 0o640)
    finally:
        os.umask(old)
