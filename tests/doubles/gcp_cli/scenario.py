"""TEST DOUBLE scenarios: put the gcloud/gsutil/kubectl doubles' world into a named state of a GKE search.

Not a program. `seed_bucket` writes what NCBI's public bucket holds for elastic-blast 1.5.0
(gs://blast-db/latest-dir, read at db_metadata.py 83, and `<db>.pjs` / `<db>-<mol>-metadata.json`
database metadata, db_metadata.py 93-103) and creates the results bucket. `put` rewrites the state
for one scenario, as `elastic-blast status` (gcp.py 200-321) and `delete` (gcp.py 580-700) will see it:

  fresh                   nothing exists (before a submit)
  provisioning            the cluster is PROVISIONING: status says SUBMITTING (exit 3)
  submitting              the cluster runs its setup jobs (init-pv app=setup, submit-jobs app=submit): SUBMITTING
  running                 BLAST jobs with the given pending/running/succeeded/failed counts (exit 4; exit 1 if failed)
  success                 <results>/metadata/SUCCESS.txt (exit 0)
  failure                 <results>/metadata/FAILURE.txt with the given text (exit 1, the text on stdout)
  cluster_missing         no cluster, a stale kube context: UNKNOWN 'Cluster "<name>" was not found' (exit 6)
  unauthorised            kubectl refused: UNKNOWN + "You must be logged in to the server (Unauthorized)" (exit 6)
  unreachable             kubectl cannot connect: UNKNOWN + "Unable to connect to the server" (exit 6)
  stopping                the cluster is STOPPING: "exists, but is not responding" on stderr (exit 8)
  gcloud_unauthenticated  no gcloud account: `gcloud services list` fails (exit 7)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from tests.doubles.gcp_cli.objects import Objects

__all__ = ["BLASTDB_DIR", "SCENARIOS", "Jobs", "Scenario", "put", "seed_bucket"]

Scenario = Literal[
    "fresh", "provisioning", "submitting", "running", "success", "failure", "cluster_missing", "unauthorised",
    "unreachable", "stopping", "gcloud_unauthenticated",
]  # fmt: skip
SCENARIOS: tuple[str, ...] = get_args(Scenario)
BLASTDB_DIR = "000"  # the content of gs://blast-db/latest-dir (the real one is a date, e.g. 2024-05-05-01-05-02)
# name: (dbtype, molecule, title, letters, sequences, volumes, bytes-total, bytes-to-cache)
NCBI_DB_METADATA = {
    "swissprot": ("Protein", "prot", "UniProtKB/Swiss-Prot(swissprot)", 180_911_227, 482_697, 1, 280_000_000,
                  180_000_000),
    "pdbaa": ("Protein", "prot", "PDB protein database", 50_000_000, 170_000, 1, 90_000_000, 60_000_000),
    "nr": ("Protein", "prot", "All non-redundant GenBank CDS translations+PDB+SwissProt+PIR+PRF", 240_000_000_000,
           700_000_000, 130, 400_000_000_000, 300_000_000_000),
    "nt": ("Nucleotide", "nucl", "Nucleotide collection (nt)", 1_500_000_000_000, 100_000_000, 200, 500_000_000_000,
           400_000_000_000),
    "pdbnt": ("Nucleotide", "nucl", "PDB nucleotide database", 10_000_000, 20_000, 1, 10_000_000, 5_000_000),
}  # fmt: skip
_SETUP_DONE = [
    {"name": "init-pv", "labels": {"app": "setup"}, "conditions": ["SuccessCriteriaMet", "Complete"], "succeeded": 1},
    {"name": "submit-jobs", "labels": {"app": "submit"}, "conditions": ["SuccessCriteriaMet", "Complete"],
     "succeeded": 1},
]  # fmt: skip


@dataclass(frozen=True)
class Jobs:
    """BLAST batch jobs on the cluster, by what their pods are doing."""

    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0


def _metadata(db: str) -> dict[str, Any]:
    dbtype, _mol, title, letters, sequences, volumes, total, cache = NCBI_DB_METADATA[db]
    ext = "p" if dbtype == "Protein" else "n"
    return {
        "version": "1.2", "dbname": db, "dbtype": dbtype, "db-version": 5, "description": title,
        "number-of-letters": letters, "number-of-sequences": sequences, "total-length": letters,
        "files": [f"gs://blast-db/{BLASTDB_DIR}/{db}.{ext}{s}" for s in ("db", "hr", "in", "js", "sq")],
        "last-updated": "2024-05-04T00:00:00", "bytes-total": total, "bytes-to-cache": cache,
        "number-of-volumes": volumes,
    }  # fmt: skip


def seed_bucket(objects: Objects, results_bucket: str) -> None:
    """NCBI's gs://blast-db (latest-dir and metadata of a few databases) and an empty results bucket."""
    objects.create_bucket("blast-db")
    objects.write("blast-db", "latest-dir", (BLASTDB_DIR + "\n").encode())
    for db, (dbtype, molecule, *_rest) in NCBI_DB_METADATA.items():
        text = json.dumps(_metadata(db), indent=2).encode()
        objects.write("blast-db", f"{BLASTDB_DIR}/{db}.{'p' if dbtype == 'Protein' else 'n'}js", text)
        objects.write("blast-db", f"{BLASTDB_DIR}/{db}-{molecule}-metadata.json", text)
    objects.write("blast-db", f"{BLASTDB_DIR}/taxdb.btd", b"")
    objects.create_bucket(results_bucket)


