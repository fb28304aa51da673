"""Failure text: the authoritative error, the right failure phase."""

from __future__ import annotations

from pathlib import Path

from blastflow.errors import BackendError, InputError, SubmitError, TimedOut
from blastflow.failure import child_error_text, failure_update, python_crash
from blastflow.model import Phase, StepName, StepStatus


def test_phases_per_error_kind() -> None:
    assert failure_update(SubmitError("x", child_started=True)).phase is Phase.SUBMIT_FAILED
    assert failure_update(TimedOut("pods did not start")).phase is Phase.TIMED_OUT
    assert failure_update(BackendError("batch_002 failed")).phase is Phase.FAILED
    update = failure_update(InputError("query has no sequences"), StepName.PREPARE)
    assert update.error == "Invalid input: query has no sequences" and update.error_code == "input"
    assert update.steps[StepName.PREPARE].status is StepStatus.FAILED


def test_unexpected_exception_keeps_its_type_and_is_sanitised() -> None:
    update = failure_update(RuntimeError("boom \x1b[31mAccountKey=abcdefgh12345678==\x1b[0m"))
    assert update.error == "RuntimeError: boom AccountKey=***"
    assert update.error_code == "RuntimeError"


def test_child_error_prefers_an_error_line_over_a_later_benign_line() -> None:
    text = child_error_text(
        "elastic-blast submit",
        6,
        ["ERROR: The service account lacks storage.objects.create", "INFO: cleaning up"],
        ["[parallel-prep] running 4 azcopy checks concurrently"],
    )
    assert text == "elastic-blast submit exited with code 6: ERROR: The service account lacks storage.objects.create"


def test_child_error_without_output_says_so() -> None:
    assert child_error_text("local submit", 2, [], []) == "local submit exited with code 2 (it printed no error)"


CAPTURED = Path(__file__).parent / "backends" / "elastic_blast" / "captured"


def test_a_python_crash_is_named_a_crash_with_its_exception_not_its_first_line() -> None:
    """Real `elastic-blast submit --dry-run` (1.5.0) on AWS without credentials: exit 1 and a traceback."""
    stderr = (CAPTURED / "submit-dry-run-aws-no-credentials.stderr").read_text().splitlines()
    assert stderr[-1].startswith("botocore.exceptions.NoCredentialsError")

    text = child_error_text("elastic-blast submit", 1, stderr[-40:], [], meaning="error in the query")

    assert text == (
        "elastic-blast submit crashed (exit code 1, an uncaught Python exception, not an input error): "
        "botocore.exceptions.NoCredentialsError: Unable to locate credentials"
    )
    assert python_crash(["ERROR: Incorrect -task option rmblastn"]) is None
