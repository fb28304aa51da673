"""The search's domain types: what the user asked for, how it is batched, how far it has got.

A `SearchSpec` is checked by `blastflow.steps.prepare` into a `PreparedRun`
(batches, database, options); backends report `PodCounts` and a `RunStatus`.
No backend, store or orchestration code here: these are plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from blastflow.query import Query

__all__ = [
    "SEARCH_FILE",
    "Batch",
    "CheckedSearch",
    "PodCounts",
    "PreparedRun",
    "Program",
    "RunState",
    "RunStatus",
    "SearchSpec",
    "load_spec",
    "save_spec",
]


Program = Literal["blastn", "blastp", "blastx", "tblastn", "tblastx"]


class SearchSpec(BaseModel):
    """What the user asked for: flow parameters, before any validation."""

    model_config = ConfigDict(extra="forbid")

    program: Program = "blastn"
    query: str  # a path to a FASTA file, or FASTA text
    db: str  # a FASTA file (made into a BLAST database) or an existing BLAST database path/name
    options: str = ""  # extra BLAST options, checked against an allow-list
    evalue: float = Field(default=1e-5, gt=0)
    max_target_seqs: int = Field(default=10, ge=1, le=5000)
    batch_len: int | None = Field(default=None, ge=1)  # residues per batch; None: backend default
    title: str = ""


@dataclass(frozen=True, slots=True)
class CheckedSearch:
    """A search that passed the checks every backend needs (`blastflow.steps.prepare.check_search`).

    Backends receive this, never a raw `SearchSpec`, and add only their own rules.
    """

    spec: SearchSpec  # as the user gave it (database, batch length, title)
    program: Program
    query: Query  # parsed, validated, molecule matching the program
    options: list[str]  # checked BLAST options in argv form, -evalue and -max_target_seqs last


class Batch(BaseModel):
    """One query batch: a FASTA file of whole sequences."""

    index: int
    path: Path
    sequences: int
    residues: int

    @property
    def name(self) -> str:
        return f"batch_{self.index:03d}"


class PreparedRun(BaseModel):
    """Everything later steps need, written to `workdir/run.json` by prepare."""

    job_id: str
    backend: str
    program: Program
    workdir: Path
    config_path: Path  # the backend's config file (local JSON, ElasticBLAST .ini)
    database: str  # database as the backend will use it
    database_label: str  # short name for people
    molecule: Literal["nucl", "prot"]
    options: list[str] = Field(default_factory=list)  # validated BLAST options, argv form
    batches: list[Batch] = Field(default_factory=list)
    query_count: int = 0
    query_length: int = 0
    results_location: str = ""  # local directory or bucket URL
    query_file: Path | None = None  # the whole query as searched, when the backend sizes the batches itself
    batching: str = ""  # why this many batches, in words, for the prepare step's log (may be empty)

    @property
    def run_file(self) -> Path:
        return self.workdir / "run.json"

    def save(self) -> Path:
        self.run_file.write_text(self.model_dump_json(indent=2))
        return self.run_file

    @classmethod
    def load(cls, workdir: Path) -> PreparedRun:
        return cls.model_validate_json((workdir / "run.json").read_text())

    def query_files(self) -> list[Path]:
        """The query as searched, in BLAST's order: the batches, else the one file the backend batches itself."""
        return [batch.path for batch in self.batches] or ([self.query_file] if self.query_file else [])


SEARCH_FILE = "search.json"  # the SearchSpec as given, in the job's directory: provenance and reruns read it


def save_spec(spec: SearchSpec, workdir: Path) -> Path:
    """Keep the search as the user asked for it beside the run (`rerun` starts it again from this)."""
    path = workdir / SEARCH_FILE
    path.write_text(spec.model_dump_json(indent=2))
    return path


def load_spec(workdir: Path) -> SearchSpec:
    """The search a job ran, as `save_spec` kept it; raises OSError or pydantic's ValidationError."""
    return SearchSpec.model_validate_json((workdir / SEARCH_FILE).read_text())


class PodCounts(BaseModel):
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.running + self.succeeded + self.failed

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    def as_counters(self) -> dict[str, int]:
        return {"pending": self.pending, "running": self.running, "succeeded": self.succeeded, "failed": self.failed}


class RunState(StrEnum):
    """ElasticBLAST's `status --exit-code` states, which the local backend reports too."""

    SUCCESS = "success"
    FAILURE = "failure"
    CREATING = "creating"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DELETING = "deleting"
    UNKNOWN = "unknown"


class RunStatus(BaseModel):
    state: RunState
    counts: PodCounts = Field(default_factory=PodCounts)
    message: str = ""  # the backend's own words, e.g. the failure cause
