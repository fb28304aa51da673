"""TEST DOUBLE of `kubectl` (client 1.29) talking to a GKE cluster, for the real `elastic-blast` 1.5.0.

Run as a program (`python -m tests.doubles.gcp_cli.kubectl`, through the `kubectl` launcher that
`world.GcpWorld` writes first on PATH). The "cluster" is the scenario state (`state.py`): jobs, pods,
PVCs, PVs, snapshots. elastic-blast 1.5.0 uses no Kubernetes Python client on GCP; it runs these
command lines (file:line in the elastic_blast package):

  kubectl version --output=json --client=true                          gcp.py 1006
  kubectl config current-context                                       gcp.py 844-853
  kubectl --context=C version                                          kubernetes.py 848
  kubectl get resourcequota gke-resource-quotas -o=jsonpath=...        kubernetes.py 56-78 (no --context)
  kubectl --context=C apply -f FILE [-o json]                          kubernetes.py 173, 659-710, 916, 952, 982
  kubectl --context=C get pvc NAME -o json                             kubernetes.py 432-468
  kubectl --context=C get pv -o json | -o custom-columns=...           kubernetes.py 91, 109, 821
  kubectl --context=C get volumesnapshot -o json                       kubernetes.py 127
  kubectl --context=C get -f FILE -o json                              kubernetes.py 327, 371, 395
  kubectl --context=C get jobs -l app=X -o custom-columns=STATUS:.status.conditions[*].type   gcp.py 248, 304
  kubectl --context=C get pods -o custom-columns=STATUS:.status.phase -l app=blast            gcp.py 264
  kubectl --context=C get jobs -o json | -o jsonpath=...               kubernetes.py 293, 567, gcp.py 102-112
  kubectl --context=C get pv,pvc -o=NAME | describe X | patch X -p P   kubernetes.py 231-254
  kubectl --context=C delete jobs|pvc|pv|volumesnapshots ... | delete -f FILE   kubernetes.py 198-202, 275, 739, 790
  kubectl --context=C logs -l SEL -c CONTAINER --timestamps --since=24h --tail=-1   kubernetes.py 863
The context must be gke_<project>_<zone>_<name> of a cluster in state "clusters" that is not PROVISIONING or
STOPPING; k8s.unauthorized / k8s.unreachable make every server call fail with real kubectl's words. When a
test has started the cluster double (cluster.py), applied Jobs keep their pod spec and run there, every
`get jobs` or `get pods` is one observation of it, and `logs` shows its containers' logs. A job
counts for elastic-blast (gcp.py 248-275) as: "Complete" in its conditions = succeeded, "Failed" = failed,
else pending; a pod in phase Running moves one from pending to running.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from typing import Any

from tests.doubles.gcp_cli.state import Call, Result, State, option, run_tool

__all__ = ["main"]

CLIENT_VERSION = {
    "clientVersion": {"major": "1", "minor": "29", "gitVersion": "v1.29.2", "platform": "linux/amd64"},
    "kustomizeVersion": "v5.0.4-0.20230601165947-6ce0bf390ce3",
}
CLIENT_TEXT = "Client Version: v1.29.2\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n"
SERVER_TEXT = "Server Version: v1.29.1-gke.1589017\n"
UNAUTHORIZED = "error: You must be logged in to the server (Unauthorized)\n"
UNREACHABLE = "Unable to connect to the server: dial tcp 127.0.0.1:443: connect: connection refused\n"
NO_RESOURCES = "No resources found in default namespace.\n"
PLURAL = {
    "Job": "job.batch",
    "PersistentVolumeClaim": "persistentvolumeclaim",
    "PersistentVolume": "persistentvolume",
    "StorageClass": "storageclass.storage.k8s.io",
    "ClusterRole": "clusterrole.rbac.authorization.k8s.io",
    "ClusterRoleBinding": "clusterrolebinding.rbac.authorization.k8s.io",
    "CronJob": "cronjob.batch",
    "VolumeSnapshot": "volumesnapshot.snapshot.storage.k8s.io",
    "VolumeSnapshotClass": "volumesnapshotclass.snapshot.storage.k8s.io",
}
_WITH_VALUE = frozenset({"-o", "--output", "-l", "--selector", "-f", "--filename", "-p", "-c", "--container"})

Data = dict[str, Any]


class KError(Exception):
    def __init__(self, text: str, rc: int = 1) -> None:
        super().__init__(text)
        self.text, self.rc = text, rc


# -- helpers ----------------------------------------------------------------------------------------------------
def manifests(path: str) -> list[Data]:
    """kind, name and labels of every object in a manifest file (or every .yaml/.json in a directory)."""
    if os.path.isdir(path):
        files = [os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith((".yaml", ".yml", ".json"))]
    elif os.path.isfile(path):
        files = [path]
    else:
        raise KError(f'error: the path "{path}" does not exist\n')
    import yaml  # here, not at the top: most kubectl calls read no manifest, and every call is a new Python

    found = []
    for file in files:
        with open(file) as handle:
            docs = [doc for doc in yaml.safe_load_all(handle) if isinstance(doc, dict) and doc.get("kind")]
        for doc in docs:
            meta = doc.get("metadata") or {}
            found.append({"kind": doc["kind"], "name": meta.get("name"), "labels": meta.get("labels") or {},
                          "file": file, "doc": doc})  # fmt: skip
    return found


def _selected(labels: dict[str, str], selector: str | None) -> bool:
    terms = [term.partition("=") for term in (selector or "").split(",") if term]
    return all(labels.get(key) == value for key, _, value in terms)


def _observe(data: Data) -> None:
    """One observation of the cluster double, when a test has started it (imported only then: every call is a
    new Python)."""
    if data["engine"]["enabled"]:
        from tests.doubles.gcp_cli import cluster
        from tests.doubles.gcp_cli.objects import objects_from_env

        cluster.observe(data, objects_from_env())


def _check_server(data: Data, context: str | None) -> None:
    """Fail as kubectl does when the context is unknown, the cluster gone or not ready, or auth refused."""
    context = context or data.get("current_context")
    if not context:
        raise KError("The connection to the server localhost:8080 was refused - did you specify the right host?\n")
    if not (context.startswith("gke_") and context.count("_") >= 3):
        raise KError(f'error: context "{context}" does not exist\n')
    status = data["clusters"].get(context.split("_", 3)[-1])
    if status is None or status in ("STOPPING", "PROVISIONING") or data["k8s"]["unreachable"]:
        raise KError(UNREACHABLE)
    if data["k8s"]["unauthorized"]:
        raise KError(UNAUTHORIZED)


def _job_json(job: Data) -> Data:
    status: Data = {key: job[key] for key in ("active", "succeeded", "failed") if job.get(key)}
    if job.get("conditions"):
        status["conditions"] = [{"type": c, "status": "True"} for c in job["conditions"]]
    meta = {"name": job["name"], "namespace": "default", "labels": job.get("labels", {})}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "status": status}


def _find_job(k8s: Data, name: str) -> Data | None:
    return next((job for job in k8s["jobs"] if job["name"] == name), None)


def _json(items: list[Data], single: bool = False) -> Result:
    body = items[0] if single and len(items) == 1 else {"apiVersion": "v1", "kind": "List", "items": items}
    return Result(0, json.dumps(body, indent=4) + "\n")


def _columns(spec: str, rows: list[list[str]]) -> Result:
    """kubectl's custom-columns table (header row, then one row per object); no objects: its stderr note."""
    if not rows:
        return Result(0, "", NO_RESOURCES)
    headers = [column.split(":", 1)[0] for column in spec.split(",")]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]]
    return Result(0, "\n".join(lines) + "\n")


