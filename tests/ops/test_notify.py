"""The notification block and automation `blastflow up --notify` creates, checked without a server.

The messages are rendered with Prefect's own template renderer and the trigger is matched with the server's own
trigger model. Creating them on a real server and receiving the messages: tests/e2e/test_server_worker.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from blastflow.errors import ConfigError
from ops.notify import NOTIFY_AUTOMATION, ensure_notifications, notification_block, notify_automation

SLACK = "https://hooks.slack.com/services/T0000/B0000/XXXXsecretXXXX"
TEAMS = ("https://prod-12.westeurope.logic.azure.com:443/workflows/0123abcd/triggers/manual/paths/invoke"
         "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S3CRETsig")
HOOK = "http://127.0.0.1:9/hook?token=t0ken-secret"
MONITOR, PREFECT_UI = "http://monitor.example:8501", "http://127.0.0.1:4200"


@pytest.fixture(scope="module")
def automation() -> Any:
    return notify_automation(uuid4(), MONITOR, PREFECT_UI)


def test_the_generic_webhook_posts_json_title_and_text_and_keeps_the_url_secret() -> None:
    block = notification_block("webhook", HOOK)

    request = block._build_request_args(body="the body", subject="the subject")  # what notify() sends
    assert (request["method"], request["url"]) == ("POST", HOOK)
    assert request["json"] == {"title": "the subject", "text": "the body"}
    assert "t0ken-secret" not in block.model_dump_json() and block.url == "{{url}}"


@pytest.mark.parametrize(("kind", "url", "block_type"), [("slack", SLACK, "SlackWebhook"),
                                                           ("teams", TEAMS, "MicrosoftTeamsWebhook")])
def test_slack_and_teams_get_their_own_blocks_with_the_url_secret(kind: str, url: str, block_type: str) -> None:
    block = notification_block(kind, url)  # type: ignore[arg-type]

    assert type(block).__name__ == block_type and block.url.get_secret_value() == url
    assert "secret" not in block.model_dump_json().lower().replace("secretstr", "")


def test_a_url_the_block_refuses_is_a_config_error_without_the_url() -> None:
    bad_teams = "https://relay.example.org/not-a-workflow?sig=S3CRETsig"
    with pytest.raises(ConfigError, match=r"https://relay.example.org/\*\*\* is not a teams webhook URL") as caught:
        ensure_notifications("http://127.0.0.1:9/api", bad_teams, "teams", MONITOR, echo=print)  # before any request
    assert "S3CRET" not in str(caught.value)


def test_the_automation_is_valid_for_the_server(automation: Any) -> None:
    """The server validates the templates too (a bad one would be refused by `create_automation`)."""
    from prefect.server.events.schemas.automations import AutomationCore

    served = AutomationCore.model_validate(automation.model_dump(mode="json"))
    assert served.name == NOTIFY_AUTOMATION and served.enabled
    assert [action.type for action in served.actions] == ["send-notification"]
    assert served.trigger.immediate  # reactive, threshold 1, no window: one message per terminal event


def _event(state: str, flow: str = "blast-search", deployment: bool = True) -> Any:
    from prefect.server.events.schemas.events import ReceivedEvent

    related = [{"prefect.resource.id": f"prefect.flow.{uuid4()}", "prefect.resource.role": "flow",
                "prefect.resource.name": flow}]
    if deployment:
        related.append({"prefect.resource.id": f"prefect.deployment.{uuid4()}",
                        "prefect.resource.role": "deployment", "prefect.resource.name": flow})
    return ReceivedEvent(occurred=datetime.now(UTC), event=f"prefect.flow-run.{state}", id=uuid4(),
                         resource={"prefect.resource.id": f"prefect.flow-run.{uuid4()}"}, related=related)


@pytest.mark.parametrize(
    ("event", "fires"),
    [
        (("Completed",), True),
        (("Failed",), True),
        (("Crashed",), True),
        (("Cancelled",), True),
        (("Running",), False),
        (("Cancelling",), False),
        (("Completed", "reconcile"), False),  # another flow
        (("Failed", "blast-search", False), False),  # a run of the flow without a deployment (CLI, tests)
    ],
)
def test_the_trigger_fires_on_the_end_of_a_deployment_run_of_blast_search(automation, event, fires) -> None:
    from prefect.server.events.schemas.automations import EventTrigger

    trigger = EventTrigger.model_validate(automation.trigger.model_dump(mode="json"))
    assert trigger.covers(_event(*event)) is fires


def _render(automation: Any, run: Any) -> tuple[str, str]:
    from prefect.server.utilities.user_templates import render_user_template_sync

    action = automation.actions[0]
    return render_user_template_sync(action.subject, {"flow_run": run}), render_user_template_sync(
        action.body, {"flow_run": run})


def _run(state: str, message: str | None, parameters: dict[str, Any], seconds: float | None) -> Any:
    from prefect.server.schemas.core import FlowRun
    from prefect.server.schemas.states import State, StateType

    return FlowRun(id=uuid4(), name="curious-lemur", flow_id=uuid4(), parameters=parameters,
                   state=State(type=StateType(state.upper()), name=state, message=message),
                   total_run_time=timedelta(seconds=seconds) if seconds is not None else timedelta(0))


def test_a_completed_run_message_has_title_status_hits_elapsed_and_both_links(automation) -> None:
    job_id = str(uuid4())
    run = _run("Completed", "42 hits", {"title": "ants vs ants", "job_id": job_id, "query": "/q.fa"}, 3725.4)

    subject, body = _render(automation, run)

    assert subject == "blastflow: ants vs ants completed"
    assert body.splitlines() == [
        "Job: ants vs ants",
        "Status: Completed",
        "Hits: 42 hits",
        "Elapsed: 1:02:05",
        f"Monitor: {MONITOR}/?job={job_id}",
        f"Prefect: {PREFECT_UI}/runs/flow-run/{run.id}",
    ]


def test_a_failed_run_without_title_or_job_id_shows_the_error_the_default_title_and_the_run_id(automation) -> None:
    query = "https://acct.blob.core.windows.net/c/ants.fasta?sv=1&sig=S3CRETsig"
    run = _run("Failed", "InputError: no query file", {"query": query, "program": "blastp"}, 2.0)

    subject, body = _render(automation, run)

    assert subject == "blastflow: blastp ants.fasta failed"
    assert "Error: InputError: no query file" in body.splitlines() and "Elapsed: 0:00:02" in body
    assert f"Monitor: {MONITOR}/?job={run.id}" in body  # the flow run id is the job id
    assert "S3CRET" not in subject + body


def test_a_crashed_run_with_fasta_text_uses_prefects_message(automation) -> None:
    run = _run("Crashed", "Flow run infrastructure exited with non-zero status code -9.", {"query": ">q1\nMKV"},
               None)

    subject, body = _render(automation, run)

    assert subject == "blastflow: blastx query crashed"  # the flow's default program
    assert "Error: Flow run infrastructure exited with non-zero status code -9." in body
    assert "Elapsed: 0:00:00" in body


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from blastflow.settings import get_settings

    monkeypatch.setenv("BLASTFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        (["--notify", "hooks.slack.com/services/T0/B0/tok3nSecret"], {},
         "the notification URL ?://?/*** is not an http(s) URL"),  # no scheme: not a URL, and not shown
        (["--notify", SLACK, "--notify-kind", "pager"], {}, "unknown notification kind 'pager'"),
        ([], {"BLASTFLOW_NOTIFY_URL": "ftp://files.example/tok3nSecret"}, "ftp://files.example/*** is not an http(s)"),
    ],
)
def test_stack_up_refuses_a_bad_notification_before_starting_anything(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], error: str
) -> None:
    """`blastflow stack up` (the same command as `blastflow up`) checks --notify / BLASTFLOW_NOTIFY_URL first."""
    from typer.testing import CliRunner

    from blastflow.settings import get_settings
    from ops.cli import app

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["stack", "up", "--port", "1", *args])

    assert result.exit_code == 1 and error in result.output, result.output
    assert "tok3nSecret" not in result.output and "XXXXsecret" not in result.output
    assert not (data_dir / "stack" / "server.pid").exists()  # nothing was started


def test_the_notification_url_stays_out_of_the_stacks_processes(tmp_path: Path) -> None:
    """The server, worker and flow runs get this process's environment, but not the webhook's token."""
    from ops.stack import _child_env
    from ops.stack_files import StackFiles

    base = {"BLASTFLOW_NOTIFY_URL": SLACK, "BLASTFLOW_NOTIFY_KIND": "slack"}
    env = _child_env(StackFiles.of(tmp_path), tmp_path, base)

    assert "BLASTFLOW_NOTIFY_URL" not in env and SLACK not in env.values()
    assert env["BLASTFLOW_NOTIFY_KIND"] == "slack" and env["BLASTFLOW_DATA_DIR"] == str(tmp_path)
