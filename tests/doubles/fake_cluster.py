"""TEST DOUBLE: the AKS cluster behind the Azure-fork `elastic-blast` double and the fake Kubernetes API server.

It imitates what the Azure fork of ElasticBLAST (dotnetpower/elastic-blast-azure at 7a47129, the ref its
docker-openapi/Dockerfile installs; see fake_elastic_blast.py) leaves running on an AKS cluster, as the
fork's templates and pod scripts make it behave. References are to the fork at 7a47129 under
src/elastic_blast/ unless marked; "facts" is /work/shared/reference/elastic-blast-facts.md.

- Time is counted in observations, not seconds: every pod listing and every `elastic-blast status` call is one
  tick, and a tick stands for `tick_s` seconds of cluster time (default 10 s; creation times and
  `ttlSecondsAfterFinished` use it). Nothing sleeps.
- Setup first (facts "submit"; azure.py:1240-1246 applies init-pv without waiting, kubernetes.py:1412 the
  submit-jobs job): for `setup_ticks` observations after submit the cluster runs only the setup job `init-pv`
  (`app=setup`) and `submit-jobs-<id8>` (`app=submit`); no `app=blast` job or pod exists, so the fork's status
  says SUBMITTING. Then submit-jobs creates one BLAST job per batch (docker-job-submit/cloud-job-submit-aks.sh)
  and deletes init-pv.
- A BLAST job (templates/blast-batch-job-aks.yaml.template) is named
  `<program>-batch-<db label>-job-<NNN>-<elb_job_id[-8:]>` (line 5); job and pod labels `app=blast`,
  `db=<db label>`, `elb-job-id=<elb_job_id>` (lines 6-16) plus the Job controller's `job-name` labels; init
  container `load-blastdb-into-ram`, containers `blast` and `results-export` (lines 28-112) with
  `ELB_RESULTS=<results>/<elb_job_id>` (lines 82-83, azure.py:1082); `restartPolicy: OnFailure` and
  `backoffLimit: 5` (lines 113-114).
- Its one pod is Pending for `pending_ticks` (init container running, containers `PodInitializing`), then
  Running for `running_ticks`. A BLAST failure fails both containers (blast-run-aks.sh exits with BLAST's code,
  results-export-aks.sh:36 exits with the same code), so both restart inside the same pod: `CrashLoopBackOff`
  for `crashloop_ticks`, `restartCount` + 1, then the next attempt. The Job controller fails the Job once the
  containers' restart counts add up to the backoff limit (kubernetes job_controller.go
  `pastBackoffLimitOnFailure`: sum >= 5, i.e. at the third restart of both containers) with condition
  `Failed`/`BackoffLimitExceeded`, and deletes its pod: the failed pod is gone (facts "Kubernetes objects").
- Each finished attempt's results-export uploads `metadata/BLASTDB_LENGTH.out`, `logs/BLAST_RUNTIME-NNN.out`
  and `batch_NNN-<program>-<db>.out.gz` under `<results>/<elb_job_id>/` (results-export-aks.sh:20-34; real
  BLAST+ writes an archive even when it fails). A failed BLAST attempt uploads its stderr as
  `<results>/<elb_job_id>/metadata/FAILURE.txt` unless one is there (blast-run-aks.sh:75-81; if `azcopy ls`
  exits 0 for a missing blob, as elb-finalizer-aks.sh:32-36 suggests, the real pod never writes it).
- The finalizer (elb-finalizer-aks.sh) waits for this submission's jobs (`app=blast,elb-job-id=<id>`,
  lines 14-16, 103) and writes `<results>/<elb_job_id>/metadata/SUCCESS.txt` ("SUCCESS", lines 255-256) when
  they are all Complete; with a failed job it stays in `kubectl wait --timeout=72h` (line 103) and then writes
  FAILURE.txt with the failed jobs' names (lines 106-114). Assumed, not verified: `kubectl wait` stops waiting
  for a job that is deleted, so a failed job deleted by its TTL ends the wait.
- Finished BLAST jobs and their pods are deleted `ttlSecondsAfterFinished` after they finish (default 1800 s,
  `ELB_JOB_TTL_SECONDS`): fork HEAD templates/blast-batch-job-aks.yaml.template:122 and azure.py:1114-1128
  (commit ba8075b). NOTE: the pinned ref 7a47129 has no TTL (its template ends at `backoffLimit: 5`), so a fork
  installed at that ref never deletes finished jobs; submit with `ELB_JOB_TTL_SECONDS=0` to get that (0 here
  means "no TTL").
- Pods whose image cannot be pulled (the fork's default image `elb-unknown-azure-acr-name.azurecr.io/ncbi/
  elb:1.4.0` when the ini has no `azure-acr-name`, elb_config.py:892, constants.py:235-252) wait in
  `ImagePullBackOff`: the setup jobs never finish, so no BLAST job is ever created.
- AKS clusters are kept by name with their provisioning state; deleting one removes every job and pod on it.

Every search's pods are served by the one fake Kubernetes API (fake_k8s.py), whatever cluster they run on.

Scenarios (`scenario` in the state, or FAKE_ELB_SCENARIO in the environment of `submit`) are cluster
conditions, not fork behaviours: success; blast_failure (batch 0 runs BLAST against a database that does not
exist, so real BLAST+ fails with its own error); submit_failure (AKS refuses to create the cluster: quota);
never_starts (the BLAST pods' image cannot be pulled on the nodes, so they stay Pending in ImagePullBackOff).

Not imitated: the finalizer's and janitor's own pods, the vmtouch DaemonSet, warm-cluster reuse of an already
loaded database, activeDeadlineSeconds, persistent volumes, azcopy's own output in the pod logs.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["BACKOFF_LIMIT", "SCENARIOS", "FakeCluster", "batch_state"]

SCENARIOS = ("success", "blast_failure", "submit_failure", "never_starts")
BACKOFF_LIMIT = 5  # templates/blast-batch-job-aks.yaml.template:114
# pastBackoffLimitOnFailure sums both containers' restart counts: the Job fails at this restart of both.
_FAILING_ATTEMPTS = math.ceil(BACKOFF_LIMIT / 2)
_FINALIZER_WAIT_S = 72 * 3600  # elb-finalizer-aks.sh:103 `kubectl wait ... --timeout=72h`
_BLAST_APPEAR_TIMEOUT_S = 3600  # elb-finalizer-aks.sh:66
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_RESULTS_DIR = "/blast/blastdb/results"  # templates/blast-batch-job-aks.yaml.template:90-91
_IMAGE = "elbacr.azurecr.io/ncbi/elb:1.4.0"  # constants.py:247-252, with the ACR name the ini gives
_DEFAULTS: dict[str, Any] = {
    "namespace": "default",
    "scenario": "success",
    "setup_ticks": 2,  # observations during which only the setup jobs run (status: SUBMITTING)
    "pending_ticks": 1,
    "running_ticks": 1,  # per attempt
    "crashloop_ticks": 1,  # CrashLoopBackOff between two attempts of a failing batch
    "stagger_ticks": 0,  # batch i's job is created i * stagger_ticks observations after batch 0's
    "tick_s": 10,  # seconds of cluster time per observation
    "tick": 0,
    "credentials_revoked": False,
    "empty_log_reads": 0,  # the first N log reads of a finished container return nothing (unflushed logs)
    "log_reads": 0,
    "blob_connection_string": "",
    "clusters": {},  # AKS clusters by name: {"provisioning_state": "Succeeded", "resource_group": ...}
    "searches": {},  # submissions by elb_job_id
}
_TIMING = ("setup_ticks", "pending_ticks", "running_ticks", "crashloop_ticks", "stagger_ticks")
_QUIET_LOCK = threading.Lock()
_quiet = {"depth": 0, "level": logging.NOTSET}


class FakeCluster:
    """The shared state of the fake AKS clusters, in `directory/cluster.json` (CLI children and the test share it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "cluster.json"
        self._lock_path = self.directory / "cluster.lock"
        if not self.path.exists():
            self._write(json.loads(json.dumps(_DEFAULTS)))

    # -- state -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Read, change and write the state under an exclusive lock (the CLI runs in other processes)."""
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = self._read()
                yield state
                self._write(state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any]:
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                return self._read()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def configure(self, **values: Any) -> None:
        """Set top-level settings: scenario, setup_ticks, pending_ticks, running_ticks, tick_s, empty_log_reads…"""
        unknown = set(values) - set(_DEFAULTS)
        if unknown:
            raise KeyError(f"unknown fake cluster settings: {sorted(unknown)}")
        if "scenario" in values and values["scenario"] not in SCENARIOS:
            raise ValueError(f"unknown scenario {values['scenario']!r}; one of {SCENARIOS}")
        with self.edit() as state:
            state.update(values)

    def scenario(self) -> str:
        return os.environ.get("FAKE_ELB_SCENARIO") or self.read()["scenario"]

    def revoke_credentials(self) -> None:
        """The cluster refuses every client's credentials from now on (kubectl: Unauthorized)."""
        with self.edit() as state:
            state["credentials_revoked"] = True

    def _read(self) -> dict[str, Any]:
        state = json.loads(json.dumps(_DEFAULTS))
        state.update(json.loads(self.path.read_text()))
        return state

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.path)

    # -- AKS clusters ------------------------------------------------------------------------
    def create_cluster(self, name: str, resource_group: str, location: str) -> None:
        """AKS `begin_create_or_update` done: the cluster exists and is `Succeeded`."""
        with self.edit() as state:
            state["clusters"][name] = {"provisioning_state": "Succeeded", "resource_group": resource_group,
                                       "location": location, "created_tick": state["tick"]}  # fmt: skip

    def set_provisioning_state(self, name: str, provisioning_state: str) -> None:
        """Put an existing cluster in another AKS provisioning state (Creating, Stopping, Deleting, …)."""
        with self.edit() as state:
            state["clusters"][name]["provisioning_state"] = provisioning_state

    def delete_cluster(self, name: str) -> bool:
        """AKS `begin_delete` done: the cluster and every job and pod on it are gone."""
        with self.edit() as state:
            found = state["clusters"].pop(name, None) is not None
            for search in state["searches"].values():
                if search["cluster"] == name and not search["deleted"]:
                    search["deleted"] = found = True
            return found

    # -- submissions -------------------------------------------------------------------------
    def add_search(self, results: str, search: dict[str, Any], **timing: int) -> None:
        """Record a submission: `search` holds elb_job_id, cluster, program, db, db_label, image, pullable,
        ttl_s and batches (index, job, pod, exit_code, stderr, log, export_log, output); `timing` overrides
        the cluster's setup/pending/running/crashloop/stagger ticks for it (e.g. setup_ticks=0)."""
        with self.edit() as state:
            search = {"scenario": state["scenario"], "cluster": "elasticblast-test", "image": _IMAGE,
                      "pullable": True, "ttl_s": 1800, "options": "-outfmt 11", "num_cpus": 8, "db_length": "",
                      **search, "results": results.rstrip("/"), "submitted_tick": state["tick"],
                      "timing": {key: timing.get(key, state[key]) for key in _TIMING}, "deleted": False,
                      "jobs_submitted": False, "exports": {}, "failure_marker": False, "verdict": None}  # fmt: skip
            for batch in search["batches"]:
                for key in ("stderr", "runtime", "output"):
                    batch.setdefault(key, "")
            state["searches"][search["elb_job_id"]] = search

    def search(self, results: str) -> dict[str, Any] | None:
        """The newest live submission writing to `results` (None once its cluster is deleted)."""
        live = [s for s in self.read()["searches"].values()
                if s["results"] == results.rstrip("/") and not s["deleted"]]  # fmt: skip
        return max(live, key=lambda s: s["submitted_tick"]) if live else None

    def delete(self, results: str) -> bool:
        """Delete the AKS cluster the newest live submission to `results` runs on (what `elastic-blast delete` does)."""
        found = self.search(results)
        return found is not None and self.delete_cluster(found["cluster"])

    def observe(self) -> dict[str, Any]:
        """One tick of cluster time: jobs move on, attempts export, the finalizer marks."""
        with self.edit() as state:
            state["tick"] += 1
            for search in state["searches"].values():
                if not search["deleted"]:
                    _jobs_submitted(state, search)
                    _export(state, search)
                    _finalize(state, search)
            return state

    # -- what the Kubernetes API shows ------------------------------------------------------
    def pods(self, namespace: str) -> list[dict[str, Any]]:
        """Kubernetes `V1Pod` objects (as JSON) of every live submission, after one tick."""
        state = self.observe()
        if namespace != state["namespace"]:
            return []
        pods = []
        for search in state["searches"].values():
            if search["deleted"]:
                continue
            pods += _setup_pods(state, search)
            for batch in search["batches"]:
                shown = batch_state(state, search, batch)
                if shown["pod"] is not None:
                    pods.append(_blast_pod(state, search, batch, shown))
        return pods

    def pod_log(self, namespace: str, name: str, container: str, tail_lines: int | None) -> tuple[int, str]:
        """(HTTP status, body) of a log read, as the API server would answer it."""
        with self.edit() as state:
            for search in state["searches"].values():
                for batch in search["batches"]:
                    if search["deleted"] or batch["pod"] != name or namespace != state["namespace"]:
                        continue
                    shown = batch_state(state, search, batch)
                    if shown["pod"] is not None:
                        return _log_answer(state, batch, shown, container, tail_lines)
        return 404, f'pods "{name}" not found'

    @staticmethod
    def job_counts(state: dict[str, Any], cluster: str) -> dict[str, int]:
        """What kubectl shows of the `app=blast` jobs and pods on one AKS cluster, every submission's.

        Returns pending (jobs without a Complete/Failed condition), succeeded, failed, and running (pods in
        phase Running), as azure.py `_count_blast_jobs` / `_job_status_by_app` (1555-1622) count them.
        """
        counts = {"pending": 0, "succeeded": 0, "failed": 0, "running": 0}
        for search in state["searches"].values():
            if search["deleted"] or search["cluster"] != cluster:
                continue
            for batch in search["batches"]:
                shown = batch_state(state, search, batch)
                if shown["job"] is None:
                    continue
                key = {"Complete": "succeeded", "Failed": "failed"}.get(shown["job"], "pending")
                counts[key] += 1
                counts["running"] += shown["pod"] == "Running"
        return counts

    # -- results -----------------------------------------------------------------------------
    @staticmethod
    def upload(state: dict[str, Any], location: str, name: str, data: bytes) -> None:
        """Write one blob under `location` (an Azure Blob URL), as the cluster's azcopy would."""
        container, blob = _blob_path(location, name)
        with _sdk_quiet(), _blob_service(state) as service:
            service.get_blob_client(container, blob).upload_blob(data, overwrite=True)

    @staticmethod
    def read_blob(state: dict[str, Any], location: str, name: str) -> bytes | None:
        """One blob under `location`, or None when there is none."""
        from azure.core.exceptions import ResourceNotFoundError

        container, blob = _blob_path(location, name)
        with _sdk_quiet(), _blob_service(state) as service:
            try:
                return service.get_blob_client(container, blob).download_blob().readall()
            except ResourceNotFoundError:
                return None

    @staticmethod
    def gzip_file(source: Path, target: Path) -> None:
        with source.open("rb") as raw, gzip.open(target, "wb") as packed:
            shutil.copyfileobj(raw, packed)


