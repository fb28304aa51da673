"""What `elastic-blast` said: its status output and exit codes, as a `RunStatus` or a clear error.

`elastic-blast status --exit-code --verbose` exits 0 SUCCESS, 1 FAILURE,
2 CREATING, 3 SUBMITTING, 4 RUNNING, 5 DELETING, 6 UNKNOWN and prints
`Pending N` / `Running N` / `Succeeded N` / `Failed N` while running. Two
traps: with `--exit-code` a status command that itself fails (cluster
unreachable, credentials rejected) also exits 1, and codes 2-6 double as the
documented error codes (2 BLASTDB … 6 permissions). The words decide: a real
FAILURE prints "Your ElasticBLAST search failed" on stdout, a real state
prints its name or counts on stdout, an error prints only to stderr.
"""

from __future__ import annotations

import re
from collections import defaultdict

from blastflow.errors import BackendError, TransientBackendError
from blastflow.failure import python_crash
from blastflow.sanitise import sanitise
from blastflow.search import PodCounts, RunState, RunStatus

__all__ = [
    "ERROR_EXIT_CODES",
    "FAILURE_TEXT",
    "STATUS_EXIT_CODES",
    "SUCCESS_TEXT",
    "TRANSIENT_EXIT_CODES",
    "describe_exit",
    "error_lines",
    "parse_counts",
    "parse_status",
    "summarise_aws_jobs",
]

STATUS_EXIT_CODES = {
    0: RunState.SUCCESS,
    1: RunState.FAILURE,
    2: RunState.CREATING,
    3: RunState.SUBMITTING,
    4: RunState.RUNNING,
    5: RunState.DELETING,
    6: RunState.UNKNOWN,
}

# ElasticBLAST 1.5's constants.py, with what its bin/elastic-blast really maps onto them
# (elastic-blast-facts.md): any failing external command exits 7, an uncaught exception 1,
# a resubmission to a used results location 8, a failed clean-up turns any code into 255.
ERROR_EXIT_CODES = {
    1: "error in the query, BLAST options or ElasticBLAST configuration",
    2: "error in the BLAST database",
    3: "error in the BLAST engine",
    4: "out of memory",
    5: "timeout",
    6: "permissions error, or the output files could not be created",
    7: "an external command (gcloud, gsutil, kubectl, aws, az) failed, authentication included, "
    "or a cloud quota was exceeded",
    8: "cluster error, or the results location was already used by another search",
    9: "operation interrupted",
    10: "the search is not ready",
    255: "unknown error, or cleaning up after an error failed",
}
# Worth asking again later: the cluster did not answer, the run was interrupted, or it is not ready yet.
TRANSIENT_EXIT_CODES = frozenset({8, 9, 10})

SUCCESS_TEXT = "Your ElasticBLAST search succeeded"
FAILURE_TEXT = "Your ElasticBLAST search failed"

_COUNT = re.compile(r"^\s*(Pending|Running|Succeeded|Failed)\s+(\d+)\s*$", re.MULTILINE)
_STATE_WORD = re.compile(r"^\s*(SUCCESS|FAILURE|CREATING|SUBMITTING|RUNNING|DELETING|UNKNOWN)\s*$", re.MULTILINE)
_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b:|^error:|Traceback", re.IGNORECASE)
_AUTH = re.compile(
    r"\b(401|403|unauthori[sz]ed|forbidden|must be logged in|credentials?|permission denied|access denied)\b",
    re.IGNORECASE,
)
# kubectl's own refusal: the Azure fork's status swallows it (fork azure.py 1576-1578, 1620-1621), logs it as a
# WARNING and says SUBMITTING, so only these words tell a refused cluster from one still setting up.
_KUBECTL_REFUSED = re.compile(r"must be logged in to the server|\((Unauthorized|Forbidden)\)")
_CONFIG = re.compile(r"configuration|invalid|not a valid|No such file|not found", re.IGNORECASE)
_REPORT_URL = re.compile(r",?\s*please help us improve ElasticBLAST.*$", re.IGNORECASE)
# One AWS Batch job in `status --verbose` on AWS (aws.py `_check_status_extended`): ` 1. ` then `  Key: value`.
_AWS_JOB_START = re.compile(r"^ \d+\. $")
_AWS_JOB_FIELD = re.compile(
    r"^  (JobArn|JobName|StatusReason|ContainerExitCode|ContainerReason|RuntimeInSeconds): (.*)$"
)
# ElasticBLAST's own AWS Batch jobs, listed and counted with the BLAST batches by `status --verbose` on AWS: the job
# that submits the BLAST jobs from the cloud (aws.py `_cloud_submit`) and the query splitter (aws.py
# `cloud_query_split`). Not batches: counted, a search of 3 batches reads "4 of 4 batches", and wait-for-pods ends
# when the job-submission container starts, before any BLAST job runs.
_AWS_HELPER_JOB = re.compile(r"-(job-submissions|query-split)$")
_TRANSIENT_CRASH = re.compile(r"Timeout|ConnectionError|ConnectTimeout|EndpointConnectionError|Throttl")


