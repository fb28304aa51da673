"""The `elastic-blast` backend: NCBI ElasticBLAST on a Kubernetes cluster (GKE, or AKS through its Azure fork).

prepare writes the ElasticBLAST `.ini` from the search and the cluster profile
(`BLASTFLOW_ELB_*`) after checking everything ElasticBLAST would reject; submit
is `elastic-blast submit --cfg FILE --logfile stderr`, streamed by the flow;
status is `elastic-blast status --exit-code --verbose`; pod counts and logs come
from the Kubernetes API through prefect-kubernetes' `KubernetesCredentials`;
results are read from the results bucket (gs://, s3:// or Azure Blob through fsspec,
credentials from Prefect blocks);
cancel is `elastic-blast delete`. Every child runs from an argument list with a
timeout, never through a shell.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from blastflow.backends.elastic_blast.config import (
    ELB_CONFIG_ENV,
    ElbSearch,
    build_config,
    check_options,
    cloud_of_results,
    db_label,
    read_config,
    render_config,
    results_for_job,
    validate_config,
)
from blastflow.backends.elastic_blast.credentials import kubernetes_credentials
from blastflow.backends.elastic_blast.flavour import installed_flavour
from blastflow.backends.elastic_blast.pods import (
    LOG_CONTAINERS,
    SETUP_SELECTOR,
    PodInfo,
    PodReader,
    count_pods,
    label_selector,
    latest_per_batch,
    pod_problems,
    select_run_pods,
    setup_failures,
    setup_given_up,
    setup_summary,
)
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.backends.elastic_blast.results import (
    FAILURE_MARKER,
    SUCCESS_MARKER,
    check_results_location,
    fetch_database,
    open_results,
)
from blastflow.backends.elastic_blast.status import (
    ERROR_EXIT_CODES,
    TRANSIENT_EXIT_CODES,
    describe_exit,
    error_lines,
    parse_status,
)
from blastflow.batch import write_batches
from blastflow.errors import BackendError, ConfigError, InputError, TransientBackendError
from blastflow.programs import PROGRAMS, check_db_molecule
from blastflow.provenance import BackendProvenance, profile_text
from blastflow.query import Query
from blastflow.results import find_database
from blastflow.sanitise import sanitise
from blastflow.search import Batch, CheckedSearch, PodCounts, PreparedRun, RunState, RunStatus
from blastflow.settings import Settings, get_settings
from blastflow.stream import child_env

__all__ = ["CONFIG_FILE", "NCBI_DATABASES", "ElasticBlastBackend"]

CONFIG_FILE = "elastic-blast.ini"
QUERIES_FILE = "queries.fa"
ELB_JOB_ID_FILE = "elb-job-id"
DATABASE_DIR = "blastdb"  # the search's database from its bucket, for blast_formatter (`results_database`)
AWS_BATCH_LOG_GROUP = "/aws/batch/job"  # where AWS Batch sends a job's output unless its definition says otherwise
FAILURE_LOG_LINES = 50  # of a failed pod's log, searched for its last error line
_FASTA_WIDTH = 80

# NCBI databases ElasticBLAST serves, with their molecule type (checked against the program).
NCBI_DATABASES = {
    **dict.fromkeys(("nt", "core_nt", "pdbnt", "refseq_rna", "refseq_select_rna", "ref_viruses_rep_genomes",
                     "ref_prok_rep_genomes", "ref_euk_rep_genomes", "16S_ribosomal_RNA", "18S_fungal_sequences",
                     "28S_fungal_sequences", "ITS_RefSeq_Fungi", "ITS_eukaryote_sequences", "LSU_eukaryote_rRNA",
                     "LSU_prokaryote_rRNA", "SSU_eukaryote_rRNA", "env_nt", "patnt", "tsa_nt", "mito",
                     "human_genome", "mouse_genome", "Betacoronavirus"), "nucl"),
    **dict.fromkeys(("nr", "swissprot", "pdbaa", "refseq_protein", "refseq_select_prot", "landmark", "env_nr",
                     "pataa", "tsa_nr", "clustered_nr"), "prot"),
}
_SETTING_UP = frozenset({RunState.CREATING, RunState.SUBMITTING})
# `delete` of a cluster that does not exist: exit 8 "ERROR: Cluster <name> was not found" (gcp.py ~657).
_CLUSTER_GONE = re.compile(r"Cluster \S+ was not found|Cluster \"[^\"]+\" was not found")
_DB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DB_URL_PREFIXES = ("gs://", "s3://", "https://")


class ElasticBlastBackend:
    """`Backend` for NCBI ElasticBLAST. Build it once per process; it keeps no per-job state in memory."""

    name = "elastic-blast"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        profile: ElbProfile | None = None,
        pod_reader: PodReader | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.profile = profile or ElbProfile()
        self._pod_reader = pod_reader

    @property
    def status_interval_s(self) -> float:
        """A real `elastic-blast status` runs ~24 external commands and takes tens of seconds."""
        return self.profile.status_interval_s

    # -- prepare -------------------------------------------------------------------------------
    def prepare(self, job_id: str, search: CheckedSearch, workdir: Path) -> PreparedRun:
        """Check the search against the profile and everything ElasticBLAST rejects; write the `.ini`.

        The checks every backend needs have passed (`blastflow.steps.prepare.check_search`).

        Raises:
            ConfigError: the cluster profile is incomplete or wrong (results location, provider keys), or the
                results location cannot be read back (no credentials, refused ones, no such bucket).
            InputError: the query, options, database or program cannot run on ElasticBLAST.
            TransientBackendError: the results storage did not answer.
        """
        results = results_for_job(self.profile.results, job_id) if self.profile.results else ""
        if not results:
            raise ConfigError(
                "no results location for ElasticBLAST: set BLASTFLOW_ELB_RESULTS to a bucket URL "
                "(gs://, s3:// or https://<account>.blob.core.windows.net/<container>/<path>)."
            )
        if cloud_of_results(results) == "azure":
            _check_azure_support(self.profile)
        program, query, options = search.program, search.query, search.options
        check_options(options, program)
        db = _check_database(search.spec.db.strip(), program, query, results)
        batch_len = search.spec.batch_len or self.profile.batch_len  # None: ElasticBLAST's tuner decides
        workdir = Path(workdir).absolute()
        queries = workdir / QUERIES_FILE
        cfg = build_config(ElbSearch(program, db, str(queries.resolve()), results, tuple(options), batch_len),
                           self.profile)
        text = render_config(cfg)
        validate_config(read_config(text))
        check_results_location(results, self.profile, self.settings)  # readable back, before anything is written
        # Everything is checked: now write.
        workdir.mkdir(parents=True, exist_ok=True)
        _write_fasta(query, queries)
        # The batches are known only when we set batch-len; otherwise ElasticBLAST splits (and counts) them.
        batches = write_batches(query.records, batch_len, workdir / "query_batches") if batch_len else []
        config_path = workdir / CONFIG_FILE
        config_path.write_text(text)
        run = PreparedRun(
            job_id=job_id,
            backend=self.name,
            program=program,
            workdir=workdir,
            config_path=config_path,
            database=db,
            database_label=db_label(db),
            molecule=query.molecule,
            options=options,
            batches=batches,
            query_count=query.count,
            query_length=query.total_length,
            results_location=results,
            query_file=queries,
        )
        run.save()
        return run

    # -- submit --------------------------------------------------------------------------------
    def submit_command(self, run: PreparedRun) -> list[str]:
        return [self.profile.executable, "submit", "--cfg", str(run.config_path), "--logfile", "stderr"]

    def submit_env(self, run: PreparedRun) -> dict[str, str | None]:
        """Pin every variable through which ElasticBLAST's environment overrides the `.ini` to this search's
        value, and remove the ones this search leaves unset, so a stray variable in the worker's environment
        cannot send results elsewhere, resize batches or bill another project."""
        cfg = read_config(run.config_path.read_text())
        env: dict[str, str | None] = {
            variable: cfg.get(section, key, fallback=None) for variable, (section, key) in ELB_CONFIG_ENV.items()
        }
        if self.profile.disable_auto_shutdown:
            env["ELB_DISABLE_AUTO_SHUTDOWN"] = "1"
        return env

    # -- status --------------------------------------------------------------------------------
    def status(self, run: PreparedRun) -> RunStatus:
        """`elastic-blast status --exit-code --verbose` as a `RunStatus`.

        Raises:
            BackendError: the status command failed for good (e.g. cluster credentials rejected).
            TransientBackendError: it timed out or the cluster did not answer.
        """
        done = self._elb(run, "status", "--exit-code", "--verbose")
        status = parse_status(done.returncode, done.stdout, done.stderr)
        if status.state is RunState.SUCCESS and not status.counts.total:
            # ElasticBLAST prints counts only while running; SUCCESS means every batch succeeded.
            return status.model_copy(update={"counts": PodCounts(succeeded=self._batch_count(run))})
        if status.state is RunState.FAILURE:
            return self._explain_failure(run, done, status)
        if self._fork_finished(run):
            return RunStatus(state=RunState.SUCCESS, counts=PodCounts(succeeded=self._batch_count(run)),
                             message=f"the Azure fork's finalizer wrote {SUCCESS_MARKER}")  # fmt: skip
        if status.state in _SETTING_UP or (status.state is RunState.RUNNING and not status.counts.total):
            return self._with_setup(run, status)
        return status

    def _fork_finished(self, run: PreparedRun) -> bool:
        """Whether the Azure fork's finalizer marked this search done (best effort).

        The fork's status counts the `app=blast` jobs of the whole cluster, and finished jobs are deleted after
        `ttlSecondsAfterFinished`: a finished search may read SUBMITTING again. Its finalizer's SUCCESS.txt under
        `<results>/<elb_job_id>/metadata/` is the search's own word.
        """
        if cloud_of_results(run.results_location) != "azure":  # only the fork runs on Azure
            return False
        try:
            with open_results(run.results_location, self.profile, self.settings, _elb_job_id(run)) as bucket:
                return bucket.markers().success
        except (BackendError, ConfigError):
            return False

    def _batch_count(self, run: PreparedRun) -> int:
        """The search's batches: ours when we set batch-len; else as many as ElasticBLAST says it submitted
        (metadata/num_jobs_submitted.txt, its own count, still there when pods or the cluster are gone), else
        the cluster's BLAST jobs (best effort)."""
        if run.batches or _on_aws(run):
            return len(run.batches)
        try:
            with open_results(run.results_location, self.profile, self.settings, _elb_job_id(run)) as bucket:
                submitted = bucket.jobs_submitted()
            return submitted if submitted is not None else count_pods(self._pods(run)).total
        except (BackendError, ConfigError):
            return 0

    def _with_setup(self, run: PreparedRun, status: RunStatus) -> RunStatus:
        """Before BLAST pods exist: what the setup jobs do, or their failure as the search's (best effort).

        A failed setup pod is not a failed search yet: Kubernetes makes a new one until the Job's backoffLimit
        (`setup_given_up`), and ElasticBLAST's status turns FAILURE only once the Job has failed (gcp.py 284-292).
        """
        if _on_aws(run):
            return status
        try:
            pods = select_run_pods(self.pod_reader().list_pods(SETUP_SELECTOR), run.results_location)
            text, failure = setup_summary(pods, run.database_label)
            if failure is not None and setup_given_up(pods):
                details = self._setup_failure(pods, status.message)
                return RunStatus(state=RunState.FAILURE, counts=status.counts, message="; ".join(details))
        except (BackendError, ConfigError):
            return status
        if not pods:
            return status
        if failure is not None:
            text = f"database setup: Kubernetes retries a failed setup pod ({'; '.join(setup_failures(pods))})"
        return status.model_copy(update={"message": " ".join(filter(None, (text, status.message)))})

    def _explain_failure(
        self, run: PreparedRun, done: subprocess.CompletedProcess[str], status: RunStatus
    ) -> RunStatus:
        """Add the cluster's side to a FAILURE: counts, why pods failed, and their last error lines.

        ElasticBLAST often says no more than "Your ElasticBLAST search failed"; the failed pods say why.
        Best effort: if the cluster cannot be read, ElasticBLAST's FAILURE stands as it is.
        """
        if _on_aws(run):
            return status
        try:
            pods = self._pods(run)
            failed = [p for p in latest_per_batch(pods) if p.phase == "Failed"]
            details = pod_problems(failed) + self._last_errors(failed, LOG_CONTAINERS, status.message)
            if not pods:  # no BLAST job was ever made: ElasticBLAST's setup failed, and its status says no more
                setup = select_run_pods(self.pod_reader().list_pods(SETUP_SELECTOR), run.results_location)
                details = self._setup_failure(setup, status.message)
        except (BackendError, ConfigError):
            return status
        counts = status.counts if status.counts.total else count_pods(pods)
        status = parse_status(done.returncode, done.stdout, done.stderr, counts if counts.total else None)
        details += self._failure_marker(run, status.message + " ".join(details))
        if not details:
            return status
        return status.model_copy(update={"message": f"{status.message} Cluster: {'; '.join(details[:8])}"})

    def _failure_marker(self, run: PreparedRun, said: str) -> list[str]:
        """FAILURE.txt's words when nothing said yet has them (best effort).

        The failed Job's pod is often gone (`restartPolicy: OnFailure`, backoffLimit reached), so the
        marker the BLAST pod wrote may be the only place left with BLAST's own error.
        """
        try:
            with open_results(run.results_location, self.profile, self.settings, _elb_job_id(run)) as bucket:
                text = bucket.markers().failure
        except (BackendError, ConfigError):
            return []
        lines = error_lines(text or "") or [line.strip() for line in (text or "").splitlines() if line.strip()]
        return [f"{FAILURE_MARKER}: {lines[-1]}"] if lines and lines[-1] not in said else []

    def _setup_failure(self, pods: Sequence[PodInfo], message: str) -> list[str]:
        """Which setup job failed and how, and the last error line its failed containers logged."""
        _text, failure = setup_summary(pods, "")
        if failure is None:
            return []
        failed = [p for p in latest_per_batch(pods) if p.phase == "Failed"]
        containers = sorted({c.name for p in failed for c in (*p.init_containers, *p.containers) if c.exit_code})
        return [failure, *self._last_errors(failed, containers, message)]

    def _last_errors(self, pods: Sequence[PodInfo], containers: Sequence[str], message: str) -> list[str]:
        """`"<pod>/<container>: <its last error line>"` for each container that logged one not in `message`."""
        logs = self.pod_reader().read_logs(pods, containers, FAILURE_LOG_LINES) if pods else {}
        said = {key: error_lines(text) for key, text in sorted(logs.items())}
        return [f"{key}: {lines[-1]}" for key, lines in said.items() if lines and lines[-1] not in message]

    def provenance(self, run: PreparedRun) -> BackendProvenance:
        """The command each batch's pod runs, as ElasticBLAST 1.5's job template writes it
        (templates/blast-batch-job.yaml.template, line 79: `${ELB_BLAST_PROGRAM} -db ${ELB_DB} -query
        /blast/blastdb/batch_${JOB_NUM}.fa -out … -num_threads ${ELB_NUM_CPUS} ${ELB_BLAST_OPTIONS}`, where the
        options get ` -outfmt 11` appended unless they name one: elb_config.py line 372), and the profile's
        non-secret settings."""
        options = [*run.options, *([] if "-outfmt" in run.options else ["-outfmt", "11"])]
        threads = str(self.profile.num_cpus) if self.profile.num_cpus else "<num-cpus of the machine type>"
        names = [batch.name.removeprefix("batch_") for batch in run.batches] or ["<N>"]
        commands = [
            [run.program, "-db", run.database, "-query", f"/blast/blastdb/batch_{num}.fa", "-out",
             f"/blast/results/batch_{num}-{run.program}-{run.database}.out", "-num_threads", threads, *options]
            for num in names
        ]
        secret = {name for name, info in ElbProfile.model_fields.items() if "SecretStr" in str(info.annotation)}
        settings = self.profile.model_dump(exclude=secret | {"kubeconfig", "kube_context"})
        note = "" if run.batches else "ElasticBLAST sized the batches itself: one line stands for every batch"
        return BackendProvenance(commands=commands, profile=profile_text(settings), note=note)

    # -- resume --------------------------------------------------------------------------------
    def batch_archives(self, run: PreparedRun) -> None:
        """None: the results are in the bucket, and `status` speaks for the whole search (SUCCESS: finalize it)."""
        return None

    def resume_submit(self, run: PreparedRun, batches: Sequence[Batch]) -> str:
        """Never possible: `elastic-blast submit` runs a whole search; it cannot re-run only some batches.

        Raises:
            BackendError: always (`resume_unsupported`), saying what to do instead.
        """
        raise BackendError(
            f"ElasticBLAST cannot re-run only the failed or missing batches of job {run.job_id}: its CLI submits a "
            "whole search, and this one is neither running nor finished. `blastflow rerun "
            f"{run.job_id}` runs the search again as a new job",
            code="resume_unsupported",
        )

    def cancel(self, run: PreparedRun, others_live: Sequence[PreparedRun] = ()) -> str:
        """`elastic-blast delete` for this search: stop it and release its cluster; results stay in the bucket.

        A cluster that is already gone is reported, not raised. The Azure fork's delete removes the whole
        AKS cluster (its guard for other searches is skipped from a fresh process), so with the fork it is
        never run while another live search of ours uses the same cluster.

        Raises:
            BackendError: delete failed for a lasting reason (its words and exit meaning).
            TransientBackendError: delete could not reach the cluster this time.
        """
        sharing = [other.job_id for other in others_live if _same_cluster(other, run)]
        if sharing and installed_flavour(self.profile.executable, self.profile.flavour) == "azure-fork":
            return (
                f"left the cluster running: the Azure fork's delete removes the whole cluster, and search(es) "
                f"{', '.join(sharing)} still run on it; delete it once they end"
            )
        done = self._elb(run, "delete", "--logfile", "stderr")
        said = (error_lines(done.stderr) or error_lines(done.stdout) or ["(it printed no error)"])[-1]
        if done.returncode == 0:
            return "elastic-blast delete stopped the search and released its cluster resources"
        if _CLUSTER_GONE.search(done.stderr + done.stdout):
            return f"the cluster was already gone, nothing to delete ({said})"
        text = f"elastic-blast delete failed ({describe_exit(done.returncode)}): {said}"
        if done.returncode < 0 or done.returncode in TRANSIENT_EXIT_CODES:
            raise TransientBackendError(text)
        raise BackendError(text, code="elb_delete")

    # -- pods ----------------------------------------------------------------------------------
    def pod_counts(self, run: PreparedRun) -> PodCounts:
        """Batch pods by phase, from the Kubernetes API (on AWS, where batches are AWS Batch jobs, from status)."""
        if _on_aws(run):
            return self.status(run).counts
        return count_pods(self._pods(run))

    def exit_meaning(self, returncode: int) -> str | None:
        return ERROR_EXIT_CODES.get(returncode)

    def pod_problems(self, run: PreparedRun) -> list[str]:
        """Why pods are stuck or failed, in the cluster's words (for a timeout's error text)."""
        return [] if _on_aws(run) else pod_problems(self._pods(run))

    def pod_logs(self, run: PreparedRun, tail_lines: int = 200) -> dict[str, str] | None:
        """`"<pod>/<container>"` → log tail for the blast and results-export containers; {} if none is readable;
        None on AWS, where the batches are AWS Batch jobs that log to CloudWatch and there are no pods to ask."""
        if _on_aws(run):
            return None
        pods = self._pods(run)
        return self.pod_reader().read_logs(pods, LOG_CONTAINERS, tail_lines) if pods else {}

    def pod_logs_elsewhere(self, run: PreparedRun) -> str:
        """Where an AWS search's BLAST logs are (AWS Batch sends its jobs' output to CloudWatch Logs)."""
        region = f" in {self.profile.aws_region}" if self.profile.aws_region else ""
        return (f"AWS Batch sends the BLAST jobs' output to CloudWatch Logs (log group {AWS_BATCH_LOG_GROUP}{region}): "
                f"open the jobs in the AWS Batch console, or `aws logs tail {AWS_BATCH_LOG_GROUP}`")

    def pod_reader(self) -> PodReader:
        if self._pod_reader is None:
            self._pod_reader = PodReader(
                kubernetes_credentials(self.profile), self.profile.namespace, self.profile.k8s_request_timeout_s
            )
        return self._pod_reader

    def _pods(self, run: PreparedRun) -> list[PodInfo]:
        """This search's pods; remembers the fork's elb-job-id label once seen, to narrow later listings."""
        known = _elb_job_id(run)
        pods = select_run_pods(self.pod_reader().list_pods(label_selector(known)), run.results_location)
        ids = {p.elb_job_id for p in pods if p.elb_job_id}
        if not known and len(ids) == 1:
            (run.workdir / ELB_JOB_ID_FILE).write_text(ids.pop())
        return pods

    # -- results -------------------------------------------------------------------------------
    def fetch_results(self, run: PreparedRun, dest: Path) -> list[Path]:
        """Download every batch's archive (format 11) into `dest`, in batch order.

        Raises:
            BackendError: ElasticBLAST wrote FAILURE.txt, or storage refused the credentials.
            TransientBackendError: some batch results are not exported yet, or storage did not answer.
        """
        with open_results(run.results_location, self.profile, self.settings, _elb_job_id(run)) as bucket:
            return bucket.download_batches(Path(dest), run.program, run.database_label,
                                           expected=len(run.batches) or None)  # None: ElasticBLAST split them

    def results_database(self, run: PreparedRun) -> Path:
        """The directory blast_formatter finds the search's database in, by the name the pods used (`db_label`).

        A database in a bucket is downloaded into the run's directory once (`fetch_database`). An NCBI
        database was read by the pods from NCBI's cloud copy, so this worker needs its own (BLASTDB).

        Raises:
            BackendError: the database is neither fetchable nor on this worker (`database_unavailable`).
            TransientBackendError: the database's storage did not answer.
        """
        if run.database.startswith(_DB_URL_PREFIXES):
            return fetch_database(run.database, run.workdir / DATABASE_DIR, self.profile, self.settings)
        found = find_database(run.database_label, PROGRAMS[run.program][1])
        if found is None:
            name = run.database_label
            raise BackendError(
                f"blast_formatter needs the database {name!r} on this worker to render the hits (the cluster "
                f"searched NCBI's copy): put it in a directory named by BLASTDB (update_blastdb.pl --decompress "
                f"{name}) and re-run finalize",
                code="database_unavailable",
            )
        return found

    # -- children ------------------------------------------------------------------------------
    def _elb(self, run: PreparedRun, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self.profile.executable, command, "--cfg", str(run.config_path), *args]
        env = child_env(self.submit_env(run))  # the same cluster and results as the submit
        try:
            return subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                env=env,
                cwd=run.workdir,
                stdin=subprocess.DEVNULL,
                timeout=self.profile.command_timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{self.profile.executable!r} was not found: install ElasticBLAST (pip install elastic-blast) "
                "or set BLASTFLOW_ELB_EXECUTABLE."
            ) from exc
        except subprocess.TimeoutExpired:
            raise TransientBackendError(
                f"elastic-blast {command} did not finish within {self.profile.command_timeout_s:g} s"
            ) from None


