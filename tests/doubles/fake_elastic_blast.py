"""TEST DOUBLE: a fake `elastic-blast` CLI (submit, status, delete) over the fake cluster.

It behaves like NCBI's tool where blastflow depends on it: Python (so stdout is
block-buffered on a pipe unless PYTHONUNBUFFERED=1), `--cfg` read with
ConfigParser and ELB_* environment overrides, the terminal getting coloured
`WARNING:` lines, `--logfile stderr` sending INFO progress lines as
`%(asctime)s %(levelname)s: %(message)s`, the documented status output
(`Pending N` …, the success / failure sentences) and exit codes. Submit runs
real BLAST+ on each query batch (databases found through BLASTDB), so the
results it exports are real format-11 archives.

Environment: FAKE_ELB_STATE (the fake cluster directory, required),
FAKE_ELB_SCENARIO (overrides the cluster's scenario), FAKE_ELB_HANDSHAKE (a
path: after its first stdout line submit waits for this file to appear, at most
FAKE_ELB_HANDSHAKE_TIMEOUT seconds, which lets a test see whether that line was
delivered while the child still ran).

Run as `python -m tests.doubles.fake_elastic_blast` with the repository root on PYTHONPATH: the
`fake_elastic_blast` fixture puts a launcher that does so first on PATH as `elastic-blast`.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import logging
import os
import shlex
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tests.doubles.fake_cluster import FakeCluster

VERSION = "1.5.0"
FAILURE_MESSAGE = (
    "Your ElasticBLAST search failed, please help us improve ElasticBLAST by reporting this failure as described in "
    "https://blast.ncbi.nlm.nih.gov/doc/elastic-blast/support.html"
)
STATUS_CODES = {"SUCCESS": 0, "FAILURE": 1, "CREATING": 2, "SUBMITTING": 3, "RUNNING": 4, "DELETING": 5, "UNKNOWN": 6}
INPUT_ERROR, PERMISSIONS_ERROR, DEPENDENCY_ERROR, CLUSTER_ERROR, UNKNOWN_ERROR = 1, 6, 7, 8, 255
_COLOURS = {logging.WARNING: "\x1b[33m", logging.ERROR: "\x1b[31m", logging.CRITICAL: "\x1b[31m"}


class UserReportError(Exception):
    def __init__(self, returncode: int, message: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.message = message


class _Coloured(logging.Formatter):
    """The terminal gets warnings and errors in colour, as the Azure fork's console does."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        colour = _COLOURS.get(record.levelno)
        return f"{colour}{text}\x1b[0m" if colour else text


class _UtcFormatter(_Coloured):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.subcommand:
        print("Elastic-BLAST task was not specified. Please, use submit, status, delete, or run-summary.",
              file=sys.stderr)
        return INPUT_ERROR
    _config_logging(args)
    try:
        state_dir = os.environ.get("FAKE_ELB_STATE")
        if not state_dir:
            raise UserReportError(UNKNOWN_ERROR, "fake elastic-blast: FAKE_ELB_STATE is not set")
        cluster = FakeCluster(Path(state_dir))
        cfg = _configure(args)
        logging.info(f"ElasticBLAST {args.subcommand} {VERSION}")
        return args.func(args, cfg, cluster)
    except UserReportError as exc:
        logging.error(exc.message)
        return exc.returncode
    except KeyboardInterrupt:
        return 9


def _parser() -> argparse.ArgumentParser:
    parser = _ElbArgumentParser(prog="elastic-blast")
    parser.add_argument("--version", action="version", version=f"elastic-blast {VERSION}")
    common = _ElbArgumentParser(add_help=False)
    common.add_argument("--cfg", metavar="FILE", type=_file_must_exist)
    common.add_argument("--results", type=str)
    common.add_argument("--logfile", default="elastic-blast.log")
    common.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    common.add_argument("--dry-run", action="store_true")
    sub = parser.add_subparsers(dest="subcommand")
    submit = sub.add_parser("submit", parents=[common])
    submit.set_defaults(func=_submit)
    status = sub.add_parser("status", parents=[common])
    status.add_argument("--wait", action="store_true")
    status.add_argument("--verbose", action="store_true")
    status.add_argument("--exit-code", action="store_true")
    status.set_defaults(func=_status)
    delete = sub.add_parser("delete", parents=[common])
    delete.set_defaults(func=_delete)
    summary = sub.add_parser("run-summary", parents=[common])
    summary.set_defaults(func=_not_implemented)
    return parser


