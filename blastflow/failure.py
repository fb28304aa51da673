"""From an exception or a child's output to the job's failure: phase, error text, code.

The error recorded on the job is the authoritative one (fix D of the notes):
the exception that stopped the run, or the child's own error line, never a
later benign log line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from blastflow.errors import BlastflowError, InputError, SubmitError, TimedOut
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.sanitise import sanitise

__all__ = ["child_error_text", "failure_update", "python_crash", "sanitised_exception"]

_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|FATAL|Error|Exception|Traceback|error:|failed)\b")
_TRACEBACK_FRAME = re.compile(r'^\s+File "|^Traceback \(most recent call last\):')
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b(?::.*)?$")


def failure_update(exc: BaseException, step: StepName | None = None, *, source: str = "flow") -> JobUpdate:
    """The update that records `exc` as the reason the job failed.

    Example:
        >>> u = failure_update(SubmitError("exit 8: cluster error", child_started=True), StepName.SUBMIT)
        >>> u.phase.value, u.error_code, u.steps[StepName.SUBMIT].status.value
        ('submit_failed', 'submit_failed', 'failed')
        >>> failure_update(AttributeError("module 'x' has no attribute '_tail_text'")).error
        "AttributeError: module 'x' has no attribute '_tail_text'"
    """
    if isinstance(exc, SubmitError):
        phase = Phase.SUBMIT_FAILED
    elif isinstance(exc, TimedOut):
        phase = Phase.TIMED_OUT
    else:
        phase = Phase.FAILED
    if isinstance(exc, BlastflowError):
        text, code = str(exc), exc.code
    else:
        text, code = f"{type(exc).__name__}: {exc}", type(exc).__name__
    if isinstance(exc, InputError):
        text = f"Invalid input: {text}"
    text = sanitise(text)
    steps = {step: StepUpdate(status=StepStatus.FAILED, error=text, source=source)} if step is not None else {}
    return JobUpdate(phase=phase, error=text, error_code=code, steps=steps, source=source)


def python_crash(lines: Sequence[str]) -> str | None:
    """The exception line of a Python traceback at the end of `lines`, or None when they hold none.

    A Python CLI that crashes exits 1, the same code as its own input errors; the traceback tells them
    apart, and its LAST line (the exception), not its first, says what happened.

    Example:
        >>> python_crash(["Traceback (most recent call last):", '  File "/x/elb_config.py", line 317, in f',
        ...               "    sts.get_caller_identity()",
        ...               "botocore.exceptions.NoCredentialsError: Unable to locate credentials"])
        'botocore.exceptions.NoCredentialsError: Unable to locate credentials'
        >>> python_crash(["ERROR: Incorrect -task option"]) is None
        True
    """
    if not any(_TRACEBACK_FRAME.match(line) for line in lines):
        return None
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line.strip()) and not line.startswith((" ", "\t")):
            return line.strip()
    return None


def child_error_text(
    command: str,
    returncode: int,
    stderr_tail: Sequence[str],
    stdout_tail: Sequence[str],
    meaning: str | None = None,
) -> str:
    """Say why a child CLI failed: its exit code, what that code means, and its own most telling line.

    Example:
        >>> child_error_text("elastic-blast submit", 7, ["WARNING: slow", "ERROR: quota exceeded"], ["done"],
        ...                  meaning="dependency or quota error")
        'elastic-blast submit exited with code 7 (dependency or quota error): ERROR: quota exceeded'
    """
    crash = python_crash(list(stderr_tail)) or python_crash(list(stdout_tail))
    if crash is not None:
        return f"{command} crashed (exit code {returncode}, an uncaught Python exception, not an input error): {crash}"
    head = f"{command} exited with code {returncode}" + (f" ({meaning})" if meaning else "")
    for tail in (stderr_tail, stdout_tail):
        for line in reversed(tail):
            if _ERROR_LINE.search(line):
                return f"{head}: {line.strip()}"
    last = next((line.strip() for line in reversed(list(stderr_tail)) if line.strip()), "")
    return f"{head}: {last}" if last else f"{head} (it printed no error)"


def sanitised_exception(exc: Exception) -> Exception:
    """`exc` itself when its text is clean, else a copy (type, attributes, traceback) with its text sanitised.

    The copy drops the chain (`__cause__`, `__context__`): a chained exception's text is not sanitised,
    and the run's log already holds the whole sanitised traceback.

    Example:
        >>> str(sanitised_exception(RuntimeError("upload failed: AccountKey=abc123==;")))
        'upload failed: AccountKey=***;'
    """
    text = str(exc)
    clean = sanitise(text)
    chained = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if clean == text and (chained is None or sanitise(str(chained)) == str(chained)):
        return exc
    copy = type(exc).__new__(type(exc))
    copy.__dict__.update(exc.__dict__)
    copy.args = (clean,)
    copy.__suppress_context__ = True
    return copy.with_traceback(exc.__traceback__)
