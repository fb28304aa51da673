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

from blastflow.errors import BackendError, TransientBackendError
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

ERROR_EXIT_CODES = {
    1: "error in the query, BLAST options or ElasticBLAST configuration",
    2: "error in the BLAST database",
    3: "error in the BLAST engine",
    4: "out of memory",
    5: "timeout",
    6: "permissions error, or the output files could not be created",
    7: "a required dependency is missing or a cloud quota was exceeded",
    8: "error communicating with the cluster",
    9: "operation interrupted",
    10: "the search is not ready",
    255: "unknown error",
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
_CONFIG = re.compile(r"configuration|invalid|not a valid|No such file|not found", re.IGNORECASE)
_REPORT_URL = re.compile(r",?\s*please help us improve ElasticBLAST.*$", re.IGNORECASE)


def describe_exit(code: int) -> str:
    """What an `elastic-blast` exit code means, in words.

    Example:
        >>> describe_exit(8)
        'exit code 8: error communicating with the cluster'
        >>> describe_exit(-9)
        'killed by signal 9'
    """
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}: {ERROR_EXIT_CODES.get(code, 'undocumented exit code')}"


def parse_counts(text: str) -> PodCounts | None:
    """The Pending/Running/Succeeded/Failed counts in status output; None when it has none.

    Example:
        >>> parse_counts("Pending 1\\nRunning 2\\nSucceeded 3\\nFailed 0\\n")
        PodCounts(pending=1, running=2, succeeded=3, failed=0)
        >>> parse_counts("SUBMITTING") is None
        True
    """
    found = {name.lower(): int(value) for name, value in _COUNT.findall(text)}
    return PodCounts(**found) if found else None


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
        if state is RunState.UNKNOWN and _AUTH.search(out + err):
            # ElasticBLAST on GKE reports a refused kubectl as UNKNOWN, with kubectl's words as the detail.
            raise _status_error(returncode, out, err)
        return RunStatus(state=state, counts=counts or PodCounts(), message=_details(out))
    raise _status_error(returncode, out, err)


def _says_state(out: str, state: RunState) -> bool:
    if state is RunState.SUCCESS:
        return SUCCESS_TEXT in out or bool(_STATE_WORD.search(out))
    return any(word.lower() == state.value for word in _STATE_WORD.findall(out))


def _failure_message(out: str, err: str, counts: PodCounts | None) -> str:
    """ElasticBLAST's own words on why the search failed, without the boilerplate plea."""
    details = [
        line.strip()
        for line in out.splitlines()
        if line.strip() and FAILURE_TEXT not in line and not _COUNT.match(line) and not _STATE_WORD.match(line)
    ]
    details += error_lines(err)
    head = "ElasticBLAST reports the search failed"
    if counts is not None and counts.failed:
        head += f" ({counts.failed} of {counts.total} batches failed)"
    return f"{head}: {' '.join(details)}" if details else f"{head}."


def _status_error(returncode: int, out: str, err: str) -> BackendError:
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
    """The verbose lines that say more than a count or a state name."""
    lines = [line.strip() for line in out.splitlines()]
    return " ".join(line for line in lines if line and not _COUNT.match(line) and not _STATE_WORD.match(line))