# -- the timeline of one batch ---------------------------------------------------------------
def batch_state(state: dict[str, Any], search: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    """Where one batch's Job and pod are at the current tick.

    Returns a dict: `job` (None: no such Job (not created yet, or deleted by its TTL); "Active", "Complete" or
    "Failed"), `pod` (None: no pod; "Pending" or "Running" or "Succeeded"), `container` ("initializing",
    "image", "running", "crashloop", "done"), `restarts`, `ended` (attempts that have ended), `age` (ticks
    since the Job was created).
    """
    t = search["timing"]
    age = state["tick"] - search["submitted_tick"] - t["setup_ticks"] - 1 - batch["index"] * t["stagger_ticks"]
    shown: dict[str, Any] = {"job": None, "pod": None, "container": "", "restarts": 0, "ended": 0, "age": age}
    if age < 0 or not search["pullable"]:
        return shown
    if search["scenario"] == "never_starts":
        return {**shown, "job": "Active", "pod": "Pending", "container": "image"}
    pending, running, crashloop = t["pending_ticks"], t["running_ticks"], t["crashloop_ticks"]
    if age < pending:
        return {**shown, "job": "Active", "pod": "Pending", "container": "initializing"}
    if batch["exit_code"] == 0:
        if age < pending + running:
            return {**shown, "job": "Active", "pod": "Running", "container": "running"}
        return _after_ttl(state, search, {**shown, "job": "Complete", "pod": "Succeeded", "container": "done",
                                          "ended": 1}, pending + running)  # fmt: skip
    attempt, into = divmod(age - pending, running + crashloop)
    failed_at = pending + (_FAILING_ATTEMPTS - 1) * (running + crashloop) + running
    if age >= failed_at:  # BackoffLimitExceeded: the Job fails and its pod is deleted
        return _after_ttl(state, search, {**shown, "job": "Failed", "ended": _FAILING_ATTEMPTS}, failed_at)
    if into < running:
        return {**shown, "job": "Active", "pod": "Running", "container": "running", "restarts": attempt,
                "ended": attempt}  # fmt: skip
    return {**shown, "job": "Active", "pod": "Running", "container": "crashloop", "restarts": attempt + 1,
            "ended": attempt + 1}  # fmt: skip


def _after_ttl(state: dict[str, Any], search: dict[str, Any], shown: dict[str, Any], finished_at: int) -> dict:
    ttl_s = search["ttl_s"]
    if ttl_s and (shown["age"] - finished_at) * state["tick_s"] >= ttl_s:
        return {**shown, "job": None, "pod": None}  # the TTL-after-finished controller deleted Job and pod
    return shown


# -- exports and the finalizer ---------------------------------------------------------------
def _jobs_submitted(state: dict[str, Any], search: dict[str, Any]) -> None:
    """cloud-job-submit-aks.sh:235-236: once the BLAST jobs are applied, `metadata/num_jobs_submitted.txt`."""
    if search["jobs_submitted"] or not search["batches"] or batch_state(state, search, search["batches"][0])["age"] < 0:
        return
    try:
        FakeCluster.upload(state, f"{search['results']}/{search['elb_job_id']}", "metadata/num_jobs_submitted.txt",
                           f"{len(search['batches'])}\n".encode())  # fmt: skip
    except Exception:  # the next tick tries again
        return
    search["jobs_submitted"] = True


def _export(state: dict[str, Any], search: dict[str, Any]) -> None:
    """Each attempt that ended since the last tick: results-export uploads; a failed BLAST writes FAILURE.txt."""
    where = f"{search['results']}/{search['elb_job_id']}"
    for batch in search["batches"]:
        ended = batch_state(state, search, batch)["ended"]
        done = search["exports"].get(str(batch["index"]), 0)
        if ended <= done:
            continue
        try:
            if batch["exit_code"] != 0 and not search["failure_marker"]:
                if FakeCluster.read_blob(state, where, "metadata/FAILURE.txt") is None:  # blast-run-aks.sh:77
                    FakeCluster.upload(state, where, "metadata/FAILURE.txt", batch["stderr"].encode())
                search["failure_marker"] = True
            _results_export(state, search, batch, where)
        except Exception as exc:  # storage did not take it: the next tick tries again
            batch["export_error"] = f"{type(exc).__name__}: {exc}"
            continue
        search["exports"][str(batch["index"])] = ended


def _results_export(state: dict[str, Any], search: dict[str, Any], batch: dict[str, Any], where: str) -> None:
    """results-export-aks.sh:20-34: the database length, the runtime log and the gzipped archive."""
    FakeCluster.upload(state, where, "metadata/BLASTDB_LENGTH.out", search.get("db_length", "").encode())
    FakeCluster.upload(state, where, f"logs/BLAST_RUNTIME-{batch['index']:03d}.out", batch["runtime"].encode())
    if batch.get("output"):
        FakeCluster.upload(state, where, Path(batch["output"]).name, Path(batch["output"]).read_bytes())


def _finalize(state: dict[str, Any], search: dict[str, Any]) -> None:
    """elb-finalizer-aks.sh: SUCCESS.txt once every job of this submission is Complete (see the module notes)."""
    if search["verdict"] is not None or not search["pullable"]:
        return
    where = f"{search['results']}/{search['elb_job_id']}"
    waited_s = (state["tick"] - search["submitted_tick"]) * state["tick_s"]
    shown = [batch_state(state, search, b) for b in search["batches"]]
    if all(s["age"] < 0 for s in shown):
        if waited_s >= _BLAST_APPEAR_TIMEOUT_S:  # elb-finalizer-aks.sh:88-98
            _verdict(state, search, where, "FAILURE", f"no BLAST jobs appeared within {_BLAST_APPEAR_TIMEOUT_S}s\n")
        return
    live = [(b, s) for b, s in zip(search["batches"], shown, strict=True) if s["job"] is not None]
    if any(s["age"] < 0 for s in shown) or (
        any(s["job"] != "Complete" for _, s in live) and waited_s < _FINALIZER_WAIT_S
    ):
        return
    failed = [b["job"] for b, s in live if s["job"] == "Failed"]
    if failed:  # elb-finalizer-aks.sh:111-114: `echo "$FAILED" | azcopy cp /dev/stdin .../FAILURE.txt`
        _verdict(state, search, where, "FAILURE", " ".join(failed) + "\n")
    else:
        _verdict(state, search, where, "SUCCESS", "SUCCESS\n")


def _verdict(state: dict[str, Any], search: dict[str, Any], where: str, marker: str, text: str) -> None:
    try:
        FakeCluster.upload(state, where, f"metadata/{marker}.txt", text.encode())
    except Exception:  # the next tick tries again
        return
    search["verdict"] = marker


# -- pods as the API server shows them ---------------------------------------------------------
def _timestamp(state: dict[str, Any], tick: int, offset_s: int = 0) -> str:
    return (_EPOCH + timedelta(seconds=tick * state["tick_s"] + offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uid(name: str) -> str:
    digest = hashlib.sha1(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _blast_pod(state: dict[str, Any], search: dict[str, Any], batch: dict[str, Any], shown: dict) -> dict:
    created = search["submitted_tick"] + search["timing"]["setup_ticks"] + 1
    job_uid = _uid(batch["job"])
    labels = {"app": "blast", "db": search["db_label"], "elb-job-id": search["elb_job_id"],
              "batch.kubernetes.io/controller-uid": job_uid, "batch.kubernetes.io/job-name": batch["job"],
              "controller-uid": job_uid, "job-name": batch["job"]}  # fmt: skip
    results = f"{search['results']}/{search['elb_job_id']}"
    job_num = f"{batch['index']:03d}"
    env = {"BLAST_ELB_JOB_ID": search["elb_job_id"], "BLAST_ELB_BATCH_NUM": str(batch["index"]), "JOB_NUM": job_num,
           "ELB_BLAST_PROGRAM": search["program"], "ELB_DB": search["db"], "ELB_NUM_CPUS": str(search["num_cpus"]),
           "ELB_BLAST_OPTIONS": search["options"], "ELB_RESULTS": results, "ELB_TIMEFMT": "%s%N",
           "QUERY_DIR": "/blast/blastdb/queries", "RESULTS_DIR": _RESULTS_DIR}  # fmt: skip
    export_env = {k: env[k] for k in ("JOB_NUM", "ELB_BLAST_PROGRAM", "ELB_DB", "ELB_RESULTS", "RESULTS_DIR")}
    image = search["image"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": batch["pod"], "namespace": state["namespace"], "uid": _uid(batch["pod"]),
                     "labels": labels, "creationTimestamp": _timestamp(state, created, batch["index"]),
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": batch["job"],
                                          "uid": job_uid, "controller": True}]},
        "spec": {
            "restartPolicy": "OnFailure",
            "initContainers": [{"name": "load-blastdb-into-ram", "image": image,
                                "command": ["/scripts/blast-vmtouch-aks.sh"]}],
            "containers": [
                {"name": "blast", "image": image, "command": ["/scripts/blast-run-aks.sh"], "env": _env(env)},
                {"name": "results-export", "image": image, "command": ["/scripts/results-export-aks.sh"],
                 "env": _env(export_env)},
            ],
        },
        "status": _blast_pod_status(batch, shown, image),
    }


def _env(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in values.items()]


def _blast_pod_status(batch: dict[str, Any], shown: dict[str, Any], image: str) -> dict[str, Any]:
    pending = shown["pod"] == "Pending"
    init: dict[str, Any] = {"name": "load-blastdb-into-ram", "image": image, "imageID": "", "ready": not pending,
                            "restartCount": 0}  # fmt: skip
    if shown["container"] == "image":
        init["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
    elif pending:
        init["state"] = {"running": {"startedAt": "2026-01-01T00:00:01Z"}}
    else:
        init["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    containers = [_container_status(name, batch, shown, image) for name in ("blast", "results-export")]
    conditions = [{"type": "PodScheduled", "status": "True"},
                  {"type": "Initialized", "status": "False" if pending else "True"},
                  {"type": "Ready", "status": "True" if shown["container"] == "running" else "False"}]  # fmt: skip
    return {"phase": shown["pod"], "conditions": conditions, "initContainerStatuses": [init],
            "containerStatuses": containers}  # fmt: skip


def _container_status(name: str, batch: dict[str, Any], shown: dict[str, Any], image: str) -> dict[str, Any]:
    status: dict[str, Any] = {"name": name, "image": image, "imageID": "", "ready": shown["container"] == "running",
                              "restartCount": shown["restarts"]}  # fmt: skip
    kind = shown["container"]
    if kind in ("initializing", "image"):
        status["state"] = {"waiting": {"reason": "PodInitializing"}}
    elif kind == "running":
        status["state"] = {"running": {"startedAt": "2026-01-01T00:00:02Z"}}
    elif kind == "crashloop":  # kubelet: back-off 10s, 20s, 40s … between restarts
        back_off = 10 * 2 ** (shown["restarts"] - 1)
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off {back_off}s restarting failed container={name} pod={batch['pod']}_default")}}  # fmt: skip
        status["lastState"] = {"terminated": {"exitCode": batch["exit_code"], "reason": "Error"}}
    else:
        status["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    return status


def _setup_pods(state: dict[str, Any], search: dict[str, Any]) -> list[dict[str, Any]]:
    """init-pv (`app=setup`) until submit-jobs deletes it; submit-jobs-<id8> (`app=submit`), Succeeded after."""
    setup_done = state["tick"] - search["submitted_tick"] > search["timing"]["setup_ticks"] and search["pullable"]
    short = search["elb_job_id"][-8:]
    pods = []
    for job, app, containers in (("init-pv", "setup", ("get-blastdb", "import-query-batches")),
                                 (f"submit-jobs-{short}", "submit", ("submit-jobs",))):  # fmt: skip
        if job == "init-pv" and setup_done:
            continue  # cloud-job-submit-aks.sh: `kubectl delete job init-pv` once the database is in place
        phase = "Succeeded" if setup_done else ("Running" if search["pullable"] else "Pending")
        statuses = [_setup_container(name, phase, search["image"]) for name in containers]
        name = f"{job}-{hashlib.sha1((search['elb_job_id'] + job).encode()).hexdigest()[:5]}"
        pods.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": state["namespace"], "uid": _uid(name),
                         "labels": {"app": app, "elb-job-id": search["elb_job_id"], "job-name": job,
                                    "batch.kubernetes.io/job-name": job},
                         "creationTimestamp": _timestamp(state, search["submitted_tick"])},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": c, "image": search["image"], "env": _env(
                    {"ELB_RESULTS": f"{search['results']}/{search['elb_job_id']}"} if app == "submit" else {})}
                for c in containers]},
            "status": {"phase": phase, "containerStatuses": statuses},
        })  # fmt: skip
    return pods


