"""The pipeline's steps as plain functions over a `StepContext`; Prefect tasks wrap them."""

from blastflow.steps.context import StepContext
from blastflow.steps.dry_run import DryRunReport, dry_run
from blastflow.steps.finalize import FinalizeResult, finalize
from blastflow.steps.poll import poll
from blastflow.steps.prepare import prepare
from blastflow.steps.submit import submit
from blastflow.steps.wait_for_pods import wait_for_pods

__all__ = [
    "DryRunReport",
    "FinalizeResult",
    "StepContext",
    "dry_run",
    "finalize",
    "poll",
    "prepare",
    "submit",
    "wait_for_pods",
]
