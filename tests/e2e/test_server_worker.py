"""A real `prefect server` and process worker from `blastflow up`: a search started like the UI's Run button.

The tests run in file order on one stack: a search completes, a deployment made from other code refuses to
run (fix J), `up` leaves a running search alone, `up --notify` sends one message per search that completes,
fails or is killed, `up` again replaces the worker and duplicates nothing, `down` leaves no process behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from blastflow.backends import get_backend
from blastflow.errors import ConfigError
from blastflow.hits import HITS_FILE, read_hits
from blastflow.model import JobStatus, Phase, StepStatus
from blastflow.process import stop
from blastflow.search import PreparedRun
from blastflow.store import open_store
from ops import notify, prefect_admin, stack
from ops.processes import live_searches
from ops.stack_files import StackFiles
from tests.e2e.local_stack import STACK_TIMEOUT_S, LocalStack, wait_for_final_state

pytestmark = pytest.mark.e2e


def _run_like_the_ui(local: LocalStack, deployment: str, parameters: dict[str, object]) -> object:
    """POST /deployments/{id}/create_flow_run with the form's parameters: what the Run button sends."""
    with local.client() as client:
        target = client.read_deployment_by_name(deployment)
        run = client.create_flow_run_from_deployment(target.id, parameters=parameters)
    return wait_for_final_state(local, run.id)


def _search(sample_fasta: dict[str, Path], title: str) -> dict[str, object]:
    return {"query": str(sample_fasta["query_prot"]), "db": str(sample_fasta["db_prot"]), "program": "blastp",
            "title": title}


def test_up_brings_the_whole_stack(local_stack: LocalStack) -> None:
    status = local_stack.status
    assert status.healthy and status.server_pid and status.worker_pid
    assert status.code_version == local_stack.code_version
    assert status.deployments == ["blast-search", "reconcile", "sample-search-nightly"]
    with local_stack.client() as client:
        deployments = {d.name: d for d in client.read_deployments()}
        assert set(deployments) == set(status.deployments)
        assert {d.version for d in deployments.values()} == {local_stack.code_version}  # fix J: pinned
        assert deployments["blast-search"].work_pool_name == prefect_admin.LOCAL_POOL
        assert deployments["blast-search"].pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(prefect_admin.ROOT)}}
        ]
        # The UI's run form: typed, documented parameters from the flow signature.
        schema = deployments["blast-search"].parameter_openapi_schema["properties"]
        assert schema["program"]["enum"][:2] == ["blastn", "blastp"] and schema["query"]["description"]
        reconcile_schedules = deployments["reconcile"].schedules
        assert [s.schedule.interval.total_seconds() for s in reconcile_schedules] == [900]  # events do the rest
        assert all(s.active for s in reconcile_schedules)
        nightly = deployments["sample-search-nightly"].schedules
        assert [(s.schedule.cron, s.active) for s in nightly] == [("0 3 * * *", False)]
        automations = client.read_automations_by_name(prefect_admin.ZOMBIE_AUTOMATION)
        assert len(automations) == 1 and automations[0].enabled
        assert automations[0].trigger.within.total_seconds() == prefect_admin.ZOMBIE_WITHIN_S
        settle = client.read_automations_by_name(prefect_admin.RECONCILE_AUTOMATION)
        assert len(settle) == 1 and settle[0].actions[0].deployment_id == deployments["reconcile"].id


def test_a_search_started_like_the_run_button_completes(local_stack: LocalStack, sample_fasta) -> None:
    run = _run_like_the_ui(local_stack, "blast-search/blast-search", _search(sample_fasta, "e2e from the UI"))

    assert run.state.is_completed(), f"{run.state.type}: {run.state.message}"
    store = open_store(local_stack.store_url)
    try:
        job = store.get(str(run.id))  # no job_id given: the flow run id is the job id
    finally:
        store.close()
    assert job is not None, "the worker wrote no job row to the stack's store"
    assert (job.phase, job.status) == (Phase.COMPLETED, JobStatus.COMPLETED)
    assert job.flow_run_id == str(run.id) and job.title == "e2e from the UI"
    assert job.code_version == local_stack.code_version
    assert {name: step.status for name, step in job.steps.items()} == dict.fromkeys(job.steps, StepStatus.COMPLETED)
    hits = read_hits(Path(job.results_location) / HITS_FILE)
    assert hits and all(hit.query for hit in hits)  # 12 fire ant proteins against 150 of their own: hits
    assert Path(job.results_location).is_relative_to(local_stack.data_dir)  # the stack's data dir, not ~


