"""Dry run: a search checked and prepared, its backend config shown, and nothing submitted."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun
from blastflow.steps.context import StepContext

__all__ = ["DRY_RUN_MESSAGE", "DryRunReport", "dry_run"]

DRY_RUN_MESSAGE = "Dry run: every check passed and the config is written; nothing was submitted."


@dataclass(frozen=True, slots=True)
class DryRunReport:
    """What a dry run shows: the backend's config file, its content, and the submit command it would run."""

    config_path: str
    config_text: str  # sanitised: a secret in the profile never reaches a log, the row or the terminal
    command: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def dry_run(ctx: StepContext, run: PreparedRun) -> DryRunReport:
    """Report the prepared run and end the job without submitting anything (later steps `skipped`)."""
    report = DryRunReport(
        config_path=str(run.config_path),
        config_text=sanitise(run.config_path.read_text()),
        command=sanitise(shlex.join(ctx.backend.submit_command(run))),
    )
    log = ctx.log(StepName.PREPARE)
    log.add(f"Config written to {report.config_path}:")
    for line in report.config_text.splitlines():
        log.add(f"  {line}")
    log.add(f"Would run: {report.command}")
    log.add(DRY_RUN_MESSAGE)
    log.close()
    ctx.write(
        JobUpdate(
            phase=Phase.COMPLETED,
            steps={StepName.SUBMIT: StepUpdate(status=StepStatus.SKIPPED, message=DRY_RUN_MESSAGE)},
        )
    )
    return report
