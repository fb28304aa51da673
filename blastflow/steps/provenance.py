"""Finalize's record of what produced the results: `provenance.json` and `no_hits.txt` beside them."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from blastflow.model import utcnow
from blastflow.programs import PROGRAMS
from blastflow.provenance import (
    NO_HITS_FILE,
    PROVENANCE_FILE,
    Provenance,
    QueryInfo,
    archive_blast_version,
    database_info,
    file_sha256,
    query_ids,
    relative_command,
    write_no_hits,
    write_provenance,
)
from blastflow.search import PreparedRun, SearchSpec, load_spec
from blastflow.steps.context import StepContext

__all__ = ["record_provenance"]


def record_provenance(
    ctx: StepContext, run: PreparedRun, results_dir: Path, *, archives: list[Path], blastdb: Path | None,
    hits: int, hit_queries: set[str],
) -> tuple[Provenance, list[str]]:
    """Write `no_hits.txt` and `provenance.json` into `results_dir`; return the record and the queries without hits."""
    files = run.query_files()
    readable = bool(files) and all(path.is_file() for path in files)  # gone only if removed by hand
    without = write_no_hits(results_dir / NO_HITS_FILE, query_ids(files), hit_queries) if readable else []
    job = ctx.store.get(ctx.job_id)
    spec = _spec(run)
    backend = ctx.backend.provenance(run)
    record = Provenance(
        job_id=run.job_id,
        rerun_of=job.rerun_of if job else None,
        flow_run_id=job.flow_run_id if job else None,
        code_version=job.code_version if job else None,
        backend=run.backend,
        profile=backend.profile,
        program=run.program,
        blast_version=archive_blast_version(archives[0]) if archives else "",
        parameters=_parameters(spec, run),
        query=QueryInfo(
            source=_query_source(spec), sequences=run.query_count, letters=run.query_length,
            sha256=file_sha256(files) if readable else "",
            note="" if readable else f"the query as searched is no longer in {run.workdir}",
        ),
        database=database_info(run.database, PROGRAMS[run.program][1], blastdb),
        commands=[relative_command(argv, run.workdir) for argv in backend.commands],
        commands_note=backend.note,
        hits=hits,
        queries_without_hits=len(without),
        recorded_at=utcnow(),
    )
    write_provenance(results_dir / PROVENANCE_FILE, record)
    return record, without


def _spec(run: PreparedRun) -> SearchSpec | None:
    """The search as asked for; None for a run prepared before jobs kept it."""
    try:
        return load_spec(run.workdir)
    except (OSError, ValidationError):
        return None


def _query_source(spec: SearchSpec | None) -> str:
    if spec is None:
        return "unknown"
    return "FASTA text" if spec.query.lstrip().startswith(">") else spec.query


def _parameters(spec: SearchSpec | None, run: PreparedRun) -> dict[str, object]:
    """Every search parameter as given (the query by its source), and the BLAST options as checked."""
    given = spec.model_dump(exclude={"query"}) if spec is not None else {"program": run.program, "db": run.database}
    return {"query": _query_source(spec), **given, "blast_options": " ".join(run.options)}