def test_run_again_goes_through_the_deployment_when_the_stack_is_up(local_stack: LocalStack) -> None:
    """`blastflow rerun` (and the page's Run again) of the search above: a run of the worker, linked to it."""
    from blastflow.model import new_job_id
    from blastflow.provenance import PROVENANCE_FILE, read_provenance
    from blastflow.settings import Settings
    from ops.rerun import start_rerun

    store = open_store(local_stack.store_url)
    try:
        (original,) = [job for job in store.list_jobs() if job.title == "e2e from the UI"]
        started = start_rerun(original, Settings(data_dir=local_stack.data_dir), new_job_id())
        assert started.via == "deployment" and started.result is None  # handed over, not run here
        run = wait_for_final_state(local_stack, started.flow_run_id)
        again = store.get(started.job_id)
    finally:
        store.close()
    assert run.state.is_completed(), f"{run.state.type}: {run.state.message}"
    assert again is not None and again.rerun_of == original.job_id and again.flow_run_id == started.flow_run_id
    first, second = (read_provenance(Path(job.results_location) / PROVENANCE_FILE) for job in (original, again))
    assert second.query.sha256 == first.query.sha256 and second.hits == first.hits > 0
    assert second.rerun_of == original.job_id and second.flow_run_id == started.flow_run_id
    prefect_home, deadline = StackFiles.of(local_stack.data_dir).prefect_home, time.monotonic() + 60
    while started.flow_run_id in live_searches(prefect_home):  # gone before the next test counts searches
        assert time.monotonic() < deadline, "the rerun's processes linger after it finished"
        time.sleep(0.2)


def test_the_flow_runs_send_heartbeats(local_stack: LocalStack, sample_fasta) -> None:
    """The zombie automation has something to watch: worker-run flows emit prefect.flow-run.heartbeat."""
    with local_stack.client() as client:
        runs = [r for r in client.read_flow_runs() if r.state is not None and r.state.is_completed()]
        assert runs
        deadline, beats = time.monotonic() + 60, []
        while not beats and time.monotonic() < deadline:  # events reach the database in batches
            body = {"filter": {"event": {"name": ["prefect.flow-run.heartbeat"]},
                               "resource": {"id": [f"prefect.flow-run.{r.id}" for r in runs]}}, "limit": 50}
            beats = client.request("POST", "/events/filter", json=body).json()["events"]
            time.sleep(2)
    assert beats, "no flow-run heartbeat reached the server"


def test_a_deployment_made_from_other_code_refuses_to_run(local_stack: LocalStack, sample_fasta) -> None:
    """Fix J: the worker's code is not what the deployment was made from, so the run fails at once, saying so."""
    from prefect.client.schemas.actions import DeploymentUpdate

    with local_stack.client() as client:
        target = client.read_deployment_by_name("blast-search/blast-search")
        client.update_deployment(target.id, DeploymentUpdate(version="0.0.9+stale"))
    try:
        run = _run_like_the_ui(local_stack, "blast-search/blast-search", _search(sample_fasta, "stale"))
    finally:
        with local_stack.client() as client:
            client.update_deployment(target.id, DeploymentUpdate(version=local_stack.code_version))

    assert run.state.is_failed()
    expected = f"this worker runs code {local_stack.code_version} but the deployment 'blast-search' was made from " \
               "0.0.9+stale: restart the worker with `blastflow up`"
    assert expected in run.state.message
    store = open_store(local_stack.store_url)
    try:
        job = store.get(str(run.id))
    finally:
        store.close()
    assert job.phase is Phase.FAILED and job.error_code == "stale_code" and expected in job.error
    assert all(step.status is not StepStatus.COMPLETED for step in job.steps.values())  # no work was done


def test_up_while_a_search_runs_leaves_it_running(local_stack: LocalStack, sample_fasta) -> None:
    """Restarting the worker would kill its searches: `up` refuses (unless --force), and the search completes."""
    files = StackFiles.of(local_stack.data_dir)
    with local_stack.client() as client:
        target = client.read_deployment_by_name("blast-search/blast-search")
        run = client.create_flow_run_from_deployment(target.id, parameters=_search(sample_fasta, "during up"))
    deadline = time.monotonic() + 120
    while str(run.id) not in live_searches(files.prefect_home):
        assert time.monotonic() < deadline, "the search never started"
        time.sleep(0.2)

    with pytest.raises(ConfigError, match=r"1 search\(es\) are running on this stack .*`blastflow up --force`"):
        local_stack.up()

    assert stack.status(data_dir=local_stack.data_dir).worker_pid == local_stack.status.worker_pid
    assert wait_for_final_state(local_stack, run.id).state.is_completed()
    deadline = time.monotonic() + 60
    while lingering := live_searches(files.prefect_home):  # the flow and its BLAST supervisor end after it
        assert time.monotonic() < deadline, f"processes of a finished search linger: {lingering}"
        time.sleep(0.2)


