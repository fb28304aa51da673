"""The job list under AppTest: newest first, status filter, search, text cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from blastflow.model import JobStatus

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


@pytest.fixture
def jobs(seeded: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    return {"running": seeded.running(), "failed": seeded.failed_with_orphan(), "completed": seeded.completed()}


def _list(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_list_shows_every_job_newest_first_with_badge_program_database_elapsed(jobs: dict[str, str]) -> None:
    at = _list()
    assert at.title[0].value == "BLAST jobs"
    frame = at.dataframe[0].value
    assert frame["Job id"].tolist() == [jobs["completed"], jobs["failed"], jobs["running"]]
    assert frame["Status"].tolist() == ["✓ Completed", "✗ Failed", "● Running"]
    assert frame["Program"].tolist() == ["blastx", "blastp", "blastx"]
    assert frame["Database"].tolist() == ["sinvicta-prot", "swissprot", "sinvicta-prot"]
    assert frame["Progress"].isna().tolist() == [True, True, False] and frame["Progress"][2] == 40.0  # live: 2 of 5
    assert all(frame["Elapsed"].str.match(r"^\d+(\.\d)? (ms|s)$"))
    assert frame["Title"][1].startswith("Crashed submit <script>")  # a cell is text, shown as it is
    assert at.caption[0].value.startswith("3 jobs, newest first.")


def test_status_filter_and_search(jobs: dict[str, str]) -> None:
    at = _list()
    at.multiselect(key="status").select(JobStatus.FAILED).run()
    assert at.dataframe[0].value["Job id"].tolist() == [jobs["failed"]]
    at.multiselect(key="status").unselect(JobStatus.FAILED).run()
    at.text_input(key="q").input("completed").run()
    assert at.dataframe[0].value["Job id"].tolist() == [jobs["completed"]]
    at.text_input(key="q").input(jobs["running"][:8]).run()
    assert at.dataframe[0].value["Job id"].tolist() == [jobs["running"]]
    at.text_input(key="q").input("no such job").run()
    assert not at.dataframe and "No jobs match" in at.info[0].value


def test_filters_come_from_the_url(jobs: dict[str, str]) -> None:
    at = _list(status="Running")  # the URL carries the label a person reads
    assert at.dataframe[0].value["Job id"].tolist() == [jobs["running"]]


def test_empty_store(seeded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", seeded.url)
    at = _list()
    assert "No jobs match" in at.info[0].value
