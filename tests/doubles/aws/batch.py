"""TEST DOUBLE of AWS Batch's compute side for ElasticBLAST searches: runs the jobs' containers, moves their states.

moto's server keeps AWS Batch's bookkeeping (compute environment, queue and job definitions from ElasticBLAST's
CloudFormation template, every submitted job with its parameters and container command) but runs no container,
so nothing would ever search. This double does the cluster's own work, in the test process, on each `tick()`
(or every `interval_s` in a background thread, `start()` / `stop()`):

- Job states, in the table of the boto3 double (boto3_hook.py), one step per tick, as AWS Batch moves them:
  SUBMITTED → RUNNABLE → STARTING → RUNNING → SUCCEEDED | FAILED. At most `slots` jobs are STARTING or RUNNING
  at once (the compute environment's capacity), so a search shows every state on the way. A job that has been
  RUNNING for a tick runs its container (below), then ends SUCCEEDED (exit 0) or FAILED with AWS Batch's
  `statusReason` "Essential container in task exited" and the container's exit code.
- The container is the one the job's definition names (templates/elastic-blast-cf.yaml): its command, read
  back from moto's DescribeJobs, with every `Ref::<name>` replaced by the job's parameters (AWS Batch
  substitution, the definition's defaults under the job's own):
  - `submit_jobs.py --results R ...` (JobSubmissionJobDefinition, cf.yaml:691-725): job_submission.py under
    the real elastic-blast's interpreter, which submits one BLAST job per query batch through the real
    `elastic_blast` code;
  - `splitq_download_db_search --db ... --query ... --params ...` (BlastSearchJobDefinition,
    cf.yaml:727-770): `BlastContainer`, upstream's docker-blast/splitq_download_db_search step by step with
    REAL BLAST+ (blastdbcmd, blastdbcheck, the search program): download the user's database from S3,
    check it, download the query batch, search with the job's options (ElasticBLAST appended `-outfmt 11`),
    gzip, upload `<results>/batch_NNN-<program>-<db>.out.gz`; a failing search writes
    `<results>/metadata/FAILURE.txt` unless one is there (upload_error_if_not_present).
  NCBI's taxonomy database (`update_blastdb.pl taxdb`, from the internet) is not downloaded, so the check after
  the download is `blastdbcmd -info` alone: `blastdbcheck`'s metadata test looks taxids up in taxdb and fails
  without it ("Taxid 9606 not found"). The searches here use no taxonomy.

`set_states()` scripts states directly, for tests of what `elastic-blast status` says in a given state.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from hashlib import md5
from pathlib import Path
from typing import Any

from tests.doubles.aws.boto3_hook import locked_state, read_state

__all__ = ["ESSENTIAL_CONTAINER_EXITED", "BatchCompute", "BlastContainer"]

NEXT = {"SUBMITTED": "RUNNABLE", "PENDING": "RUNNABLE", "RUNNABLE": "STARTING", "STARTING": "RUNNING"}
DONE = frozenset({"SUCCEEDED", "FAILED"})
ESSENTIAL_CONTAINER_EXITED = "Essential container in task exited"  # AWS Batch's reason for a non-zero exit
BLASTDB_ERROR = 2  # splitq_download_db_search: the database could not be downloaded or checked
_CHILD_TIMEOUT_S = 300


@dataclass
class BatchCompute:
    """The compute side of AWS Batch for the searches whose jobs are in the boto3 double's table at `state`.

    Args:
        state: the boto3 double's state file (BOTO3_DOUBLE_STATE).
        client: makes boto3 clients on moto's server (`MotoS3.client`), as the containers' job role.
        elb_python: the real elastic-blast's interpreter (for the job-submission container).
        container_env: the environment of the job-submission container (AWS endpoint and keys, the hook).
        workdir: the instances' disks (databases and query batches land here).
        slots: how many jobs may start or run at once.
    """

    state: Path
    client: Callable[[str], Any]
    elb_python: Path
    container_env: Mapping[str, str]
    workdir: Path
    slots: int = 2
    log: list[str] = field(default_factory=list, init=False)  # what each container did, for a test's message
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- the jobs ---------------------------------------------------------------------------------------------
    def jobs(self) -> list[dict[str, Any]]:
        return read_state(str(self.state))["jobs"]

    def set_states(self, states: Mapping[str, str], reasons: Mapping[str, tuple[str, int]] | None = None) -> None:
        """Script job states by job name suffix (`job-submissions`, `job-0`, ...); `reasons`: (statusReason, exit)."""
        now = int(time.time() * 1000)
        with locked_state(str(self.state)) as data:
            for job in data["jobs"]:
                for suffix, status in states.items():
                    if job["jobName"].endswith(suffix):
                        _set(job, status, now, *(reasons or {}).get(suffix, ("", 0 if status != "FAILED" else 1)))

    # -- the clock --------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Move every job one step; run the containers of the jobs that have been RUNNING for a tick."""
        with self._lock:
            jobs = self.jobs()
            busy = sum(job["status"] in ("STARTING", "RUNNING") for job in jobs)
            changes: dict[str, tuple[str, str, int]] = {}  # job id -> (status, statusReason, exit code)
            for job in jobs:
                status = job["status"]
                if status == "RUNNING":
                    code = self._run_container(job["jobId"])
                    reason = "" if code == 0 else ESSENTIAL_CONTAINER_EXITED
                    changes[job["jobId"]] = ("SUCCEEDED" if code == 0 else "FAILED", reason, code)
                elif status == "RUNNABLE" and busy >= self.slots:
                    continue  # no capacity yet
                elif status in NEXT:
                    busy += status == "RUNNABLE"
                    changes[job["jobId"]] = (NEXT[status], "", 0)
            now = int(time.time() * 1000)
            with locked_state(str(self.state)) as data:  # jobs submitted meanwhile are kept as they are
                for job in data["jobs"]:
                    if job["jobId"] in changes:
                        status, reason, code = changes[job["jobId"]]
                        _set(job, status, now, reason, code)

    def run_until(self, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 60) -> None:
        """Tick until `done(jobs)` holds (AssertionError with the containers' log after `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        while not done(self.jobs()):
            if time.monotonic() > deadline:
                raise AssertionError(f"AWS Batch double: not done after {timeout_s:g} s; jobs {self.jobs()}; "
                                     f"log {self.log[-20:]}")  # fmt: skip
            self.tick()

    def start(self, interval_s: float = 0.2) -> BatchCompute:
        """Tick every `interval_s` in a background thread until `stop()`."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.tick()
                except Exception as exc:  # keep the cluster alive; the test sees the log
                    self.log.append(f"tick failed: {exc!r}")

        self._thread = threading.Thread(target=loop, name="aws-batch-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_CHILD_TIMEOUT_S)

    # -- the containers ---------------------------------------------------------------------------------------
    def _run_container(self, job_id: str) -> int:
        described = self.client("batch").describe_jobs(jobs=[job_id])["jobs"]
        if not described:
            self.log.append(f"{job_id}: moto does not know this job")
            return 1
        definition = self.client("batch").describe_job_definitions(jobDefinitions=[described[0]["jobDefinition"]])
        command = _substituted(definition["jobDefinitions"][0]["containerProperties"]["command"],
                               described[0].get("parameters", {}))  # fmt: skip
        if command[0] == "submit_jobs.py":
            done = subprocess.run(
                [str(self.elb_python), str(Path(__file__).with_name("job_submission.py")), *command[1:]],
                capture_output=True, text=True, env=dict(self.container_env), cwd=self.workdir,
                timeout=_CHILD_TIMEOUT_S, check=False,
            )  # fmt: skip
            self.log.append(f"{job_id} submit_jobs.py exit {done.returncode}: {done.stderr[-1500:]}")
            return done.returncode
        if command[0] == "splitq_download_db_search":
            container = BlastContainer(self.client, self.workdir / "blast")
            code = container.main(command[1:])
            self.log.append(f"{job_id} splitq_download_db_search exit {code}: {' | '.join(container.said[-6:])}")
            return code
        self.log.append(f"{job_id}: no container for {command[0]!r}")
        return 1


def _set(job: dict[str, Any], status: str, now: int, reason: str = "", exit_code: int = 0) -> None:
    job["status"] = status
    for finished in ("stoppedAt", "container", "statusReason"):  # a job not (or no longer) done has none of these
        job.pop(finished, None)
    if status == "RUNNING":
        job["startedAt"] = now
    if status in DONE:
        job.setdefault("startedAt", now)
        job["stoppedAt"] = now
        job["container"] = {"exitCode": exit_code}
        if reason:
            job["statusReason"] = reason


def _substituted(command: list[str], parameters: Mapping[str, str]) -> list[str]:
    """AWS Batch's parameter substitution: an argument `Ref::<name>` becomes that parameter's value.

    From the definition's own command: moto's substitution (in the job's `container.command`) replaces
    prefixes, so `Ref::db-path` would become `<db>-path`.
    """
    return [str(parameters.get(part.removeprefix("Ref::"), part)) if part.startswith("Ref::") else part
            for part in command]  # fmt: skip


class BlastContainer:
    """upstream docker-blast/splitq_download_db_search (the BLAST job's container) on this machine, with real BLAST+.

    Each step is the script's, named after its function: download_database (`aws s3 cp` of the user
    database's files), test_database (`blastdbcmd -info`; not `blastdbcheck`, see the module), prepare_query
    (`aws s3 cp` of the batch), run_search (the program with `-query -db -num_threads -out` and the job's
    `--params`, then `gzip`), upload_results (`aws s3 cp` into the results), upload_error_if_not_present
    (FAILURE.txt).
    """

    def __init__(self, client: Callable[[str], Any], disk: Path) -> None:
        self.s3 = client("s3")
        self.disk = disk
        self.said: list[str] = []

    def main(self, argv: list[str]) -> int:
        args = _blast_arguments().parse_args(argv)
        self.disk.mkdir(parents=True, exist_ok=True)
        try:
            self.download_database(args)
        except ContainerError as exc:
            self.said.append(str(exc))
            return BLASTDB_ERROR  # the script returns before any FAILURE.txt is written
        try:
            query = self.download(args.query)
            self.upload(self.run_search(args, query), f"{args.bucket}/")
        except ContainerError as exc:
            self.said.append(str(exc))
            self.upload_error_if_not_present(args, str(exc))
            return exc.returncode
        return 0

    def download_database(self, args: argparse.Namespace) -> None:
        if not args.db_path or args.db_path == "None":
            raise ContainerError(BLASTDB_ERROR, f"NCBI database {args.db}: not available offline")
        done = self.disk / f"custom_blastdb_{md5(os.path.join(args.db_path, args.db).encode()).hexdigest()}.done"
        if not done.exists():
            bucket, _, prefix = args.db_path.removeprefix("s3://").partition("/")
            listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{args.db}.".lstrip("/"))
            for item in listed.get("Contents", []):
                self.s3.download_file(bucket, item["Key"], str(self.disk / item["Key"].rsplit("/", 1)[-1]))
            self.run(["blastdbcmd", "-info", "-db", args.db, "-dbtype", args.db_mol_type])
            done.touch()

    def download(self, url: str) -> Path:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        local = self.disk / key.rsplit("/", 1)[-1]
        self.s3.download_file(bucket, key, str(local))
        return local

    def run_search(self, args: argparse.Namespace, query: Path) -> Path:
        out = self.disk / f"{query.stem}-{args.program}-{args.db}.out"
        params = shlex.split(args.params) if args.params else []
        self.run([args.program, "-query", query.name, "-db", args.db, "-num_threads", str(args.num_threads),
                  "-out", out.name, *params])  # fmt: skip
        with out.open("rb") as plain, gzip.open(f"{out}.gz", "wb") as packed:
            shutil.copyfileobj(plain, packed)
        out.unlink()
        return Path(f"{out}.gz")

    def upload(self, path: Path, destination: str) -> None:
        bucket, _, prefix = destination.removeprefix("s3://").partition("/")
        self.s3.upload_file(str(path), bucket, f"{prefix}{path.name}")
        path.unlink()

    def upload_error_if_not_present(self, args: argparse.Namespace, message: str) -> None:
        bucket, _, prefix = args.bucket.removeprefix("s3://").partition("/")
        key = f"{prefix}/metadata/FAILURE.txt".lstrip("/")
        if not self.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents"):
            self.s3.put_object(Bucket=bucket, Key=key, Body=message.encode())

    def run(self, argv: list[str]) -> None:
        """safe_exec: the command in the instance's database directory; a failure says what it said."""
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.disk, timeout=_CHILD_TIMEOUT_S,
                              env={**os.environ, "BLASTDB": str(self.disk)}, check=False)  # fmt: skip
        if done.returncode != 0:
            raise ContainerError(done.returncode, f'The command "{" ".join(argv)}" returned with exit code '
                                 f"{done.returncode}\n{done.stderr}\n{done.stdout}")  # fmt: skip


class ContainerError(Exception):
    """splitq_download_db_search's SafeExecError: a command failed with `returncode`."""

    def __init__(self, returncode: int, message: str) -> None:
        super().__init__(message)
        self.returncode = returncode


def _blast_arguments() -> argparse.ArgumentParser:
    """The arguments of splitq_download_db_search (`parse_args`) that the job definition passes."""
    parser = argparse.ArgumentParser(prog="splitq_download_db_search")
    for name in ("--db", "--db-path", "--source", "--db-mol-type", "--query", "--program", "--bucket", "--params",
                 "--taxidlist"):  # fmt: skip
        parser.add_argument(name)
    for name in ("--num-threads", "--split-part", "--num-parts"):
        parser.add_argument(name, type=int, default=-1)
    parser.add_argument("--search", dest="run_search", action="store_true", default=True)
    parser.add_argument("--no-search", dest="run_search", action="store_false")
    return parser
