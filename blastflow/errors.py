"""The error hierarchy. Each error says what went wrong and what to do about it.

    BlastflowError
    ├── InputError            bad query, options, database or parameters (before any work)
    ├── ConfigError           bad settings: store URL, connection string, credentials
    ├── StoreError            the state store failed
    │   ├── StoreUnavailable  cannot reach the store (retry later)
    │   ├── StoreLimitError   a value breaks a Table storage limit
    │   └── JobNotFound       no row for that job id
    └── BackendError          a backend command or API failed
        ├── SubmitError       submit failed (code tells whether the child started)
        ├── TimedOut          a wait ran past its limit
        └── TransientBackendError  worth retrying (timeouts, 5xx, throttling)
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BlastflowError",
    "ConfigError",
    "InputError",
    "JobNotFound",
    "StoreError",
    "StoreLimitError",
    "StoreUnavailable",
    "SubmitError",
    "TimedOut",
    "TransientBackendError",
]


class BlastflowError(Exception):
    """Base of every error blastflow raises on purpose. `code` is short and stable."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InputError(BlastflowError, ValueError):
    code = "input"


class ConfigError(BlastflowError, ValueError):
    code = "config"


class StoreError(BlastflowError):
    code = "store"


class StoreUnavailable(StoreError):
    code = "store_unavailable"


class StoreLimitError(StoreError, ValueError):
    code = "store_limit"


class JobNotFound(StoreError, KeyError):
    code = "job_not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "job not found"


class BackendError(BlastflowError):
    code = "backend"


class SubmitError(BackendError):
    """`child_started` False means nothing reached the backend and a retry is safe."""

    code = "submit_failed"

    def __init__(self, message: str, *, child_started: bool, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.child_started = child_started


class TransientBackendError(BackendError):
    code = "backend_transient"


class TimedOut(BackendError):
    """A wait ran past its limit (pods never started, or the run took too long)."""

    code = "timed_out"
