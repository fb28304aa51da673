"""ElasticBLAST results read back from every cloud through one code path, on real emulators.

The same tests run against S3 (moto in server mode, IAM authentication on), GCS
(gcp-storage-emulator, with Google's token endpoint for the keys) and Azure Blob
(Azurite), in the upstream layout (`<results>/batch_*.out.gz`) and the Azure
fork's (`<results>/<elb_job_id>/...`). Credentials come the way a deployment
gives them: the default chains (a key file, AWS variables, a connection string)
and, in one test, Prefect blocks named by settings.
"""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import re
import subprocess
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast import results as results_module
from blastflow.backends.elastic_blast.backend import DATABASE_DIR, ElasticBlastBackend
from blastflow.backends.elastic_blast.credentials import blob_credentials
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.backends.elastic_blast.results import (
    Markers,
    batch_archives,
    check_results_location,
    fetch_database,
    locate_layout,
    open_results,
)
from blastflow.backends.elastic_blast.storage import storage_error
from blastflow.errors import BackendError, ConfigError, TransientBackendError
from blastflow.results import render_hits
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun, SearchSpec
from blastflow.steps.prepare import check_search
from tests.doubles.elb_doubles import PROT_DB, first_records
from tests.doubles.storage_emulators import AwsKey, free_port

pytestmark = pytest.mark.azurite

ACCOUNT = "devstoreaccount1"
CLOUDS = ("gs", "s3", "azure")
ELB_JOB_ID = "job-7f3e9a0c2b1d4e5f"
LAYOUTS = {"upstream": "", "fork": f"{ELB_JOB_ID}/"}
SEARCH = "runs/job-1"  # the search's results location inside the bucket
FIXES = {  # what a refused-credentials message tells the user to fix, per cloud
    "gs": "Fix the Application Default Credentials or set BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK",
    "s3": "Fix the AWS default credentials or set BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK",
    "azure": "Check the AzureBlobStorageCredentials block (BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK) or the connection "
    "string (BLASTFLOW_ELB_BLOB_CONNECTION_STRING)",
}
NO_CREDENTIALS = {  # what prepare says when a cloud has no credentials at all
    "gs": "create a prefect-gcp GcpCredentials block and set BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK",
    "s3": "create a prefect-aws AwsCredentials block and set BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK",
    "azure": "set BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK (a prefect-azure AzureBlobStorageCredentials block) or "
    "BLASTFLOW_ELB_BLOB_CONNECTION_STRING",
}


@dataclass
class Place:
    """A fresh bucket in one cloud's emulator, and the environment that reads it, as a deployment's would."""

    cloud: str
    bucket: str
    base: str  # the results URL of the bucket's root
    upload: Callable[[str, bytes], None]
    env: dict[str, str]  # credentials (for the cloud's default chain) and the endpoint setting
    wrong_env: dict[str, str]  # the same with a wrong secret
    wrong_secret: str
    provider: dict[str, str]  # the [cloud-provider] profile keys prepare needs

    def url(self, path: str = SEARCH) -> str:
        return f"{self.base}/{path}"

    def put(self, files: dict[str, bytes], under: str = SEARCH) -> None:
        for name, data in files.items():
            self.upload(f"{under}/{name}", data)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No cloud credentials or ElasticBLAST settings from the machine running the tests: only what a test gives."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "BLASTFLOW_ELB_", "BLASTFLOW_AZURE_")) or name == "GOOGLE_APPLICATION_CREDENTIALS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))


def _s3_place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    moto = request.getfixturevalue("moto_s3")
    bucket, wrong = moto.new_bucket(), "wrong-secret-" + uuid.uuid4().hex
    return Place("s3", bucket, f"s3://{bucket}", lambda key, data: moto.put(bucket, key, data), moto.env(),
                 moto.env(AwsKey(moto.reader.access_key_id, wrong)), wrong, {"aws_region": "us-east-1"})  # fmt: skip


