"""The job model's constants agree with each other and with DESIGN.md; records survive JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from blastflow.model import (
    FAILURE_PHASES,
    PHASE_MESSAGES,
    PHASE_TO_STEP,
    STEP_LABELS,
    STEP_ORDER,
    TERMINAL_PHASES,
    JobRecord,
    JobStatus,
    Phase,
    StepName,
    StepState,
    StepStatus,
    is_job_id,
    new_job_id,
    status_for_phase,
)

T0 = datetime(2026, 5, 22, 17, 28, 4, 123456, tzinfo=UTC)


def test_every_phase_has_a_user_facing_message() -> None:
    assert set(PHASE_MESSAGES) == set(Phase)
    for phase, message in PHASE_MESSAGES.items():
        assert message.strip() == message and len(message) > 10, phase


def test_phase_to_step_covers_every_phase_and_only_live_phases_have_a_step() -> None:
    assert set(PHASE_TO_STEP) == set(Phase)
    for phase in TERMINAL_PHASES | {Phase.QUEUED}:
        assert PHASE_TO_STEP[phase] is None, phase
    live_with_step = [p for p in Phase if PHASE_TO_STEP[p] is not None]
    assert [PHASE_TO_STEP[p] for p in live_with_step] == list(STEP_ORDER)  # one live phase per step, in order


def test_submitted_is_the_transit_phase_waiting_for_pods() -> None:
    # fix I of the hardening notes: the gap between submit and the first running pod is not "nothing"
    assert PHASE_TO_STEP[Phase.SUBMITTED] is StepName.WAIT_FOR_PODS
    assert "waiting for pods" in PHASE_MESSAGES[Phase.SUBMITTED].lower()


def test_terminal_phases_are_the_failure_phases_and_completed() -> None:
    assert {Phase.FAILED, Phase.SUBMIT_FAILED, Phase.WORKER_LOST, Phase.CANCELLED, Phase.TIMED_OUT} == FAILURE_PHASES
    assert FAILURE_PHASES | {Phase.COMPLETED} == TERMINAL_PHASES
    assert Phase.COMPLETED not in FAILURE_PHASES


@pytest.mark.parametrize(
    ("phase", "status"),
    [
        (Phase.QUEUED, JobStatus.QUEUED),
        (Phase.PREPARING, JobStatus.RUNNING),
        (Phase.SUBMITTED, JobStatus.RUNNING),
        (Phase.FINALIZING, JobStatus.RUNNING),
        (Phase.COMPLETED, JobStatus.COMPLETED),
        (Phase.FAILED, JobStatus.FAILED),
        (Phase.SUBMIT_FAILED, JobStatus.FAILED),
        (Phase.WORKER_LOST, JobStatus.FAILED),
        (Phase.TIMED_OUT, JobStatus.FAILED),
        (Phase.CANCELLED, JobStatus.CANCELLED),
    ],
)
def test_status_for_phase(phase: Phase, status: JobStatus) -> None:
    assert status_for_phase(phase) is status


def test_steps_in_order_with_the_labels_of_the_design() -> None:
    assert [(step.value, STEP_LABELS[step]) for step in STEP_ORDER] == [
        ("prepare", "Prepare run"),
        ("submit", "Submit job"),
        ("wait_for_pods", "Wait for pods"),
        ("run", "BLAST run"),
        ("finalize", "Finalize & export"),
    ]
    assert set(STEP_LABELS) == set(StepName)


def test_new_job_ids_are_distinct_canonical_uuid4() -> None:
    ids = {new_job_id() for _ in range(200)}
    assert len(ids) == 200
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert parsed.version == 4 and str(parsed) == job_id
        assert is_job_id(job_id)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not-a-uuid",
        str(uuid.uuid1()),  # a UUID, but not version 4
        str(uuid.uuid4()).upper(),  # not canonical
        "{" + str(uuid.uuid4()) + "}",
        str(uuid.uuid4()).replace("-", ""),
        str(uuid.uuid4()) + "\n",
        None,
        42,
    ],
)
def test_is_job_id_rejects_anything_but_a_canonical_uuid4(value: object) -> None:
    assert is_job_id(value) is False  # type: ignore[arg-type]


def _full_record() -> JobRecord:
    steps = {
        StepName.PREPARE: StepState(
            status=StepStatus.COMPLETED,
            started_at=T0,
            completed_at=T0 + timedelta(seconds=2),
            duration_ms=2000,
            last_output="473 queries\n1 batches",
            log_line_count=5,
            source="task",
            message="473 queries in 1 batch",
            counters={"queries": 473, "batches": 1},
        ),
        StepName.SUBMIT: StepState(
            status=StepStatus.FAILED,
            started_at=T0 + timedelta(seconds=2),
            completed_at=T0 + timedelta(seconds=9),
            duration_ms=7000,
            error="elastic-blast submit exited with code 8: ERROR: quota exceeded",
            source="orphan_inferred",
        ),
    }
    return JobRecord(
        job_id=new_job_id(),
        version=7,
        title="Fire ant transcripts vs proteins",
        program="blastx",
        database="sinvicta-prot",
        query_count=473,
        query_length=319_684,
        backend="local",
        flow_run_id=str(uuid.uuid4()),
        host="worker-1",
        pid=4242,
        code_version="0.1.0+abc123",
        phase=Phase.SUBMIT_FAILED,
        status=JobStatus.FAILED,
        error="elastic-blast submit exited with code 8: ERROR: quota exceeded",
        error_code="submit_failed",
        created_at=T0,
        updated_at=T0 + timedelta(seconds=9),
        results_location="/data/jobs/x/results",
        pod_logs="unavailable",
        steps=steps,
    )


def test_job_record_survives_a_json_round_trip() -> None:
    record = _full_record()
    text = record.model_dump_json()
    back = JobRecord.model_validate_json(text)
    assert back == record
    assert back.created_at.tzinfo is not None and back.created_at == T0
    assert back.steps[StepName.SUBMIT].status is StepStatus.FAILED
    assert back.model_dump_json() == text


def test_job_record_always_has_every_step_in_order() -> None:
    t = T0
    bare = JobRecord(job_id=new_job_id(), created_at=t, updated_at=t)
    assert list(bare.steps) == list(STEP_ORDER)
    assert all(step.status is StepStatus.PENDING for step in bare.steps.values())
    # a stored row that lists only some steps, out of order, comes back complete and ordered
    partial = JobRecord.model_validate(
        {
            "job_id": bare.job_id,
            "created_at": t.isoformat(),
            "updated_at": t.isoformat(),
            "steps": {"run": {"status": "running"}, "prepare": {"status": "completed"}},
        }
    )
    assert list(partial.steps) == list(STEP_ORDER)
    assert partial.steps[StepName.RUN].status is StepStatus.RUNNING
    assert partial.steps[StepName.SUBMIT].status is StepStatus.PENDING


def test_job_record_ignores_unknown_fields_from_a_newer_schema() -> None:
    data = _full_record().model_dump(mode="json")
    data["a_field_from_schema_2"] = "x"
    data["steps"]["run"]["future_counter"] = 3
    assert JobRecord.model_validate(data).job_id == data["job_id"]


def test_job_record_rejects_an_unknown_phase_or_step() -> None:
    base = {"job_id": new_job_id(), "created_at": T0.isoformat(), "updated_at": T0.isoformat()}
    with pytest.raises(ValueError, match="phase"):
        JobRecord.model_validate({**base, "phase": "exploded"})
    with pytest.raises(ValueError, match="steps"):
        JobRecord.model_validate({**base, "steps": {"teleport": {}}})


def test_terminal_and_active_step_properties() -> None:
    for phase in Phase:
        record = JobRecord(job_id=new_job_id(), created_at=T0, updated_at=T0, phase=phase)
        assert record.is_terminal is (phase in TERMINAL_PHASES)
        assert record.active_step is PHASE_TO_STEP[phase]
