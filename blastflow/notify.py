"""Notifications when a search ends: which service a webhook URL is, and the message's texts.

Pure logic, no Prefect: `ops.notify` turns these into a Prefect notification block and automation.

- The URL carries a token (Slack, Teams, a SAS `sig=`): it is shown only as `masked_url(url)`.
- `notify_kind` picks the service from the host, or takes the one asked for.
- `completed_message` / `failed_message` are the flow's final state messages: the only job facts (hit count,
  error) an automation's template can see besides the run's own fields. The error is sanitised there.
- `message_templates` are the Jinja texts (subject, body) Prefect renders with the flow run that ended.
"""

from __future__ import annotations

from typing import Literal, get_args
from urllib.parse import urlsplit

from blastflow.errors import ConfigError
from blastflow.sanitise import sanitise

__all__ = [
    "NOTIFY_KINDS",
    "NotifyKind",
    "completed_message",
    "failed_message",
    "masked_url",
    "message_templates",
    "notify_kind",
]

NotifyKind = Literal["webhook", "slack", "teams"]
NOTIFY_KINDS: tuple[str, ...] = get_args(NotifyKind)
_SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
_TEAMS_SUFFIXES = (".webhook.office.com", ".logic.azure.com", ".powerplatform.com")
_TEAMS_HOSTS = ("outlook.office.com",)


def masked_url(url: str) -> str:
    """The URL as it may be shown: scheme and host only.

    Example:
        >>> masked_url("https://hooks.slack.com/services/T0/B0/secret")
        'https://hooks.slack.com/***'
    """
    parts = urlsplit(url.strip())
    host = parts.netloc.rsplit("@", 1)[-1]  # never the user:password part
    return f"{parts.scheme or '?'}://{host or '?'}/***"


def notify_kind(url: str, forced: str | None = None) -> NotifyKind:
    """Which service gets the message: `forced` if given, else the one the URL's host belongs to.

    Raises:
        ConfigError: The URL is not http(s) with a host, or `forced` is not a known kind.

    Example:
        >>> [notify_kind(u) for u in ("https://hooks.slack.com/services/T/B/X",
        ...                           "https://prod-1.westeurope.logic.azure.com/workflows/x",
        ...                           "http://127.0.0.1:9000/hook")]
        ['slack', 'teams', 'webhook']
        >>> notify_kind("https://hooks.slack.com/services/T/B/X", forced="webhook")
        'webhook'
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"the notification URL {masked_url(url)} is not an http(s) URL with a host: give the webhook URL "
            "(--notify or BLASTFLOW_NOTIFY_URL) as the service shows it"
        )
    if forced:
        if forced not in NOTIFY_KINDS:
            raise ConfigError(f"unknown notification kind {forced!r}: use one of {', '.join(NOTIFY_KINDS)}")
        return forced  # type: ignore[return-value]
    host = parts.hostname.lower()
    if host in _SLACK_HOSTS:
        return "slack"
    if host in _TEAMS_HOSTS or host.endswith(_TEAMS_SUFFIXES):
        return "teams"
    return "webhook"


def completed_message(result: dict[str, object]) -> str:
    """The completed run's state message: its hit count (what the notification shows).

    Example:
        >>> completed_message({"hits": 42}), completed_message({"hits": 1}), completed_message({"dry_run": True})
        ('42 hits', '1 hit', 'dry run: every check passed, nothing submitted')
    """
    if result.get("dry_run"):
        return "dry run: every check passed, nothing submitted"
    hits = result.get("hits")
    return f"{hits} hit{'' if hits == 1 else 's'}"


def failed_message(exc: BaseException) -> str:
    """The failed run's state message: the error's type and sanitised text (Prefect shows and sends it).

    Example:
        >>> failed_message(ValueError("no file https://acct.blob.core.windows.net/q.fa?sv=1&sig=abc123"))
        'ValueError: no file https://acct.blob.core.windows.net/q.fa?***'
    """
    return sanitise(f"{type(exc).__name__}: {exc}")


# Jinja, rendered by the Prefect server with `flow_run` (the run that ended; its state from the event).
# The title mirrors the flow's own default (flows/blast_search.py `_default_title`) for runs without one,
# without a URL's query string (a SAS token).
_TITLE = (
    "{% set p = flow_run.parameters %}"
    "{% set q = (p.query or '') | string %}"
    "{% set title = p.title or ((p.program or 'blastx') ~ ' ' ~ "
    "('query' if q.lstrip().startswith('>') else (q.split('?') | first).split('/') | last)) %}"
)
_ELAPSED = (
    "{% set s = (flow_run.total_run_time.total_seconds() if flow_run.total_run_time else 0) | int %}"
    "{{ '%d:%02d:%02d' | format(s // 3600, s % 3600 // 60, s % 60) }}"
)
_OUTCOME = (
    "{% if flow_run.state.type.value == 'COMPLETED' %}Hits: {{ flow_run.state.message }}"
    "{% else %}Error: {{ flow_run.state.message or flow_run.state.name }}{% endif %}"
)


def message_templates(monitor_url: str, prefect_ui_url: str) -> tuple[str, str]:
    """The notification's subject and body as Prefect automation templates.

    Args:
        monitor_url: The monitoring page (BLASTFLOW_MONITOR_URL); the job is `?job=<job id>` on it.
        prefect_ui_url: The Prefect UI (the server URL without /api); the run is `/runs/flow-run/<id>` on it.

    Returns:
        (subject, body): job title and final status; then the hit count or error, the elapsed time
        (h:mm:ss running) and both links. The job id is the `job_id` parameter, else the flow run id.
    """
    job_id = "{{ flow_run.parameters.job_id or flow_run.id }}"
    subject = f"{_TITLE}blastflow: {{{{ title }}}} {{{{ flow_run.state.name | lower }}}}"
    body = "\n".join([
        f"{_TITLE}Job: {{{{ title }}}}",
        "Status: {{ flow_run.state.name }}",
        _OUTCOME,
        f"Elapsed: {_ELAPSED}",
        f"Monitor: {monitor_url.rstrip('/')}/?job={job_id}",
        f"Prefect: {prefect_ui_url.rstrip('/')}/runs/flow-run/{{{{ flow_run.id }}}}",
    ])
    return subject, body
