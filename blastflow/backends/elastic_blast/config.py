"""The ElasticBLAST `.ini`: build it from a search and a cluster profile, and reject what ElasticBLAST would.

Pure functions: nothing here touches the network or a cluster. `build_config`
returns a `ConfigParser`; `validate_config` raises one error that lists every
problem at once, so a user fixes them in one go before anything runs.
"""

from __future__ import annotations

import configparser
import io
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.errors import ConfigError, InputError
from blastflow.options import CONTROLLED, SEARCH_PARAMETER_OPTIONS

__all__ = [
    "ELB_CONFIG_ENV",
    "ELB_REJECTED_OPTIONS",
    "ELB_TASKS",
    "AzureBlobUrl",
    "Cloud",
    "ElbSearch",
    "build_config",
    "check_options",
    "cloud_of_results",
    "config_problems",
    "db_label",
    "parse_azure_blob_url",
    "read_config",
    "render_config",
    "results_for_job",
    "validate_config",
]

Cloud = Literal["gcp", "aws", "azure"]

# ElasticBLAST 1.5.0's programs (util.py `_programs`). No batch-len table here on purpose: written
# into the ini, any batch-len switches ElasticBLAST's own tuner off (elastic-blast-facts.md), and the
# tuner knows the database (swissprot: blastp 300,000, blastx 1,260,000 residues per batch). So
# batch-len goes into the ini only when the search or the profile asks for one.
SUPPORTED_PROGRAMS = frozenset(
    {"blastp", "blastn", "blastx", "psiblast", "rpsblast", "rpstblastn", "tblastn", "tblastx"}
)

# Options ElasticBLAST 1.5 refuses outright (its UNSUPPORTED_OPTIONS). The options the pipeline itself
# controls are one list for every backend: `blastflow.options.CONTROLLED`.
ELB_REJECTED_OPTIONS = frozenset(
    {
        "-remote",
        "-seqidlist",
        "-gilist",
        "-negative_gilist",
        "-negative_seqidlist",
        "-entrez_query",
        "-use_index",
        "-index_name",
        "-filtering_db",
        "-in_pssm",
        "-in_msa",
    }
)
# ElasticBLAST's own -task values per program (util.py `_tasks`); it refuses any other (rmblastn too).
ELB_TASKS: dict[str, tuple[str, ...]] = {
    "blastp": ("blastp", "blastp-fast", "blastp-short"),
    "blastn": ("blastn", "blastn-short", "dc-megablast", "megablast"),
    "blastx": ("blastx", "blastx-fast"),
    "tblastn": ("tblastn", "tblastn-fast"),
}
GCP_MAX_LABEL_LENGTH = 63  # constants.py of elastic-blast 1.5.0
AWS_MAX_TAG_LENGTH = 255
# The variables through which ElasticBLAST's environment overrides the ini, and the ini key each one
# overrides (config.py `_load_config_from_environment` of elastic-blast 1.5.0 and of the Azure fork;
# CLOUDSDK_CORE_PROJECT even wins over ELB_GCP_PROJECT there, and gcloud reads it too).
ELB_CONFIG_ENV: dict[str, tuple[str, str]] = {
    "ELB_GCP_PROJECT": ("cloud-provider", "gcp-project"),
    "CLOUDSDK_CORE_PROJECT": ("cloud-provider", "gcp-project"),
    "ELB_GCP_REGION": ("cloud-provider", "gcp-region"),
    "ELB_GCP_ZONE": ("cloud-provider", "gcp-zone"),
    "ELB_BATCH_LEN": ("blast", "batch-len"),
    "ELB_CLUSTER_NAME": ("cluster", "name"),
    "ELB_RESULTS": ("blast", "results"),
    "ELB_USE_PREEMPTIBLE": ("cluster", "use-preemptible"),
    "ELB_BID_PERCENTAGE": ("cluster", "bid-percentage"),
    # The Azure fork adds its own (fork src/elastic_blast/config.py 94-107 at 7a47129); AZURE_ACR_NAME really
    # sets the resource group there. The storage key is a credential the user may pass this way: not pinned.
    "AZURE_ACR_RESOURCE_GROUP": ("cloud-provider", "azure-acr-resource-group"),
    "AZURE_ACR_NAME": ("cloud-provider", "azure-resource-group"),
    "AZURE_RESOURCE_GROUP": ("cloud-provider", "azure-resource-group"),
    "AZURE_REGION": ("cloud-provider", "azure-region"),
    "AZURE_STORAGE_ACCOUNT": ("cloud-provider", "azure-storage-account"),
    "AZURE_STORAGE_ACCOUNT_CONTAINER": ("cloud-provider", "azure-storage-account-container"),
}
# Characters that break ElasticBLAST's substitution of the options into a YAML string and a bash line.
_UNSAFE_OPTION_CHARS = re.compile(r"[\"\\$`\n\r;|&<>]")

