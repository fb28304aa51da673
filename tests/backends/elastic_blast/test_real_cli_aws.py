"""The real elastic-blast 1.5.0 on AWS, with only the cloud replaced: it accepts the inis blastflow writes, what it
refuses blastflow refuses first in its words, and blastflow reads what its `submit`, `status` and `delete` say.

ElasticBLAST reaches AWS through boto3; `AWS_ENDPOINT_URL` points it at moto's server. A dry run makes one call,
STS GetCallerIdentity (elb_config.py ~317), which moto answers for the `reader` identity. The rest runs in an
`AwsWorld` (tests/doubles/aws): moto for S3, STS, EC2, IAM, CloudFormation (ElasticBLAST's own template) and Batch
bookkeeping, as the `operator` identity; the boto3 double for what moto lacks (the quota check's Service Quotas,
AWS Batch job states); the `aws` double for `aws s3 ls` of the user's database; and the AWS Batch double, whose
job-submission container is the real `elastic_blast` code submitting one BLAST job per query batch. One real
call takes 3-6 s, so the module shares one submitted search: each status test scripts the job states it needs,
and the last test deletes it.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from blastflow.backends.elastic_blast.backend import ElasticBlastBackend
from blastflow.backends.elastic_blast.config import (
    ElbSearch,
    build_config,
    check_options,
    config_problems,
    read_config,
    render_config,
)
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.backends.elastic_blast.status import FAILURE_TEXT, parse_status, summarise_aws_jobs
from blastflow.errors import InputError, TransientBackendError
from blastflow.search import PodCounts, PreparedRun, RunState, RunStatus, SearchSpec
from blastflow.settings import Settings
from blastflow.steps.prepare import check_search
from blastflow.stream import stream_child
from tests.doubles.aws.batch import ESSENTIAL_CONTAINER_EXITED
from tests.doubles.aws.world import AwsWorld
from tests.doubles.elb_doubles import first_records

PROTEIN = ">sp|P69905|HBA_HUMAN\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPN\n"


def _dry_run(exe: Path, moto_s3, directory: Path, ini_text: str) -> subprocess.CompletedProcess[str]:
    directory.mkdir(parents=True)
    (directory / "q.fa").write_text(PROTEIN)
    ini = directory / "elastic-blast.ini"
    ini.write_text(ini_text.replace("@QUERIES@", str(directory / "q.fa")))
    env = {**moto_s3.env(), "AWS_ENDPOINT_URL": moto_s3.endpoint, "PATH": "/usr/bin:/bin", "HOME": str(directory)}
    return subprocess.run([str(exe), "submit", "--cfg", str(ini), "--dry-run", "--logfile", "stderr"],
                          capture_output=True, text=True, env=env, cwd=directory, timeout=120, check=False)  # fmt: skip


def _ini(options: str = "", **profile: object) -> str:
    search = check_search(SearchSpec(program="blastp", query=PROTEIN, db="swissprot", options=options))
    base = {"results": "s3://elb-results/runs", "aws_region": "us-east-1"}
    cfg = build_config(ElbSearch("blastp", "swissprot", "@QUERIES@", "s3://elb-results/runs/j1",
                                 tuple(search.options)), ElbProfile(**{**base, **profile}))  # fmt: skip
    return render_config(cfg)


@pytest.mark.parametrize(
    "profile",
    [{}, {"labels": "owner=ann,Project=Fire-Ants"}, {"batch_len": 50_000, "num_nodes": 2}],
    ids=["defaults", "labels-upper-case-allowed-on-aws", "batch-len-nodes"],
)
def test_the_real_cli_accepts_the_aws_inis_blastflow_writes(
    profile: dict[str, object], real_elastic_blast: Path, moto_s3, tmp_path: Path
) -> None:
    text = _ini("-seg yes", **profile)
    assert not config_problems(read_config(text))  # blastflow's own checks pass
    done = _dry_run(real_elastic_blast, moto_s3, tmp_path / "search", text)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_tag_key_over_255_characters_is_refused_by_both_in_the_same_words(
    real_elastic_blast: Path, moto_s3, tmp_path: Path
) -> None:
    text = _ini(labels=f"{'k' * 256}=v")
    done = _dry_run(real_elastic_blast, moto_s3, tmp_path / "search", text)
    said = [line.split("ERROR: ", 1)[1] for line in done.stderr.splitlines() if "ERROR: " in line]
    assert done.returncode == 1 and said, done.stderr[-2000:]
    assert any(said[-1] in problem.text for problem in config_problems(read_config(text)))


def test_an_option_elastic_blast_refuses_is_refused_by_both(real_elastic_blast: Path, moto_s3, tmp_path: Path) -> None:
    text = _ini().replace("options = ", "options = -remote ")
    done = _dry_run(real_elastic_blast, moto_s3, tmp_path / "search", text)
    assert done.returncode == 1 and "-remote" in done.stderr
    with pytest.raises(InputError, match="The BLAST\\+ option '-remote' is not supported in ElasticBLAST"):
        check_options(["-remote"], "blastp")


# -- one search submitted for real through the backend, then asked about in every state ------------------------------
JOB_ID = "3e8b1c2d-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
QUERY = first_records("prot", 6)  # 3 batches of at most 300 residues, for blastflow and for ElasticBLAST alike
BATCH_LEN = 300
STATUS = ("status", "--exit-code", "--verbose")
FAILURE_TXT = 'The command "blastp -query batch_001.fa -db sinvicta_prot" returned with exit code 3\nBLAST engine error'
OWNER = getpass.getuser().lower()  # in ElasticBLAST's stack and job names (elb_config.py:1103, aws.py:193)
BLAST_JOB = "elasticblast-{owner}-blastp-batch-sinvicta_prot-job-{i}"  # aws.py:878


def _install(world: AwsWorld, monkeypatch: pytest.MonkeyPatch, exe: Path) -> ElasticBlastBackend:
    """blastflow's backend on the real CLI in `world`, configured as a deployment would be (BLASTFLOW_ELB_*)."""
    world.install(monkeypatch)
    for name in [n for n in os.environ if n.startswith("BLASTFLOW_ELB_")]:
        monkeypatch.delenv(name)
    settings = {"EXECUTABLE": str(exe), "RESULTS": world.results_base, "AWS_REGION": "us-east-1",
                "S3_ENDPOINT_URL": world.moto.endpoint, "STATUS_INTERVAL_S": "0", "COMMAND_TIMEOUT_S": "120"}
    for key, value in settings.items():
        monkeypatch.setenv(f"BLASTFLOW_ELB_{key}", value)
    return ElasticBlastBackend(Settings(data_dir=world.directory / "data"))


