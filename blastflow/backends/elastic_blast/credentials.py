"""Cluster and storage credentials of the elastic-blast backend, from Prefect blocks.

Kubernetes access comes from prefect-kubernetes' `KubernetesCredentials` block
(named, or built from a kubeconfig file, or in-cluster); the results storage
account from prefect-azure's `AzureBlobStorageCredentials` block (named, or a
connection string wrapped in the same block type). Prefect is imported only
inside these functions, so loading the backend does not load Prefect.
"""

# architecture: Prefect block lookups (may import prefect)

from __future__ import annotations

from typing import TYPE_CHECKING

from blastflow.errors import ConfigError
from blastflow.sanitise import register_secret, sanitise

if TYPE_CHECKING:
    from prefect_azure import AzureBlobStorageCredentials
    from prefect_kubernetes.credentials import KubernetesCredentials

    from blastflow.backends.elastic_blast.profile import ElbProfile
    from blastflow.settings import Settings

__all__ = ["blob_credentials", "kubernetes_credentials"]


def kubernetes_credentials(profile: ElbProfile) -> KubernetesCredentials:
    """The cluster credentials block: named block, else the kubeconfig file, else in-cluster / ~/.kube/config.

    Raises:
        ConfigError: the block or the kubeconfig file cannot be found or read.
    """
    from prefect_kubernetes.credentials import KubernetesClusterConfig, KubernetesCredentials

    if profile.k8s_credentials_block:
        try:
            return KubernetesCredentials.load(profile.k8s_credentials_block)
        except Exception as exc:  # the block API raises ValueError or HTTP errors
            raise ConfigError(
                f"cannot load the KubernetesCredentials block {profile.k8s_credentials_block!r}: "
                f"{sanitise(str(exc))}. Create it in Prefect or fix BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK."
            ) from exc
    if profile.kubeconfig is not None:
        path = profile.kubeconfig.expanduser()
        if not path.is_file():
            raise ConfigError(
                f"kubeconfig {str(path)!r} does not exist. Fix BLASTFLOW_ELB_KUBECONFIG "
                "or use a KubernetesCredentials block (BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK)."
            )
        try:
            cluster = KubernetesClusterConfig.from_file(path, context_name=profile.kube_context)
        except Exception as exc:
            raise ConfigError(f"cannot read kubeconfig {str(path)!r}: {sanitise(str(exc))}") from exc
        return KubernetesCredentials(cluster_config=cluster)
    return KubernetesCredentials()


def blob_credentials(profile: ElbProfile, settings: Settings | None = None) -> AzureBlobStorageCredentials:
    """The storage account's credentials block: by name if configured, else from the connection string.

    Raises:
        ConfigError: neither is configured, or the named block cannot be loaded.
    """
    from prefect_azure import AzureBlobStorageCredentials

    name = profile.azure_credentials_block or (settings.azure_credentials_block if settings else None)
    if name:
        try:
            block = AzureBlobStorageCredentials.load(name)
        except Exception as exc:  # the block API raises ValueError or HTTP errors
            raise ConfigError(
                f"cannot load the AzureBlobStorageCredentials block {name!r}: {sanitise(str(exc))}. Create it in "
                "Prefect or fix BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK / BLASTFLOW_AZURE_CREDENTIALS_BLOCK."
            ) from exc
        if block.connection_string is not None:
            register_secret(block.connection_string.get_secret_value())
        return block
    if profile.blob_connection_string is not None:
        secret = profile.blob_connection_string.get_secret_value()
        register_secret(secret)
        return AzureBlobStorageCredentials(connection_string=secret)
    raise ConfigError(
        "no credentials for the results storage account: set BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK (a prefect-azure "
        "AzureBlobStorageCredentials block) or BLASTFLOW_ELB_BLOB_CONNECTION_STRING."
    )
