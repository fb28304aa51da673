"""Store URLs from Prefect blocks (a Secret, or prefect-azure's AzureBlobStorageCredentials), on a real Prefect API."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow.errors import ConfigError
from blastflow.settings import Settings
from blastflow.store.connection import parse_store_url, resolve_store_url

KEY = "bXktdmVyeS1vd24tc3RvcmFnZS1hY2NvdW50LWtleS10aGF0LW5ldmVyLWxlYWtzLXRvLWEtbG9nLWxpbmU="
GOOD = f"DefaultEndpointsProtocol=https;AccountName=blastacct;AccountKey={KEY};EndpointSuffix=core.windows.net"


@pytest.fixture(scope="module")
def prefect_blocks(prefect_api: str) -> None:
    """Blocks saved on the session's real Prefect API (tests/conftest.py `prefect_api`)."""
    from prefect.blocks.system import Secret
    from prefect_azure import AzureBlobStorageCredentials

    Secret(value=GOOD).save("bf-table", overwrite=True)
    Secret(value={"not": "a string"}).save("bf-dict", overwrite=True)
    blob_account = GOOD.replace("blastacct", "blobacct")
    AzureBlobStorageCredentials(connection_string=blob_account).save("bf-account", overwrite=True)
    AzureBlobStorageCredentials(account_url="https://blobacct.blob.core.windows.net").save(
        "bf-no-string", overwrite=True
    )


def test_a_prefect_secret_block_supplies_the_connection_string(prefect_blocks, tmp_path: Path) -> None:
    url = resolve_store_url(Settings(data_dir=tmp_path, table_secret_block="bf-table", azure_credentials_block="x"))
    assert url == GOOD


def test_an_azure_credentials_block_supplies_the_connection_string(prefect_blocks, tmp_path: Path) -> None:
    url = resolve_store_url(Settings(data_dir=tmp_path, azure_credentials_block="bf-account"))
    assert parse_store_url(url).account_name == "blobacct"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"table_secret_block": "no-such-block"}, "could not load the Prefect Secret block 'no-such-block'"),
        ({"table_secret_block": "bf-dict"}, "holds dict, not a connection string"),
        ({"azure_credentials_block": "no-such-block"}, "AzureBlobStorageCredentials block 'no-such-block'"),
        ({"azure_credentials_block": "bf-no-string"}, "has no connection string"),
    ],
)
def test_an_unusable_block_is_a_config_error(prefect_blocks, tmp_path: Path, settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        resolve_store_url(Settings(data_dir=tmp_path, **settings))
    assert KEY not in str(raised.value)