def _check_database(db: str, program: str, query: Query, results: str) -> str:
    """An NCBI database name or a database URL in the results' cloud; never a local path."""
    if not db:
        raise InputError("the database is empty: give an NCBI database name (e.g. swissprot) or the URL of your "
                         "BLAST database in cloud storage", code="invalid_database")
    if db.startswith(_DB_URL_PREFIXES):
        cloud = cloud_of_results(db.rstrip("/"))
        if cloud != cloud_of_results(results):
            raise InputError(f"database {db!r} is on {cloud} but results go to {cloud_of_results(results)}: "
                             "ElasticBLAST reads the database from the cloud it runs in", code="invalid_database")
        return db.rstrip("/")
    if "/" in db or os.sep in db or Path(db).expanduser().exists() or not _DB_NAME.fullmatch(db):
        raise InputError(
            f"database {sanitise(db)!r} is not something ElasticBLAST can search: it runs in the cloud, so give an "
            "NCBI database name (e.g. swissprot, nt) or the URL of a BLAST database you uploaded to the same "
            "cloud (makeblastdb, then copy the files to gs://…, s3://… or https://<account>.blob.core.windows.net/…)",
            code="invalid_database",
        )
    molecule = NCBI_DATABASES.get(db)
    if molecule is not None:
        check_db_molecule(program, molecule, db, query.molecule)  # type: ignore[arg-type]
    elif db.lower() in {name.lower() for name in NCBI_DATABASES}:
        right = next(name for name in NCBI_DATABASES if name.lower() == db.lower())
        raise InputError(f"database {db!r}: NCBI database names are case-sensitive; did you mean {right!r}?",
                         code="invalid_database")
    return db


