"""The `blastflow` command line: run a search, show and follow jobs, reconcile, start the monitor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from blastflow.backends import BACKENDS
from blastflow.errors import BlastflowError
from blastflow.model import STEP_LABELS, STEP_ORDER, TERMINAL_PHASES, JobRecord, JobStatus, StepName
from blastflow.progress import format_duration
from blastflow.search import Program

if TYPE_CHECKING:
    from blastflow.store.base import StateStore
    from ops.run_display import Followed

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
    from blastflow.store.limits import check_job_id

    try:
        check_job_id(job_id)  # before it names a row or a folder
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    job = _store().get(job_id)
    if job is None:
        raise _fail(f"no job {job_id!r}; `blastflow jobs` lists the jobs in this store")
    return job


# `run`'s choices, each built from its one source, so `--help` lists them and Typer refuses others (exit 2).
ProgramChoice = StrEnum("ProgramChoice", {name: name for name in get_args(Program)})
BackendChoice = StrEnum("BackendChoice", {name: name for name in BACKENDS})


@app.command()
def run(
    query: Annotated[str, typer.Option(help="Query FASTA file, or FASTA text starting with '>'")],
    db: Annotated[str, typer.Option(help="Database: a FASTA file or an existing BLAST database path")],
    program: Annotated[ProgramChoice, typer.Option(help="BLAST program")] = ProgramChoice["blastp"],
    options: Annotated[str, typer.Option(help="Extra BLAST options, e.g. '-word_size 3'")] = "",
    evalue: Annotated[float, typer.Option(help="E-value threshold")] = 1e-5,
    max_target_seqs: Annotated[int, typer.Option(help="Most database sequences per query")] = 10,
    batch_len: Annotated[int | None, typer.Option(help="Residues per batch (default: backend's choice)")] = None,
    backend: Annotated[BackendChoice, typer.Option(help="Where BLAST runs")] = BackendChoice["local"],
    title: Annotated[str, typer.Option(help="Title for the job list")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and show the backend config; submit nothing")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Prefect's log lines instead of the progress display")
    ] = False,
) -> None:
    """Run a BLAST search through the Prefect flow and print where the results are.

    Prints the job id first, then its progress (a live display on a terminal, plain lines otherwise) and a
    summary. The search runs in a process of its own, on the `blastflow up` server when that runs (else on
    Prefect's temporary server); its output goes to <data dir>/logs/run-<job id>.log unless --verbose.
    Ctrl-C asks whether to cancel the job or leave it running (without a terminal: left running).

    Exit codes: 0 the job completed; 1 it failed or was cancelled elsewhere (its error on stderr);
    2 a usage error; 130 interrupted by Ctrl-C (the job cancelled, or left running).
    """
    _run_search(
        verbose=verbose,
        query=query,
        db=db,
        program=program.value,
        options=options,
        evalue=evalue,
        max_target_seqs=max_target_seqs,
        batch_len=batch_len,
        backend=backend.value,
        title=title,
        dry_run=dry_run,
    )


@app.command()
def demo(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Prefect's log lines instead of the progress display")
    ] = False,
) -> None:
    """A real search on the bundled sample data: fire ant transcripts (blastx) against its proteins.

    Runs as `blastflow run` does (same display, Ctrl-C and exit codes).
    """
    from blastflow.settings import SAMPLE_DATA_DIR

    samples = SAMPLE_DATA_DIR / "sinvicta"  # flows.blast_search's samples, without importing Prefect here
    _run_search(
        verbose=verbose,
        query=str(samples / "Sinvicta2-2-3.cdna.subset.fasta"),
        db=str(samples / "Sinvicta2-2-3.prot.subset.fasta"),
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


def _allow_current_directory() -> None:
    """The command line reads inputs from the directory it runs in too, unless BLASTFLOW_INPUT_ROOTS says otherwise.

    Set in the environment (not passed as a flow parameter, which anyone starting a run could set), so the
    flow run in this process and the processes it starts see the same roots.
    """
    from blastflow.confine import INPUT_ROOTS_ENV
    from blastflow.settings import get_settings

    if INPUT_ROOTS_ENV in os.environ:
        return
    roots = [*get_settings().input_root_paths(), Path.cwd()]
    os.environ[INPUT_ROOTS_ENV] = os.pathsep.join(str(root) for root in roots)
    get_settings.cache_clear()


def _run_search(*, verbose: bool = False, **params: object) -> None:
    """The job id first, then the search in a process of its own, followed here; a dry run stays here (quick)."""
    from blastflow.model import new_job_id

    job_id = new_job_id()
    typer.echo(f"Job {job_id}")
    _allow_current_directory()
    params["query"] = _query_argument(str(params["query"]))
    if params.pop("dry_run", False):
        _dry_run(job_id, params)
        return
    followed, log = _follow_search(job_id, params, verbose=verbose)
    _finish(followed, log)


def _dry_run(job_id: str, params: dict[str, object]) -> None:
    from flows.blast_search import blast_search

    try:
        result = blast_search(**params, job_id=job_id, dry_run=True)  # type: ignore[arg-type]
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    _print_dry_run(result)


def _follow_search(job_id: str, params: dict[str, object], *, verbose: bool) -> tuple[Followed, Path | None]:
    """Start the search process (on the `blastflow up` server when it answers) and follow it to its end."""
    from blastflow.settings import get_settings
    from ops import run_display, search_process

    data_dir = get_settings().data_dir
    api = search_process.stack_api(os.environ, data_dir)
    log = None if verbose else search_process.log_path(data_dir, job_id)
    server, extra = None, api.env() if api else {}
    if api is None and not os.environ.get("PREFECT_API_URL"):  # Prefect's temporary server, started beside it
        server, extra = search_process.start_temporary_server(os.environ, log)
    process = search_process.start({**params, "job_id": job_id}, {**os.environ, **extra}, log)
    mode = "quiet" if verbose else "live" if sys.stdout.isatty() else "plain"
    followed = run_display.follow(process, job_id, _store(), mode=mode, stack_api_url=api.url if api else None)
    if server is not None and process.poll() is not None:  # ended (or was ended) without stopping its server
        search_process.stop_temporary_server(server.pid)
    return followed, log


def _finish(followed: Followed, log: Path | None) -> None:
    """The summary, and the exit code: 0 only for a completed job; its error on stderr otherwise."""
    from blastflow.run_progress import EXIT_INTERRUPTED, EXIT_OK

    job = followed.job
    if followed.code == EXIT_INTERRUPTED:
        raise typer.Exit(followed.code)
    if job is not None:
        typer.echo("")
        _print_job(job)
    if followed.code == EXIT_OK and job is not None:
        typer.echo(f"\nHits: {job.steps[StepName.FINALIZE].counters.get('hits', 0):,}  "
                   f"(blastflow results {job.job_id})")
        typer.echo(f"Watch it: blastflow ui   then open the job {job.job_id}")
        return
    where = f"the search process's log: {log}" if log is not None else "Prefect's log lines above"
    if job is not None and job.error:
        raise _fail(f"{job.error}\n  ({where})", code=followed.code)
    state = f"it is still {job.phase.value}" if job is not None else "it never recorded the job"
    raise _fail(f"the search process ended (exit code {followed.process_code}) but {state}; see {where}",
                code=followed.code)


def _print_result(result: dict[str, object]) -> None:
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
def rerun(
    job_id: str,
    new_job_id: Annotated[str | None, typer.Option("--job-id", help="Id for the new job (UUID4; default: new)")] = None,
) -> None:
    """Run a job's search again as a new job linked to it (through the blast-search deployment when the stack is up)."""
    from blastflow.model import is_job_id
    from blastflow.model import new_job_id as fresh_id
    from blastflow.settings import get_settings
    from ops.rerun import start_rerun

    if new_job_id is not None and not is_job_id(new_job_id):
        raise _fail(f"--job-id {new_job_id!r} is not a UUID4; leave it out for a new one")
    original = _job(job_id)
    _allow_current_directory()
    try:
        started = start_rerun(original, get_settings(), new_job_id or fresh_id())
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    if started.result is not None:
        _print_result(started.result)
        return
    typer.echo(f"Rerun of {original.job_id} started as job {started.job_id} through the blast-search deployment "
               f"(flow run {started.flow_run_id}).\nFollow it: blastflow logs {started.job_id} --follow")


@app.command()
def resume(job_id: str) -> None:
    """Resume a job whose run died or failed: reuse its batches and every complete result, run the rest, finalize.

    The job keeps its id; `blastflow show` lists the resume. Runs the flow in this process (a new flow run).
    """
    from flows.blast_search import blast_search

    _job(job_id)
    _allow_current_directory()
    try:
        result = blast_search(resume_job_id=job_id)
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    typer.echo(str(result.get("resumed", "")))
    _print_result(result)


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
def cancel(
    job_id: str,
    wait: Annotated[float, typer.Option(help="Seconds to let the job's flow run end it once Prefect is asked", min=0)]
    = 60.0,
) -> None:
    """Cancel a job and stop its backend work (finished batches are kept): through Prefect when a worker runs it."""
    from blastflow.cleanup import cancel_job
    from blastflow.settings import get_settings

    job = _job(job_id)
    if job.is_terminal:
        typer.echo(f"Job {job_id} has already ended ({job.phase.value}): nothing to cancel")
        return
    store = _store()
    if _cancel_flow_run(job):
        typer.echo(f"Asked Prefect to cancel flow run {job.flow_run_id}; waiting up to {wait:.0f} s for it to end")
        ended = _wait_until_ended(store, job_id, wait)
        if ended is not None:
            typer.echo(f"Job {job_id} {ended.phase.value}: its flow run stopped the backend work")
            return
        typer.echo(f"The flow run did not end the job within {wait:.0f} s: cancelling it here")
    try:
        job, outcome = cancel_job(job_id, store, get_settings(), by="`blastflow cancel`")
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"Job {job_id} {job.phase.value}; backend work: {outcome}")


