"""Prefect administration without a server: the automations as data, pools' templates, the worker's command.

Creating the automation, the pools, the deployments and the worker on a real server: tests/e2e/test_server_worker.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import yaml

from blastflow.errors import ConfigError
from ops import prefect_admin
from ops.prefect_admin import HEARTBEAT_FREQUENCY_S, ZOMBIE_AUTOMATION, ZOMBIE_AUTOMATION_FILE, ZOMBIE_WITHIN_S


def _raw() -> dict:
    return yaml.safe_load(ZOMBIE_AUTOMATION_FILE.read_text())


def test_the_zombie_automation_is_prefects_detect_zombie_flows_automation() -> None:
    """Same trigger, window and action as Prefect's recipe, with blastflow's name and texts."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    expected = Automation(
        name="blastflow: crash flow runs whose heartbeats stopped",
        description=(
            "Flow runs beat every 30 s (PREFECT_FLOWS_HEARTBEAT_FREQUENCY); a run silent for 120 s lost its worker. "
            "Created by `blastflow up`; reconcile then fails its job."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.*"},  # another beat, or any state change (custom state names too)
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=120),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message="No heartbeat for 120 s: the worker or machine running this flow run is gone.",
            )
        ],
    )
    assert prefect_admin.zombie_automation() == expected


def test_the_file_loads_as_prefect_loads_it_and_is_what_up_creates() -> None:
    """`prefect automation create --from-file` validates with AutomationCore; `up` sends the same core."""
    from prefect.events.schemas.automations import AutomationCore

    by_prefect_cli = AutomationCore.model_validate(_raw())
    wanted = prefect_admin.zombie_automation()
    sent_by_up = AutomationCore(**wanted.model_dump(exclude={"id", "owner_resource"}))
    assert sent_by_up == by_prefect_cli
    assert (wanted.name, wanted.trigger.within.total_seconds()) == (ZOMBIE_AUTOMATION, ZOMBIE_WITHIN_S)


def test_the_texts_quote_the_window_and_the_heartbeat() -> None:
    automation = prefect_admin.zombie_automation()
    assert ZOMBIE_WITHIN_S == 4 * HEARTBEAT_FREQUENCY_S  # four missed beats; Prefect advises at least three
    assert automation.actions[0].message.startswith(f"No heartbeat for {ZOMBIE_WITHIN_S} s")
    assert f"beat every {HEARTBEAT_FREQUENCY_S} s" in automation.description
    assert f"silent for {ZOMBIE_WITHIN_S} s" in automation.description


def test_a_window_under_three_heartbeats_is_refused(tmp_path: Path) -> None:
    raw = _raw()
    raw["trigger"]["within"] = 2 * HEARTBEAT_FREQUENCY_S
    short = tmp_path / "short.yaml"
    short.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"short.yaml: `within` is 60 s, under 3 heartbeats of 30 s"):
        prefect_admin.zombie_automation(short)


def test_a_file_prefect_would_reject_is_refused_with_its_name(tmp_path: Path) -> None:
    raw = _raw()
    raw["actions"][0]["state"] = "EXPLODED"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"bad.yaml is not a Prefect automation"):
        prefect_admin.zombie_automation(bad)
    bad.write_text("name: no trigger\n")
    with pytest.raises(ConfigError, match=r"bad.yaml is not an automation with a `name` and a `trigger.within`"):
        prefect_admin.zombie_automation(bad)


def test_the_kubernetes_pool_gets_the_template_in_deployments() -> None:
    template = prefect_admin.base_job_template("kubernetes")
    assert template == yaml.safe_load((prefect_admin.ROOT / "deployments/k8s/base-job-template.json").read_text())
    assert "job_configuration" in prefect_admin.base_job_template("process")


def test_the_worker_polls_the_local_pool_under_its_stack_name() -> None:
    command = prefect_admin.worker_command("blastflow-local-1234abcd")
    assert command[-7:] == ["start", "--pool", "blastflow-local", "--type", "process",
                            "--name", "blastflow-local-1234abcd"]
    assert prefect_admin.local_api_url(4300) == "http://127.0.0.1:4300/api"


# ------------------------------------------------------------------------------------------------------
# The automation that runs reconcile when a search's run ends badly, checked with the server's own models
# ------------------------------------------------------------------------------------------------------

RECONCILE_DEPLOYMENT_ID = UUID("9f0e3b1c-8a52-4c1e-9a7d-2b8f5d6e4c3a")


@pytest.fixture(scope="module")
def server_automation() -> Any:
    """The reconcile automation as the Prefect server holds it once `up` has sent it (what `up` sends, re-read)."""
    from prefect.server.events.schemas.automations import Automation as ServerAutomation

    sent = prefect_admin._core(prefect_admin.reconcile_automation(RECONCILE_DEPLOYMENT_ID))
    return ServerAutomation.model_validate({**sent.model_dump(mode="json"), "id": str(uuid4())})