class _Receiver:
    """A webhook service on this machine: records the path and JSON body of each POST it gets."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str]]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages_about(self, run_ids: list[str], timeout_s: float = 120.0) -> dict[str, list[dict[str, str]]]:
        """The messages naming each run (its Prefect link), once every run has one or the deadline passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = {run: [body for _, body in self.posts if f"/runs/flow-run/{run}" in body.get("text", "")]
                     for run in run_ids}
            if all(found.values()) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


def test_a_search_that_ends_notifies_the_webhook_once_without_secrets(local_stack: LocalStack, sample_fasta,
                                                                      tmp_path: Path) -> None:
    """`up --notify URL`: a completed and a failed search started like the Run button each send one message."""
    receiver = _Receiver()
    url = f"{receiver.url}/hook?token=t0kenSecret9"  # a webhook URL carries a token
    try:
        local_stack.status = stack.up(port=local_stack.port, data_dir=local_stack.data_dir, env=local_stack.env,
                                      echo=local_stack.log.append, timeout_s=STACK_TIMEOUT_S, notify_url=url)
        done = _run_like_the_ui(local_stack, "blast-search/blast-search", _search(sample_fasta, "notify: ants"))
        sas_query = str(tmp_path / "missing" / "q.fasta?sv=2022-11-02&sig=S3CRETsig0123")  # the error quotes it
        failed = _run_like_the_ui(local_stack, "blast-search/blast-search",
                                  {**_search(sample_fasta, ""), "query": sas_query})
        crashed = _kill_a_search(local_stack, sample_fasta)
        messages = receiver.messages_about([str(done.id), str(failed.id), str(crashed.id)])
    finally:
        receiver.server.shutdown()

    assert done.state.is_completed() and failed.state.is_failed() and crashed.state.is_crashed()
    assert [len(found) for found in messages.values()] == [1, 1, 1], f"one message per run: {receiver.posts}"
    (lost,) = messages.pop(str(crashed.id))  # Prefect's own Crashed state: none of our code ran
    assert lost["title"] == "blastflow: notify: killed crashed"
    assert f"Status: Crashed\nError: {crashed.state.message}\nElapsed: " in lost["text"]
    store = open_store(local_stack.store_url)
    try:
        hits = len(read_hits(Path(store.get(str(done.id)).results_location) / HITS_FILE))
    finally:
        store.close()
    (ok,), (bad,) = messages.values()
    assert ok["title"] == "blastflow: notify: ants completed"
    assert ok["text"].splitlines() == [
        "Job: notify: ants", "Status: Completed", f"Hits: {hits} hits", ok["text"].splitlines()[3],
        f"Monitor: http://localhost:8501/?job={done.id}",
        f"Prefect: {local_stack.status.ui_url}/runs/flow-run/{done.id}",
    ]
    assert re.fullmatch(r"Elapsed: \d+:\d\d:\d\d", ok["text"].splitlines()[3])
    assert bad["title"] == "blastflow: blastp q.fasta failed"  # the flow's default title, without the SAS
    assert "Status: Failed" in bad["text"] and f"/?job={failed.id}" in bad["text"]
    assert "Error: InputError: query file '" in bad["text"] and "q.fasta?sv=2022-11-02&sig=***' does not exist" \
        in bad["text"]
    _assert_secret_nowhere("S3CRETsig0123", str(receiver.posts), failed.state.message)
    # The webhook's token went to the webhook only: not in up's output, the stack's files or the automation.
    assert {path for path, _ in receiver.posts} == {"/hook?token=t0kenSecret9"}
    files = StackFiles.of(local_stack.data_dir)
    with local_stack.client() as client:
        automations = client.read_automations_by_name(notify.NOTIFY_AUTOMATION)
    assert len(automations) == 1
    _assert_secret_nowhere("t0kenSecret9", "\n".join(local_stack.log), files.state.read_text(),
                           files.server_log.read_text(), files.worker_log.read_text(),
                           automations[0].model_dump_json(), "\n".join(local_stack.status.lines()))
    assert f"Notifications on: a webhook message to {receiver.url}/*** when a blast-search run ends" in local_stack.log
    _set_again_then_remove_then_set(local_stack, url)