def _blast_jobs(jobs: Jobs, db: str, program: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Kubernetes Jobs and their pods as ElasticBLAST's blast-batch-job template labels them (app=blast, db=<db>)."""
    kinds = (
        (jobs.succeeded, ["SuccessCriteriaMet", "Complete"], "Succeeded", {"succeeded": 1}),
        (jobs.failed, ["FailureTarget", "Failed"], "Failed", {"failed": 4}),
        (jobs.running, [], "Running", {"active": 1}),
        (jobs.pending, [], "Pending", {"active": 1}),
    )
    made, pods = [], []
    for count, conditions, phase, extra in kinds:
        for _ in range(count):
            name = f"{program}-batch-{db.lower().replace('_', '-')}-job-{len(made):03d}"
            labels = {"app": "blast", "db": db}
            made.append({"name": name, "labels": labels, "conditions": conditions, **extra})
            pods.append({"name": f"{name}-x{len(pods):04d}", "job": name, "labels": labels, "phase": phase})
    return made, pods


def _cluster_part(state: dict[str, Any], scenario: Scenario, cluster: str, context: str) -> None:
    state.update(clusters={}, current_context=None, account="tester@example.com", fail=[])
    if scenario in ("provisioning", "stopping"):
        state["clusters"] = {cluster: scenario.upper()}
    elif scenario == "cluster_missing":
        state["current_context"] = context  # a stale kubeconfig context of a cluster that is gone
    elif scenario != "fresh":
        state["clusters"] = {cluster: "RUNNING"}
        state["current_context"] = context
    if scenario == "gcloud_unauthenticated":
        state["account"] = None
        state["fail"] = [{"tool": "gcloud", "match": ["services"], "rc": 1, "stderr":
                          "ERROR: (gcloud.services.list) You do not currently have an active account selected.\n"
                          "Please run:\n\n  $ gcloud auth login\n\nto obtain new credentials.\n"}]  # fmt: skip


def _kubernetes_part(scenario: Scenario, jobs: Jobs, db: str, program: str) -> dict[str, Any]:
    k8s: dict[str, Any] = {"unauthorized": scenario == "unauthorised", "unreachable": scenario == "unreachable",
                           "jobs": [], "pods": [], "objects": [], "pvcs": {}, "pvs": [], "volumesnapshots": []}
    if scenario == "submitting":
        k8s["jobs"] = [{"name": "init-pv", "labels": {"app": "setup"}, "conditions": [], "active": 1},
                       {"name": "submit-jobs", "labels": {"app": "submit"}, "conditions": [], "active": 1}]
        k8s["pods"] = [{"name": "init-pv-abcde", "job": "init-pv", "labels": {"app": "setup"}, "phase": "Running"}]
    elif scenario == "running":
        blast_jobs, k8s["pods"] = _blast_jobs(jobs, db, program)
        k8s["jobs"] = [*_SETUP_DONE, *blast_jobs]
    elif scenario in ("success", "failure"):
        done = Jobs(succeeded=jobs.succeeded or (3 if scenario == "success" else 0),
                    failed=jobs.failed or (1 if scenario == "failure" else 0))  # fmt: skip
        k8s["jobs"], k8s["pods"] = _blast_jobs(done, db, program)
    return k8s


def _markers(objects: Objects, metadata: str | None, scenario: Scenario, failure_text: str) -> None:
    """SUCCESS.txt / FAILURE.txt under `metadata` (gs://BUCKET/<results>/metadata) as the scenario has them."""
    if metadata is None:
        if scenario in ("success", "failure"):
            raise ValueError(f"scenario {scenario!r} writes a marker into a search's results: give its results")
        return
    bucket, _, prefix = metadata.removeprefix("gs://").rstrip("/").partition("/")
    for marker in ("SUCCESS.txt", "FAILURE.txt"):
        objects.remove(bucket, f"{prefix}/{marker}")
    if scenario in ("success", "failure"):
        text = "" if scenario == "success" else failure_text
        objects.write(bucket, f"{prefix}/{scenario.upper()}.txt", text.encode())


def put(
    state: dict[str, Any],
    scenario: Scenario,
    *,
    cluster: str,
    context: str,
    objects: Objects | None = None,
    metadata: str | None = None,
    jobs: Jobs = Jobs(),  # frozen: safe as a default
    failure_text: str = "",
    db: str = "swissprot",
    program: str = "blastp",
) -> None:
    """Rewrite `state` (and the search's markers under `metadata`, gs://…/<results>/metadata in `objects`)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
    _cluster_part(state, scenario, cluster, context)
    state["k8s"] = {**state.get("k8s", {}), **_kubernetes_part(scenario, jobs, db, program)}
    if objects is not None:
        _markers(objects, metadata, scenario, failure_text)
    elif scenario in ("success", "failure"):
        raise ValueError(f"scenario {scenario!r} writes a marker: give the object store")
