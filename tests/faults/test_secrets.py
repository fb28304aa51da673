"""Secrets printed by a child CLI during a real flow run reach no sink: store, Prefect logs, artifacts, page.

The `elastic-blast` the flow runs is a wrapper double that prints every secret form of
tests/sanitise_corpus.py (34, registered values included) and the store's own
connection string (an environment dump) on stdout and stderr, then hands over to the
fake ElasticBLAST. The production submit and streaming code reads them, as it reads
any child. Once the run has completed (or failed at submit, with a secret in its
error line), no secret may be found in the job row, any stored log line, the raw
Table storage files, the Prefect logs, state messages and artifacts of the run, or
any text of the rendered job page. Each sink must also show the masked lines, so an
empty sink cannot pass for a clean one.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from blastflow.errors import SubmitError
from blastflow.model import Phase, StepName
from flows.blast_search import blast_search
from tests.doubles.elb_doubles import PROT_DB, first_records
from tests.doubles.faultkit import elb_wrapper, log_texts, page_strings, render_job_page, wait_for
from tests.sanitise_corpus import AZURITE_KEY, REGISTERED_SECRETS, SAS_QUERY, SAS_SIG, SECRET_CASES, SECRET_LINES

pytestmark = [pytest.mark.slow, pytest.mark.azurite, pytest.mark.timeout(300)]

JOBS = {"completed": "6a7b8c9d-0e1f-4a2b-9c3d-5e6f7a8b9c0d", "submit_failed": "7b8c9d0e-1f2a-4b3c-8d4e-6f7a8b9c0d1e"}
LAST_LINE = "secret corpus printed"
FAILURE_LINE = f"ERROR: azcopy could not reach https://myacct.blob.core.windows.net/results?{SAS_QUERY}"


def _said(store_url: str, blob_url: str) -> list[tuple[str, str, str]]:
    """What the wrapper prints: [stream, text, pause] entries, and the secrets in them."""
    lines = [[("stdout", "stderr")[i % 2], line, 0] for i, (line, _) in enumerate(SECRET_LINES)]
    lines.append(["stderr", f"DEBUG env: BLASTFLOW_STORE_URL={store_url}", 0])
    lines.append(["stdout", f"DEBUG env: BLASTFLOW_ELB_BLOB_CONNECTION_STRING={blob_url}", 0])
    lines.append(["stdout", LAST_LINE, 0])
    return lines


def _secrets(store_url: str) -> list[str]:
    found = {secret for _, secret in SECRET_LINES} | set(REGISTERED_SECRETS) | {AZURITE_KEY, SAS_SIG}
    return sorted(found | {store_url.split("AccountKey=")[1].split(";")[0]})


def _leaks(texts: list[str], secrets: list[str]) -> list[tuple[str, str]]:
    return [(secret, text[:200]) for text in texts for secret in secrets if secret in text]


@pytest.mark.parametrize("outcome", ["completed", "submit_failed"])
def test_no_secret_from_child_output_reaches_any_sink(
    azure_pipeline, elb_world, azurite_private, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    job_id, store, store_url = JOBS[outcome], azure_pipeline, azurite_private.connection_string
    said = _said(store_url, elb_world.connection_string)
    if outcome == "submit_failed":
        said.append(["stderr", FAILURE_LINE, 0])
        monkeypatch.setenv("FAULTS_ELB_SAY_EXIT", "7")
    (tmp_path / "say.json").write_text(json.dumps(said))
    monkeypatch.setenv("BLASTFLOW_ELB_EXECUTABLE", str(elb_wrapper(tmp_path / "bin")))
    monkeypatch.setenv("FAULTS_ELB_SAY", str(tmp_path / "say.json"))
    secrets = _secrets(store_url)

    search = {"query": first_records("prot", 4), "db": PROT_DB, "program": "blastp", "batch_len": 400,
              "backend": "elastic-blast", "job_id": job_id}  # fmt: skip
    if outcome == "completed":
        assert blast_search(**search)["phase"] == "completed"
    else:
        with pytest.raises(SubmitError):
            blast_search(**search)
    job = store.get(job_id)
    assert job.phase.value == outcome

    # -- the store: the row and every stored line (and the masked lines did arrive) --------------------------
    lines = log_texts(store, job_id)
    submit_lines = log_texts(store, job_id, StepName.SUBMIT)
    assert LAST_LINE in submit_lines
    single_line = [case.expected for case in SECRET_CASES if "\n" not in case.line]
    assert set(single_line) <= set(submit_lines), "every secret line was stored, masked"
    assert not _leaks([job.model_dump_json(), *lines], secrets)
    if outcome == "submit_failed":
        assert job.phase is Phase.SUBMIT_FAILED
        assert "exited with code 7" in job.error and "ERROR: azcopy could not reach" in job.error

    # -- Prefect: every log of the run, the run's and its tasks' state messages, its artifacts --------------
    APILogHandler().flush()  # ship what this process still holds
    flow_run_id = UUID(job.flow_run_id)
    with get_client(sync_client=True) as client:

        def run_logs() -> list[str] | None:
            # Every record, page by page (the API gives at most 200 at a time): the Azure fork's submit logs at
            # DEBUG, the Azure SDK's request records included, so a run has several hundred.
            logs: list = []
            while len(page := client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                                               limit=200, offset=len(logs))) == 200:  # fmt: skip
                logs += page
            logs += page
            ended = any(log.task_run_id is None and log.message.startswith("Finished in state") for log in logs)
            return [log.message for log in logs] if ended else None  # the run's last record is in: all are

        messages = wait_for(run_logs, "the run's logs in the Prefect API", limit_s=60)  # all: up to a short page
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
            any_=[flow_run_id])))  # fmt: skip
    assert set(single_line) <= set(messages), "the masked lines are in the Prefect logs"
    if outcome == "submit_failed":  # where it failed is in the run's log, sanitised like every other line
        assert any(m.startswith("The search failed:\nTraceback") and "exited with code 7" in m for m in messages)
    assert not _leaks(messages, secrets)
    states = [run.state.message or ""] + [task.state.message or "" for task in tasks if task.state]
    assert not _leaks(states, secrets)
    artifact_texts = [json.dumps(a.data) + (a.description or "") for a in artifacts]
    if outcome == "completed":
        assert {a.type for a in artifacts} >= {"markdown", "table", "progress"}
    assert not _leaks(artifact_texts, secrets)

    # -- the page: every string of the rendered job page --------------------------------------------------
    at = render_job_page(store_url, job_id, tab="Run")
    shown = page_strings(at)
    assert not _leaks(shown, secrets)
    if outcome == "submit_failed":  # the failed step's console is open: the masked lines are on the page
        assert any(FAILURE_LINE.split("?")[0] in text for text in shown)
        assert any("AccountKey=***" in text for text in shown)

    # -- the raw Table storage files ----------------------------------------------------------------------
    azurite_private.stop()  # Azurite writes its data files on the way down
    files = [p for p in Path(azurite_private.location).rglob("*") if p.is_file() and p.name != "azurite.log"]
    raw = [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    assert any(job_id in text and LAST_LINE in text for text in raw), "the job and its lines are in these files"
    assert not _leaks(raw, secrets)


# -- error messages built from input files ---------------------------------------------------------------------

FILE_SECRET = "hunter2-FROM-A-FILE"
INPUT_FILES = {  # name: (what the file holds, where it is given, a word of the error the row must carry)
    "a config file under the roots as the query": (f"root:x:0:0:{FILE_SECRET}:/root:/bin/bash\n", "query",
                                                  "is not FASTA: line 1"),
    "a config file under the roots as the database": (f"db_password_hint {FILE_SECRET}\n>q\nMKV\n", "db",
                                                      "is not FASTA: line 1"),
    "a secret-bearing file outside the roots": (f"{FILE_SECRET}\n", "query-outside", "is outside the directories"),
    "a secret-looking duplicate FASTA id": (f">password={FILE_SECRET}\nMKVLA\n>password={FILE_SECRET}\nMKVLA\n",
                                            "query", "duplicate id 'password=***'"),
}  # fmt: skip


@pytest.mark.parametrize("case", INPUT_FILES)
def test_no_content_of_an_input_file_reaches_any_sink(
    pipeline, sample_fasta, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """A run given a file that is not a good FASTA fails naming the line, never quoting a secret from it."""
    from blastflow.model import new_job_id
    from blastflow.settings import get_settings

    text, given_as, said = INPUT_FILES[case]
    inside, outside = tmp_path / "inputs", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    path = (outside if given_as == "query-outside" else inside) / "input.fasta"
    path.write_text(text)
    roots = [inside, sample_fasta["db_prot"].parent, Path(__file__).resolve().parents[2]]
    monkeypatch.setenv("BLASTFLOW_INPUT_ROOTS", ":".join(str(root) for root in roots))
    get_settings.cache_clear()
    search = {"query": str(sample_fasta["query_prot"]), "db": str(sample_fasta["db_prot"]), "program": "blastp"}
    search["db" if given_as == "db" else "query"] = str(path)
    job_id = new_job_id()

    with pytest.raises(Exception) as caught:
        blast_search(**search, job_id=job_id)

    job = pipeline.get(job_id)
    assert job.phase is Phase.FAILED and said in job.error, job.error
    assert FILE_SECRET not in str(caught.value)
    assert not _leaks([job.model_dump_json(), *log_texts(pipeline, job_id)], [FILE_SECRET])
    messages, states = _prefect_texts(UUID(job.flow_run_id))
    assert any(said in message for message in messages), "the error is in the Prefect logs"
    assert not _leaks(messages + states, [FILE_SECRET])
    shown = page_strings(render_job_page(get_settings().store_url.get_secret_value(), job_id, tab="Run"))
    assert any(said in text for text in shown), "the page shows the error"
    assert not _leaks(shown, [FILE_SECRET])


def _prefect_texts(flow_run_id: UUID) -> tuple[list[str], list[str]]:
    """Every log message of a flow run that has ended, and its and its tasks' state messages."""
    APILogHandler().flush()
    with get_client(sync_client=True) as client:

        def run_logs() -> list[str] | None:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200)
            ended = any(log.task_run_id is None and log.message.startswith("Finished in state") for log in logs)
            return [log.message for log in logs] if ended else None

        messages = wait_for(run_logs, "the run's logs in the Prefect API", limit_s=60)
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return messages, [run.state.message or ""] + [task.state.message or "" for task in tasks if task.state]