def _cancel_flow_run(job: JobRecord) -> bool:
    """Set the job's flow run to Cancelling when Prefect knows it, it has not ended, and a worker runs it.

    A run without a deployment (started in-process) has no worker or runner that watches for Cancelling,
    so asking would only wait; such a job is cancelled directly.
    """
    from uuid import UUID

    import httpx
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Cancelling

    from blastflow.reconcile import LIVE_RUN_STATES

    if not job.flow_run_id:
        return False
    client = _worker_server_client()
    if client is None:
        return False
    try:
        with client:
            run = client.read_flow_run(UUID(job.flow_run_id))
            if run.deployment_id is None or run.state is None or run.state.type.value not in LIVE_RUN_STATES:
                return False
            asked = client.set_flow_run_state(run.id, Cancelling(message="cancelled with `blastflow cancel`"))
    except (ObjectNotFound, ValueError):
        return False
    except httpx.HTTPError:
        typer.echo("The Prefect API (PREFECT_API_URL) cannot be reached: cancelling the job here")
        return False
    return asked.status is SetStateStatus.ACCEPT  # refused: the run ended meanwhile


def _worker_server_client() -> Any:
    """A client of the server a worker could run the job from: PREFECT_API_URL's, else the `blastflow up` stack's.

    None when there is neither: a temporary server has no workers, and starting one only to ask costs seconds.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    from blastflow.settings import get_settings
    from ops.search_process import stack_api

    if get_current_settings().api.url:
        return get_client(sync_client=True)
    api = stack_api(os.environ, get_settings().data_dir)
    return api.client() if api is not None else None


def _wait_until_ended(store: StateStore, job_id: str, wait_s: float) -> JobRecord | None:
    """The job once it is terminal, or None after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        job = store.get(job_id)
        if job is not None and job.is_terminal:
            return job
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port for the monitoring page", min=1, max=65535)] = 8501,
    host: Annotated[
        str,
        typer.Option(help="Address to listen on. Any but loopback needs a login (the auth table of "
                     ".streamlit/secrets.toml, see deployments/streamlit/secrets.example.toml) or --no-auth"),
    ] = "127.0.0.1",
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No login, even when --host exposes the page (prints a warning)")
    ] = False,
) -> None:
    """Start the Streamlit monitoring page (on this machine only, unless --host exposes it)."""
    from ops import page_server

    app_path = _ROOT / "ui" / "app.py"
    try:
        server = page_server.plan_from_files(host, port, no_auth=no_auth, app=app_path)
    except BlastflowError as exc:
        raise _fail(str(exc), code=2) from exc
    if warning := page_server.exposure_warning(server):
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    raise typer.Exit(subprocess.call(page_server.streamlit_argv(server, app_path), env=os.environ.copy()))


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the Prefect server (UI and API)")] = 4200,
    host: Annotated[
        str, typer.Option(help="Address the Prefect server listens on; any but loopback turns Prefect's API auth "
                          "on (its string kept in <data dir>/stack/api-auth, readable by you only)")
    ] = "127.0.0.1",
    k8s: Annotated[bool, typer.Option("--k8s", help="Also create the Kubernetes pool and deploy to it")] = False,
    force: Annotated[bool, typer.Option("--force", help="Restart the worker even while it runs searches")] = False,
    notify: Annotated[
        str | None,
        typer.Option(help="Webhook URL to notify when a search ends (generic JSON, Slack or Teams); "
                     "default BLASTFLOW_NOTIFY_URL", show_default=False),
    ] = None,
    notify_kind: Annotated[
        str | None, typer.Option(help="webhook, slack or teams (default: from the URL's host)", show_default=False)
    ] = None,
    no_notify: Annotated[bool, typer.Option("--no-notify", help="Remove the notification")] = False,
) -> None:
    """Start (or update) the local Prefect stack: server, work pool, deployments, worker, zombie detection."""
    from blastflow.sanitise import sanitise
    from ops import stack

    notify_url = "" if no_notify else notify
    try:
        state = stack.up(port=port, host=host, k8s=k8s, force=force, echo=typer.echo, notify_url=notify_url,
                         notify_kind=notify_kind)
    except BlastflowError as exc:  # sanitise: the stack's API auth string is a registered secret
        raise _fail(sanitise(_masked(str(exc), notify_url))) from exc
    except Exception as exc:
        raise _fail(sanitise(_masked(f"{type(exc).__name__}: {exc}", notify_url))) from exc
    typer.echo("")
    for line in state.lines():
        typer.echo(line)
    typer.echo(
        f"\nStart a search: {state.ui_url}/deployments -> blast-search -> Run (or `prefect deployment run "
        f"blast-search/blast-search` with PREFECT_API_URL={state.api_url})"
        f"\nWatch it:       BLASTFLOW_PREFECT_UI_URL={state.ui_url} blastflow ui"
        "\nCheck it:       blastflow stack status"
        "\nStop it all:    blastflow down"
    )
    for line in state.remote_lines():
        typer.echo(line)


