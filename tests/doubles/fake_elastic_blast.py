"""TEST DOUBLE of the AZURE FORK of ElasticBLAST's `elastic-blast` CLI (submit, status, delete), over the fake cluster.

The fork (dotnetpower/elastic-blast-azure) cannot be installed from a registry; upstream `elastic-blast` 1.5.0,
which the GCP/AWS tests run for real, has no Azure support. This double imitates the fork at ref 7a47129, the
ref its own docker-openapi/Dockerfile installs (`ARG ELB_REF=7a471297`; the fork's HEAD has no
bin/elastic-blast). Every behaviour below names the fork file:line it comes from (paths under
src/elastic_blast/ unless they start with bin/ or docker-; "facts" is
/work/shared/reference/elastic-blast-facts.md). Read it with
`git --git-dir=<mirror> show 7a47129:<path>` after fetching github:dotnetpower/elastic-blast-azure.

- Arguments: bin/elastic-blast:238-361 (usage errors exit 1, line 361) and commands/status.py:36-48.
- Logging: util.py:446-501. `--logfile stderr` sends every record at the log level (DEBUG by default,
  constants.py:460; ELB_LOGLEVEL / ELB_LOGFILE, util.py:458-468) to stderr as `%(asctime)s %(levelname)s:
  %(message)s`, UTC microseconds (util.py:454-456, 427-443); otherwise records go to `elastic-blast.log` in the
  working directory and WARNING and above to stderr as `%(levelname)s: %(message)s`. No colours in log records.
  boto/urllib3 loggers are silenced (util.py:500-501), the `azure` loggers are not: the Azure SDK's request and
  response records appear (here produced by azure-core's own HttpLoggingPolicy, for a subset of the ARM calls
  the fork makes; the api-version in their URLs is not verified).
- stdout: only the fork's `print`s, each coloured yellow: `\\x1b[33m[1/5] Writing configuration to
  <results>/<elb_job_id>/metadata/elastic-blast-config.json\\x1b[0m` (commands/submit.py:118),
  `\\x1b[33m Splitting queries into batches\\x1b[0m` (submit.py:268), `\\x1b[33m Upload workfiles\\x1b[0m`
  (elasticblast.py:103); status prints its result (commands/status.py:85-100). `[parallel-prep] running 4 azcopy
  checks concurrently` (facts) exists only after the pinned ref (fork commit f762962, at HEAD, which has no
  CLI script): the installed fork never prints it.
- Configuration: config.py:112-184 (the ini, then ELB_* and AZURE_* variables, config.py:72-109 — including
  the fork's bug that AZURE_ACR_NAME sets azure-resource-group, line 97-98 — then --results); an unknown key
  exits 1 `Unrecognized configuration parameter "<key>" in section "<section>". Please, ensure that parameter
  names are properly spelled and placed in appropriate sections.` (elb_config.py:1144-1169; known keys: the
  mappings of elb_config.py, the fork's Azure keys included); a missing required key exits 1 `Missing <key>`
  (base.py:227-244); no cloud-provider key at all exits 1 (config.py:187-215). Without `azure-acr-name` the
  image is `elb-unknown-azure-acr-name.azurecr.io/ncbi/elb:1.4.0` (elb_config.py:892, constants.py:235-252),
  which no node can pull. The default cluster name is `elasticblast-<user>-<md5(results)[:9]>`
  (elb_config.py:1369-1372, 156-162); `elb_job_id` is `job-<uuid4 hex>`, new in every process
  (elb_config.py:312).
- submit (commands/submit.py:125-196, azure.py:812-849, 1190-1249): refuses with exit 8 and the resubmission
  message (util.py:671-691) when `<results>/metadata/disk-id.txt` exists or the cluster of that name exists
  (submit.py:140-142, 199-235, unless `[cluster] reuse`); writes the config, splits the queries, uploads the
  batches under `<results>/<elb_job_id>/query_batches/`, creates the AKS cluster (a refused creation exits 8
  `Failed to create AKS cluster <name>: <ARM error>`, azure.py:238-241), applies the setup, job-submission and
  finalizer jobs, and returns: the BLAST jobs come later (fake_cluster.py).
- status (commands/status.py:53-101, azure.py:1514-1622): reads `<results>/metadata/FAILURE.txt` and
  `SUCCESS.txt` (elasticblast.py:111-148), although the fork's pods write under `<results>/<elb_job_id>/`
  (facts); then the cluster: missing → UNKNOWN (6) + `Cluster "<name>" was not found`; Creating/Updating/Starting
  → SUBMITTING (3); another state → exit 8 `Cluster "<name>" is not responding. Try again in a few minutes.`;
  else the `app=blast` jobs of the whole cluster, every submission's: any Failed → FAILURE (1, the failure
  sentence only); any running or pending → RUNNING (4, `Pending N`…); all Complete → SUCCESS (0); none (setup
  still running, or every job deleted by its TTL) → SUBMITTING (3). A kubectl refusal is swallowed
  (azure.py:1576-1578, 1620-1621) and logged as a WARNING: the search reads SUBMITTING. `--exit-code` without
  `--verbose` prints nothing (status.py:88 compares an int to an enum). One status call is one observation of the
  cluster.
- delete (commands/delete.py:34-39, azure.py:888-893, 1897-1937): without `[cluster] reuse`, deletes the whole
  AKS cluster, every submission's jobs with it (the multi-submission guard needs a cached kubectl context, which
  a fresh process never has, azure.py:1965-1974); a missing cluster exits 8 `Cluster <name> was not found`
  (azure.py:2043-2048) unless the top-level markers exist; with `reuse` it deletes the jobs labelled with this
  process's new elb_job_id, i.e. none (azure.py:1015-1035, 1638-1643).
- Exit codes: UserReportError's code (bin/elastic-blast:95-104); KeyboardInterrupt 9.

Not imitated: the tuner (without batch-len the whole query is one batch; the fork's re-split to fill the
cluster, submit.py:287-293, is left out), the time/cost prediction log records, the config dump at DEBUG
(bin/elastic-blast:88), database metadata checks (the databases are local BLAST+ databases found through
BLASTDB, standing in for the cluster's download), role assignments, `--json` / `--idempotency-key`.

Real BLAST+ runs each batch during `submit` (standing in for the pods' runs, blast-run-aks.sh), so the
archives the cluster exports are real format-11 archives (real BLAST+ writes one even when it fails).

Environment: FAKE_ELB_STATE (the fake cluster directory, required), FAKE_ELB_SCENARIO (overrides the
cluster's scenario), FAKE_ELB_HANDSHAKE (a test hook, not fork behaviour: after its first stdout line submit
waits for this file to appear, at most FAKE_ELB_HANDSHAKE_TIMEOUT seconds, and logs whether it did, which lets
a test see whether that line was delivered while the child still ran), ELB_JOB_TTL_SECONDS (see
fake_cluster.py).

Run as `python -m tests.doubles.fake_elastic_blast` with the repository root on PYTHONPATH: the
`fake_elastic_blast` fixture puts a launcher that does so first on PATH as `elastic-blast`.
"""

