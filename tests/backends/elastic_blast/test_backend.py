"""The elastic-blast backend against its doubles: fake `elastic-blast`, fake Kubernetes API, real Azurite and BLAST+."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import pytest

from blastflow.backends import get_backend
from blastflow.backends.base import Backend
from blastflow.backends.elastic_blast.backend import ElasticBlastBackend, _same_cluster
from blastflow.backends.elastic_blast.config import ELB_CONFIG_ENV, ElbSearch, build_config, read_config, render_config
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.errors import BackendError, ConfigError, InputError, TransientBackendError
from blastflow.failure import child_error_text
from blastflow.search import PreparedRun, RunState, SearchSpec
from blastflow.settings import Settings
from blastflow.steps.prepare import check_search
from blastflow.stream import child_env, stream_child
from tests.doubles.elb_doubles import NUCL_DB, PROT_DB, ElbWorld, first_records

pytestmark = pytest.mark.azurite

JOB_ID = "5f0c2a8e-1b3d-4c5e-8f70-9a1b2c3d4e5f"
INFO_LINE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z INFO: "


def _prepare(
    tmp_path: Path, *, count: int = 6, batch_len: int | None = 300, **spec: object
) -> tuple[ElasticBlastBackend, PreparedRun]:
    backend = ElasticBlastBackend()
    fields = {"program": "blastp", "query": first_records("prot", count), "db": PROT_DB, "batch_len": batch_len,
              **spec}
    run = backend.prepare(JOB_ID, check_search(SearchSpec(**fields)), tmp_path / "job")
    return backend, run


def _submit(backend: ElasticBlastBackend, run: PreparedRun) -> tuple[int, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    result = stream_child(
        backend.submit_command(run), lambda s, line: lines.append((s, line)), env=backend.submit_env(run),
        cwd=run.workdir, timeout_s=120,
    )
    return result.returncode, lines


def _past_setup(backend: ElasticBlastBackend, run: PreparedRun, attempts: int = 5):
    """Pod counts once the BLAST pods exist: the Azure fork's setup jobs make them some time after submit returns
    (fake_cluster.py; facts "submit"), and until then there is no `app=blast` pod to count."""
    for _ in range(attempts):
        counts = backend.pod_counts(run)
        if counts.total:
            return counts
    raise AssertionError(f"no BLAST pod after {attempts} listings")


def _status_until_done(backend: ElasticBlastBackend, run: PreparedRun, attempts: int = 10):
    for _ in range(attempts):
        status = backend.status(run)
        if status.state in (RunState.SUCCESS, RunState.FAILURE):
            return status
    raise AssertionError(f"no final status after {attempts} polls: {status}")


def test_prepare_writes_the_ini_elastic_blast_reads(elb_world: ElbWorld, tmp_path: Path) -> None:
    _, run = _prepare(tmp_path, options="-seg yes")
    cfg = read_config(run.config_path.read_text())
    assert cfg["blast"]["program"] == "blastp"
    assert cfg["blast"]["db"] == PROT_DB
    assert cfg["blast"]["results"] == f"{elb_world.results_base}/{JOB_ID}" == run.results_location
    assert cfg["blast"]["options"] == "-seg yes -evalue 1e-05 -max_target_seqs 10"
    assert cfg["blast"]["batch-len"] == "300"
    assert Path(cfg["blast"]["queries"]).read_text().count(">") == 6
    assert cfg["cloud-provider"]["azure-storage-account-container"] == elb_world.container
    assert run.query_count == 6 and len(run.batches) >= 2
    assert PreparedRun.load(run.workdir) == run


def test_success_streams_counts_pods_and_fetches_real_archives(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    code, lines = _submit(backend, run)

    assert code == 0
    stderr = [line for stream, line in lines if stream == "stderr"]
    assert any(line.endswith("INFO: Splitting queries into batches") for line in stderr)
    assert any(f"INFO: {len(run.batches)} batches" in line for line in stderr)
    assert not any(" WARNING: " in line for line in stderr), "the fork's submit warns about nothing here"
    assert all("\x1b" not in line for _, line in lines), "colour codes must be gone before anyone sees a line"
    # The Azure fork's coloured progress lines (commands/submit.py:118, 268; elasticblast.py:103), colour removed.
    stdout = [line for stream, line in lines if stream == "stdout"]
    assert stdout[1:] == [" Splitting queries into batches", " Upload workfiles"]
    assert stdout[0].startswith(f"[1/5] Writing configuration to {run.results_location}/job-")
    # The fake ElasticBLAST split the queries exactly as prepare did.
    assert len(elb_world.cluster.search(run.results_location)["batches"]) == len(run.batches)

    assert backend.pod_counts(run).total == 0, "no BLAST pod while the fork's setup jobs run"
    first = _past_setup(backend, run)
    assert first.pending == len(run.batches) and first.total == len(run.batches)
    assert backend.pod_counts(run).running == len(run.batches)
    status = _status_until_done(backend, run)
    assert status.state is RunState.SUCCESS
    assert status.message.startswith("Your ElasticBLAST search succeeded")
    assert backend.pod_counts(run).succeeded == len(run.batches)
    assert (run.workdir / "elb-job-id").read_text().startswith("job-")  # the fork's label, narrowing later listings
    assert elb_world.k8s.requests[-1].query["labelSelector"] == [
        f"app=blast,elb-job-id={(run.workdir / 'elb-job-id').read_text()}"
    ]

    archives = backend.fetch_results(run, tmp_path / "archives")
    assert [a.name for a in archives] == [f"batch_{i:03d}.asn" for i in range(len(run.batches))]
    hits = subprocess.run(["blast_formatter", "-archive", str(archives[0]), "-outfmt", "6 qseqid sseqid evalue"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    first_query = run.batches[0].path.read_text().split()[0][1:]
    assert any(h.split("\t")[:2] == [first_query, first_query] for h in hits), "a protein finds itself"

    logs = backend.pod_logs(run, tail_lines=3)
    blast_logs = {k: v for k, v in logs.items() if k.endswith("/blast")}
    assert len(blast_logs) == len(run.batches)
    assert all(text.splitlines()[-1].startswith("run end") and text.count("\n") == 3 for text in blast_logs.values())


# With the fork's `restartPolicy: OnFailure` and `backoffLimit: 5` (blast-batch-job-aks.yaml.template:113-114) a
# failing batch restarts in its pod, and when the Job fails Kubernetes deletes that pod; the fork's status then
# prints only the failure sentence. BLAST's words are in <results>/<elb_job_id>/metadata/FAILURE.txt
# (blast-run-aks.sh:75-81), which the backend reads for the failure text.

def test_blast_failure_reports_the_blast_error_and_its_failure_txt_blocks_the_results(
    elb_world: ElbWorld, tmp_path: Path
) -> None:
    elb_world.scenario("blast_failure")
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0

    status = _status_until_done(backend, run)

    # The failed Job's pod is gone (OnFailure, backoffLimit reached): BLAST's words come from FAILURE.txt.
    assert status.state is RunState.FAILURE
    assert status.message.startswith("ElasticBLAST reports the search failed")
    assert "metadata/FAILURE.txt: BLAST Database error: No alias or index file found" in status.message
    with pytest.raises(BackendError, match=r"ElasticBLAST marked the search failed.*BLAST Database error") as failed:
        backend.fetch_results(run, tmp_path / "archives")
    assert failed.value.code == "blast_failed"


def test_an_early_failure_is_explained_by_the_failure_marker(elb_world: ElbWorld, tmp_path: Path) -> None:
    """One failed batch fails the search while others still run; ElasticBLAST then says only "failed"."""
    elb_world.scenario("blast_failure")
    elb_world.cluster.configure(stagger_ticks=3)
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0

    status = _status_until_done(backend, run)

    assert status.state is RunState.FAILURE
    assert "please help us" not in status.message
    # The failed batch's pod is gone (OnFailure, backoffLimit reached) while the others still run; the
    # marker its BLAST container wrote says why.
    assert "metadata/FAILURE.txt: BLAST Database error: No alias or index file found" in status.message


def test_submit_failure_exits_with_the_documented_code_and_its_error_line(elb_world: ElbWorld, tmp_path: Path) -> None:
    """The fork reports a refused AKS cluster creation as a cluster error, exit 8 (azure.py:238-241)."""
    elb_world.scenario("submit_failure")
    backend, run = _prepare(tmp_path)

    code, lines = _submit(backend, run)

    assert code == 8
    text = child_error_text("elastic-blast submit", code, [ln for s, ln in lines if s == "stderr"],
                            [ln for s, ln in lines if s == "stdout"])
    assert "exited with code 8" in text and "Failed to create AKS cluster" in text and "QuotaExceeded" in text
    assert elb_world.cluster.search(run.results_location) is None


def test_a_pod_that_never_starts_stays_pending_and_says_why(elb_world: ElbWorld, tmp_path: Path) -> None:
    elb_world.scenario("never_starts")
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0

    _past_setup(backend, run)
    for _ in range(4):
        counts = backend.pod_counts(run)
        assert counts.pending == len(run.batches) and counts.running == 0
    status = backend.status(run)
    assert status.state is RunState.RUNNING and status.counts.pending == len(run.batches)
    problems = backend.pod_problems(run)
    # The init container pulls first (blast-batch-job-aks.yaml.template:28-44); blast and results-export wait in
    # PodInitializing meanwhile, which is on its way, not a problem.
    assert len(problems) == len(run.batches)
    assert all("container load-blastdb-into-ram waiting: ImagePullBackOff: Back-off pulling image" in p
               for p in problems)  # fmt: skip
    assert backend.pod_logs(run) == {}  # containers waiting to start have no log


def test_lost_cluster_credentials_mid_run_is_a_permanent_error(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0
    elb_world.k8s.revoke_credentials(after=2)

    backend.pod_counts(run)
    backend.pod_counts(run)
    with pytest.raises(BackendError, match="cluster credentials rejected \\(HTTP 401") as lost:
        backend.pod_counts(run)
    assert lost.value.code == "cluster_auth" and not isinstance(lost.value, TransientBackendError)
    with pytest.raises(BackendError, match="credentials rejected"):
        backend.pod_logs(run)


def test_lost_cluster_credentials_make_status_a_permanent_error(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0
    _past_setup(backend, run)
    elb_world.k8s.revoke_credentials()

    with pytest.raises(BackendError, match="cluster credentials rejected") as status_lost:
        backend.status(run)
    assert status_lost.value.code == "cluster_auth"


def test_empty_pod_logs_until_the_pods_flush(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0
    assert _status_until_done(backend, run).state is RunState.SUCCESS
    elb_world.cluster.configure(empty_log_reads=2 * len(run.batches))  # one read of every container is empty

    assert backend.pod_logs(run) == {}
    later = backend.pod_logs(run)
    assert len(later) == 2 * len(run.batches)
    assert all(text.strip() for text in later.values())


def test_cluster_hiccups_are_transient(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0
    _past_setup(backend, run)
    for status in (500, 503, 429):
        elb_world.k8s.fail(status, path="/pods")
        with pytest.raises(TransientBackendError, match=f"HTTP {status}"):
            backend.pod_counts(run)
    elb_world.k8s.slow(5.0, path="/pods")
    with pytest.raises(TransientBackendError, match="did not answer within 3 s"):
        backend.pod_counts(run)
    assert backend.pod_counts(run).total == len(run.batches)  # and then it answers again


def test_forbidden_names_the_missing_rbac(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0
    elb_world.k8s.fail(403, message='pods is forbidden: User "system:serviceaccount:blast:flow" cannot list pods')

    with pytest.raises(BackendError, match=r"cannot list pods.*get, list and watch on pods and pods/log") as denied:
        backend.pod_counts(run)
    assert denied.value.code == "cluster_auth"


def test_stray_elb_variables_cannot_redirect_the_search(
    elb_world: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELB_RESULTS", f"{elb_world.results_base}/somebody-else")
    monkeypatch.setenv("ELB_BATCH_LEN", "1")
    backend, run = _prepare(tmp_path)

    assert _submit(backend, run)[0] == 0

    search = elb_world.cluster.search(run.results_location)
    assert search is not None and len(search["batches"]) == len(run.batches)
    assert elb_world.cluster.search(f"{elb_world.results_base}/somebody-else") is None


@pytest.mark.parametrize(
    ("results", "project"), [("gs://elb-results/runs/j1", "blast-project"), ("s3://elb-results/runs/j1", None)]
)
def test_every_variable_that_overrides_the_ini_is_pinned_or_removed(
    results: str, project: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ElasticBLAST 1.5.0 lets nine variables override the ini, the Azure fork six more (config.py
    `_load_config_from_environment` of each)."""
    stray = {name: "stray" for name in ELB_CONFIG_ENV}
    for name, value in stray.items():
        monkeypatch.setenv(name, value)
    profile = ElbProfile(gcp_project="blast-project", gcp_region="us-east4", gcp_zone="us-east4-b",
                         aws_region="us-east-1", cluster_name="elb-blastflow")  # fmt: skip
    config = tmp_path / "elastic-blast.ini"
    config.write_text(render_config(build_config(ElbSearch("blastp", "swissprot", "q.fa", results), profile)))
    run = PreparedRun(job_id=JOB_ID, backend="elastic-blast", program="blastp", workdir=tmp_path,
                      config_path=config, database="swissprot", database_label="swissprot", molecule="prot",
                      results_location=results)  # fmt: skip

    env = child_env(ElasticBlastBackend(profile=profile).submit_env(run))

    assert env["ELB_RESULTS"] == results and env["ELB_CLUSTER_NAME"] == "elb-blastflow"
    assert env.get("CLOUDSDK_CORE_PROJECT") == project and env.get("ELB_GCP_PROJECT") == project
    assert "ELB_BID_PERCENTAGE" not in env and "ELB_USE_PREEMPTIBLE" not in env
    assert "stray" not in {env.get(name) for name in ELB_CONFIG_ENV}
    assert not {"AZURE_REGION", "AZURE_ACR_NAME", "AZURE_STORAGE_ACCOUNT"} & set(env)


