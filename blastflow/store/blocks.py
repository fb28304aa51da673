"""The store's connection string from Prefect blocks: a `Secret`, or prefect-azure's `AzureBlobStorageCredentials`.

One block per storage account serves both the state tables and the
ElasticBLAST result blobs. Prefect is imported only inside these functions,
when a block is named, so opening a store by URL never loads Prefect.
"""

# architecture: Prefect block lookups (may import prefect)

from __future__ import annotations

from blastflow.errors import ConfigError
from blastflow.sanitise import register_secret, sanitise

__all__ = ["credentials_block_connection_string", "secret_block_value"]


def _load_error(kind: str, name: str, env: str, err: Exception) -> ConfigError:
    reason = sanitise(str(err).splitlines()[0] if str(err) else type(err).__name__)[:200]
    return ConfigError(
        f"could not load the Prefect {kind} block {name!r} (named by {env}): {reason}. Create it in the Prefect "
        "UI or with Python, check PREFECT_API_URL points at the server holding it, or set BLASTFLOW_STORE_URL"
    )


def secret_block_value(name: str) -> str:
    """The connection string saved in the Prefect `Secret` block `name` (registered as a secret)."""
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(name).get()
    except Exception as err:  # Prefect raises ValueError, httpx and API errors alike
        raise _load_error("Secret", name, "BLASTFLOW_TABLE_SECRET_BLOCK", err) from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"the Prefect Secret block {name!r} holds {type(value).__name__}, not a connection string; save the "
            "storage account's connection string as its value"
        )
    register_secret(value)
    return value


def credentials_block_connection_string(name: str) -> str:
    """The connection string of prefect-azure's `AzureBlobStorageCredentials` block `name`."""
    try:
        from prefect_azure import AzureBlobStorageCredentials

        block = AzureBlobStorageCredentials.load(name)
    except Exception as err:  # see secret_block_value
        raise _load_error("AzureBlobStorageCredentials", name, "BLASTFLOW_AZURE_CREDENTIALS_BLOCK", err) from None
    secret = getattr(block, "connection_string", None)
    value = secret.get_secret_value() if secret is not None else ""
    if not value.strip():
        raise ConfigError(
            f"the AzureBlobStorageCredentials block {name!r} has no connection string (it uses account_url and a "
            "credential); the state tables need one: set the block's connection_string, or BLASTFLOW_STORE_URL"
        )
    register_secret(value)
    return value
