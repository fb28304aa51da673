"""Cluster and storage credentials of the elastic-blast backend, from Prefect blocks.

Kubernetes access comes from prefect-kubernetes' `KubernetesCredentials` block
(named, or built from a kubeconfig file, or in-cluster); the results storage from
prefect-azure's `AzureBlobStorageCredentials` block (named, or a connection string
wrapped in the same block type), prefect-gcp's `GcpCredentials` or prefect-aws'
`AwsCredentials` block (named, or the block with no fields: Application Default
Credentials / the AWS default credential chain). The secrets a block holds are
registered with the sanitiser as it is loaded. Prefect is imported only inside
these functions, so loading the backend does not load Prefect.
"""

# architecture: Prefect block lookups (may import prefect)

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from blastflow.errors import ConfigError
from blastflow.sanitise import register_secret, sanitise

if TYPE_CHECKING:
    from prefect_aws import AwsCredentials
    from prefect_azure import AzureBlobStorageCredentials
    from prefect_gcp import GcpCredentials
    from prefect_kubernetes.credentials import KubernetesCredentials

    from blastflow.backends.elastic_blast.profile import ElbProfile
    from blastflow.settings import Settings

__all__ = ["aws_credentials", "blob_credentials", "gcp_credentials", "kubernetes_credentials"]

B = TypeVar("B")


def kubernetes_credentials(profile: ElbProfile) -> KubernetesCredentials:
    """The cluster credentials block: named block, else the kubeconfig file, else in-cluster / ~/.kube/config.

    Raises:
        ConfigError: the block or the kubeconfig file cannot be found or read.
    """
    from prefect_kubernetes.credentials import KubernetesClusterConfig, KubernetesCredentials

    if profile.k8s_credentials_block:
        return _load_block(KubernetesCredentials, profile.k8s_credentials_block, "BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK")
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
        setting = "BLASTFLOW_ELB_AZURE_CREDENTIALS_BLOCK / BLASTFLOW_AZURE_CREDENTIALS_BLOCK"
        block = _load_block(AzureBlobStorageCredentials, name, setting)
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


def gcp_credentials(profile: ElbProfile) -> GcpCredentials:
    """The GcpCredentials block named by BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK, else Application Default Credentials.

    Raises:
        ConfigError: the named block cannot be loaded, or none is named and there are no default credentials.
    """
    from prefect_gcp import GcpCredentials

    name = profile.gcp_credentials_block
    if name:
        block = _load_block(GcpCredentials, name, "BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK")
    else:
        block = _default_gcp_credentials(GcpCredentials)
    if block.service_account_info is not None:
        info = block.service_account_info.get_secret_value()
        register_secret(str(info.get("private_key") or ""))
    return block


def _default_gcp_credentials(block_type: type[GcpCredentials]) -> GcpCredentials:
    try:
        return block_type()  # resolves Application Default Credentials as it is made
    except Exception as exc:  # google-auth's DefaultCredentialsError, or a malformed credentials file
        raise ConfigError(
            "no GCP credentials to read gs:// results: create a prefect-gcp GcpCredentials block and set "
            "BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK to its name, or give this worker Application Default Credentials "
            f"(GOOGLE_APPLICATION_CREDENTIALS, workload identity). Google said: {_first_line(exc)}"
        ) from None


def aws_credentials(profile: ElbProfile) -> AwsCredentials:
    """The AwsCredentials block named by BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK, else one for the default chain.

    Raises:
        ConfigError: the named block cannot be loaded.
    """
    from prefect_aws import AwsCredentials

    name = profile.aws_credentials_block
    if not name:
        return AwsCredentials(region_name=profile.aws_region)
    block = _load_block(AwsCredentials, name, "BLASTFLOW_ELB_AWS_CREDENTIALS_BLOCK")
    for secret in (block.aws_secret_access_key, block.aws_session_token):
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
        if value:
            register_secret(str(value))
    return block


def _load_block(block_type: type[B], name: str, setting: str) -> B:
    """The Prefect block `name` of `block_type`, or a `ConfigError` naming the block and the setting to fix."""
    try:
        return block_type.load(name)  # type: ignore[attr-defined]
    except Exception as exc:  # the block API raises ValueError or HTTP errors
        raise ConfigError(
            f"cannot load the {block_type.__name__} block {name!r}: {_first_line(exc)}. Create it in Prefect "
            f"or fix {setting}."
        ) from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return sanitise(lines[0]) if lines else type(exc).__name__
