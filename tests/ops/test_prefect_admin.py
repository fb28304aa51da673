"""Prefect administration without a server: the zombie automation as data, pools' templates, the worker's command.

Creating the automation, the pools, the deployments and the worker on a real server: tests/e2e/test_server_worker.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
