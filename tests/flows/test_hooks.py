"""The search flow's state hooks: a failed, crashed or cancelled run ends its job, through the merge.

The hooks are called the way Prefect calls them: the flow, its flow run and the run's final state. Only what
must hold whatever else a hook does is asserted (the phase, the run's message in the error, sticky endings).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelled, Crashed, Failed, State

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus, new_job_id
from blastflow.store.base import StateStore
from flows import hooks
from flows.blast_search import blast_search

Hook = Callable[[Any, Any, State], None]

CASES = [
    (hooks.on_failure, Failed(message="Finalize raised OSError: disk full"), Phase.FAILED),
    (hooks.on_crashed, Crashed(message="Execution was cancelled by the runtime environment."), Phase.WORKER_LOST),
    (hooks.on_cancellation, Cancelled(message="Flow run was cancelled by a user."), Phase.CANCELLED),
]


def _flow_run(job_id: str) -> FlowRun:
    return FlowRun(id=uuid.uuid4(), name="brave-ant", flow_id=uuid.uuid4(), parameters={"job_id": job_id})


def _submitting(store: StateStore) -> str:
    """A live job whose submit step runs, as the flow leaves it mid-search."""
    job_id = new_job_id()
    store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.PREPARING, title="hooked", program="blastp"))
    store.update(job_id, JobUpdate(phase=Phase.SUBMITTING, steps={StepName.SUBMIT: StepUpdate(lines=["Submitting"])}))
    assert store.get(job_id).steps[StepName.SUBMIT].status is StepStatus.RUNNING  # type: ignore[union-attr]
    return job_id


def test_the_search_flow_runs_every_hook() -> None:
    assert hooks.on_failure in blast_search.on_failure_hooks
    assert hooks.on_crashed in blast_search.on_crashed_hooks
    assert hooks.on_cancellation in blast_search.on_cancellation_hooks


@pytest.mark.parametrize(("hook", "state", "phase"), CASES, ids=["failure", "crashed", "cancellation"])
def test_a_hook_ends_a_live_job_in_its_phase_with_the_runs_message(
    pipeline: StateStore, hook: Hook, state: State, phase: Phase
) -> None:
    job_id = _submitting(pipeline)
    hook(blast_search, _flow_run(job_id), state)
    job = pipeline.get(job_id)
    assert job is not None and job.phase is phase and job.is_terminal
    assert job.error is not None and str(state.message) in job.error
    assert [name for name, step in job.steps.items() if step.status is StepStatus.RUNNING] == []  # no spinner left


@pytest.mark.parametrize(("hook", "state"), [case[:2] for case in CASES], ids=["failure", "crashed", "cancellation"])
def test_a_hook_never_rewrites_how_a_job_ended(pipeline: StateStore, hook: Hook, state: State) -> None:
    done, failed = _submitting(pipeline), _submitting(pipeline)
    pipeline.update(done, JobUpdate(phase=Phase.COMPLETED))
    precise = "prepare: the query file has no FASTA records"
    pipeline.update(failed, JobUpdate(phase=Phase.SUBMIT_FAILED, error=precise, error_code="invalid_input"))
    for job_id in (done, failed):
        hook(blast_search, _flow_run(job_id), state)
    after_done, after_failed = pipeline.get(done), pipeline.get(failed)
    assert after_done is not None and after_done.phase is Phase.COMPLETED and after_done.error is None
    assert after_failed is not None and after_failed.phase is Phase.SUBMIT_FAILED and after_failed.error == precise


def test_a_refused_resume_leaves_its_running_job_and_its_work_alone(
    pipeline: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`blastflow resume` of a job still running is refused: the run fails, the job and its batches carry on."""
    stopped: list[str] = []
    monkeypatch.setattr(hooks, "stop_work", lambda job_id, *args, **kwargs: stopped.append(job_id) or "stopped")
    job_id = _submitting(pipeline)
    run = FlowRun(id=uuid.uuid4(), name="calm-bee", flow_id=uuid.uuid4(), parameters={"resume_job_id": job_id})
    refused = Failed(message=f"ResumeRefused: job {job_id} is still running in flow run 5a9e2c1d: let it finish")

    hooks.on_failure(blast_search, run, refused)

    job = pipeline.get(job_id)
    assert job is not None and job.phase is Phase.SUBMITTING and job.error is None
    assert stopped == []
    assert pipeline.get(str(run.id)) is None, "no failed job row under the resume's own flow run id"
    hooks.on_failure(blast_search, run, Failed(message="BackendError: blastp exited with code 3"))
    assert pipeline.get(job_id).phase is Phase.FAILED and stopped == [job_id], "a resume that failed is the job's"
