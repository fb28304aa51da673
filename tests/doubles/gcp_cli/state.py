"""TEST DOUBLE plumbing shared by the gcloud, gsutil and kubectl doubles: the world's state, call log, failures.

Not a program itself. Every double is driven by one scenario, found through the environment
(the real `elastic-blast` passes its environment to every child it starts):

  ELB_DOUBLE_STATE    the scenario's state.json (required); a missing file means all defaults
  ELB_DOUBLE_LOG      JSON-lines call log (default: state.json's directory / calls.jsonl)
  ELB_DOUBLE_GCS      local directory acting as gs:// (default: state.json's directory / gcs):
                      gs://BUCKET/KEY is the file <ELB_DOUBLE_GCS>/BUCKET/KEY

The state is read, and written back, under an fcntl lock on every call, so a test can change it
between two calls of the real CLI (`scenario.py` does) and the doubles keep it consistent
(`gcloud container clusters create` adds the cluster, `kubectl apply` adds the jobs, ...).
A call the doubles do not know is answered with an error and logged with note UNHANDLED.
Standard library only; never touches the network.
"""

from __future__ import annotations

import copy
import fcntl
import fnmatch
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_STATE", "Call", "Result", "State", "gcs_root", "option", "run_tool"]

DEFAULT_STATE: dict[str, Any] = {
    # gcloud
    "account": "tester@example.com",  # gcloud config get-value account (None: "(unset)")
    "project": "test-project",
    "apis_enabled": True,  # gcloud services list --enabled prints the API when True
    "enabled_apis": [],  # enabled by `gcloud services enable` when apis_enabled is False
    "regions": ["us-central1", "us-east1", "us-east4", "us-west1", "europe-west1", "asia-east1"],
    "ssd_quota": {"limit": 10000.0, "usage": 0.0},  # gcloud compute regions describe: SSD_TOTAL_GB
    "clusters": {},  # GKE cluster name -> status (RUNNING, PROVISIONING, RECONCILING, STOPPING, ERROR)
    "cluster_status_after_create": "RUNNING",
    "delete_removes_cluster": True,  # False: `clusters delete` leaves the cluster STOPPING
    "disks": [],  # gcloud compute disks list (names)
    "snapshots": [],  # gcloud compute snapshots list (names)
    "current_context": None,  # kubectl config current-context (set by get-credentials / create)
    # kubectl
    "k8s": {
        "unauthorized": False,  # every server call: "error: You must be logged in to the server (Unauthorized)"
        "unreachable": False,  # every server call: "Unable to connect to the server: ..."
        "resourcequota_jobs": "5k",  # kubectl get resourcequota gke-resource-quotas (None: NotFound)
        "jobs": [],  # [{"name", "labels", "conditions": ["Complete"], "active", "succeeded", "failed"}]
        "pods": [],  # [{"name", "job", "labels", "phase": "Pending|Running|Succeeded|Failed"}]
        "objects": [],  # other applied objects [{"kind", "name", "labels"}]
        "pvcs": {},  # name -> phase (an applied PVC is "Bound" at once)
        "pvs": [],  # [{"name", "claim", "volumeHandle"}] (one appears when a PVC binds)
        "volumesnapshots": [],  # [{"name", "uid", "readyToUse"}]
        "applied_job_status": {},  # status of a Job right after `kubectl apply`
        "logs": {},  # "app=setup/get-blastdb" -> text for `kubectl logs -l app=setup -c get-blastdb`
    },
    # the cluster double (cluster.py): off unless a test starts it (GcpWorld.start_cluster); time in observations
    "engine": {
        "enabled": False,
        "directory": "",  # the cluster's disk (pv/) and the pods' emptyDir volumes
        "namespace": "default",
        "tick": 0,
        "serial": 0,  # pods made so far (their names' suffixes)
        "pending_ticks": 1,  # a new pod is Pending (scheduling, image pull) this many observations
        "init_ticks": 1,  # an init container (load-blastdb-into-ram) runs this long
        "setup_ticks": 1,  # get-blastdb / import-query-batches run this long
        "run_ticks": 1,  # any other container runs at least this long
        "backoff_ticks": 1,  # Kubernetes' restart back-off (10 s, doubling), compressed to observations
        "kills": {},  # container name -> {"exit_code": 137, "reason": "OOMKilled", "times": N}: killed, not failed
    },
    # failure injection, any tool: [{"tool": "gcloud", "match": ["clusters", "create"], "rc": 1,
    # "stderr": "...", "times": 1}]; every "match" pattern (fnmatch) must match some argument
    "fail": [],
    # gsutil
    "gcs": {"denied_buckets": [], "auto_create_buckets": False},
}
_NOT_MERGED = frozenset({"clusters", "pvcs"})  # replaced as a whole, not merged key by key
_LOG_TEXT_LIMIT = 4000


