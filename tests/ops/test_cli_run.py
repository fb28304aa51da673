"""`blastflow run` as a person sees it: the job id first, one live display on a terminal, Ctrl-C, exit codes.

Real processes: the CLI on a pseudo-terminal (or pipes), its search process running real BLAST+ against the
session's Prefect server. The decisions behind the display are unit-tested in tests/test_run_progress.py.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from blastflow.model import Phase, StepStatus
from blastflow.store import open_store
from tests.doubles.faultkit import command_line, live_pids

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("blastp") is None, reason="BLAST+ is not installed"),
    pytest.mark.skipif(shutil.which("setsid") is None, reason="util-linux setsid is not installed"),
]

REPO = Path(__file__).resolve().parents[2]
PROTEINS = REPO / "data" / "sinvicta" / "Sinvicta2-2-3.prot.subset.fasta"
BLASTFLOW = [sys.executable, "-m", "ops.cli"]
JOB_LINE = re.compile(rb"^Job ([0-9a-f-]{36})\r?\n")
LIMIT_S = 240.0


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> dict[str, str]:
    """The CLI's environment: a private data dir and store, the session's Prefect server, a terminal type."""
    root = tmp_path_factory.mktemp("run-cli")
    return {
        **os.environ,
        "BLASTFLOW_DATA_DIR": str(root / "data"),
        "BLASTFLOW_STORE_URL": f"sqlite:///{root / 'state.db'}",
        "BLASTFLOW_MAX_PARALLEL_BATCHES": "1",
        "PREFECT_API_URL": prefect_api,
        "TERM": "xterm-256color",
    }


class Terminal:
    """A command on a pseudo-terminal: everything it wrote so far, and keys typed at it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        # A session of its own whose controlling terminal is this one (util-linux `setsid --ctty`, no preexec_fn
        # in a threaded test process): Ctrl-C typed at it sends SIGINT to the command, as in a shell.
        self.process = subprocess.Popen(["setsid", "--ctty", *argv], stdin=slave, stdout=slave, stderr=slave,
                                        env=env, cwd=REPO)  # fmt: skip
        os.close(slave)
        self.master = master
        self.output = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every writer of the terminal has gone
                return
            if not chunk:
                return
            self.output += chunk

    def wait_for(self, text: bytes) -> None:
        deadline = time.monotonic() + LIMIT_S
        while text not in self.output:
            assert self.process.poll() is None or text in self.output, f"exited before {text!r}:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {text!r} within {LIMIT_S:.0f} s:\n{self.text()}"
            time.sleep(0.1)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self) -> int:
        code = self.process.wait(timeout=LIMIT_S)
        self.reader.join(timeout=10)
        os.close(self.master)
        return code

    def text(self) -> str:
        return self.output.decode(errors="replace")


