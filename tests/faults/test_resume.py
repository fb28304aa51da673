"""A search killed with SIGKILL mid-run, then resumed: the same hits as an uninterrupted run, finished batches reused.

Real BLAST+ on the local backend, 12 one-protein batches run one at a time. Two
deaths: the flow process and its supervisor both SIGKILLed (the machine went
down: the resume checks the finished archives, keeps them untouched and runs
only the rest), and a run whose flow is gone while its supervisor works on (the
resume adopts that supervisor instead of starting a second one). Both are
compared with one uninterrupted run of the same search.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from blastflow.backends.local.backend import LocalBackend
from blastflow.backends.local.run_files import PodPhase, PodState, RunFiles, SupervisorState, read_state
from blastflow.hits import HITS_FILE
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.resume import ResumeRefused
from blastflow.search import PreparedRun, SearchSpec
from blastflow.settings import get_settings
from blastflow.steps.prepare import check_search
from flows.blast_search import blast_search
from tests.doubles.faultkit import kill_group, live_pids, start_flow, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REFERENCE = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
KILLED = "6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c"
ADOPTED = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
BATCHES = 12  # the 12 sample query proteins, one a batch (batch_len 1: a batch never splits a sequence)


def _search(sample_fasta: dict[str, Path]) -> dict[str, object]:
    return {"query": str(sample_fasta["query_prot"]), "db": str(sample_fasta["db_prot"]), "program": "blastp",
            "batch_len": 1}  # fmt: skip


@pytest.fixture(scope="module")
def reference_hits(prefect_api: str, sample_fasta: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """hits.tsv of the same search run once without interruption, in this process (own data directory and store)."""
    from tasks.context import store

    home = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (("DATA_DIR", str(home / "data")), ("STORE_URL", f"sqlite:///{home / 'state.db'}"),
                            ("MAX_PARALLEL_BATCHES", "1"), ("POLL_INTERVAL_S", "0.5")):  # fmt: skip
            patch.setenv(f"BLASTFLOW_{name}", value)
        get_settings.cache_clear()
        store.cache_clear()
        try:
            blast_search(job_id=REFERENCE, **_search(sample_fasta))
        finally:
            store().close()
            store.cache_clear()
    get_settings.cache_clear()
    return (home / "data" / "jobs" / REFERENCE / "results" / HITS_FILE).read_text()


def _pods(job_id: str) -> list[PodState]:
    files = RunFiles(get_settings().job_dir(job_id))
    return [pod for b in range(BATCHES) if (pod := read_state(files.pod_state(f"batch_{b:03d}"), PodState))]


def _supervisor(job_id: str) -> SupervisorState | None:
    return read_state(RunFiles(get_settings().job_dir(job_id)).supervisor, SupervisorState)


def _kill_after_first_batch(job_id: str, env: dict[str, str], log: Path, search: dict) -> SupervisorState:
    """Start the search in its own process; once a batch has succeeded, SIGKILL its supervisor, then the flow."""
    proc = start_flow(job_id, env, log, **search)
    try:
        wait_for(lambda: any(p.phase is PodPhase.SUCCEEDED for p in _pods(job_id)), "a finished batch", proc=proc)
        supervisor = _supervisor(job_id)
        os.kill(supervisor.pid, signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(proc.pid)
    return supervisor


def _stop_for_good(job_id: str) -> None:
    """Whatever the run still has going (a failed test), stopped."""
    run_dir = get_settings().job_dir(job_id)
    if (run_dir / "run.json").exists():
        LocalBackend().cancel(PreparedRun.load(run_dir))


def test_sigkill_of_flow_and_supervisor_then_resume_reruns_only_the_missing_batches(
    pipeline, sample_fasta, prefect_api, reference_hits: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "BLASTFLOW_MAX_PARALLEL_BATCHES": "1"}
    try:
        supervisor = _kill_after_first_batch(KILLED, env, tmp_path / "flow.log", _search(sample_fasta))
        blast = [p.pid for p in _pods(KILLED) if p.phase is PodPhase.RUNNING and p.pid]
        wait_for(lambda: not live_pids(blast), "the dead supervisor's BLAST to end (it dies with its parent)")
        killed = pipeline.get(KILLED)
        run = PreparedRun.load(get_settings().job_dir(KILLED))
        kept = {name: path.stat().st_mtime_ns for name, path in LocalBackend().batch_archives(run).items()}
        assert 1 <= len(kept) < BATCHES

        result = blast_search(resume_job_id=KILLED)

        job = pipeline.get(KILLED)
        assert job.phase is Phase.COMPLETED and job.resume_count == 1
        [resumed] = job.resumes
        assert (resumed.from_phase, resumed.adopted) == (killed.phase, False) and not killed.is_terminal
        assert (resumed.reused_count, resumed.rerun_count) == (len(kept), BATCHES - len(kept))
        assert job.flow_run_id == resumed.flow_run_id != killed.flow_run_id, "a new flow run, the same job"
        files = RunFiles(run.workdir)
        assert {name: files.pod_out(name).stat().st_mtime_ns for name in kept} == kept, "reused, not run again"
        assert (run.workdir / "supervisor.1.json").is_file() and _supervisor(KILLED).pid != supervisor.pid
        assert (run.workdir / "results" / HITS_FILE).read_text() == reference_hits
        assert result["hits"] == len(reference_hits.splitlines()) > 0  # no header row: BLAST tabular
    finally:
        _stop_for_good(KILLED)


def test_resume_adopts_the_supervisor_of_a_lost_run_still_working(pipeline, sample_fasta, reference_hits: str) -> None:
    """The row says worker_lost (the flow is gone) while the supervisor runs on: adopted, nothing started twice.

    Prepared and submitted through the backend itself (no flow process to start: this case is about the
    supervisor); the supervisor is held still (SIGSTOP) until the resume has recorded itself, so it provably
    runs when the resume looks.
    """
    settings = get_settings().model_copy(update={"max_parallel_batches": 1})
    backend = LocalBackend(settings)
    run = backend.prepare(ADOPTED, check_search(SearchSpec(**_search(sample_fasta))), settings.job_dir(ADOPTED))
    for update in (JobUpdate(job_id=ADOPTED, phase=Phase.PREPARING),
                   JobUpdate(steps={StepName.PREPARE: StepUpdate(status=StepStatus.COMPLETED)}),
                   JobUpdate(phase=Phase.WORKER_LOST, error="Worker lost: the flow process is gone")):  # fmt: skip
        pipeline.update(ADOPTED, update)
    subprocess.run(backend.submit_command(run), env={**os.environ, **backend.submit_env(run)}, cwd=run.workdir,
                   check=True, capture_output=True)  # fmt: skip
    supervisor = None
    try:
        wait_for(lambda: any(p.phase is PodPhase.SUCCEEDED for p in _pods(ADOPTED)), "a finished batch")
        supervisor = _supervisor(ADOPTED)
        os.kill(supervisor.pid, signal.SIGSTOP)
        threading.Thread(target=_continue_once_resumed, args=(pipeline, supervisor.pid), daemon=True).start()

        blast_search(resume_job_id=ADOPTED)

        job = pipeline.get(ADOPTED)
        [resumed] = job.resumes
        assert job.phase is Phase.COMPLETED and resumed.adopted and resumed.rerun_count == 0
        assert resumed.from_phase is Phase.WORKER_LOST
        assert _supervisor(ADOPTED).pid == supervisor.pid and not (run.workdir / "supervisor.1.json").exists()
        assert (run.workdir / "results" / HITS_FILE).read_text() == reference_hits
    finally:
        if supervisor is not None and live_pids([supervisor.pid]):
            os.kill(supervisor.pid, signal.SIGCONT)  # a failed test leaves no stopped process behind
        _stop_for_good(ADOPTED)


def _continue_once_resumed(store, pid: int) -> None:
    wait_for(lambda: (job := store.get(ADOPTED)) is not None and job.resume_count == 1, "the resume's record")
    os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("phase", [Phase.COMPLETED, Phase.RUNNING])
def test_a_refused_resume_leaves_the_job_as_it_was(pipeline, phase: Phase) -> None:
    """Completed, or still running in a live process (this one): refused, and neither failed nor touched."""
    job_id = "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e"
    pipeline.update(job_id, JobUpdate(job_id=job_id, phase=phase, pid=os.getpid(), host=socket.gethostname()))
    before = pipeline.get(job_id)
    get_settings().job_dir(job_id).mkdir(parents=True)
    (get_settings().job_dir(job_id) / "run.json").write_text("{}")  # prepared, as far as the check looks

    with pytest.raises(ResumeRefused, match="completed already" if phase is Phase.COMPLETED else "wait for it"):
        blast_search(resume_job_id=job_id)

    assert pipeline.get(job_id) == before