class Result:
    """What a double answers: exit code, stdout (text or bytes), stderr.

    (Plain classes here, not dataclasses: every double call is a new Python, and start-up time adds up.)
    """

    def __init__(self, rc: int = 0, stdout: str | bytes = "", stderr: str = "") -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


class Call:
    """One call being answered: its stdin (for `gsutil cp -`) and a note for the log."""

    def __init__(self, stdin: bytes | None = None) -> None:
        self.stdin = stdin
        self.note = ""


def state_path() -> str:
    path = os.environ.get("ELB_DOUBLE_STATE")
    if not path:
        sys.stderr.write("gcp_cli double: ELB_DOUBLE_STATE is not set (path of the scenario's state.json)\n")
        sys.exit(97)
    return path


def gcs_root() -> str:
    return os.environ.get("ELB_DOUBLE_GCS") or os.path.join(os.path.dirname(os.path.abspath(state_path())), "gcs")


def log_path() -> str:
    default = os.path.join(os.path.dirname(os.path.abspath(state_path())), "calls.jsonl")
    return os.environ.get("ELB_DOUBLE_LOG") or default


def merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `defaults`, nested dicts merged key by key (except the ones replaced whole)."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _NOT_MERGED:
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


class State:
    """The scenario state, under an exclusive lock for the whole `with` block, saved back at its end."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or state_path()
        self.data: dict[str, Any] = {}
        self._lock: Any = None

    def __enter__(self) -> State:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lock = open(self.path + ".lock", "a")  # held until __exit__
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        given: dict[str, Any] = {}
        if os.path.exists(self.path):
            with open(self.path) as handle:
                text = handle.read()
            given = json.loads(text) if text.strip() else {}
        self.data = merged(DEFAULT_STATE, given)
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                tmp = self.path + ".tmp"
                with open(tmp, "w") as handle:
                    json.dump(self.data, handle, indent=2, sort_keys=True)
                os.replace(tmp, self.path)
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def option(args: list[str], *names: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` (the first of `names` found)."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def _injected_failure(tool: str, argv: list[str]) -> Result | None:
    """A failure the scenario asks for (state "fail"), using up one of its "times"."""
    with State() as state:
        for rule in state.data.get("fail") or []:
            if rule.get("tool", tool) != tool:
                continue
            if not all(any(fnmatch.fnmatchcase(a, pattern) for a in argv) for pattern in rule.get("match", [])):
                continue
            times = rule.get("times")
            if times is not None:
                if times <= 0:
                    continue
                rule["times"] = times - 1
            return Result(int(rule.get("rc", 1)), rule.get("stdout", ""), rule.get("stderr", ""))
    return None


def _log(tool: str, argv: list[str], result: Result, call: Call, started: float) -> None:
    stdout = result.stdout.decode("utf-8", "replace") if isinstance(result.stdout, bytes) else result.stdout
    entry: dict[str, Any] = {
        "t": round(started, 6),
        "dur": round(time.time() - started, 6),
        "tool": tool,
        "argv": argv,
        "rc": result.rc,
        "stdout": stdout[:_LOG_TEXT_LIMIT],
        "stderr": result.stderr[:_LOG_TEXT_LIMIT],
        "cwd": os.getcwd(),
    }
    if call.stdin is not None:
        entry["stdin"] = call.stdin.decode("utf-8", "replace")[:_LOG_TEXT_LIMIT]
        entry["stdin_len"] = len(call.stdin)
    if call.note:
        entry["note"] = call.note
    path = log_path()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(json.dumps(entry) + "\n")
        fcntl.flock(handle, fcntl.LOCK_UN)


def _emit(result: Result) -> None:
    if isinstance(result.stdout, bytes):
        sys.stdout.buffer.write(result.stdout)
    else:
        sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    sys.stdout.flush()
    sys.stderr.flush()


def run_tool(tool: str, handler: Callable[[list[str], Call], Result], argv: list[str], reads_stdin: bool) -> int:
    """Answer one call: drain stdin when the command reads it, inject failures, run `handler`, print, log.

    stdin is read before any lock is taken: elastic-blast keeps the pipe of `gsutil cp - URL` open until it
    exits itself (filehelper.py 244-280 never waits for that child), so a lock held while reading would
    deadlock against the next double it starts.
    """
    started = time.time()
    call = Call(stdin=sys.stdin.buffer.read() if reads_stdin else None)
    result = _injected_failure(tool, argv)
    if result is not None:
        call.note = "injected failure"
    else:
        try:
            result = handler(argv, call)
        except Exception as exc:  # a double's own bug must show, not pass as a success
            import traceback

            result = Result(98, "", f"gcp_cli double: internal error in {tool}: {exc!r}\n{traceback.format_exc()}")
            call.note = "double crashed"
    _emit(result)
    _log(tool, argv, result, call, started)
    return result.rc