def describe_exit(code: int) -> str:
    """What an `elastic-blast` exit code means, in words.

    Example:
        >>> describe_exit(8)
        'exit code 8: cluster error, or the results location was already used by another search'
        >>> describe_exit(-9)
        'killed by signal 9'
    """
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}: {ERROR_EXIT_CODES.get(code, 'undocumented exit code')}"


def parse_counts(text: str) -> PodCounts | None:
    """The batches' Pending/Running/Succeeded/Failed counts in status output; None when it has none.

    On AWS, ElasticBLAST counts its own Batch jobs (job submission, query splitting) with the BLAST batches;
    they are listed by name in the verbose output, and left out here.

    Example:
        >>> parse_counts("Pending 1\\nRunning 2\\nSucceeded 3\\nFailed 0\\n")
        PodCounts(pending=1, running=2, succeeded=3, failed=0)
        >>> parse_counts("SUBMITTING") is None
        True
        >>> parse_counts("Pending 1\\n 1. \\n  JobName: elasticblast-ann-blastp-batch-nr-job-0\\nRunning 0\\n"
        ...              "Succeeded 1\\n 1. \\n  JobName: elasticblast-ann-0f3c9a1b2-job-submissions\\nFailed 0\\n")
        PodCounts(pending=1, running=0, succeeded=0, failed=0)
    """
    found = {name.lower(): int(value) for name, value in _COUNT.findall(text)}
    if not found:
        return None
    for section, jobs in _aws_jobs(text)[1].items():
        helpers = sum(bool(_AWS_HELPER_JOB.search(job.get("JobName", ""))) for job in jobs)
        if helpers and section.lower() in found:
            found[section.lower()] = max(0, found[section.lower()] - helpers)
    return PodCounts(**found)


def error_lines(text: str) -> list[str]:
    """The lines of `text` that carry an error (`ERROR:` / `CRITICAL:` log lines, `error:` lines).

    Example:
        >>> error_lines("INFO: ok\\n2024-01-02T03:04:05.000006Z ERROR: quota exceeded\\n")
        ['2024-01-02T03:04:05.000006Z ERROR: quota exceeded']
    """
    return [line.strip() for line in sanitise(text).splitlines() if _ERROR_LINE.search(line)]


def parse_status(returncode: int, stdout: str, stderr: str, counts: PodCounts | None = None) -> RunStatus:
    """Turn one `elastic-blast status --exit-code --verbose` run into a `RunStatus`.

    ElasticBLAST prints batch counts only while running; `counts` (e.g. from the
    Kubernetes API) stands in when the output has none.

    Raises:
        BackendError: the status command itself failed for a lasting reason (code
            `cluster_auth` when the cluster rejected the credentials).
        TransientBackendError: it failed for a reason worth retrying (cluster
            unreachable, interrupted, not ready).

    Example:
        >>> parse_status(4, "Pending 0\\nRunning 3\\nSucceeded 1\\nFailed 0\\n", "").counts.running
        3
        >>> parse_status(0, "Your ElasticBLAST search succeeded, results can be found in gs://b/r\\n", "").state
        <RunState.SUCCESS: 'success'>
        >>> parse_status(1, "", "error: You must be logged in to the server (Unauthorized)\\n")
        Traceback (most recent call last):
        ...
        blastflow.errors.BackendError: cluster credentials rejected: elastic-blast status could not read the \
search: error: You must be logged in to the server (Unauthorized)
        >>> parse_status(3, "SUBMITTING\\n", "WARNING: pod query failed\\nerror: You must be logged in to the server "
        ...              "(Unauthorized)\\n").state
        Traceback (most recent call last):
        ...
        blastflow.errors.BackendError: cluster credentials rejected: elastic-blast status could not read the \
search: error: You must be logged in to the server (Unauthorized)
    """
    out, err = sanitise(stdout or ""), sanitise(stderr or "")
    counts = parse_counts(out) or counts
    state = STATUS_EXIT_CODES.get(returncode)
    if state is RunState.FAILURE:
        if FAILURE_TEXT in out:
            return RunStatus(state=state, counts=counts or PodCounts(), message=_failure_message(out, err, counts))
    elif state is RunState.SUCCESS or (
        state is not None and (counts is not None or _says_state(out, state) or not err.strip())
    ):
        if (state is RunState.UNKNOWN and _AUTH.search(out + err)) or (
            state is RunState.SUBMITTING and _KUBECTL_REFUSED.search(err)
        ):
            # ElasticBLAST on GKE reports a refused kubectl as UNKNOWN, with kubectl's words as the detail;
            # the Azure fork as SUBMITTING, with kubectl's words in a warning on stderr.
            raise _status_error(returncode, out, err)
        return RunStatus(state=state, counts=counts or PodCounts(), message=_details(out))
    raise _status_error(returncode, out, err)


