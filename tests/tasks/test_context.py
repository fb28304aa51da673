"""Retry rules of the Prefect tasks: transient cluster errors retry, real failures and started submits don't."""

from __future__ import annotations

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
