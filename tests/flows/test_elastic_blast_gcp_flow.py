"""The blast-search flow on GKE, end to end: the real elastic-blast 1.5.0, with only the cloud replaced.

Real here: the flow, its tasks and steps, blastflow's elastic-blast backend; the `elastic-blast` CLI from PyPI
(`real_elastic_blast`), which submits the search and reports its status; gcp-storage-emulator as the bucket
(blastflow reads results through gcsfs, signing in at the Google token endpoint double `gcp_oauth`); BLAST+.
Doubles (tests/doubles): gcloud, gsutil and kubectl (gcp_cli; gsutil reads and writes the emulator, so what
elastic-blast uploads lands there); the cluster's own work (gcp_cli/cluster.py: the setup jobs elastic-blast
applied, then one BLAST job per batch running real blastp on the batch elastic-blast uploaded, exporting its
archive in ElasticBLAST's layout into the emulator); the Kubernetes API blastflow reads pods and logs from
(fake_k8s, serving that cluster's pods). The database is made the way the local backend makes one
(`make_database`, from the same FASTA) and uploaded to the bucket as a user would, so the same search run
locally must find the same hits. The worker has no copy of that database (BLASTDB unset): finalize renders the
archives with blast_formatter, which looks subject titles up in the database by the name the pods used, so
blastflow fetches it from the bucket into the run's directory itself.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.backend import ElasticBlastBackend
from blastflow.backends.local.database import make_database, resolve_database
from blastflow.errors import BackendError
from blastflow.hits import read_hits
from blastflow.model import Phase, StepName, StepStatus
from blastflow.search import PodCounts, PreparedRun, RunState
from blastflow.store.base import StateStore
from flows.blast_search import blast_search
from tests.doubles.elb_doubles import first_records, sample_fasta
from tests.doubles.fake_k8s import FakeKubernetes
from tests.doubles.gcp_cli.state import State
from tests.doubles.gcp_cli.world import GcpWorld

QUERY = first_records("prot", 6)
DB_NAME = "sinvicta_prot"
LOCAL_JOB = "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"
GKE_JOB = "2c3d4e5f-6071-4829-9bac-1d2e3f4a5b6c"
FAILING_JOB = "3d4e5f60-7182-493a-8bcd-2e3f4a5b6c7d"
REPO = Path(__file__).resolve().parents[2]
REAL_ELASTIC_BLAST = Path(os.environ.get("ELB_VENV", REPO / ".venv-elb")) / "bin" / "elastic-blast"


@dataclass(frozen=True)
class Gke:
    """A GCP project of doubles whose bucket is the emulator, a cluster that does its work, and its API server."""

    world: GcpWorld
    k8s: FakeKubernetes
    db_fasta: Path  # the database as a FASTA file (what the local run searches)
    db_files: Path  # the same database made by makeblastdb, the way the local backend makes it

    @property
    def db_url(self) -> str:
        return f"gs://{self.world.bucket}/dbs/{DB_NAME}"

    def upload_database(self, *, without: str = "") -> None:
        """Copy the database files into the bucket (`gsutil cp sinvicta_prot.* gs://…/dbs/`), maybe one short."""
        for path in sorted(self.db_files.parent.glob(f"{DB_NAME}.*")):
            if path.suffix != without:
                self.world.write(f"{self.db_url}{path.suffix}", path.read_bytes())

    def results(self, job_id: str) -> str:
        return f"{self.world.results_base}/{job_id}"


@pytest.fixture(scope="module")
def real_elastic_blast() -> Path:
    """The real `elastic-blast` (PyPI 1.5.0, made by scripts/setup.sh --test); missing is a failure, not a skip."""
    if not REAL_ELASTIC_BLAST.is_file():
        pytest.fail(f"the real elastic-blast is not installed at {REAL_ELASTIC_BLAST}: run scripts/setup.sh --test")
    return REAL_ELASTIC_BLAST


@pytest.fixture
def gke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gcs_emulator, gcp_oauth, real_elastic_blast: Path,
        pipeline: StateStore) -> Iterator[Gke]:  # fmt: skip
    """The world, and the environment a deployment on GKE would give blastflow (BLASTFLOW_ELB_*, ADC, PATH)."""
    world = GcpWorld.create(tmp_path / "gcp", bucket=gcs_emulator.new_bucket(), gcs_endpoint=gcs_emulator.endpoint)
    db_fasta = tmp_path / f"{DB_NAME}.fasta"
    shutil.copyfile(sample_fasta("prot"), db_fasta)
    db_files = tmp_path / "db" / DB_NAME
    make_database(resolve_database(str(db_fasta), "blastp", "prot"), db_files)  # type: ignore[arg-type]
    key = tmp_path / "reader-key.json"
    key.write_text(json.dumps(gcp_oauth.service_account("blast-reader", gcs_emulator.project)))
    server = FakeKubernetes(world.pod_source()).start()
    _install(world, monkeypatch, real_elastic_blast, server.write_kubeconfig(tmp_path / "kubeconfig.yaml"), key,
             gcs_emulator.endpoint)  # fmt: skip
    try:
        yield Gke(world, server, db_fasta, db_files)
    finally:
        server.stop()


def _install(world: GcpWorld, monkeypatch: pytest.MonkeyPatch, exe: Path, kubeconfig: Path, key: Path,
             endpoint: str) -> None:  # fmt: skip
    for name in [n for n in os.environ if n.startswith(("ELB_", "CLOUDSDK_", "BLASTFLOW_ELB_", "KUBECONFIG"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{world.bin_dir}{os.pathsep}{os.environ['PATH']}")  # the doubles answer first
    for name, value in world.double_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    # No copy of the database on the worker: finalize must fetch the one the pods used (`-db sinvicta_prot`).
    monkeypatch.delenv("BLASTDB", raising=False)
    settings = {"EXECUTABLE": str(exe), "FLAVOUR": "upstream", "RESULTS": world.results_base,
                "GCP_PROJECT": world.project, "GCP_REGION": world.region, "GCP_ZONE": world.zone,
                "CLUSTER_NAME": world.cluster, "KUBECONFIG": str(kubeconfig), "NAMESPACE": "default",
                "K8S_REQUEST_TIMEOUT_S": "30", "GCS_ENDPOINT_URL": endpoint, "COMMAND_TIMEOUT_S": "180",
                "STATUS_INTERVAL_S": "0"}  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(f"BLASTFLOW_ELB_{name}", value)


@pytest.fixture
def status_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let wait-for-pods ask `elastic-blast status` on every round (the backend's interval is 0 here), not only
    every 30 s, so the setup jobs' progress reaches the step within the test's seconds."""
    monkeypatch.setattr(importlib.import_module("blastflow.steps.wait_for_pods"), "STATUS_EVERY_S", 0.0)


