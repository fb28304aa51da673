"""The supervisor's rules: backoff, the failure line it reports, and a BLAST program that cannot start.

The supervisor running real BLAST (retries, cancel, death) is tested through the
backend in test_local.py; here it runs in-process where that is enough.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from blastflow.backends.local.run_files import (
    LocalConfig,
    PodPhase,
    PodState,
    RunFiles,
    SupervisorPhase,
    SupervisorState,
    read_state,
)
from blastflow.backends.local.supervisor import Supervisor, last_blast_line, retry_delay
from blastflow.search import Batch


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [retry_delay(n, 10, 60) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert retry_delay(1, 0, 60) == 0


def test_failure_line_is_blast_s_own_from_the_latest_attempt() -> None:
    log = [
        "[supervisor] t attempt 1 of 2 started: blastp ...",
        "BLAST Database error: first attempt",
        "[supervisor] t attempt 1 exited with code 2",
        "[supervisor] t retrying in 1 s (backoff limit 1)",
        "[supervisor] t attempt 2 of 2 started: blastp ...",
        "Warning: [blastp] Examining 5 or more matches is recommended",
        "Error: out of memory",
        "",
        "[supervisor] t attempt 2 exited with code 4",
    ]
    assert last_blast_line(log) == "Error: out of memory"
    assert last_blast_line([*log, "[supervisor] t attempt 3 of 3 started: x", "[supervisor] t attempt 3 exited"]) == ""


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """The in-process supervisor installs its own SIGTERM/SIGINT/SIGHUP handlers; put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_blast_that_cannot_start_fails_after_its_retries(tmp_path: Path, restore_signals: None) -> None:
    batches = []
    for index in range(2):
        path = tmp_path / "query_batches" / f"batch_{index:03d}.fa"
        path.parent.mkdir(exist_ok=True)
        path.write_text(">q\nMKV\n")
        batches.append(Batch(index=index, path=path, sequences=1, residues=3))
    config = LocalConfig(
        job_id="job",
        program="blastp",
        blast=str(tmp_path / "missing" / "blastp"),
        database="db",
        database_label="db",
        molecule="prot",
        options=[],
        batches=batches,
        workdir=tmp_path,
        max_parallel=1,
        threads_per_pod=1,
        batch_retries=1,
        retry_backoff_s=0,
    )
    assert Supervisor(config, poll_s=0.01).run() == 1
    files = RunFiles(tmp_path)
    first = read_state(files.pod_state("batch_000"), PodState)
    assert first is not None and (first.phase, first.attempts, first.reason) == (PodPhase.FAILED, 2, "error")
    assert first.message == (
        f"batch_000 failed after 2 attempt(s), could not start: [Errno 2] No such file or directory: '{config.blast}'"
    )
    second = read_state(files.pod_state("batch_001"), PodState)
    assert second is not None and (second.phase, second.reason) == (PodPhase.FAILED, "stopped")
    assert second.message == "stopped: batch_000 failed"
    final = read_state(files.supervisor, SupervisorState)
    assert final is not None and (final.phase, final.message) == (SupervisorPhase.FAILURE, first.message)
