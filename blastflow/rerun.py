"""Run a search again: the flow parameters of the same search, as a new job linked to the original.

"The same search" means the same query sequences, database, program and parameters. The query is taken from
the job's own directory (the validated FASTA its batches hold), not from the path the user gave: that file may
have changed or gone since. Starting the run is the shell's job (`ops.rerun`: the `blast-search` deployment when
the local stack is up, else the flow in this process); this module only reads and checks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import ValidationError

from blastflow.errors import InputError
from blastflow.model import JobRecord
from blastflow.search import SEARCH_FILE, PreparedRun, SearchSpec, load_spec

__all__ = ["rerun_parameters"]


def rerun_parameters(job: JobRecord, job_dir: Path, inputs_dir: Path, new_job_id: str) -> dict[str, object]:
    """The `blast_search` parameters that run `job`'s search again as job `new_job_id`.

    Raises:
        InputError: the job kept no record of its search, or its query is no longer anywhere.
    """
    spec = _spec(job, job_dir)
    return {
        "query": _query(job, spec, job_dir, inputs_dir),
        "db": spec.db,
        "program": spec.program,
        "options": spec.options,
        "evalue": spec.evalue,
        "max_target_seqs": spec.max_target_seqs,
        "batch_len": spec.batch_len,
        "backend": job.backend,
        "title": spec.title or job.title,
        "job_id": new_job_id,
        "rerun_of": job.job_id,
    }


def _spec(job: JobRecord, job_dir: Path) -> SearchSpec:
    try:
        return load_spec(job_dir)
    except (OSError, ValidationError):
        raise InputError(
            f"job {job.job_id} kept no record of its search ({job_dir / SEARCH_FILE} is missing or unreadable): "
            "it stopped before its query was checked, or ran before reruns existed; start it with `blastflow run`",
            code="no_search_record",
        ) from None


def _query(job: JobRecord, spec: SearchSpec, job_dir: Path, inputs_dir: Path) -> str:
    """FASTA text as it was given; otherwise the query as searched, copied out of the job's directory."""
    if spec.query.lstrip().startswith(">"):
        return spec.query
    searched = _searched_query(job_dir)
    if searched:
        inputs_dir.mkdir(parents=True, exist_ok=True)
        copy = inputs_dir / f"rerun-of-{job.job_id}.fasta"
        with copy.open("wb") as out:
            for part in searched:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out)
        return str(copy)
    if Path(spec.query).is_file():
        return spec.query
    raise InputError(
        f"the query of job {job.job_id} is gone: neither its batches in {job_dir} nor {spec.query} exist; "
        "start the search with `blastflow run` and a query file",
        code="query_gone",
    )


def _searched_query(job_dir: Path) -> list[Path]:
    try:
        files = PreparedRun.load(job_dir).query_files()
    except (OSError, ValidationError):
        return []
    return files if files and all(path.is_file() for path in files) else []