_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]+[a-z0-9]")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_AZURE_URL = re.compile(r"https://(?P<account>[^./]+)\.blob\.core\.windows\.net/(?P<container>[^/]+)(?:/(?P<path>.*))?")
_AZURE_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_AZURE_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_GKE_CLUSTER_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?")
_MEMORY = re.compile(r"\d+(?:\.\d+)?[KMGT]i?", re.IGNORECASE)

_PROVIDER_KEYS: dict[Cloud, tuple[str, ...]] = {
    "gcp": ("gcp-project", "gcp-region", "gcp-zone"),
    "aws": ("aws-region",),
    # The fork without azure-acr-name silently runs a non-existent image (elastic-blast-facts.md): required.
    "azure": (
        "azure-region",
        "azure-resource-group",
        "azure-storage-account",
        "azure-storage-account-container",
        "azure-acr-name",
        "azure-acr-resource-group",
    ),
}
_RESULTS_FORMS = (
    "gs://<bucket>/<path> (GCP), s3://<bucket>/<path> (AWS) or "
    "https://<account>.blob.core.windows.net/<container>/<path> (Azure)"
)


@dataclass(frozen=True, slots=True)
class ElbSearch:
    """The `[blast]` part of a search: what the flow parameters decided."""

    program: str
    db: str
    queries: str
    results: str
    options: tuple[str, ...] = ()
    batch_len: int | None = None


@dataclass(frozen=True, slots=True)
class AzureBlobUrl:
    account: str
    container: str
    prefix: str  # path inside the container, without leading or trailing "/"


@dataclass(frozen=True, slots=True)
class _Problem:
    kind: Literal["input", "config"]
    text: str


def parse_azure_blob_url(url: str) -> AzureBlobUrl | None:
    """Split an Azure Blob URL into account, container and path; None if it is not one.

    Example:
        >>> parse_azure_blob_url("https://acct1.blob.core.windows.net/results/run-1/")
        AzureBlobUrl(account='acct1', container='results', prefix='run-1')
        >>> parse_azure_blob_url("gs://bucket/x") is None
        True
    """
    match = _AZURE_URL.fullmatch(url.strip())
    if match is None:
        return None
    return AzureBlobUrl(match["account"], match["container"], (match["path"] or "").strip("/"))


def cloud_of_results(url: str) -> Cloud:
    """The cloud a results URL belongs to; `ConfigError` saying the accepted forms otherwise.

    Example:
        >>> cloud_of_results("s3://my-bucket/blast")
        'aws'
        >>> cloud_of_results("/data/results")
        Traceback (most recent call last):
        ...
        blastflow.errors.ConfigError: results location '/data/results' is not a bucket URL ElasticBLAST accepts: \
use gs://<bucket>/<path> (GCP), s3://<bucket>/<path> (AWS) or \
https://<account>.blob.core.windows.net/<container>/<path> (Azure). Set BLASTFLOW_ELB_RESULTS.
    """
    problems = _results_problems(url)
    if problems:
        raise ConfigError(" ".join(p.text for p in problems) + " Set BLASTFLOW_ELB_RESULTS.")
    return _cloud_prefix(url)  # type: ignore[return-value]


def results_for_job(base: str, job_id: str) -> str:
    """The job's own results location under the profile's base (ElasticBLAST wants one per search).

    Example:
        >>> results_for_job("gs://bkt/blast/", "0d6c")
        'gs://bkt/blast/0d6c'
    """
    return f"{base.strip().rstrip('/')}/{job_id}"


def db_label(db: str) -> str:
    """The database name as it appears in result file names (`batch_000-blastn-<label>.out.gz`).

    Example:
        >>> db_label("https://acct.blob.core.windows.net/dbs/fire_ant/prot"), db_label("swissprot")
        ('prot', 'swissprot')
    """
    return db.rstrip("/").rsplit("/", 1)[-1]


