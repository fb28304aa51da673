"""The `Backend` protocol: what the flow needs from a place that runs BLAST.

Both backends have one shape: `submit_command` is a child CLI the flow streams
and that exits once the work is handed over; afterwards the flow asks for pod
counts, run status, pod logs and results. A "pod" is one batch's BLAST process
(local) or Kubernetes pod (elastic-blast).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from blastflow.provenance import BackendProvenance
from blastflow.search import Batch, CheckedSearch, PodCounts, PreparedRun, RunStatus

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """A place that runs BLAST batches. Implementations: local, elastic_blast."""

    name: str
    # The least time between two `status` calls: 0 where status is cheap (local files); on a cluster a
    # status call runs many external commands and takes tens of seconds.
    status_interval_s: float

    def prepare(self, job_id: str, search: CheckedSearch, workdir: Path) -> PreparedRun:
        """Check this backend's own rules (raise `InputError` with a clear message), write the config and batches.

        The checks every backend needs have passed already (`blastflow.steps.prepare.check_search`).
        """
        ...

    def submit_command(self, run: PreparedRun) -> list[str]:
        """The argv of the child that hands the work over and exits (no shell)."""
        ...

    def submit_env(self, run: PreparedRun) -> dict[str, str | None]:
        """Extra environment for the child (never secrets that end up in argv); None removes a variable."""
        ...

    def exit_meaning(self, returncode: int) -> str | None:
        """What the submit child's exit code means, when it is documented."""
        ...

    def pod_counts(self, run: PreparedRun) -> PodCounts: ...

    def status(self, run: PreparedRun) -> RunStatus: ...

    def pod_problems(self, run: PreparedRun) -> list[str]:
        """Why pods are stuck or failing, in the backend's own words (for a timeout's error)."""
        ...

    def pod_logs(self, run: PreparedRun, tail_lines: int = 200) -> dict[str, str] | None:
        """Pod name → the tail of its log; empty when no log can be read yet; None when this run has no pod
        logs at all (e.g. AWS Batch logs to CloudWatch), so nobody waits for them (`pod_logs_elsewhere` says where)."""
        ...

    def pod_logs_elsewhere(self, run: PreparedRun) -> str:
        """Where the logs of a run whose `pod_logs` is None are, in words a user can follow."""
        ...

    def fetch_results(self, run: PreparedRun, dest: Path) -> list[Path]:
        """Copy/download the per-batch BLAST archives (format 11) into `dest`; return them in batch order."""
        ...

    def results_database(self, run: PreparedRun) -> Path | None:
        """Make the search's BLAST database readable on this machine for blast_formatter, which looks subject
        titles up in it by the name or path the search gave BLAST; return the directory to use as BLASTDB (None:
        this process's environment finds it). Fetched once per run, then reused.

        Raises:
            BackendError: the database is not here and cannot be fetched (`database_unavailable`); the message
                says how to provide it.
            TransientBackendError: its storage did not answer.
        """
        ...

    def provenance(self, run: PreparedRun) -> BackendProvenance:
        """Each batch's BLAST command line (argv, as the backend runs it) and the backend's settings that
        shaped the run, without anything secret (for `provenance.json`)."""
        ...

    def batch_archives(self, run: PreparedRun) -> dict[str, Path] | None:
        """Batch name -> its result archive on this machine, for every batch that has one (checked by the resume,
        not trusted); None when the backend keeps no per-batch archives here (its status speaks for the search)."""
        ...

    def resume_submit(self, run: PreparedRun, batches: Sequence[Batch]) -> str:
        """Make the next `submit_command` run only `batches`, keeping every other batch's results; say what was
        done. Called only when the backend's work for the run has stopped.

        Raises:
            BackendError: this backend cannot run part of a search (`resume_unsupported`); the message says what to
                do instead.
        """
        ...

    def cancel(self, run: PreparedRun, others_live: Sequence[PreparedRun] = ()) -> str:
        """Stop the run's backend work, keeping finished results; say what was done (never raise for work
        that is already gone). `others_live` are this backend's other live runs, which must not be harmed."""
        ...
