"""Pods through the real Kubernetes client (prefect-kubernetes' KubernetesCredentials) and the fake API server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.credentials import kubernetes_credentials
from blastflow.backends.elastic_blast.pods import (
    ContainerState,
    PodInfo,
    PodReader,
    count_pods,
    label_selector,
    latest_per_batch,
    pod_problems,
    select_run_pods,
    setup_summary,
)
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.errors import BackendError, ConfigError, TransientBackendError
from blastflow.search import PodCounts
from tests.doubles.fake_cluster import FakeCluster
from tests.doubles.fake_k8s import FakeKubernetes

RESULTS = "https://blastacct.blob.core.windows.net/results/runs/job-1"
OTHER = "https://blastacct.blob.core.windows.net/results/runs/job-2"


def _search(cluster: FakeCluster, results: str, batches: int, elb_job_id: str = "job-aaaa") -> None:
    """A submission of the Azure fork whose BLAST jobs exist from the first observation on (no setup phase)."""
    cluster.add_search(results, setup_ticks=0, search={
        "program": "blastn", "db": "nt", "db_label": "nt", "cluster": "c", "scenario": "success",
        "elb_job_id": elb_job_id,
        "batches": [
            {"index": i, "job": f"blastn-batch-nt-job-{i:03d}-{elb_job_id[-4:]}",
             "pod": f"blastn-batch-nt-job-{i:03d}-{elb_job_id[-4:]}-x7k2p",
             "exit_code": 0, "error": "", "output": "",
             "log": "".join(f"blast line {n}\n" for n in range(1, 6)), "export_log": "+ azcopy cp batch\n"}
            for i in range(batches)
        ],
    })


@pytest.fixture
def fake_cluster(tmp_path: Path) -> FakeCluster:
    return FakeCluster(tmp_path / "cluster")


@pytest.fixture
def fake_k8s(fake_cluster: FakeCluster) -> Iterator[FakeKubernetes]:
    server = FakeKubernetes(fake_cluster).start()
    yield server
    server.stop()


@pytest.fixture
def reader(fake_k8s: FakeKubernetes, tmp_path: Path) -> PodReader:
    """A reader whose KubernetesCredentials come from a kubeconfig pointing at the fake API server."""
    kubeconfig = fake_k8s.write_kubeconfig(tmp_path / "kubeconfig.yaml")
    return PodReader(kubernetes_credentials(ElbProfile(kubeconfig=kubeconfig)), "default", request_timeout_s=2)


def test_pods_are_listed_by_label_and_counted_through_the_real_client(
    fake_cluster: FakeCluster, fake_k8s: FakeKubernetes, reader: PodReader
) -> None:
    _search(fake_cluster, RESULTS, 3, "job-aaaa")
    _search(fake_cluster, OTHER, 2, "job-bbbb")

    pods = reader.list_pods(label_selector("job-aaaa"))

    assert sorted(p.name for p in pods) == [f"blastn-batch-nt-job-{i:03d}-aaaa-x7k2p" for i in range(3)]
    # The fork's pods write under <results>/<elb_job_id> (ELB_RESULTS, blast-batch-job-aks.yaml.template:82-83).
    assert {p.elb_job_id for p in pods} == {"job-aaaa"} and {p.results for p in pods} == {f"{RESULTS}/job-aaaa"}
    assert all(p.phase == "Pending" and p.batch.startswith("blastn-batch-nt-job-") for p in pods)
    assert fake_k8s.requests[-1].query["labelSelector"] == ["app=blast,elb-job-id=job-aaaa"]
    assert count_pods(reader.list_pods("app=blast")) == PodCounts(running=5)
    assert count_pods(select_run_pods(reader.list_pods("app=blast"), OTHER)) == PodCounts(succeeded=2)


def test_log_tails_for_both_containers(fake_cluster: FakeCluster, fake_k8s: FakeKubernetes, reader: PodReader) -> None:
    _search(fake_cluster, RESULTS, 2)
    for _ in range(3):
        pods = reader.list_pods("app=blast")  # pending, running, finished

    logs = reader.read_logs(pods, tail_lines=2)

    assert logs == {
        **{f"blastn-batch-nt-job-{i:03d}-aaaa-x7k2p/blast": "blast line 4\nblast line 5\n" for i in range(2)},
        **{f"blastn-batch-nt-job-{i:03d}-aaaa-x7k2p/results-export": "+ azcopy cp batch\n" for i in range(2)},
    }
    log_requests = [r for r in fake_k8s.requests if r.path.endswith("/log")]
    assert all(r.query["tailLines"] == ["2"] for r in log_requests)
    assert {r.query["container"][0] for r in log_requests} == {"blast", "results-export"}


def test_containers_not_started_and_pods_gone_give_no_log(fake_cluster: FakeCluster, reader: PodReader) -> None:
    _search(fake_cluster, RESULTS, 1)
    pods = reader.list_pods("app=blast")  # Pending: the API answers 400 "waiting to start"
    assert reader.read_logs(pods) == {}
    fake_cluster.delete(RESULTS)
    assert reader.read_logs(pods) == {}  # 404: the pod is gone


@pytest.mark.parametrize(("status", "kind", "text"), [
    (401, BackendError, "cluster credentials rejected (HTTP 401"),
    (403, BackendError, "cluster credentials rejected (HTTP 403"),
    (404, BackendError, "not found (HTTP 404"),
    (429, TransientBackendError, "HTTP 429"),
    (500, TransientBackendError, "HTTP 500"),
    (503, TransientBackendError, "HTTP 503"),
])
def test_api_errors_keep_their_cause(fake_k8s: FakeKubernetes, reader: PodReader, status: int, kind: type,
                                     text: str) -> None:
    fake_k8s.fail(status, message="the cluster's own words")
    with pytest.raises(kind) as raised:
        reader.list_pods("app=blast")
    assert text in str(raised.value) and "the cluster's own words" in str(raised.value)
    assert (kind is BackendError) is not isinstance(raised.value, TransientBackendError)
    assert reader.list_pods("app=blast") == []  # the fault was for one request only


def test_an_auth_error_on_a_log_read_is_not_swallowed(fake_cluster: FakeCluster, fake_k8s: FakeKubernetes,
                                                       reader: PodReader) -> None:
    _search(fake_cluster, RESULTS, 1)
    pods = [*reader.list_pods("app=blast"), *reader.list_pods("app=blast")][-1:]
    fake_k8s.fail(403, path="/log")
    with pytest.raises(BackendError, match="cluster credentials rejected") as raised:
        reader.read_logs(pods)
    assert raised.value.code == "cluster_auth"


def test_a_slow_api_times_out_as_transient(fake_k8s: FakeKubernetes, reader: PodReader) -> None:
    fake_k8s.slow(10.0)
    with pytest.raises(TransientBackendError, match="did not answer within 2 s"):
        reader.list_pods("app=blast")


def test_an_unreachable_api_is_transient(fake_k8s: FakeKubernetes, reader: PodReader) -> None:
    fake_k8s.stop()
    with pytest.raises(TransientBackendError, match="cannot reach the Kubernetes API"):
        reader.list_pods("app=blast")


def test_a_wrong_token_is_rejected_and_never_shown(fake_k8s: FakeKubernetes, tmp_path: Path) -> None:
    config = fake_k8s.write_kubeconfig(tmp_path / "stale.yaml", token="stale-token-9f8e7d6c5b4a")
    reader = PodReader(kubernetes_credentials(ElbProfile(kubeconfig=config)), "default", 2)
    with pytest.raises(BackendError, match="HTTP 401") as raised:
        reader.list_pods("app=blast")
    assert "stale-token-9f8e7d6c5b4a" not in str(raised.value)


def test_credentials_revoked_mid_run(fake_cluster: FakeCluster, fake_k8s: FakeKubernetes, reader: PodReader) -> None:
    _search(fake_cluster, RESULTS, 1)
    fake_k8s.revoke_credentials(after=1)
    assert len(reader.list_pods("app=blast")) == 1
    with pytest.raises(BackendError, match="cluster credentials rejected"):
        reader.list_pods("app=blast")
    assert fake_cluster.read()["credentials_revoked"]  # elastic-blast is refused from now on too


def test_missing_or_broken_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist\. Fix BLASTFLOW_ELB_KUBECONFIG"):
        kubernetes_credentials(ElbProfile(kubeconfig=tmp_path / "nope.yaml"))
    (tmp_path / "broken.yaml").write_text("clusters: []\ncontexts: []\n")
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        kubernetes_credentials(ElbProfile(kubeconfig=tmp_path / "broken.yaml"))


def test_no_cluster_configuration_at_all_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config, and not inside a cluster
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    reader = PodReader(kubernetes_credentials(ElbProfile()), "default", 2)
    with pytest.raises(ConfigError, match="no usable cluster credentials"):
        reader.list_pods("app=blast")


def test_readers_work_from_inside_a_running_event_loop(fake_cluster: FakeCluster, reader: PodReader) -> None:
    _search(fake_cluster, RESULTS, 2)

    async def caller() -> int:
        return len(reader.list_pods("app=blast"))

    assert asyncio.run(caller()) == 2


def _pod(name: str, phase: str, batch: str, minute: int, *containers: ContainerState, **kw: str) -> PodInfo:
    return PodInfo(name, phase, batch, datetime(2026, 1, 1, 0, minute, tzinfo=UTC), containers=containers, **kw)


def test_a_retried_batch_counts_once_by_its_newest_pod() -> None:
    pods = [_pod("b0-old", "Failed", "b0", 1), _pod("b0-new", "Running", "b0", 5), _pod("b1-x", "Succeeded", "b1", 2)]
    assert [p.name for p in latest_per_batch(pods)] == ["b0-new", "b1-x"]
    assert count_pods(pods) == PodCounts(running=1, succeeded=1)
    assert count_pods([_pod("b2-x", "Unknown", "b2", 1)]) == PodCounts(pending=1)


def test_pod_problems_in_the_clusters_words() -> None:
    pods = [
        _pod("b0-x", "Pending", "b0", 1, unschedulable="0/3 nodes are available: 3 Insufficient memory."),
        _pod("b1-x", "Pending", "b1", 1, ContainerState("blast", "waiting", "ContainerCreating")),
        _pod("b2-x", "Failed", "b2", 1, ContainerState("results-export", "terminated", "Error", exit_code=3)),
    ]
    assert pod_problems(pods) == [
        "pod b0-x: not scheduled: 0/3 nodes are available: 3 Insufficient memory.",
        "pod b2-x: container results-export exited with code 3 (Error)",
    ]


def test_pods_of_other_searches_are_left_out() -> None:
    pods = [PodInfo("a", "Running", "a", results=RESULTS), PodInfo("b", "Running", "b", results=OTHER),
            PodInfo("c", "Running", "c", results=f"{RESULTS}/partition-1"), PodInfo("d", "Running", "d")]
    assert [p.name for p in select_run_pods(pods, RESULTS)] == ["a", "c", "d"]


# Shaped as ElasticBLAST 1.5.0's templates name them: job-init-pv.yaml.template (job `init-pv`, app=setup,
# containers get-blastdb and import-query-batches), job-submit-jobs.yaml.template (job `submit-jobs`,
# app=submit), blast-batch-job.yaml.template (init container load-blastdb-into-ram).
def _setup_pod(job: str, phase: str, *containers: ContainerState) -> PodInfo:
    return PodInfo(f"{job}-x7k2p", phase, job, containers=containers)


def test_setup_progress_names_the_database_and_counts_setup_jobs() -> None:
    init = _setup_pod("init-pv", "Succeeded", ContainerState("get-blastdb", "terminated", "Completed", exit_code=0))
    submit = _setup_pod("submit-jobs", "Running", ContainerState("submit-jobs", "running"))
    assert setup_summary([init, submit], "swissprot") == (
        "downloading database swissprot: 1 of 2 setup jobs done (submit-jobs running)",
        None,
    )


def test_a_failed_setup_job_is_the_searchs_failure_in_the_clusters_words() -> None:
    failed = _setup_pod(
        "init-pv", "Failed",
        ContainerState("get-blastdb", "terminated", "Error", "update_blastdb.pl: swissprot not found", exit_code=2),
        ContainerState("import-query-batches", "terminated", "Completed", exit_code=0),
    )  # fmt: skip
    text, failure = setup_summary([failed], "swissprot")
    assert text == "" and failure == (
        "ElasticBLAST's setup failed: job init-pv: container get-blastdb exited with code 2 (Error): "
        "update_blastdb.pl: swissprot not found"
    )


def test_a_failing_init_container_of_a_blast_pod_is_a_problem() -> None:
    pod = PodInfo("blastp-batch-swissprot-job-1-abcde", "Pending", "blastp-batch-swissprot-job-1",
                  init_containers=(ContainerState("load-blastdb-into-ram", "waiting", "CrashLoopBackOff",
                                                  "back-off 5m0s restarting failed container"),))  # fmt: skip
    assert pod_problems([pod]) == [
        "pod blastp-batch-swissprot-job-1-abcde: container load-blastdb-into-ram waiting: CrashLoopBackOff: "
        "back-off 5m0s restarting failed container"
    ]