class _ElbArgumentParser(argparse.ArgumentParser):
    """Like the real one: usage errors exit with INPUT_ERROR (1), not argparse's 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(INPUT_ERROR, f"{self.prog}: error: {message}\n")


def _file_must_exist(path: str) -> str:
    if os.path.isfile(path):
        return path
    raise argparse.ArgumentTypeError(f"File {path} was not found")


def _config_logging(args: argparse.Namespace) -> None:
    logger = logging.getLogger()
    logger.setLevel(args.loglevel)
    for name in ("azure", "urllib3"):  # as the real one hides its SDKs' request logs (boto there, azure here)
        logging.getLogger(name).setLevel(logging.CRITICAL)
    file_format = "%(asctime)s %(levelname)s: %(message)s"
    if args.logfile == "stderr":
        handler = logging.StreamHandler()
        handler.setFormatter(_UtcFormatter(file_format))
        logger.addHandler(handler)
        return
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(_Coloured("%(levelname)s: %(message)s"))
    logger.addHandler(console)
    to_file = logging.FileHandler(args.logfile, mode="a")
    to_file.setFormatter(_UtcFormatter(file_format))
    logger.addHandler(to_file)


def _configure(args: argparse.Namespace) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    for section in ("cloud-provider", "cluster", "blast", "timeouts"):
        cfg.add_section(section)
    if args.cfg:
        cfg.read(args.cfg)
    overrides = {"ELB_RESULTS": ("blast", "results"), "ELB_BATCH_LEN": ("blast", "batch-len"),
                 "ELB_CLUSTER_NAME": ("cluster", "name"), "ELB_GCP_PROJECT": ("cloud-provider", "gcp-project"),
                 "ELB_GCP_REGION": ("cloud-provider", "gcp-region"), "ELB_GCP_ZONE": ("cloud-provider", "gcp-zone")}
    for variable, (section, key) in overrides.items():
        if variable in os.environ:
            cfg[section][key] = os.environ[variable]
    if args.results:
        cfg["blast"]["results"] = args.results
    if not cfg["blast"].get("results"):
        raise UserReportError(INPUT_ERROR, "Elastic-BLAST configuration error(s):\nMissing results")
    return cfg


# -- submit ----------------------------------------------------------------------------------------
def _submit(args: argparse.Namespace, cfg: configparser.ConfigParser, cluster: FakeCluster) -> int:
    blast = cfg["blast"]
    missing = [key for key in ("program", "db", "queries", "results") if not blast.get(key)]
    if missing:
        raise UserReportError(INPUT_ERROR, "Elastic-BLAST configuration error(s):\n" +
                              "\n".join(f"Missing {key}" for key in missing))
    results = blast["results"].rstrip("/")
    program, db = blast["program"], blast["db"]
    db_label = db.rstrip("/").rsplit("/", 1)[-1]
    batch_len = int(blast.get("batch-len") or 5_000_000)
    scenario = cluster.scenario()
    name = cfg["cluster"].get("name") or f"elasticblast-{hashlib.md5(results.encode()).hexdigest()[:9]}"
    if not cfg["cluster"].get("name"):
        logging.warning(f"Cluster name not set, using {name}")
    if not blast.get("mem-limit"):
        logging.warning("BLAST memory limit (mem-limit) not set: using the default of 4G per job")
    queries = Path(blast["queries"])
    if not queries.is_file():
        raise UserReportError(INPUT_ERROR, f"Query file {queries} was not found")
    if cluster.search(results) is not None:
        raise UserReportError(INPUT_ERROR, f"An ElasticBLAST search that will write results to {results} "
                                           "has already been submitted")
    logging.info("Splitting queries into batches")
    batches = _split(queries.read_text(), batch_len)
    logging.info(f"{len(batches)} batches, {sum(r for _, r in batches)} base/residue total")
    print("\x1b[33m[parallel-prep] running 4 azcopy checks concurrently\x1b[0m")
    _handshake()
    work = cluster.directory / "searches" / hashlib.sha1(results.encode()).hexdigest()[:12]
    (work / "query_batches").mkdir(parents=True, exist_ok=True)
    state = cluster.read()
    logging.info(f"Uploading query batches to {results}/query_batches")
    try:
        for index, (text, _) in enumerate(batches):
            path = work / "query_batches" / f"batch_{index:03d}.fa"
            path.write_text(text)
            FakeCluster.upload(state, results, f"query_batches/{path.name}", text.encode())
    except Exception as exc:
        raise UserReportError(PERMISSIONS_ERROR, f"Cannot write to {results}: {type(exc).__name__}") from None
    logging.info(f"Creating cluster {name}")
    print(f"Cluster {name} is ready")
    if scenario == "submit_failure":
        raise UserReportError(
            DEPENDENCY_ERROR,
            f"Failed to create cluster {name}: (QuotaExceeded) Operation could not be completed as it results in "
            "exceeding approved standardEDSv4Family Cores quota. Current Limit: 10, Current Usage: 8, "
            "Additional Required: 32",
        )
    elb_job_id = f"job-{uuid.uuid4().hex}" if results.startswith("https://") else ""
    logging.info("Submitting jobs to cluster")
    records = []
    options = shlex.split(blast.get("options", ""))
    for index, _ in enumerate(batches):
        records.append(_run_batch(work, index, program, db_label, options, results, elb_job_id,
                                  fail=(scenario == "blast_failure" and index == 0),
                                  run=(scenario != "never_starts")))
    FakeCluster.upload(state, results, "metadata/num_jobs_submitted.txt", f"{len(batches)}\n".encode())
    cluster.add_search(results, {"program": program, "db": db, "db_label": db_label, "cluster": name,
                                 "scenario": scenario, "elb_job_id": elb_job_id, "batches": records})
    logging.info(f"Submitted {len(batches)} jobs to cluster {name}")
    if elb_job_id:
        logging.info(f"ElasticBLAST job id: {elb_job_id}")
    print(f"Your ElasticBLAST search has been submitted; results will be in {results}")
    return 0


def _handshake() -> None:
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


def _split(text: str, batch_len: int) -> list[tuple[str, int]]:
    """ElasticBLAST's split: batches of at most batch_len residues, never cutting a sequence."""
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


