"""Run-time settings from `BLASTFLOW_*` environment variables (pydantic-settings)."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SAMPLE_DATA_DIR", "Settings", "default_data_dir", "get_settings", "quiet_azure_sdk_loggers"]

# The bundled sample FASTA sets (`blastflow demo`, the flow's defaults): always an input root by default.
SAMPLE_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
_AZURE_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy", "azure.identity", "urllib3")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "blastflow"


class Settings(BaseSettings):
    """Everything configurable, with the embedded defaults for one machine."""

    model_config = SettingsConfigDict(env_prefix="BLASTFLOW_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # sqlite:///path, an Azure Table connection string, or UseDevelopmentStorage=true.
    store_url: SecretStr | None = None
    # Name of a Prefect Secret block holding the Table connection string.
    table_secret_block: str | None = None
    # Name of a prefect-azure AzureBlobStorageCredentials block (one block per storage account).
    azure_credentials_block: str | None = None
    azure_sdk_logging: bool = False  # HTTP request/response dumps off unless asked for
    backend: str = "local"
    max_parallel_batches: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    batch_retries: int = Field(default=3, ge=0)  # like a Kubernetes Job's backoffLimit
    batch_retry_backoff_s: float = Field(default=10.0, ge=0)  # first retry delay; doubles, capped at 300 s
    # ElasticBLAST's own database setup may take 45 min (ELB_DFLT_INIT_PV_TIMEOUT) before any BLAST pod exists.
    wait_for_pods_timeout_s: float = Field(default=3000, gt=0)
    run_timeout_s: float = Field(default=24 * 3600, gt=0)
    # The local backend's status is a file read: a finished batch is seen within 0.25 s. A backend whose status
    # is slow says so (`Backend.status_interval_s`: ElasticBLAST's 60 s), and the slower of the two applies.
    poll_interval_s: float = Field(default=0.25, gt=0)
    pod_log_attempts: int = Field(default=3, ge=1)
    pod_log_retry_delay_s: float = Field(default=60.0, ge=0)
    log_flush_interval_s: float = Field(default=1.0, gt=0)
    state_debounce_s: float = Field(default=5.0, ge=0)
    store_outage_s: float = Field(default=300.0, ge=0)  # how long a step keeps retrying an unreachable store
    quiet_threshold_s: float = Field(default=900.0, gt=0)  # reconcile: a live job silent this long is lost
    # Reconcile leaves a lost job's running backend work for `blastflow resume` instead of stopping it.
    # Either way the finished batches' archives are kept.
    reconcile_keep_work: bool = False
    # Directories a search may read its query and database files from, separated by os.pathsep
    # (blastflow.confine). Unset: the data dir and the bundled sample data (`blastflow run` adds its own directory).
    input_roots: str | None = None
    prefect_ui_url: str | None = None
    # The monitoring page as a notification links to it (`<monitor_url>/?job=<job id>`).
    monitor_url: str = "http://localhost:8501"
    # `blastflow up` notifies this webhook when a search ends (a Slack/Teams URL carries a token: a secret).
    # Unset: `up` leaves notifications as they are; empty: `up` removes them (as `--no-notify`).
    notify_url: SecretStr | None = None
    notify_kind: str | None = None  # webhook, slack or teams; unset: chosen from the URL's host

    @property
    def heartbeat_interval_s(self) -> float:
        """How often a waiting step writes its row at least: a quarter of the quiet threshold, so one late
        or lost heartbeat never makes a live run look lost to reconcile."""
        return self.quiet_threshold_s / 4

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    def job_dir(self, job_id: str) -> Path:
        """`<data dir>/jobs/<job id>`; an id that could name another place ('..', '/') raises InputError."""
        from blastflow.store.limits import check_job_id  # the store's rule for ids, which are its keys too

        return self.jobs_dir / check_job_id(job_id)

    def input_root_paths(self) -> list[Path]:
        """The input roots: BLASTFLOW_INPUT_ROOTS when set, else the data dir and the bundled sample data."""
        if self.input_roots is None:
            return [self.data_dir, SAMPLE_DATA_DIR]
        return [Path(part).expanduser() for part in self.input_roots.split(os.pathsep) if part.strip()]

    @property
    def default_store_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'blastflow.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    quiet_azure_sdk_loggers(verbose=settings.azure_sdk_logging)
    return settings


def quiet_azure_sdk_loggers(*, verbose: bool = False) -> None:
    """Azure SDK INFO logs dump every HTTP request and response: keep them at WARNING."""
    for name in _AZURE_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
