"""Finalize's pod-log capture: empty logs are retried, then said to be unavailable (fix P3)."""

from __future__ import annotations

from blastflow.model import Phase, StepName
from blastflow.steps.finalize import POD_LOGS_CAPTURED, POD_LOGS_UNAVAILABLE, capture_pod_logs
from tests.doubles.scripted_backend import ScriptedBackend


def test_pod_logs_that_flush_late_are_captured_on_a_retry(make_ctx, run, sqlite_store, clock) -> None:
    backend = ScriptedBackend(pod_logs=[{}, {"batch_000": "  \n"}, {"batch_000": "run end 000 0\n"}])
    ctx = make_ctx(backend, phase=Phase.FINALIZING, pod_log_retry_delay_s=60)
    log = ctx.log(StepName.FINALIZE)
    assert capture_pod_logs(ctx, run, log) == POD_LOGS_CAPTURED
    log.close()
    assert backend.calls["pod_logs"] == 3 and sum(clock.slept) == 120
    run_lines = [line.text for line in sqlite_store.read_logs(run.job_id, StepName.RUN).lines]
    assert run_lines == ["── batch_000 ──", "run end 000 0"]
    assert sqlite_store.get(run.job_id).steps[StepName.RUN].last_output.endswith("run end 000 0")


def test_a_retry_line_is_visible_during_the_delay(make_ctx, run, sqlite_store, clock) -> None:
    backend = ScriptedBackend(pod_logs=[{}])
    ctx = make_ctx(backend, phase=Phase.FINALIZING, pod_log_retry_delay_s=60)
    seen_during_delay: list[list[str]] = []
    sleep = clock.sleep

    def watching_sleep(seconds: float) -> None:
        sleep(seconds)
        if 10 <= clock.now < 11:
            seen_during_delay.append([x.text for x in sqlite_store.read_logs(run.job_id, StepName.FINALIZE).lines])

    ctx.sleep = watching_sleep
    log = ctx.log(StepName.FINALIZE)
    log.add("Fetched 3 batch result archives")  # written at once: the retry line below is buffered
    assert capture_pod_logs(ctx, run, log) == POD_LOGS_UNAVAILABLE
    log.close()
    assert seen_during_delay[0][-1] == "No pod log readable yet (attempt 1 of 3); retrying in 60 s"
    lines = [x.text for x in sqlite_store.read_logs(run.job_id, StepName.FINALIZE).lines]
    assert lines[-1] == "Pod logs unavailable: none could be read after 3 attempts"
