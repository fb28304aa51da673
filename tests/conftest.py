"""Shared pytest fixtures. Each section belongs to one area; keep additions in their own marked section."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from blastflow.store.base import StateStore

REPO = Path(__file__).resolve().parent.parent

# The ElasticBLAST doubles' fixtures (fake cluster, Kubernetes API, `elastic-blast`, `elb_world`), the S3 / GCS
# emulators' (`moto_s3`, `gcs_emulator`, `gcp_oauth`) and the gcloud/gsutil/kubectl doubles' (`gcp_world`), for
# every suite.
pytest_plugins = ["tests.doubles.elb_doubles", "tests.doubles.storage_emulators", "tests.doubles.gcp_cli.world"]

# ======================================================================================================
# Azurite (Azure Storage emulator): Table and Blob services, started by the test suite itself.
# ======================================================================================================

AZURITE_BIN = REPO / "node_modules" / ".bin" / "azurite"
AZURITE_ACCOUNT = "devstoreaccount1"
# The key Microsoft publishes for the emulator (not a secret: it opens only a local Azurite).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_AZURITE_START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Azurite:
    """One Azurite process on free loopback ports, with its data in `location`.

    `stop()` / `start()` restart it on the same ports and data; `pause()` / `resume()`
    freeze it (SIGSTOP / SIGCONT) so clients see a hung endpoint, as in a network stall.
    """

    location: Path
    table_port: int = field(default_factory=_free_port)
    blob_port: int = field(default_factory=_free_port)
    queue_port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False

    @property
    def table_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.table_port}/{AZURITE_ACCOUNT}"

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """Table and Blob endpoints, the way a real account's connection string reads."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"TableEndpoint={self.table_endpoint};BlobEndpoint={self.blob_endpoint};"
        )

    # Kept for readers who ask for the table one by name.
    table_connection_string = connection_string

    def start(self) -> None:
        if not AZURITE_BIN.exists():
            pytest.fail(
                f"Azurite is not installed ({AZURITE_BIN} is missing): run `make test` "
                "(or `npm ci` in the repository) to install it; the Table and Blob tests need the real emulator",
                pytrace=False,
            )
        self.location.mkdir(parents=True, exist_ok=True)
        command = [
            str(AZURITE_BIN),
            "--location", str(self.location),
            "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
            "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry",
        ]  # fmt: skip
        log = open(self.location / "azurite.log", "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + _AZURITE_START_TIMEOUT_S
        while not (_accepts(self.table_port) and _accepts(self.blob_port)):
            if self.process.poll() is not None:
                output = (self.location / "azurite.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Azurite exited with {self.process.returncode} at start:\n{output}", pytrace=False)
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"Azurite did not listen within {_AZURITE_START_TIMEOUT_S:g} s", pytrace=False)
            time.sleep(0.1)

    def stop(self) -> None:
        """Terminate, wait, kill if it will not go."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if self.paused:
            process.send_signal(signal.SIGCONT)
            self.paused = False
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        assert self.process is not None, "Azurite is not running"
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """The session's Azurite. Tests share it: use unique job ids or a unique table prefix (`unique_name`)."""
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def azurite_private(tmp_path: Path) -> Iterator[Azurite]:
    """An Azurite of this test's own, to stop, pause or restart without disturbing other tests."""
    server = Azurite(tmp_path / "azurite")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def unique_name() -> str:
    """A fresh name usable as a Table name prefix (letters and digits, starts with a letter)."""
    return "t" + uuid.uuid4().hex[:12]


# ---------------------------------------------------------------------------
# Pipeline (flows, tasks, steps): a fresh embedded store per test.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def input_roots() -> Iterator[str]:
    """Tests keep their FASTA files in temporary directories: those and the repository are the input roots.

    Set in the environment, so the Prefect workers and flow-run processes the tests start inherit it; the tests
    of the defaults (tests/test_confine.py, tests/steps/test_prepare.py) take it away with monkeypatch.
    """
    import os
    import tempfile

    from blastflow.confine import INPUT_ROOTS_ENV

    before = os.environ.get(INPUT_ROOTS_ENV)
    os.environ[INPUT_ROOTS_ENV] = os.pathsep.join([str(Path(tempfile.gettempdir()).resolve()), str(REPO)])
    yield os.environ[INPUT_ROOTS_ENV]
    if before is None:
        os.environ.pop(INPUT_ROOTS_ENV, None)
    else:
        os.environ[INPUT_ROOTS_ENV] = before


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[StateStore]:
    from blastflow.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A real temporary Prefect API (prefect_test_harness) for the whole session; yields its URL."""
    import os

    from prefect.settings import get_current_settings
    from prefect.testing.utilities import prefect_test_harness

    # The harness server keeps its state in SQLite; on a loaded 2-core machine its default
    # 10 s statement timeout and start-up telemetry write can hit "database is locked".
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_DATABASE_TIMEOUT", "60")
    os.environ.setdefault("PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT", "30")
    with prefect_test_harness(server_startup_timeout=120):
        yield str(get_current_settings().api.url)


@pytest.fixture
def pipeline_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: str
) -> Iterator[Callable[[str], StateStore]]:
    """Settings and store for flow runs in this process: a private data dir and the store at the URL given."""
    from blastflow.settings import get_settings
    from tasks.context import store

    def open_pipeline(store_url: str) -> StateStore:
        monkeypatch.setenv("BLASTFLOW_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("BLASTFLOW_STORE_URL", store_url)
        monkeypatch.setenv("BLASTFLOW_POLL_INTERVAL_S", "0.5")
        monkeypatch.setenv("BLASTFLOW_POD_LOG_RETRY_DELAY_S", "0.2")
        get_settings.cache_clear()
        store.cache_clear()
        return store()

    yield open_pipeline
    if store.cache_info().currsize:
        store().close()
    store.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def pipeline(tmp_path: Path, pipeline_with: Callable[[str], StateStore]) -> StateStore:
    """Flow runs in this process against a private SQLite store."""
    return pipeline_with(f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture(scope="session")
def sample_fasta(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real subsets of the bundled fire ant data: 12 query proteins, a 150-protein database."""
    from Bio import SeqIO

    root = Path(__file__).resolve().parent.parent / "data" / "sinvicta"
    out = tmp_path_factory.mktemp("fasta")
    proteins = list(SeqIO.parse(root / "Sinvicta2-2-3.prot.subset.fasta", "fasta"))
    transcripts = list(SeqIO.parse(root / "Sinvicta2-2-3.cdna.subset.fasta", "fasta"))
    files = {
        "query_prot": (proteins[:12], "query_prot.fasta"),
        "db_prot": (proteins[:150], "db_prot.fasta"),
        "many_prot": (proteins[:400], "many_prot.fasta"),
        "query_nucl": (transcripts[:8], "query_nucl.fasta"),
    }
    paths = {}
    for name, (records, filename) in files.items():
        paths[name] = out / filename
        SeqIO.write(records, paths[name], "fasta")
    return paths
