"""ElasticBLAST results in the results bucket: completion markers and per-batch archives, in either layout.

What ElasticBLAST writes under a search's results location (elastic-blast-facts.md, "Results layout"):

- upstream: `<results>/batch_NNN-<program>-<db>.out.gz` (one BLAST archive per
  batch, format 11, gzipped), `<results>/metadata/` with `FAILURE.txt` (from a
  BLAST pod or the janitor) or `SUCCESS.txt` (only from the janitor, so it may
  never come) and, on GKE, `num_jobs_submitted.txt` (how many batch jobs were
  submitted), `<results>/logs/`, `<results>/query_batches/`;
- the Azure fork: the same files under `<results>/<elb_job_id>/`, where
  `elb_job_id` is made per submit (the pods carry it as label `elb-job-id`).

`locate_layout` decides which one a listing shows, preferring the fork's
directory when there is one. The bucket is read through `storage.Storage` (one
fsspec code path for gs://, s3:// and Azure Blob); `check_results_location` lets
`prepare` refuse a location that could not be read back before anything is submitted.

Rendering the archives needs the search's database too (blast_formatter looks subject titles up in it, by the
name the pods gave BLAST: the URL's last part). `fetch_database` copies a database the user uploaded to a bucket
(`<db>.*`, every volume, or ElasticBLAST's other form `<db>.tar.gz`) into the run's directory, read the same way.
"""

from __future__ import annotations

import gzip
import re
import shutil
import tarfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blastflow.backends.elastic_blast.storage import Storage, open_storage
from blastflow.errors import BackendError, ConfigError, TransientBackendError
from blastflow.sanitise import sanitise

if TYPE_CHECKING:
    from blastflow.backends.elastic_blast.profile import ElbProfile
    from blastflow.settings import Settings

__all__ = [
    "FAILURE_MARKER",
    "JOBS_SUBMITTED",
    "SUCCESS_MARKER",
    "Markers",
    "ResultsBucket",
    "batch_archives",
    "check_results_location",
    "fetch_database",
    "locate_layout",
    "open_results",
]

SUCCESS_MARKER = "metadata/SUCCESS.txt"
FAILURE_MARKER = "metadata/FAILURE.txt"
# How many BLAST jobs ElasticBLAST submitted on GKE, one per batch: written by its job submission
# (cloud-job-submit.sh in the submit-jobs pod; gcp.py 469 when the client submits), once every job is applied.
JOBS_SUBMITTED = "metadata/num_jobs_submitted.txt"
_MARKER_CHARS = 4000  # a FAILURE.txt is a message, not a log: keep what a person reads
_UPSTREAM_DIRS = frozenset({"metadata", "logs", "query_batches"})
_RESULT_FILE = re.compile(r"batch_\d{3,}-.+\.out\.gz|metadata/(?:SUCCESS|FAILURE)\.txt")


@dataclass(frozen=True, slots=True)
class Markers:
    success: bool
    failure: str | None  # FAILURE.txt's text ("" if empty), None when there is no such marker

    @property
    def finished(self) -> bool:
        return self.success or self.failure is not None


def batch_archives(names: Iterable[str], program: str, db_label: str) -> list[tuple[int, str]]:
    """The batch result files among `names`, as (batch index, name), in batch order.

    Example:
        >>> batch_archives(["metadata/SUCCESS.txt", "batch_001-blastp-swissprot.out.gz",
        ...                 "batch_000-blastp-swissprot.out.gz", "batch_000-blastx-swissprot.out.gz"],
        ...                "blastp", "swissprot")
        [(0, 'batch_000-blastp-swissprot.out.gz'), (1, 'batch_001-blastp-swissprot.out.gz')]
    """
    pattern = re.compile(rf"batch_(\d{{3,}})-{re.escape(program)}-{re.escape(db_label)}\.out\.gz")
    found = [(int(m[1]), name) for name in names if (m := pattern.fullmatch(name))]
    return sorted(found)


