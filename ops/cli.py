"""The `blastflow` command line: run a search, show and follow jobs, reconcile, start the monitor."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from blastflow.errors import BlastflowError
from blastflow.model import STEP_LABELS, STEP_ORDER, TERMINAL_PHASES, JobRecord, JobStatus, StepName
from blastflow.progress import format_duration

app = typer.Typer(help="BLAST searches orchestrated by Prefect, with live state you can watch.", no_args_is_help=True)

_ROOT = Path(__file__).resolve().parent.parent
# Without PREFECT_API_URL each run starts a temporary Prefect server; on a busy machine it
# can need longer than Prefect's 20 s default to come up.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _store():
    from blastflow.store import open_store

    return open_store()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _job(job_id: str) -> JobRecord:
    job = _store().get(job_id)
    if job is None:
        raise _fail(f"no job {job_id!r}; `blastflow jobs` lists the jobs in this store")
    return job


@app.command()
def run(
    query: Annotated[str, typer.Option(help="Query FASTA file, or FASTA text starting with '>'")],
    db: Annotated[str, typer.Option(help="Database: a FASTA file or an existing BLAST database path")],
    program: Annotated[str, typer.Option(help="blastn, blastp, blastx, tblastn or tblastx")] = "blastp",
    options: Annotated[str, typer.Option(help="Extra BLAST options, e.g. '-word_size 3'")] = "",
    evalue: Annotated[float, typer.Option(help="E-value threshold")] = 1e-5,
    max_target_seqs: Annotated[int, typer.Option(help="Most database sequences per query")] = 10,
    batch_len: Annotated[int | None, typer.Option(help="Residues per batch (default: backend's choice)")] = None,
    backend: Annotated[str, typer.Option(help="local or elastic-blast")] = "local",
    title: Annotated[str, typer.Option(help="Title for the job list")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and show the backend config; submit nothing")
    ] = False,
) -> None:
    """Run a BLAST search through the Prefect flow and print where the results are."""
    _run_search(
        query=query,
        db=db,
        program=program,
        options=options,
        evalue=evalue,
        max_target_seqs=max_target_seqs,
        batch_len=batch_len,
        backend=backend,
        title=title,
        dry_run=dry_run,
    )


@app.command()
def demo() -> None:
    """A real search on the bundled sample data: fire ant transcripts (blastx) against its proteins."""
    from flows.blast_search import SAMPLE_PROTEINS, SAMPLE_TRANSCRIPTS

    _run_search(
        query=SAMPLE_TRANSCRIPTS,
        db=SAMPLE_PROTEINS,
        program="blastx",
        options="",
        evalue=1e-10,
        max_target_seqs=5,
        batch_len=None,
        backend="local",
        title="Demo: S. invicta transcripts vs proteins (blastx)",
    )


# Prefect refuses flow-run parameters much over 512 KB: larger FASTA text travels as a file.
INLINE_QUERY_MAX_CHARS = 256 * 1024


def _query_argument(query: str) -> str:
    """The query as the flow gets it: a path, or FASTA text small enough to be a run parameter."""
    if not query.lstrip().startswith(">") or len(query) <= INLINE_QUERY_MAX_CHARS:
        return query
    from blastflow.model import new_job_id
    from blastflow.settings import get_settings

    inputs = get_settings().data_dir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    path = inputs / f"query-{new_job_id()}.fasta"
    path.write_text(query)
    return str(path)


def _run_search(**params: object) -> None:
    from flows.blast_search import blast_search

    params["query"] = _query_argument(str(params["query"]))
    try:
        result = blast_search(**params)  # type: ignore[arg-type]
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    if result.get("dry_run"):
        _print_dry_run(result)
        return
    job = _job(str(result["job_id"]))
    typer.echo("")
    _print_job(job)
    typer.echo(f"\nHits: {result['hits']}  ({result['hits_path']})")
    typer.echo(f"Watch it: blastflow ui   then open the job {job.job_id}")


def _print_dry_run(result: dict[str, object]) -> None:
    typer.echo(f"Dry run of job {result['job_id']}: every check passed; nothing was submitted.")
    typer.echo(f"Config: {result['config_path']}")
    typer.echo(str(result["config_text"]).rstrip())
    typer.echo(f"Would run: {result['command']}")


@app.command()
def show(job_id: str) -> None:
    """Show a job: phase, error, and each step with its duration and last output."""
    _print_job(_job(job_id), tails=True)


@app.command()
def jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs with this status")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 20,
) -> None:
    """List jobs, newest first."""
    for job in _store().list_jobs(status=status, limit=limit):
        typer.echo(
            f"{job.job_id}  {job.status.value:<9}  {job.phase.value:<13}  {job.created_at:%Y-%m-%d %H:%M}  "
            f"{job.program:<7} {job.title}"
        )


@app.command()
def logs(
    job_id: str,
    step: Annotated[StepName | None, typer.Option(help="Only this step")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job ends")] = False,
) -> None:
    """Print a job's log lines (sanitised), optionally following them live."""
    store = _store()
    _job(job_id)
    cursor: str | None = None
    while True:
        page = store.read_logs(job_id, step=step, after=cursor)
        for line in page.lines:
            typer.echo(f"[{line.step.value}] {line.text}")
        cursor = page.cursor or cursor
        if not follow:
            return
        job = store.get(job_id)
        if job is not None and job.phase in TERMINAL_PHASES and not page.lines:
            return
        time.sleep(1.0)