def _check_azure_support(profile: ElbProfile) -> None:
    if installed_flavour(profile.executable, profile.flavour) == "upstream":
        raise ConfigError(
            f"this ElasticBLAST ({profile.executable}) has no Azure support: upstream elastic-blast refuses the "
            'Azure keys (Unrecognized configuration parameter "azure-region"). Install the Azure fork '
            "(dotnetpower/elastic-blast-azure, a ref that has bin/elastic-blast) and point BLASTFLOW_ELB_EXECUTABLE "
            "at it, or keep results on gs:// or s3://.",
            code="elb_no_azure",
        )


def _elb_job_id(run: PreparedRun) -> str | None:
    """The Azure fork's id of this submit, once `_pods` has seen it on the search's pods."""
    id_file = run.workdir / ELB_JOB_ID_FILE
    return (id_file.read_text().strip() or None) if id_file.is_file() else None


def _same_cluster(one: PreparedRun, other: PreparedRun) -> bool:
    """Whether two runs' inis name the same cluster.

    An ini without a name gets ElasticBLAST's default, `elasticblast-<user>-<md5(results)[:9]>`
    (elb_config.py 1102-1105), so two unnamed searches share a cluster only if they share a results location.
    """
    def cluster(run: PreparedRun) -> tuple[str, str]:
        cfg = read_config(run.config_path.read_text())
        name = cfg.get("cluster", "name", fallback="") or f"default for {run.results_location}"
        return name, cloud_of_results(run.results_location)

    return one.backend == other.backend and cluster(one) == cluster(other)


def _on_aws(run: PreparedRun) -> bool:
    return run.results_location.startswith("s3://")


def _write_fasta(query: Query, path: Path) -> None:
    """The validated query as one FASTA file, headers as read, residues in lines of 80."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in query.records:
            handle.write(f">{record.title}\n")
            for start in range(0, record.length, _FASTA_WIDTH):
                handle.write(record.sequence[start : start + _FASTA_WIDTH] + "\n")
