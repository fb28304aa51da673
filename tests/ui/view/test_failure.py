"""The failure banner (fix D): the job's own error first, never a benign last log line."""

from __future__ import annotations

from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import PHASE_MESSAGES, JobStatus, Phase, StepName, StepStatus
from tests.ui.view.jobs import ATTRIBUTE_ERROR, T0, make_job, orphan, submitting_with_benign_tail
from ui.view.failure import failure_banner


def test_banner_shows_the_job_error_not_the_benign_last_line_of_the_running_step() -> None:
    job = orphan(submitting_with_benign_tail())
    assert job.steps[StepName.SUBMIT].status is StepStatus.RUNNING
    assert "azcopy" in job.steps[StepName.SUBMIT].last_output
    banner = failure_banner(job)
    assert banner is not None
    assert banner.text == ATTRIBUTE_ERROR
    assert banner.heading == "Job failed at Submit job"


def test_banner_through_the_merge_shows_the_job_error_too() -> None:
    job = merge(submitting_with_benign_tail(), JobUpdate(phase=Phase.FAILED, error=ATTRIBUTE_ERROR), T0)
    banner = failure_banner(job)
    assert banner is not None and banner.text == ATTRIBUTE_ERROR


def test_banner_falls_back_to_the_step_that_failed_by_itself_then_to_its_output() -> None:
    base = submitting_with_benign_tail()
    own_error = merge(
        base,
        JobUpdate(steps={StepName.SUBMIT: StepUpdate(status=StepStatus.FAILED, error="exit 8: quota exceeded")}),
        T0,
    ).model_copy(update={"phase": Phase.SUBMIT_FAILED, "status": JobStatus.FAILED})
    assert failure_banner(own_error).text == "exit 8: quota exceeded"  # type: ignore[union-attr]
    only_output = orphan(base, error=None)
    assert failure_banner(only_output).text == "[parallel-prep] running 4 azcopy checks concurrently"  # type: ignore[union-attr]
    nothing = orphan(make_job(JobUpdate(phase=Phase.QUEUED)), phase=Phase.WORKER_LOST, error=None)
    assert failure_banner(nothing).text == PHASE_MESSAGES[Phase.WORKER_LOST]  # type: ignore[union-attr]


def test_banner_prefers_the_error_code_over_step_output() -> None:
    job = orphan(submitting_with_benign_tail(), error=None).model_copy(update={"error_code": "OOMKilled"})
    assert failure_banner(job).text == "OOMKilled"  # type: ignore[union-attr]


def test_no_banner_unless_the_job_is_in_a_failure_phase() -> None:
    assert failure_banner(submitting_with_benign_tail()) is None
    done = merge(submitting_with_benign_tail(), JobUpdate(phase=Phase.COMPLETED), T0)
    assert failure_banner(done) is None
