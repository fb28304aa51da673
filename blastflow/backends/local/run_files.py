"""The files of a local run in its job directory: config, supervisor state, and each pod's state and log.

    workdir/
      run.json            PreparedRun (prepare)
      local.json          LocalConfig: what the supervisor runs (prepare)
      query_batches/      batch_NNN.fa (prepare)
      db/                 the database, when made from a FASTA file (prepare)
      supervisor.json     SupervisorState: pid, then SUCCESS / FAILURE (supervisor)
      supervisor.log      the supervisor's own output
      cancel              present once a cancel was asked for
      rerun.json          RerunSelection: the batches a resumed run's supervisor runs (the rest are kept)
      supervisor.N.json   an earlier supervisor's final state, kept when a resume started a new one
      pods/batch_NNN/     state.json (PodState), log.txt, out.asn (supervisor)

State files are written whole to a temporary file and renamed over the old
one, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from blastflow.model import utcnow
from blastflow.search import Batch, Program

__all__ = [
    "LocalConfig",
    "PodPhase",
    "PodState",
    "RerunSelection",
    "RunFiles",
    "SupervisorPhase",
    "SupervisorState",
    "file_mode",
    "read_state",
    "write_state",
]

M = TypeVar("M", bound=BaseModel)


class LocalConfig(BaseModel):
    """What the supervisor runs: written by prepare, read by the submit child and the supervisor."""

    job_id: str
    program: Program
    blast: str  # absolute path of the BLAST+ program
    database: str  # the -db argument
    database_label: str
    molecule: Literal["nucl", "prot"]  # of the query: whether batch sizes are bases or residues
    options: list[str]  # checked search options, -evalue and -max_target_seqs included
    batches: list[Batch]
    workdir: Path
    max_parallel: int = Field(ge=1)
    threads_per_pod: int = Field(ge=1)
    batch_retries: int = Field(ge=0)
    retry_backoff_s: float = Field(ge=0)  # first retry delay; doubles per attempt, like a Kubernetes Job
    retry_backoff_max_s: float = Field(default=300.0, ge=0)

    @property
    def concurrency(self) -> int:
        return max(1, min(self.max_parallel, len(self.batches)))

    def pod_argv(self, batch: Batch, out: Path) -> list[str]:
        """The BLAST command of one pod (an argument list: no shell ever sees it)."""
        return [
            self.blast,
            "-query",
            str(batch.path),
            "-db",
            self.database,
            "-out",
            str(out),
            "-outfmt",
            "11",
            "-num_threads",
            str(self.threads_per_pod),
            *self.options,
        ]


class PodPhase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PodState(BaseModel):
    """One batch's BLAST process over its attempts."""

    batch: str
    phase: PodPhase = PodPhase.PENDING
    attempts: int = 0
    exit_code: int | None = None  # negative: killed by that signal
    pid: int | None = None
    pid_start: int | None = None  # the process's start time, so a reused pid is not mistaken for it
    started_at: datetime | None = None  # of the latest attempt
    finished_at: datetime | None = None
    retry_at: datetime | None = None
    reason: Literal["", "error", "cancelled", "stopped"] = ""  # why a failed pod failed
    message: str = ""


class RerunSelection(BaseModel):
    """The batches a resumed run runs again (`LocalBackend.resume_submit`); every other batch's archive is kept."""

    batches: list[str]


class SupervisorPhase(StrEnum):
    """Like ElasticBLAST's metadata/SUCCESS.txt and FAILURE.txt, plus the time before either exists."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"


class SupervisorState(BaseModel):
    pid: int
    pid_start: int | None = None
    phase: SupervisorPhase = SupervisorPhase.RUNNING
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    cancelled: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Paths of a local run's files."""

    workdir: Path

    @property
    def config(self) -> Path:
        return self.workdir / "local.json"

    @property
    def supervisor(self) -> Path:
        return self.workdir / "supervisor.json"

    @property
    def supervisor_log(self) -> Path:
        return self.workdir / "supervisor.log"

    @property
    def cancel(self) -> Path:
        return self.workdir / "cancel"

    @property
    def rerun(self) -> Path:
        return self.workdir / "rerun.json"

    @property
    def pods(self) -> Path:
        return self.workdir / "pods"

    def pod_dir(self, batch: str) -> Path:
        return self.pods / batch

    def pod_state(self, batch: str) -> Path:
        return self.pod_dir(batch) / "state.json"

    def pod_log(self, batch: str) -> Path:
        return self.pod_dir(batch) / "log.txt"

    def pod_out(self, batch: str) -> Path:
        return self.pod_dir(batch) / "out.asn"

    def pod_partial(self, batch: str) -> Path:
        return self.pod_dir(batch) / "out.asn.part"


def file_mode(directory: bool = False) -> int:
    """The mode a new file (or directory) gets under the current umask; mkstemp/mkdtemp would make it private."""
    umask = 0o022
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    except OSError:  # not Linux: assume the usual umask
        pass
    return (0o777 if directory else 0o666) & ~umask


def write_state(path: Path, state: BaseModel) -> None:
    """Write a model as JSON atomically: a temporary file in the same directory, then `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(state.model_dump_json(indent=2))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_FILE_MODE = file_mode()


def read_state(path: Path, model: type[M]) -> M | None:
    """The model in `path`, or None when the file does not exist (yet)."""
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