def _run_batch(work: Path, index: int, program: str, db_label: str, options: list[str], results: str,
               elb_job_id: str, *, fail: bool, run: bool) -> dict:
    job_num = f"{index:03d}"
    job = f"{program}-batch-{db_label.replace('_', '-').lower()}-job-{job_num}"
    if elb_job_id:
        job += f"-{elb_job_id[-8:]}"
    pod = f"{job}-{hashlib.sha1(f'{results}/{index}'.encode()).hexdigest()[:5]}"
    out = work / f"batch_{job_num}-{program}-{db_label}.out"
    db = f"{db_label}_missing" if fail else db_label
    argv = [program, "-db", db, "-query", str(work / "query_batches" / f"batch_{job_num}.fa"), "-out", str(out),
            "-outfmt", "11", "-num_threads", "1", *options]
    code, stderr = 0, ""
    if run:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        code, stderr = proc.returncode, proc.stderr
    log = [
        "BASH version 5.1.16(1)-release",
        f"run start {job_num} {program} {db_label}",
        shlex.join([program, "-db", db, "-query", f"/blast/blastdb/batch_{job_num}.fa", "-out",
                    f"/blast/results/batch_{job_num}-{program}-{db_label}.out", "-num_threads", "15", *options]),
        *[line for line in stderr.splitlines() if line.strip()],
        f"RUNTIME blast-job-{job_num} 1.000000 seconds",
        f"run end {job_num} {code}",
    ]
    export_log = [f"+ azcopy cp /result/batch_{job_num}-{program}-{db_label}.out.gz {results}/"]
    output = ""
    if code == 0 and run:
        FakeCluster.gzip_file(out, out.with_name(out.name + ".gz"))
        output = str(out.with_name(out.name + ".gz"))
    else:
        export_log.append(f"BLAST exit code {code}")
    error = ""
    if code != 0:
        said = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
        error = f"BLAST exit code {code}: {said}"
    return {"index": index, "job": job, "pod": pod, "exit_code": code, "error": error, "output": output,
            "log": "\n".join(log) + "\n", "export_log": "\n".join(export_log) + "\n"}