def _masked(message: str, url: str | None) -> str:
    """An error message without the notification URL (it carries a token) in it."""
    from blastflow.notify import masked_url

    return message.replace(url, masked_url(url)) if url else message


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
def status(
    job_id: Annotated[str | None, typer.Argument(help="The job's id (`blastflow jobs` lists them)",
                                                 show_default=False)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object: the job record, its steps in pipeline order")
    ] = False,
) -> None:
    """A job's phase, status, error, steps (status, duration, message), counts and results location."""
    if job_id is None:
        raise _fail("status needs a job id; the stack's status is `blastflow stack status`", code=2)
    job = _job(job_id)
    if as_json:
        from blastflow.job_status import job_status

        typer.echo(json.dumps(job_status(job, datetime.now(UTC)), indent=2))
        return
    _print_job(job)


def stack_status() -> None:
    """Show what of the local Prefect stack is running, and where."""
    from ops import stack

    for line in stack.status().lines():
        typer.echo(line)


@app.command()
def results(
    job_id: str,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="tsv (BLAST's outfmt 6 bytes), csv, json, pairwise, xml, tabular-comments, "
                                      "sam or archive"),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", help="Write the format to this file ('-': to standard output)")
    ] = None,
    header: Annotated[
        bool, typer.Option("--header", help="tsv only: first a row of column names (BLAST's tabular has none)")
    ] = False,
) -> None:
    """A finished job's results: a summary, or one output format (made from the stored BLAST archive, cached).

    tsv is hits.tsv: BLAST+'s own `-outfmt "6 std qcovs qlen slen stitle"` (the 12 standard columns, then query
    coverage, query and subject lengths, subject title); csv and json name their columns.
    """
    import shutil

    from blastflow.formats import formatted

    job = _job(job_id)
    if header and fmt is None:
        raise _fail("--header applies to a format: use --format tsv --header", code=2)
    results_dir = _results_dir(job)
    if fmt is None:
        _print_results_summary(job, results_dir)
        return
    try:
        path = formatted(results_dir, fmt, program=job.program or None, header=header)
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    if out is None:
        typer.echo(str(path))
    elif out == "-":
        with path.open("rb") as source:
            shutil.copyfileobj(source, sys.stdout.buffer)
    else:
        try:
            shutil.copyfile(path, out)
        except OSError as exc:
            raise _fail(f"cannot write {out}: {exc.strerror or exc}; name a file in a directory that exists") from exc
        typer.echo(f"{fmt} written to {out}", err=True)


