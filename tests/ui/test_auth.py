"""The login gate under AppTest: with ``-- --auth oidc`` nothing of any job shows before the login."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import ui.auth

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
PROVIDER = {
    "client_id": "00000000-0000-0000-0000-000000000001",
    "client_secret": "client-s3cr3t",
    "server_metadata_url": "https://login.microsoftonline.com/tenant/v2.0/.well-known/openid-configuration",
}
AUTH = {"redirect_uri": "http://blast.example.org:8501/oauth2callback", "cookie_secret": "c00k1e",
        "microsoft": PROVIDER}


@pytest.fixture
def job(seeded: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    return str(seeded.running(title="Secret project: venom peptides"))


def _page(
    monkeypatch: pytest.MonkeyPatch, auth: str | None, user: dict[str, Any], job_id: str | None = None
) -> AppTest:
    # `blastflow ui` passes `-- --auth MODE`; the app reads it from sys.argv as it reads `--store`.
    monkeypatch.setattr(sys, "argv", ["ui/app.py", *(["--auth", auth] if auth else [])])
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = AUTH
    at.user = user
    if job_id:
        at.query_params["job"] = job_id
    at.run()
    assert not at.exception, at.exception
    return at


def _shown(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "header", "subheader", "text", "caption", "code", "markdown", "info")
             for e in getattr(at, kind)]
    parts += [str(frame.value.to_dict()) for frame in at.dataframe]
    return "\n".join(str(part) for part in parts)


@pytest.mark.parametrize("open_job", [False, True], ids=["list", "job-link"])
def test_login_comes_first_and_hides_every_job(job: str, monkeypatch: pytest.MonkeyPatch, open_job: bool) -> None:
    at = _page(monkeypatch, "oidc", {"is_logged_in": False}, job if open_job else None)
    assert [b.label for b in at.button] == ["Log in with Microsoft"]
    assert not at.dataframe and [t.value for t in at.title] == ["blastflow"]  # not the list's "BLAST jobs"
    assert "venom peptides" not in _shown(at) and job not in _shown(at)
    assert "signed-in users only" in _shown(at)


def test_a_logged_in_user_sees_the_jobs_and_a_log_out(job: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(monkeypatch, "oidc", {"is_logged_in": True, "email": "ana@example.org"})
    assert at.dataframe[0].value["Job id"].tolist() == [job]
    assert [b.label for b in at.sidebar.button] == ["Log out"]
    assert not [b for b in at.main.button if b.label.startswith("Log in")]


def test_without_auth_required_the_list_shows_as_before(job: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(monkeypatch, None, {"email": "test@example.com"})
    assert at.title[0].value == "BLAST jobs"
    assert at.dataframe[0].value["Job id"].tolist() == [job]
    assert not [b for b in at.button if b.label.startswith(("Log in", "Log out"))]


def test_the_examples_in_the_docstrings_hold() -> None:
    result = doctest.testmod(ui.auth)
    assert result.attempted >= 2 and result.failed == 0