def locate_layout(names: Iterable[str], elb_job_id: str | None = None) -> str:
    """Where a search's files are among `names` (relative to its results URL): "" or the fork's "<elb_job_id>/".

    With the search's `elb_job_id` (the pods' label), its directory unless only the top level holds
    results; without it, the one directory that holds batch archives or markers, else the top level.

    Example:
        >>> locate_layout(["batch_000-blastn-nt.out.gz", "metadata/SUCCESS.txt", "logs/x.log"])
        ''
        >>> locate_layout(["query_batches/batch_000.fa", "job-0f3a/batch_000-blastn-nt.out.gz"])
        'job-0f3a/'
        >>> locate_layout([], "job-0f3a"), locate_layout(["batch_000-blastn-nt.out.gz"], "job-0f3a")
        ('job-0f3a/', '')

    Raises:
        BackendError: several fork runs wrote here and `elb_job_id` does not say which is this search's.
    """
    names = list(names)
    top = any(_RESULT_FILE.fullmatch(name) for name in names)
    if elb_job_id:
        own = f"{elb_job_id}/"
        return "" if top and not any(name.startswith(own) for name in names) else own
    runs = sorted({head for head, _, rest in (name.partition("/") for name in names)
                   if rest and head not in _UPSTREAM_DIRS and _RESULT_FILE.fullmatch(rest)})  # fmt: skip
    if len(runs) > 1:
        raise BackendError(
            f"results of {len(runs)} ElasticBLAST runs are here ({', '.join(runs[:5])}) and nothing says which "
            "is this search's: its pods' elb-job-id label does (blastflow records it once it sees the pods).",
            code="results_ambiguous",
        )
    return f"{runs[0]}/" if runs else ""


class ResultsBucket:
    """One search's results location, in any cloud, in either layout.

    Args:
        storage: The results URL as a filesystem (`storage.open_storage`).
        elb_job_id: The Azure fork's id of the submit, when known: its directory is read.
    """

    def __init__(self, storage: Storage, elb_job_id: str | None = None) -> None:
        self.storage = storage
        self.elb_job_id = elb_job_id or None
        self.results = storage.url

    def close(self) -> None:
        """Close the storage's connections (also on leaving a `with` block)."""
        self.storage.close()

    def __enter__(self) -> ResultsBucket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def names(self) -> list[str]:
        """Every object under the results location, relative to it (both layouts)."""
        return self.storage.names("listing the results")

    def markers(self) -> Markers:
        """Whether `metadata/SUCCESS.txt` / `FAILURE.txt` exist (and what FAILURE says)."""
        prefix, names = self._located("reading the completion markers")
        return self._markers(prefix, names)

    def jobs_submitted(self) -> int | None:
        """How many batch jobs ElasticBLAST says it submitted (`JOBS_SUBMITTED`); None until it has said so."""
        return self._jobs_submitted(*self._located("reading the number of submitted jobs"))

    def download_batches(self, dest: Path, program: str, db_label: str, expected: int | None = None) -> list[Path]:
        """Download and unpack every batch archive into `dest/batch_NNN.asn`; return them in batch order.

        `expected` None: as many as ElasticBLAST says it submitted, when it says so (`JOBS_SUBMITTED`).

        Raises:
            BackendError: FAILURE.txt says the search failed, an archive is damaged, or storage refused access.
            TransientBackendError: fewer archives than `expected` (or none at all: exports still running),
                or storage did not answer.
        """
        prefix, names = self._located("listing the batch results")
        markers = self._markers(prefix, names)
        where = self._where(prefix)
        if markers.failure is not None:
            said = markers.failure or "no reason given"
            raise BackendError(f"ElasticBLAST marked the search failed ({where}/{FAILURE_MARKER}): {said}",
                               code="blast_failed")
        expected = expected if expected is not None else self._jobs_submitted(prefix, names)
        archives = batch_archives(names, program, db_label)
        if (expected is not None and len(archives) < expected) or not archives:
            so_far = f"{len(archives)} of {expected}" if expected is not None else "no"
            raise TransientBackendError(
                f"{so_far} batch results are in {where} so far (the results export may still be running)"
            )
        dest.mkdir(parents=True, exist_ok=True)
        return [self._unpack(prefix + name, where, dest / f"batch_{index:03d}.asn") for index, name in archives]

    def _located(self, action: str) -> tuple[str, list[str]]:
        """(layout prefix, names under it relative to it)."""
        names = self.storage.names(action)
        prefix = locate_layout(names, self.elb_job_id)
        return prefix, [name[len(prefix) :] for name in names if name.startswith(prefix)]

    def _jobs_submitted(self, prefix: str, names: list[str]) -> int | None:
        if JOBS_SUBMITTED not in names:
            return None
        text = self.storage.read(prefix + JOBS_SUBMITTED, "reading the number of submitted jobs") or b""
        said = text.decode("utf-8", "replace").strip()
        return int(said) if said.isdigit() else None  # a truncated upload says nothing

    def _markers(self, prefix: str, names: list[str]) -> Markers:
        success = SUCCESS_MARKER in names
        if FAILURE_MARKER not in names:
            return Markers(success=success, failure=None)
        text = self.storage.read(prefix + FAILURE_MARKER, "reading the completion markers")
        if text is None:  # gone between the listing and the read
            return Markers(success=success, failure=None)
        return Markers(success=success, failure=sanitise(text.decode("utf-8", "replace"))[:_MARKER_CHARS].strip())

    def _unpack(self, name: str, where: str, target: Path) -> Path:
        data = self.storage.read(name, "downloading batch results")
        short = name.rsplit("/", 1)[-1]
        if data is None:
            raise TransientBackendError(f"{short} disappeared from {where} while downloading")
        try:
            target.write_bytes(gzip.decompress(data))
        except (OSError, EOFError, zlib.error) as exc:
            raise BackendError(f"{short} in {where} is not a complete gzip file: {exc}") from exc
        return target

    def _where(self, prefix: str) -> str:
        return f"{self.results.rstrip('/')}/{prefix.rstrip('/')}" if prefix else self.results


