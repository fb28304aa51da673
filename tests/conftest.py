"""Shared pytest fixtures. Each section belongs to one area; keep additions in their own marked section."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from blastflow.store.base import StateStore

REPO = Path(__file__).resolve().parent.parent

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


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[StateStore]:
    from blastflow.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()
