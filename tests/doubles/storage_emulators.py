"""Cloud storage emulators for the results tests: S3 (moto in server mode) and GCS (gcp-storage-emulator).

Not doubles of our own: real emulators, each a separate process on a free 127.0.0.1
port, started by session fixtures (Azurite, for Azure Blob, is in tests/conftest.py).
With them comes Google's token endpoint (`fake_gcp_oauth`), because the GCS
emulator takes any bearer token and Google refuses a wrong key at sign-in.

- `moto_s3`: moto with IAM authentication switched on after set-up, so S3 checks
  signatures and policies like AWS does: `reader` may read every bucket, `denied`
  is a valid identity with no S3 permission, `operator` may do everything (the
  account the real elastic-blast runs its AWS searches with: STS, EC2, IAM,
  CloudFormation, Batch, S3), any other key is unknown. moto's Batch runs no
  containers (`use_docker` off): ElasticBLAST's job states come from
  tests/doubles/aws.
- `gcs_emulator`: buckets and objects over the JSON API.
- `gcp_oauth`: the token endpoint that the emulator's service-account keys sign in at.

Registered for the whole suite by `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.doubles.fake_gcp_oauth import FakeGcpOAuth

__all__ = ["AwsKey", "EmulatorProcess", "GcsEmulator", "MotoS3", "gcp_oauth", "gcs_emulator", "moto_s3"]

_START_TIMEOUT_S = 60.0
BIN = Path(sys.executable).parent  # the console scripts of this virtualenv
READ_EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
DO_EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmulatorProcess:
    """A server process on a free loopback port, its output in `log`."""

    name: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, command: list[str], env: dict[str, str] | None = None) -> None:
        if not Path(command[0]).exists():
            pytest.fail(f"{self.name} is not installed ({command[0]} is missing): run `make test` (or "
                        "`pip install -e '.[dev]'`); the results tests need the real emulator", pytrace=False)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, **(env or {})})  # fmt: skip
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._accepts():
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                pytest.fail(f"{self.name} exited with {self.process.returncode} at start:\n{tail}", pytrace=False)
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.name} did not listen within {_START_TIMEOUT_S:g} s", pytrace=False)
            time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


@dataclass(frozen=True)
class AwsKey:
    access_key_id: str
    secret_access_key: str


class MotoS3:
    """moto's server (S3, IAM, and every AWS service it emulates); IAM authentication on once its users exist."""

    def __init__(self, directory: Path) -> None:
        self.server = EmulatorProcess("moto_server", directory / "moto.log")
        self.reader = self.denied = self.operator = AwsKey("", "")

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def start(self) -> MotoS3:
        self.server.start([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.server.port)])
        iam = self._client("iam", AwsKey("AKIAIOSFODNN7SETUP00", "set-up-before-authentication"))
        self.reader = self._user(iam, "blastflow-reader", READ_EVERYTHING)
        self.denied = self._user(iam, "blastflow-denied", None)
        self.operator = self._user(iam, "elastic-blast-operator", DO_EVERYTHING)
        import requests

        # Batch bookkeeping only: moto would otherwise try to run every submitted job in Docker.
        requests.post(f"{self.endpoint}/moto-api/config", json={"batch": {"use_docker": False}},
                      timeout=10).raise_for_status()  # fmt: skip
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        return self

    def stop(self) -> None:
        self.server.stop()

    def new_bucket(self) -> str:
        name = "res-" + uuid.uuid4().hex[:12]
        self._client("s3", self.reader).create_bucket(Bucket=name)
        return name

    def client(self, service: str, key: AwsKey | None = None):  # a boto3 client, as `operator` by default
        """A boto3 client of `service` on this server, signed with `key` (the `operator` by default)."""
        return self._client(service, key or self.operator)

    def put(self, bucket: str, name: str, data: bytes) -> None:
        self._client("s3", self.reader).put_object(Bucket=bucket, Key=name, Body=data)

    def env(self, key: AwsKey | None = None) -> dict[str, str]:
        """The AWS default chain's variables for `key` (the reader by default), and the endpoint setting."""
        key = key or self.reader
        return {"AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
                "AWS_DEFAULT_REGION": REGION, "BLASTFLOW_ELB_S3_ENDPOINT_URL": self.endpoint}  # fmt: skip

    def _client(self, service: str, key: AwsKey):  # a boto3 client
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key)

    @staticmethod
    def _user(iam, name: str, policy: dict | None) -> AwsKey:  # iam: a boto3 IAM client
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName="results", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return AwsKey(key["AccessKeyId"], key["SecretAccessKey"])


class GcsEmulator:
    """gcp-storage-emulator, in memory."""

    project = "blast-results-project"

    def __init__(self, directory: Path) -> None:
        self.server = EmulatorProcess("gcp-storage-emulator", directory / "gcs.log")

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def start(self) -> GcsEmulator:
        self.server.start([str(BIN / "gcp-storage-emulator"), "start", "--host", "127.0.0.1",
                           "--port", str(self.server.port), "--in-memory", "--quiet"])  # fmt: skip
        return self

    def stop(self) -> None:
        self.server.stop()

    def new_bucket(self) -> str:
        name = "res-" + uuid.uuid4().hex[:12]
        self._client().create_bucket(name)
        return name

    def put(self, bucket: str, name: str, data: bytes) -> None:
        self._client().bucket(bucket).blob(name).upload_from_string(data)

    def _client(self):  # a google.cloud.storage client
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project=self.project, credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.endpoint})


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """The session's S3 emulator. Tests share it: take a fresh bucket with `new_bucket()`."""
    server = MotoS3(tmp_path_factory.mktemp("moto")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """The session's GCS emulator. Tests share it: take a fresh bucket with `new_bucket()`."""
    server = GcsEmulator(tmp_path_factory.mktemp("gcs")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcp_oauth() -> Iterator[FakeGcpOAuth]:
    """Google's token endpoint, for the service-account keys of the GCS tests."""
    server = FakeGcpOAuth().start()
    try:
        yield server
    finally:
        server.stop()