# -- apply ------------------------------------------------------------------------------------------------------
def _apply_one(data: Data, obj: Data) -> tuple[str, Data]:
    """Add one object to the cluster: (created|unchanged, its JSON). A PVC binds at once, making a PV and a disk."""
    k8s, kind, name = data["k8s"], obj["kind"], obj["name"]
    if kind == "Job":
        job = _find_job(k8s, name)
        if job is not None:
            return "unchanged", _job_json(job)
        if data["engine"]["enabled"]:  # the cluster double runs it (its pod spec is kept for that)
            from tests.doubles.gcp_cli import cluster

            return "created", _job_json(cluster.add_job(data, obj["doc"]))
        job = {"name": name, "labels": obj["labels"], **k8s["applied_job_status"]}
        k8s["jobs"].append(job)
        return "created", _job_json(job)
    if kind == "PersistentVolumeClaim":
        done = "unchanged" if name in k8s["pvcs"] else "created"
        k8s["pvcs"][name] = "Bound"
        if not any(pv["claim"] == name for pv in k8s["pvs"]):
            _, project, zone, _ = (data["current_context"] or "gke_p_z_c").split("_", 3)
            pv = f"pvc-{uuid.uuid4()}"
            handle = f"projects/{project}/zones/{zone}/disks/{pv}"
            k8s["pvs"].append({"name": pv, "claim": name, "volumeHandle": handle})
            data["disks"].append(pv)
        return done, {"kind": kind, "metadata": {"name": name}}
    if kind == "VolumeSnapshot":
        uid = str(uuid.uuid4())
        k8s["volumesnapshots"].append({"name": name, "uid": uid, "readyToUse": True})
        data["snapshots"].append(f"snapshot-{uid}")
        return "created", {"kind": kind, "metadata": {"name": name, "uid": uid}}
    if any(o["kind"] == kind and o["name"] == name for o in k8s["objects"]):
        return "unchanged", {"kind": kind, "metadata": {"name": name}}
    k8s["objects"].append({"kind": kind, "name": name, "labels": obj["labels"]})
    return "created", {"kind": kind, "metadata": {"name": name}}


