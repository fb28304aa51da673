"""Store URLs and Azure connection strings: where they come from, and checking them before use.

A store URL is ``sqlite:///<path>`` (the embedded store) or an Azure Storage
connection string (``AccountName=…;AccountKey=…;TableEndpoint=…``, a SAS
variant, or ``UseDevelopmentStorage=true``). It comes from
``BLASTFLOW_STORE_URL``, else a Prefect ``Secret`` block
(``BLASTFLOW_TABLE_SECRET_BLOCK``), else a prefect-azure
``AzureBlobStorageCredentials`` block (``BLASTFLOW_AZURE_CREDENTIALS_BLOCK``),
else the SQLite file in the data directory. Error messages never repeat the
string itself: it holds the account key.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from blastflow.errors import ConfigError
from blastflow.sanitise import register_secret, sanitise
from blastflow.settings import Settings
from blastflow.store.blocks import credentials_block_connection_string, secret_block_value

__all__ = [
    "AZURITE_ACCOUNT",
    "AzureTarget",
    "SqliteTarget",
    "is_azure_connection_string",
    "parse_azure_connection_string",
    "parse_store_url",
    "resolve_store_url",
]

AZURITE_ACCOUNT = "devstoreaccount1"
# The key Microsoft publishes for the emulator; it opens nothing but a local Azurite.
_AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_AZURITE_TABLE_ENDPOINT = f"http://127.0.0.1:10002/{AZURITE_ACCOUNT}"
_AZURE_MARKERS = re.compile(r"(?i)(?:^|;)\s*(?:TableEndpoint|AccountName|AccountKey|UseDevelopmentStorage)\s*=")
_SECRET_PARTS = ("accountkey", "sharedaccesssignature")
_HOW = "set BLASTFLOW_STORE_URL to sqlite:///<path> or to the storage account's connection string"


@dataclass(frozen=True)
class SqliteTarget:
    """The embedded store: one SQLite file."""

    path: Path


@dataclass(frozen=True)
class AzureTarget:
    """A Table storage account (or Azurite). `connection_string` is secret and kept out of repr."""

    connection_string: str = field(repr=False)
    account_name: str
    table_endpoint: str

    @property
    def host(self) -> str:
        """host[:port] of the Table endpoint, safe to show."""
        return urlsplit(self.table_endpoint).netloc


def is_azure_connection_string(text: str) -> bool:
    """True when `text` looks like an Azure Storage connection string (it may still be malformed).

    Example:
        >>> is_azure_connection_string("UseDevelopmentStorage=true"), is_azure_connection_string("sqlite:///x")
        (True, False)
    """
    return bool(_AZURE_MARKERS.search(text))


def parse_store_url(url: str) -> SqliteTarget | AzureTarget:
    """Check a store URL and say which store it names.

    Args:
        url: ``sqlite:///relative/path``, ``sqlite:////absolute/path``, or an Azure connection string.

    Returns:
        SqliteTarget or AzureTarget (whose secrets are now registered with the sanitiser).

    Raises:
        ConfigError: the URL is neither, or is malformed; the message does not repeat the URL.

    Example:
        >>> parse_store_url("sqlite:////var/lib/blastflow/state.db")
        SqliteTarget(path=PosixPath('/var/lib/blastflow/state.db'))
    """
    text = url.strip() if isinstance(url, str) else ""
    if not text:
        raise ConfigError(f"the store URL is empty; {_HOW}")
    if text.lower().startswith("sqlite:"):
        return _parse_sqlite(text)
    if is_azure_connection_string(text):
        return parse_azure_connection_string(text)
    if re.match(r"(?i)https?://", text):
        raise ConfigError(
            "the store URL is a bare endpoint URL; Table storage needs a connection string with AccountName= "
            f"and AccountKey= (or SharedAccessSignature=) and TableEndpoint=; {_HOW}"
        )
    raise ConfigError(
        "the store URL is neither sqlite:///… nor an Azure connection string (missing AccountName=, "
        f"TableEndpoint= or UseDevelopmentStorage=true); {_HOW}"
    )


def _parse_sqlite(text: str) -> SqliteTarget:
    if not text.lower().startswith("sqlite:///"):
        raise ConfigError(
            "a SQLite store URL is sqlite:///relative/path or sqlite:////absolute/path (three slashes, then "
            "the path); in-memory databases cannot be shared between the flow and the page"
        )
    raw = text[len("sqlite:///") :]
    if not raw or raw in (":memory:",) or raw.endswith("/"):
        raise ConfigError(f"the SQLite store URL names no file ({text!r}); use sqlite:////path/to/blastflow.db")
    return SqliteTarget(Path(raw).expanduser())


def parse_azure_connection_string(text: str) -> AzureTarget:
    """Check an Azure Storage connection string and register its secrets with the sanitiser.

    Raises:
        ConfigError: a part is malformed or a required part is missing (named, never echoed).
    """
    register_secret(text)
    register_secret(text.strip().rstrip(";"))
    parts = _connection_parts(text)
    for name in _SECRET_PARTS:
        register_secret(parts.get(name))
    if "usedevelopmentstorage" in parts:
        return _development_storage(parts)
    account = _account_name(parts)
    _check_credentials(parts)
    endpoint = _table_endpoint(parts, account)
    return AzureTarget(text, account, endpoint.rstrip("/"))


def _connection_parts(text: str) -> dict[str, str]:
    """The string's Key=Value parts, keys lowercased; empty parts (a trailing ';') are skipped."""
    parts: dict[str, str] = {}
    for index, part in enumerate(p.strip() for p in text.split(";")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"the Azure connection string's part {index + 1} is not Key=Value (parts are separated by ';', "
                "e.g. AccountName=…;AccountKey=…;TableEndpoint=…)"
            )
        parts[key.strip().lower()] = value.strip()
    return parts


