"""A running local stack as the end-to-end tests see it, and waiting on its flow runs."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ops import stack
from ops.stack_files import StackStatus

STACK_TIMEOUT_S = 240.0  # server start-up alone can take 20-40 s on a loaded two-core machine


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalStack:
    """A running stack and what the test needs to reach it."""

    data_dir: Path
    store_url: str
    code_version: str
    port: int
    env: dict[str, str]
    status: StackStatus
    log: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        assert self.status.api_url is not None
        return self.status.api_url

    def client(self) -> Any:
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api_url)

    def up(self, *, k8s: bool = False) -> StackStatus:
        self.status = stack.up(port=self.port, k8s=k8s, data_dir=self.data_dir, env=self.env, echo=self.log.append,
                               timeout_s=STACK_TIMEOUT_S)
        return self.status

    def down(self, *, force: bool = False) -> list[int]:
        return stack.down(force=force, data_dir=self.data_dir, echo=self.log.append)


def wait_for_final_state(local: LocalStack, flow_run_id: Any, timeout_s: float = 180.0) -> Any:
    """The flow run once it reaches a final state (fails the test with the worker's log tail if it never does)."""
    deadline = time.monotonic() + timeout_s
    with local.client() as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            time.sleep(1.0)
    tail = (local.data_dir / "stack" / "worker.log").read_text(errors="replace")[-3000:]
    pytest.fail(f"flow run {flow_run_id} not final after {timeout_s:g} s (state {run.state_name}); worker log:\n{tail}")
