"""Where one local stack keeps its state (`<data dir>/stack/`), and what `blastflow stack status` reports of it."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from blastflow.sanitise import register_secret
from ops.prefect_admin import LOCAL_POOL, PrefectApi, needs_auth

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
    def api_auth(self) -> Path:
        """The auth string of an exposed server (mode 0600); never copied into the state, a log or a message."""
        return self.root / "api-auth"

    @property
    def worker_name(self) -> str:
        """Unique per stack, so a pid check can tell this stack's worker from any other."""
        return f"{LOCAL_POOL}-{hashlib.sha1(str(self.root).encode()).hexdigest()[:8]}"

    def read_state(self) -> dict[str, Any]:
        """What the last `up` recorded (API URL, port, code version, deployments, worker pid); {} before any."""
        return json.loads(self.state.read_text()) if self.state.exists() else {}

    def write_state(self, **state: Any) -> None:
        self.state.write_text(json.dumps(state, indent=2))

    def auth_string(self) -> str | None:
        """The stack's API auth string; None if it never had one."""
        try:
            value = self.api_auth.read_text().strip() or None
        except FileNotFoundError:
            return None
        register_secret(value)  # from now on `sanitise` masks it in any log tail or message of this process
        return value

    def ensure_auth_string(self) -> str:
        """The stack's API auth string, made once: random, in a file only the user can read.

        In Prefect's documented `user:password` form, which its UI's login box expects.
        """
        existing = self.auth_string()
        if existing:
            os.chmod(self.api_auth, 0o600)  # a copy restored with looser rights is tightened again
            return existing
        self.root.mkdir(parents=True, exist_ok=True)
        # Created 0600 (not chmod-ed after): the string is never readable by others, even for a moment.
        made = f"blastflow:{secrets.token_urlsafe(32)}"
        fd = os.open(self.api_auth, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # an empty file left earlier keeps its mode through O_CREAT
            out.write(f"{made}\n")
        register_secret(made)
        return made

    def api(self, api_url: str) -> PrefectApi:
        """How a client reaches this stack's server: with the auth string when the stack has one."""
        return PrefectApi(api_url, self.auth_string())


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
    host: str | None = None  # where the server listens, when not loopback only
    auth_file: Path | None = None  # where its API auth string is kept (the string itself never is here)

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
        if self.host and needs_auth(self.host):
            out.append(f"Listening on:   {self.host} (reachable from other machines)")
            out.append(f"API auth:       {f'on (string in {self.auth_file})' if self.auth_file else 'OFF'}")
        if self.other_pids:
            out.append(f"Flow-run processes: {', '.join(map(str, self.other_pids))}")
        return out

    def remote_lines(self) -> list[str]:
        """How to open an exposed stack from another machine: where the auth string is, never the string."""
        if not (self.host and self.api_url and needs_auth(self.host)):
            return []
        port = urlsplit(self.api_url).port
        secret = f'"$(cat {self.auth_file})"'
        return [
            f"From another machine: http://<this machine's address>:{port} (the server listens on {self.host})",
            f"The Prefect UI asks for the API auth string: paste the line in {self.auth_file} (yours only: "
            "never send it in the clear)",
            f"Prefect CLI elsewhere: PREFECT_API_URL=http://<this machine's address>:{port}/api "
            f"PREFECT_API_AUTH_STRING={secret} prefect ...",
        ]
