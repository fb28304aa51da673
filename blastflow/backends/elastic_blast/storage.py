"""The results storage of a search, in any cloud: one fsspec filesystem and root for its results URL.

One code path for the three clouds ElasticBLAST writes to:

- `gs://<bucket>/<path>`: gcsfs, credentials from prefect-gcp's `GcpCredentials`
  (BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK, else Application Default Credentials),
  endpoint BLASTFLOW_ELB_GCS_ENDPOINT_URL;
- `s3://<bucket>/<path>`: s3fs, credentials from prefect-aws' `AwsCredentials`
  (BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK, else the AWS default chain), endpoint
  BLASTFLOW_ELB_S3_ENDPOINT_URL;
- `https://<account>.blob.core.windows.net/<container>/<path>`: adlfs, with
  prefect-azure's `AzureBlobStorageCredentials` as credentials (a connection string, whose
  BlobEndpoint is the endpoint, or the account URL with Azure's default credential).

Credentials go to the filesystem as objects, never into a URL; their secrets are
registered with the sanitiser, and every error text is sanitised. Errors keep
their meaning across clouds: a missing bucket or refused credentials are
`BackendError` (`results_not_found`, `storage_auth`) saying what to fix; time-outs,
refused connections, throttling and 5xx answers are `TransientBackendError`.
Filesystems are made fresh (no fsspec instance or listings cache), so a listing
always shows what the cluster has exported by now.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from blastflow.backends.elastic_blast.config import Cloud, cloud_of_results, parse_azure_blob_url
from blastflow.backends.elastic_blast.credentials import aws_credentials, blob_credentials, gcp_credentials
from blastflow.errors import BackendError, BlastflowError, ConfigError, TransientBackendError
from blastflow.sanitise import register_secret, sanitise

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from blastflow.backends.elastic_blast.profile import ElbProfile
    from blastflow.settings import Settings

__all__ = ["Storage", "error_kind", "open_storage", "storage_error", "storage_errors"]

ErrorKind = Literal["missing", "auth", "no_credentials", "transient", "other"]
_FRESH = {"skip_instance_cache": True, "use_listings_cache": False}
_SAID_CHARS = 300
_NOUN = {"gcp": "bucket", "aws": "bucket", "azure": "storage container"}
_GCS_READ_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"  # for keys loaded without scopes (ADC)


@dataclass(frozen=True)
class Storage:
    """A results URL as a filesystem: `root` is `<bucket>/<path>` in the filesystem's terms."""

    url: str
    cloud: Cloud
    bucket: str  # the bucket or container
    fix: str  # what to check when the credentials are refused
    root: str
    fs: AbstractFileSystem

    def names(self, action: str) -> list[str]:
        """Every object under the results URL, relative to it (`batch_000-...`, `metadata/SUCCESS.txt`).

        Raises:
            BackendError: the bucket or container does not exist (`results_not_found`), or access is refused.
        """
        base = f"{self.root}/"
        with self.errors(action):
            found = [path for path in self.fs.find(self.root) if path.startswith(base)]
            if not found and not self.fs.exists(self.bucket):  # adlfs lists a missing container as empty
                raise FileNotFoundError(self.bucket)
        return [path[len(base) :] for path in found]

    def read(self, name: str, action: str) -> bytes | None:
        """The object `<url>/<name>`, or None if there is no such object."""
        with self.errors(action):
            try:
                return self.fs.cat_file(f"{self.root}/{name}")
            except FileNotFoundError:
                return None

    def download(self, name: str, target: Path, action: str) -> None:
        """Copy the object `<url>/<name>` to the file `target`, streamed (a database volume is gigabytes)."""
        with self.errors(action):
            self.fs.get_file(f"{self.root}/{name}", str(target))

    def errors(self, action: str) -> AbstractContextManager[None]:
        """Translate the storage libraries' exceptions into blastflow errors that say what to do."""
        return storage_errors(self.url, self.cloud, self.bucket, self.fix, action)

    def close(self) -> None:
        """Close the filesystem's HTTP sessions now, on the filesystem's own event loop.

        Their finalizers would do it later, from whichever thread collects the filesystem (gcsfs then
        schedules the close on a loop it does not own). Best effort: whatever fails here, they still try.
        """
        from fsspec.asyn import sync

        closing = _closing(self.fs, self.cloud)
        if closing is not None:
            with suppress(Exception):
                sync(self.fs.loop, closing, timeout=10)

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_storage(results: str, profile: ElbProfile, settings: Settings | None = None) -> Storage:
    """The filesystem for a results URL, with the credentials the profile names.

    Raises:
        ConfigError: not a results URL, or no usable credentials (the message says which setting to fix).
        BackendError: the credentials were refused (`storage_auth`).
        TransientBackendError: the sign-in service did not answer.
    """
    cloud = cloud_of_results(results)
    if cloud == "gcp":
        return _gcs(results, profile)
    if cloud == "aws":
        return _s3(results, profile)
    return _blob(results, profile, settings)


