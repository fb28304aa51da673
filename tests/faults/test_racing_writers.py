"""Two writers racing on one job: the flow (streaming submit output) and reconcile (failing the job).

Reconcile judges the job lost while its flow is in fact alive and streaming (a
false alarm: the row looked quiet past a tiny threshold), and writes `worker_lost`
in the middle of the flow's stream of log lines and row updates. The flow keeps
writing, then fails for its own reason (one batch's BLAST fails). Through the
conditional writes and the merge nothing is lost: the job stays terminal with
reconcile's error (the first), no step runs, and every line the flow printed is
stored once and counted on the row, including those written after the verdict.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client

from blastflow.model import STEP_ORDER, Phase, StepName, StepStatus
from flows.reconcile import reconcile
from tests.doubles.elb_doubles import PROT_DB, first_records
from tests.doubles.faultkit import elb_wrapper, kill_group, log_texts, start_flow, wait_for
from ui.view.timeline import StepDisplay, resolve_step_state

pytestmark = [pytest.mark.slow, pytest.mark.azurite, pytest.mark.timeout(300)]

JOB_ID = "5f6a7b8c-9d0e-4f1a-8b2c-4d5e6f7a8b9c"
LINES = 400


def test_reconcile_verdict_lands_mid_stream_and_nothing_is_lost(
    azure_pipeline, elb_world, azurite_private, prefect_api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = azure_pipeline
    elb_world.scenario("blast_failure")  # after submit, the first batch's BLAST fails: the flow fails too
    say = tmp_path / "say.json"
    release = tmp_path / "release"
    lines = [["stdout" if i % 3 else "stderr", f"progress line {i:04d}", 0.01] for i in range(LINES)]
    # A safety net, not the race: should the machine be slow, the child holds before its last lines until the
    # verdict is written, so the verdict always lands before the stream has ended.
    lines.insert(LINES - 50, ["wait", str(release), 120])
    say.write_text(json.dumps(lines))
    record = tmp_path / "printed.jsonl"
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "BLASTFLOW_ELB_EXECUTABLE": str(elb_wrapper(tmp_path / "bin")),
        "FAULTS_ELB_SAY": str(say),
        "FAULTS_ELB_RECORD": str(record),
        # Every tick writes: the log table and the row's tail and count, as often as the flow can.
        "BLASTFLOW_LOG_FLUSH_INTERVAL_S": "0.05",
        "BLASTFLOW_STATE_DEBOUNCE_S": "0",
    }
    proc = start_flow(job_id=JOB_ID, env=env, log_path=tmp_path / "flow.log", query=first_records("prot", 4),
                      db=PROT_DB, program="blastp", batch_len=400, backend="elastic-blast")  # fmt: skip
    try:
        wait_for(lambda: len(log_texts(store, JOB_ID, StepName.SUBMIT)) > 20, "the flow to stream", proc=proc)

        # Reconcile never fails a run it can show alive: here it cannot tell (as when the run is on another host
        # and Prefect does not answer), and any row is "quiet" now, so it fails the live job mid-stream.
        monkeypatch.setattr("flows.reconcile.flow_run_state", lambda job: None)
        monkeypatch.setattr("blastflow.reconcile.pid_alive", lambda job: None)
        marked = reconcile(quiet_threshold_s=1e-6)

        assert marked == [JOB_ID]
        at_verdict = store.get(JOB_ID)
        release.touch()
        assert proc.wait(timeout=240) == 1, "the flow went on, then failed for its own reason"
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(proc.pid)

    job = store.get(JOB_ID)
    verdict = at_verdict.error
    assert at_verdict.phase is Phase.WORKER_LOST
    assert re.fullmatch(r"Worker lost: no state update for \d+ s \(threshold 0 s\) while submitting", verdict)
    counted_at_verdict = at_verdict.steps[StepName.SUBMIT].log_line_count
    assert counted_at_verdict < LINES, "the verdict landed while the flow was still streaming"
    # The first error is kept, the phase stays terminal, nothing runs, nothing spins.
    assert job.phase is Phase.WORKER_LOST and job.error == verdict and job.error_code == "worker_lost"
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    assert StepDisplay.ACTIVE not in {resolve_step_state(job.phase, n, s) for n, s in job.steps.items()}
    assert job.version > at_verdict.version, "the flow kept writing after the verdict"
    with get_client(sync_client=True) as client:  # the flow's own, later error: not the job's
        run = client.read_flow_run(UUID(job.flow_run_id))
    assert run.state.type.value == "FAILED" and "BackendError" in run.state.message and "failed" in run.state.message
    # Every line the flow printed is stored once, in order, and counted on the row.
    printed = [json.loads(line) for line in record.read_text().splitlines()]
    stored = log_texts(store, JOB_ID, StepName.SUBMIT)
    for stream in ("stdout", "stderr"):  # two pipes: each keeps its order (not their interleaving)
        mine = [text for s, text in printed if s == stream and text.startswith("progress line")]
        assert [text for text in stored if text in set(mine)] == mine
    assert sorted(text for text in stored if text.startswith("progress")) == [
        f"progress line {i:04d}" for i in range(LINES)
    ]
    # Reconcile, then the flow's failure hook, stopped the search's backend work and said so in the job's log.
    stopped = [text for text in stored if text.startswith("Backend work: ")]
    assert len(stopped) == 2
    assert len(stored) == len(printed) + 1 + len(stopped)  # and the "$ elastic-blast submit" line
    for name in STEP_ORDER:
        assert job.steps[name].log_line_count == len(log_texts(store, JOB_ID, name)), name
    assert job.steps[StepName.SUBMIT].log_line_count > counted_at_verdict