def _prepare(backend: ElasticBlastBackend, world: AwsWorld, job_id: str) -> PreparedRun:
    """blastflow's own prepare: every check (the results location read back from S3 included), then the ini."""
    search = check_search(SearchSpec(program="blastp", query=QUERY, db=world.db_url, batch_len=BATCH_LEN))
    return backend.prepare(job_id, search, world.directory / "jobs" / job_id)


def _submit(backend: ElasticBlastBackend, run: PreparedRun) -> tuple[int, list[str], list[str]]:
    """`backend.submit_command` streamed the way blastflow's submit step streams it: exit code, stdout, stderr."""
    lines: dict[str, deque[str]] = {"stdout": deque(maxlen=20), "stderr": deque(maxlen=20)}
    result = stream_child(backend.submit_command(run), lambda stream, line: lines[stream].append(line),
                          env=backend.submit_env(run), cwd=run.workdir, timeout_s=300)  # fmt: skip
    return result.returncode, list(lines["stdout"]), list(lines["stderr"])


def _stack_name(run: PreparedRun) -> str:
    """ElasticBLAST's default cluster (stack) name: elasticblast-<user>-<md5 of the results URL>[:9]."""
    return f"elasticblast-{OWNER}-{hashlib.md5(run.results_location.encode()).hexdigest()[:9]}"


@dataclass(frozen=True)
class Search:
    world: AwsWorld
    run: PreparedRun
    status_before_submit: subprocess.CompletedProcess[str]
    submitted: tuple[int, list[str], list[str]]
    keys_after_submit: list[str]
    jobs_after_submit: list[dict[str, Any]]
    status_after_submit: RunStatus


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory, moto_s3, elb_blast_dbs: Path, real_elastic_blast: Path) -> Search:
    """A blastp search of the user's own database in S3, submitted through blastflow's backend with the real CLI,
    then handed over by the job-submission container (real elastic_blast code) as one BLAST job per batch."""
    world = AwsWorld.create(tmp_path_factory.mktemp("aws-search"), moto_s3, real_elastic_blast, elb_blast_dbs)
    with pytest.MonkeyPatch.context() as monkeypatch:
        backend = _install(world, monkeypatch, real_elastic_blast)
        run = _prepare(backend, world, JOB_ID)
        before = world.run([str(real_elastic_blast), *STATUS, "--cfg", str(run.config_path)])
        submitted = _submit(backend, run)
        keys, jobs = world.s3_keys(run.results_location), world.batch.jobs()
        status = backend.status(run)
    world.batch.run_until(lambda jobs: any(job["jobName"].endswith("-job-2") for job in jobs))
    return Search(world, run, before, submitted, keys, jobs, status)


