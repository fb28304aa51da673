"""The failure banner as the page renders it (fix D): the job's own error first, a step's error after it."""

from __future__ import annotations

from datetime import timedelta

from streamlit.testing.v1 import AppTest

from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import JobRecord, Phase, StepName, StepStatus
from tests.ui.view.jobs import ATTRIBUTE_ERROR, T0, submitting_with_benign_tail
from ui.view.failure import failure_banner

STEP_ERROR = "exit 8: ERROR: quota exceeded"


def _submit_failed(error: str | None, error_code: str | None) -> JobRecord:
    """Failed at submit with an error of the submit step's own, and maybe a job error and code beside it."""
    update = JobUpdate(
        phase=Phase.SUBMIT_FAILED,
        error=error,
        error_code=error_code,
        steps={StepName.SUBMIT: StepUpdate(status=StepStatus.FAILED, error=STEP_ERROR, source="task")},
    )
    job = merge(submitting_with_benign_tail(), update, T0 + timedelta(seconds=30))
    assert job.steps[StepName.SUBMIT].error == STEP_ERROR and job.steps[StepName.SUBMIT].source == "task"
    return job


def _banner_page(job: "JobRecord") -> None:  # noqa: UP037 - AppTest runs this source alone, without the imports
    from ui.header import render_banner

    render_banner(job)


def test_banner_shows_the_job_error_ahead_of_the_steps_own_error() -> None:
    at = AppTest.from_function(_banner_page, args=(_submit_failed(ATTRIBUTE_ERROR, "AttributeError"),))
    at.run()
    assert not at.exception
    assert at.error[0].value == "Job failed at Submit job"
    assert [c.value for c in at.code] == [ATTRIBUTE_ERROR]  # not the step's error, not its last line
    assert [c.value for c in at.caption] == ["Error code: AttributeError"]


def test_banner_shows_the_error_code_ahead_of_the_steps_own_error() -> None:
    banner = failure_banner(_submit_failed(None, "OOMKilled"))
    assert banner is not None and banner.text == "OOMKilled"
    only_the_step = failure_banner(_submit_failed(None, None))
    assert only_the_step is not None and only_the_step.text == STEP_ERROR
