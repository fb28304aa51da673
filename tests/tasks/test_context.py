"""Retry rules of the Prefect tasks: transient cluster errors retry, real failures and started submits don't."""

from __future__ import annotations

import contextlib

from prefect.states import Failed

from blastflow.errors import BackendError, SubmitError, TransientBackendError
from tasks.context import TRANSIENT_RETRIES, retry_if_not_started, retry_if_transient
from tasks.poll import poll
from tasks.submit import submit
from tasks.wait_for_pods import wait_for_pods


def _failed(exc: BaseException) -> Failed:
    return Failed(data=exc)


def test_transient_errors_retry_and_real_failures_do_not() -> None:
    assert retry_if_transient(None, None, _failed(TransientBackendError("HTTP 503 from the API server")))
    assert not retry_if_transient(None, None, _failed(BackendError("cluster credentials rejected (HTTP 401)")))
    assert not retry_if_transient(None, None, _failed(ValueError("bug")))


def test_a_submit_is_retried_only_when_its_child_never_started() -> None:
    assert retry_if_not_started(None, None, _failed(SubmitError("not on PATH", child_started=False)))
    assert not retry_if_not_started(None, None, _failed(SubmitError("exit 7", child_started=True)))


def test_the_tasks_carry_those_rules() -> None:
    for polling in (poll, wait_for_pods):
        assert polling.retries == TRANSIENT_RETRIES["retries"] == 4
        assert polling.retry_condition_fn is retry_if_transient
    assert submit.retry_condition_fn is retry_if_not_started


SECRET_KEY = "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="


def test_a_task_raises_its_exception_sanitised_keeping_type_and_attributes() -> None:
    import pytest

    from tasks.context import raises_sanitised

    @raises_sanitised
    def body() -> None:
        raise SubmitError(f"azcopy failed: AccountKey={SECRET_KEY};", child_started=True)

    with pytest.raises(SubmitError) as caught:
        body()
    assert SECRET_KEY not in str(caught.value) and "AccountKey=***" in str(caught.value)
    assert caught.value.child_started is True, "the retry rule still reads it"
    assert not retry_if_not_started(None, None, Failed(data=caught.value))


def test_a_clean_exception_leaves_the_task_as_it_is() -> None:
    import pytest

    from tasks.context import raises_sanitised

    error = TransientBackendError("the cluster did not answer")

    @raises_sanitised
    def body() -> None:
        raise error

    with pytest.raises(TransientBackendError) as caught:
        body()
    assert caught.value is error


def test_every_task_raises_sanitised() -> None:
    from tasks import dry_run, finalize, poll, prepare, resume, submit, wait_for_pods

    bodies = [dry_run.dry_run, finalize.finalize, poll.poll, prepare.prepare, resume.resume, submit.submit,
              wait_for_pods.wait_for_pods]  # fmt: skip
    assert all(task.fn.__code__.co_name == "body" for task in bodies), "each task's function is the wrapper"


def test_prefect_never_sees_the_secret_of_a_failing_task(prefect_api: str) -> None:
    """Under a real Prefect API: the task run's state message and the run's logs hold the masked text only."""
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    from tasks.context import raises_sanitised

    @task(name="leaky")
    @raises_sanitised
    def leaky() -> None:
        raise BackendError(f"upload failed: https://a.blob.core.windows.net/c?sv=2024&sig={SECRET_KEY[:40]}")

    @flow(name="leaky-flow")
    def leaky_flow() -> str:
        from prefect.runtime import flow_run

        with contextlib.suppress(BackendError):  # the task failed: the flow goes on to say where it is
            leaky()
        return str(flow_run.id)

    run_id = leaky_flow()
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200)
    messages = [run.state.message or "" for run in runs] + [log.message for log in logs]
    assert any("upload failed" in text for text in messages), "the failure is there, masked"
    assert not [text for text in messages if SECRET_KEY[:40] in text]
