"""ElasticBLAST results in Azure Blob storage, read through prefect-azure's credentials block, on a real Azurite."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from blastflow.backends.elastic_blast.credentials import blob_credentials
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.backends.elastic_blast.results import ResultsBucket, batch_archives
from blastflow.errors import BackendError, ConfigError, TransientBackendError
from blastflow.sanitise import sanitise

pytestmark = pytest.mark.azurite

ACCOUNT = "devstoreaccount1"


@pytest.fixture
def container(azurite) -> Iterator[str]:
    name = "res" + uuid.uuid4().hex[:12]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_container(name)
        yield name
        service.delete_container(name)


def _put(azurite, container: str, files: dict[str, bytes]) -> None:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        for name, data in files.items():
            service.get_blob_client(container, name).upload_blob(data, overwrite=True)


def _bucket(azurite, container: str, prefix: str = "runs/job-1") -> ResultsBucket:
    credentials = blob_credentials(ElbProfile(blob_connection_string=azurite.connection_string))
    return ResultsBucket(credentials, f"https://{ACCOUNT}.blob.core.windows.net/{container}/{prefix}")


def test_batch_archives_are_downloaded_unpacked_and_in_batch_order(azurite, container: str, tmp_path: Path) -> None:
    _put(azurite, container, {
        "runs/job-1/batch_001-blastp-swissprot.out.gz": gzip.compress(b"archive one"),
        "runs/job-1/batch_000-blastp-swissprot.out.gz": gzip.compress(b"archive zero"),
        "runs/job-1/query_batches/batch_000.fa": b">q\nMK\n",
        "runs/job-1/metadata/SUCCESS.txt": b"",
        "runs/job-10/batch_000-blastp-swissprot.out.gz": gzip.compress(b"another search"),
    })
    bucket = _bucket(azurite, container)

    paths = bucket.download_batches(tmp_path / "archives", "blastp", "swissprot", expected=2)

    assert [p.name for p in paths] == ["batch_000.asn", "batch_001.asn"]
    assert [p.read_bytes() for p in paths] == [b"archive zero", b"archive one"]
    assert sorted(bucket.names()) == [
        "batch_000-blastp-swissprot.out.gz", "batch_001-blastp-swissprot.out.gz",
        "metadata/SUCCESS.txt", "query_batches/batch_000.fa",
    ]
    assert bucket.markers().success and bucket.markers().failure is None


def test_failure_marker_fails_the_fetch_with_its_text(azurite, container: str, tmp_path: Path) -> None:
    _put(azurite, container, {
        "runs/job-1/batch_000-blastn-nt.out.gz": gzip.compress(b"x"),
        "runs/job-1/metadata/FAILURE.txt": b"\x1b[31mblastn-batch-nt-job-001 failed: out of memory\x1b[0m\n",
    })
    bucket = _bucket(azurite, container)

    assert bucket.markers().failure == "blastn-batch-nt-job-001 failed: out of memory"
    with pytest.raises(BackendError, match=r"marked the search failed .*out of memory") as raised:
        bucket.download_batches(tmp_path, "blastn", "nt", expected=2)
    assert raised.value.code == "blast_failed"


def test_missing_exports_are_worth_waiting_for(azurite, container: str, tmp_path: Path) -> None:
    _put(azurite, container, {"runs/job-1/batch_000-blastn-nt.out.gz": gzip.compress(b"x")})
    with pytest.raises(TransientBackendError, match="1 of 3 batch results"):
        _bucket(azurite, container).download_batches(tmp_path, "blastn", "nt", expected=3)
    assert not _bucket(azurite, container).markers().finished


def test_a_damaged_archive_is_an_error(azurite, container: str, tmp_path: Path) -> None:
    _put(azurite, container, {"runs/job-1/batch_000-blastn-nt.out.gz": gzip.compress(b"abcdef")[:-6]})
    with pytest.raises(BackendError, match="not a complete gzip file"):
        _bucket(azurite, container).download_batches(tmp_path, "blastn", "nt")


def test_a_missing_container_is_named(azurite, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="storage container 'nosuchcontainer' does not exist") as raised:
        _bucket(azurite, "nosuchcontainer").download_batches(tmp_path, "blastn", "nt")
    assert raised.value.code == "results_not_found"


def test_a_wrong_key_is_rejected_without_showing_it(azurite, container: str) -> None:
    wrong_key = "d3JvbmctYnV0LXdlbGwtZm9ybWVkLWtleS1mb3ItdGhlLWVtdWxhdG9yLTAxMjM0NTY3ODkwMTIzNDU2Nzg5MA=="
    wrong = azurite.connection_string.replace(azurite.connection_string.split("AccountKey=")[1].split(";")[0],
                                              wrong_key)
    bucket = ResultsBucket(blob_credentials(ElbProfile(blob_connection_string=wrong)),
                           f"https://{ACCOUNT}.blob.core.windows.net/{container}/runs/job-1")
    with pytest.raises(BackendError, match="storage credentials rejected") as raised:
        bucket.names()
    assert raised.value.code == "storage_auth" and wrong_key not in str(raised.value)


def test_credentials_for_another_account_are_a_config_error(azurite, container: str) -> None:
    credentials = blob_credentials(ElbProfile(blob_connection_string=azurite.connection_string))
    bucket = ResultsBucket(credentials, f"https://otheraccount.blob.core.windows.net/{container}/runs")
    with pytest.raises(ConfigError, match="storage account 'otheraccount' but the credentials are for 'devstoreacc"):
        bucket.names()


def test_results_outside_azure_blob_are_refused_plainly() -> None:
    from prefect_azure import AzureBlobStorageCredentials

    credentials = AzureBlobStorageCredentials(connection_string="UseDevelopmentStorage=true")
    with pytest.raises(ConfigError, match=r"reads ElasticBLAST results from Azure Blob storage.*gsutil"):
        ResultsBucket(credentials, "gs://blast-results/runs/job-1")


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


def test_batch_archive_names() -> None:
    names = ["batch_010-tblastn-my.db.out.gz", "batch_002-tblastn-my.db.out.gz", "batch_002-tblastn-myXdb.out.gz",
             "logs/batch_003-tblastn-my.db.out.gz", "batch_1-tblastn-my.db.out.gz"]
    assert batch_archives(names, "tblastn", "my.db") == [
        (2, "batch_002-tblastn-my.db.out.gz"), (10, "batch_010-tblastn-my.db.out.gz")
    ]