def check_options(options: Sequence[str], program: str) -> None:
    """Raise `InputError` for BLAST options ElasticBLAST rejects (in its own words) or the pipeline sets itself.

    Example:
        >>> check_options(["-word_size", "11", "-dust", "no"], "blastn")
        >>> check_options(["-remote"], "blastn")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        blastflow.errors.InputError: The BLAST+ option '-remote' is not supported in ElasticBLAST. Please remove ...
    """
    problems = _option_problems(options, program)
    if problems:
        raise InputError(" ".join(p.text for p in problems))


def build_config(search: ElbSearch, profile: ElbProfile) -> configparser.ConfigParser:
    """The `.ini` for one search: `[cloud-provider]`, `[cluster]` and `[blast]`.

    Values are stored as ElasticBLAST will read them (its ConfigParser interpolates `%`).
    """
    cfg = configparser.ConfigParser(interpolation=None)
    cloud = _cloud_prefix(search.results)
    provider: dict[str, str | None] = {}
    if cloud == "gcp":
        provider = {"gcp-project": profile.gcp_project, "gcp-region": profile.gcp_region, "gcp-zone": profile.gcp_zone}
    elif cloud == "aws":
        provider = {"aws-region": profile.aws_region}
    elif cloud == "azure":
        provider = {
            "azure-region": profile.azure_region,
            "azure-resource-group": profile.azure_resource_group,
            "azure-storage-account": profile.azure_storage_account,
            "azure-storage-account-container": profile.azure_storage_account_container,
            "azure-acr-name": profile.azure_acr_name,
            "azure-acr-resource-group": profile.azure_acr_resource_group,
        }
    cluster = {
        "name": profile.cluster_name,
        "machine-type": profile.machine_type,
        "num-nodes": _text(profile.num_nodes),
        "num-cpus": _text(profile.num_cpus),
        "pd-size": profile.pd_size,
        "use-preemptible": None if profile.use_preemptible is None else ("yes" if profile.use_preemptible else "no"),
        "labels": profile.labels,
    }
    batch_len = search.batch_len or profile.batch_len  # None: ElasticBLAST's tuner decides
    blast = {
        "program": search.program,
        "db": search.db,
        "queries": search.queries,
        "results": search.results,
        "options": shlex.join(search.options) if search.options else None,
        "batch-len": _text(batch_len),
        "mem-request": profile.mem_request,
        "mem-limit": profile.mem_limit,
    }
    for section, values in (("cloud-provider", provider), ("cluster", cluster), ("blast", blast)):
        given = {key: value for key, value in values.items() if value is not None and value != ""}
        if given:
            cfg.add_section(section)
        for key, value in given.items():
            cfg.set(section, key, value.replace("%", "%%"))
    return cfg


def render_config(cfg: configparser.ConfigParser) -> str:
    """The `.ini` text.

    Example:
        >>> cfg = configparser.ConfigParser(interpolation=None)
        >>> cfg.read_dict({"blast": {"program": "blastp"}})
        >>> render_config(cfg)
        '[blast]\\nprogram = blastp\\n'
    """
    out = io.StringIO()
    cfg.write(out)
    return out.getvalue().rstrip("\n") + "\n"


def read_config(text: str) -> configparser.ConfigParser:
    """Parse `.ini` text the way ElasticBLAST does (`%%` reads as `%`)."""
    cfg = configparser.ConfigParser()
    cfg.read_string(text)
    return cfg