def _set_again_then_remove_then_set(local_stack: LocalStack, url: str) -> None:
    """Setting it again (as `up --notify` does) updates in place; `--no-notify` removes both; set again for later."""
    def count() -> tuple[int, int]:
        with local_stack.client() as client:
            blocks = [b for b in client.read_block_documents() if b.name == notify.NOTIFY_BLOCK]
            return len(client.read_automations_by_name(notify.NOTIFY_AUTOMATION)), len(blocks)

    notify.ensure_notifications(local_stack.api_url, url, "webhook", "http://localhost:8501", local_stack.log.append)
    assert count() == (1, 1)
    notify.remove_notifications(local_stack.api_url, local_stack.log.append)
    assert count() == (0, 0)
    notify.ensure_notifications(local_stack.api_url, url, "webhook", "http://localhost:8501", local_stack.log.append)
    assert count() == (1, 1)


def _kill_a_search(local: LocalStack, sample_fasta: dict[str, Path]) -> Any:
    """A search whose flow-run process is SIGKILLed mid-run: its worker reports it Crashed."""
    parameters = {"query": str(sample_fasta["many_prot"]), "db": str(sample_fasta["db_prot"]), "program": "blastp",
                  "batch_len": 400, "title": "notify: killed"}  # many small batches: still running when killed
    with local.client() as client:
        target = client.read_deployment_by_name("blast-search/blast-search")
        run = client.create_flow_run_from_deployment(target.id, parameters=parameters)
    store, run_dir = open_store(local.store_url), local.data_dir / "jobs" / str(run.id)
    try:
        deadline = time.monotonic() + 120
        while (job := store.get(str(run.id))) is None or job.phase not in {Phase.SUBMITTED, Phase.RUNNING}:
            assert time.monotonic() < deadline and not (job and job.is_terminal), "the search never ran"
            time.sleep(0.2)
        os.killpg(job.pid, signal.SIGKILL)
        return wait_for_final_state(local, run.id)
    finally:
        if (run_dir / "run.json").exists():  # the detached BLAST supervisor outlives its flow: stop it
            get_backend("local").cancel(PreparedRun.load(run_dir))
        store.close()
        _wait_until_gone(local, str(run.id))


def _wait_until_gone(local: LocalStack, run_id: str, timeout_s: float = 60.0) -> None:
    """The later tests restart and stop the stack, which a live search forbids: its processes must end first."""
    prefect_home = StackFiles.of(local.data_dir).prefect_home
    deadline = time.monotonic() + timeout_s
    while run_id in live_searches(prefect_home) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in live_searches(prefect_home).get(run_id, []):
        stop(pid)


def _assert_secret_nowhere(secret: str, *texts: str) -> None:
    assert not [text for text in texts if secret in text], f"{secret} leaked"


def test_up_again_replaces_the_worker_and_duplicates_nothing(local_stack: LocalStack) -> None:
    """`blastflow up --k8s` on the running stack: same server, a new worker, one of everything, plus the k8s pool."""
    before = local_stack.status
    after = local_stack.up(k8s=True)

    assert after.server_pid == before.server_pid  # the healthy server is kept
    assert after.worker_pid != before.worker_pid and after.healthy
    assert not _alive(before.worker_pid), "the earlier worker still runs beside the new one (fix J)"
    assert after.deployments == ["blast-search", "blast-search-k8s", "reconcile", "sample-search-nightly"]
    with local_stack.client() as client:
        assert sorted(d.name for d in client.read_deployments()) == after.deployments
        k8s = client.read_deployment_by_name("blast-search/blast-search-k8s")
        assert k8s.work_pool_name == prefect_admin.K8S_POOL and k8s.version == local_stack.code_version
        assert k8s.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/blastflow"}}]
        assert k8s.job_variables["service_account_name"] == "blastflow-flow"
        pool = client.read_work_pool(prefect_admin.K8S_POOL)
        assert pool.type == "kubernetes" and pool.base_job_template == prefect_admin.base_job_template("kubernetes")
        assert len(client.read_automations_by_name(prefect_admin.ZOMBIE_AUTOMATION)) == 1
        assert len(client.read_automations_by_name(prefect_admin.RECONCILE_AUTOMATION)) == 1
        assert len(client.read_automations_by_name(notify.NOTIFY_AUTOMATION)) == 1  # `up` without --notify keeps it
        assert len(client.read_deployment_by_name("reconcile/reconcile").schedules) == 1
        assert [w.name for w in client.read_workers_for_work_pool(prefect_admin.LOCAL_POOL)] == [
            StackFiles.of(local_stack.data_dir).worker_name
        ]


def test_down_stops_everything_up_started(local_stack: LocalStack) -> None:
    running = local_stack.status
    stopped = local_stack.down()

    assert {running.server_pid, running.worker_pid} <= set(stopped)
    assert not [pid for pid in stopped if _alive(pid)]
    now = stack.status(data_dir=local_stack.data_dir)
    assert (now.server_pid, now.worker_pid, now.other_pids) == (None, None, [])  # no flow run left either
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", local_stack.port), timeout=1).close()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")
