"""Running the async clients of the Prefect blocks from sync code, with or without a loop already running."""

from __future__ import annotations

import asyncio

import pytest

from blastflow.backends.elastic_blast.aio import run_sync


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def test_from_plain_sync_code() -> None:
    assert run_sync(lambda: _double(21)) == 42


def test_from_inside_a_running_event_loop() -> None:
    async def caller() -> int:
        return run_sync(lambda: _double(4))  # asyncio.run would refuse here

    assert asyncio.run(caller()) == 8


def test_errors_come_through_unchanged() -> None:
    async def fails() -> None:
        raise LookupError("the real cause")

    with pytest.raises(LookupError, match="the real cause"):
        run_sync(fails)
