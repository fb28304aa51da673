"""The parameters of a rerun: the same search, with the query as it was searched, as a new linked job."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from blastflow.errors import InputError
from blastflow.model import JobRecord
from blastflow.rerun import rerun_parameters
from blastflow.search import Batch, PreparedRun, SearchSpec, save_spec

OLD = "5d2c8b1e-7f3a-4e6d-9b0c-1a2b3c4d5e6f"
NEW = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
T = datetime(2026, 11, 29, tzinfo=UTC)


def _job(backend: str = "local") -> JobRecord:
    return JobRecord(job_id=OLD, title="kinases", backend=backend, created_at=T, updated_at=T)


def _prepared(job_dir: Path, batches: list[str]) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, text in enumerate(batches):
        path = job_dir / f"batch_{index:03d}.fa"
        path.write_text(text)
        paths.append(Batch(index=index, path=path, sequences=1, residues=3))
    PreparedRun(job_id=OLD, backend="local", program="blastp", workdir=job_dir, config_path=job_dir / "c.json",
                database="db", database_label="db", molecule="prot", batches=paths).save()


def test_the_rerun_searches_the_query_as_it_was_searched_not_the_file_as_it_is_now(tmp_path: Path) -> None:
    user_file = tmp_path / "mine.fasta"
    user_file.write_text(">changed since\nMKV\n")
    job_dir = tmp_path / "jobs" / OLD
    _prepared(job_dir, [">q1\nMKV\n", ">q2\nMKW\n"])
    save_spec(SearchSpec(program="blastp", query=str(user_file), db="/dbs/prot", evalue=1e-3, batch_len=5,
                         options="-seg no"), job_dir)
    params = rerun_parameters(_job("elastic-blast"), job_dir, tmp_path / "inputs", NEW)
    assert Path(str(params["query"])).read_text() == ">q1\nMKV\n>q2\nMKW\n"
    assert params | {"query": None} == {
        "query": None, "db": "/dbs/prot", "program": "blastp", "options": "-seg no", "evalue": 1e-3,
        "max_target_seqs": 10, "batch_len": 5, "backend": "elastic-blast", "title": "kinases", "job_id": NEW,
        "rerun_of": OLD,
    }


def test_fasta_text_is_given_again_as_text(tmp_path: Path) -> None:
    save_spec(SearchSpec(program="blastp", query=">q1\nMKV\n", db="prot", title="mine"), tmp_path)
    params = rerun_parameters(_job(), tmp_path, tmp_path / "inputs", NEW)
    assert params["query"] == ">q1\nMKV\n" and params["title"] == "mine"


def test_a_job_that_kept_no_search_cannot_be_run_again_and_says_why(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="kept no record of its search") as caught:
        rerun_parameters(_job(), tmp_path / "nothing", tmp_path / "inputs", NEW)
    assert caught.value.code == "no_search_record" and not (tmp_path / "inputs").exists()


def test_a_query_gone_from_everywhere_is_refused_naming_both_places(tmp_path: Path) -> None:
    save_spec(SearchSpec(program="blastp", query=str(tmp_path / "gone.fasta"), db="prot"), tmp_path)
    with pytest.raises(InputError, match=r"gone\.fasta") as caught:
        rerun_parameters(_job(), tmp_path, tmp_path / "inputs", NEW)
    assert caught.value.code == "query_gone"