def search_processes(env: dict[str, str]) -> list[int]:
    """Live search processes (`python -m ops.search_process`) started with this test's data dir."""
    mine = f"BLASTFLOW_DATA_DIR={env['BLASTFLOW_DATA_DIR']}".encode()
    found = []
    for pid in live_pids(int(name) for name in os.listdir("/proc") if name.isdigit()):
        try:
            if "ops.search_process" in command_line(pid) and mine in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def job_processes(job_id: str) -> list[int]:
    """Live processes whose command line names the job (its supervisor and BLAST runs)."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return [pid for pid in live_pids(pids) if job_id in command_line(pid)]


def test_on_a_terminal_the_job_id_comes_first_then_one_live_display_then_the_summary(
    cli_env: dict[str, str], sample_fasta: dict[str, Path]
) -> None:
    terminal = Terminal([*BLASTFLOW, "run", "--query", str(sample_fasta["query_prot"]),
                         "--db", str(sample_fasta["db_prot"])], cli_env)  # fmt: skip

    code = terminal.finish()

    first = JOB_LINE.match(terminal.output)
    assert first, f"the first line is not the job id:\n{terminal.text()}"
    job_id = first.group(1).decode()
    shown = terminal.text()
    assert code == 0, shown
    assert "\x1b[?25l" in shown, "a Rich live display (it hides the cursor) ran"
    assert re.search(r"(Starting|Prepare run|Submit job|BLAST run|Finalize & export)[^\n]* · \d", shown)
    assert f"Job {job_id}: " in shown and "completed (completed)" in shown
    assert "Hits: " in shown and f"blastflow results {job_id}" in shown
    assert re.search(r"Prepare run .*1 batch: <?~?\d+ s of blastp work on all \d+ cores", shown), "sized by work"
    assert "Task run" not in shown, "Prefect's log lines went to the log file, not the terminal"
    log = Path(cli_env["BLASTFLOW_DATA_DIR"]) / "logs" / f"run-{job_id}.log"
    assert "Finished in state Completed" in log.read_text()


def test_ctrl_c_on_a_terminal_asks_then_cancels_the_job_and_stops_its_blast(cli_env: dict[str, str]) -> None:
    """All 1,189 sample proteins against themselves in batches one at a time: long enough to press Ctrl-C."""
    terminal = Terminal([*BLASTFLOW, "run", "--query", str(PROTEINS), "--db", str(PROTEINS),
                         "--batch-len", "30000"], cli_env)  # fmt: skip
    terminal.wait_for(b"batches done")  # the live display shows the BLAST run step's batches

    terminal.type(b"\x03")
    terminal.wait_for(b"or leave it running? [c/l]")
    terminal.type(b"c\r")
    code = terminal.finish()

    shown = terminal.text()
    job_id = JOB_LINE.match(terminal.output).group(1).decode()  # type: ignore[union-attr]
    assert code == 130, shown
    assert f"Job {job_id} cancelled; backend work: stopped" in shown
    store = open_store(cli_env["BLASTFLOW_STORE_URL"])
    try:
        job = store.get(job_id)
    finally:
        store.close()
    assert job is not None and job.phase is Phase.CANCELLED
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    assert job_processes(job_id) == [], "no supervisor and no BLAST process of the job is left"


def test_without_a_terminal_lines_are_plain_and_a_failed_search_exits_1_with_its_error_on_stderr(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    query = tmp_path / "query.fasta"
    query.write_text("this is not FASTA\n")

    done = subprocess.run([*BLASTFLOW, "run", "--query", str(query), "--db", str(PROTEINS)], env=cli_env,
                          cwd=REPO, capture_output=True, text=True, timeout=LIMIT_S)  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    job_id = lines[0].removeprefix("Job ")
    assert re.fullmatch(r"[0-9a-f-]{36}", job_id), lines[0]
    assert "\x1b" not in done.stdout + done.stderr, "no terminal control codes in a pipe"
    assert lines[1].startswith("Starting: Prefect and the search process · ")
    assert f"Job {job_id}: " in done.stdout and "failed" in done.stdout
    assert done.stderr.startswith("error: ") and "FASTA" in done.stderr
    assert f"run-{job_id}.log" in done.stderr


def test_help_documents_the_exit_codes_and_a_dry_run_still_prints_the_job_id_first(
    pipeline, sample_fasta: dict[str, Path]
) -> None:
    """The dry run stays in this process (it is quick): the job id first all the same."""
    from typer.testing import CliRunner

    from ops.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "Exit codes: 0 the job completed" in shown and "130 interrupted by Ctrl-C" in shown

    dry = runner.invoke(app, ["run", "--query", str(sample_fasta["query_prot"]), "--db", str(sample_fasta["db_prot"]),
                              "--dry-run"])  # fmt: skip
    assert dry.exit_code == 0, dry.output
    first, second = dry.output.splitlines()[:2]
    assert re.fullmatch(r"Job [0-9a-f-]{36}", first)
    assert second.startswith(f"Dry run of job {first.removeprefix('Job ')}: every check passed")


def test_verbose_without_a_terminal_ctrl_c_leaves_the_job_running_and_blastflow_cancel_ends_it(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """`--verbose` shows Prefect's lines and no display; SIGINT with no terminal to ask on leaves the search
    running and says how to cancel it; `blastflow cancel` (no deployment: directly) then ends job and process.

    Output to a file, not a pipe: the search process left running keeps writing to it after the CLI exits.
    """
    out = tmp_path / "out.txt"
    with out.open("wb") as sink:
        run = subprocess.Popen([*BLASTFLOW, "run", "--verbose", "--query", str(PROTEINS), "--db", str(PROTEINS),
                                "--batch-len", "30000", "--options", "-threshold 6"],  # minutes of BLAST
                               env=cli_env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=sink,
                               stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + LIMIT_S
    while b"Task run 'poll" not in out.read_bytes():  # Prefect's own line: the BLAST run step has begun
        assert time.monotonic() < deadline and run.poll() is None, out.read_text(errors="replace")
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130, out.read_text(errors="replace")
    shown = out.read_text(errors="replace")
    job_id = JOB_LINE.match(out.read_bytes()).group(1).decode()  # type: ignore[union-attr]

    assert "Task run" in shown and "BLAST run:" not in shown, "Prefect's lines, not the display"
    assert f"Job {job_id} keeps running" in shown and f"blastflow cancel {job_id}" in shown
    store = open_store(cli_env["BLASTFLOW_STORE_URL"])
    try:
        assert store.get(job_id).phase is not Phase.CANCELLED  # type: ignore[union-attr]
        cancel = subprocess.run([*BLASTFLOW, "cancel", job_id], env=cli_env, cwd=REPO, capture_output=True,
                                text=True, timeout=LIMIT_S)  # fmt: skip
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        job = store.get(job_id)
    finally:
        store.close()
    assert job is not None and job.phase is Phase.CANCELLED
    deadline = time.monotonic() + 60
    while (job_processes(job_id) or search_processes(cli_env)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_processes(job_id) == [], "its supervisor and BLAST ended"
    assert search_processes(cli_env) == [], "the search process it left running ended by itself"