def _lines(pipeline: StateStore, job_id: str, step: StepName) -> list[str]:
    return [line.text for line in pipeline.read_logs(job_id, step).lines]


def test_a_search_on_gke_completes_with_the_hits_of_the_same_search_run_locally(
    pipeline: StateStore, gke: Gke, status_while_waiting: None
) -> None:
    """No batch-len: ElasticBLAST's tuner sizes the batches, and blastflow counts them as ElasticBLAST does."""
    gke.upload_database()
    # The database download outlasts the first round of wait-for-pods (a pod listing, then `status`: three looks at
    # the jobs and pods, then blastflow's look at the setup pods); the BLAST pods start as soon as it is done.
    gke.world.start_cluster(pending_ticks=0, init_ticks=0, setup_ticks=5)

    local = blast_search(query=QUERY, db=str(gke.db_fasta), program="blastp", backend="local", job_id=LOCAL_JOB)
    on_gke = blast_search(query=QUERY, db=gke.db_url, program="blastp", backend="elastic-blast", job_id=GKE_JOB)

    job = pipeline.get(GKE_JOB)
    assert job.phase is Phase.COMPLETED and job.error in (None, "")
    assert all(step.status is StepStatus.COMPLETED for step in job.steps.values()), job.steps
    hits = read_hits(Path(str(on_gke["hits_path"])))
    assert hits and hits == read_hits(Path(str(local["hits_path"])))  # every row: subjects, e-values, scores...
    # ElasticBLAST's layout in the bucket: what elastic-blast uploaded, what its jobs wrote. No SUCCESS.txt (the
    # GKE janitor never writes one, cluster.py), and blastflow did not need it.
    names = gke.world.names(gke.results(GKE_JOB))
    submitted = int((gke.world.read(f"{gke.results(GKE_JOB)}/metadata/num_jobs_submitted.txt") or b"").decode())
    assert [n for n in names if n.endswith(".out.gz")] == [f"batch_{i:03d}-blastp-{DB_NAME}.out.gz"
                                                           for i in range(submitted)]  # fmt: skip
    assert {"query_batches/batch_000.fa", "metadata/job.yaml.template"} <= set(names)
    assert "metadata/SUCCESS.txt" not in names
    run = PreparedRun.load(Path(job.results_location).parent)
    assert run.batches == [] and "batch-len" not in run.config_path.read_text()
    assert submitted == 3  # ElasticBLAST split these 6 proteins into 3 batches itself (no batch-len in the ini)
    # The titles came from the database finalize fetched from the bucket into the run's directory.
    assert sorted(p.name for p in (run.workdir / "blastdb").iterdir()) == sorted(
        p.name for p in gke.db_files.parent.glob(f"{DB_NAME}.*"))  # fmt: skip
    assert job.steps[StepName.RUN].counters["succeeded"] == job.steps[StepName.FINALIZE].counters["batches"] == 3
    # On the steps, in the cluster's words: the database setup while it ran, then the pods' own logs.
    waited = _lines(pipeline, GKE_JOB, StepName.WAIT_FOR_PODS)
    assert f"downloading database {DB_NAME}: 0 of 2 setup jobs done (get-blastdb, import-query-batches, " \
           "submit-jobs running)" in waited, waited  # fmt: skip
    ran = _lines(pipeline, GKE_JOB, StepName.RUN)
    assert job.pod_logs == "captured" and "run end 000 0" in ran
    assert any(line.startswith(f"── blastp-batch-{DB_NAME.replace('_', '-')}-job-002-") for line in ran)
    # Still counted once the finished pods are gone (the pod garbage collector): the count is ElasticBLAST's own,
    # metadata/num_jobs_submitted.txt, read from the bucket.
    with State(str(gke.world.state_file)) as state:
        state.data["k8s"]["pods"] = []
    later = ElasticBlastBackend().status(run)
    assert later.state is RunState.SUCCESS and later.counts == PodCounts(succeeded=submitted)
    assert gke.world.unhandled() == []


