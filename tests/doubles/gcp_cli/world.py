"""Pytest fixture `gcp_world`: the Google Cloud world the real `elastic-blast` 1.5.0 sees, made of test doubles.

Not a double itself: it wires the gcloud, gsutil, kubectl and gke-gcloud-auth-plugin doubles of this
package together. tests/conftest.py registers it as a plugin (`pytest_plugins`), so any test can ask
for `gcp_world`; a module that shares one world between tests builds it with `GcpWorld.create(directory)`.

    world.bin_dir        launchers named gcloud, gsutil, kubectl, gke-gcloud-auth-plugin
                         (`python -m tests.doubles.gcp_cli.<module>`, written by `module_launcher`)
    world.env()          the whole environment for the real CLI: PATH (the doubles, then /usr/bin:/bin, so no
                         real gcloud can answer), HOME (a directory of the world: no real ~/.kube or
                         ~/.config/gcloud leaks in), ELB_DOUBLE_STATE/LOG/GCS, and ELB_PAUSE_AFTER_INIT_PV=0
                         (else `elastic-blast delete` sleeps 150 s, kubernetes.py 260-262)
    world.install(mp)    the same through a pytest MonkeyPatch, for code that builds its children's environment
                         from os.environ (blastflow's backend); every other ELB_*, CLOUDSDK_* and KUBECONFIG removed
    world.scenario(...)  put the world in a named state (scenario.py: provisioning, submitting, running, success,
                         failure, cluster_missing, unauthorised, unreachable, stopping, ...)
    world.objects()      gs:// (objects.py): the directory `world.gcs` (gs://B/K is gcs/B/K; `world.local(url)`
                         maps one URL), or, in a world made with `gcs_endpoint`, the gcp-storage-emulator at that
                         URL (ELB_DOUBLE_GCS_ENDPOINT), where blastflow reads results through gcsfs;
                         `world.read(url)`, `world.write(url, data)`, `world.names(url)` work on either
    world.start_cluster(...)  let the cluster double (cluster.py) do the cluster's own work from now on: setup
                         jobs, BLAST jobs running real BLAST+, exports into gs://; `world.pod_source()` serves its
                         pods to the fake Kubernetes API (fake_k8s.FakeKubernetes)
    world.calls()        every call the doubles answered (argv, rc, stdout, stderr, stdin, note), oldest first;
                         `world.unhandled()` those they did not know (a test should fail on any)
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.elb_doubles import module_launcher
from tests.doubles.gcp_cli import scenario as scenarios
from tests.doubles.gcp_cli.cluster import GkePods
from tests.doubles.gcp_cli.objects import EmulatorObjects, LocalObjects, Objects
from tests.doubles.gcp_cli.state import State

__all__ = ["DOUBLES", "GcpWorld", "gcp_world"]

# The program name on PATH -> the module that answers in its place.
DOUBLES = {
    "gcloud": "tests.doubles.gcp_cli.gcloud",
    "gsutil": "tests.doubles.gcp_cli.gsutil",
    "kubectl": "tests.doubles.gcp_cli.kubectl",
    "gke-gcloud-auth-plugin": "tests.doubles.gcp_cli.auth_plugin",
}
SYSTEM_PATH = "/usr/bin:/bin"
_FOREIGN_ENV_PREFIXES = ("ELB_", "CLOUDSDK_", "GOOGLE_", "KUBECONFIG")
DEFAULT_FAILURE_TEXT = "Error: BLAST search failed with exit code 3 (BLAST engine error)\n"


@dataclass(frozen=True)
class GcpWorld:
    """One GCP project with a bucket and (maybe) a GKE cluster, all doubles, in `directory`."""

    directory: Path
    project: str = "test-project"
    region: str = "us-east4"
    zone: str = "us-east4-b"
    cluster: str = "blastflow-test"
    bucket: str = "elb-test-bucket"
    gcs_endpoint: str | None = None  # the gcp-storage-emulator acting as gs:// (None: the directory `gcs`)

    @classmethod
    def create(cls, directory: Path, **settings: str) -> GcpWorld:
        """Write the launchers, seed the buckets, start in scenario "fresh"."""
        world = cls(Path(directory), **settings)
        for name, module in DOUBLES.items():
            module_launcher(world.bin_dir / name, module)
        world.home.mkdir(parents=True, exist_ok=True)
        world.workdir.mkdir(parents=True, exist_ok=True)
        scenarios.seed_bucket(world.objects(), world.bucket)
        world.state_file.write_text(json.dumps({"project": world.project}))
        world.scenario("fresh")
        return world

    # -- where things are --------------------------------------------------------------------------------------
    @property
    def bin_dir(self) -> Path:
        return self.directory / "bin"

    @property
    def home(self) -> Path:
        return self.directory / "home"

    @property
    def workdir(self) -> Path:
        """The working directory `run` uses (elastic-blast appends ./elastic-blast.log there)."""
        return self.directory / "work"

    @property
    def gcs(self) -> Path:
        return self.directory / "gcs"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def call_log(self) -> Path:
        return self.directory / "calls.jsonl"

    @property
    def results_base(self) -> str:
        return f"gs://{self.bucket}/blast"

    @property
    def context(self) -> str:
        """The kube context `gcloud container clusters get-credentials` makes for the cluster."""
        return f"gke_{self.project}_{self.zone}_{self.cluster}"

    def local(self, url: str) -> Path:
        """The file (or directory) of the world that holds gs:// `url` (a world whose gs:// is a directory)."""
        if not url.startswith("gs://"):
            raise ValueError(f"{url!r} is not a gs:// URL")
        if self.gcs_endpoint:
            raise ValueError(f"this world's gs:// is the emulator at {self.gcs_endpoint}: use read/names/write")
        return self.gcs / url.removeprefix("gs://").rstrip("/")

    # -- gs:// -------------------------------------------------------------------------------------------------
    def objects(self) -> Objects:
        """What gs:// is in this world (the same store the gsutil double and the cluster double use)."""
        return EmulatorObjects(self.gcs_endpoint, self.project) if self.gcs_endpoint else LocalObjects(str(self.gcs))

    def read(self, url: str) -> bytes | None:
        """The object at gs:// `url`, None if there is none."""
        return self.objects().read(*_split(url))

    def write(self, url: str, data: bytes) -> None:
        self.objects().write(*_split(url), data)

    def names(self, url: str) -> list[str]:
        """The objects under gs:// `url` (a "directory"), relative to it, sorted."""
        bucket, prefix = _split(url.rstrip("/") + "/")
        return [key[len(prefix) :] for key in self.objects().keys(bucket, prefix)]

    # -- the cluster's own work ----------------------------------------------------------------------------------
    def start_cluster(self, **settings: object) -> None:
        """From now on the cluster double (cluster.py) runs the Jobs `kubectl apply` creates, one step per
        observation (a look at its jobs or pods). `settings` are its tick counts (pending_ticks, setup_ticks, ...)
        and `kills` (state.py "engine"); calling it again changes them."""
        with State(str(self.state_file)) as state:
            state.data["engine"].update(enabled=True, directory=str(self.directory / "cluster"), **settings)

    def pod_source(self) -> GkePods:
        """This world's pods for the fake Kubernetes API server (`FakeKubernetes(world.pod_source())`)."""
        return GkePods(str(self.state_file), self.objects())

    # -- environment -------------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The complete environment for the real `elastic-blast` (nothing of the caller's leaks in)."""
        return {"PATH": f"{self.bin_dir}{os.pathsep}{SYSTEM_PATH}", "HOME": str(self.home), "LANG": "C.UTF-8",
                **self.double_env()}  # fmt: skip

    def double_env(self) -> dict[str, str]:
        env = {
            "ELB_DOUBLE_STATE": str(self.state_file),
            "ELB_DOUBLE_LOG": str(self.call_log),
            "ELB_DOUBLE_GCS": str(self.gcs),
            "ELB_PAUSE_AFTER_INIT_PV": "0",
        }
        return {**env, "ELB_DOUBLE_GCS_ENDPOINT": self.gcs_endpoint} if self.gcs_endpoint else env

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this process's environment the world's (for code that passes os.environ to its children)."""
        for name in [n for n in os.environ if n.startswith(_FOREIGN_ENV_PREFIXES)]:
            monkeypatch.delenv(name)
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)

    def run(self, argv: Sequence[str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a program (the real elastic-blast) in the world, from `workdir`, stdin closed, output captured."""
        return subprocess.run(
            list(argv), capture_output=True, text=True, env=self.env(), cwd=self.workdir,
            stdin=subprocess.DEVNULL, timeout=timeout_s, check=False,
        )  # fmt: skip

    # -- scenario ----------------------------------------------------------------------------------------------
    def scenario(
        self,
        name: scenarios.Scenario,
        *,
        results: str | None = None,
        pending: int = 0,
        running: int = 0,
        succeeded: int = 0,
        failed: int = 0,
        failure_text: str = DEFAULT_FAILURE_TEXT,
        db: str = "swissprot",
        program: str = "blastp",
    ) -> None:
        """Put the world in scenario `name` (see scenario.py); `results` is the search whose markers it sets."""
        metadata = f"{results.rstrip('/')}/metadata" if results else None
        jobs = scenarios.Jobs(pending=pending, running=running, succeeded=succeeded, failed=failed)
        with State(str(self.state_file)) as state:
            scenarios.put(state.data, name, cluster=self.cluster, context=self.context, objects=self.objects(),
                          metadata=metadata, jobs=jobs, failure_text=failure_text, db=db,
                          program=program)  # fmt: skip

    def state(self) -> dict[str, Any]:
        """The doubles' current state (clusters, k8s jobs and pods, disks...), read under their lock."""
        with State(str(self.state_file)) as state:
            return state.data

    # -- call log ----------------------------------------------------------------------------------------------
    def calls(self) -> list[dict[str, Any]]:
        if not self.call_log.is_file():
            return []
        return [json.loads(line) for line in self.call_log.read_text().splitlines() if line.strip()]

    def unhandled(self) -> list[str]:
        """The command lines the doubles did not know or crashed on."""
        return [f"{c['tool']} {' '.join(c['argv'])}" for c in self.calls() if c.get("note") in ("UNHANDLED",
                                                                                               "double crashed")]

    def clear_calls(self) -> None:
        self.call_log.unlink(missing_ok=True)


def _split(url: str) -> tuple[str, str]:
    if not url.startswith("gs://"):
        raise ValueError(f"{url!r} is not a gs:// URL")
    bucket, _, key = url.removeprefix("gs://").partition("/")
    return bucket, key


@pytest.fixture
def gcp_world(tmp_path: Path) -> GcpWorld:
    """A fresh GCP world of doubles in this test's directory (nothing installed in os.environ: see `install`)."""
    return GcpWorld.create(tmp_path / "gcp-world")