def _gs_place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    gcs, oauth = request.getfixturevalue("gcs_emulator"), request.getfixturevalue("gcp_oauth")
    key, forged = tmp_path / "reader-key.json", tmp_path / "forged-key.json"
    info = oauth.service_account("blast-reader", gcs.project)
    key.write_text(json.dumps(info))
    forged_info = oauth.forged(info)
    forged.write_text(json.dumps(forged_info))
    bucket = gcs.new_bucket()
    endpoint = {"BLASTFLOW_ELB_GCS_ENDPOINT_URL": gcs.endpoint}
    provider = {"gcp_project": gcs.project, "gcp_region": "us-east4", "gcp_zone": "us-east4-b"}
    return Place("gs", bucket, f"gs://{bucket}", lambda name, data: gcs.put(bucket, name, data),
                 {"GOOGLE_APPLICATION_CREDENTIALS": str(key), **endpoint},
                 {"GOOGLE_APPLICATION_CREDENTIALS": str(forged), **endpoint}, forged_info["private_key"],
                 provider)  # fmt: skip


def _azure_place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    from azure.storage.blob import BlobServiceClient

    azurite = request.getfixturevalue("azurite")
    container = "res" + uuid.uuid4().hex[:12]
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container)
    request.addfinalizer(service.close)
    key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    wrong_key = "d3JvbmctYnV0LXdlbGwtZm9ybWVkLWtleS1mb3ItdGhlLWVtdWxhdG9yLTAxMjM0NTY3ODkwMTIzNDU2Nzg5MA=="
    provider = {"azure_region": "eastus", "azure_resource_group": "rg-blastflow-test", "azure_storage_account": ACCOUNT,
                "azure_storage_account_container": container, "azure_acr_name": "elbacr",
                "azure_acr_resource_group": "rg-blastflow-test", "flavour": "azure-fork"}  # fmt: skip
    return Place("azure", container, f"https://{ACCOUNT}.blob.core.windows.net/{container}",
                 lambda name, data: service.get_blob_client(container, name).upload_blob(data, overwrite=True),
                 {"BLASTFLOW_ELB_BLOB_CONNECTION_STRING": azurite.connection_string},
                 {"BLASTFLOW_ELB_BLOB_CONNECTION_STRING": azurite.connection_string.replace(key, wrong_key)},
                 wrong_key, provider)  # fmt: skip