def config_problems(cfg: configparser.ConfigParser) -> list[_Problem]:
    """Everything ElasticBLAST would reject in `cfg` (read with `read_config`)."""
    problems: list[_Problem] = []
    blast = cfg["blast"] if cfg.has_section("blast") else {}
    for key in ("program", "db", "queries", "results"):
        if not blast.get(key, "").strip():
            kind = "config" if key == "results" else "input"
            problems.append(_Problem(kind, f"[blast] {key} is required."))
    program = blast.get("program", "").strip().lower()
    if program and program not in SUPPORTED_PROGRAMS:
        problems.append(_Problem("input", f"BLAST program {program!r} is not supported by ElasticBLAST."))
    options = blast.get("options", "")
    try:
        problems += _option_problems(shlex.split(options), program)
    except ValueError as exc:
        problems.append(_Problem("input", f"BLAST options {options!r} cannot be parsed: {exc}."))
    for key in ("batch-len",):
        if key in blast and not _positive_int(blast[key]):
            problems.append(_Problem("input", f"[blast] {key} must be a positive integer, not {blast[key]!r}."))
    for key in ("mem-request", "mem-limit"):
        if key in blast and not _MEMORY.fullmatch(blast[key]):
            problems.append(_Problem("config", f"[blast] {key} must be a memory size like 8G, not {blast[key]!r}."))
    results = blast.get("results", "").strip()
    if results:
        problems += _results_problems(results)
        if not _results_problems(results):
            problems += _provider_problems(cfg, _cloud_prefix(results), results)  # type: ignore[arg-type]
    cluster = cfg["cluster"] if cfg.has_section("cluster") else {}
    for key in ("num-nodes", "num-cpus"):
        if key in cluster and not _positive_int(cluster[key]):
            problems.append(_Problem("config", f"[cluster] {key} must be a positive integer, not {cluster[key]!r}."))
    if cluster.get("labels"):
        problems += _label_problems(cluster["labels"], _cloud_prefix(results))
    return problems + _cluster_name_problems(cluster.get("name", ""), _cloud_prefix(results))


def validate_config(cfg: configparser.ConfigParser) -> None:
    """Raise one error listing every problem: `InputError` if any is the user's, else `ConfigError`."""
    problems = config_problems(cfg)
    if not problems:
        return
    text = "ElasticBLAST would reject this search: " + " ".join(p.text for p in problems)
    if any(p.kind == "input" for p in problems):
        raise InputError(text)
    raise ConfigError(text + " Fix the BLASTFLOW_ELB_* settings of the cluster profile.")


def _option_problems(options: Sequence[str], program: str) -> list[_Problem]:
    problems = _task_problems(options, program)
    rejected = sorted({option.split("=", 1)[0] for option in options} & ELB_REJECTED_OPTIONS)
    if rejected:  # elb_config.py BlastConfig.validate's sentence
        quoted = ", ".join(f"'{name}'" for name in rejected)
        text = (
            f"The BLAST+ option {quoted} is not supported in ElasticBLAST. Please remove this command line option"
            if len(rejected) == 1
            else f"The BLAST+ options {quoted} are not supported in ElasticBLAST. Please remove these command line"
            " options"
        )
        problems.append(_Problem("input", text + " from your configuration and try again."))
    for option in options:
        name = option.split("=", 1)[0]
        if name in CONTROLLED and name not in SEARCH_PARAMETER_OPTIONS and name not in ELB_REJECTED_OPTIONS:
            problems.append(_Problem("input", f"BLAST option {name} is not allowed: {CONTROLLED[name]}."))
        if _UNSAFE_OPTION_CHARS.search(option):
            problems.append(
                _Problem(
                    "input",
                    f"BLAST option value {option!r} contains a character ElasticBLAST "
                    "cannot pass on (quote, backslash, $, `, ;, |, &, <, > or newline).",
                )
            )
    return problems


def _task_problems(options: Sequence[str], program: str) -> list[_Problem]:
    """ElasticBLAST's -task rule (util.py `check_user_provided_blast_options`), in its words."""
    if "-task" not in options or options.index("-task") + 1 >= len(options):
        return []
    task, text = options[options.index("-task") + 1], shlex.join(options)
    if program not in ELB_TASKS:
        said = f"{program} does not support the task command line parameter."
    elif task.lower() not in ELB_TASKS[program]:
        said = f"Allowed task values for {program} are {list(ELB_TASKS[program])}."
    else:
        return []
    return [_Problem("input", f'Incorrect -task option in "{text}". {said}')]


def _label_problems(labels: str, cloud: Cloud | None) -> list[_Problem]:
    """ElasticBLAST's label rules (elb_config.py `create_labels`), in its words: `key=value,...`."""
    problems = []
    pairs = labels.split(",")
    for pair in pairs:
        tokens = pair.split("=")
        if len(tokens) != 2:
            text = f'labels configuration "{pairs}" is incorrect, please refer to the documentation for help'
            return [_Problem("config", text)]
        key, value = tokens
        if cloud == "gcp":
            limit = f"must have all lower case characters and have less than {GCP_MAX_LABEL_LENGTH + 1} characters"
            for kind, text in (("Key", key), ("Value", value)):
                if re.search(r"[A-Z]", text) or len(text) > GCP_MAX_LABEL_LENGTH:
                    problems.append(_Problem("config", f'{kind} "{text}" {limit}'))
        elif cloud == "aws" and len(key) > AWS_MAX_TAG_LENGTH:
            problems.append(_Problem("config", f'Key "{key}" must have less than {AWS_MAX_TAG_LENGTH + 1} characters'))
    return problems


