"""A flow process killed with SIGKILL in each phase: reconcile fails the job, no step is left running, no spinner.

SIGKILL leaves no trace: no hook runs, the Prefect run stays Running. Only reconcile
can tell, from the row's pid/host (the process is gone). Each test kills the flow at a
moment it provably is in: the local backend for `running` (the flow polls 228
batches run one at a time), the elastic-blast backend over its doubles for
`submitting` (the fake CLI holds submit open until a handshake file appears, which
never does), `submitted` (the fake cluster keeps the pods Pending, so wait-for-pods
polls) and `finalizing` (the fake cluster returns empty pod logs, so finalize waits
in its pod-log retry delay, and says so in its log during the wait).
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from blastflow.backends import get_backend
from blastflow.model import STEP_LABELS, Phase, StepName, StepStatus
from blastflow.search import PreparedRun
from blastflow.settings import get_settings
from flows.reconcile import reconcile
from tests.doubles.faultkit import (
    command_line,
    descendants,
    kill_group,
    live_pids,
    log_texts,
    render_job_page,
    start_flow,
    wait_for,
)
from ui.view.timeline import StepDisplay, resolve_step_state, timeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

JOBS = {
    Phase.SUBMITTING: "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
    Phase.SUBMITTED: "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
    Phase.RUNNING: "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
    Phase.FINALIZING: "3d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f7a",
}
# The Azure fork's first stdout line (commands/submit.py:118, `<results>/<elb_job_id>/…` after it): the fake prints
# it, then waits for the handshake.
HELD_LINE = "[1/5] Writing configuration to "


def _kill_reconcile_and_check(store, job_id: str, proc, phase: Phase, store_url: str) -> None:
    """SIGKILL the flow, reconcile, and check the job as reconcile, the view model and the page see it."""
    children = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = store.get(job_id)
    assert before.phase is phase and not before.is_terminal  # nothing could record the death itself
    assert before.pid == proc.pid and before.host == socket.gethostname()

    marked = reconcile(quiet_threshold_s=900)

    assert job_id in marked
    job = store.get(job_id)
    assert job.phase is Phase.WORKER_LOST and job.is_terminal
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    # The error says what happened: which process on which host, and what the job was doing.
    assert job.error == (
        f"Worker lost: the flow process (pid {proc.pid} on {socket.gethostname()}) is gone while the job was "
        f"{phase.value}"
    )
    assert job.error_code == "worker_lost"
    failed = [name for name, s in job.steps.items() if s.status is StepStatus.FAILED]
    assert failed == [before.active_step], "the step that was running is the one failed"
    assert all(job.steps[n].source == "orphan_inferred" and job.steps[n].error == job.error for n in failed)

    # The page's view model: no step resolves to the spinner, the interrupted step shows the error.
    states = {name: resolve_step_state(job.phase, name, step) for name, step in job.steps.items()}
    assert StepDisplay.ACTIVE not in states.values()
    assert states[before.active_step] is StepDisplay.ERROR
    assert [v.name for v in timeline(job) if v.expanded] == [before.active_step]
    # And the page itself, rendered from the store.
    at = render_job_page(store_url, job_id)
    icons = {e.label.split(" · ")[0]: e.icon for e in at.expander}
    assert "spinner" not in icons.values(), icons
    assert at.error[0].value == f"Job lost its worker at {STEP_LABELS[before.active_step]}"
    assert any(job.error in code.value for code in at.code)

    # Whatever the dead flow had started in its own process group (a submit child) is stopped here.
    kill_group(proc.pid)
    wait_for(lambda: not live_pids(children), "the killed flow's children to end")


def _stop_local_supervisor(job_id: str) -> None:
    run_dir = get_settings().job_dir(job_id)
    if (run_dir / "run.json").exists():  # stop the detached supervisor the dead flow left behind
        get_backend("local").cancel(PreparedRun.load(run_dir))


def test_sigkill_during_poll(pipeline, sample_fasta, prefect_api, tmp_path: Path) -> None:
    """`running` on the local backend: 228 batches one at a time, and the flow polls them."""
    job_id = JOBS[Phase.RUNNING]
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "BLASTFLOW_MAX_PARALLEL_BATCHES": "1"}
    proc = start_flow(job_id, env, tmp_path / "flow.log", query=str(sample_fasta["many_prot"]),
                      db=str(sample_fasta["db_prot"]), program="blastp", batch_len=400)  # fmt: skip
    try:
        wait_for(lambda: (job := pipeline.get(job_id)) is not None and job.phase is Phase.RUNNING, "phase running",
                 proc=proc)  # fmt: skip
        wait_for(lambda: log_texts(pipeline, job_id, StepName.RUN), "the poll step's first line", proc=proc)
        _kill_reconcile_and_check(pipeline, job_id, proc, Phase.RUNNING, os.environ["BLASTFLOW_STORE_URL"])
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(proc.pid)
        _stop_local_supervisor(job_id)


def test_sigkill_while_waiting_for_pods(pipeline, elb_world, prefect_api, tmp_path: Path) -> None:
    """`submitted`: submit is done and the cluster keeps every pod Pending, so wait-for-pods keeps polling."""
    job_id = JOBS[Phase.SUBMITTED]
    elb_world.cluster.configure(pending_ticks=10**9)
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    proc = start_flow(job_id, env, tmp_path / "flow.log", **_elb_search())
    try:
        pending = "0 of 2 batches done (0%), 0 running, 2 pending"
        wait_for(lambda: pending in log_texts(pipeline, job_id, StepName.WAIT_FOR_PODS), "pods seen pending",
                 proc=proc)  # fmt: skip
        _kill_reconcile_and_check(pipeline, job_id, proc, Phase.SUBMITTED, os.environ["BLASTFLOW_STORE_URL"])
        assert pipeline.get(job_id).steps[StepName.SUBMIT].status is StepStatus.COMPLETED
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(proc.pid)


def test_sigkill_during_submit(pipeline, elb_world, prefect_api, tmp_path: Path) -> None:
    """The submit child has printed its first line and waits for a handshake that never comes."""
    job_id = JOBS[Phase.SUBMITTING]
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "FAKE_ELB_HANDSHAKE": str(tmp_path / "never"),
           "FAKE_ELB_HANDSHAKE_TIMEOUT": "600"}  # fmt: skip
    proc = start_flow(job_id, env, tmp_path / "flow.log", **_elb_search())
    try:
        wait_for(lambda: any(line.startswith(HELD_LINE) for line in log_texts(pipeline, job_id, StepName.SUBMIT)),
                 "the held submit line", proc=proc)  # fmt: skip
        submit_child = [pid for pid in descendants(proc.pid) if _is_elastic_blast_submit(pid)]
        assert submit_child, "the submit child runs while the flow is killed"
        _kill_reconcile_and_check(pipeline, job_id, proc, Phase.SUBMITTING, os.environ["BLASTFLOW_STORE_URL"])
        assert not live_pids(submit_child)
        assert elb_world.cluster.read()["searches"] == {}, "the held submit never reached the cluster"
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(proc.pid)


def test_sigkill_during_finalize(pipeline, elb_world, prefect_api, tmp_path: Path) -> None:
    """Every pod log read is empty, so finalize sits in its retry delay (300 s here) when the kill lands."""
    job_id = JOBS[Phase.FINALIZING]
    elb_world.cluster.configure(empty_log_reads=10**9)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "BLASTFLOW_POD_LOG_RETRY_DELAY_S": "300"}
    proc = start_flow(job_id, env, tmp_path / "flow.log", **_elb_search())
    try:
        waiting = "No pod log readable yet (attempt 1 of 3); retrying in 300 s"
        lines = wait_for(lambda: (found := log_texts(pipeline, job_id, StepName.FINALIZE)) and waiting in found
                         and found, "finalize's retry delay", proc=proc)  # fmt: skip
        # The line shows during the delay (not when the next attempt's line flushes it, 300 s later).
        assert not any("attempt 2 of 3" in line for line in lines)
        _kill_reconcile_and_check(pipeline, job_id, proc, Phase.FINALIZING, os.environ["BLASTFLOW_STORE_URL"])
        job = pipeline.get(job_id)
        assert [job.steps[n].status for n in (StepName.SUBMIT, StepName.WAIT_FOR_PODS, StepName.RUN)] == [
            StepStatus.COMPLETED
        ] * 3, "the steps that finished before the kill stay completed"
        assert job.pod_logs is None, "no 'captured' or 'unavailable' verdict was reached"
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(proc.pid)


def _elb_search() -> dict[str, object]:
    from tests.doubles.elb_doubles import PROT_DB, first_records

    return {"query": first_records("prot", 4), "db": PROT_DB, "program": "blastp", "batch_len": 400,
            "backend": "elastic-blast"}  # fmt: skip


def _is_elastic_blast_submit(pid: int) -> bool:
    return "fake_elastic_blast" in command_line(pid) or " submit --cfg " in command_line(pid)
