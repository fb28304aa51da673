"""The local backend end to end, on the real BLAST+: prepare, the submit child, the detached supervisor,
retries, failure, cancel, a killed supervisor, counts, logs and results.

Data: proteins and transcripts of the bundled fire-ant sample. Waits poll the
backend with a generous safety limit; no test asserts on how long anything took.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from Bio import SeqIO

from blastflow.backends import get_backend
from blastflow.backends.local import batch_size
from blastflow.backends.local.backend import LocalBackend, available_cores
from blastflow.backends.local.run_files import (
    LocalConfig,
    PodPhase,
    PodState,
    RunFiles,
    SupervisorPhase,
    SupervisorState,
    read_state,
)
from blastflow.errors import BackendError, ConfigError, InputError
from blastflow.hits import HIT_FIELDS, Hit, parse_outfmt6
from blastflow.process import alive
from blastflow.results import merge_results
from blastflow.search import PreparedRun, RunState, SearchSpec
from blastflow.settings import Settings
from blastflow.steps.prepare import check_search

DATA = Path(__file__).resolve().parents[3] / "data" / "sinvicta"
PEPTIDE = "MNTLWLSLWDYPGKLPLNFMVFDTKDDLQAAYWRDPYSIPLAVIFEDPQPISQRLIYEIR"
WAIT_LIMIT_S = 60.0  # a safety net for a loaded machine, not an expectation

pytestmark = pytest.mark.skipif(shutil.which("blastp") is None, reason="BLAST+ is not installed")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """20 proteins to search, 200 proteins as a database, and a few transcripts for a slow tblastx."""
    base = tmp_path_factory.mktemp("sample")
    proteins = list(SeqIO.parse(DATA / "Sinvicta2-2-3.prot.subset.fasta", "fasta"))
    transcripts = list(SeqIO.parse(DATA / "Sinvicta2-2-3.cdna.subset.fasta", "fasta"))
    paths = {"query": base / "query.fa", "db": base / "proteins.fa", "slow_query": base / "transcripts.fa"}
    SeqIO.write(proteins[:20], paths["query"], "fasta")
    SeqIO.write(proteins[:200], paths["db"], "fasta")
    SeqIO.write(transcripts[:6], paths["slow_query"], "fasta")
    paths["slow_db"] = DATA / "Sinvicta2-2-3.cdna.subset.fasta"
    return paths


def _backend(tmp_path: Path, *, retries: int = 3, backoff_s: float = 1.0, parallel: int = 2) -> LocalBackend:
    settings = Settings(data_dir=tmp_path / "data", max_parallel_batches=parallel, batch_retries=retries)
    return LocalBackend(settings, retry_backoff_s=backoff_s)


def _blastp(sample: dict[str, Path], **kw: object) -> SearchSpec:
    return SearchSpec(
        **{"program": "blastp", "query": str(sample["query"]), "db": str(sample["db"]), "batch_len": 1500, **kw}
    )


def _slow(sample: dict[str, Path]) -> SearchSpec:
    """tblastx with a tiny word size and low threshold: each batch runs for minutes unless stopped."""
    return SearchSpec(
        program="tblastx",
        query=str(sample["slow_query"]),
        db=str(sample["slow_db"]),
        options="-word_size 2 -threshold 5",
        batch_len=2000,
    )


def _submit(backend: LocalBackend, run: PreparedRun) -> subprocess.CompletedProcess[str]:
    """Run the submit child the way the flow does: argv, extra env, pipes; it must exit on its own."""
    env = {**os.environ, **backend.submit_env(run)}
    return subprocess.run(backend.submit_command(run), env=env, capture_output=True, text=True, timeout=WAIT_LIMIT_S)


def _wait(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def _final(backend: LocalBackend, run: PreparedRun) -> SupervisorState:
    files = RunFiles(run.workdir)

    def done() -> SupervisorState | None:
        state = read_state(files.supervisor, SupervisorState)
        return state if state and state.phase is not SupervisorPhase.RUNNING else None

    return _wait(done, "the supervisor's final state")  # type: ignore[return-value]


def _pods(run: PreparedRun) -> list[PodState]:
    files = RunFiles(run.workdir)
    return [read_state(files.pod_state(b.name), PodState) for b in run.batches]  # type: ignore[misc]


def _running_blast_pids(run: PreparedRun) -> list[int]:
    return [p.pid for p in _pods(run) if p and p.phase is PodPhase.RUNNING and p.pid is not None]


def _hits_of_a_run_that_succeeds(backend: LocalBackend, run: PreparedRun, tmp_path: Path) -> list[Hit]:
    """Submit `run`, wait for it to end, check it succeeded, and merge its archives as finalize does."""
    try:
        assert _submit(backend, run).returncode == 0
        _wait(lambda: backend.status(run).state is not RunState.RUNNING, "the run to end")
    finally:
        _kill_leftovers(run)
    assert backend.status(run).state is RunState.SUCCESS
    return merge_results(backend.fetch_results(run, tmp_path / "archives"), tmp_path / "results").hits


def _kill_leftovers(run: PreparedRun) -> None:
    """Never leave a slow BLAST behind when a test fails half-way."""
    state = read_state(RunFiles(run.workdir).supervisor, SupervisorState)
    if state and alive(state.pid, state.pid_start):
        os.kill(state.pid, signal.SIGKILL)
    for pod in _pods(run):
        if pod and alive(pod.pid, pod.pid_start):
            os.kill(pod.pid, signal.SIGKILL)  # type: ignore[arg-type]


# -- prepare ------------------------------------------------------------------------------------------------


def test_registry_gives_the_local_backend(tmp_path: Path) -> None:
    backend = get_backend("local", Settings(data_dir=tmp_path))
    assert isinstance(backend, LocalBackend)
    assert backend.name == "local"


def test_prepare_writes_the_job_and_starts_nothing(sample: dict[str, Path], tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    workdir = tmp_path / "data" / "jobs" / "job-1"
    spec = _blastp(sample, evalue=1e-3, max_target_seqs=25, options="-seg yes")
    run = backend.prepare("job-1", check_search(spec), workdir)

    assert PreparedRun.load(workdir) == run
    assert (run.program, run.molecule, run.query_count, run.query_length) == ("blastp", "prot", 20, 4745)
    assert run.options == ["-seg", "yes", "-evalue", "0.001", "-max_target_seqs", "25"]
    assert run.database == str(workdir / "db" / "proteins") and run.database_label == "proteins"
    assert sorted(p.name for p in (workdir / "db").iterdir())[:3] == ["proteins.pdb", "proteins.phr", "proteins.pin"]
    assert 3 <= len(run.batches) <= 4
    assert [b.path for b in run.batches] == sorted((workdir / "query_batches").iterdir())
    assert sum(b.residues for b in run.batches) == 4745 and all(b.residues <= 1500 for b in run.batches)
    config = LocalConfig.model_validate_json(run.config_path.read_text())
    assert config.threads_per_pod == max(1, available_cores() // 2)
    assert (config.max_parallel, config.batch_retries, config.blast) == (2, 3, shutil.which("blastp"))
    assert not list(workdir.parent.glob(".job-1.prepare-*")), "the staging directory was renamed"

    counts = backend.pod_counts(run)
    assert (counts.pending, counts.total) == (len(run.batches), len(run.batches))
    status = backend.status(run)
    assert status.state is RunState.UNKNOWN and "has not been submitted" in status.message
    assert backend.pod_logs(run) == {}
    with pytest.raises(BackendError, match="no results archive for batch_000"):
        backend.fetch_results(run, tmp_path / "results")


@pytest.mark.parametrize("work", ["short", "long"])
def test_default_batching_by_work_gives_the_direct_hits(
    work: str, sample: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small search is one batch on every core; forced to count as long (no one-batch threshold) it is split
    into one batch per slot. Either way the hits are one raw BLAST+ run's, query-subject pair for pair."""
    if work == "long":
        monkeypatch.setattr(batch_size, "ONE_BATCH_S", 0.0)
    backend = _backend(tmp_path, parallel=2)
    run = backend.prepare("job-2", check_search(_blastp(sample, batch_len=None)), tmp_path / "job-2")
    cores = available_cores()
    if work == "short":
        assert len(run.batches) == 1 and run.batching == f"1 batch: <1 s of blastp work on all {cores} cores"
        assert LocalConfig.model_validate_json(run.config_path.read_text()).threads_per_pod == cores
    else:
        assert len(run.batches) == 2 and run.batching.startswith("2 batches: <1 s of blastp work")
    hits = _hits_of_a_run_that_succeeds(backend, run, tmp_path)
    direct = subprocess.run(
        ["blastp", "-query", str(sample["query"]), "-db", run.database, "-outfmt", "6 qseqid sseqid", *run.options],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert [(h.query, h.subject) for h in hits] == [tuple(line.split("\t")) for line in direct.splitlines()]
    assert len(hits) > 20


BAD_INPUTS = {
    "malformed FASTA": ({"query": "hello\nworld\n"}, "is not FASTA: line 1"),
    "empty query": ({"query": ""}, "the query is empty"),
    "duplicate ids": ({"query": f">a\n{PEPTIDE}\n>a\n{PEPTIDE}\n"}, "duplicate id 'a' at lines 1 and 3"),
    "protein query for blastn": ({"program": "blastn"}, "blastn expects a nucleotide query"),
    "nucleotide query for blastp": ({"query": ">n\nACGTACGTACGTACGTTTGA\n"}, "blastp expects a protein query"),
    "-out": ({"options": "-out /tmp/x"}, "option -out is not allowed"),
    "-db": ({"options": "-db other"}, "option -db is not allowed"),
    "-query": ({"options": "-query q.fa"}, "option -query is not allowed"),
    "-remote": ({"options": "-remote"}, "option -remote is not allowed"),
    "-num_threads": ({"options": "-num_threads 64"}, "option -num_threads is not allowed"),
    "-outfmt": ({"options": "-outfmt 6"}, "option -outfmt is not allowed"),
    "unknown option": ({"options": "-frobnicate 3"}, "option -frobnicate is not supported for blastp"),
    "shell metacharacters": ({"options": "-word_size 3; rm -rf ~"}, "-word_size takes an integer >= 2, not '3;'"),
    "missing database": ({"db": str(DATA / "no/such/db")}, "/sinvicta/no/such/db' not found"),
    "database outside the input roots": ({"db": "/no/such/db"}, "database '/no/such/db' is outside the directories"),
    "shell metacharacters in db": ({"db": "$(reboot)"}, "database '$(reboot)' not found"),
    "wrong database molecule": ({"db": str(DATA / "Sinvicta2-2-3.cdna.subset.fasta")}, "use tblastn"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_in_prepare_before_any_work(case: str, sample: dict[str, Path], tmp_path: Path) -> None:
    change, expected = BAD_INPUTS[case]
    spec = _blastp(sample).model_copy(update=change)
    workdir = tmp_path / "jobs" / "job-bad"
    with pytest.raises(InputError) as caught:
        _backend(tmp_path).prepare("job-bad", check_search(spec), workdir)
    assert expected in str(caught.value)
    assert not workdir.exists()
    assert not workdir.parent.exists() or not list(workdir.parent.iterdir()), "nothing written"


def test_failure_after_validation_leaves_no_job_dir(
    sample: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BLAST+ installed without makeblastdb: prepare fails while building, and cleans up."""
    partial = tmp_path / "partial-blast"
    partial.mkdir()
    for tool in ("blastp", "blastdbcmd"):
        (partial / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    monkeypatch.setenv("PATH", str(partial))
    workdir = tmp_path / "jobs" / "job-3"
    with pytest.raises(BackendError, match="makeblastdb was not found on PATH"):
        _backend(tmp_path).prepare("job-3", check_search(_blastp(sample)), workdir)
    assert list((tmp_path / "jobs").iterdir()) == []


def test_a_used_job_dir_is_refused(sample: dict[str, Path], tmp_path: Path) -> None:
    workdir = tmp_path / "job-4"
    workdir.mkdir()
    (workdir / "something").write_text("x")
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        _backend(tmp_path).prepare("job-4", check_search(_blastp(sample)), workdir)


# -- running ------------------------------------------------------------------------------------------------


def test_search_runs_to_success_with_correct_hits(sample: dict[str, Path], tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    run = backend.prepare("job-ok", check_search(_blastp(sample)), tmp_path / "job-ok")
    n = len(run.batches)
    try:
        child = _submit(backend, run)
        assert child.returncode == 0, child.stderr
        assert child.stderr == ""
        lines = child.stdout.splitlines()
        assert lines[0] == "Job job-ok: blastp of a protein query against proteins"
        assert lines[1:4] == ["Checking query batches", f"{n} batches, 4,745 residues total", "Starting supervisor…"]
        assert re.fullmatch(r"Supervisor running \(pid \d+\): at most 2 batches at once, .*", lines[4])
        assert lines[5:] == [f"Submitted {n} batches"]

        _wait(lambda: backend.status(run).state is not RunState.RUNNING, "the run to end")
        status = backend.status(run)
        assert status.state is RunState.SUCCESS, status.message
        assert status.message == f"all {n} batches succeeded"
        assert status.counts.as_counters() == {"pending": 0, "running": 0, "succeeded": n, "failed": 0}
    finally:
        _kill_leftovers(run)

    pods = _pods(run)
    assert all(p.phase is PodPhase.SUCCEEDED and p.attempts == 1 and p.exit_code == 0 for p in pods)
    assert _max_overlap(pods) <= 2, "never more than max_parallel_batches BLAST processes at once"
    logs = backend.pod_logs(run, tail_lines=10)
    assert sorted(logs) == [b.name for b in run.batches]
    threads = LocalConfig.model_validate_json(run.config_path.read_text()).threads_per_pod
    assert f"attempt 1 of 4 started: {shutil.which('blastp')} -query {run.batches[0].path}" in logs["batch_000"]
    assert f"-outfmt 11 -num_threads {threads} -evalue 1e-05 -max_target_seqs 10" in logs["batch_000"]
    assert logs["batch_000"].splitlines()[-1].endswith("attempt 1 exited with code 0")

    archives = backend.fetch_results(run, tmp_path / "results" / "archives")
    assert [a.name for a in archives] == [f"batch_{i:03d}.asn" for i in range(n)]
    merged = merge_results(archives, tmp_path / "results", program="blastp")
    direct = subprocess.run(
        ["blastp", "-query", str(sample["query"]), "-db", run.database, "-outfmt", f"6 {HIT_FIELDS}", *run.options],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert merged.hits == list(parse_outfmt6(direct.splitlines())), "batched hits equal one direct BLAST run"
    for record in SeqIO.parse(sample["query"], "fasta"):
        best = next(h for h in merged.hits if h.query == record.id)
        assert (best.subject, best.pct_identity) == (record.id, 100.0)

    again = _submit(backend, run)
    assert again.returncode == 1
    assert "this run was already submitted" in again.stderr


def test_query_text_with_shell_metacharacters_in_ids(sample: dict[str, Path], tmp_path: Path) -> None:
    """Ids are data: they reach BLAST in files and argument lists, never a shell, and come back unchanged."""
    first = next(SeqIO.parse(sample["query"], "fasta"))
    weird = "q;rm${IFS}-rf$(reboot)|`id`&&x>y"
    backend = _backend(tmp_path)
    spec = _blastp(sample, query=f">{weird} odd header\n{first.seq}\n", batch_len=None)
    run = backend.prepare("job-ids", check_search(spec), tmp_path / "job-ids")
    hits = _hits_of_a_run_that_succeeds(backend, run, tmp_path)
    assert (hits[0].query, hits[0].subject, hits[0].pct_identity) == (weird, first.id, 100.0)


def test_submit_without_a_config_fails_clearly(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    run = PreparedRun(
        job_id="x",
        backend="local",
        program="blastp",
        workdir=tmp_path,
        config_path=tmp_path / "nope.json",
        database="db",
        database_label="db",
        molecule="prot",
    )
    child = _submit(backend, run)
    assert child.returncode == 2
    assert child.stderr.strip() == f"error: no local run config at {tmp_path / 'nope.json'}: prepare the run first"


def test_failed_batch_is_retried_with_backoff(sample: dict[str, Path], tmp_path: Path) -> None:
    """The database is away when the batches start (a real BLAST error) and back before the retries."""
    backend = _backend(tmp_path, retries=3, backoff_s=1.0)
    run = backend.prepare("job-retry", check_search(_blastp(sample)), tmp_path / "job-retry")
    db_dir, away = run.workdir / "db", run.workdir / "db-away"
    db_dir.rename(away)
    files = RunFiles(run.workdir)
    try:
        assert _submit(backend, run).returncode == 0
        _wait(lambda: "attempt 1 exited with code" in files.pod_log("batch_000").read_text(), "a failed attempt")
        away.rename(db_dir)
        _wait(lambda: backend.status(run).state is not RunState.RUNNING, "the run to end")
        assert backend.status(run).state is RunState.SUCCESS
    finally:
        _kill_leftovers(run)
    first = _pods(run)[0]
    assert first.attempts >= 2 and first.phase is PodPhase.SUCCEEDED
    log = files.pod_log("batch_000").read_text()
    assert "BLAST Database error: No alias or index file found" in log
    assert "attempt 1 exited with code 2" in log and "retrying in 1 s (backoff limit 3)" in log
    assert f"attempt {first.attempts} exited with code 0" in log
    merged = merge_results(backend.fetch_results(run, tmp_path / "archives"), tmp_path / "results")
    assert {h.query for h in merged.hits if h.query == h.subject and h.pct_identity == 100.0} == {
        r.id for r in SeqIO.parse(sample["query"], "fasta")
    }


def test_batch_failing_past_the_backoff_limit_fails_the_run(sample: dict[str, Path], tmp_path: Path) -> None:
    backend = _backend(tmp_path, retries=1, backoff_s=0.2)
    run = backend.prepare("job-fail", check_search(_blastp(sample)), tmp_path / "job-fail")
    shutil.rmtree(run.workdir / "db")
    try:
        assert _submit(backend, run).returncode == 0
        final = _final(backend, run)
    finally:
        _kill_leftovers(run)
    status = backend.status(run)
    assert status.state is RunState.FAILURE
    assert re.fullmatch(
        r"batch_00\d failed after 2 attempt\(s\), exited with code 2: BLAST Database error: No alias or index file "
        r"found for protein database \[.*\] in search path \[.*\]",
        status.message,
    ), status.message
    assert final.phase is SupervisorPhase.FAILURE and final.message == status.message
    assert status.counts.failed == len(run.batches) and status.counts.pending == status.counts.running == 0
    reasons = {p.reason for p in _pods(run)}
    assert "error" in reasons and reasons <= {"error", "stopped"}
    with pytest.raises(BackendError, match="no results archive"):
        backend.fetch_results(run, tmp_path / "archives")


@pytest.mark.parametrize("how", ["cancel", "sigterm"])
def test_cancel_terminates_blast_and_fails_every_pod(how: str, sample: dict[str, Path], tmp_path: Path) -> None:
    """`Backend.cancel` (cancel file + SIGTERM), or a bare SIGTERM to the supervisor as a service manager sends."""
    backend = _backend(tmp_path)
    run = backend.prepare("job-cancel", check_search(_slow(sample)), tmp_path / "job-cancel")
    try:
        assert _submit(backend, run).returncode == 0
        supervisor = read_state(RunFiles(run.workdir).supervisor, SupervisorState)
        assert supervisor is not None and alive(supervisor.pid, supervisor.pid_start), (
            "the submit child exited while the supervisor it started runs on (detached)"
        )
        blast_pids = _wait(lambda: _running_blast_pids(run), "a running pod")
        assert backend.status(run).state is RunState.RUNNING
        if how == "cancel":
            backend.cancel(run)
        else:
            os.kill(supervisor.pid, signal.SIGTERM)
        final = _final(backend, run)
    finally:
        _kill_leftovers(run)
    assert final.cancelled and re.fullmatch(r"cancelled: \d+ of \d+ batches had succeeded", final.message)
    status = backend.status(run)
    assert status.state is RunState.FAILURE and status.message == final.message
    pods = _pods(run)
    assert all(p.phase is PodPhase.SUCCEEDED or (p.phase is PodPhase.FAILED and p.reason == "cancelled") for p in pods)
    assert any(p.reason == "cancelled" for p in pods)
    assert not any(alive(pid, None) for pid in blast_pids)  # type: ignore[union-attr]
    assert "cancelled: terminating BLAST" in RunFiles(run.workdir).pod_log("batch_000").read_text()
    backend.cancel(run)  # idempotent


def test_killed_supervisor_is_a_failure_not_a_spinner(sample: dict[str, Path], tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    run = backend.prepare("job-dead", check_search(_slow(sample)), tmp_path / "job-dead")
    files = RunFiles(run.workdir)
    try:
        assert _submit(backend, run).returncode == 0
        blast_pids = _wait(lambda: _running_blast_pids(run), "a running pod")
        supervisor = read_state(files.supervisor, SupervisorState)
        os.kill(supervisor.pid, signal.SIGKILL)  # type: ignore[union-attr]
        _wait(lambda: backend.status(run).state is not RunState.RUNNING, "the death to be noticed")
        # BLAST processes die with their supervisor (they are not left burning the machine).
        _wait(lambda: not any(alive(pid, None) for pid in blast_pids), "orphaned BLAST to stop")  # type: ignore[union-attr]
    finally:
        _kill_leftovers(run)
    status = backend.status(run)
    assert status.state is RunState.FAILURE
    assert status.counts.pending == status.counts.running == 0, "nothing is left that could still finish"
    assert backend.pod_counts(run) == status.counts
    assert status.message.startswith(f"the local supervisor (pid {supervisor.pid}) stopped without finishing: ")  # type: ignore[union-attr]
    assert re.search(r"\d+ of \d+ batches had succeeded", status.message)
    assert read_state(files.supervisor, SupervisorState).phase is SupervisorPhase.RUNNING  # type: ignore[union-attr]


def _max_overlap(pods: list[PodState]) -> int:
    """The most pods whose run intervals overlap at one moment."""
    events = sorted([(p.started_at, 1) for p in pods] + [(p.finished_at, -1) for p in pods])  # type: ignore[misc]
    running = peak = 0
    for _at, change in events:
        running += change
        peak = max(peak, running)
    return peak


def test_results_database_is_the_one_the_search_used_until_it_is_gone(tmp_path: Path) -> None:
    """The archives name the database by the path the search gave BLAST; finalize renders with its directory."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "p200.pin").touch()
    run = PreparedRun(job_id="job-1", backend="local", program="blastp", workdir=tmp_path / "job",
                      config_path=tmp_path / "job" / "run_config.json", database=str(tmp_path / "db" / "p200"),
                      database_label="p200", molecule="prot")  # fmt: skip
    backend = _backend(tmp_path)
    assert backend.results_database(run) == tmp_path / "db"
    (tmp_path / "db" / "p200.pin").unlink()
    with pytest.raises(BackendError, match=r"needs the database '.*/db/p200' the search used .* no longer there"):
        backend.results_database(run)