def _status(search: Search, exe: Path) -> subprocess.CompletedProcess[str]:
    return search.world.run([str(exe), *STATUS, "--cfg", str(search.run.config_path)])


def test_status_before_the_stack_exists_is_exit_8_and_blastflow_asks_again_later(search: Search) -> None:
    said = search.status_before_submit
    words = f"ERROR: Cluster {_stack_name(search.run)} is not valid or not created yet"  # aws.py:1003
    assert said.returncode == 8 and words in said.stderr, said.stderr[-2000:]
    with pytest.raises(TransientBackendError, match="exit code 8: cluster error") as raised:
        parse_status(said.returncode, said.stdout, said.stderr)
    assert words in str(raised.value)


def test_a_real_submit_through_the_backend_hands_the_search_to_aws_batch(search: Search) -> None:
    returncode, stdout, stderr = search.submitted
    assert returncode == 0, stderr
    assert stdout == []  # upstream submit prints nothing on stdout; its log went to stderr
    assert search.keys_after_submit == [
        "metadata/elastic-blast-config.json", "metadata/job-ids-v2.json", "metadata/query_length.txt",
        "query_batches/batch_000.fa", "query_batches/batch_001.fa", "query_batches/batch_002.fa",
    ]  # fmt: skip
    assert len(search.run.batches) == 3  # blastflow split the query as ElasticBLAST did
    stack = search.world.stack(_stack_name(search.run))
    assert stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
    assert {out["OutputKey"] for out in stack["Outputs"]} >= {"JobQueueName", "BlastJobDefinitionName",
                                                              "JobSubmissionJobDefinitionName"}  # fmt: skip
    # One AWS Batch job takes the search over: it submits the BLAST jobs from the cloud (aws.py `_cloud_submit`).
    assert [(job["jobName"], job["status"]) for job in search.jobs_after_submit] == [
        (f"{_stack_name(search.run)}-job-submissions", "SUBMITTED")]
    answered = {(call["service"], call["operation"]) for call in search.world.calls() if call["by"] == "double"}
    assert ("service-quotas", "ListServiceQuotas") in answered  # the quota check ran (no TEAMCITY_VERSION)
    assert ("aws-cli", f"s3 ls {search.world.db_url}") in answered
    assert search.world.unhandled() == []
    # ElasticBLAST counts its job-submission job with the batches; blastflow does not: RUNNING, no batch yet.
    assert search.status_after_submit.state is RunState.RUNNING
    assert search.status_after_submit.counts == PodCounts()


def test_the_job_submission_container_submits_one_blast_job_per_batch(search: Search) -> None:
    assert {job["jobName"] for job in search.world.batch.jobs()} == {f"{_stack_name(search.run)}-job-submissions"} | {
        BLAST_JOB.format(owner=OWNER, i=i) for i in range(3)}
    assert "metadata/job-ids-v2.json" in search.world.s3_keys(search.run.results_location)


class Said(NamedTuple):
    """What the real `status --exit-code --verbose` does in a state, and what blastflow makes of it."""

    exit_code: int
    state: RunState
    counts: PodCounts
    words: tuple[str, ...] = ()  # in parse_status's message
    failed: tuple[str, ...] = ()  # summarise_aws_jobs: the failed jobs' reasons, exactly


# The counts are the batches': ElasticBLAST's own, less its job-submission job (4 jobs for 3 batches).
CLI_STATUS = [
    pytest.param({"job-submissions": "SUCCEEDED", "job-0": "SUCCEEDED", "job-1": "RUNNING", "job-2": "RUNNABLE"},
                 {}, Said(4, RunState.RUNNING, PodCounts(pending=1, running=1, succeeded=1)), id="running"),
    pytest.param({"job-submissions": "SUCCEEDED", "job-0": "SUCCEEDED", "job-1": "FAILED", "job-2": "RUNNING"},
                 {"job-1": (ESSENTIAL_CONTAINER_EXITED, 2)},
                 Said(1, RunState.FAILURE, PodCounts(running=1, succeeded=1, failed=1),
                      ("ElasticBLAST reports the search failed (1 of 3 batches failed):",),
                      (f"job {BLAST_JOB.format(owner=OWNER, i=1)} failed: {ESSENTIAL_CONTAINER_EXITED} "
                       "(container exit code 2)",)), id="failed-job"),
    pytest.param({"job-submissions": "SUCCEEDED", "job-0": "SUCCEEDED", "job-1": "SUCCEEDED", "job-2": "SUCCEEDED"},
                 {}, Said(0, RunState.SUCCESS, PodCounts(succeeded=3), ("results can be found in s3://",)),
                 id="success"),
]  # fmt: skip


