"""Notify a webhook (generic JSON, Slack or Teams) when a `blast-search` run completes, fails, crashes or is cancelled.

What `blastflow up --notify URL` creates on the Prefect server, both by fixed names so that `up` again updates them:

- a notification block, NOTIFY_BLOCK, of the kind's type (`blastflow.notify.notify_kind`); the URL lives only
  there, in a secret field (for the generic webhook the block's URL is the placeholder `{{url}}`, filled from its
  secrets): it is never echoed, logged or put in the automation;
- an automation, NOTIFY_AUTOMATION, fired by the terminal state event of each flow run of the flow
  `blast-search` started from a deployment (one event per run: one message per run). Prefect renders the message
  from the run (`blastflow.notify.message_templates`); a Crashed run never runs our code, its message comes
  from Prefect's own state.

Prefect is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blastflow.errors import ConfigError
from blastflow.notify import NOTIFY_KINDS, NotifyKind, masked_url, message_templates
from ops.prefect_admin import Api, PrefectApi, upsert_automation

__all__ = [
    "FINAL_STATES",
    "NOTIFY_AUTOMATION",
    "NOTIFY_BLOCK",
    "SEARCH_FLOW",
    "ensure_notifications",
    "notification_block",
    "notify_automation",
    "remove_notifications",
]

NOTIFY_AUTOMATION = "blastflow: notify when a search ends"
NOTIFY_BLOCK = "blastflow-notify"
SEARCH_FLOW = "blast-search"  # the flow's name (flows/blast_search.py): its deployments blast-search, -k8s, nightly
FINAL_STATES = ("Completed", "Failed", "Crashed", "Cancelled")
_BLOCK_SLUGS: dict[str, str] = {"webhook": "custom-webhook", "slack": "slack-webhook", "teams": "ms-teams-webhook"}

Echo = Callable[[str], None]


def notification_block(kind: NotifyKind, url: str) -> Any:
    """The Prefect notification block that posts to `url`, the secret kept in a secret field.

    The generic webhook posts JSON `{"title": <subject>, "text": <body>}`.
    """
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, MicrosoftTeamsWebhook, SlackWebhook

    if kind == "slack":
        return SlackWebhook(url=url)
    if kind == "teams":
        return MicrosoftTeamsWebhook(url=url)
    return CustomWebhookNotificationBlock(
        name=NOTIFY_BLOCK,
        url="{{url}}",
        json_data={"title": "{{subject}}", "text": "{{body}}"},
        secrets={"url": url},
        allow_private_urls=True,  # a receiver on this machine or the LAN is a normal target here
    )


def notify_automation(block_document_id: Any, monitor_url: str, prefect_ui_url: str) -> Any:
    """The automation: each deployment run of `blast-search` that ends sends one message through the block.

    Returns:
        A `prefect.events.schemas.automations.AutomationCore`, ready for `create_automation`/`update_automation`.
    """
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    subject, body = message_templates(monitor_url, prefect_ui_url)
    trigger = EventTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related=[  # all must hold: the search flow, run from a deployment
            {"prefect.resource.role": "flow", "prefect.resource.name": SEARCH_FLOW},
            {"prefect.resource.role": "deployment"},
        ],
        expect={f"prefect.flow-run.{state}" for state in FINAL_STATES},
        for_each={"prefect.resource.id"},
        posture=Posture.Reactive,
        threshold=1,
        within=0,
    )
    return AutomationCore(
        name=NOTIFY_AUTOMATION,
        description="Created by `blastflow up --notify`: one message per blast-search run that ends.",
        enabled=True,
        trigger=trigger,
        actions=[SendNotification(block_document_id=block_document_id, subject=subject, body=body)],
    )


def ensure_notifications(api: Api, url: str, kind: NotifyKind, monitor_url: str, echo: Echo) -> None:
    """Create or update (by name) the notification block and automation; delete a block of another kind.

    Raises:
        ConfigError: The block refuses the URL (the message shows it masked).
    """
    from prefect.settings import temporary_settings

    api = PrefectApi.of(api)
    try:
        block = notification_block(kind, url)
    except ValueError:  # pydantic's or the block's own check; its text may quote the URL
        raise ConfigError(f"{masked_url(url)} is not a {kind} webhook URL Prefect accepts: check it, or choose "
                          f"the kind with --notify-kind ({', '.join(NOTIFY_KINDS)})") from None
    with temporary_settings(updates=api.settings()):  # Block.save talks to PREFECT_API_URL, with its auth
        block_id = block.save(NOTIFY_BLOCK, overwrite=True)
    with api.client() as client:
        for other in NOTIFY_KINDS:
            if other != kind:
                _delete_block(client, other)
        upsert_automation(client, notify_automation(block_id, monitor_url, api.url.removesuffix("/api")))
    echo(f"Notifications on: a {kind} message to {masked_url(url)} when a blast-search run ends")


def remove_notifications(api: Api, echo: Echo) -> None:
    """Delete the automation and the block (`--no-notify`, or an empty BLASTFLOW_NOTIFY_URL)."""
    with PrefectApi.of(api).client() as client:
        for automation in client.read_automations_by_name(NOTIFY_AUTOMATION):
            client.delete_automation(automation.id)
        for kind in NOTIFY_KINDS:
            _delete_block(client, kind)
    echo("Notifications off")


def _delete_block(client: Any, kind: str) -> None:
    from prefect.exceptions import ObjectNotFound

    try:
        block = client.read_block_document_by_name(NOTIFY_BLOCK, block_type_slug=_BLOCK_SLUGS[kind])
    except ObjectNotFound:
        return
    client.delete_block_document(block.id)
