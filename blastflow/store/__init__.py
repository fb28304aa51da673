"""Where job state lives: `open_store` picks the SQLite or Azure Table store from a URL or the settings.

Both implement `StateStore` and pass one contract test suite. Only this
package talks to SQLite or the Table service; everything else goes through
`StateStore.update` (merge, then conditional write).
"""

from __future__ import annotations

from blastflow.settings import Settings, get_settings
from blastflow.store.base import LogLine, LogPage, StateStore
from blastflow.store.connection import AzureTarget, SqliteTarget, parse_store_url, resolve_store_url

__all__ = ["LogLine", "LogPage", "StateStore", "open_store"]


def open_store(url: str | None = None, *, settings: Settings | None = None) -> StateStore:
    """Open the state store `url` names, or the one the settings name.

    Args:
        url: ``sqlite:///<path>`` or an Azure Storage connection string (or
            ``UseDevelopmentStorage=true``). None: ``BLASTFLOW_STORE_URL``, then the
            Prefect Secret block ``BLASTFLOW_TABLE_SECRET_BLOCK``, then the
            AzureBlobStorageCredentials block ``BLASTFLOW_AZURE_CREDENTIALS_BLOCK``,
            then ``sqlite:///<data_dir>/blastflow.db``.
        settings: settings to use instead of the process's (`get_settings()`).

    Returns:
        An open store; call `close()` when done (or use it as a context manager).

    Raises:
        ConfigError: the URL is malformed or names neither store (the message never repeats the secret).
        StoreUnavailable: the store cannot be reached.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     store = open_store(f"sqlite:///{tmp}/state.db")
        ...     print(type(store).__name__, store.get("no-such-job"))
        ...     store.close()
        SqliteStore None
    """
    settings = settings or get_settings()
    target = parse_store_url(url if url is not None else resolve_store_url(settings))
    if isinstance(target, SqliteTarget):
        from blastflow.store.sqlite import SqliteStore

        return SqliteStore(target.path)
    assert isinstance(target, AzureTarget)
    # Imported here so SQLite-only use never loads the Azure SDK.
    from blastflow.store.azure_table import AzureTableStore

    return AzureTableStore(target.connection_string, azure_sdk_logging=settings.azure_sdk_logging)
