"""open_store: the URL or the settings pick the store; a bad URL is a ConfigError that keeps the secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from blastflow.errors import ConfigError
from blastflow.merge import JobUpdate
from blastflow.model import new_job_id
from blastflow.sanitise import MASK, sanitise
from blastflow.settings import Settings
from blastflow.store import StateStore, open_store
from blastflow.store.azure_table import AzureTableStore
from blastflow.store.sqlite import SqliteStore


def test_a_sqlite_url_opens_the_embedded_store_creating_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "state.db"
    store = open_store(f"sqlite:///{path}")
    try:
        assert isinstance(store, SqliteStore) and isinstance(store, StateStore)
        store.update(new_job_id(), JobUpdate(title="x"))
    finally:
        store.close()
    assert path.is_file()


def test_without_a_url_the_default_is_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    store = open_store(settings=Settings(data_dir=tmp_path / "data"))
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "data" / "blastflow.db"
    finally:
        store.close()


@pytest.mark.azurite
def test_a_connection_string_opens_the_table_store_and_is_masked_from_then_on(azurite, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, store_url=SecretStr(azurite.connection_string))
    store = open_store(settings=settings)
    try:
        assert isinstance(store, AzureTableStore) and isinstance(store, StateStore)
        job_id = new_job_id()
        assert store.update(job_id, JobUpdate(title="on azurite")).title == "on azurite"
        assert store.get(job_id).title == "on azurite"
        assert str(azurite.table_port) in repr(store) and "AccountKey" not in repr(store)
    finally:
        store.close()
    assert sanitise(f"connecting with {azurite.connection_string}") == f"connecting with {MASK}"


def test_a_bad_url_is_a_config_error_that_does_not_repeat_it(tmp_path: Path) -> None:
    secretish = "TableEndpoint-typo;AccountNme=acct;AcountKey=c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    with pytest.raises(ConfigError, match="neither sqlite:///… nor an Azure connection string") as raised:
        open_store(secretish)
    assert "c2VjcmV0" not in str(raised.value)
    assert not (tmp_path / "blastflow.db").exists()