def _apply(data: Data, args: list[str], _pos: list[str]) -> Result:
    lines, bodies = [], []
    for obj in manifests(option(args, "-f", "--filename") or ""):
        done, body = _apply_one(data, obj)
        lines.append(f"{PLURAL.get(obj['kind'], obj['kind'].lower())}/{obj['name']} {done}\n")
        bodies.append(body)
    if option(args, "-o", "--output") == "json":
        return _json(bodies, single=True)
    return Result(0, "".join(lines))


# -- get --------------------------------------------------------------------------------------------------------
def _get_file(data: Data, path: str) -> Result:
    items = []
    for obj in manifests(path):
        if obj["kind"] == "Job":
            job = _find_job(data["k8s"], obj["name"])
            if job is None:
                raise KError(f'Error from server (NotFound): jobs.batch "{obj["name"]}" not found\n')
            items.append(_job_json(job))
        else:
            items.append({"kind": obj["kind"], "metadata": {"name": obj["name"]}, "status": {"readyToUse": True}})
    return _json(items, single=True)


def _get_resourcequota(data: Data, out: str, _sel: str | None, _name: str | None) -> Result:
    value = data["k8s"]["resourcequota_jobs"]
    if value is None:
        raise KError('Error from server (NotFound): resourcequotas "gke-resource-quotas" not found\n')
    template = out.removeprefix("jsonpath=")  # arrives with its literal single quotes; kubectl prints them back
    return Result(0, template.replace("{.spec.hard.count/jobs\\.batch}", value))


def _get_pvc(data: Data, _out: str, _sel: str | None, name: str | None) -> Result:
    pvcs = data["k8s"]["pvcs"]
    if name not in pvcs:
        raise KError(f'Error from server (NotFound): persistentvolumeclaims "{name}" not found\n')
    return _json([{"kind": "PersistentVolumeClaim", "metadata": {"name": name}, "status": {"phase": pvcs[name]}}], True)


