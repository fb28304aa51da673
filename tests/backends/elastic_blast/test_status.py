"""`elastic-blast status --exit-code --verbose` output and exit codes, turned into states or clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.status import (
    ERROR_EXIT_CODES,
    FAILURE_TEXT,
    describe_exit,
    error_lines,
    parse_counts,
    parse_status,
)
from blastflow.errors import BackendError, TransientBackendError
from blastflow.search import PodCounts, RunState

FAILURE_OUT = (
    f"{FAILURE_TEXT}, please help us improve ElasticBLAST by reporting this failure as described in "
    "https://blast.ncbi.nlm.nih.gov/doc/elastic-blast/support.html\n"
    "blastn-batch-nt-job-002 failed: BLAST exit code 3: out of memory\n"
)


@pytest.mark.parametrize(
    ("code", "stdout", "state"),
    [
        (0, "Your ElasticBLAST search succeeded, results can be found in gs://b/r\n", RunState.SUCCESS),
        (2, "CREATING\n", RunState.CREATING),
        (3, "SUBMITTING\n", RunState.SUBMITTING),
        (4, "Pending 2\nRunning 1\nSucceeded 0\nFailed 0\n", RunState.RUNNING),
        (5, "DELETING\n", RunState.DELETING),
        (6, "UNKNOWN\n", RunState.UNKNOWN),
        (4, "", RunState.RUNNING),  # --exit-code without output: the code alone is the state
    ],
)
def test_each_documented_status_exit_code(code: int, stdout: str, state: RunState) -> None:
    assert parse_status(code, stdout, "").state is state


def test_running_counts_come_from_the_verbose_output() -> None:
    status = parse_status(4, "Pending 2\nRunning 1\nSucceeded 3\nFailed 1\n", "")
    assert status.counts == PodCounts(pending=2, running=1, succeeded=3, failed=1)


def test_a_failure_carries_elastic_blasts_reason_not_its_plea() -> None:
    status = parse_status(1, FAILURE_OUT, "", counts=PodCounts(succeeded=2, failed=1))
    assert status.state is RunState.FAILURE
    assert status.message == (
        "ElasticBLAST reports the search failed (1 of 3 batches failed): "
        "blastn-batch-nt-job-002 failed: BLAST exit code 3: out of memory"
    )
    assert "please help us" not in status.message


def test_colour_codes_never_reach_a_status_message() -> None:
    status = parse_status(1, "\x1b[31m" + FAILURE_OUT + "\x1b[0m", "")
    assert "\x1b" not in status.message and "out of memory" in status.message


def test_exit_1_without_the_failure_sentence_is_the_status_command_failing() -> None:
    """With --exit-code a cluster hiccup exits 1 too; it must not read as a failed search."""
    with pytest.raises(TransientBackendError, match=r"elastic-blast status failed .*connection refused"):
        parse_status(1, "", "kubectl: The connection to the server 10.0.0.1:443 was refused - connection refused\n")


@pytest.mark.parametrize(
    "stderr",
    [
        "error: You must be logged in to the server (Unauthorized)\n",
        'Error from server (Forbidden): pods is forbidden: User "x" cannot list resource "pods"\n',
    ],
)
def test_rejected_cluster_credentials_are_permanent(stderr: str) -> None:
    with pytest.raises(BackendError, match="cluster credentials rejected") as raised:
        parse_status(1, "", stderr)
    assert raised.value.code == "cluster_auth" and not isinstance(raised.value, TransientBackendError)


def test_a_configuration_error_is_permanent() -> None:
    with pytest.raises(BackendError, match="configuration error") as raised:
        parse_status(1, "", "ERROR: Elastic-BLAST configuration error(s):\nMissing results\n")
    assert not isinstance(raised.value, TransientBackendError)


@pytest.mark.parametrize(("code", "transient"), [(8, True), (9, True), (10, True), (7, False), (255, False)])
def test_error_exit_codes(code: int, transient: bool) -> None:
    stderr = "2026-01-01T00:00:00.000000Z ERROR: something went wrong\n"
    with pytest.raises(BackendError, match=re.escape(f"exit code {code}: {ERROR_EXIT_CODES[code]}")) as raised:
        parse_status(code, "", stderr)
    assert isinstance(raised.value, TransientBackendError) is transient
    assert "ERROR: something went wrong" in str(raised.value)


def test_codes_2_to_6_with_only_an_error_are_the_error_meanings() -> None:
    with pytest.raises(BackendError, match="exit code 6: permissions error"):
        parse_status(6, "", "ERROR: cannot write to gs://b/r\n")


def test_a_child_killed_by_a_signal_is_transient() -> None:
    with pytest.raises(TransientBackendError, match="killed by signal 9"):
        parse_status(-9, "", "")


def test_secrets_in_the_output_are_masked() -> None:
    stderr = "ERROR: upload failed: DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0a2V5;\n"
    with pytest.raises(BackendError) as raised:
        parse_status(7, "", stderr)
    assert "c2VjcmV0a2V5" not in str(raised.value)


def test_helpers() -> None:
    assert parse_counts("Pending 0\nRunning 0\nSucceeded 4\nFailed 0") == PodCounts(succeeded=4)
    assert parse_counts("nothing here") is None
    assert describe_exit(3) == "exit code 3: error in the BLAST engine"
    assert describe_exit(42) == "exit code 42: undocumented exit code"
    assert error_lines("INFO: fine\nCRITICAL: bad\nerror: worse\n") == ["CRITICAL: bad", "error: worse"]


AWS_VERBOSE_RUNNING = "\n".join(  # shaped as aws.py `_check_status_extended` of elastic-blast 1.5.0 prints it
    [
        'Pending 1',
        'Running 1',
        'Succeeded 1',
        'Failed 1',
        'Pending 1',
        ' 1. ',
        '  JobArn: arn:aws:batch:us-east-1:123456789012:job/8c1e',
        '  JobName: elasticblast-search-batch-002-job-5',
        'Running 1',
        ' 1. ',
        '  JobArn: arn:aws:batch:us-east-1:123456789012:job/77a0',
        '  JobName: elasticblast-search-batch-001-job-5',
        'Succeeded 1',
        ' 1. ',
        '  JobArn: arn:aws:batch:us-east-1:123456789012:job/01f3',
        '  JobName: elasticblast-search-batch-000-job-5',
        '  StatusReason: Essential container in task exited',
        '  ContainerExitCode: 0',
        '  RuntimeInSeconds: 41.2',
        'Failed 1',
        ' 1. ',
        '  JobArn: arn:aws:batch:us-east-1:123456789012:job/c9d2',
        '  JobName: elasticblast-search-batch-003-job-5',
        '  StatusReason: Essential container in task exited',
        '  ContainerExitCode: 2',
        '  RuntimeInSeconds: 3.9',
        "",
    ]
)  # job ids made up


def test_aws_job_listings_are_summarised_to_counts_and_failed_reasons() -> None:
    status = parse_status(1, FAILURE_TEXT + ", please help us improve ElasticBLAST\n" + AWS_VERBOSE_RUNNING, "")
    assert status.state is RunState.FAILURE
    assert (status.counts.pending, status.counts.running, status.counts.succeeded, status.counts.failed) == (1, 1, 1, 1)
    assert "JobArn" not in status.message and "batch-001" not in status.message
    assert status.message.endswith(
        "job elasticblast-search-batch-003-job-5 failed: Essential container in task exited (container exit code 2)"
    )


def test_a_running_aws_search_says_no_more_than_its_counts() -> None:
    running = AWS_VERBOSE_RUNNING[: AWS_VERBOSE_RUNNING.rindex("Failed 1")].replace("Failed 1", "Failed 0")
    status = parse_status(4, running + "Failed 0\n", "")
    assert status.state is RunState.RUNNING and status.counts.failed == 0
    assert status.message == ""


def test_a_crash_in_status_is_named_a_crash_with_its_last_line() -> None:
    stderr = (Path(__file__).parent / "captured" / "submit-dry-run-aws-no-credentials.stderr").read_text()
    with pytest.raises(BackendError) as raised:
        parse_status(1, "", stderr)
    assert raised.value.code == "elb_crash" and not isinstance(raised.value, TransientBackendError)
    assert str(raised.value).endswith("NoCredentialsError: Unable to locate credentials")
    assert "Traceback" not in str(raised.value)
