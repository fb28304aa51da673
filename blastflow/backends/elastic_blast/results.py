"""ElasticBLAST results in Azure Blob storage: completion markers and per-batch archives.

The layout ElasticBLAST writes under a search's results location:
`batch_NNN-<program>-<db>.out.gz` (one BLAST archive per batch, format 11,
gzipped), `query_batches/`, `logs/`, and `metadata/` with `SUCCESS.txt` or
`FAILURE.txt`, the durable completion markers. The storage account is reached
through prefect-azure's `AzureBlobStorageCredentials` block (by name), or a
connection string wrapped in the same block type, so both take one code path.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blastflow.backends.elastic_blast.aio import run_sync
from blastflow.backends.elastic_blast.config import AzureBlobUrl, parse_azure_blob_url
from blastflow.errors import BackendError, ConfigError, TransientBackendError
from blastflow.sanitise import sanitise

if TYPE_CHECKING:
    from blastflow.backends.elastic_blast.credentials import AzureBlobStorageCredentials

__all__ = ["FAILURE_MARKER", "SUCCESS_MARKER", "Markers", "ResultsBucket", "batch_archives"]

SUCCESS_MARKER = "metadata/SUCCESS.txt"
FAILURE_MARKER = "metadata/FAILURE.txt"
_MARKER_CHARS = 4000  # a FAILURE.txt is a message, not a log: keep what a person reads


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


class ResultsBucket:
    """One search's results location in Azure Blob storage."""

    def __init__(self, credentials: AzureBlobStorageCredentials, results: str) -> None:
        location = parse_azure_blob_url(results)
        if location is None:
            raise ConfigError(
                "blastflow reads ElasticBLAST results from Azure Blob storage "
                f"(https://<account>.blob.core.windows.net/<container>/...), not {results!r}. Copy gs:// or s3:// "
                "results with gsutil / aws s3 cp (batch_*.out.gz)."
            )
        self.credentials = credentials
        self.location: AzureBlobUrl = location
        self.results = results

    def names(self) -> list[str]:
        """Every object under the results location, relative to it."""
        return run_sync(self._names)

    def markers(self) -> Markers:
        """Whether `metadata/SUCCESS.txt` / `FAILURE.txt` exist (and what FAILURE says)."""
        return run_sync(self._markers)

    def download_batches(self, dest: Path, program: str, db_label: str, expected: int | None = None) -> list[Path]:
        """Download and unpack every batch archive into `dest/batch_NNN.asn`; return them in batch order.

        Raises:
            BackendError: FAILURE.txt says the search failed, or an archive is damaged.
            TransientBackendError: fewer archives than `expected` (exports still running), or storage hiccups.
        """
        return run_sync(lambda: self._download(dest, program, db_label, expected))

    # -- async core ----------------------------------------------------------------------------
    async def _names(self) -> list[str]:
        base = f"{self.location.prefix}/" if self.location.prefix else ""
        async with self._container("listing the results") as container:
            return [name[len(base) :] async for name in container.list_blob_names(name_starts_with=base)]

    async def _read(self, container: Any, name: str) -> bytes | None:
        """The object's bytes, or None if there is no such object."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = f"{self.location.prefix}/{name}" if self.location.prefix else name
        try:
            stream = await container.download_blob(blob)
            return await stream.readall()
        except ResourceNotFoundError as exc:
            if "ContainerNotFound" in str(getattr(exc, "error_code", "") or ""):
                raise
            return None

    async def _markers(self) -> Markers:
        async with self._container("reading the completion markers") as container:
            success = await self._read(container, SUCCESS_MARKER)
            failure = await self._read(container, FAILURE_MARKER)
        if failure is None:
            return Markers(success=success is not None, failure=None)
        text = sanitise(failure.decode("utf-8", errors="replace"))[:_MARKER_CHARS].strip()
        return Markers(success=success is not None, failure=text)

    async def _download(self, dest: Path, program: str, db_label: str, expected: int | None) -> list[Path]:
        markers = await self._markers()
        if markers.failure is not None:
            raise BackendError(
                f"ElasticBLAST marked the search failed ({self.results}/{FAILURE_MARKER}): "
                f"{markers.failure or 'no reason given'}",
                code="blast_failed",
            )
        archives = batch_archives(await self._names(), program, db_label)
        if expected is not None and len(archives) < expected:
            raise TransientBackendError(
                f"{len(archives)} of {expected} batch results are in {self.results} so far "
                "(the results export may still be running)"
            )
        dest.mkdir(parents=True, exist_ok=True)
        paths = []
        async with self._container("downloading batch results") as container:
            for index, name in archives:
                data = await self._read(container, name)
                if data is None:
                    raise TransientBackendError(f"{name} disappeared from {self.results} while downloading")
                target = dest / f"batch_{index:03d}.asn"
                try:
                    target.write_bytes(gzip.decompress(data))
                except (OSError, EOFError) as exc:
                    raise BackendError(f"{name} in {self.results} is not a complete gzip file: {exc}") from exc
                paths.append(target)
        return paths

    @asynccontextmanager
    async def _container(self, action: str) -> AsyncIterator[Any]:
        """A container client from the block's service client; storage errors translated; closed after."""
        where = f"while {action} in {self.results}"
        try:
            service = self.credentials.get_client()
        except Exception as exc:
            raise ConfigError(f"cannot make a Blob client {where}: {sanitise(str(exc))}") from exc
        async with service, _storage_errors(where, self.location.container):
            account = getattr(service, "account_name", None)
            if account and account != self.location.account:
                raise ConfigError(
                    f"the results are in storage account {self.location.account!r} but the credentials are "
                    f"for {account!r}: point the credentials block or connection string at that account."
                )
            yield service.get_container_client(self.location.container)


@asynccontextmanager
async def _storage_errors(where: str, container: str) -> AsyncIterator[None]:
    """Translate Azure SDK exceptions into blastflow errors that keep the cause."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ResourceNotFoundError as exc:
        raise BackendError(
            f"storage container {container!r} does not exist ({where}): {_said(exc)}. Check BLASTFLOW_ELB_RESULTS.",
            code="results_not_found",
        ) from None
    except ClientAuthenticationError as exc:
        raise BackendError(
            f"storage credentials rejected {where}: {_said(exc)}. Check the AzureBlobStorageCredentials block or "
            "the connection string.",
            code="storage_auth",
        ) from None
    except (ServiceRequestError, ServiceResponseError, TimeoutError) as exc:
        raise TransientBackendError(f"cannot reach Blob storage {where}: {_said(exc)}") from None
    except HttpResponseError as exc:
        status = exc.status_code or 0
        if status in (401, 403):
            raise BackendError(
                f"storage credentials rejected (HTTP {status}) {where}: {_said(exc)}", code="storage_auth"
            ) from None
        if status in (408, 429) or status >= 500:
            raise TransientBackendError(f"Blob storage answered HTTP {status} {where}: {_said(exc)}") from None
        raise BackendError(f"Blob storage answered HTTP {status} {where}: {_said(exc)}") from None


def _said(exc: BaseException) -> str:
    """The first line of an SDK error (the rest repeats headers and request ids)."""
    text = str(exc).strip().splitlines()
    return sanitise(text[0]) if text else type(exc).__name__
