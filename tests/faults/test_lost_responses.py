"""A store write whose response is lost (the request reached Table storage, the answer never came back).

This is what an outage does to a write in flight: the service applied it, the
client saw a dropped connection. The step log retries what it believes failed;
the retry must not store the lines twice, nor count them twice on the row.
A proxy double between the store client and Azurite loses exactly one response.

The step log retries exactly the write in flight, with its idempotency key: a
log append carries a batch id the store remembers (on the step's counter
entity, atomically with the lines), a row update an id the record remembers,
so the merge skips an update it already applied.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from blastflow.joblog import StepLog
from blastflow.merge import JobUpdate
from blastflow.model import Phase, StepName, new_job_id
from blastflow.store.azure_table import AzureTableStore
from tests.doubles.lossy_proxy import LossyProxy

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(120)]


@pytest.fixture
def proxied(azurite, unique_name: str) -> Iterator[tuple[AzureTableStore, LossyProxy]]:
    proxy = LossyProxy(azurite.table_port).start()
    url = azurite.connection_string.replace(f":{azurite.table_port}/", f":{proxy.port}/")
    store = AzureTableStore(url, table_prefix=unique_name)
    try:
        yield store, proxy
    finally:
        store.close()
        proxy.stop()


def _log(store: AzureTableStore, job_id: str) -> StepLog:
    return StepLog(store, job_id, StepName.SUBMIT, flush_interval_s=0.01, row_interval_s=0.01)


def test_a_log_append_whose_answer_is_lost_is_stored_once(proxied) -> None:
    store, proxy = proxied
    job_id = new_job_id()
    store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.SUBMITTING))
    log = _log(store, job_id)
    log.add("line 1")
    proxy.lose_response_to(b"/$batch")  # the next log append (an entity-group transaction)
    log.add("line 2")
    log.close()

    assert proxy.lost == 1
    assert [line.text for line in store.read_logs(job_id, StepName.SUBMIT).lines] == ["line 1", "line 2"]


def test_a_row_update_whose_answer_is_lost_is_counted_once(proxied) -> None:
    store, proxy = proxied
    job_id = new_job_id()
    store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.SUBMITTING))
    log = _log(store, job_id)
    log.add("line 1")
    log.close()
    proxy.lose_response_to(f"PUT /devstoreaccount1/{store.jobs_table_name}(".encode())  # the next row write
    log.add("line 2")
    log.close()

    assert proxy.lost == 1
    assert store.get(job_id).steps[StepName.SUBMIT].log_line_count == 2
