"""Store URLs and connection strings: parsing, clear errors that never echo a secret, where they come from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from blastflow.errors import ConfigError
from blastflow.sanitise import MASK, sanitise
from blastflow.settings import Settings
from blastflow.store.connection import AzureTarget, SqliteTarget, parse_store_url, resolve_store_url

KEY = "bXktdmVyeS1vd24tc3RvcmFnZS1hY2NvdW50LWtleS10aGF0LW5ldmVyLWxlYWtzLXRvLWEtbG9nLWxpbmU="
GOOD = f"DefaultEndpointsProtocol=https;AccountName=blastacct;AccountKey={KEY};EndpointSuffix=core.windows.net"


def test_sqlite_urls_name_a_file() -> None:
    assert parse_store_url("sqlite:////var/lib/bf/state.db") == SqliteTarget(Path("/var/lib/bf/state.db"))
    assert parse_store_url("sqlite:///rel/state.db") == SqliteTarget(Path("rel/state.db"))
    assert parse_store_url("sqlite:///~/bf.db").path == Path.home() / "bf.db"


@pytest.mark.parametrize("url", ["sqlite://state.db", "sqlite:///", "sqlite:///:memory:", "sqlite:////tmp/dir/"])
def test_sqlite_urls_without_a_usable_file_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="sqlite:///"):
        parse_store_url(url)


def test_a_full_connection_string_names_its_table_endpoint_and_masks_its_key() -> None:
    target = parse_store_url(GOOD)
    assert isinstance(target, AzureTarget)
    assert target.account_name == "blastacct"
    assert target.table_endpoint == "https://blastacct.table.core.windows.net"
    assert target.host == "blastacct.table.core.windows.net"
    assert KEY not in repr(target)
    assert sanitise(f"leaked {KEY} here") == f"leaked {MASK} here"


def test_an_explicit_table_endpoint_wins_and_development_storage_means_azurite() -> None:
    explicit = parse_store_url(f"AccountName=devstoreaccount1;AccountKey={KEY};TableEndpoint=http://127.0.0.1:1/x/")
    assert explicit.table_endpoint == "http://127.0.0.1:1/x"
    dev = parse_store_url("UseDevelopmentStorage=true")
    assert dev.host == "127.0.0.1:10002" and dev.account_name == "devstoreaccount1"
    assert "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1" in dev.connection_string


def test_a_sas_connection_string_is_accepted_and_its_token_masked() -> None:
    sas = "sv=2022-11-02&ss=t&srt=sco&sp=rwdlacu&se=2030-01-01T00:00:00Z&sig=abcDEF123%2Bsecretsig%3D"
    target = parse_store_url(
        f"TableEndpoint=https://acct2.table.core.windows.net;AccountName=acct2;SharedAccessSignature={sas}"
    )
    assert target.host == "acct2.table.core.windows.net"
    assert "abcDEF123" not in sanitise(f"token {sas}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("hello world", "neither sqlite:///… nor an Azure connection string"),
        (f"https://blastacct.table.core.windows.net/?sig={KEY}", "bare endpoint URL"),
        (f"AccountKey={KEY};TableEndpoint=https://x.table.core.windows.net", "missing AccountName="),
        ("AccountName=blastacct;TableEndpoint=https://x.table.core.windows.net", "missing AccountKey="),
        ("AccountName=blastacct;AccountKey=not base64!!", "not base64"),
        (f"AccountName=Blast_Acct;AccountKey={KEY}", "not a storage account name"),
        (f"AccountName=blastacct;{KEY[:-1]};TableEndpoint=https://x", "part 2 is not Key=Value"),
        (f"AccountName=blastacct;AccountKey={KEY};TableEndpoint=ftp://x", "not an http"),
        (f"UseDevelopmentStorage=true;AccountKey={KEY}", "stands alone"),
        ("UseDevelopmentStorage=yes", "must be 'true'"),
        ("   ", "empty"),
    ],
)
def test_malformed_store_urls_say_what_is_wrong_without_the_secret(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_store_url(url)
    text = str(raised.value)
    assert KEY not in text and KEY[:16] not in text
    assert "not base64!!" not in text


def test_settings_decide_where_the_url_comes_from(tmp_path: Path) -> None:
    assert resolve_store_url(Settings(data_dir=tmp_path)) == f"sqlite:///{tmp_path}/blastflow.db"
    explicit = Settings(data_dir=tmp_path, store_url=SecretStr(GOOD), table_secret_block="ignored-when-env-is-set")
    assert resolve_store_url(explicit) == GOOD


def test_the_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", f"sqlite:///{tmp_path}/env.db")
    assert resolve_store_url(Settings()) == f"sqlite:///{tmp_path}/env.db"


def test_importing_the_store_loads_neither_prefect_nor_the_azure_sdk() -> None:
    code = (
        "import sys, blastflow.store, blastflow.store.connection, blastflow.store.sqlite;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect' or m.startswith('azure.data')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