@pytest.fixture(params=CLOUDS)
def place(request: pytest.FixtureRequest, clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Place:
    """A fresh bucket in each cloud in turn, its credentials and endpoint in the environment."""
    made = {"gs": _gs_place, "s3": _s3_place, "azure": _azure_place}[request.param](request, tmp_path)
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    return made


@pytest.fixture(scope="module")
def archives(elb_blast_dbs: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    """Two real gzipped BLAST archives (format 11): blastp of one sample protein each against the sample database.

    Returns (query id, archive bytes) per batch.
    """
    out = tmp_path_factory.mktemp("archives")
    made = []
    for index in range(2):
        record = ">" + first_records("prot", index + 1).split(">")[-1]
        query, archive = out / f"batch_{index:03d}.fa", out / f"batch_{index:03d}.asn"
        query.write_text(record)
        subprocess.run(["blastp", "-db", str(elb_blast_dbs / PROT_DB), "-query", str(query), "-outfmt", "11",
                        "-max_target_seqs", "5", "-out", str(archive)], check=True, capture_output=True, timeout=120)
        made.append((record[1:].split()[0], gzip.compress(archive.read_bytes())))
    return made


def _first_hit(archive: Path) -> list[str]:
    """(query id, subject id) of the archive's first hit, as blast_formatter prints it."""
    text = subprocess.run(["blast_formatter", "-archive", str(archive), "-outfmt", "6 qseqid sseqid"],
                          capture_output=True, text=True, check=True, timeout=60).stdout  # fmt: skip
    return text.splitlines()[0].split("\t")


# -- markers and archives, every cloud, both layouts --------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"metadata/SUCCESS.txt": b""}, Markers(success=True, failure=None)),
        ({"metadata/FAILURE.txt": b"\x1b[31mblastn-batch-nt-job-001 failed: out of memory\x1b[0m\n"},
         Markers(success=False, failure="blastn-batch-nt-job-001 failed: out of memory")),
        ({"batch_000-blastn-nt.out.gz": gzip.compress(b"x")}, Markers(success=False, failure=None)),
    ],
    ids=["success", "failure", "none"],
)
def test_completion_markers(place: Place, layout: str, files: dict[str, bytes], expected: Markers) -> None:
    place.put({LAYOUTS[layout] + name: data for name, data in files.items()})
    place.put({"metadata/num_jobs_submitted.txt": b"2\n", "query_batches/batch_000.fa": b">q\nMK\n"})

    with open_results(place.url(), ElbProfile()) as bucket:  # the fork's directory found without its id
        markers = bucket.markers()

    assert markers == expected
    assert markers.finished == (expected != Markers(success=False, failure=None))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_batch_archives_come_back_as_real_blast_archives_in_batch_order(
    place: Place, layout: str, archives: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    prefix = LAYOUTS[layout]
    place.put({
        f"{prefix}batch_001-blastp-{PROT_DB}.out.gz": archives[1][1],  # uploaded out of order
        f"{prefix}batch_000-blastp-{PROT_DB}.out.gz": archives[0][1],
        f"{prefix}batch_000-blastx-{PROT_DB}.out.gz": b"another program's",
        f"{prefix}metadata/SUCCESS.txt": b"",
        "query_batches/batch_000.fa": b">q\nMK\n",
    })  # fmt: skip
    place.put({f"batch_000-blastp-{PROT_DB}.out.gz": b"another search's"}, under=f"{SEARCH}0")

    with open_results(place.url(), ElbProfile(), elb_job_id=ELB_JOB_ID if layout == "fork" else None) as bucket:
        paths = bucket.download_batches(tmp_path / "archives", "blastp", PROT_DB, expected=2)
        markers, names = bucket.markers(), bucket.names()

    assert [p.name for p in paths] == ["batch_000.asn", "batch_001.asn"]
    assert [_first_hit(p) for p in paths] == [[query, query] for query, _ in archives], "each protein finds itself"
    assert markers == Markers(success=True, failure=None)
    assert f"{prefix}metadata/SUCCESS.txt" in names and not any("another search" in n for n in names)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_results_not_exported_yet_are_worth_waiting_for(place: Place, layout: str, tmp_path: Path) -> None:
    bucket = open_results(place.url(), ElbProfile(), elb_job_id=ELB_JOB_ID if layout == "fork" else None)
    where = place.url() + (f"/{ELB_JOB_ID}" if layout == "fork" else "")
    with pytest.raises(TransientBackendError, match=f"^0 of 3 batch results are in {where} so far"):
        bucket.download_batches(tmp_path, "blastn", "nt", expected=3)

    place.put({f"{LAYOUTS[layout]}batch_000-blastn-nt.out.gz": gzip.compress(b"x")})
    with pytest.raises(TransientBackendError, match=f"^1 of 3 batch results are in {where} so far"):
        bucket.download_batches(tmp_path, "blastn", "nt", expected=3)
    with pytest.raises(TransientBackendError, match=r"^no batch results are in"):  # the count is not known
        bucket.download_batches(tmp_path, "blastp", "nt")
    assert not bucket.markers().finished and not list(tmp_path.glob("*.asn"))


def test_the_failure_marker_fails_the_fetch_with_its_text(place: Place, tmp_path: Path) -> None:
    place.put({f"{ELB_JOB_ID}/batch_000-blastn-nt.out.gz": gzip.compress(b"x"),
               f"{ELB_JOB_ID}/metadata/FAILURE.txt": b"blastn-batch-nt-job-001 failed: out of memory\n"})  # fmt: skip
    with pytest.raises(BackendError, match=r"marked the search failed \(.*/job-1/job-7f3e.*out of memory") as raised:
        open_results(place.url(), ElbProfile()).download_batches(tmp_path, "blastn", "nt", expected=2)
    assert raised.value.code == "blast_failed"


def test_a_damaged_archive_is_an_error(place: Place, tmp_path: Path) -> None:
    place.put({"batch_000-blastn-nt.out.gz": gzip.compress(b"abcdef")[:-6]})
    with pytest.raises(BackendError, match=r"batch_000-blastn-nt\.out\.gz in .* is not a complete gzip file") as raised:
        open_results(place.url(), ElbProfile()).download_batches(tmp_path, "blastn", "nt")
    assert not isinstance(raised.value, TransientBackendError)


# -- locations that cannot be read: refused in prepare, named at fetch ----------------------------------------------


def test_a_bucket_that_does_not_exist_is_named(place: Place, tmp_path: Path) -> None:
    missing = place.base.replace(place.bucket, "nosuch" + uuid.uuid4().hex[:10])
    noun = "storage container" if place.cloud == "azure" else "bucket"

    with pytest.raises(BackendError, match=f"{noun} 'nosuch[0-9a-f]+' does not exist .*BLASTFLOW_ELB_RESULTS") as got:
        open_results(f"{missing}/{SEARCH}", ElbProfile()).download_batches(tmp_path, "blastn", "nt", expected=1)
    assert got.value.code == "results_not_found"
    with pytest.raises(ConfigError, match=f"cannot read the results location: {noun} 'nosuch"):
        check_results_location(f"{missing}/{SEARCH}", ElbProfile())


def test_wrong_credentials_are_refused_naming_the_fix_without_showing_them(
    place: Place, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in place.wrong_env.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ConfigError, match=r"storage credentials rejected while .*") as in_prepare:
        check_results_location(place.url(), ElbProfile())
    with pytest.raises(BackendError, match="storage credentials rejected") as at_fetch:
        open_results(place.url(), ElbProfile()).download_batches(tmp_path, "blastn", "nt", expected=1)

    assert FIXES[place.cloud] in str(in_prepare.value) and FIXES[place.cloud] in str(at_fetch.value)
    assert at_fetch.value.code == "storage_auth" and not isinstance(at_fetch.value, TransientBackendError)
    for text in (str(in_prepare.value), str(at_fetch.value), caplog.text):
        assert place.wrong_secret not in text
        assert all(line not in text for line in place.wrong_secret.splitlines()[1:-1])  # nor a line of a PEM key


def test_an_identity_without_permission_is_refused(moto_s3, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = moto_s3.new_bucket()
    for name, value in moto_s3.env(moto_s3.denied).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=r"rejected while checking .*: Access Denied\. .*s3:ListBucket") as raised:
        check_results_location(f"s3://{bucket}/{SEARCH}", ElbProfile())
    assert raised.value.code == "storage_auth"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_prepare_refuses_results_it_has_no_credentials_for(
    cloud: str, request: pytest.FixtureRequest, clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made = {"gs": _gs_place, "s3": _s3_place, "azure": _azure_place}[cloud](request, tmp_path)
    for name, value in made.env.items():
        if "ENDPOINT" in name:  # the endpoint is set, the credentials are not
            monkeypatch.setenv(name, value)
    backend = ElasticBlastBackend(profile=ElbProfile(results=made.base, **made.provider))
    search = check_search(SearchSpec(program="blastp", query=first_records("prot", 2), db="swissprot"))

    with pytest.raises(ConfigError) as raised:
        backend.prepare("4b8e2f1a-0c3d-4e5f-9a6b-7c8d9e0f1a2b", search, tmp_path / "job")

    assert NO_CREDENTIALS[cloud] in str(raised.value)
    assert len(str(raised.value)) < 700
    assert not (tmp_path / "job").exists(), "nothing is written before the results location is known readable"


def test_unreachable_storage_is_transient(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, moto_s3, gcp_oauth, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BLASTFLOW_ELB_S3_ENDPOINT_URL", closed)
    with pytest.raises(TransientBackendError, match="cannot reach the results storage while checking"):
        check_results_location("s3://blast-results/runs/job-1", ElbProfile())

    key = tmp_path / "key.json"  # Google's sign-in does not answer
    key.write_text(json.dumps({**gcp_oauth.service_account("blast-reader", "p"), "token_uri": f"{closed}/token"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    with pytest.raises(TransientBackendError, match="cannot reach the results storage while signing in to Google"):
        check_results_location("gs://blast-results/runs/job-1", ElbProfile())


def _library_error(case: str) -> Exception:
    """An exception as gcsfs, s3fs, adlfs or an SDK under them raises it."""
    import aiohttp
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError
    from gcsfs.retry import HttpError
    from google.auth.exceptions import RefreshError

    return {
        "s3fs AccessDenied": PermissionError("Access Denied"),
        "gcsfs 403": OSError("Forbidden: b/o\nreader lacks storage.objects.list"),
        "s3fs SlowDown": OSError(errno.EBUSY, "Please reduce your request rate."),
        "connection reset": ConnectionResetError(104, "Connection reset by peer"),
        "botocore no endpoint": EndpointConnectionError(endpoint_url="http://s3"),
        "botocore no credentials": NoCredentialsError(),
        "google-auth refused key": RefreshError("invalid_grant: Invalid JWT Signature."),
        "google-auth 502": RefreshError("Bad Gateway", retryable=True),
        "gcsfs 503": HttpError({"code": 503, "message": "Backend Error"}),
        "gcsfs 401": HttpError({"code": 401, "message": "Invalid Credentials"}),
        "azure no connection": ServiceRequestError("Cannot connect to host 127.0.0.1:1"),
        "azure refused key": ClientAuthenticationError("Server failed to authenticate the request."),
        "aiohttp disconnected": aiohttp.ServerDisconnectedError(),
    }[case]


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("s3fs AccessDenied", BackendError, "storage credentials rejected .*: Access Denied. Fix the block."),
        ("gcsfs 403", BackendError, "storage credentials rejected .*: Forbidden: b/o. Fix the block."),
        ("s3fs SlowDown", TransientBackendError, "cannot reach .*reduce your request rate"),
        ("connection reset", TransientBackendError, "cannot reach .*Connection reset by peer"),
        ("botocore no endpoint", TransientBackendError, "cannot reach .*Could not connect to the endpoint URL"),
        ("botocore no credentials", ConfigError, "no storage credentials .*Unable to locate credentials"),
        ("google-auth refused key", BackendError, "storage credentials rejected .*invalid_grant"),
        ("google-auth 502", TransientBackendError, "cannot reach .*Bad Gateway"),
        ("gcsfs 503", TransientBackendError, "cannot reach .*Backend Error"),
        ("gcsfs 401", BackendError, "storage credentials rejected .*Invalid Credentials"),
        ("azure no connection", TransientBackendError, "cannot reach .*Cannot connect to host"),
        ("azure refused key", BackendError, "storage credentials rejected .*Server failed to authenticate"),
        ("aiohttp disconnected", TransientBackendError, "cannot reach .*Server disconnected"),
    ],
)
def test_each_library_error_keeps_its_meaning(case: str, error: type, message: str) -> None:
    """What the libraries raise, as the error a user sees (the emulators show the common ones for real)."""
    got = storage_error(_library_error(case), "while listing the results in s3://b/r", "bucket", "b", "Fix the block.")
    assert type(got) is error and re.search(message, str(got)), f"{type(got).__name__}: {got}"


# -- credentials from Prefect blocks, named by settings ------------------------------------------------------------


@pytest.mark.parametrize("cloud", CLOUDS)
def test_blocks_named_by_settings_read_the_results(
    cloud: str, prefect_api: str, request: pytest.FixtureRequest, clean_env: None, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, caplog: pytest.LogCaptureFixture, archives: list[tuple[str, bytes]],
) -> None:  # fmt: skip
    """The production setup: a prefect-gcp / prefect-aws / prefect-azure block, by name; no key in a URL or a log."""
    made = {"gs": _gs_place, "s3": _s3_place, "azure": _azure_place}[cloud](request, tmp_path)
    secret = _save_block(cloud, made, f"elb-results-{cloud}-{uuid.uuid4().hex[:8]}", monkeypatch)
    made.put({f"{ELB_JOB_ID}/batch_000-blastp-{PROT_DB}.out.gz": archives[0][1],
              f"{ELB_JOB_ID}/metadata/SUCCESS.txt": b""})  # fmt: skip
    caplog.set_level(logging.DEBUG)

    check_results_location(made.url(), ElbProfile())
    paths = open_results(made.url(), ElbProfile()).download_batches(tmp_path / "a", "blastp", PROT_DB, expected=1)

    assert _first_hit(paths[0]) == [archives[0][0], archives[0][0]]
    assert secret not in caplog.text and secret not in made.url()
    setting = {"gs": "BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK", "s3": "BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK",
               "azure": "BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK"}[cloud]  # fmt: skip
    monkeypatch.setenv(setting, "no-such-block")
    with pytest.raises(ConfigError, match=f"cannot load the .*Credentials block 'no-such-block'.*{setting}"):
        check_results_location(made.url(), ElbProfile())


def _save_block(cloud: str, made: Place, name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Save the place's credentials as the cloud's Prefect block, name it in the settings; return its secret."""
    if cloud == "gs":
        from prefect_gcp import GcpCredentials

        info = json.loads(Path(made.env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
        GcpCredentials(service_account_info=info).save(name, overwrite=True)
        monkeypatch.setenv("BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK", name)
        monkeypatch.setenv("BLASTFLOW_ELB_GCS_ENDPOINT_URL", made.env["BLASTFLOW_ELB_GCS_ENDPOINT_URL"])
        return info["private_key"]
    if cloud == "s3":
        from prefect_aws import AwsCredentials

        AwsCredentials(aws_access_key_id=made.env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=made.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
                       aws_client_parameters={"endpoint_url": made.env["BLASTFLOW_ELB_S3_ENDPOINT_URL"]},
                       ).save(name, overwrite=True)  # the endpoint from the block this time  # fmt: skip
        monkeypatch.setenv("BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK", name)
        return made.env["AWS_SECRET_ACCESS_KEY"]
    from prefect_azure import AzureBlobStorageCredentials

    connection_string = made.env["BLASTFLOW_ELB_BLOB_CONNECTION_STRING"]
    AzureBlobStorageCredentials(connection_string=connection_string).save(name, overwrite=True)
    monkeypatch.setenv("BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK", name)
    return connection_string.split("AccountKey=")[1].split(";")[0]


# -- Azure specifics and pure rules ----------------------------------------------------------------------------------


def test_credentials_for_another_account_are_a_config_error(azurite, clean_env: None) -> None:
    profile = ElbProfile(blob_connection_string=azurite.connection_string)
    with pytest.raises(ConfigError, match="storage account 'otheraccount' but the credentials are for 'devstoreacc"):
        open_results("https://otheraccount.blob.core.windows.net/results/runs", profile)


def test_a_url_that_is_no_bucket_is_refused_plainly() -> None:
    with pytest.raises(ConfigError, match=r"is not a bucket URL ElasticBLAST accepts: use gs://.*s3://.*blob"):
        check_results_location("/data/results/job-1", ElbProfile())


def test_a_connection_string_becomes_a_credentials_block_and_a_registered_secret() -> None:
    key = "c2VjcmV0LWtleS1vZi10aGUtcmVzdWx0cy1hY2NvdW50LTAxMjM0NTY3ODk="
    text = f"DefaultEndpointsProtocol=https;AccountName=results1;AccountKey={key};EndpointSuffix=core.windows.net"
    block = blob_credentials(ElbProfile(blob_connection_string=text))
    assert type(block).__name__ == "AzureBlobStorageCredentials"
    assert block.connection_string.get_secret_value() == text
    assert text not in sanitise(f"connecting with {text}")


def test_no_storage_credentials_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLASTFLOW_ELB_BLOB_CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigError, match=r"BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK .* BLASTFLOW_ELB_BLOB_CONNECTION"):
        blob_credentials(ElbProfile())


def test_two_fork_runs_without_the_search_id_are_not_guessed() -> None:
    names = ["job-aaaa/batch_000-blastn-nt.out.gz", "job-bbbb/metadata/FAILURE.txt", "query_batches/batch_000.fa"]
    with pytest.raises(BackendError, match="results of 2 ElasticBLAST runs are here \\(job-aaaa, job-bbbb\\)"):
        locate_layout(names)
    assert locate_layout(names, "job-bbbb") == "job-bbbb/"


def test_batch_archive_names() -> None:
    names = ["batch_010-tblastn-my.db.out.gz", "batch_002-tblastn-my.db.out.gz", "batch_002-tblastn-myXdb.out.gz",
             "logs/batch_003-tblastn-my.db.out.gz", "batch_1-tblastn-my.db.out.gz"]
    assert batch_archives(names, "tblastn", "my.db") == [
        (2, "batch_002-tblastn-my.db.out.gz"), (10, "batch_010-tblastn-my.db.out.gz")
    ]


# -- the search's database, for blast_formatter (finalize) ------------------------------------------------------


def _run(workdir: Path, db: str, results: str, label: str = PROT_DB) -> PreparedRun:
    """A prepared ElasticBLAST search of `db` (only what finalize reads)."""
    return PreparedRun(job_id="job-1", backend="elastic-blast", program="blastp", workdir=workdir,
                       config_path=workdir / "elastic-blast.ini", database=db, database_label=label,
                       molecule="prot", results_location=results)  # fmt: skip


def _archive_by_name(elb_blast_dbs: Path, out: Path) -> tuple[str, Path]:
    """(query id, archive) of blastp with `-db sinvicta_prot` found in the current directory, as a pod runs it."""
    record = ">" + first_records("prot", 1).split(">")[-1]
    query, archive = out / "q.fa", out / "by_name.asn"
    query.write_text(record)
    subprocess.run(["blastp", "-db", PROT_DB, "-query", str(query), "-outfmt", "11", "-max_target_seqs", "5",
                    "-out", str(archive)], check=True, capture_output=True, timeout=120, cwd=elb_blast_dbs)  # fmt: skip
    return record[1:].split()[0], archive


def test_a_database_in_the_bucket_is_fetched_once_and_renders_the_archives(
    place: Place, elb_blast_dbs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {path.name: path.read_bytes() for path in elb_blast_dbs.glob(f"{PROT_DB}.*")}
    place.put(files, under="dbs")
    place.put({f"{PROT_DB}_v2.pin": b"another database", f"old/{PROT_DB}.pin": b"an older copy"}, under="dbs")
    run = _run(tmp_path / "run", place.url(f"dbs/{PROT_DB}"), place.url())
    backend = ElasticBlastBackend(profile=ElbProfile())

    where = backend.results_database(run)

    assert where == tmp_path / "run" / DATABASE_DIR
    assert {path.name: path.read_bytes() for path in where.iterdir()} == files
    monkeypatch.delenv("BLASTDB", raising=False)
    monkeypatch.chdir(tmp_path)
    query, archive = _archive_by_name(elb_blast_dbs, tmp_path)
    hits = render_hits(archive, blastdb=where)
    assert hits[0].subject == query and hits[0].description  # titles read from the fetched copy
    monkeypatch.setattr(results_module, "open_storage", lambda *a, **k: pytest.fail("fetched twice"))
    assert backend.results_database(run) == where  # once per run: finalize's retries reuse it


def test_a_database_tarball_is_unpacked(place: Place, elb_blast_dbs: Path, tmp_path: Path) -> None:
    """ElasticBLAST's other form of a user database: `<db>.tar.gz`, unpacked by its setup job."""
    tarball = tmp_path / "db.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for path in elb_blast_dbs.glob(f"{PROT_DB}.*"):
            archive.add(path, arcname=path.name)
    place.put({f"{PROT_DB}.tar.gz": tarball.read_bytes()}, under="dbs")

    where = fetch_database(place.url(f"dbs/{PROT_DB}"), tmp_path / "blastdb", ElbProfile())

    assert sorted(path.name for path in where.iterdir()) == sorted(p.name for p in elb_blast_dbs.glob(f"{PROT_DB}.*"))


def test_a_database_missing_from_the_bucket_is_named_and_leaves_nothing_behind(place: Place, tmp_path: Path) -> None:
    place.put({"other.pin": b"x"}, under="dbs")
    url, workdir = place.url(f"dbs/{PROT_DB}"), tmp_path / "run"
    with pytest.raises(BackendError, match=rf"no files of the database {re.escape(url)} \({PROT_DB}\.\*\)") as raised:
        ElasticBlastBackend(profile=ElbProfile()).results_database(_run(workdir, url, place.url()))
    assert raised.value.code == "database_unavailable"
    assert list(workdir.iterdir()) == []  # no half-fetched database for a later attempt to trust


def test_an_ncbi_database_is_the_one_on_this_worker(
    elb_blast_dbs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster read NCBI's cloud copy; this worker renders with its own, found through BLASTDB."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BLASTDB", str(elb_blast_dbs))
    backend = ElasticBlastBackend(profile=ElbProfile())
    assert backend.results_database(_run(tmp_path, PROT_DB, "gs://bkt/r/job-1")) == elb_blast_dbs
    with pytest.raises(BackendError) as raised:
        backend.results_database(_run(tmp_path, "swissprot", "gs://bkt/r/job-1", label="swissprot"))
    assert str(raised.value) == (
        "blast_formatter needs the database 'swissprot' on this worker to render the hits (the cluster searched "
        "NCBI's copy): put it in a directory named by BLASTDB (update_blastdb.pl --decompress swissprot) and "
        "re-run finalize"
    )
    assert raised.value.code == "database_unavailable"


def test_an_aws_search_has_no_pod_logs_and_says_where_they_are(tmp_path: Path) -> None:
    """AWS Batch jobs are no pods: None (nothing to wait for), and CloudWatch named. (Belongs in test_backend.py.)"""
    backend = ElasticBlastBackend(profile=ElbProfile(aws_region="us-east-1"))
    run = _run(tmp_path, "s3://bkt/dbs/prot", "s3://bkt/results/job-1")
    assert backend.pod_logs(run) is None
    assert backend.pod_logs_elsewhere(run) == (
        "AWS Batch sends the BLAST jobs' output to CloudWatch Logs (log group /aws/batch/job in us-east-1): "
        "open the jobs in the AWS Batch console, or `aws logs tail /aws/batch/job`"
    )