def _setup_container(name: str, phase: str, image: str) -> dict[str, Any]:
    pulling = {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
    state: dict[str, Any] = {"Running": {"running": {"startedAt": "2026-01-01T00:00:01Z"}},
                             "Succeeded": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                             "Pending": {"waiting": pulling}}[phase]  # fmt: skip
    return {"name": name, "image": image, "imageID": "", "ready": phase == "Running", "restartCount": 0,
            "state": state}


def _log_answer(state: dict[str, Any], batch: dict[str, Any], shown: dict[str, Any], container: str,
                tail_lines: int | None) -> tuple[int, str]:
    name = batch["pod"]
    if container not in ("blast", "results-export", "load-blastdb-into-ram"):
        return 400, f"container {container} is not valid for pod {name}"
    if container == "load-blastdb-into-ram":
        lines: list[str] = []
    elif shown["container"] in ("initializing", "image"):
        return 400, f'container "{container}" in pod "{name}" is waiting to start: PodInitializing'
    else:
        lines = batch["log" if container == "blast" else "export_log"].splitlines()
        if shown["container"] == "running":
            lines = lines[:2]  # the attempt that runs now has said this much
        elif shown["container"] == "done":
            state["log_reads"] += 1
            if state["log_reads"] <= state["empty_log_reads"]:
                lines = []
        # "crashloop": the kubelet serves the log of the attempt that just ended
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    return 200, "".join(f"{line}\n" for line in lines)


# -- blob storage plumbing (stands in for the cluster's azcopy) ---------------------------------
def _blob_path(location: str, name: str) -> tuple[str, str]:
    if ".blob.core.windows.net/" not in location:
        raise ValueError(f"the fake AKS cluster writes only to Azure Blob URLs, not {location!r}")
    container, _, prefix = location.split(".blob.core.windows.net/", 1)[1].partition("/")
    return container, f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


@contextlib.contextmanager
def _blob_service(state: dict[str, Any]) -> Iterator[Any]:
    from azure.storage.blob import BlobServiceClient

    if not state["blob_connection_string"]:
        raise RuntimeError("the fake cluster has no blob connection string")
    with BlobServiceClient.from_connection_string(state["blob_connection_string"]) as service:
        yield service


@contextlib.contextmanager
def _sdk_quiet() -> Iterator[None]:
    """Keep the storage SDK's own request logs out of the CLI's log: the fork moves blobs with azcopy, not the SDK."""
    azure = logging.getLogger("azure")
    with _QUIET_LOCK:
        _quiet["depth"] += 1
        if _quiet["depth"] == 1:
            _quiet["level"] = azure.level
            azure.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0:
                azure.setLevel(_quiet["level"])