from __future__ import annotations

import argparse
import configparser
import getpass
import hashlib
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.doubles.fake_cluster import FakeCluster

VERSION = "1.5.0"  # the fork's version comes from git (setup.cfg [auto-version]); it is based on 1.5.0
NO_TASK_MSG = (  # bin/elastic-blast:57-59
    "Elastic-BLAST task was not specified. Please, use submit, status, delete, run-summary, or prepare.\n"
    "usage: elastic-blast [-h] [--version] {submit,status,delete,run-summary,prepare} --cfg <config file> [options]"
)
FAILURE_MESSAGE = (  # commands/status.py:50
    "Your ElasticBLAST search failed, please help us improve ElasticBLAST by reporting this failure as described in "
    "https://blast.ncbi.nlm.nih.gov/doc/elastic-blast/support.html"
)
STATUS = {"SUCCESS": 0, "FAILURE": 1, "CREATING": 2, "SUBMITTING": 3, "RUNNING": 4, "DELETING": 5, "UNKNOWN": 6}
INPUT_ERROR, PERMISSIONS_ERROR, DEPENDENCY_ERROR, CLUSTER_ERROR, INTERRUPT_ERROR, UNKNOWN_ERROR = 1, 6, 7, 8, 9, 255
YELLOW, RESET = "\033[33m", "\033[0m"
# Every key the fork maps (elb_config.py ParamInfo entries), by section.
KNOWN_KEYS = {
    "cloud-provider": {
        "aks-version", "aws-auto-shutdown-role", "aws-batch-service-role", "aws-instance-role",
        "aws-janitor-copy-zips-role", "aws-janitor-execution-role", "aws-job-role", "aws-key-pair", "aws-region",
        "aws-security-group", "aws-spot-fleet-role", "aws-subnet", "aws-vpc", "azure-acr-name",
        "azure-acr-resource-group", "azure-region", "azure-resource-group", "azure-storage-account",
        "azure-storage-account-container", "azure-storage-account-key", "azure-subnet", "azure-system-vm-size",
        "azure-vnet", "gcp-network", "gcp-project", "gcp-region", "gcp-subnetwork", "gcp-zone", "gke-version",
    },
    "blast": {
        "batch-len", "blastdb-src", "db", "db-auto-partition", "db-memory-margin", "db-partition-prefix",
        "db-partitions", "mem-limit", "mem-request", "min-qsize-for-client-split-compressed",
        "min-qsize-for-client-split-uncompressed", "options", "program", "queries", "results",
    },
    "cluster": {
        "bid-percentage", "disk-type", "dry-run", "enable-stackdriver", "exp-use-local-ssd", "labels",
        "machine-type", "name", "num-cpus", "num-nodes", "pd-size", "provisioned-iops", "reuse", "storage-class",
        "use-preemptible",
    },
    "timeouts": {"blast-k8s-job", "init-pv"},
}  # fmt: skip
# config.py:72-109: environment variable → (section, key). AZURE_ACR_NAME really sets azure-resource-group.
ENV_OVERRIDES = {
    "ELB_GCP_PROJECT": ("cloud-provider", "gcp-project"), "CLOUDSDK_CORE_PROJECT": ("cloud-provider", "gcp-project"),
    "ELB_GCP_REGION": ("cloud-provider", "gcp-region"), "ELB_GCP_ZONE": ("cloud-provider", "gcp-zone"),
    "ELB_BATCH_LEN": ("blast", "batch-len"), "ELB_CLUSTER_NAME": ("cluster", "name"),
    "ELB_RESULTS": ("blast", "results"), "ELB_USE_PREEMPTIBLE": ("cluster", "use-preemptible"),
    "ELB_BID_PERCENTAGE": ("cluster", "bid-percentage"),
    "AZURE_ACR_RESOURCE_GROUP": ("cloud-provider", "azure-acr-resource-group"),
    "AZURE_ACR_NAME": ("cloud-provider", "azure-resource-group"),
    "AZURE_RESOURCE_GROUP": ("cloud-provider", "azure-resource-group"),
    "AZURE_REGION": ("cloud-provider", "azure-region"),
    "AZURE_STORAGE_ACCOUNT": ("cloud-provider", "azure-storage-account"),
    "AZURE_STORAGE_ACCOUNT_CONTAINER": ("cloud-provider", "azure-storage-account-container"),
    "AZURE_STORAGE_ACCOUNT_KEY": ("cloud-provider", "azure-storage-account-key"),
}  # fmt: skip
# azure.py:587-603: threads per pod when num-cpus is left at its default of 16 (apply_profile, 716-717).
_PROFILE_THREADS = {"cost": 2, "balanced": 8, "performance": 16}
_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
_AKS_API_VERSION = "2024-10-01"
_DB_SIZE_RE = re.compile(r"([\d,]+) total (?:residues|bases)")