def test_a_broken_database_upload_fails_the_setup_and_the_clusters_words_are_the_job_error(
    pipeline: StateStore, gke: Gke, status_while_waiting: None
) -> None:
    """The database's index file never reached the bucket: elastic-blast's own check passes (`gsutil ls db.*`
    finds files), then every attempt of the init-pv job fails in get-blastdb (`blastdbcmd -info`) until
    Kubernetes gives up after backoffLimit retries; the job fails at wait-for-pods with BLAST's words."""
    gke.upload_database(without=".pin")
    gke.world.start_cluster(pending_ticks=0, setup_ticks=0, backoff_ticks=1)  # one attempt per look at the cluster

    with pytest.raises(BackendError, match="ElasticBLAST's setup failed"):
        blast_search(query=QUERY, db=gke.db_url, program="blastp", backend="elastic-blast", batch_len=300,
                     job_id=FAILING_JOB)  # fmt: skip

    job = pipeline.get(FAILING_JOB)
    assert job.phase is Phase.FAILED
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    assert job.steps[StepName.WAIT_FOR_PODS].status is StepStatus.FAILED
    # Said by ElasticBLAST's status once the Job failed, or by blastflow once Kubernetes gave up on it (whichever
    # looked first): either way the setup job, its container, and the words BLAST+ logged in it.
    assert "ElasticBLAST's setup failed: job init-pv: container get-blastdb exited with code 2 (Error)" in job.error
    assert f"/get-blastdb: BLAST Database error: No alias or index file found for protein database [{DB_NAME}]" \
           in job.error  # fmt: skip
    waited = _lines(pipeline, FAILING_JOB, StepName.WAIT_FOR_PODS)
    assert "database setup: Kubernetes retries a failed setup pod (job init-pv: container get-blastdb exited " \
           "with code 2 (Error))" in waited, waited  # fmt: skip
    # The failure hook then deleted the search (issue 14: no orphan compute): its pods are gone, and the job says so.
    assert [pod for pod in gke.world.state()["k8s"]["pods"] if pod["job"] == "init-pv"] == []
    lines = [line for name in StepName for line in _lines(pipeline, FAILING_JOB, name)]
    stopped = [line for line in lines if line.startswith("Backend work")]
    assert stopped and "elastic-blast delete stopped the search" in stopped[-1], stopped
    assert gke.world.unhandled() == []
