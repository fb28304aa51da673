"""Which service a notification URL is, how it is shown, and the state messages a notification reads."""

from __future__ import annotations

import pytest

from blastflow.errors import ConfigError, InputError
from blastflow.notify import completed_message, failed_message, masked_url, notify_kind

SLACK = "https://hooks.slack.com/services/T0000/B0000/XXXXsecretXXXX"
TEAMS_LEGACY = "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/tok/en"
TEAMS_WORKFLOW = "https://prod-12.westeurope.logic.azure.com:443/workflows/wf/triggers/manual/paths/invoke?sig=S3CRET"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (SLACK, "slack"),
        ("https://HOOKS.SLACK.COM/services/T/B/X", "slack"),
        (TEAMS_LEGACY, "teams"),
        (TEAMS_WORKFLOW, "teams"),
        ("https://outlook.office.com/webhook/abc", "teams"),
        ("http://127.0.0.1:8080/hook", "webhook"),
        ("https://example.org/slack.com/hooks.slack.com", "webhook"),  # the host decides, not the path
        ("https://hooks.slack.com.evil.example/services/T/B/X", "webhook"),
    ],
)
def test_the_kind_comes_from_the_host(url: str, kind: str) -> None:
    assert notify_kind(url) == kind


def test_a_forced_kind_wins_over_the_host() -> None:
    assert notify_kind(SLACK, forced="webhook") == "webhook"
    assert notify_kind("https://relay.example.org/x", forced="teams") == "teams"


def test_an_unknown_kind_is_refused_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown notification kind 'discord': use one of webhook, slack, teams"):
        notify_kind(SLACK, forced="discord")


@pytest.mark.parametrize("url", ["hooks.slack.com/services/T/B/tok3n", "ftp://host/tok3n", "https:///tok3n", ""])
def test_a_url_that_is_not_http_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL with a host") as caught:
        notify_kind(url)
    assert "tok3n" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (SLACK, "https://hooks.slack.com/***"),
        (TEAMS_WORKFLOW, "https://prod-12.westeurope.logic.azure.com:443/***"),
        ("http://user:pa55word@10.0.0.5:9000/hook?token=abc", "http://10.0.0.5:9000/***"),
    ],
)
def test_a_masked_url_shows_scheme_and_host_only(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_the_completed_message_is_the_hit_count() -> None:
    assert completed_message({"job_id": "j", "hits": 0}) == "0 hits"
    assert completed_message({"hits": 1}) == "1 hit"
    assert completed_message({"dry_run": True, "config_path": "x"}).startswith("dry run")


def test_the_failed_message_has_the_error_and_no_secret() -> None:
    exc = InputError("cannot read the query https://acct.blob.core.windows.net/c/q.fasta?sp=r&sig=Zm9vYmFy%3D: "
                     "no such blob; give a readable FASTA")
    message = failed_message(exc)
    assert message.startswith("InputError: cannot read the query https://acct.blob.core.windows.net/c/q.fasta?")
    assert message.endswith("no such blob; give a readable FASTA")
    assert "Zm9vYmFy" not in message and "sig=" not in message
