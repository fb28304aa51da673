"""The submit streamer: every line arrives as it is printed, sanitised, from both pipes."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from blastflow.errors import SubmitError
from blastflow.joblog import StepLog
from blastflow.model import StepName
from blastflow.store.limits import MAX_LOG_LINE_UNITS, encoded_line_units
from blastflow.stream import stream_child


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_first_line_is_stored_before_the_second_is_printed(tmp_path: Path, sqlite_store) -> None:
    # The child prints one line (no flush), then waits until the test has seen that line
    # in the store before printing the second. A buffered pipe or a batched reader would
    # hold "one" back and the child would give up waiting and print "two-timeout".
    go = tmp_path / "go"
    argv = _script(
        tmp_path,
        f"""
        import os, time
        print("one")
        for _ in range(300):
            if os.path.exists({str(go)!r}):
                print("two")
                break
            time.sleep(0.05)
        else:
            print("two-timeout")
        """,
    )
    job_id = "6f1d5e8a-1c2b-4d3e-8f90-123456789abc"
    log = StepLog(sqlite_store, job_id, StepName.SUBMIT, flush_interval_s=1.0, row_interval_s=5.0)
    seen_in_store_at_go: list[str] = []

    def tick() -> None:
        log.tick()
        stored = [line.text for line in sqlite_store.read_logs(job_id, StepName.SUBMIT).lines]
        if stored and not go.exists():
            seen_in_store_at_go.extend(stored)
            go.write_text("")

    result = stream_child(argv, lambda stream, line: log.add(line, stream), on_tick=tick, tick_s=0.05)
    log.close()
    assert result.returncode == 0
    assert seen_in_store_at_go == ["one"]
    assert [line.text for line in sqlite_store.read_logs(job_id, StepName.SUBMIT).lines] == ["one", "two"]


def test_stdout_and_stderr_are_drained_concurrently(tmp_path: Path) -> None:
    # 200 KB on stderr before anything on stdout: a stdout-only reader would deadlock on the full pipe.
    argv = _script(
        tmp_path,
        """
        import sys
        for i in range(2000):
            sys.stderr.write(f"err {i} " + "x" * 100 + "\\n")
        print("out done")
        """,
    )
    seen: list[tuple[str, str]] = []
    result = stream_child(argv, lambda s, line: seen.append((s, line)), timeout_s=60)
    assert result.returncode == 0 and not result.timed_out
    assert sum(1 for s, _ in seen if s == "stderr") == 2000
    assert ("stdout", "out done") in seen


def test_lines_are_sanitised_before_any_sink(tmp_path: Path) -> None:
    argv = _script(
        tmp_path,
        r"""
        print("\x1b[33m[parallel-prep] running 4 azcopy checks concurrently\x1b[0m")
        print("conn DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5MTIzNDU2Nzg5MA==;")
        """,
    )
    seen: list[str] = []
    stream_child(argv, lambda s, line: seen.append(line))
    assert seen[0] == "[parallel-prep] running 4 azcopy checks concurrently"
    assert "c2VjcmV0a2V5" not in seen[1] and "AccountName=acct" in seen[1]


def test_child_sees_pythonunbuffered_and_extra_env(tmp_path: Path) -> None:
    argv = _script(tmp_path, "import os; print(os.environ['PYTHONUNBUFFERED'], os.environ['ELB_X'])")
    seen: list[str] = []
    stream_child(argv, lambda s, line: seen.append(line), env={"ELB_X": "42", "PYTHONUNBUFFERED": "0"})
    assert seen == ["1 42"]


def test_exit_code_and_overlong_lines(tmp_path: Path) -> None:
    """A line is cut where the store's one limit says, with the visible note: the step log then takes it whole."""
    argv = _script(tmp_path, "import sys; print('x' * 100_000); print('next'); sys.exit(3)")
    seen: list[str] = []
    result = stream_child(argv, lambda s, line: seen.append(line))
    assert result.returncode == 3
    assert seen[0].startswith("x" * 29_000) and seen[0].endswith(" characters cut]")
    assert encoded_line_units(seen[0]) == MAX_LOG_LINE_UNITS  # as long as the store allows, not a character more
    assert seen[1] == "next"


def test_timeout_kills_the_child(tmp_path: Path) -> None:
    argv = _script(tmp_path, "import time; print('start', flush=True); time.sleep(60)")
    result = stream_child(argv, lambda s, line: None, timeout_s=0.5, tick_s=0.1)
    assert result.timed_out and result.returncode != 0


def test_missing_executable_is_a_submit_error_before_start(tmp_path: Path) -> None:
    with pytest.raises(SubmitError) as info:
        stream_child([str(tmp_path / "no-such-elastic-blast"), "submit"], lambda s, line: None)
    assert info.value.child_started is False
    assert "no-such-elastic-blast" in str(info.value) and "PATH" in str(info.value)


def test_a_private_key_printed_line_by_line_is_masked_whole(tmp_path: Path) -> None:
    argv = _script(
        tmp_path,
        """
        print("writing key:")
        print("-----BEGIN RSA PRIVATE KEY-----")
        print("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun")
        print("VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK")
        print("-----END RSA PRIVATE KEY-----")
        print("ATGAATACCCTCTGG")
        """,
    )
    seen: list[str] = []
    stream_child(argv, lambda s, line: seen.append(line))
    assert seen == ["writing key:", "***", "***", "***", "***", "ATGAATACCCTCTGG"]
