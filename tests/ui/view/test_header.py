"""The job page header: title, badge, times from the steps, and a Prefect link that cannot be steered."""

from __future__ import annotations

from datetime import timedelta

from blastflow.merge import JobUpdate
from blastflow.model import PHASE_MESSAGES, Phase
from tests.ui.view.jobs import T0, make_job
from ui.view.header import job_header, prefect_run_url


def test_header_of_a_finished_job() -> None:
    job = make_job(
        JobUpdate(phase=Phase.PREPARING, title="Ant proteins", program="blastp", database="sp", query_count=3),
        JobUpdate(phase=Phase.RUNNING, flow_run_id="0b1c-2d"),
        JobUpdate(phase=Phase.COMPLETED),
        step_s=30,
    )
    header = job_header(job, T0 + timedelta(days=1), prefect_ui_url="http://127.0.0.1:4200")
    assert header.title == "Ant proteins"
    assert header.badge.label == "Completed"
    assert header.phase_message == PHASE_MESSAGES[Phase.COMPLETED]
    assert header.started == "2026-05-22 17:28:04 UTC" and header.finished == "2026-05-22 17:29:04 UTC"
    assert header.elapsed == "1 min 00 s"  # from the steps, not from "now"
    assert header.queries == "3 queries"
    assert header.prefect_url == "http://127.0.0.1:4200/runs/flow-run/0b1c-2d"


def test_header_of_a_live_job_counts_elapsed_to_now_and_has_no_finish() -> None:
    job = make_job(JobUpdate(phase=Phase.PREPARING, program="blastn", database="nt"))
    header = job_header(job, T0 + timedelta(minutes=4, seconds=5))
    assert header.elapsed == "4 min 05 s" and header.finished == "" and header.prefect_url is None
    assert header.title == "blastn against nt search"


def test_prefect_link_cannot_be_steered_by_the_run_id() -> None:
    url = prefect_run_url("https://prefect.example/", "../../evil?x=<script>")
    assert url == "https://prefect.example/runs/flow-run/..%2F..%2Fevil%3Fx%3D%3Cscript%3E"
    assert prefect_run_url("javascript:alert(1)//", "abc") is None