def _cluster_name_problems(name: str, cloud: Cloud | None) -> list[_Problem]:
    """ElasticBLAST's cluster-name rules, in its words: lower case on every cloud (elb_config.py `create_labels`),
    and on GCP a GKE name (util.py `validate_gke_cluster_name`); on AWS and Azure we keep the GKE rule, in ours."""
    if not name:
        return []
    if re.search(r"[A-Z]", name):
        return [_Problem("config", f"cluster name {name} must have all lower case characters")]
    if _GKE_CLUSTER_NAME.fullmatch(name):
        return []
    if cloud == "gcp":
        text = (
            f'"{name}" is not a valid GKE cluster name. The string must be less than 40 characters and can only '
            "contain lowercase letters, digits, and dashes."
        )
    else:
        text = (
            f"[cluster] name {name!r} must be at most 40 lowercase letters, digits and dashes, starting with a letter."
        )
    return [_Problem("config", text)]


def _cloud_prefix(url: str) -> Cloud | None:
    if url.startswith("gs://"):
        return "gcp"
    if url.startswith("s3://"):
        return "aws"
    if url.startswith("https://") and ".blob.core.windows.net" in url:
        return "azure"
    return None


def _results_problems(url: str) -> list[_Problem]:
    url = url.strip()
    cloud = _cloud_prefix(url)
    if cloud is None:
        return [
            _Problem(
                "config", f"results location {url!r} is not a bucket URL ElasticBLAST accepts: use {_RESULTS_FORMS}."
            )
        ]
    if cloud == "azure":
        parsed = parse_azure_blob_url(url)
        if parsed is None or not _AZURE_ACCOUNT.fullmatch(parsed.account):
            return [
                _Problem(
                    "config",
                    f"results location {url!r} must be https://<account>.blob.core.windows.net/"
                    "<container>/<path> with a storage account name of 3-24 lowercase letters "
                    "and digits.",
                )
            ]
        if not _AZURE_CONTAINER.fullmatch(parsed.container):
            return [
                _Problem(
                    "config",
                    f"results container {parsed.container!r} must be 3-63 lowercase letters, digits and single dashes.",
                )
            ]
        return []
    bucket = url[5:].split("/", 1)[0]
    pattern = _GCS_BUCKET if cloud == "gcp" else _S3_BUCKET
    if not pattern.fullmatch(bucket):
        return [
            _Problem(
                "config",
                f"bucket name {bucket!r} in {url!r} must be lowercase letters, digits, dashes "
                "and dots, beginning and ending with a letter or digit.",
            )
        ]
    return []


def _provider_problems(cfg: configparser.ConfigParser, cloud: Cloud, results: str) -> list[_Problem]:
    section = cfg["cloud-provider"] if cfg.has_section("cloud-provider") else {}
    problems = []
    present = {key.split("-")[0] for key in section} & set(_PROVIDER_KEYS)
    others = sorted(present - {cloud})
    if others:
        problems.append(
            _Problem(
                "config",
                f"[cloud-provider] has keys for {', '.join(others)} but the results "
                f"location is on {cloud}; ElasticBLAST uses one cloud provider.",
            )
        )
    missing = [k for k in _PROVIDER_KEYS[cloud] if not section.get(k, "").strip()]
    if missing:
        env = ", ".join("BLASTFLOW_ELB_" + k.replace("-", "_").upper() for k in missing)
        problems.append(
            _Problem(
                "config", f"[cloud-provider] needs {', '.join(missing)} for results on {cloud} (set {env})."
            )
        )
    account = section.get("azure-storage-account", "").strip()
    parsed = parse_azure_blob_url(results) if cloud == "azure" else None
    if parsed is not None and account and parsed.account != account:
        problems.append(
            _Problem(
                "config",
                f"results location is in storage account {parsed.account!r} but "
                f"azure-storage-account is {account!r}; they must be the same.",
            )
        )
    return problems


def _positive_int(text: str) -> bool:
    return text.strip().isdigit() and int(text) > 0


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)
