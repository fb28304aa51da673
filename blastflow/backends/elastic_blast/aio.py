"""Run asyncio code (the Kubernetes and Azure clients of the Prefect blocks) from sync code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["run_sync"]

_T = TypeVar("_T")


def run_sync(make: Callable[[], Awaitable[_T]]) -> _T:
    """Run the coroutine `make()` to completion, even if this thread already runs an event loop.

    Example:
        >>> async def answer() -> int:
        ...     return 42
        >>> run_sync(answer)
        42
    """

    async def main() -> _T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:  # a loop runs here already: use a fresh one elsewhere
        return pool.submit(asyncio.run, main()).result()
