"""Which store the page opens, and what it says when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from blastflow.settings import Settings
from ui.connection import store_url

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


def test_the_command_line_store_wins_over_the_settings(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/env.db", data_dir=tmp_path)
    assert store_url(["--store", f"sqlite:///{tmp_path}/cli.db"], settings) == f"sqlite:///{tmp_path}/cli.db"
    assert store_url(["--server.port", "1"], settings) == f"sqlite:///{tmp_path}/env.db"


def test_without_either_the_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BLASTFLOW_STORE_URL", "BLASTFLOW_TABLE_SECRET_BLOCK", "BLASTFLOW_AZURE_CREDENTIALS_BLOCK"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path)
    assert store_url([], settings) == f"sqlite:///{tmp_path / 'blastflow.db'}"


def test_a_bad_store_url_is_a_clear_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", "postgres://nobody@nowhere/jobs")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert at.error[0].value.startswith("The job store could not be opened.")
    assert at.code and at.code[0].value  # the store's own explanation, as text


def test_no_page_file_renders_html() -> None:
    """Job text must never become markup: no page file may use the HTML escape hatches."""
    sources = {path.name: path.read_text() for path in (Path(APP).parent).glob("*.py")}
    assert "app.py" in sources and "logs.py" in sources
    for name, text in sources.items():
        for hatch in ("unsafe_allow_html", "st.html", "components.html", "st.components"):
            assert hatch not in text, f"{name} uses {hatch}"


def test_the_examples_in_the_docstrings_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest

    import ui.connection

    monkeypatch.delenv("BLASTFLOW_STORE_URL", raising=False)
    result = doctest.testmod(ui.connection)
    assert result.attempted >= 2 and result.failed == 0
