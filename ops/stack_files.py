"""Where one local stack keeps its state (`<data dir>/stack/`), and what `blastflow status` reports of it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.prefect_admin import LOCAL_POOL

__all__ = ["StackFiles", "StackStatus"]


@dataclass(frozen=True)
class StackFiles:
    """Where one stack keeps its state: `<data dir>/stack/`.

    Example:
        >>> files = StackFiles(Path("/data/stack"))
        >>> files.database, files.worker_pid
        (PosixPath('/data/stack/prefect/prefect.db'), PosixPath('/data/stack/worker.pid'))
    """

    root: Path

    @classmethod
    def of(cls, data_dir: Path) -> StackFiles:
        return cls(Path(data_dir).expanduser().resolve() / "stack")

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def database(self) -> Path:
        return self.prefect_home / "prefect.db"

    @property
    def server_pid(self) -> Path:
        return self.root / "server.pid"

    @property
    def worker_pid(self) -> Path:
        return self.root / "worker.pid"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    @property
    def worker_log(self) -> Path:
        return self.root / "worker.log"

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def worker_name(self) -> str:
        """Unique per stack, so a pid check can tell this stack's worker from any other."""
        return f"{LOCAL_POOL}-{hashlib.sha1(str(self.root).encode()).hexdigest()[:8]}"

    def read_state(self) -> dict[str, Any]:
        """What the last `up` recorded (API URL, port, code version, deployments, worker pid); {} before any."""
        return json.loads(self.state.read_text()) if self.state.exists() else {}

    def write_state(self, **state: Any) -> None:
        self.state.write_text(json.dumps(state, indent=2))


@dataclass
class StackStatus:
    """What runs now, as `status` reports it."""

    api_url: str | None = None
    server_pid: int | None = None
    worker_pid: int | None = None
    healthy: bool = False
    code_version: str | None = None
    deployments: list[str] = field(default_factory=list)
    other_pids: list[int] = field(default_factory=list)  # flow runs (and their children) of this stack

    @property
    def ui_url(self) -> str | None:
        return self.api_url.removesuffix("/api") if self.api_url else None

    def lines(self) -> list[str]:
        """Human-readable summary."""
        if self.server_pid is None and self.worker_pid is None and not self.other_pids:
            return ["The local Prefect stack is not running: start it with `blastflow up`."]
        server = f"pid {self.server_pid}" if self.server_pid else "not running"
        answer = "answering" if self.healthy else "NOT answering"
        out = [
            f"Prefect server: {server}, {answer} at {self.api_url or '-'}",
            f"Prefect UI:     {self.ui_url or '-'}",
            f"Worker:         {f'pid {self.worker_pid}' if self.worker_pid else 'not running'} (pool {LOCAL_POOL})",
            f"Deployed code:  {self.code_version or '-'}",
        ]
        if self.deployments:
            out.append(f"Deployments:    {', '.join(self.deployments)}")
        if self.other_pids:
            out.append(f"Flow-run processes: {', '.join(map(str, self.other_pids))}")
        return out