# -- the three clouds ------------------------------------------------------------------------------
def _gcs(url: str, profile: ElbProfile) -> Storage:
    # gcsfs' default class (ExtendedGcsFileSystem) first asks a gRPC control plane for each bucket's layout,
    # which emulators and private endpoints do not serve (a 60 s wait per bucket); reads need only the JSON API.
    import google.auth.credentials
    import google.auth.transport.requests
    from gcsfs.core import GCSFileSystem

    block = gcp_credentials(profile)
    name = profile.gcp_credentials_block
    fix = (f"Fix the GcpCredentials block {name!r} (BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK)" if name else
           "Fix the Application Default Credentials or set BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK to a GcpCredentials "
           "block") + ": the account needs storage.objects.list and storage.objects.get on the bucket."
    root = url.split("://", 1)[1].strip("/")
    credentials = google.auth.credentials.with_scopes_if_required(block.get_credentials_from_service_account(),
                                                                  [_GCS_READ_SCOPE])
    with storage_errors(url, "gcp", root.split("/")[0], fix, "signing in to Google Cloud"):
        credentials.refresh(google.auth.transport.requests.Request())  # a refused key fails here, at once
    if credentials.token:
        register_secret(credentials.token)
    fs = GCSFileSystem(project=block.project, token=credentials, endpoint_url=profile.gcs_endpoint_url, **_FRESH)
    return Storage(url, "gcp", root.split("/")[0], fix, root, fs)


def _s3(url: str, profile: ElbProfile) -> Storage:
    from s3fs import S3FileSystem

    block = aws_credentials(profile)
    name = profile.aws_credentials_block
    fix = (f"Fix the AwsCredentials block {name!r} (BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK)" if name else
           "Fix the AWS default credentials or set BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK to an AwsCredentials block"
           ) + ": the identity needs s3:ListBucket and s3:GetObject on the bucket."
    root = url.split("://", 1)[1].strip("/")
    with storage_errors(url, "aws", root.split("/")[0], fix, "signing in to AWS"):
        session = block.get_boto3_session()  # may assume a role (an STS call)
        found = session.get_credentials()
        keys = found.get_frozen_credentials() if found is not None else None
    if keys is None or not keys.access_key:
        raise ConfigError(
            "no AWS credentials to read s3:// results: create a prefect-aws AwsCredentials block and set "
            "BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK to its name, or give this worker AWS credentials "
            "(an instance or pod role, AWS_PROFILE)."
        )
    for secret in (keys.secret_key, keys.token):
        if secret:
            register_secret(secret)
    endpoint = profile.s3_endpoint_url or block.aws_client_parameters.endpoint_url
    client = {"endpoint_url": endpoint, "region_name": block.region_name or session.region_name or profile.aws_region}
    fs = S3FileSystem(key=keys.access_key, secret=keys.secret_key, token=keys.token,
                      client_kwargs={k: v for k, v in client.items() if v}, **_FRESH)
    return Storage(url, "aws", root.split("/")[0], fix, root, fs)


def _blob(url: str, profile: ElbProfile, settings: Settings | None) -> Storage:
    from adlfs import AzureBlobFileSystem

    location = parse_azure_blob_url(url)
    assert location is not None  # cloud_of_results said azure
    block = blob_credentials(profile, settings)
    options: dict[str, Any]
    if block.connection_string is not None:
        secret = block.connection_string.get_secret_value()
        options, account = {"connection_string": secret}, connection_string_account(secret)
    elif block.account_url:  # Azure's default credential (managed identity, workload identity, az login)
        host = urlsplit(block.account_url).netloc
        account = host.split(".")[0]
        options = {"account_name": account, "account_host": host, "anon": False}
    else:
        raise ConfigError("the AzureBlobStorageCredentials block has neither a connection string nor an account URL.")
    if account and account != location.account:
        raise ConfigError(
            f"the results are in storage account {location.account!r} but the credentials are "
            f"for {account!r}: point the credentials block or connection string at that account."
        )
    fix = ("Check the AzureBlobStorageCredentials block (BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK) or the connection "
           "string (BLASTFLOW_ELB_BLOB_CONNECTION_STRING): the identity needs read and list on the container.")
    root = "/".join(filter(None, (location.container, location.prefix)))
    return Storage(url, "azure", location.container, fix, root, AzureBlobFileSystem(**options, **_FRESH))


def _closing(fs: AbstractFileSystem, cloud: Cloud) -> Callable[[], Awaitable[object]] | None:
    """The coroutine function that closes what the filesystem opened (None if it opened nothing)."""
    if cloud == "aws":
        creator = getattr(fs, "_s3creator", None)  # s3fs: the aiobotocore client context
        return None if creator is None else lambda: creator.__aexit__(None, None, None)
    if cloud == "gcp":
        session = getattr(fs, "_session", None)  # gcsfs: its aiohttp session
        return None if session is None or session.closed else session.close
    from adlfs.utils import close_service_client

    return lambda: close_service_client(fs)