@app.command()
def reconcile(
    quiet_threshold_s: Annotated[
        float | None, typer.Option(help="Seconds of silence after which a job is lost")
    ] = None,
) -> None:
    """Fail jobs whose flow run crashed, vanished or went quiet (also runs as a scheduled deployment)."""
    from flows.reconcile import reconcile as reconcile_flow

    ids = reconcile_flow(quiet_threshold_s=quiet_threshold_s)
    typer.echo(f"{len(ids)} job(s) marked failed" + (f": {', '.join(ids)}" if ids else ""))


@app.command()
def ui(port: Annotated[int, typer.Option(help="Port for the monitoring page")] = 8501) -> None:
    """Start the Streamlit monitoring page."""
    argv = [sys.executable, "-m", "streamlit", "run", str(_ROOT / "ui" / "app.py"), "--server.port", str(port)]
    raise typer.Exit(subprocess.call(argv, env=os.environ.copy()))


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the Prefect server (UI and API)")] = 4200,
    k8s: Annotated[bool, typer.Option("--k8s", help="Also create the Kubernetes pool and deploy to it")] = False,
    force: Annotated[bool, typer.Option("--force", help="Restart the worker even while it runs searches")] = False,
) -> None:
    """Start (or update) the local Prefect stack: server, work pool, deployments, worker, zombie detection."""
    from ops import stack

    try:
        state = stack.up(port=port, k8s=k8s, force=force, echo=typer.echo)
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    typer.echo("")
    for line in state.lines():
        typer.echo(line)
    typer.echo(
        f"\nStart a search: {state.ui_url}/deployments -> blast-search -> Run (or `prefect deployment run "
        f"blast-search/blast-search` with PREFECT_API_URL={state.api_url})"
        f"\nWatch it:       BLASTFLOW_PREFECT_UI_URL={state.ui_url} blastflow ui"
        "\nStop it all:    blastflow down"
    )


@app.command()
def down(
    force: Annotated[bool, typer.Option("--force", help="Stop it even while searches run (they end too)")] = False,
) -> None:
    """Stop the local Prefect stack that `blastflow up` started (worker, leftover flow runs, server)."""
    from ops import stack

    try:
        stack.down(force=force, echo=typer.echo)
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def status() -> None:
    """Show what of the local Prefect stack is running, and where."""
    from ops import stack

    for line in stack.status().lines():
        typer.echo(line)


def _print_job(job: JobRecord, *, tails: bool = False) -> None:
    end = job.updated_at if job.is_terminal else datetime.now(UTC)
    typer.echo(f"Job {job.job_id}: {job.title}")
    typer.echo(
        f"  {job.status.value} ({job.phase.value}) after {format_duration((end - job.created_at).total_seconds())}"
        f"; {job.program} vs {job.database or '-'}; backend {job.backend}; code {job.code_version or '-'}"
    )
    if job.error:
        typer.secho(f"  error: {job.error}", fg=typer.colors.RED)
    for name in STEP_ORDER:
        step = job.steps[name]
        took = f" in {format_duration(step.duration_ms / 1000)}" if step.duration_ms is not None else ""
        detail = f" — {step.message}" if step.message else ""
        typer.echo(f"  {STEP_LABELS[name]:<18} {step.status.value}{took}{detail}")
        if tails and step.last_output:
            for line in step.last_output.splitlines()[-5:]:
                typer.echo(f"      {line}")
    if job.results_location:
        typer.echo(f"  results: {job.results_location}")


if __name__ == "__main__":
    app()