def summarise_aws_jobs(out: str) -> tuple[str, list[str]]:
    r"""Split AWS `status --verbose` output into the lines that are not per-job listings, and the failed jobs' reasons.

    On AWS the verbose status lists every Batch job of the search; that grows with the batches and says
    nothing a person needs beyond the counts, except why the failed ones failed.

    Example:
        >>> rest, failed = summarise_aws_jobs(
        ...     "Failed 1\n 1. \n  JobArn: arn:aws:batch:j1\n  JobName: elasticblast-search-batch-007\n"
        ...     "  StatusReason: Essential container in task exited\n  ContainerExitCode: 3\nRunning 1\n 1. \n"
        ...     "  JobArn: arn:aws:batch:j2\n  JobName: elasticblast-search-batch-001\n")
        >>> rest
        'Failed 1\nRunning 1'
        >>> failed
        ['job elasticblast-search-batch-007 failed: Essential container in task exited (container exit code 3)']
    """
    rest, jobs = _aws_jobs(out)
    return "\n".join(rest), [_aws_failure(job) for job in jobs["Failed"]]


def _aws_jobs(out: str) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
    """The lines that are not per-job listings, and the listed jobs' fields by section (Pending ... Failed)."""
    rest: list[str] = []
    jobs: dict[str, list[dict[str, str]]] = defaultdict(list)
    section = ""
    for line in out.splitlines():
        count = _COUNT.match(line)
        field = _AWS_JOB_FIELD.match(line)
        if _AWS_JOB_START.match(line):
            jobs[section].append({})
        elif field and jobs[section]:
            jobs[section][-1][field[1]] = field[2].strip()
        else:
            section = count[1] if count else section
            rest.append(line)
    return rest, jobs


def _aws_failure(job: dict[str, str]) -> str:
    text = f"job {job.get('JobName') or job.get('JobArn', '?')} failed: {job.get('StatusReason', 'no reason given')}"
    details = [f"container exit code {job['ContainerExitCode']}"] if "ContainerExitCode" in job else []
    details += [job["ContainerReason"]] if job.get("ContainerReason") else []
    return text + (f" ({'; '.join(details)})" if details else "")


def _says_state(out: str, state: RunState) -> bool:
    if state is RunState.SUCCESS:
        return SUCCESS_TEXT in out or bool(_STATE_WORD.search(out))
    return any(word.lower() == state.value for word in _STATE_WORD.findall(out))


def _failure_message(out: str, err: str, counts: PodCounts | None) -> str:
    """ElasticBLAST's own words on why the search failed, without the boilerplate plea or job listings."""
    rest, failed_jobs = summarise_aws_jobs(out)
    details = [
        line.strip()
        for line in rest.splitlines()
        if line.strip() and FAILURE_TEXT not in line and not _COUNT.match(line) and not _STATE_WORD.match(line)
    ]
    details += failed_jobs + error_lines(err)
    head = "ElasticBLAST reports the search failed"
    if counts is not None and counts.failed:
        head += f" ({counts.failed} of {counts.total} batches failed)"
    return f"{head}: {' '.join(details)}" if details else f"{head}."


def _status_error(returncode: int, out: str, err: str) -> BackendError:
    crash = python_crash(err.splitlines()) or python_crash(out.splitlines())
    if crash is not None:
        text = f"elastic-blast status crashed (an uncaught Python exception, not an input error): {crash}"
        return TransientBackendError(text) if _TRANSIENT_CRASH.search(crash) else BackendError(text, code="elb_crash")
    lines = error_lines(err) or [line.strip() for line in err.splitlines() if line.strip()]
    lines = lines or error_lines(out) or [line.strip() for line in out.splitlines() if line.strip()]
    said = _REPORT_URL.sub("", lines[-1]) if lines else ""
    said = said or "(it printed nothing)"
    if _AUTH.search(err) or _AUTH.search(out):
        return BackendError(
            f"cluster credentials rejected: elastic-blast status could not read the search: {said}",
            code="cluster_auth",
        )
    text = f"elastic-blast status failed ({describe_exit(returncode)}): {said}"
    if returncode == 1:
        # With --exit-code a status command that fails exits 1 with its reason on stderr: a cluster
        # hiccup unless it is about the configuration, which asking again will not fix.
        if not err.strip() or _CONFIG.search(err):
            return BackendError(text, code="elb_status")
        return TransientBackendError(text)
    if returncode < 0 or returncode in TRANSIENT_EXIT_CODES:
        return TransientBackendError(text)
    return BackendError(text, code="elb_status")


def _details(out: str) -> str:
    """The verbose lines that say more than a count or a state name (AWS job listings left out)."""
    lines = [line.strip() for line in summarise_aws_jobs(out)[0].splitlines()]
    return " ".join(line for line in lines if line and not _COUNT.match(line) and not _STATE_WORD.match(line))