def _results_dir(job: JobRecord) -> Path:
    """The job's local results directory; exit 1 saying why there is none (not finished, failed, elsewhere)."""
    from blastflow.formats import formats_for
    from blastflow.model import PHASE_MESSAGES, Phase

    future = ", ".join(formats_for(job.program)) if job.program else "all of them"
    if job.phase is not Phase.COMPLETED:
        status = f"{job.status.value} ({job.phase.value})"
        why = f"job {job.job_id} has no results: it is {status}: {PHASE_MESSAGES[job.phase]}"
        if job.error:
            why += f"\n  error: {job.error}"
        if job.is_terminal:
            raise _fail(f"{why}\nIt will not complete; run it again with `blastflow rerun {job.job_id}` to have its "
                        f"formats ({future}).")  # fmt: skip
        raise _fail(f"{why}\nWhen it completes it will have these formats: {future}.")
    location = job.results_location or ""
    if not location or "://" in location:
        where = f"they are stored at {location}" if location else "the job recorded no results location"
        raise _fail(f"job {job.job_id}'s results are not on this machine: {where}")
    from blastflow.confine import job_results_dir

    try:
        return job_results_dir(location, job.job_id)
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc


def _print_results_summary(job: JobRecord, results_dir: Path) -> None:
    from blastflow.formats import describe_results, formats_for

    try:
        summary = describe_results(results_dir)
    except BlastflowError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"Job {job.job_id}: {job.status.value}; {job.program} vs {job.database or '-'}")
    typer.echo(f"  hits: {summary.hits:,}")
    typer.echo(f"  queries with hits: {summary.queries_with_hits:,}")
    if summary.no_hits is None:
        typer.echo("  queries without hits: not recorded for this job (`--format tabular-comments` lists them)")
    else:
        shown = ", ".join(summary.no_hits[:5]) + (", …" if len(summary.no_hits) > 5 else "")
        typer.echo(f"  queries without hits: {len(summary.no_hits):,}" + (f" ({shown})" if shown else ""))
    typer.echo(f"  results: {results_dir}")
    typer.echo(f"  files: {', '.join(summary.files)}")
    made = set(summary.made)
    names = [f"{name}{' (made)' if name in made else ''}" for name in formats_for(job.program)]
    typer.echo(f"  formats: {', '.join(names)}")
    typer.echo(f"  get one: blastflow results {job.job_id} --format NAME [--out FILE]")


def _print_job(job: JobRecord, *, tails: bool = False) -> None:
    from blastflow.job_status import elapsed_s

    typer.echo(f"Job {job.job_id}: {job.title}" + (f"  (rerun of {job.rerun_of})" if job.rerun_of else ""))
    typer.echo(
        f"  {job.status.value} ({job.phase.value}) after {format_duration(elapsed_s(job, datetime.now(UTC)))}"
        f"; {job.program} vs {job.database or '-'}; backend {job.backend}; code {job.code_version or '-'}"
    )
    if job.query_count:
        typer.echo(f"  queries: {job.query_count:,} ({job.query_length:,} residues)")
    if job.error:
        typer.secho(f"  error: {job.error}", fg=typer.colors.RED)
    from blastflow.resume import resume_lines

    for line in resume_lines(job):
        typer.echo(f"  {line}")
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


# `blastflow stack up|down|status`: the stack's commands; `blastflow up` and `down` stay as shortcuts.
stack_app = typer.Typer(help="The local Prefect stack: up, down, status.", no_args_is_help=True)
stack_app.command()(up)
stack_app.command()(down)
stack_app.command("status")(stack_status)
app.add_typer(stack_app, name="stack")


if __name__ == "__main__":
    app()