def test_cancel_deletes_the_search(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0

    outcome = backend.cancel(run)

    assert outcome == "elastic-blast delete stopped the search and released its cluster resources"
    assert elb_world.cluster.search(run.results_location) is None
    assert backend.pod_counts(run).total == 0
    assert backend.status(run).state is RunState.UNKNOWN


def test_fetch_results_waits_for_every_batch_export(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0

    with pytest.raises(TransientBackendError, match=f"0 of {len(run.batches)} batch results"):
        backend.fetch_results(run, tmp_path / "archives")


def test_on_aws_counts_come_from_status_not_from_pods(
    elb_world: ElbWorld, moto_s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS runs batches as AWS Batch jobs: no pods to read, so counts come from `elastic-blast status`.

    The `elastic-blast` double imitates only the Azure fork, and the real CLI's AWS world is test_real_cli_aws.py's;
    here `elastic-blast` replays what upstream 1.5.0's `status --exit-code --verbose` prints on AWS for a search
    whose jobs wait, then run (commands/status.py:85-100 with aws.py `_check_status_extended`, exit 4 RUNNING).
    """
    monkeypatch.setenv("BLASTFLOW_ELB_EXECUTABLE", str(_aws_status_replay(tmp_path / "replay", 3)))
    for key in ("AZURE_REGION", "AZURE_RESOURCE_GROUP", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_CONTAINER",
                "AZURE_ACR_NAME", "AZURE_ACR_RESOURCE_GROUP", "KUBECONFIG"):
        monkeypatch.delenv(f"BLASTFLOW_ELB_{key}")
    monkeypatch.setenv("BLASTFLOW_ELB_RESULTS", f"s3://{moto_s3.new_bucket()}/runs")  # prepare reads it back
    for name, value in moto_s3.env().items():  # the S3 emulator, credentials from the AWS default chain
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BLASTFLOW_ELB_AWS_REGION", "us-east-1")
    backend, run = _prepare(tmp_path)
    assert read_config(run.config_path.read_text())["cloud-provider"]["aws-region"] == "us-east-1"
    assert _submit(backend, run)[0] == 0

    assert backend.pod_counts(run).pending == len(run.batches)
    assert backend.pod_counts(run).running == len(run.batches)
    assert backend.pod_logs(run) is None and backend.pod_problems(run) == []
    assert elb_world.k8s.requests == []  # the Kubernetes API was never asked


def _aws_status_replay(directory: Path, jobs: int) -> Path:
    """An `elastic-blast` whose `status` prints upstream's AWS verbose status: all jobs RUNNABLE, then RUNNING."""
    directory.mkdir(parents=True)

    def said(state: str) -> str:
        listing = [f" {i + 1}. \n  JobArn: arn:aws:batch:us-east-1:123456789012:job/{i:08d}-0000-4000-8000-000000000000"
                   f"\n  JobName: elasticblast-user-blastp-batch-sinvicta_prot-job-{i}" for i in range(jobs)]
        counts = {name: jobs if name == state else 0 for name in ("Pending", "Running", "Succeeded", "Failed")}
        lines = [f"{name} {n}" for name, n in counts.items()]
        detail = [part for name, n in counts.items() for part in ([f"{name} {n}"] + (listing if n else []))]
        return "\n".join(lines + detail) + "\n"

    (directory / "pending.txt").write_text(said("Pending"))
    (directory / "running.txt").write_text(said("Running"))
    script = directory / "elastic-blast"
    script.write_text(
        "#!/bin/sh\n"
        "# TEST REPLAY of upstream elastic-blast 1.5.0 `status` on AWS (aws.py _check_status_extended).\n"
        '[ "$1" = status ] || exit 0\n'
        f'if [ -e {directory}/asked ]; then cat {directory}/running.txt; else touch {directory}/asked; '
        f"cat {directory}/pending.txt; fi\n"
        "exit 4\n"
    )
    script.chmod(0o755)
    return script


def test_the_registry_builds_it_from_the_environment(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend = get_backend("elastic-blast", Settings(data_dir=tmp_path))
    assert isinstance(backend, ElasticBlastBackend) and isinstance(backend, Backend)
    assert backend.profile.results == elb_world.results_base and backend.profile.kubeconfig == elb_world.kubeconfig


def test_nucleotide_search_end_to_end(elb_world: ElbWorld, tmp_path: Path) -> None:
    backend, run = _prepare(tmp_path, program="blastn", query=first_records("cdna", 2), db=NUCL_DB, batch_len=None)
    assert run.batches == [] and "batch-len" not in read_config(run.config_path.read_text())["blast"]  # tuner's
    assert _submit(backend, run)[0] == 0
    assert _status_until_done(backend, run).state is RunState.SUCCESS
    assert len(backend.fetch_results(run, tmp_path / "archives")) == 1


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({"db": "/data/blastdb/swissprot"}, InputError, "not something ElasticBLAST can search"),
        ({"db": "nt"}, InputError, "blastp searches a protein database, but 'nt' is a nucleotide database"),
        ({"db": "Swissprot"}, InputError, "did you mean 'swissprot'"),
        ({"db": "gs://bucket/dbs/prot"}, InputError, "database 'gs://bucket/dbs/prot' is on gcp"),
        ({"options": "-remote"}, InputError, "option -remote is not allowed"),
        ({"options": "-outfmt 6"}, InputError, "option -outfmt is not allowed"),
        ({"query": ">q\nACGTACGTACGTACGTACGT\n"}, InputError, "blastp expects a protein query"),
    ],
)
def test_prepare_rejects_what_elastic_blast_cannot_run(
    elb_world: ElbWorld, tmp_path: Path, spec: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        _prepare(tmp_path, **spec)
    assert not (tmp_path / "job" / "elastic-blast.ini").exists(), "nothing is written for a rejected search"


def test_prepare_needs_a_complete_profile(elb_world: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLASTFLOW_ELB_RESULTS")
    with pytest.raises(ConfigError, match="set BLASTFLOW_ELB_RESULTS"):
        _prepare(tmp_path)
    monkeypatch.setenv("BLASTFLOW_ELB_RESULTS", "s3://blast-results/runs")
    with pytest.raises(ConfigError, match=r"needs aws-region for results on aws \(set BLASTFLOW_ELB_AWS_REGION\)"):
        _prepare(tmp_path)


def test_a_missing_executable_is_a_config_error(elb_world: ElbWorld, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _, run = _prepare(tmp_path)
    monkeypatch.setenv("BLASTFLOW_ELB_EXECUTABLE", "elastic-blast-not-installed")
    with pytest.raises(ConfigError, match="pip install elastic-blast"):
        ElasticBlastBackend().status(run)


def test_the_fake_cli_buffers_stdout_like_a_python_child(elb_world: ElbWorld, tmp_path: Path) -> None:
    """Only PYTHONUNBUFFERED=1 (which the streamer sets) gets stdout lines out while the child still runs."""
    backend, run = _prepare(tmp_path)
    handshake = tmp_path / "handshake"
    extra = {"FAKE_ELB_HANDSHAKE": str(handshake), "FAKE_ELB_HANDSHAKE_TIMEOUT": "1"}
    env = child_env({**backend.submit_env(run), **extra})

    def on_line(stream: str, line: str) -> None:
        if line.startswith("[1/5] Writing configuration to "):  # the fork's first stdout line (submit.py:118)
            handshake.touch()
        seen.append(line)

    seen: list[str] = []
    assert stream_child(backend.submit_command(run), on_line, env=env, cwd=run.workdir).returncode == 0
    assert any("the first stdout line was read while submit was running" in line for line in seen)

    handshake.unlink()
    elb_world.cluster.delete(run.results_location)  # its cluster gone, the fork submits to the same results again
    plain_env = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(backend.submit_command(run), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=plain_env, cwd=run.workdir, text=True)

    def read_stdout() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            if "[1/5] Writing configuration to " in line:
                handshake.touch()

    reader = threading.Thread(target=read_stdout)
    reader.start()
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    proc.wait(timeout=60)
    reader.join(timeout=10)
    assert "nobody read the first stdout line while submit was running" in stderr


def test_prefect_blocks_by_name_give_cluster_and_storage_access(
    prefect_api: str, elb_world: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production setup: a KubernetesCredentials block and an AzureBlobStorageCredentials block, by name."""
    from prefect_azure import AzureBlobStorageCredentials
    from prefect_kubernetes.credentials import KubernetesClusterConfig, KubernetesCredentials

    KubernetesCredentials(cluster_config=KubernetesClusterConfig.from_file(elb_world.kubeconfig)).save(
        "elb-cluster", overwrite=True
    )
    AzureBlobStorageCredentials(connection_string=elb_world.connection_string).save("elb-results", overwrite=True)
    monkeypatch.delenv("BLASTFLOW_ELB_KUBECONFIG")
    monkeypatch.delenv("BLASTFLOW_ELB_BLOB_CONNECTION_STRING")
    monkeypatch.setenv("BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK", "elb-cluster")
    monkeypatch.setenv("BLASTFLOW_AZURE_CREDENTIALS_BLOCK", "elb-results")  # the one block per storage account
    backend = ElasticBlastBackend(Settings(data_dir=tmp_path))
    run = backend.prepare(JOB_ID, check_search(SearchSpec(program="blastp", query=first_records("prot", 3), db=PROT_DB,
                                             batch_len=300)), tmp_path / "job")
    assert _submit(backend, run)[0] == 0

    assert _past_setup(backend, run).total == len(run.batches)
    assert _status_until_done(backend, run).state is RunState.SUCCESS
    assert len(backend.fetch_results(run, tmp_path / "archives")) == len(run.batches)
    assert backend.pod_logs(run)

    monkeypatch.setenv("BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK", "no-such-block")
    with pytest.raises(ConfigError, match="cannot load the KubernetesCredentials block 'no-such-block'"):
        ElasticBlastBackend(Settings(data_dir=tmp_path)).pod_counts(run)


def test_an_azure_search_with_the_upstream_cli_is_refused_before_anything_is_written(
    elb_world: ElbWorld, real_elastic_blast: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLASTFLOW_ELB_EXECUTABLE", str(real_elastic_blast))
    monkeypatch.setenv("BLASTFLOW_ELB_FLAVOUR", "auto")
    with pytest.raises(ConfigError, match="has no Azure support: upstream elastic-blast refuses") as refused:
        _prepare(tmp_path)
    assert refused.value.code == "elb_no_azure" and "BLASTFLOW_ELB_EXECUTABLE" in str(refused.value)
    assert not (tmp_path / "job").exists()


@pytest.mark.parametrize("key", ["AZURE_ACR_NAME", "AZURE_ACR_RESOURCE_GROUP"])
def test_an_azure_search_needs_the_acr_keys(
    key: str, elb_world: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without azure-acr-name the fork silently runs `elb-unknown-azure-acr-name.azurecr.io/ncbi/elb:1.4.0`."""
    monkeypatch.delenv(f"BLASTFLOW_ELB_{key}")
    with pytest.raises(ConfigError, match=f"needs {key.lower().replace('_', '-')} for results on azure"):
        _prepare(tmp_path)
    assert not (tmp_path / "job").exists()


def test_the_forks_delete_is_never_run_while_another_search_of_ours_uses_the_cluster(
    elb_world: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork's `delete` from a fresh process removes the whole AKS cluster (elastic-blast-facts.md). Two
    searches share a cluster when they name the same one (unnamed, each gets its own: elb_config.py 1369-1372)."""
    monkeypatch.setenv("BLASTFLOW_ELB_CLUSTER_NAME", "elb-shared")
    backend, first = _prepare(tmp_path / "first")
    second = backend.prepare(JOB_ID.replace("5f0c", "6a1d"), check_search(SearchSpec(
        program="blastp", query=first_records("prot", 3), db=PROT_DB, batch_len=300)), tmp_path / "second")  # fmt: skip
    # The fork refuses a second submit to a busy named cluster (exit 8) unless it reuses it; `second` stands for
    # a search of ours live there (e.g. submitted with `reuse`): the guard decides from the inis alone.
    assert _submit(backend, first)[0] == 0

    outcome = backend.cancel(first, others_live=[second])

    assert outcome.startswith("left the cluster running: the Azure fork's delete removes the whole cluster")
    assert second.job_id in outcome
    assert elb_world.cluster.search(first.results_location) is not None, "no delete may have run"
    assert backend.cancel(first).startswith("elastic-blast delete stopped the search")  # alone on it: deleted


def test_two_searches_without_a_cluster_name_are_on_two_clusters(tmp_path: Path) -> None:
    """ElasticBLAST names an unnamed cluster after the results location (elb_config.py 1102-1105)."""
    def run(name: str, cluster: str | None) -> PreparedRun:
        profile = ElbProfile(gcp_project="p", gcp_region="us-east4", gcp_zone="us-east4-b", cluster_name=cluster)
        results = f"gs://elb-results/runs/{name}"
        config = tmp_path / f"{name}.ini"
        config.write_text(render_config(build_config(ElbSearch("blastp", "swissprot", "q.fa", results), profile)))
        return PreparedRun(job_id=JOB_ID, backend="elastic-blast", program="blastp", workdir=tmp_path,
                           config_path=config, database="swissprot", database_label="swissprot", molecule="prot",
                           results_location=results)  # fmt: skip

    assert not _same_cluster(run("a", None), run("b", None))
    assert _same_cluster(run("c", "elb-shared"), run("d", "elb-shared"))


def test_a_fork_search_whose_jobs_were_deleted_after_their_ttl_stays_succeeded(
    elb_world: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork deletes finished jobs after `ttlSecondsAfterFinished` (fork azure.py 1114-1128) and its status,
    counting the cluster's `app=blast` jobs, then says SUBMITTING again; the finalizer's SUCCESS.txt says done."""
    monkeypatch.setenv("ELB_JOB_TTL_SECONDS", "600")
    elb_world.cluster.configure(tick_s=600)  # ten minutes of cluster time per observation
    backend, run = _prepare(tmp_path)
    assert _submit(backend, run)[0] == 0
    assert _status_until_done(backend, run).state is RunState.SUCCESS
    for _ in range(4):  # observations until the TTL has removed every job
        elb_world.cluster.pods("default")
    said = subprocess.run(["elastic-blast", "status", "--cfg", str(run.config_path), "--exit-code", "--verbose"],
                          capture_output=True, text=True, cwd=run.workdir, check=False)  # fmt: skip
    assert said.stdout.strip() == "SUBMITTING", "the fork's own status forgets the finished search"

    status = backend.status(run)

    assert status.state is RunState.SUCCESS and status.counts.succeeded == len(run.batches)
    assert "SUCCESS.txt" in status.message


def test_provenance_gives_the_command_elastic_blasts_job_template_runs(
    elb_world: ElbWorld, tmp_path: Path, real_elastic_blast: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLASTFLOW_ELB_NUM_CPUS", "4")
    backend, run = _prepare(tmp_path, options="-seg yes")
    said = backend.provenance(run)
    # The line the real job template echoes before it runs BLAST, with the template's variables filled in.
    template = next(real_elastic_blast.parent.parent.glob("lib/python3*/site-packages/elastic_blast/templates/"
                                                          "blast-batch-job.yaml.template")).read_text()
    echoed = re.search(r"echo (\$\{ELB_BLAST_PROGRAM\} -db .*\$\{ELB_BLAST_OPTIONS\});", template)
    assert echoed is not None
    values = {"ELB_BLAST_PROGRAM": "blastp", "ELB_DB": PROT_DB, "JOB_NUM": "001", "ELB_NUM_CPUS": "4",
              "ELB_BLAST_OPTIONS": "-seg yes -evalue 1e-05 -max_target_seqs 10 -outfmt 11"}
    expected = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], echoed.group(1))
    assert " ".join(said.commands[1]) == expected and len(said.commands) == len(run.batches)
    assert said.profile["num_cpus"] == "4" and "blob_connection_string" not in said.profile
    secret = backend.profile.blob_connection_string  # the world's Azurite key: set, and left out
    assert secret is not None and "AccountKey" not in repr(said) and secret.get_secret_value() not in repr(said)
