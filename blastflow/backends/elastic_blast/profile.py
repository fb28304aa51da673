"""The ElasticBLAST cluster profile: where and how `elastic-blast` runs (`BLASTFLOW_ELB_*` settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ElbProfile"]


class ElbProfile(BaseSettings):
    """One cluster profile. The flow parameters say what to search; this says where.

    `results` is the bucket base URL: each job writes under `<results>/<job id>`,
    because ElasticBLAST wants a results location that is unique per search.
    """

    model_config = SettingsConfigDict(env_prefix="BLASTFLOW_ELB_", extra="ignore")

    executable: str = "elastic-blast"
    # Which ElasticBLAST `executable` is: asked of its Python when "auto" (see `flavour`); declare it for a wrapper.
    flavour: Literal["auto", "upstream", "azure-fork"] = "auto"
    results: str = ""  # gs://bucket/path, s3://bucket/path or https://<account>.blob.core.windows.net/<container>/path

    # [cloud-provider]: the keys of exactly one provider, matching the results prefix.
    gcp_project: str | None = None
    gcp_region: str | None = None
    gcp_zone: str | None = None
    aws_region: str | None = None
    azure_region: str | None = None
    azure_resource_group: str | None = None
    azure_storage_account: str | None = None
    azure_storage_account_container: str | None = None
    azure_acr_name: str | None = None
    azure_acr_resource_group: str | None = None

    # [cluster]
    cluster_name: str | None = None  # [cluster] name; ElasticBLAST adds its own default when unset
    machine_type: str | None = None
    num_nodes: int | None = Field(default=None, ge=1)
    num_cpus: int | None = Field(default=None, ge=1)
    pd_size: str | None = None
    use_preemptible: bool | None = None
    labels: str | None = None

    # [blast]
    batch_len: int | None = Field(default=None, ge=1)  # residues per batch; None: ElasticBLAST's default
    mem_request: str | None = None
    mem_limit: str | None = None

    # Kubernetes access for pod counts and logs: a prefect-kubernetes KubernetesCredentials
    # block by name, else a kubeconfig file (and context), else in-cluster / ~/.kube/config.
    k8s_credentials_block: str | None = None
    kubeconfig: Path | None = None
    kube_context: str | None = None
    namespace: str = "default"
    k8s_request_timeout_s: float = Field(default=30.0, gt=0)

    # Results on Azure Blob: a prefect-azure AzureBlobStorageCredentials block by name
    # (falls back to BLASTFLOW_AZURE_CREDENTIALS_BLOCK), else this connection string.
    azure_credentials_block: str | None = None
    blob_connection_string: SecretStr | None = None

    # Results in gs:// / s3://: a prefect-gcp GcpCredentials / prefect-aws AwsCredentials block by name, else
    # Application Default Credentials / the AWS default credential chain. The endpoints point the readers at an
    # emulator or a private endpoint (Azure: the connection string's BlobEndpoint).
    gcp_credentials_block: str | None = None
    aws_credentials_block: str | None = None
    gcs_endpoint_url: str | None = None
    s3_endpoint_url: str | None = None

    command_timeout_s: float = Field(default=600.0, gt=0)  # `elastic-blast status` / `delete`
    # Between two `elastic-blast status` calls: one call runs ~24 gcloud/kubectl commands (tens of seconds),
    # so a minute keeps the cloud APIs calm while pod counts (one Kubernetes API call) stay live.
    status_interval_s: float = Field(default=60.0, ge=0)
    disable_auto_shutdown: bool = False  # ELB_DISABLE_AUTO_SHUTDOWN: keep the cluster after the search
