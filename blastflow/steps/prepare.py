"""Prepare: the checks every search needs, then the backend's own checks, config and batches.

`check_search` holds the rules common to all backends (program, query FASTA,
query molecule against the program, BLAST options against the allow-list);
a backend's `prepare` receives the `CheckedSearch` and adds only its own rules.
What a database can be depends on where BLAST runs (a FASTA file or BLAST
database here, an NCBI name or bucket URL on a cluster), so each backend
resolves it and applies the one shared molecule rule, `programs.check_db_molecule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from blastflow.confine import confine
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.options import search_options
from blastflow.programs import check_program, check_query_molecule
from blastflow.query import is_fasta_text, load_query
from blastflow.search import CheckedSearch, PreparedRun, SearchSpec, save_spec
from blastflow.settings import get_settings
from blastflow.steps.context import StepContext

__all__ = ["check_search", "confined_spec", "prepare"]


def check_search(spec: SearchSpec, input_roots: Sequence[Path] | None = None) -> CheckedSearch:
    """Every check a search needs on any backend; raises `InputError` naming the problem and the fix.

    A query path must lie under `input_roots` (`confined_spec`; default: the configured
    `Settings.input_root_paths`); the checked search carries it resolved.

    Example:
        >>> checked = check_search(SearchSpec(program="blastp", query=">q1\\nMKTAYIAKQR\\n", db="swissprot"), [])
        >>> checked.program, checked.query.count, checked.options
        ('blastp', 1, ['-evalue', '1e-05', '-max_target_seqs', '10'])
    """
    roots = get_settings().input_root_paths() if input_roots is None else input_roots
    spec = confined_spec(spec, roots)
    program = check_program(spec.program)
    query = load_query(spec.query)
    check_query_molecule(program, query.molecule, query.source, query.records[0].id)
    options = search_options(program, spec.options, spec.evalue, spec.max_target_seqs)
    return CheckedSearch(spec=spec, program=program, query=query, options=options)


def confined_spec(spec: SearchSpec, input_roots: Sequence[Path]) -> SearchSpec:
    """The search with its query path resolved, refused unless under `input_roots`; FASTA text passes unchanged.

    Every backend reads the query here. The database is the backend's: the local one confines a database path
    the same way (`confine_database`); ElasticBLAST never reads a local database at all.
    """
    if not spec.query.strip() or is_fasta_text(spec.query):
        return spec
    return spec.model_copy(update={"query": str(confine(spec.query.strip(), input_roots, "query"))})


def prepare(ctx: StepContext, spec: SearchSpec) -> PreparedRun:
    """Check everything before any work starts; bad input raises `InputError` here."""
    ctx.write(JobUpdate(phase=Phase.PREPARING, program=spec.program, title=spec.title or None))
    log = ctx.log(StepName.PREPARE)
    log.add(f"Checking {spec.program} query, options and database")
    checked = check_search(spec, ctx.settings.input_root_paths())
    run = ctx.backend.prepare(ctx.job_id, checked, ctx.settings.job_dir(ctx.job_id))
    save_spec(checked.spec, run.workdir)  # provenance and `blastflow rerun` read it back (paths resolved)
    log.add(f"{run.query_count} queries, {run.query_length:,} residues ({run.molecule})")
    log.add(f"Database: {run.database_label}")
    if run.options:
        log.add(f"BLAST options: {' '.join(run.options)}")
    log.add(_batches_text(run))
    log.close()
    ctx.write(
        JobUpdate(
            database=run.database_label,
            query_count=run.query_count,
            query_length=run.query_length,
            results_location=run.results_location or None,
            steps={
                StepName.PREPARE: StepUpdate(
                    status=StepStatus.COMPLETED,
                    counters={"queries": run.query_count, "batches": len(run.batches)},
                    message=f"{run.query_count} queries; {_batches_text(run)}",
                )
            },
        )
    )
    return run


def _batches_text(run: PreparedRun) -> str:
    """How the query is batched: by us (and why, when the backend says), or by ElasticBLAST's own tuner."""
    if run.batching:
        return run.batching
    if run.batches:
        return f"{len(run.batches)} batches for backend {run.backend}"
    return f"batches sized by the {run.backend} backend itself"
