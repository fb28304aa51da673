"""Pytest fixtures for the ElasticBLAST test doubles: fake cluster, fake Kubernetes API, fake `elastic-blast`.

Not a double itself: it wires the doubles together. tests/conftest.py registers it as a plugin
(`pytest_plugins = ["tests.doubles.elb_doubles"]`), so every test can ask for these fixtures by name;
import the constants and helpers (`PROT_DB`, `first_records`, `ElbWorld`) from here.

`elb_world` is the one most tests want: a fake AKS cluster, its Kubernetes API
server on 127.0.0.1 with a kubeconfig, the `elastic-blast` double of ElasticBLAST's
AZURE FORK first on PATH (fake_elastic_blast.py: the fork cannot be installed from a
registry; upstream ElasticBLAST runs for real in the GCP/AWS tests), real BLAST
databases made from the sample data (found through BLASTDB), a results container in
the session's Azurite, and the `BLASTFLOW_ELB_*` environment that makes `ElbProfile()`
(and so `ElasticBlastBackend()`) use all of it, exactly the way a deployment's
environment would.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.doubles.fake_cluster import FakeCluster
from tests.doubles.fake_k8s import FakeKubernetes

__all__ = [
    "ElbWorld",
    "elb_blast_dbs",
    "elb_world",
    "fake_cluster",
    "fake_elastic_blast",
    "fake_k8s",
    "fake_kubeconfig",
    "first_records",
    "module_launcher",
    "sample_fasta",
]

DOUBLES = Path(__file__).resolve().parent
REPO = DOUBLES.parents[1]
# The repository's copy of the sample data; DESIGN.md's shared location until it is copied in.
SAMPLE_DATA = next(
    (d for d in (REPO / "data" / "sinvicta", REPO.parent / "shared" / "data" / "sinvicta") if d.is_dir()),
    REPO / "data" / "sinvicta",
)
NUCL_DB, PROT_DB = "sinvicta_cdna", "sinvicta_prot"
AZURITE_ACCOUNT = "devstoreaccount1"


def module_launcher(path: Path, module: str) -> Path:
    """Write an executable at `path` that runs `python -m <module>` with this repository importable.

    A double that is a program (the fake `elastic-blast`, its wrapper) runs as a module of the
    `tests` package, which is not installed: the launcher puts the repository root first on
    PYTHONPATH, then execs this interpreter (same process, so its pid and process group are the launcher's).

    Args:
        path: Where to write the launcher (its directory is created).
        module: The double's module, e.g. ``"tests.doubles.fake_elastic_blast"``.

    Returns:
        `path`, executable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f"# TEST DOUBLE launcher: runs `python -m {module}` in place of the real program.\n"
        f'PYTHONPATH={shlex.quote(str(REPO))}"${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        "export PYTHONPATH\n"
        f'exec {shlex.quote(sys.executable)} -m {module} "$@"\n'
    )
    path.chmod(0o755)
    return path


def sample_fasta(kind: str) -> Path:
    """The bundled sample FASTA: kind "cdna" (473 transcripts) or "prot" (1,189 proteins)."""
    path = SAMPLE_DATA / f"Sinvicta2-2-3.{kind}.subset.fasta"
    if not path.is_file():
        pytest.fail(f"sample data {path} is missing", pytrace=False)
    return path


def first_records(kind: str, count: int) -> str:
    """The first `count` records of a sample FASTA, as FASTA text (a small real query)."""
    text = sample_fasta(kind).read_text()
    return ">" + ">".join(text.split(">")[1 : count + 1])


@pytest.fixture(scope="session")
def elb_blast_dbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BLASTDB directory with `sinvicta_cdna` (nucl) and `sinvicta_prot` (prot), built by real makeblastdb."""
    directory = tmp_path_factory.mktemp("blastdb")
    for kind, name, dbtype in (("cdna", NUCL_DB, "nucl"), ("prot", PROT_DB, "prot")):
        subprocess.run(
            ["makeblastdb", "-in", str(sample_fasta(kind)), "-dbtype", dbtype, "-out", str(directory / name),
             "-title", name],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return directory


@pytest.fixture
def fake_cluster(tmp_path: Path) -> FakeCluster:
    """The fake cluster's shared state (scenario, pods, exports) in a directory of this test."""
    return FakeCluster(tmp_path / "fake-cluster")


