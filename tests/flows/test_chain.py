"""The search's task runs wait on one another, so Prefect's run graph draws prepare → submit → … → finalize.

Prefect draws an edge for each task run that a task run's `task_inputs` name (its data and its `wait_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from uuid import UUID

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run

from blastflow.errors import InputError
from flows.blast_search import _chain, blast_search

JOB = "3b6f1d2e-9a4c-4f8e-b7d5-2c1e0f9a8b7d"
CHAIN = ["prepare", "submit", "wait-for-pods", "poll", "finalize"]


def _task_runs(flow_run_id: str) -> dict[str, TaskRun]:
    """The flow run's task runs by task name (a run's name is the task's name and a short key)."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    by_name = {run.name.rsplit("-", 1)[0]: run for run in runs}
    assert len(by_name) == len(runs), [run.name for run in runs]  # one run per task
    return by_name


def _upstream(run: TaskRun) -> set[UUID]:
    """Every task run `run` depends on: what the run graph draws an edge from."""
    return {source.id for sources in run.task_inputs.values() for source in sources}


def test_each_step_waits_on_the_one_before(pipeline, sample_fasta) -> None:
    result = blast_search(
        query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]), program="blastp", job_id=JOB
    )
    assert result["phase"] == "completed" and result["hits"] > 0  # the chain returns finalize's summary
    runs = _task_runs(pipeline.get(JOB).flow_run_id)
    assert sorted(runs) == sorted(CHAIN)
    for before, step in pairwise(CHAIN):
        assert runs[before].id in _upstream(runs[step]), f"{step} does not wait on {before}"
    # submit returns nothing: only `wait_for` links wait-for-pods to it
    assert {source.id for source in runs["wait-for-pods"].task_inputs["wait_for"]} == {runs["submit"].id}


@dataclass(frozen=True, slots=True)
class _Taken:
    """Stands for resume's result (`Resumed`), which the resumed chain waits on."""

    batches: int


@task(name="take-over")
def _take_over() -> _Taken:
    return _Taken(batches=2)


@task(name="run-ok")
def _run_ok(taken: _Taken) -> int:
    return taken.batches


@task(name="run-bad")
def _run_bad(taken: _Taken) -> int:
    raise InputError("batch 2 is not FASTA: fix the query file")


@task(name="run-never")
def _run_never(taken: _Taken) -> int:
    return 0


def test_a_failed_step_raises_its_own_error_and_ends_the_chain(prefect_api: str) -> None:
    flow_runs: list[str] = []

    @flow(name="chain-that-fails")
    def chain_that_fails() -> int:
        flow_runs.append(str(flow_run.id))
        taken = _take_over()
        return _chain(taken, (_run_ok, _run_bad, _run_never), after=taken)

    with pytest.raises(InputError, match="batch 2 is not FASTA"):
        chain_that_fails()
    runs = _task_runs(flow_runs[0])
    assert sorted(runs) == ["run-bad", "run-ok", "take-over"]  # nothing ran after the failure
    assert {source.id for source in runs["run-ok"].task_inputs["wait_for"]} == {runs["take-over"].id}
    assert {source.id for source in runs["run-bad"].task_inputs["wait_for"]} == {runs["run-ok"].id}
