"""Fixtures of the fault and bad-input suites: an Azurite-backed pipeline, and spawn records.

`spawn_record` lives with the other doubles (tests/doubles/spawn_record.py); the ElasticBLAST doubles'
fixtures (`elb_world`, ...) come from tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import pytest

from blastflow.store.base import StateStore
from tests.doubles.spawn_record import spawn_record  # noqa: F401 - a fixture, found by name


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a fault test that runs a whole flow (tens of seconds); runs in CI")


@pytest.fixture
def azure_pipeline(pipeline_with, azurite_private) -> StateStore:
    """Like `pipeline`, but the job store is a private Azurite's Table service (to stop and restart)."""
    return pipeline_with(azurite_private.connection_string)
