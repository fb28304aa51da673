"""AzureTableStore against a real Azurite: the entity layout, the limits Azurite does not enforce, outages."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from azure.data.tables import TableServiceClient

from blastflow.errors import ConfigError, StoreLimitError, StoreUnavailable
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, new_job_id
from blastflow.store.azure_table import AzureTableStore
from blastflow.store.limits import MAX_ENTITY_BYTES, PROPERTY_CHUNK_UNITS, entity_size, utf16_units

pytestmark = pytest.mark.azurite


@pytest.fixture
def store(azurite, unique_name: str) -> Iterator[AzureTableStore]:
    with AzureTableStore(azurite.connection_string, table_prefix=unique_name) as opened:
        yield opened


@pytest.fixture
def service(azurite) -> Iterator[TableServiceClient]:
    """The SDK itself, to look at (or write behind the store's back) what the store cannot show."""
    with TableServiceClient.from_connection_string(azurite.connection_string) as client:
        yield client


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when we return: nothing listens there


def test_a_job_row_has_queryable_properties_and_the_record_in_chunks(store, service) -> None:
    job_id = new_job_id()
    record = store.update(job_id, JobUpdate(title="T" * 70_000, program="blastp", phase=Phase.PREPARING))

    row = service.get_table_client(store.jobs_table_name).get_entity(job_id, "current")
    assert row["status"] == "running" and row["phase"] == "preparing" and row["program"] == "blastp"
    assert row["created_at"] == record.created_at and row["version"] == 1
    assert len(row["title"]) == 1_000  # a short copy for browsing; the record holds the full title
    chunks = [row[f"record_{i}"] for i in range(row["record_chunks"])]
    assert len(chunks) == 3
    assert all(utf16_units(chunk) <= PROPERTY_CHUNK_UNITS for chunk in chunks)
    assert "".join(chunks) == record.model_dump_json()

    smaller = store.update(job_id, JobUpdate(title="short now"))
    row = service.get_table_client(store.jobs_table_name).get_entity(job_id, "current")
    assert row["record_chunks"] == 1 and "record_1" not in row  # REPLACE leaves no stale chunk behind
    assert store.get(job_id) == smaller


def test_azurite_would_store_an_entity_the_real_service_refuses_so_the_store_checks_itself(store, service) -> None:
    """Azurite accepts a 1.2 MiB entity; Azure answers 413 EntityTooLarge. The store refuses it first."""
    raw = {"PartitionKey": "gap", "RowKey": "big", **{f"p{i}": "y" * 30_000 for i in range(21)}}
    assert entity_size(raw) > MAX_ENTITY_BYTES
    table = service.get_table_client(store.jobs_table_name)
    table.create_entity(raw)  # the emulator's gap, shown: no error
    assert table.get_entity("gap", "big")["p20"] == "y" * 30_000

    job_id = new_job_id()
    before = store.update(job_id, JobUpdate(title="fits", phase=Phase.RUNNING))
    with pytest.raises(StoreLimitError, match=r"would be [\d,]+ bytes as a Table entity.*1 MiB"):
        store.update(job_id, JobUpdate(title="y" * 21 * 30_000))
    assert store.get(job_id) == before


def test_log_chunks_and_the_sequence_counter_are_entities_of_the_jobs_partition(store, service) -> None:
    job_id = new_job_id()
    store.append_logs(job_id, StepName.SUBMIT, [f"line {i}" for i in range(250)])
    store.append_logs(job_id, StepName.SUBMIT, ["one more"])

    rows = list(service.get_table_client(store.logs_table_name).query_entities(f"PartitionKey eq '{job_id}'"))
    keys = [row["RowKey"] for row in rows]
    assert keys == ["submit:0000000001", "submit:0000000201", "submit:0000000251", "~last:submit"]
    assert [(row["first_seq"], row["last_seq"]) for row in rows[:3]] == [(1, 200), (201, 250), (251, 251)]
    assert rows[3]["last_seq"] == 251


def test_a_log_line_too_long_for_the_real_service_is_refused_before_writing(store, service) -> None:
    """Azurite does refuse a 40K-character property: the store's own check names the line instead."""
    job_id = new_job_id()
    with pytest.raises(StoreLimitError, match="log line 1 of this append"):
        store.append_logs(job_id, StepName.RUN, ["x" * 31_000])
    assert list(service.get_table_client(store.logs_table_name).query_entities(f"PartitionKey eq '{job_id}'")) == []


@pytest.mark.timeout(30)
def test_an_unreachable_endpoint_fails_fast_with_a_clear_message_and_no_key(azurite) -> None:
    port = _closed_port()
    key = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWsta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw=="
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName=acct1;AccountKey={key};TableEndpoint=http://127.0.0.1:{port}/acct1;"
    )

    with pytest.raises(StoreUnavailable) as raised:
        AzureTableStore(connection)

    message = str(raised.value)
    assert f"cannot reach the Table endpoint at 127.0.0.1:{port}" in message
    assert "BLASTFLOW_STORE_URL" in message and "Connection refused" in message
    assert key not in message and key[:20] not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_wrong_credentials_are_a_config_error_naming_the_fix(azurite) -> None:
    wrong = azurite.connection_string.replace("Eby8", "AAAA")
    with pytest.raises(ConfigError, match=r"refused the credentials.*AccountKey") as raised:
        AzureTableStore(wrong)
    assert "AAAA" not in str(raised.value)


@pytest.mark.timeout(60)
def test_an_outage_fails_writes_clearly_and_loses_nothing_already_stored(azurite_private, unique_name: str) -> None:
    with AzureTableStore(azurite_private.connection_string, table_prefix=unique_name) as store:
        job_id = new_job_id()
        before = store.update(job_id, JobUpdate(phase=Phase.RUNNING, steps={StepName.RUN: StepUpdate(lines=["a"])}))
        store.append_logs(job_id, StepName.RUN, ["a"])

        azurite_private.stop()
        with pytest.raises(StoreUnavailable, match="cannot reach the Table endpoint"):
            store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=["lost in the outage"])}))
        with pytest.raises(StoreUnavailable, match="cannot reach the Table endpoint"):
            store.append_logs(job_id, StepName.RUN, ["lost in the outage"])
        azurite_private.start()

        assert store.get(job_id) == before
        assert [line.text for line in store.read_logs(job_id).lines] == ["a"]
        assert store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=["b"])})).version == 2
