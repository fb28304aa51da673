"""A real local stack for the end-to-end tests: `ops.stack.up` on a free port, in a temporary data dir."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ops.stack_files import StackStatus
from tests.e2e.local_stack import LocalStack, free_port


@pytest.fixture(scope="module")
def local_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """`blastflow up` as a user runs it, with the data dir, SQLite store and code version of this test module.

    A module may set `STACK_ENV` (a dict) for more settings of its stack's worker.
    """
    root = tmp_path_factory.mktemp("stack")
    store_url = f"sqlite:///{root / 'state.db'}"
    code_version = f"0.1.0+e2e.{uuid.uuid4().hex[:8]}"  # pinned: a commit elsewhere mid-test must not count
    env = {
        "BLASTFLOW_STORE_URL": store_url,
        "BLASTFLOW_CODE_VERSION": code_version,
        "BLASTFLOW_POLL_INTERVAL_S": "0.5",
        "BLASTFLOW_POD_LOG_RETRY_DELAY_S": "0.2",
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # pick a new run up within 2 s, not the default 10
        **getattr(request.module, "STACK_ENV", {}),
    }
    local = LocalStack(data_dir=root / "data", store_url=store_url, code_version=code_version, port=free_port(),
                       env=env, status=StackStatus())
    try:
        local.up()
        yield local
    finally:
        local.down(force=True)  # whatever a failed test left running
