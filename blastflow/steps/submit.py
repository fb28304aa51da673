"""Submit: run the backend's submit CLI and stream every line as it is printed."""

from __future__ import annotations

import shlex
from collections import deque
from pathlib import Path

from blastflow.errors import SubmitError
from blastflow.failure import child_error_text
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun
from blastflow.steps.context import StepContext
from blastflow.stream import stream_child

__all__ = ["submit"]

SUBMIT_TIMEOUT_S = 3600.0  # a cluster create can take long; a hung CLI must not hang the run


def submit(ctx: StepContext, run: PreparedRun) -> None:
    """Hand the batches over. Raises `SubmitError`; `child_started` tells whether a retry is safe."""
    ctx.write(JobUpdate(phase=Phase.SUBMITTING))
    argv = ctx.backend.submit_command(run)
    log = ctx.log(StepName.SUBMIT)
    log.add(sanitise(f"$ {shlex.join([Path(argv[0]).name, *argv[1:]])}"))
    tails: dict[str, deque[str]] = {"stdout": deque(maxlen=20), "stderr": deque(maxlen=20)}

    def on_line(stream: str, line: str) -> None:
        tails[stream].append(line)
        log.add(line, stream)

    try:
        result = stream_child(
            argv,
            on_line,
            env=ctx.backend.submit_env(run),
            cwd=run.workdir,
            timeout_s=SUBMIT_TIMEOUT_S,
            on_tick=ctx.waiting(log),  # lines go out on time, and a quiet child does not read as a lost run
        )
    finally:
        log.close()
    if result.timed_out or result.returncode != 0:
        command = f"{ctx.backend.name} submit"
        if result.timed_out:
            text = f"{command} did not finish within {SUBMIT_TIMEOUT_S:.0f} s and was stopped"
        else:
            meaning = ctx.backend.exit_meaning(result.returncode)
            text = child_error_text(command, result.returncode, tails["stderr"], tails["stdout"], meaning)
        raise SubmitError(text, child_started=True)
    ctx.write(
        JobUpdate(
            phase=Phase.SUBMITTED,
            steps={StepName.SUBMIT: StepUpdate(status=StepStatus.COMPLETED, message=f"{result.lines} lines of output")},
        )
    )
