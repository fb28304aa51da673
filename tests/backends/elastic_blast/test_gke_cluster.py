"""ElasticBLAST's Kubernetes jobs on a GKE cluster double, as blastflow reads them through the Kubernetes API.

The jobs are the ones the real elastic-blast 1.5.0 submitted (once per module: `submit` through the gcloud/gsutil/
kubectl doubles, with a database the user uploaded to gs://); the cluster double (tests/doubles/gcp_cli/cluster.py)
runs them as GKE would, with real BLAST+; blastflow's backend lists the pods and reads their logs with the real
Kubernetes client, from the fake API server (tests/doubles/fake_k8s.py). Time is counted in pod listings.
What these show: the real labels, container and init-container states, restarts and back-off limits, and the
cluster's own words where blastflow shows them (pod problems, setup progress, pod logs).
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.backend import CONFIG_FILE, ElasticBlastBackend
from blastflow.backends.elastic_blast.config import ElbSearch, build_config, render_config
from blastflow.backends.elastic_blast.pods import SETUP_SELECTOR, PodInfo, setup_summary
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.search import PodCounts, PreparedRun
from blastflow.settings import Settings
from tests.doubles.elb_doubles import PROT_DB, first_records
from tests.doubles.fake_k8s import FakeKubernetes
from tests.doubles.gcp_cli.world import GcpWorld

JOB_ID = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
OPTIONS = ("-evalue", "1e-05", "-max_target_seqs", "10")
BATCHES = 3  # 6 proteins, batch-len 300
BLAST_BACKOFF_LIMIT = 3  # templates/blast-batch-job.yaml.template
LISTINGS = 40  # more observations than any of these searches needs


@dataclass(frozen=True)
class Submitted:
    """The world right after the real `elastic-blast submit`, kept to be copied for each test."""

    directory: Path
    results: str
    queries: str


@pytest.fixture(scope="module")
def submitted(tmp_path_factory: pytest.TempPathFactory, real_elastic_blast: Path, elb_blast_dbs: Path) -> Submitted:
    world = GcpWorld.create(tmp_path_factory.mktemp("gke-submitted"))
    world.start_cluster()  # applied Jobs keep their pod spec; nothing runs before the first look at the cluster
    for path in sorted(elb_blast_dbs.glob(f"{PROT_DB}.*")):  # the user's `gsutil cp sinvicta_prot.* gs://…/dbs/`
        world.write(f"gs://{world.bucket}/dbs/{path.name}", path.read_bytes())
    queries = world.directory / "queries.fa"
    queries.write_text(first_records("prot", 6))
    results = f"{world.results_base}/{JOB_ID}"
    search = ElbSearch("blastp", f"gs://{world.bucket}/dbs/{PROT_DB}", str(queries), results, OPTIONS, 300)
    ini = world.directory / CONFIG_FILE
    ini.write_text(render_config(build_config(search, _profile(world))))
    done = world.run([str(real_elastic_blast), "submit", "--cfg", str(ini), "--logfile", "stderr"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert world.unhandled() == []
    return Submitted(world.directory, results, str(queries))


def _profile(world: GcpWorld, **more: object) -> ElbProfile:
    return ElbProfile(results=world.results_base, gcp_project=world.project, gcp_region=world.region,
                      gcp_zone=world.zone, cluster_name=world.cluster, **more)  # fmt: skip


@dataclass
class Gke:
    world: GcpWorld
    backend: ElasticBlastBackend
    run: PreparedRun

    def look(self) -> list[PodInfo]:
        """One look at the search's BLAST pods through the Kubernetes API (one tick of the cluster's time)."""
        return self.backend._pods(self.run)

    def until(self, done, listings: int = LISTINGS) -> list[PodInfo]:  # done: (pods) -> bool
        for _ in range(listings):
            pods = self.look()
            if done(pods):
                return pods
        raise AssertionError(f"not within {listings} listings: {self.world.state()['k8s']['pods']}")


@pytest.fixture
def gke(submitted: Submitted, tmp_path: Path) -> Iterator[Gke]:
    """A copy of the submitted world, its cluster double started, read by blastflow through the fake API."""
    shutil.copytree(submitted.directory, tmp_path / "gcp")
    world = GcpWorld(tmp_path / "gcp")
    server = FakeKubernetes(world.pod_source()).start()
    profile = _profile(world, kubeconfig=server.write_kubeconfig(tmp_path / "kubeconfig.yaml"), namespace="default",
                       k8s_request_timeout_s=30.0)  # fmt: skip
    run = PreparedRun(job_id=JOB_ID, backend="elastic-blast", program="blastp", workdir=tmp_path,
                      config_path=world.directory / CONFIG_FILE, database=f"gs://{world.bucket}/dbs/{PROT_DB}",
                      database_label=PROT_DB, molecule="prot", options=list(OPTIONS),
                      results_location=submitted.results)  # fmt: skip
    try:
        yield Gke(world, ElasticBlastBackend(Settings(data_dir=tmp_path / "data"), profile=profile), run)
    finally:
        server.stop()


def test_the_jobs_elastic_blast_submitted_run_as_on_gke_and_blastflow_reads_them_through_the_api(gke: Gke) -> None:
    gke.world.start_cluster(setup_ticks=2)
    reader = gke.backend.pod_reader()

    setup = reader.list_pods(SETUP_SELECTOR)
    blast = gke.until(lambda pods: len(pods) == BATCHES)
    counts = [gke.backend.pod_counts(gke.run)]
    while counts[-1] != PodCounts(succeeded=BATCHES) and len(counts) < LISTINGS:
        counts.append(gke.backend.pod_counts(gke.run))
    logs = gke.backend.pod_logs(gke.run)

    # Setup first (job-init-pv.yaml.template, job-submit-jobs.yaml.template), as blastflow shows it on the step.
    assert {(p.batch, p.labels["app"]) for p in setup} == {("init-pv", "setup"), ("submit-jobs", "submit")}
    assert setup_summary(setup, PROT_DB) == (f"downloading database {PROT_DB}: 0 of 2 setup jobs done", None)
    assert {c.reason for p in setup for c in p.containers} == {"ContainerCreating"}
    # Then one BLAST job per batch (blast-batch-job.yaml.template), labelled as ElasticBLAST labels them.
    assert sorted(p.batch for p in blast) == [f"blastp-batch-sinvicta-prot-job-00{i}" for i in range(BATCHES)]
    assert all({"app": "blast", "db": PROT_DB}.items() <= p.labels.items() for p in blast)
    assert {(c.name, c.reason) for p in blast for c in p.init_containers} == {("load-blastdb-into-ram",
                                                                                 "PodInitializing")}  # fmt: skip
    assert counts[0].pending == BATCHES and PodCounts(running=BATCHES) in counts
    assert counts[-1] == PodCounts(succeeded=BATCHES)
    # Their work, in ElasticBLAST's layout: one format-11 archive per batch, and the number of jobs submitted.
    archives = [gke.world.read(f"{gke.run.results_location}/batch_00{i}-blastp-{PROT_DB}.out.gz")
                for i in range(BATCHES)]  # fmt: skip
    assert all(gzip.decompress(a or b"").startswith(b"Blast4-archive ::= {") for a in archives)
    assert gke.world.read(f"{gke.run.results_location}/metadata/num_jobs_submitted.txt") == b"3\n"
    # The containers' own logs, read through the API: the BLAST+ command line the template runs, its exit.
    job_001 = {key.rsplit("/", 1)[1]: text for key, text in logs.items() if "-job-001-" in key}
    assert f"blastp -db {PROT_DB} -query /blast/blastdb/batch_001.fa" in job_001["blast"]
    assert "run end 001 0" in job_001["blast"] and "+ exit 0" in job_001["results-export"]


def test_a_blast_container_killed_once_restarts_in_its_pod_and_its_batch_still_succeeds(gke: Gke) -> None:
    """restartPolicy OnFailure: the kubelet restarts the container in the same pod, after a back-off."""
    gke.world.start_cluster(backoff_ticks=3, kills={"blast": {"exit_code": 137, "reason": "OOMKilled", "times": 1}})

    crashed = gke.until(lambda pods: any(c.reason == "CrashLoopBackOff" for p in pods for c in p.containers))
    problems = gke.backend.pod_problems(gke.run)
    done = gke.until(lambda pods: len(pods) == BATCHES and all(p.phase == "Succeeded" for p in pods))

    restarted = next(p for p in crashed if any(c.reason == "CrashLoopBackOff" for c in p.containers))
    assert [c.restarts for c in restarted.containers if c.name == "blast"] == [1]
    assert any(p.startswith(f"pod {restarted.name}: container blast waiting: CrashLoopBackOff: back-off 10s "
                            "restarting failed container=blast") for p in problems), problems  # fmt: skip
    again = next(p for p in done if p.name == restarted.name)  # the same pod, not a new one
    assert [c.restarts for c in again.containers if c.name == "blast"] == [1]
    assert gke.world.read(f"{gke.run.results_location}/batch_000-blastp-{PROT_DB}.out.gz") is not None


def test_an_init_container_that_keeps_failing_fails_its_job_at_the_backoff_limit_and_its_pod_goes(gke: Gke) -> None:
    """Until then blastflow names it in the cluster's words (what the wait step says when it gives up)."""
    killed = {"load-blastdb-into-ram": {"exit_code": 137, "reason": "OOMKilled", "times": 99}}
    gke.world.start_cluster(backoff_ticks=3, kills=killed)

    looping = gke.until(lambda pods: any(c.restarts == 2 for p in pods for c in p.init_containers))
    problems = gke.backend.pod_problems(gke.run)
    gone = gke.until(lambda pods: len(pods) < BATCHES)

    assert all(p.phase == "Pending" for p in looping)
    assert any("container load-blastdb-into-ram waiting: CrashLoopBackOff: back-off 10s restarting failed "
               "container=load-blastdb-into-ram" in p for p in problems), problems  # fmt: skip
    jobs = {job["name"]: job for job in gke.world.state()["k8s"]["jobs"]}
    failed = [name for name, job in jobs.items() if "Failed" in job["conditions"]]
    assert failed and all(jobs[name]["backoff_limit"] == BLAST_BACKOFF_LIMIT for name in failed)
    assert not {p.batch for p in gone} & set(failed)  # Kubernetes deleted the failed Job's pod
