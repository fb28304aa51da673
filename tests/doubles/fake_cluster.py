"""TEST DOUBLE: the cluster behind the fake `elastic-blast` and the fake Kubernetes API server.

It imitates the Kubernetes cluster ElasticBLAST runs a search on: its pods, their logs, the results
export and the janitor, in a file rather than on cloud machines.

One JSON file (with a lock file beside it) is the cluster: `elastic-blast submit`
(a child process) adds a search with its batches; the Kubernetes API server (a
thread in the test process) and `elastic-blast status` read it. Time is counted
in observations, not seconds: every pod listing and every status call is one
tick, and a batch's pod is Pending for the first `pending_ticks` observations
after submit, Running for the next `running_ticks`, then finished. That keeps tests deterministic.

When a batch's pod finishes, its results-export "container" uploads
`batch_NNN-<program>-<db>.out.gz` to the results location (Azure Blob through a
connection string, or a local directory standing in for gs:// / s3://); when the
last one finishes the "janitor" writes `metadata/SUCCESS.txt` or `FAILURE.txt`.
A search of the Azure fork (one with an `elb_job_id`) exports all of these under
`<results>/<elb_job_id>/`, as the fork's results-export and finalizer scripts do.

Scenarios (`scenario` in the state, or FAKE_ELB_SCENARIO in the environment):
success, blast_failure (the first batch runs BLAST against a database that does
not exist, so real BLAST fails), submit_failure (submit exits 7: quota),
never_starts (pods stay Pending: ImagePullBackOff).
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["SCENARIOS", "FakeCluster"]

SCENARIOS = ("success", "blast_failure", "submit_failure", "never_starts")
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_DEFAULTS: dict[str, Any] = {
    "namespace": "default",
    "scenario": "success",
    "pending_ticks": 1,
    "running_ticks": 1,
    "stagger_ticks": 0,  # batch i starts i * stagger_ticks observations after batch 0
    "tick": 0,
    "credentials_revoked": False,
    "empty_log_reads": 0,  # the first N log reads of a finished container return nothing (unflushed logs)
    "log_reads": 0,
    "blob_connection_string": "",
    "bucket_dir": "",
    "searches": {},
}


class FakeCluster:
    """The shared state of the fake cluster, in `directory/cluster.json`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "cluster.json"
        self._lock_path = self.directory / "cluster.lock"
        if not self.path.exists():
            self._write(dict(_DEFAULTS))

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
        """Set top-level settings: scenario, pending_ticks, running_ticks, empty_log_reads, namespace…"""
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
        with self.edit() as state:
            state["credentials_revoked"] = True

    def _read(self) -> dict[str, Any]:
        state = dict(_DEFAULTS)
        state.update(json.loads(self.path.read_text()))
        return state

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.path)

    # -- searches ----------------------------------------------------------------------------
    def add_search(self, results: str, search: dict[str, Any]) -> None:
        with self.edit() as state:
            search["submitted_tick"] = state["tick"]
            search.setdefault("deleted", False)
            search.setdefault("finished", False)
            state["searches"][results] = search

    def search(self, results: str) -> dict[str, Any] | None:
        found = self.read()["searches"].get(results.rstrip("/"))
        return None if found is None or found.get("deleted") else found

    def delete(self, results: str) -> bool:
        with self.edit() as state:
            found = state["searches"].get(results.rstrip("/"))
            if found is None or found["deleted"]:
                return False
            found["deleted"] = True
            return True

    def observe(self) -> dict[str, Any]:
        """One tick of cluster time: pods move on, finished batches export, the janitor marks."""
        with self.edit() as state:
            state["tick"] += 1
            for results, search in state["searches"].items():
                if not search["deleted"]:
                    self._export(state, results, search)
            return state

    # -- pods --------------------------------------------------------------------------------
    def batch_phase(self, state: dict[str, Any], search: dict[str, Any], batch: dict[str, Any]) -> str:
        if search["scenario"] == "never_starts":
            return "Pending"
        # The first observation after submit is age 0; later batches may start later (stagger).
        age = state["tick"] - search["submitted_tick"] - 1 - batch["index"] * state["stagger_ticks"]
        if age < state["pending_ticks"]:
            return "Pending"
        if age < state["pending_ticks"] + state["running_ticks"]:
            return "Running"
        return "Succeeded" if batch["exit_code"] == 0 and not batch.get("export_error") else "Failed"

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        """Kubernetes `V1Pod` objects (as JSON) of every live search, after one tick."""
        state = self.observe()
        if namespace != state["namespace"]:
            return []
        return [
            self._pod(state, results, search, batch)
            for results, search in state["searches"].items()
            if not search["deleted"]
            for batch in search["batches"]
        ]

    def pod_log(self, namespace: str, name: str, container: str, tail_lines: int | None) -> tuple[int, str]:
        """(HTTP status, body) of a log read, as the API server would answer it."""
        with self.edit() as state:
            for search in state["searches"].values():
                for batch in search["batches"]:
                    if search["deleted"] or batch["pod"] != name or namespace != state["namespace"]:
                        continue
                    if container not in ("blast", "results-export"):
                        return 400, f'container {container} is not valid for pod {name}'
                    phase = self.batch_phase(state, search, batch)
                    if phase == "Pending":
                        reason = "ImagePullBackOff" if search["scenario"] == "never_starts" else "ContainerCreating"
                        return 400, f'container "{container}" in pod "{name}" is waiting to start: {reason}'
                    key = "log" if container == "blast" else "export_log"
                    lines = batch[key].splitlines()
                    if phase == "Running":
                        lines = lines[:2]
                    else:
                        state["log_reads"] += 1
                        if state["log_reads"] <= state["empty_log_reads"]:
                            lines = []
                    if tail_lines is not None:
                        lines = lines[-tail_lines:] if tail_lines > 0 else []
                    return 200, "".join(f"{line}\n" for line in lines)
        return 404, f'pods "{name}" not found'

    def _pod(self, state: dict[str, Any], results: str, search: dict[str, Any], batch: dict[str, Any]) -> dict:
        phase = self.batch_phase(state, search, batch)
        created = (_EPOCH + timedelta(seconds=search["submitted_tick"] * 10 + batch["index"])).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        labels = {"app": "blast", "db": search["db_label"], "job-name": batch["job"],
                  "batch.kubernetes.io/job-name": batch["job"]}
        if search.get("elb_job_id"):
            labels["elb-job-id"] = search["elb_job_id"]
        env = [{"name": "ELB_RESULTS", "value": results}, {"name": "JOB_NUM", "value": f"{batch['index']:03d}"}]
        image = "elbacr.azurecr.io/ncbi/elb:1.3.2.2"
        statuses = [self._container_status(c, phase, search, batch, image) for c in ("blast", "results-export")]
        conditions = [{"type": "PodScheduled", "status": "True"}]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": batch["pod"],
                "namespace": state["namespace"],
                "uid": hashlib.sha1(batch["pod"].encode()).hexdigest(),
                "labels": labels,
                "creationTimestamp": created,
            },
            "spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "blast", "image": image, "env": env},
                               {"name": "results-export", "image": image, "env": env}],
            },
            "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
        }

    @staticmethod
    def _container_status(name: str, phase: str, search: dict, batch: dict, image: str) -> dict[str, Any]:
        status: dict[str, Any] = {"name": name, "image": image, "imageID": "", "ready": phase == "Running",
                                  "restartCount": 0}
        if phase == "Pending":
            if search["scenario"] == "never_starts":
                status["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                               "message": f'Back-off pulling image "{image}"'}}
            else:
                status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        elif phase == "Running":
            status["state"] = {"running": {"startedAt": "2026-01-01T00:00:01Z"}}
        else:
            code = 0
            if name == "results-export" and phase == "Failed":
                code = batch["exit_code"] or 1
                status["restartCount"] = 3
            status["state"] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}
        return status

    # -- results -----------------------------------------------------------------------------
    def _export(self, state: dict[str, Any], results: str, search: dict[str, Any]) -> None:
        if search.get("elb_job_id"):  # the Azure fork's layout
            results = f"{results}/{search['elb_job_id']}"
        for batch in search["batches"]:
            if batch.get("exported") or self.batch_phase(state, search, batch) not in ("Succeeded", "Failed"):
                continue
            batch["exported"] = True
            if batch["exit_code"] == 0 and batch.get("output"):
                name = Path(batch["output"]).name
                try:
                    self.upload(state, results, name, Path(batch["output"]).read_bytes())
                except Exception as exc:  # the real results-export container fails the batch the same way
                    batch["export_error"] = f"{type(exc).__name__}: {exc}"
                    batch["export_log"] += f"ERROR: upload of {name} failed: {batch['export_error']}\n"
        if search["finished"] or not all(b.get("exported") for b in search["batches"]):
            return
        search["finished"] = True
        failed = [b for b in search["batches"] if b["exit_code"] != 0 or b.get("export_error")]
        with contextlib.suppress(Exception):
            if failed:
                text = "\n".join(f"{b['job']} failed: {b['error']}" for b in failed) + "\n"
                self.upload(state, results, "metadata/FAILURE.txt", text.encode())
            else:
                self.upload(state, results, "metadata/SUCCESS.txt", b"")

    @staticmethod
    def upload(state: dict[str, Any], results: str, name: str, data: bytes) -> None:
        """Write one object under the results location, as the cluster's export identity would."""
        if results.startswith("https://") and ".blob.core.windows.net/" in results:
            from azure.storage.blob import BlobServiceClient

            container, _, prefix = results.split(".blob.core.windows.net/", 1)[1].partition("/")
            if not state["blob_connection_string"]:
                raise RuntimeError("the fake cluster has no blob connection string")
            service = BlobServiceClient.from_connection_string(state["blob_connection_string"])
            with service:
                blob = f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name
                service.get_blob_client(container, blob).upload_blob(data, overwrite=True)
            return
        if state["bucket_dir"]:
            target = Path(state["bucket_dir"]) / results.split("://", 1)[-1] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    @staticmethod
    def gzip_file(source: Path, target: Path) -> None:
        with source.open("rb") as raw, gzip.open(target, "wb") as packed:
            shutil.copyfileobj(raw, packed)
