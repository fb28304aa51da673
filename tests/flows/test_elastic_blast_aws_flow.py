"""The blast-search flow on the elastic-blast backend on AWS, end to end over the REAL elastic-blast 1.5.0.

Only what lies beyond the network is replaced (tests/doubles/aws, `AwsWorld`): moto's server is the AWS account
(S3, STS, EC2, IAM, CloudFormation with ElasticBLAST's own template, Batch bookkeeping), the boto3 double answers
what moto lacks (quota check, AWS Batch job states), the `aws` double lists the user's database, and the AWS Batch
double does the cluster's own work: its job-submission container is the real `elastic_blast` code submitting one
BLAST job per query batch, and each BLAST container downloads the database and batch from S3, runs REAL blastp on
them and writes `<results>/batch_NNN-blastp-sinvicta_prot.out.gz` (format 11, gzipped) in the upstream layout.
blastflow reads the results back from S3 with its own credentials (a prefect-aws AwsCredentials block named by
BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK, the read-only `reader` identity), exactly as a deployment would.

The same search run on the local backend (BLAST+ on this machine, the same makeblastdb database) must give the same
hits, row for row.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blastflow.hits import Hit, read_hits
from blastflow.model import Phase, StepName, StepStatus
from blastflow.settings import get_settings
from flows.blast_search import blast_search
from tests.doubles.aws.world import AwsWorld
from tests.doubles.elb_doubles import PROT_DB, first_records

REPO = Path(__file__).resolve().parents[2]
REAL_ELASTIC_BLAST = Path(os.environ.get("ELB_VENV", REPO / ".venv-elb")) / "bin" / "elastic-blast"
LOCAL_JOB = "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
AWS_JOB = "8d2f3e4a-5b6c-4d7e-9f8a-0b1c2d3e4f5a"
CREDENTIALS_BLOCK = "blastflow-test-s3-reader"
SEARCH = {"query": first_records("prot", 6), "program": "blastp", "batch_len": 300, "evalue": 1e-5,
          "max_target_seqs": 10}  # fmt: skip


@pytest.fixture
def aws_world(pipeline, moto_s3, elb_blast_dbs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AwsWorld:
    """The AWS world (installed in os.environ by the test), and blastflow's elastic-blast profile for it."""
    from prefect_aws import AwsCredentials

    if not REAL_ELASTIC_BLAST.is_file():
        pytest.fail(f"the real elastic-blast is not installed at {REAL_ELASTIC_BLAST}: run scripts/setup.sh --test")
    world = AwsWorld.create(tmp_path / "aws", moto_s3, REAL_ELASTIC_BLAST, elb_blast_dbs)
    AwsCredentials(aws_access_key_id=moto_s3.reader.access_key_id, region_name="us-east-1",
                   aws_secret_access_key=moto_s3.reader.secret_access_key,
                   aws_client_parameters={"endpoint_url": moto_s3.endpoint}).save(CREDENTIALS_BLOCK, overwrite=True)
    for name in [n for n in os.environ if n.startswith("BLASTFLOW_ELB_")]:
        monkeypatch.delenv(name)
    profile = {"EXECUTABLE": str(REAL_ELASTIC_BLAST), "RESULTS": world.results_base, "AWS_REGION": "us-east-1",
               "S3_ENDPOINT_URL": moto_s3.endpoint, "AWS_CREDENTIALS_BLOCK": CREDENTIALS_BLOCK,
               "STATUS_INTERVAL_S": "0", "COMMAND_TIMEOUT_S": "120"}  # fmt: skip
    for key, value in profile.items():
        monkeypatch.setenv(f"BLASTFLOW_ELB_{key}", value)
    get_settings.cache_clear()
    return world


def _hits(job_id: str) -> list[Hit]:
    return read_hits(get_settings().job_dir(job_id) / "results" / "hits.tsv")


def test_an_aws_search_completes_with_the_hits_of_the_same_search_run_locally(
    pipeline, elb_blast_dbs: Path, aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    blast_search(**SEARCH, db=str(elb_blast_dbs / PROT_DB), backend="local", job_id=LOCAL_JOB)
    aws_world.install(monkeypatch)  # the real elastic-blast's environment, for the backend's children
    # No copy of the database on the worker (BLASTDB unset): finalize renders the archives with blast_formatter,
    # which reads subject titles from the database, so it fetches the one the user uploaded from S3 itself.
    monkeypatch.delenv("BLASTDB", raising=False)
    batch = aws_world.batch.start(interval_s=0.2)
    try:
        result = blast_search(**SEARCH, db=aws_world.db_url, backend="elastic-blast", job_id=AWS_JOB)
    finally:
        batch.stop()

    job = pipeline.get(AWS_JOB)
    assert job.phase is Phase.COMPLETED, (job.error, batch.log[-10:])
    assert all(step.status is StepStatus.COMPLETED for step in job.steps.values()), job.steps
    assert job.steps[StepName.PREPARE].counters["batches"] == job.steps[StepName.FINALIZE].counters["batches"] == 3
    assert job.steps[StepName.RUN].counters == {"pending": 0, "running": 0, "succeeded": 3, "failed": 0}
    submit_lines = [line.text for line in pipeline.read_logs(AWS_JOB, StepName.SUBMIT).lines]
    assert any("INFO: Submitted AWS Batch job" in line and "to submit search jobs" in line for line in submit_lines)
    results = f"{aws_world.results_base}/{AWS_JOB}"
    assert [key for key in aws_world.s3_keys(results) if key.startswith("batch_")] == [
        f"batch_00{i}-blastp-{PROT_DB}.out.gz" for i in range(3)]  # written by the BLAST containers
    assert sorted(entry["status"] for entry in batch.jobs()) == ["SUCCEEDED"] * 4  # job submission + 3 BLAST jobs
    local_hits, aws_hits = _hits(LOCAL_JOB), _hits(AWS_JOB)
    assert result["hits"] == len(aws_hits) > 0
    assert aws_hits == local_hits
    assert (get_settings().job_dir(AWS_JOB) / "blastdb" / f"{PROT_DB}.pin").is_file()  # fetched by finalize
    # AWS Batch jobs are no pods: said once, with where the logs are, and no wait for logs that never come.
    finalize_lines = [line.text for line in pipeline.read_logs(AWS_JOB, StepName.FINALIZE).lines]
    assert job.pod_logs == "unavailable" and not any("retrying" in line for line in finalize_lines)
    assert any(line.startswith("Pod logs unavailable: this run has no pods") and "CloudWatch" in line
               for line in finalize_lines)  # fmt: skip
    assert aws_world.unhandled() == []
