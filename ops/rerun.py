"""Start a rerun: through the `blast-search` deployment when the local stack is up, else the flow right here.

Through the deployment the run is the stack worker's, visible in the Prefect UI like one started with its Run
button, and this returns at once; without a stack the flow runs in this process, as `blastflow run` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blastflow.model import JobRecord
from blastflow.rerun import rerun_parameters
from blastflow.settings import Settings

if TYPE_CHECKING:
    from ops.prefect_admin import PrefectApi

__all__ = ["DEPLOYMENT", "RerunStarted", "start_rerun"]

DEPLOYMENT = "blast-search/blast-search"


@dataclass(frozen=True)
class RerunStarted:
    job_id: str
    via: str  # "deployment" or "cli"
    flow_run_id: str | None = None
    result: dict[str, Any] | None = None  # the flow's result, when it ran here


def start_rerun(job: JobRecord, settings: Settings, new_job_id: str) -> RerunStarted:
    """Start `job`'s search again as job `new_job_id` (raises InputError when it cannot be run again)."""
    from ops import stack
    from ops.stack_files import StackFiles

    params = rerun_parameters(job, settings.job_dir(job.job_id), settings.data_dir / "inputs", new_job_id)
    current = stack.status(data_dir=settings.data_dir)
    if current.healthy and current.api_url and "blast-search" in current.deployments:
        api = StackFiles.of(settings.data_dir).api(current.api_url)  # with the stack's auth string, if any
        return RerunStarted(new_job_id, "deployment", _through_deployment(api, params))
    from flows.blast_search import blast_search

    return RerunStarted(new_job_id, "cli", result=blast_search(**params))


def _through_deployment(api: PrefectApi, params: dict[str, object]) -> str:
    with api.client() as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        run = client.create_flow_run_from_deployment(deployment.id, parameters=params)
    return str(run.id)