def _development_storage(parts: dict[str, str]) -> AzureTarget:
    """``UseDevelopmentStorage=true``, alone: Azurite on its default port with the published key."""
    if parts["usedevelopmentstorage"].lower() != "true":
        raise ConfigError("UseDevelopmentStorage must be 'true' (or left out)")
    if len(parts) > 1:
        raise ConfigError(
            "UseDevelopmentStorage=true stands alone; to reach Azurite on other ports give "
            "AccountName=devstoreaccount1;AccountKey=…;TableEndpoint=http://127.0.0.1:PORT/devstoreaccount1"
        )
    full = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={_AZURITE_KEY};"
        f"TableEndpoint={_AZURITE_TABLE_ENDPOINT};"
    )
    return AzureTarget(full, AZURITE_ACCOUNT, _AZURITE_TABLE_ENDPOINT)


def _account_name(parts: dict[str, str]) -> str:
    account = parts.get("accountname", "")
    if not account:
        raise ConfigError(f"the Azure connection string is missing AccountName=…; {_HOW}")
    if not re.fullmatch(r"[a-z0-9]{3,24}|devstoreaccount1", account):
        raise ConfigError(
            f"AccountName={account[:40]!r} is not a storage account name (3-24 lowercase letters and digits)"
        )
    return account


def _check_credentials(parts: dict[str, str]) -> None:
    """An AccountKey (which must be base64) or a SharedAccessSignature."""
    key = parts.get("accountkey")
    if key is None and not parts.get("sharedaccesssignature"):
        raise ConfigError(
            "the Azure connection string is missing AccountKey=… (or SharedAccessSignature=…); copy the whole "
            "string from the storage account's 'Access keys' page"
        )
    if key is not None:
        try:
            base64.b64decode(key, validate=True)
            if not key:
                raise binascii.Error
        except (binascii.Error, ValueError):
            raise ConfigError(
                "the AccountKey in the Azure connection string is not base64 (was it cut short, or quoted?); "
                "copy it again from the storage account's 'Access keys' page"
            ) from None


def _table_endpoint(parts: dict[str, str], account: str) -> str:
    """TableEndpoint=, else the account's default endpoint; an http(s) URL either way."""
    endpoint = parts.get("tableendpoint") or _default_table_endpoint(parts, account)
    split = urlsplit(endpoint)
    if split.scheme not in ("http", "https") or not split.netloc:
        raise ConfigError(
            f"TableEndpoint {sanitise(endpoint)[:80]!r} is not an http(s) URL, e.g. "
            "https://<account>.table.core.windows.net or http://127.0.0.1:10002/devstoreaccount1"
        )
    return endpoint


def _default_table_endpoint(parts: dict[str, str], account: str) -> str:
    protocol = parts.get("defaultendpointsprotocol", "https").lower()
    if protocol not in ("http", "https"):
        raise ConfigError(f"DefaultEndpointsProtocol must be http or https, not {protocol[:20]!r}")
    suffix = parts.get("endpointsuffix", "core.windows.net")
    return f"{protocol}://{account}.table.{suffix}"


def resolve_store_url(settings: Settings) -> str:
    """The store URL the settings point to: env var, then Secret block, then credentials block, then SQLite.

    Prefect is imported only when a block is named, so the core stays Prefect-free at import time.

    Raises:
        ConfigError: a named block cannot be loaded or holds no connection string.
    """
    if settings.store_url is not None and settings.store_url.get_secret_value().strip():
        return settings.store_url.get_secret_value()
    if settings.table_secret_block:
        return secret_block_value(settings.table_secret_block)
    if settings.azure_credentials_block:
        return credentials_block_connection_string(settings.azure_credentials_block)
    return settings.default_store_url