def _get_pv(data: Data, out: str, _sel: str | None, _name: str | None) -> Result:
    pvs = data["k8s"]["pvs"]
    if out.startswith("custom-columns="):
        return _columns(out.partition("=")[2], [[pv["claim"], pv["volumeHandle"]] for pv in pvs])
    csi = {"driver": "pd.csi.storage.gke.io"}
    return _json([{"kind": "PersistentVolume", "metadata": {"name": pv["name"]},
                   "spec": {"claimRef": {"name": pv["claim"]}, "csi": {**csi, "volumeHandle": pv["volumeHandle"]}}}
                  for pv in pvs])  # fmt: skip


def _get_pv_pvc(data: Data, _out: str, _sel: str | None, _name: str | None) -> Result:
    k8s = data["k8s"]
    lines = [f"persistentvolume/{pv['name']}\n" for pv in k8s["pvs"]]
    lines += [f"persistentvolumeclaim/{name}\n" for name in k8s["pvcs"]]
    return Result(0, "".join(lines), "" if lines else "No resources found\n")


def _get_snapshots(data: Data, _out: str, _sel: str | None, _name: str | None) -> Result:
    return _json([{"kind": "VolumeSnapshot", "metadata": {"name": s["name"], "uid": s["uid"]},
                   "status": {"readyToUse": s["readyToUse"]}} for s in data["k8s"]["volumesnapshots"]])  # fmt: skip


def _jsonpath_jobs(template: str, jobs: list[Data]) -> Result:
    """The three jsonpath queries of gcp.py 102-112 and kubernetes.py 567: active, failed, succeeded job names."""
    names = {key: " ".join(job["name"] for job in jobs if job.get(key)) for key in ("active", "failed", "succeeded")}
    wanted = [key for key in ("active", "failed", "succeeded") if f"status.{key}" in template]
    return Result(0, "\t".join(names[key] for key in wanted))


def _get_jobs(data: Data, out: str, selector: str | None, name: str | None) -> Result:
    _observe(data)  # a look at the jobs is one observation: the cluster double moves on
    jobs = [job for job in data["k8s"]["jobs"] if _selected(job.get("labels", {}), selector)]
    if name:
        jobs = [job for job in jobs if job["name"] == name]
        if not jobs:
            raise KError(f'Error from server (NotFound): jobs.batch "{name}" not found\n')
    if out == "json":
        return _json([_job_json(job) for job in jobs])
    if out.startswith("jsonpath="):
        return _jsonpath_jobs(out, jobs)
    if out.startswith("custom-columns="):
        return _columns(out.partition("=")[2], [[",".join(job.get("conditions") or []) or "<none>"] for job in jobs])
    rows = [[job["name"], "1/1" if job.get("succeeded") else "0/1", "10s", "1m"] for job in jobs]
    return _columns("NAME,COMPLETIONS,DURATION,AGE", rows)


def _get_pods(data: Data, out: str, selector: str | None, _name: str | None) -> Result:
    _observe(data)  # a pod listing is one observation: the cluster double moves on
    pods = [pod for pod in data["k8s"]["pods"] if _selected(pod.get("labels", {}), selector)]
    if out.startswith("custom-columns="):
        return _columns(out.partition("=")[2], [[pod.get("phase", "Pending")] for pod in pods])
    if out == "json":
        return _json([{"kind": "Pod", "metadata": {"name": p["name"], "labels": p.get("labels", {})},
                       "status": {"phase": p.get("phase", "Pending")}} for p in pods])  # fmt: skip
    return _columns("NAME,READY,STATUS,RESTARTS,AGE", [[p["name"], "1/1", p.get("phase", "Pending"), "0", "1m"]
                                                        for p in pods])  # fmt: skip


