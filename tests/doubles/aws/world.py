"""`AwsWorld`: the AWS account the real `elastic-blast` 1.5.0 sees in the tests: moto's server plus the doubles here.

Not a double itself: it wires moto's server (the session's `moto_s3`, tests/doubles/storage_emulators.py) to the
doubles of this package, in a directory of the test:

    world.env()         the complete environment for the real CLI: PATH (the `aws` double, then /usr/bin:/bin),
                        HOME (the world's: no real ~/.aws leaks in), the `operator` identity's keys (it may do
                        everything, like the account a user runs ElasticBLAST with), AWS_ENDPOINT_URL (moto),
                        and the boto3 double (PYTHONPATH=site, BOTO3_DOUBLE_STATE)
    world.install(mp)   the same in os.environ, for code that passes its environment to its children (blastflow)
    world.batch         the AWS Batch double (`BatchCompute`) that runs the jobs' containers with real BLAST+
    world.s3_keys(url)  what is in S3 under a URL; `world.put(url, data)` writes there
    world.calls()       every AWS call the doubles saw (service, operation, status, who answered);
                        `world.unhandled()` those nobody could answer (a test should fail on any)

A world has its own bucket: `results_base` for the searches' results and, when `blastdb` is given (a directory
made by makeblastdb), the database `PROT_DB` uploaded to `db_url`, as a user uploads their own database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.aws.batch import BatchCompute
from tests.doubles.aws.boto3_hook import STATE_ENV
from tests.doubles.elb_doubles import PROT_DB, module_launcher
from tests.doubles.storage_emulators import REGION, MotoS3

__all__ = ["SITE", "AwsWorld"]

SITE = Path(__file__).resolve().parent / "site"  # sitecustomize.py: installs the boto3 double
SYSTEM_PATH = "/usr/bin:/bin"
_FOREIGN_ENV_PREFIXES = ("ELB_", "AWS_", "BOTO")


@dataclass(frozen=True)
class AwsWorld:
    """One AWS account (moto) with a bucket, the `aws` double on PATH and the AWS Batch double, in `directory`."""

    directory: Path
    moto: MotoS3
    bucket: str
    elb_python: Path

    @classmethod
    def create(cls, directory: Path, moto: MotoS3, elastic_blast: Path, blastdb: Path | None = None) -> AwsWorld:
        """A fresh bucket, the launchers, an empty job table; the database from `blastdb` uploaded if given."""
        world = cls(Path(directory), moto, moto.new_bucket(), elastic_blast.parent / "python")
        module_launcher(world.bin_dir / "aws", "tests.doubles.aws.aws_cli")
        for made in (world.home, world.workdir, world.disk):
            made.mkdir(parents=True, exist_ok=True)
        world.state_file.write_text(json.dumps({"jobs": []}))
        if blastdb is not None:
            for path in sorted(blastdb.glob(f"{PROT_DB}.*")):
                world.put(f"{world.db_url}{path.name.removeprefix(PROT_DB)}", path.read_bytes())
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
        """The working directory of `run` (elastic-blast appends ./elastic-blast.log there)."""
        return self.directory / "work"

    @property
    def disk(self) -> Path:
        """The AWS Batch instances' disk."""
        return self.directory / "batch-instances"

    @property
    def state_file(self) -> Path:
        return self.directory / "boto3-double.json"

    @property
    def results_base(self) -> str:
        return f"s3://{self.bucket}/searches"

    @property
    def db_url(self) -> str:
        """The user's own protein database (makeblastdb, then uploaded): an ElasticBLAST `db = s3://...`."""
        return f"s3://{self.bucket}/dbs/{PROT_DB}"

    @cached_property
    def batch(self) -> BatchCompute:
        return BatchCompute(self.state_file, self.moto.client, self.elb_python, self.env(), self.disk)

    # -- environment -------------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The complete environment for the real `elastic-blast` (nothing of the caller's leaks in)."""
        key = self.moto.operator
        return {
            "PATH": f"{self.bin_dir}{os.pathsep}{SYSTEM_PATH}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto.endpoint,
            "AWS_CONFIG_FILE": str(self.home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "no-aws-credentials"),
            "PYTHONPATH": str(SITE),
            STATE_ENV: str(self.state_file),
        }

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this process's environment the world's, for code that passes os.environ to its children.

        PATH keeps this interpreter's directory after the world's, so blastflow's own children still start.
        """
        for name in [n for n in os.environ if n.startswith(_FOREIGN_ENV_PREFIXES) or n == "PYTHONPATH"]:
            monkeypatch.delenv(name)
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PATH", f"{self.bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                                   f"{SYSTEM_PATH}")  # fmt: skip

    def run(self, argv: Sequence[str], timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
        """Run a program (the real elastic-blast) in the world, from `workdir`, stdin closed, output captured."""
        return subprocess.run(list(argv), capture_output=True, text=True, env=self.env(), cwd=self.workdir,
                              stdin=subprocess.DEVNULL, timeout=timeout_s, check=False)  # fmt: skip

    # -- S3 and the call log -----------------------------------------------------------------------------------
    def s3_keys(self, url: str) -> list[str]:
        """The keys under an s3:// URL, relative to it."""
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        prefix = f"{prefix.rstrip('/')}/" if prefix else ""
        pages = self.moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"][len(prefix) :] for page in pages for item in page.get("Contents", []))

    def put(self, url: str, data: bytes) -> None:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        self.moto.client("s3").put_object(Bucket=bucket, Key=key, Body=data)

    def stack(self, name: str) -> dict[str, Any] | None:
        """The CloudFormation stack `name` as moto describes it, or None when there is none."""
        from botocore.exceptions import ClientError

        try:
            return self.moto.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
        except ClientError:
            return None

    def calls(self) -> list[dict[str, Any]]:
        log = Path(f"{self.state_file}.calls.jsonl")
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []

    def unhandled(self) -> list[str]:
        """Calls nobody could answer: moto's 5xx (an operation it lacks), the `aws` double's usage error."""
        return [f"{c['service']} {c['operation']} -> {c['status']}" for c in self.calls()
                if (c["by"] == "moto" and c["status"] >= 500) or (c["service"] == "aws-cli" and c["status"] == 252)]