def _state_event(state_type: str, state_name: str, flow: str = "blast-search", run_id: UUID | None = None) -> Any:
    """A flow run's state-change event as the server emits it (prefect/server/models/events.py)."""
    from prefect.server.events.schemas.events import ReceivedEvent

    return ReceivedEvent(
        occurred=datetime.now(UTC),
        event=f"prefect.flow-run.{state_name}",
        resource={"prefect.resource.id": f"prefect.flow-run.{run_id or uuid4()}", "prefect.state-type": state_type,
                  "prefect.state-name": state_name},
        related=[{"prefect.resource.id": f"prefect.flow.{uuid4()}", "prefect.resource.role": "flow",
                  "prefect.resource.name": flow},
                 {"prefect.resource.id": f"prefect.deployment.{uuid4()}", "prefect.resource.role": "deployment",
                  "prefect.resource.name": flow}],
        id=uuid4(),
    )


def test_the_reconcile_automation_file_is_what_up_creates_and_the_server_accepts(server_automation: Any) -> None:
    """`prefect automation create --from-file` (with the id added) and `up` send the same; the server takes it."""
    from prefect.events.schemas.automations import AutomationCore

    raw = yaml.safe_load(prefect_admin.RECONCILE_AUTOMATION_FILE.read_text())
    assert "deployment_id" not in raw["actions"][0]  # the server's id, filled in by `up`
    raw["actions"][0]["deployment_id"] = str(RECONCILE_DEPLOYMENT_ID)
    wanted = prefect_admin.reconcile_automation(RECONCILE_DEPLOYMENT_ID)
    assert prefect_admin._core(wanted) == AutomationCore.model_validate(raw)
    assert wanted.name == prefect_admin.RECONCILE_AUTOMATION != prefect_admin.ZOMBIE_AUTOMATION
    action = server_automation.actions[0]
    assert (action.type, action.source, action.deployment_id) == ("run-deployment", "selected", RECONCILE_DEPLOYMENT_ID)


def test_the_reconcile_trigger_fires_for_blast_search_runs_that_crash_fail_or_are_cancelled_only(
    server_automation: Any,
) -> None:
    """The server's own matching (`EventTrigger.covers`) over events shaped like the ones it emits."""
    from prefect.server.events.schemas.events import ReceivedEvent

    fires = [("CRASHED", "Crashed"), ("FAILED", "Failed"), ("CANCELLED", "Cancelled"), ("FAILED", "TimedOut")]
    quiet = [("COMPLETED", "Completed"), ("RUNNING", "Running"), ("CANCELLING", "Cancelling"),
             ("SCHEDULED", "AwaitingRetry"), ("PENDING", "Pending")]
    trigger = server_automation.trigger
    assert [state for state in fires if trigger.covers(_state_event(*state))] == fires
    assert [state for state in quiet if trigger.covers(_state_event(*state))] == []
    assert not trigger.covers(_state_event("CRASHED", "Crashed", flow="reconcile"))  # never reconcile itself
    heartbeat = _state_event("RUNNING", "Running").model_dump()
    heartbeat.update(event="prefect.flow-run.heartbeat", resource={"prefect.resource.id": "prefect.flow-run.x"})
    assert not trigger.covers(ReceivedEvent.model_validate(heartbeat))
    assert trigger.posture.value == "Reactive" and trigger.within.total_seconds() == 0  # at once, each event


def test_the_reconcile_action_passes_the_id_of_the_run_that_ended(server_automation: Any) -> None:
    """Rendered as the server renders it when the trigger fires: the flow run id, bare, as a string."""
    from prefect.server.events.schemas.automations import TriggeredAction

    run_id = uuid4()
    action = server_automation.actions[0]
    fired = TriggeredAction(automation=server_automation, triggered=datetime.now(UTC), triggering_labels={},
                            triggering_event=_state_event("CRASHED", "Crashed", run_id=run_id), action=action)
    assert asyncio.run(action.render_parameters(fired)) == {"flow_run_id": str(run_id)}


def test_a_reconcile_automation_prefect_would_reject_is_refused_with_its_name(tmp_path: Path) -> None:
    raw = yaml.safe_load(prefect_admin.RECONCILE_AUTOMATION_FILE.read_text())
    raw["actions"][0]["source"] = "chosen"
    bad = tmp_path / "bad-reconcile.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"bad-reconcile.yaml is not a Prefect automation"):
        prefect_admin.reconcile_automation(RECONCILE_DEPLOYMENT_ID, bad)