@pytest.mark.parametrize(("states", "reasons", "said"), CLI_STATUS)
def test_parse_status_reads_what_the_real_status_says_on_aws(
    states: dict[str, str], reasons: dict[str, tuple[str, int]], said: Said, search: Search, real_elastic_blast: Path
) -> None:
    search.world.batch.set_states(states, reasons)

    done = _status(search, real_elastic_blast)

    assert done.returncode == said.exit_code, (done.stdout, done.stderr[-2000:])
    status = parse_status(done.returncode, done.stdout, done.stderr)
    assert status.state is said.state and status.counts == said.counts
    assert all(words in status.message for words in said.words), status.message
    # ElasticBLAST lists every job (aws.py:1078-1106); blastflow keeps the counts and the failed jobs' reasons only.
    assert all(f"  JobName: {job['jobName']}\n" in done.stdout for job in search.world.batch.jobs())
    rest, failed = summarise_aws_jobs(done.stdout)
    assert failed == list(said.failed)
    assert not re.search(r"^ \d+\. |^  Job", rest, re.MULTILINE) and "JobArn" not in status.message
    assert status.message.count("failed:") == len(said.failed)


def test_failure_txt_in_s3_is_the_search_failure_with_its_words(search: Search, real_elastic_blast: Path) -> None:
    """A BLAST container that fails writes metadata/FAILURE.txt (splitq_download_db_search
    upload_error_if_not_present); status reads it before any job (elasticblast.py:108-140)."""
    search.world.batch.set_states({"job-submissions": "SUCCEEDED", "job-0": "SUCCEEDED", "job-1": "RUNNING",
                                   "job-2": "RUNNING"})  # fmt: skip
    marker = f"{search.run.results_location}/metadata/FAILURE.txt"
    search.world.put(marker, FAILURE_TXT.encode())
    try:
        done = _status(search, real_elastic_blast)
    finally:
        bucket, _, key = marker.removeprefix("s3://").partition("/")
        search.world.moto.client("s3").delete_object(Bucket=bucket, Key=key)

    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout.startswith(FAILURE_TEXT) and FAILURE_TXT in done.stdout
    status = parse_status(done.returncode, done.stdout, done.stderr)
    assert status.state is RunState.FAILURE
    assert "BLAST engine error" in status.message and "returned with exit code 3" in status.message


def test_the_backends_status_on_aws_is_the_failure_with_the_failed_jobs_reason(
    search: Search, real_elastic_blast: Path
) -> None:
    search.world.batch.set_states({"job-submissions": "SUCCEEDED", "job-0": "SUCCEEDED", "job-1": "FAILED",
                                   "job-2": "SUCCEEDED"}, {"job-1": (ESSENTIAL_CONTAINER_EXITED, 3)})  # fmt: skip
    with pytest.MonkeyPatch.context() as monkeypatch:
        status = _install(search.world, monkeypatch, real_elastic_blast).status(search.run)

    assert status.state is RunState.FAILURE and status.counts == PodCounts(succeeded=2, failed=1)
    assert status.message == (
        "ElasticBLAST reports the search failed (1 of 3 batches failed): job "
        f"{BLAST_JOB.format(owner=OWNER, i=1)} failed: "
        "Essential container in task exited (container exit code 3)"
    )


# Last: it deletes the module's search.
def test_cancel_deletes_the_stack_and_the_query_batches_and_a_second_cancel_finds_nothing_to_delete(
    search: Search, real_elastic_blast: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, run = search.world, search.run
    backend = _install(world, monkeypatch, real_elastic_blast)

    first = backend.cancel(run)
    left = world.s3_keys(run.results_location)
    second = backend.cancel(run)

    assert first == "elastic-blast delete stopped the search and released its cluster resources"
    assert world.stack(_stack_name(run)) is None
    assert not [key for key in left if key.startswith("query_batches/")]  # removed before the stack (aws.py:607)
    assert "metadata/job-ids-v2.json" in left  # so this results location cannot be used again
    # AWS: a second delete exits 0 (nothing to delete), unlike GCP's exit 8; status then says exit 8, no stack.
    assert second == "elastic-blast delete stopped the search and released its cluster resources"