class UserReportError(Exception):
    """util.py:516-523: an error the user sees as `ERROR: <message>`, exiting with `returncode`."""

    def __init__(self, returncode: int, message: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.message = message


@dataclass
class Config:
    """What the double needs of the fork's ElasticBlastConfig."""

    results: str
    program: str
    db: str
    queries: str
    options: str
    batch_len: int | None
    cluster: str
    reuse: bool
    num_cpus: int
    num_nodes: int
    machine_type: str
    region: str
    resource_group: str
    acr_name: str
    image: str
    labels: str
    elb_job_id: str


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """bin/elastic-blast:61-113."""
    try:
        args = _parser().parse_args(argv)
        if not args.subcommand:
            raise UserReportError(INPUT_ERROR, NO_TASK_MSG)
        _config_logging(args)
        parser = _configure(args)
        logging.info(f"ElasticBLAST {args.subcommand} {VERSION}")
        logging.info(f"python version: {':'.join(sys.version.split())}")
        logging.debug("aws --version")  # aws.py:151-159 check_auxiliary_versions, through safe_exec
        logging.debug("Could not check awscli version")
        cfg = _elastic_blast_config(parser, args.subcommand)
        state_dir = os.environ.get("FAKE_ELB_STATE")
        if not state_dir:
            raise UserReportError(UNKNOWN_ERROR, "TEST DOUBLE fake_elastic_blast: FAKE_ELB_STATE is not set")
        return args.func(args, cfg, FakeCluster(Path(state_dir)))
    except UserReportError as exc:  # bin/elastic-blast:95-104
        logging.error(exc.message)
        return exc.returncode
    except KeyboardInterrupt:
        return INTERRUPT_ERROR


class _ElbArgumentParser(argparse.ArgumentParser):
    """bin/elastic-blast:349-361: usage errors exit with INPUT_ERROR (1), not argparse's 2."""

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if status:
            super().exit(INPUT_ERROR, message)
        super().exit()

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(INPUT_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    """bin/elastic-blast:238-346 and commands/status.py:36-48."""
    parser = _ElbArgumentParser(prog="elastic-blast")
    parser.add_argument("--version", action="version", version=f"elastic-blast {VERSION}")
    common = _ElbArgumentParser(add_help=False)
    for flag in ("--aws-region", "--gcp-project", "--gcp-region", "--gcp-zone", "--azure-region"):
        common.add_argument(flag)
    common.add_argument("--cfg", metavar="FILE", type=_file_must_exist)
    common.add_argument("--results", type=str)
    common.add_argument("--json", action="store_true")
    common.add_argument("--idempotency-key", type=str, default=None)
    common.add_argument("--correlation-id", type=str, default=None)
    common.add_argument("--force", action="store_true")
    common.add_argument("--logfile", default=argparse.SUPPRESS, type=str)
    common.add_argument("--loglevel", default=argparse.SUPPRESS, choices=["DEBUG", "INFO", "WARNING", "ERROR",
                                                                          "CRITICAL"])  # fmt: skip
    common.add_argument("--dry-run", action="store_true")
    sub = parser.add_subparsers(dest="subcommand")
    sub.add_parser("submit", parents=[common]).set_defaults(func=_submit)
    status = sub.add_parser("status", parents=[common])
    status.add_argument("--wait", action="store_true")
    status.add_argument("--verbose", default=False, action="store_true")
    status.add_argument("--exit-code", default=False, action="store_true")
    status.add_argument("--command", default=False, action="store_true")
    status.set_defaults(func=_status)
    sub.add_parser("delete", parents=[common]).set_defaults(func=_delete)
    for name in ("run-summary", "prepare"):
        sub.add_parser(name, parents=[common]).set_defaults(func=_not_imitated)
    return parser


def _file_must_exist(path: str) -> str:
    """bin/elastic-blast:128-142."""
    if os.path.isfile(path):
        return path
    raise argparse.ArgumentTypeError(f"File {path} was not found")


def _config_logging(args: argparse.Namespace) -> None:
    """util.py:446-501."""
    level = getattr(args, "loglevel", None) or os.environ.get("ELB_LOGLEVEL", "DEBUG")
    logfile = getattr(args, "logfile", None) or os.environ.get("ELB_LOGFILE", "elastic-blast.log")
    logger = logging.getLogger()
    logger.setLevel(level)
    file_format = _K8sTimestampFormatter("%(asctime)s %(levelname)s: %(message)s", "%Y-%m-%dT%H:%M:%S.%fZ")
    if logfile == "stderr":
        handler = logging.StreamHandler()
        handler.setFormatter(file_format)
        logger.addHandler(handler)
    else:
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(console)
        to_file = logging.FileHandler(logfile, mode="a")
        to_file.setLevel(level)
        to_file.setFormatter(file_format)
        logger.addHandler(to_file)
    for name in ("boto3", "botocore", "urllib3", "s3transfer", "awslimitchecker"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class _K8sTimestampFormatter(logging.Formatter):
    """util.py:427-443: UTC timestamps with microseconds."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).strftime(datefmt or "%Y-%m-%d %H:%M:%S.%f")


def _configure(args: argparse.Namespace) -> configparser.ConfigParser:
    """config.py:112-184: defaults, the ini, then the environment, then the command line."""
    cfg = configparser.ConfigParser(empty_lines_in_values=False)
    for section in ("cloud-provider", "cluster", "blast", "timeouts", "app-state"):  # config.py:58-69
        cfg.add_section(section)
    if args.cfg:
        logging.debug(f"Reading {args.cfg}")
        cfg.read(args.cfg)
    for variable, (section, key) in ENV_OVERRIDES.items():
        if variable in os.environ:
            cfg[section][key] = os.environ[variable]
    if args.results:
        cfg["blast"]["results"] = args.results
    if args.dry_run:
        cfg["cluster"]["dry-run"] = "yes"
    return cfg


# -- configuration -----------------------------------------------------------------------------
def _elastic_blast_config(cfg: configparser.ConfigParser, task: str) -> Config:
    """The parts of elb_config.py ElasticBlastConfig.__init__ the double needs, in its order."""
    _refuse_unknown_keys(cfg)
    _validate_csp(cfg)
    blast = cfg["blast"]
    if not blast.get("results"):
        raise UserReportError(INPUT_ERROR, "Missing results")  # base.py:227-244 (ClusterConfig)
    results = blast["results"].rstrip("/")
    if not results.startswith("https://"):
        raise UserReportError(UNKNOWN_ERROR, "TEST DOUBLE fake_elastic_blast imitates the Azure fork only: results "
                                             f"must be an Azure Blob URL (https://…), not {results!r}")  # fmt: skip
    missing = [key for key in ("program", "db", "queries") if task == "submit" and not blast.get(key)]
    if missing:
        raise UserReportError(INPUT_ERROR, "\n".join(f"Missing {key}" for key in missing))
    provider, cluster = cfg["cloud-provider"], cfg["cluster"]
    name = cluster.get("name") or _default_cluster_name(results)
    if re.search(r"[A-Z]", name):  # elb_config.py:1390-1391 (create_labels)
        raise UserReportError(INPUT_ERROR, f"cluster name {name} must have all lower case characters")
    acr_name = provider.get("azure-acr-name", "elb-unknown-azure-acr-name")  # constants.py:235
    options = blast.get("options", "")
    options += "" if "-outfmt" in options else " -outfmt 11"  # elb_config.py:559-560
    return Config(
        results=results, program=blast.get("program", ""), db=blast.get("db", ""), queries=blast.get("queries", ""),
        options=options.strip(), batch_len=int(blast["batch-len"]) if blast.get("batch-len") else None,
        cluster=name, reuse=cluster.getboolean("reuse", fallback=False), num_cpus=int(cluster.get("num-cpus", "16")),
        num_nodes=int(cluster.get("num-nodes", "1")), machine_type=cluster.get("machine-type", "Standard_E32s_v5"),
        region=provider.get("azure-region", "eastus"),
        resource_group=provider.get("azure-resource-group", "elb-unknown-azure-resourcegroup"),
        acr_name=acr_name, image=f"{acr_name}.azurecr.io/ncbi/elb:1.4.0", labels=cluster.get("labels", ""),
        elb_job_id="job-" + uuid.uuid4().hex,
    )  # fmt: skip


def _refuse_unknown_keys(cfg: configparser.ConfigParser) -> None:
    """elb_config.py:1144-1169."""
    for section in cfg:
        for key in cfg[section]:
            if key not in KNOWN_KEYS.get(section, ()):
                raise UserReportError(
                    INPUT_ERROR,
                    f'Unrecognized configuration parameter "{key}" in section "{section}". Please, ensure that '
                    "parameter names are properly spelled and placed in appropriate sections.",
                )


def _validate_csp(cfg: configparser.ConfigParser) -> None:
    """config.py:187-215: exactly one provider's keys (Azure's win over the others)."""
    keys = list(cfg["cloud-provider"])
    azure = any(k.startswith("azure") for k in keys)
    gcp = not azure and any(k.startswith("gcp") for k in keys)
    aws = not azure and any(k.startswith("aws") for k in keys)
    if (gcp and aws) or not (gcp or aws or azure):
        raise UserReportError(INPUT_ERROR, "\n".join([
            "Elastic-BLAST configuration error(s):",
            "Cloud provider config contains entries for more than one cloud provider. Only one cloud provider can be "
            "used",
            "Configuration can be set in a config file provided with --cfg option, environment variables, or command "
            "line options. Please, see documentation for details."]))  # fmt: skip


def _default_cluster_name(results: str) -> str:
    """elb_config.py:1369-1372 with CloudURI.md5 (156-162)."""
    user = re.sub(r"\W", "-", getpass.getuser().lower(), flags=re.ASCII)[:63].replace("_", "-")
    return f"elasticblast-{user}-{hashlib.md5(results.encode()).hexdigest()[:9]}"


# -- submit ------------------------------------------------------------------------------------
def _submit(args: argparse.Namespace, cfg: Config, cluster: FakeCluster) -> int:
    """commands/submit.py:125-196 with the fork's ElasticBlastAzure (azure.py)."""
    _azure_prerequisites()
    if not cfg.reuse and _used_before(cfg, cluster):  # submit.py:140-142
        raise UserReportError(CLUSTER_ERROR, _resubmission_message(cfg.results))
    queries = Path(cfg.queries)
    if not queries.is_file():  # submit.py:248-251
        raise UserReportError(INPUT_ERROR, f"Query input {cfg.queries} is not readable or does not exist")
    where = f"{cfg.results}/{cfg.elb_job_id}"
    state = cluster.read()
    print(f"{YELLOW}[1/5] Writing configuration to {where}/metadata/elastic-blast-config.json{RESET}")  # submit.py:118
    _handshake()
    FakeCluster.upload(state, where, "metadata/elastic-blast-config.json", json.dumps(asdict(cfg), indent=2).encode())
    logging.debug("Query split mode CLIENT")  # submit.py:155
    batches = _split_query(cfg, queries.read_text())
    _upload_workfiles(state, cfg, where, batches)
    scenario = cluster.scenario()
    _create_cluster(cfg, cluster, scenario)
    records = [_run_batch(cluster.directory / "work" / cfg.elb_job_id, cfg, index, text,
                          fail=(scenario == "blast_failure" and index == 0))
               for index, (text, _) in enumerate(batches)]  # fmt: skip
    cluster.add_search(cfg.results, _submission(cfg, scenario, records))
    logging.info("Submitted elb-finalizer job")  # azure.py:1137
    return 0


def _azure_prerequisites() -> None:
    """azure.py:426-439 `_sdk_check_prerequisites`, through safe_exec and azure-identity."""
    logging.debug("kubectl version --output=json --client=true")
    logging.getLogger("azure.identity._credentials.environment").info("No environment configuration found.")
    logging.getLogger("azure.identity._credentials.default").info(
        "%s acquired a token from %s", "DefaultAzureCredential", "AzureCliCredential")


def _used_before(cfg: Config, cluster: FakeCluster) -> bool:
    """submit.py:199-235: `<results>/metadata/disk-id.txt` exists, or a cluster with this name does."""
    state = cluster.read()
    if FakeCluster.read_blob(state, cfg.results, "metadata/disk-id.txt") is not None:
        return True
    found = _arm_get_cluster(cfg, state)
    if found:
        logging.error(f"Previous instance of cluster {cfg.cluster} is still {found}")  # submit.py:231-233
        return True
    return False


def _resubmission_message(results: str) -> str:
    """util.py:671-691 for Azure."""
    return (f"An ElasticBLAST search that will write results to {results} has already been submitted.\n"
            'Please resubmit your search with a different value for "results" configuration parameter, or save '
            "the ElasticBLAST results and then either delete the previous ElasticBLAST search by running "
            f'elastic-blast delete, or run the command azcopy rm {results} --recursive or delete "disk-id.txt" file')


def _split_query(cfg: Config, text: str) -> list[tuple[str, int]]:
    """submit.py:259-296 (client split); the split is FASTAReader's: no sequence is ever cut."""
    logging.info("Splitting queries into batches")
    print(f"{YELLOW} Splitting queries into batches{RESET}")
    start = time.monotonic()
    if cfg.batch_len is not None:
        logging.debug(f"User provided batch length {cfg.batch_len}")  # elb_config.py:1014
        logging.debug("User provided batch length, will not re-compute it")  # elb_config.py:1353-1355
        logging.debug("Maximum number of concurrent BLAST jobs: -1")
    batches = _split(text, cfg.batch_len or 5_000_000)
    logging.info(f"{len(batches)} batches, {sum(length for _, length in batches)} base/residue total")
    logging.debug(f"RUNTIME split-queries {time.monotonic() - start} seconds")
    return batches


def _split(text: str, batch_len: int) -> list[tuple[str, int]]:
    """Batches of at most batch_len residues, never cutting a sequence (split.py FASTAReader)."""
    batches: list[tuple[str, int]] = []
    chunk: list[str] = []
    chunk_len = 0
    for record in (">" + part for part in text.split(">")[1:]):
        length = sum(len(line.strip()) for line in record.splitlines()[1:])
        if chunk and chunk_len + length > batch_len:
            batches.append(("".join(chunk), chunk_len))
            chunk, chunk_len = [], 0
        chunk.append(record if record.endswith("\n") else record + "\n")
        chunk_len += length
    if chunk:
        batches.append(("".join(chunk), chunk_len))
    return batches


def _upload_workfiles(state: dict, cfg: Config, where: str, batches: list[tuple[str, int]]) -> None:
    """elasticblast.py:99-109 (azcopy through safe_exec, filehelper.py:156-163), then the query length (azure.py)."""
    print(f"{YELLOW} Upload workfiles{RESET}")
    logging.debug(f"azcopy cp /tmp/tmp{cfg.elb_job_id[-8:]}/* {where}/query_batches/ --recursive=true")
    for index, (text, _) in enumerate(batches):
        FakeCluster.upload(state, where, f"query_batches/batch_{index:03d}.fa", text.encode())
    FakeCluster.upload(state, where, "metadata/query_length.txt", str(sum(n for _, n in batches)).encode())


def _create_cluster(cfg: Config, cluster: FakeCluster, scenario: str) -> None:
    """azure.py:1190-1249 `_initialize_cluster` (and 198-244 `_sdk_start_cluster`).

    The cost and balanced (default) optimization profiles turn `reuse` on (azure.py:724-725) before this runs:
    an existing cluster is then used as it is, and a failed creation registers no clean-up.
    """
    profile = os.environ.get("ELB_OPTIMIZATION", "balanced").lower()
    logging.info(f"Applied optimization profile: {profile}")  # azure.py:726
    reuse = cfg.reuse or profile in ("cost", "balanced")
    base = _cluster_path(cfg)
    if not (_arm_get_cluster(cfg, cluster.read()) and reuse):  # azure.py:1214-1217
        logging.info(f"Creating AKS cluster {cfg.cluster} in {cfg.resource_group} ({cfg.machine_type} x "
                     f"{cfg.num_nodes})")  # azure.py:234
        if scenario == "submit_failure":
            said = _quota_error(cfg)
            _arm("PUT", base, 400)
            if not reuse:  # the clean-up stack's delete_cluster_with_cleanup(allow_missing=True), azure.py:2041-2043
                logging.info(f"Cluster {cfg.cluster} not found, nothing to delete")
            raise UserReportError(CLUSTER_ERROR, f"Failed to create AKS cluster {cfg.cluster}: {said}")
        _arm("PUT", base, 201)
        cluster.create_cluster(cfg.cluster, cfg.resource_group, cfg.region)
    _arm("POST", f"{base}/listClusterUserCredential", 200)  # _get_k8s_ctx
    logging.debug("kubectl config current-context")
    logging.info("Initializing storage")  # azure.py:1244


def _quota_error(cfg: Config) -> str:
    """`e.message` of the HttpResponseError azure-core (ARMErrorFormat) raises for a refused cluster creation."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.exceptions import ARMErrorFormat

    message = (f"Operation could not be completed as it results in exceeding approved standardESv5Family Cores "
               f"quota. Additional details - Deployment Model: Resource Manager, Location: {cfg.region}, Current "
               f"Limit: 10, Current Usage: 0, Additional Required: 32, (Minimum) New Limit Required: 32.")
    response = _CannedArm(400).send(HttpRequest("PUT", f"https://management.azure.com{_cluster_path(cfg)}"))
    response._content = json.dumps({"error": {"code": "QuotaExceeded", "message": message}}).encode()
    return HttpResponseError(response=response, error_format=ARMErrorFormat).message


def _run_batch(work: Path, cfg: Config, index: int, text: str, *, fail: bool) -> dict:
    """What one batch's pod will do (blast-run-aks.sh with results-export-aks.sh), with real BLAST+ run now."""
    job_num = f"{index:03d}"
    db = cfg.db.rstrip("/").rsplit("/", 1)[-1]  # util.py:316-373 get_blastdb_info
    db_safe = db.replace("/", "-")
    work.mkdir(parents=True, exist_ok=True)
    query = work / f"batch_{job_num}.fa"
    query.write_text(text)
    out = work / f"batch_{job_num}-{cfg.program}-{db_safe}.out"
    threads = _threads(cfg)
    options = shlex.split(cfg.options)
    argv = [cfg.program, "-db", f"{db}_missing" if fail else db, "-query", str(query), "-out", str(out),
            "-num_threads", "1", *options]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if out.exists():
        FakeCluster.gzip_file(out, out.with_name(out.name + ".gz"))
    said, ran = proc.stderr, argv[2]
    log = ["BASH version 5.1.16(1)-release", f"run start {job_num} {cfg.program} {ran}",
           f"{cfg.program} -db {ran} -query /blast/blastdb/queries/batch_{job_num}.fa -out "
           f"/blast/blastdb/results/batch_{job_num}-{cfg.program}-{db_safe}.out -num_threads {threads} {cfg.options}",
           *said.splitlines(), f"RUNTIME blast-job-{job_num} 1.000000 seconds", f"run end {job_num} {proc.returncode}"]
    name = _job_name(cfg, db, job_num)
    return {"index": index, "job": name, "pod": f"{name}-{hashlib.sha1(name.encode()).hexdigest()[:5]}",
            "exit_code": proc.returncode, "stderr": said, "log": "\n".join(log) + "\n",
            "export_log": _export_log(cfg, job_num, db_safe, proc.returncode),
            "output": str(out.with_name(out.name + ".gz")) if out.exists() else "",
            "runtime": _runtime(job_num, cfg.program, db, proc.returncode)}  # fmt: skip


def _threads(cfg: Config) -> int:
    """`-num_threads` of the pods: num-cpus, or the optimization profile's threads when left at 16."""
    if cfg.num_cpus != 16:
        return cfg.num_cpus
    return _PROFILE_THREADS.get(os.environ.get("ELB_OPTIMIZATION", "balanced").lower(), 8)


def _job_name(cfg: Config, db: str, job_num: str) -> str:
    """templates/blast-batch-job-aks.yaml.template:5 with util.sanitize_for_k8s for the label (util.py:526-528)."""
    label = re.sub(r"_", "-", db.lower(), flags=re.ASCII)
    return f"{cfg.program}-batch-{label}-job-{job_num}-{cfg.elb_job_id[-8:]}"


def _export_log(cfg: Config, job_num: str, db_safe: str, code: int) -> str:
    """results-export-aks.sh:16-36 under `set -ex`: bash's trace of each command."""
    results_dir, where = "/blast/blastdb/results", f"{cfg.results}/{cfg.elb_job_id}"
    result_file = f"{results_dir}/batch_{job_num}-{cfg.program}-{db_safe}.out.gz"
    return "".join(f"{line}\n" for line in (
        f"+ azcopy cp {results_dir}/BLASTDB_LENGTH.out {where}/metadata/",
        f"+ azcopy cp {results_dir}/BLAST_RUNTIME-{job_num}.out {where}/logs/",
        f"+ PERF_FILE={results_dir}/PERF_METRICS-{job_num}.log",
        f"+ '[' -f {results_dir}/PERF_METRICS-{job_num}.log ']'",
        f"+ ELB_DB_SAFE={db_safe}",
        f"+ RESULT_FILE={result_file}",
        f"+ '[' -f {result_file} ']'",
        f"+ azcopy cp {result_file} {where}/",
        f"++ cat {results_dir}/BLAST_EXIT_CODE-{job_num}.out",
        f"+ exit {code}",
    ))  # fmt: skip


def _runtime(job_num: str, program: str, db: str, code: int) -> str:
    """blast-run-aks.sh:42-59: GNU time's line, then the exit code and the end, with ELB_TIMEFMT=%s%N stamps."""
    now = f"{time.time_ns()}"
    return (f"{now} run start {job_num} {program} {db} 1.00 0.90 0.05 95%\n{now} run exitCode {job_num} {code}\n"
            f"{now} run end {job_num}\n")


def _submission(cfg: Config, scenario: str, batches: list[dict]) -> dict:
    db = cfg.db.rstrip("/").rsplit("/", 1)[-1]
    ttl = os.environ.get("ELB_JOB_TTL_SECONDS", "1800")  # fork HEAD azure.py:1114-1118
    return {"elb_job_id": cfg.elb_job_id, "cluster": cfg.cluster, "program": cfg.program, "db": db,
            "db_label": re.sub(r"_", "-", db.lower()), "image": cfg.image, "options": cfg.options,
            "pullable": cfg.acr_name != "elb-unknown-azure-acr-name", "num_cpus": _threads(cfg),
            "ttl_s": int(ttl) if ttl.isdigit() else 1800, "scenario": scenario, "db_length": _db_length(db),
            "batches": batches}  # fmt: skip


def _db_length(db: str) -> str:
    """blast-run-aks.sh:28-32: `blastdbcmd -info -db $ELB_DB | awk '/total/ {print $3}' | tr -d ,`."""
    proc = subprocess.run(["blastdbcmd", "-info", "-db", db], capture_output=True, text=True, check=False)
    found = _DB_SIZE_RE.search(proc.stdout)
    return found[1].replace(",", "") + "\n" if found else ""


def _handshake() -> None:
    """The FAKE_ELB_HANDSHAKE test hook (not fork behaviour)."""
    path = os.environ.get("FAKE_ELB_HANDSHAKE")
    if not path:
        return
    deadline = time.monotonic() + float(os.environ.get("FAKE_ELB_HANDSHAKE_TIMEOUT", "5"))
    while time.monotonic() < deadline:
        if os.path.exists(path):
            logging.info("handshake: the first stdout line was read while submit was running")
            return
        time.sleep(0.02)
    logging.info("handshake: nobody read the first stdout line while submit was running")


# -- status ------------------------------------------------------------------------------------
def _status(args: argparse.Namespace, cfg: Config, cluster: FakeCluster) -> int:
    """commands/status.py:53-101."""
    while True:
        status, counts, verbose = _check_status(cfg, cluster)
        result = status
        if status == "RUNNING" and counts and sum(counts.values()) > 0:
            result = "\n".join(f"{x} {counts[x.lower()]}" for x in ("Pending", "Running", "Succeeded", "Failed"))
        logging.debug(result)
        if not args.wait or status in ("SUCCESS", "FAILURE", "UNKNOWN"):
            break  # (the real one sleeps 20 s here; the next call is the next observation)
    code = 0
    if args.exit_code:
        code = STATUS[status]  # status.py:88 compares this int to an enum: the failure sentence is never printed
    if not args.exit_code or args.verbose:
        if status == "SUCCESS":
            print(f"Your ElasticBLAST search succeeded, results can be found in {cfg.results}")
        elif status == "FAILURE":
            print(FAILURE_MESSAGE)
            if not args.verbose and "error" in verbose:
                print(verbose["error"])
        else:
            print(result)
        if args.verbose and verbose:
            print("\n".join(verbose.values()))
    return code


def _check_status(cfg: Config, cluster: FakeCluster) -> tuple[str, dict[str, int], dict[str, str]]:
    """azure.py:1514-1553 `_check_status`."""
    state = cluster.observe()
    marker = FakeCluster.read_blob(state, cfg.results, "metadata/FAILURE.txt")  # elasticblast.py:127
    if marker is not None:
        return "FAILURE", {}, ({"error": marker.decode("utf-8", "replace")} if marker else {})
    if FakeCluster.read_blob(state, cfg.results, "metadata/SUCCESS.txt") is not None:  # elasticblast.py:141
        return "SUCCESS", {}, {}
    provisioning = _arm_get_cluster(cfg, state)
    if not provisioning:
        return "UNKNOWN", {}, {"error": f'Cluster "{cfg.cluster}" was not found'}
    if provisioning in ("Updating", "Creating", "Starting"):
        return "SUBMITTING", {}, {}
    if provisioning != "Succeeded":
        raise UserReportError(CLUSTER_ERROR, f'Cluster "{cfg.cluster}" is not responding. Try again in a few minutes.')
    _arm("POST", f"{_cluster_path(cfg)}/listClusterUserCredential", 200)
    counts = _count_blast_jobs(cfg, state)
    return _derive_status(counts), counts, {}


def _count_blast_jobs(cfg: Config, state: dict) -> dict[str, int]:
    """azure.py:1555-1583, 1601-1622: kubectl over every `app=blast` job and pod of the cluster, refusals swallowed."""
    kubectl = f"kubectl --context={cfg.cluster}"
    logging.debug(f"{kubectl} get jobs -o custom-columns=STATUS:.status.conditions[0].type -l app=blast")
    if state["credentials_revoked"]:  # _job_status_by_app: `except SafeExecError: pass`
        command = f"{kubectl} get pods -o custom-columns=STATUS:.status.phase -l app=blast"
        logging.debug(command)
        logging.warning(f'_count_blast_jobs: pod query failed (The command "{command}" returned with exit code 1\n'
                        "error: You must be logged in to the server (Unauthorized)\n\n); reporting partial counts")
        return {"pending": 0, "succeeded": 0, "failed": 0, "running": 0}
    counts = FakeCluster.job_counts(state, cfg.cluster)
    logging.debug(f"{kubectl} get pods -o custom-columns=STATUS:.status.phase -l app=blast")
    counts["pending"] = max(0, counts["pending"] - counts["running"])
    return counts


def _derive_status(counts: dict[str, int]) -> str:
    """azure.py:1585-1599 (the setup/submit jobs' failures are not imitated: they never fail here)."""
    if counts["failed"] > 0:
        return "FAILURE"
    if counts["running"] > 0 or counts["pending"] > 0:
        return "RUNNING"
    if counts["succeeded"] > 0:
        return "SUCCESS"
    return "SUBMITTING"


# -- delete ------------------------------------------------------------------------------------
def _delete(args: argparse.Namespace, cfg: Config, cluster: FakeCluster) -> int:
    """commands/delete.py:34-39 → azure.py:888-893."""
    if cfg.reuse:  # _cleanup_jobs_only, azure.py:1015-1035: this process's elb_job_id labels no job
        for app in ("blast", "submit"):
            logging.debug(f"kubectl --context={cfg.cluster} delete jobs -l app={app},elb-job-id={cfg.elb_job_id} "
                          "--ignore-not-found=true")
        logging.info(f"Reuse cleanup: jobs deleted, cluster preserved (job_id={cfg.elb_job_id})")
        return 0
    return _delete_cluster_with_cleanup(cfg, cluster)


def _delete_cluster_with_cleanup(cfg: Config, cluster: FakeCluster) -> int:
    """azure.py:1897-1937 with `_wait_for_cluster_ready`, 2029-2065."""
    logging.debug("Multi-submission guard: no k8s context cached, skipping")  # azure.py:1973
    state = cluster.read()
    provisioning = _arm_get_cluster(cfg, state)
    if not provisioning:
        done = any(FakeCluster.read_blob(state, cfg.results, f"metadata/{m}.txt") is not None
                   for m in ("FAILURE", "SUCCESS"))  # fmt: skip
        if not done:
            raise UserReportError(CLUSTER_ERROR, f"Cluster {cfg.cluster} was not found")
    elif provisioning in ("Succeeded", "Starting", "Updating"):
        _arm("POST", f"{_cluster_path(cfg)}/listClusterUserCredential", 200)
        if state["credentials_revoked"]:
            logging.warning(f'K8s connection failed: The command "kubectl --context={cfg.cluster} get all" returned '
                            "with exit code 1\nerror: You must be logged in to the server (Unauthorized)\n")
    logging.debug(f"azcopy rm {cfg.results}/{cfg.elb_job_id}/query_batches --recursive=true")  # azure.py:2154-2168
    if provisioning:
        _arm("DELETE", _cluster_path(cfg), 202)
        cluster.delete_cluster(cfg.cluster)
    else:
        logging.info(f"Cluster {cfg.cluster} not found, nothing to delete")  # azure.py:253-255
    return 0


def _not_imitated(args: argparse.Namespace, cfg: Config, cluster: FakeCluster) -> int:
    raise UserReportError(UNKNOWN_ERROR, f"TEST DOUBLE fake_elastic_blast does not imitate {args.subcommand}")


# -- the Azure SDK's request logs ------------------------------------------------------------------
def _cluster_path(cfg: Config) -> str:
    return (f"/subscriptions/{_SUBSCRIPTION}/resourceGroups/{cfg.resource_group}/providers/"
            f"Microsoft.ContainerService/managedClusters/{cfg.cluster}")


def _arm_get_cluster(cfg: Config, state: dict) -> str:
    """azure.py:184-195 `_sdk_check_cluster`: the provisioning state, '' when there is no such cluster."""
    found = state["clusters"].get(cfg.cluster)
    _arm("GET", _cluster_path(cfg), 200 if found else 404)
    return found["provisioning_state"] if found else ""


def _arm(method: str, path: str, status: int) -> None:
    """Let azure-core's own HttpLoggingPolicy log one Azure Resource Manager call, as the fork's clients do."""
    from azure.core.pipeline import Pipeline
    from azure.core.pipeline.policies import HeadersPolicy, HttpLoggingPolicy, RequestIdPolicy, UserAgentPolicy
    from azure.core.rest import HttpRequest

    request = HttpRequest(method, f"https://management.azure.com{path}?api-version={_AKS_API_VERSION}")
    request.headers["Authorization"] = "Bearer " + uuid.uuid4().hex  # redacted by the policy
    if method in ("PUT", "POST"):
        request.headers["Content-Type"] = "application/json"
        request.set_json_body({})
    policies = [RequestIdPolicy(), HeadersPolicy({"Accept": "application/json"}),
                UserAgentPolicy(sdk_moniker="mgmt-containerservice/34.0.0"), HttpLoggingPolicy()]  # fmt: skip
    Pipeline(_CannedArm(status), policies=policies).run(request)


class _CannedArm:
    """An azure-core transport that answers one ARM call without a network."""

    def __init__(self, status: int) -> None:
        self.status = status

    def __enter__(self) -> _CannedArm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        from azure.core.rest._http_response_impl import HttpResponseImpl

        headers = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Content-Type": "application/json; charset=utf-8",
                   "Expires": "-1", "x-ms-ratelimit-remaining-subscription-reads": "249",
                   "x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": str(uuid.uuid4()),
                   "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
                   "X-Content-Type-Options": "nosniff",
                   "Date": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")}  # fmt: skip
        if self.status == 404:
            headers["x-ms-failure-cause"] = "gateway"
        return HttpResponseImpl(request=request, internal_response=None, status_code=self.status, headers=headers,
                                reason="", content_type=headers["Content-Type"],
                                stream_download_generator=None)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