# -- status ----------------------------------------------------------------------------------------
def _status(args: argparse.Namespace, cfg: configparser.ConfigParser, cluster: FakeCluster) -> int:
    results = cfg["blast"]["results"].rstrip("/")
    while True:
        state = cluster.observe()
        search = state["searches"].get(results)
        details: list[str] = []
        counts: dict[str, int] = {}
        if state["credentials_revoked"]:
            # On GKE a refused kubectl makes the search UNKNOWN, with kubectl's words as the verbose detail.
            status = "UNKNOWN"
            details = [f'The command "kubectl --context=gke_{search["cluster"] if search else "x"} get jobs -l '
                       'app=blast" returned with exit code 1',
                       "error: You must be logged in to the server (Unauthorized)"]
        elif search is None or search["deleted"]:
            status = "UNKNOWN"
            details = [f'Cluster "elasticblast-{hashlib.md5(results.encode()).hexdigest()[:9]}" was not found']
        else:
            phases = [cluster.batch_phase(state, search, b) for b in search["batches"]]
            counts = {phase.lower(): phases.count(phase) for phase in ("Pending", "Running", "Succeeded", "Failed")}
            if counts["failed"]:  # like the real one: one failed job fails the search
                status = "FAILURE"
                if search["finished"]:  # the janitor's FAILURE.txt is there to quote
                    details = [f"{b['job']} failed: {b['error'] or 'results export failed'}"
                               for b, p in zip(search["batches"], phases, strict=True) if p == "Failed"]
            else:
                status = "RUNNING" if counts["pending"] + counts["running"] else "SUCCESS"
        if not args.wait or status in ("SUCCESS", "FAILURE", "UNKNOWN"):
            break
        time.sleep(0.05)
    code = STATUS_CODES[status] if args.exit_code else 0
    if not args.exit_code or args.verbose:
        if status == "SUCCESS":
            print(f"Your ElasticBLAST search succeeded, results can be found in {results}")
        elif status == "FAILURE":
            print(FAILURE_MESSAGE)
        elif status == "RUNNING" and sum(counts.values()):
            print("\n".join(f"{name} {counts[name.lower()]}" for name in ("Pending", "Running", "Succeeded", "Failed")))
        else:
            print(status)
        if args.verbose and details:
            print("\n".join(details))
    return code


# -- delete ----------------------------------------------------------------------------------------
def _delete(args: argparse.Namespace, cfg: configparser.ConfigParser, cluster: FakeCluster) -> int:
    results = cfg["blast"]["results"].rstrip("/")
    state = cluster.read()
    if state["credentials_revoked"]:
        raise UserReportError(CLUSTER_ERROR, "error: You must be logged in to the server (Unauthorized)")
    search = state["searches"].get(results)
    if search is None or search["deleted"]:
        logging.warning(f"No ElasticBLAST search writing to {results} was found; nothing to delete")
        return 0
    logging.info(f"Deleting cluster {search['cluster']}")
    cluster.delete(results)
    logging.info(f"Cluster {search['cluster']} deleted")
    return 0


def _not_implemented(args: argparse.Namespace, cfg: configparser.ConfigParser, cluster: FakeCluster) -> int:
    raise UserReportError(UNKNOWN_ERROR, f"{args.subcommand} is not implemented by this test double")


if __name__ == "__main__":
    sys.exit(main())