_GETTERS: dict[str, Callable[[Data, str, str | None, str | None], Result]] = {
    "resourcequota": _get_resourcequota,
    "pvc": _get_pvc,
    "persistentvolumeclaim": _get_pvc,
    "pv": _get_pv,
    "persistentvolume": _get_pv,
    "pv,pvc": _get_pv_pvc,
    "pvc,pv": _get_pv_pvc,
    "volumesnapshot": _get_snapshots,
    "volumesnapshots": _get_snapshots,
    "jobs": _get_jobs,
    "job": _get_jobs,
    "pods": _get_pods,
    "pod": _get_pods,
}


def _get(data: Data, args: list[str], pos: list[str]) -> Result:
    path = option(args, "-f", "--filename")
    if path:
        return _get_file(data, path)
    what, name = [*pos, "", ""][1], [*pos, "", "", ""][2] or None
    getter = _GETTERS.get(what)
    if getter is None:
        raise KError(f'error: the server doesn\'t have a resource type "{what}"\n')
    return getter(data, option(args, "-o", "--output") or "", option(args, "-l", "--selector"), name)


# -- delete -----------------------------------------------------------------------------------------------------
def _drop_pvs(data: Data, claims: list[str]) -> None:
    """PVs of deleted claims go, and their disks with them (reclaim policy Delete)."""
    k8s = data["k8s"]
    for pv in [pv for pv in k8s["pvs"] if pv["claim"] in claims]:
        k8s["pvs"].remove(pv)
        if pv["name"] in data["disks"]:
            data["disks"].remove(pv["name"])


def _delete_jobs(data: Data, names: set[str]) -> None:
    k8s = data["k8s"]
    k8s["jobs"] = [job for job in k8s["jobs"] if job["name"] not in names]
    k8s["pods"] = [pod for pod in k8s["pods"] if pod.get("job") not in names]


def _delete_file(data: Data, path: str) -> list[str]:
    deleted = []
    for obj in manifests(path):
        kind, name = obj["kind"], obj["name"]
        if kind == "Job":
            if _find_job(data["k8s"], name) is None:
                raise KError(f'Error from server (NotFound): error when deleting "{path}": '
                             f'jobs.batch "{name}" not found\n')
            _delete_jobs(data, {name})
        elif kind == "PersistentVolumeClaim":
            data["k8s"]["pvcs"].pop(name, None)
            _drop_pvs(data, [name])
        else:
            data["k8s"]["objects"] = [o for o in data["k8s"]["objects"] if (o["kind"], o["name"]) != (kind, name)]
        deleted.append(f'{PLURAL.get(kind, kind.lower())} "{name}"')
    return deleted


def _delete_kind(data: Data, what: str, selector: str | None) -> list[str]:
    k8s = data["k8s"]
    if what in ("jobs", "job"):
        names = {job["name"] for job in k8s["jobs"] if _selected(job.get("labels", {}), selector)}
        _delete_jobs(data, names)
        return [f'job.batch "{name}"' for name in sorted(names)]
    if what in ("pvc", "persistentvolumeclaim"):
        names = list(k8s["pvcs"])
        k8s["pvcs"] = {}
        _drop_pvs(data, names)
        return [f'persistentvolumeclaim "{name}"' for name in names]
    if what in ("pv", "persistentvolume"):
        names, k8s["pvs"] = [pv["name"] for pv in k8s["pvs"]], []
        return [f'persistentvolume "{name}"' for name in names]
    if what in ("volumesnapshot", "volumesnapshots"):
        gone = {f"snapshot-{s['uid']}" for s in k8s["volumesnapshots"]}
        data["snapshots"] = [name for name in data["snapshots"] if name not in gone]
        names, k8s["volumesnapshots"] = [s["name"] for s in k8s["volumesnapshots"]], []
        return [f'volumesnapshot.snapshot.storage.k8s.io "{name}"' for name in names]
    raise KError(f'error: the server doesn\'t have a resource type "{what}"\n')


