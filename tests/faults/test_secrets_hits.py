"""Secrets in hit text and in exception messages reach no sink: row, logs, Prefect, artifacts, page.

A real search (local backend, real BLAST+) over a database whose FASTA headers carry an account key, a SAS URL
and tokens, with queries that carry them too (a query id that is a GitHub token): hits.tsv keeps BLAST's text
as it is, and every sink shows it sanitised — the Prefect artifacts (summary, top hits), the Descriptions
table and the Alignments text. Each sink must also show the masked text, so an empty sink cannot pass.

Escape codes cannot come this way: the FASTA checks refuse control characters in headers, and BLAST+ prints
an ESC in a title as "#"; tests/test_summary.py and tests/ui/test_hit_table.py cover them on hit text.

Exception text: a parameter whose error quotes a secret fails the run before the job exists (the text Prefect
would log and keep raw), and the failure hook records a state message carrying a secret and escape codes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from Bio import SeqIO
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import FlowRun

from blastflow.errors import InputError
from blastflow.merge import JobUpdate
from blastflow.model import Phase, new_job_id
from blastflow.settings import get_settings
from flows.blast_search import blast_search
from tests.doubles.faultkit import log_texts, page_strings, render_job_page
from tests.faults.test_secrets import _leaks, _prefect_texts
from tests.sanitise_corpus import ACCOUNT_KEY, GITHUB_TOKEN, OPAQUE_TOKEN, SAS_QUERY, SAS_SIG

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HEADER_SECRETS = (ACCOUNT_KEY, SAS_SIG, GITHUB_TOKEN, OPAQUE_TOKEN)


def _headers(ids: list[str]) -> list[str]:
    """New headers for the first four records: each carries a secret, in the id or the description."""
    return [
        f"{ids[0]} kinase AccountName=acct;AccountKey={ACCOUNT_KEY};",
        f"{ids[1]} mirrored from https://acct.blob.core.windows.net/db/x.fa?{SAS_QUERY}",
        f"{GITHUB_TOKEN} transporter",
        f"{ids[3]} receptor token={OPAQUE_TOKEN}",
    ]


def _inputs(sample_fasta: dict[str, Path], into: Path) -> tuple[Path, Path]:
    """A 40-protein database and 4 queries (its first four records), headers rewritten with secrets."""
    records = list(SeqIO.parse(sample_fasta["db_prot"], "fasta"))[:40]
    headers = _headers([record.id for record in records[:4]])
    into.mkdir(parents=True, exist_ok=True)
    db, query = into / "secret_db.fasta", into / "secret_queries.fasta"
    entries = [f">{headers[i] if i < 4 else record.description}\n{record.seq}\n" for i, record in enumerate(records)]
    db.write_text("".join(entries))
    query.write_text("".join(entries[:4]))
    return query, db


def _artifact_texts(flow_run_id: UUID) -> list[str]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return [json.dumps(a.data) + (a.description or "") for a in artifacts if a.type in ("markdown", "table")]


def test_no_secret_from_hit_text_reaches_any_sink(pipeline, sample_fasta) -> None:
    query, db = _inputs(sample_fasta, get_settings().data_dir / "inputs")
    job_id = new_job_id()

    result = blast_search(query=str(query), db=str(db), program="blastp", job_id=job_id)

    assert result["phase"] == "completed" and result["hits"] > 0
    hits_tsv = Path(result["hits_path"]).read_text()
    assert ACCOUNT_KEY in hits_tsv and GITHUB_TOKEN in hits_tsv, "hits.tsv keeps BLAST's text as it is"
    job = pipeline.get(job_id)
    assert not _leaks([job.model_dump_json(), *log_texts(pipeline, job_id)], list(HEADER_SECRETS))

    # -- Prefect: logs, state messages, and the summary and top-hits artifacts (which show the masked text)
    flow_run_id = UUID(job.flow_run_id)
    messages, states = _prefect_texts(flow_run_id)
    assert not _leaks(messages + states, list(HEADER_SECRETS))
    artifacts = _artifact_texts(flow_run_id)
    assert not _leaks(artifacts, list(HEADER_SECRETS))
    assert any("AccountKey=***" in text for text in artifacts), "the hit text is in the artifacts, masked"

    # -- the page: the Descriptions table and the Alignments text
    store_url = get_settings().store_url.get_secret_value()
    descriptions = page_strings(render_job_page(store_url, job_id, tab="Descriptions"))
    assert not _leaks(descriptions, list(HEADER_SECRETS))
    assert any("AccountKey=***" in text for text in descriptions), "the table shows the hit text, masked"
    alignments = page_strings(render_job_page(store_url, job_id, tab="Alignments"))
    assert not _leaks(alignments, list(HEADER_SECRETS))
    assert any("AccountKey=***" in text for text in alignments), "the alignments name the hits, masked"


RUN_SECRET = "hunter2-rerun-of-secret"


def test_an_exception_quoting_a_secret_reaches_no_sink(pipeline, sample_fasta) -> None:
    """`rerun_of` is checked before the job exists: its error quotes the value, which Prefect would log raw."""
    search = {"query": str(sample_fasta["query_prot"]), "db": str(sample_fasta["db_prot"]), "program": "blastp"}

    state = blast_search(**search, job_id=new_job_id(), rerun_of=f"password={RUN_SECRET}", return_state=True)

    assert state.is_failed()
    messages, states = _prefect_texts(state.state_details.flow_run_id)
    assert any("rerun_of 'password=***'" in text for text in messages), "the error is in the run's log, masked"
    assert not _leaks(messages + states, [RUN_SECRET])
    raised = state.result(raise_on_failure=False)  # what a direct call raises: the same type, sanitised
    assert isinstance(raised, InputError) and "rerun_of 'password=***' is not a job id" in str(raised)
    assert RUN_SECRET not in str(raised) and RUN_SECRET not in repr(raised.args)


def test_the_failure_hook_records_a_state_message_sanitised(pipeline, caplog: pytest.LogCaptureFixture) -> None:
    """A crash's state message is Prefect's own text, quoting the exception raw: the row and the log get it clean."""
    from flows.hooks import _record

    job_id = new_job_id()
    pipeline.update(job_id, JobUpdate(job_id=job_id, phase=Phase.RUNNING))
    url = f"https://acct.blob.core.windows.net/x?{SAS_QUERY}"
    state = SimpleNamespace(message=f"Execution was aborted: \x1b[31mConnectionError\x1b[0m for {url}", name="Crashed")
    flow_run = FlowRun(id=uuid4(), name="secret-hook", flow_id=uuid4(), parameters={"job_id": job_id})
    logger = logging.getLogger("prefect.flow_runs")
    logger.addHandler(caplog.handler)
    try:
        _record(SimpleNamespace(name="blast-search"), flow_run, state, Phase.WORKER_LOST, "Flow run crashed")
    finally:
        logger.removeHandler(caplog.handler)
    job = pipeline.get(job_id)
    assert job.phase is Phase.WORKER_LOST
    assert job.error == "Flow run crashed: Execution was aborted: ConnectionError for https://acct.blob.core.windows.net/x?***"
    said = [record.getMessage() for record in caplog.records]
    assert f"job {job_id} recorded as worker_lost" in said
    assert not _leaks([job.model_dump_json(), *said], [SAS_SIG])