def open_results(
    results: str, profile: ElbProfile, settings: Settings | None = None, elb_job_id: str | None = None
) -> ResultsBucket:
    """The search's results at `results`, with the credentials the profile names (close it, or use `with`).

    Raises:
        ConfigError: not a results URL, or no usable credentials.
        BackendError: the credentials were refused.
    """
    return ResultsBucket(open_storage(results, profile, settings), elb_job_id)


def check_results_location(results: str, profile: ElbProfile, settings: Settings | None = None) -> None:
    """Refuse a results location blastflow could not read back: no credentials, refused ones, no such bucket.

    Lists the search's own (still empty) location, which needs the bucket to exist and the
    credentials to allow listing, the same access `fetch_results` needs later.

    Raises:
        ConfigError: the location cannot be read; the message names what to fix.
        TransientBackendError: the storage did not answer (worth trying again).
    """
    try:
        with open_storage(results, profile, settings) as storage:
            storage.names("checking the results location")
    except (ConfigError, TransientBackendError):
        raise
    except BackendError as exc:
        raise ConfigError(f"cannot read the results location: {exc}", code=exc.code) from None


def fetch_database(db: str, dest: Path, profile: ElbProfile, settings: Settings | None = None) -> Path:
    """The BLAST database at bucket URL `db`, downloaded into the directory `dest` once; returns `dest`.

    Every object `<db>.*` is copied (all volumes), or only `<db>.tar.gz` unpacked when there is one, as
    ElasticBLAST's setup job does. The files land in a sibling directory renamed to `dest` when all are there,
    so an interrupted download is fetched again, never taken for a database.

    Raises:
        BackendError: no such files (`database_unavailable`), or storage refused access.
        TransientBackendError: storage did not answer.
    """
    if dest.is_dir():
        return dest
    where, _, label = db.rstrip("/").rpartition("/")
    staging = dest.with_name(f"{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with open_storage(where, profile, settings) as storage:
            names = [n for n in storage.names("listing the database files") if n.startswith(f"{label}.")]
            names = [f"{label}.tar.gz"] if f"{label}.tar.gz" in names else [n for n in names if "/" not in n]
            if not names:
                raise BackendError(
                    f"no files of the database {db} ({label}.*) in {where}: blast_formatter needs them to render "
                    "the hits; upload them there again (makeblastdb, then copy every file) and re-run finalize",
                    code="database_unavailable",
                )
            for name in names:
                storage.download(name, staging / name, "downloading the search's database")
        _unpack_tarball(staging / f"{label}.tar.gz")
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a part of a database would only mislead a later attempt
        raise
    return dest


def _unpack_tarball(tarball: Path) -> None:
    """Unpack a database tarball in its own directory, then drop it (as ElasticBLAST's setup job does)."""
    if not tarball.is_file():
        return
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(tarball.parent, filter="data")  # no paths outside the directory, no devices
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackendError(f"{tarball.name} is not a readable tar.gz database: {exc}",
                           code="database_unavailable") from exc
    tarball.unlink()