def _delete(data: Data, args: list[str], pos: list[str]) -> Result:
    force = any(arg in ("--force", "--force=true") for arg in args)
    path = option(args, "-f", "--filename")
    deleted = _delete_file(data, path) if path else _delete_kind(data, [*pos, ""][1], option(args, "-l"))
    if not deleted:
        ignore = any(arg.startswith("--ignore-not-found") and not arg.endswith("=false") for arg in args)
        return Result(0, "", "" if ignore else "No resources found\n")
    warning = "Warning: Immediate deletion does not wait for confirmation that the running resource has been " \
              "terminated.\n" if force else ""  # fmt: skip
    done = "force deleted" if force else "deleted"
    return Result(0, "".join(f"{name} {done}\n" for name in deleted), warning)


# -- the rest ---------------------------------------------------------------------------------------------------
def _logs(data: Data, args: list[str], _pos: list[str]) -> Result:
    selector, container = option(args, "-l", "--selector"), option(args, "-c", "--container")
    pods = [pod for pod in data["k8s"]["pods"] if _selected(pod.get("labels", {}), selector)]
    if not pods:
        return Result(0, "", NO_RESOURCES)
    if any("containers" in pod for pod in pods):  # pods of the cluster double keep their own logs
        from tests.doubles.gcp_cli import cluster

        return Result(0, cluster.container_logs(pods, container or ""))
    return Result(0, data["k8s"]["logs"].get(f"{selector}/{container}", ""))


def _describe(_data: Data, _args: list[str], pos: list[str]) -> Result:
    name = pos[1].split("/", 1)[-1]
    return Result(0, f"Name:          {name}\nStatus:        Bound\nFinalizers:    [kubernetes.io/pv-protection]\n")


def _patch(_data: Data, _args: list[str], pos: list[str]) -> Result:
    return Result(0, f"{pos[1]} patched\n")


def _server_version(_data: Data, _args: list[str], _pos: list[str]) -> Result:
    return Result(0, CLIENT_TEXT + SERVER_TEXT)


SERVER_COMMANDS: dict[str, Callable[[Data, list[str], list[str]], Result]] = {
    "version": _server_version,
    "apply": _apply,
    "get": _get,
    "delete": _delete,
    "logs": _logs,
    "describe": _describe,
    "patch": _patch,
}


def _split_context(argv: list[str]) -> tuple[str | None, list[str]]:
    """(the --context value, the arguments without it)."""
    args, context, skip = [], None, False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--context":
            context, skip = (argv[i + 1] if i + 1 < len(argv) else None), True
        elif arg.startswith("--context="):
            context = arg.partition("=")[2]
        else:
            args.append(arg)
    return context, args


def _positionals(args: list[str]) -> list[str]:
    return [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in _WITH_VALUE)]


def handle(argv: list[str], call: Call) -> Result:
    """Answer one kubectl command line."""
    context, args = _split_context(argv)
    pos = _positionals(args)
    verb = pos[0] if pos else ""
    if verb == "version" and any(a in ("--client", "--client=true") for a in args):
        json_out = "--output=json" in args or option(args, "-o", "--output") == "json"
        return Result(0, json.dumps(CLIENT_VERSION, indent=2) + "\n") if json_out else Result(0, CLIENT_TEXT)
    if pos[:2] == ["config", "current-context"]:
        with State() as state:
            current = state.data["current_context"]
        return Result(0, f"{current}\n") if current else Result(1, "", "error: current-context is not set\n")
    command = SERVER_COMMANDS.get(verb)
    if command is None:
        call.note = "UNHANDLED"
        return Result(1, "", f'error: unknown command "{verb}" for "kubectl"\n')
    try:
        with State() as state:
            _check_server(state.data, context)
            return command(state.data, args, pos)
    except KError as err:
        return Result(err.rc, "", err.text)


def main(argv: list[str] | None = None) -> int:
    return run_tool("kubectl", handle, sys.argv[1:] if argv is None else argv, reads_stdin=False)


if __name__ == "__main__":
    sys.exit(main())