def connection_string_account(text: str) -> str | None:
    """The storage account a connection string opens (None if it does not say).

    Example:
        >>> connection_string_account("DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5==")
        'acct1'
        >>> connection_string_account("UseDevelopmentStorage=true"), connection_string_account("x")
        ('devstoreaccount1', None)
        >>> connection_string_account("BlobEndpoint=https://acct2.blob.core.windows.net/;SharedAccessSignature=sv=1")
        'acct2'
    """
    parts = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
    if parts.get("AccountName"):
        return parts["AccountName"]
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        return "devstoreaccount1"
    host = urlsplit(parts.get("BlobEndpoint", "")).netloc
    return host.split(".")[0] if host.endswith(".blob.core.windows.net") else None


# -- errors ----------------------------------------------------------------------------------------
@contextmanager
def storage_errors(url: str, cloud: Cloud, bucket: str, fix: str, action: str) -> Iterator[None]:
    """Raise what a storage library raises inside as the blastflow error that says what to do (`storage_error`)."""
    try:
        yield
    except BlastflowError:
        raise
    except Exception as exc:
        raise storage_error(exc, f"while {action} in {url}", _NOUN[cloud], bucket, fix) from None


def storage_error(exc: BaseException, where: str, noun: str, bucket: str, fix: str) -> BlastflowError:
    """The blastflow error for a storage library's exception `exc`, raised `where` (e.g. "while listing ...").

    Example:
        >>> storage_error(PermissionError("Access Denied"), "while listing x", "bucket", "b", "Fix the block.")
        BackendError('storage credentials rejected while listing x: Access Denied. Fix the block.')
        >>> storage_error(FileNotFoundError("b"), "while listing x", "bucket", "b", "")
        BackendError("bucket 'b' does not exist (while listing x). Check BLASTFLOW_ELB_RESULTS.")
    """
    kind = error_kind(exc)
    if kind == "missing":
        return BackendError(f"{noun} {bucket!r} does not exist ({where}). Check BLASTFLOW_ELB_RESULTS.",
                            code="results_not_found")
    said = _said(exc).rstrip(".")
    if kind == "auth":
        return BackendError(f"storage credentials rejected {where}: {said}. {fix}", code="storage_auth")
    if kind == "no_credentials":
        return ConfigError(f"no storage credentials {where}: {said}. {fix}")
    if kind == "transient":
        return TransientBackendError(f"cannot reach the results storage {where}: {said}")
    return BackendError(f"the results storage failed {where}: {said}", code="storage")


def error_kind(exc: BaseException) -> ErrorKind:
    """What a storage exception means, the same for gcsfs, s3fs, adlfs and the SDKs under them.

    Example:
        >>> error_kind(PermissionError("Access Denied")), error_kind(FileNotFoundError("b/nobucket/o"))
        ('auth', 'missing')
        >>> error_kind(ConnectionRefusedError(111, "Connection refused")), error_kind(ValueError("bad"))
        ('transient', 'other')
    """
    status = _http_status(exc)
    if status in (401, 403) or isinstance(exc, PermissionError) or _is_refused_sign_in(exc):
        return "auth"
    if status == 404 or isinstance(exc, FileNotFoundError):
        return "missing"
    if _is_missing_credentials(exc):
        return "no_credentials"
    if status is not None and (status in (408, 429) or status >= 500):
        return "transient"
    if isinstance(exc, TimeoutError | ConnectionError) or _is_network_error(exc):
        return "transient"
    if isinstance(exc, OSError) and exc.errno in (errno.EBUSY, errno.EREMOTEIO):  # s3fs: SlowDown, 5xx
        return "transient"
    if isinstance(exc, OSError) and str(exc).startswith("Forbidden"):  # gcsfs: HTTP 403
        return "auth"
    return "other"


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error (Azure `status_code`, gcsfs `code`, botocore response, aiohttp `status`)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    for attribute in ("status_code", "status", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    return None


def _is_refused_sign_in(exc: BaseException) -> bool:
    """Credentials the identity service refused: google-auth `RefreshError` (not retryable), Azure auth errors."""
    from azure.core.exceptions import ClientAuthenticationError
    from google.auth.exceptions import RefreshError

    if isinstance(exc, RefreshError):
        return not getattr(exc, "retryable", False)
    return isinstance(exc, ClientAuthenticationError)


def _is_missing_credentials(exc: BaseException) -> bool:
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError
    from google.auth.exceptions import DefaultCredentialsError

    return isinstance(exc, NoCredentialsError | PartialCredentialsError | DefaultCredentialsError)


def _is_network_error(exc: BaseException) -> bool:
    """No answer, or no complete answer: connection refused or reset, DNS, time-outs, in any of the SDKs."""
    import aiohttp
    import requests
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError
    from google.auth.exceptions import RefreshError, TransportError

    if isinstance(exc, RefreshError):
        return bool(getattr(exc, "retryable", False))
    return isinstance(
        exc,
        TransportError | BotoConnectionError | HTTPClientError | ServiceRequestError | ServiceResponseError
        | aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | requests.ConnectionError | requests.Timeout,
    )


def _said(exc: BaseException) -> str:
    """The first line of what the library said, sanitised (the rest repeats headers and request ids)."""
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    lines = first.strip().splitlines() or [type(exc).__name__]
    text = sanitise(lines[0])
    return text if len(text) <= _SAID_CHARS else text[: _SAID_CHARS - 1] + "…"