@pytest.fixture
def fake_k8s(fake_cluster: FakeCluster) -> Iterator[FakeKubernetes]:
    """The fake Kubernetes API server, listening on 127.0.0.1 for this test."""
    server = FakeKubernetes(fake_cluster).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_kubeconfig(fake_k8s: FakeKubernetes, tmp_path: Path) -> Path:
    """A kubeconfig whose current context is the fake API server (bearer token auth)."""
    return fake_k8s.write_kubeconfig(tmp_path / "kubeconfig.yaml")


@pytest.fixture
def fake_elastic_blast(fake_cluster: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the Azure-fork `elastic-blast` double first on PATH (`python -m tests.doubles.fake_elastic_blast`).

    The variables the fork reads (ELB_*, and AZURE_* of its config.py:91-109) are removed, so the machine's own
    cannot reach the double's configuration.
    """
    bin_dir = tmp_path / "bin"
    launcher = module_launcher(bin_dir / "elastic-blast", "tests.doubles.fake_elastic_blast")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_ELB_STATE", str(fake_cluster.directory))
    monkeypatch.delenv("FAKE_ELB_SCENARIO", raising=False)
    for name in [n for n in os.environ if n.startswith(("ELB_", "AZURE_"))]:
        monkeypatch.delenv(name)
    return launcher


@dataclass
class ElbWorld:
    """Everything an ElasticBLAST run needs, all doubles or emulators, wired through the environment."""

    cluster: FakeCluster
    k8s: FakeKubernetes
    kubeconfig: Path
    elastic_blast: Path
    blastdb: Path
    container: str
    results_base: str
    connection_string: str

    def scenario(self, name: str) -> None:
        """success, blast_failure, submit_failure or never_starts (fake_cluster.py), for searches submitted next."""
        self.cluster.configure(scenario=name)

    def blob_names(self, prefix: str = "") -> list[str]:
        """Every blob in the results container (to check what the fake cluster exported)."""
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(self.connection_string) as service:
            return sorted(service.get_container_client(self.container).list_blob_names(name_starts_with=prefix))


@pytest.fixture
def elb_world(
    azurite,  # the session Azurite of tests/conftest.py
    fake_cluster: FakeCluster,
    fake_k8s: FakeKubernetes,
    fake_kubeconfig: Path,
    fake_elastic_blast: Path,
    elb_blast_dbs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> ElbWorld:
    """The fake ElasticBLAST world, and the BLASTFLOW_ELB_* environment pointing at it."""
    from azure.storage.blob import BlobServiceClient

    container = "elb" + uuid.uuid4().hex[:12]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_container(container)
    results_base = f"https://{AZURITE_ACCOUNT}.blob.core.windows.net/{container}/searches"
    fake_cluster.configure(blob_connection_string=azurite.connection_string)
    env = {
        "BLASTDB": str(elb_blast_dbs),
        "BLASTFLOW_ELB_RESULTS": results_base,
        "BLASTFLOW_ELB_AZURE_REGION": "eastus",
        "BLASTFLOW_ELB_AZURE_RESOURCE_GROUP": "rg-blastflow-test",
        "BLASTFLOW_ELB_AZURE_STORAGE_ACCOUNT": AZURITE_ACCOUNT,
        "BLASTFLOW_ELB_AZURE_STORAGE_ACCOUNT_CONTAINER": container,
        "BLASTFLOW_ELB_AZURE_ACR_NAME": "blastflowtest",
        "BLASTFLOW_ELB_AZURE_ACR_RESOURCE_GROUP": "rg-blastflow-test",
        "BLASTFLOW_ELB_FLAVOUR": "azure-fork",  # the double imitates the Azure fork
        "BLASTFLOW_ELB_KUBECONFIG": str(fake_kubeconfig),
        "BLASTFLOW_ELB_NAMESPACE": "default",
        "BLASTFLOW_ELB_K8S_REQUEST_TIMEOUT_S": "3",
        "BLASTFLOW_ELB_BLOB_CONNECTION_STRING": azurite.connection_string,
        "BLASTFLOW_ELB_COMMAND_TIMEOUT_S": "120",
        "BLASTFLOW_ELB_STATUS_INTERVAL_S": "0",  # the fake answers status at once
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK", "BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK",
                 "BLASTFLOW_AZURE_CREDENTIALS_BLOCK", "BLASTFLOW_ELB_CLUSTER_NAME", "BLASTFLOW_ELB_BATCH_LEN"):
        monkeypatch.delenv(name, raising=False)
    return ElbWorld(
        cluster=fake_cluster,
        k8s=fake_k8s,
        kubeconfig=fake_kubeconfig,
        elastic_blast=fake_elastic_blast,
        blastdb=elb_blast_dbs,
        container=container,
        results_base=results_base,
        connection_string=azurite.connection_string,
    )
