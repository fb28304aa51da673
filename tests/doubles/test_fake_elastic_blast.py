"""The Azure-fork `elastic-blast` double against the fork's own behaviour, one test per behaviour it imitates.

Each test runs the double (`elastic-blast` on PATH, over the fake cluster, results in Azurite, real BLAST+) and
names the fork file:line it checks: dotnetpower/elastic-blast-azure at 7a47129 (the ref its
docker-openapi/Dockerfile installs), paths under src/elastic_blast/ unless they start with bin/ or docker-;
"facts" is /work/shared/reference/elastic-blast-facts.md.
"""

from __future__ import annotations

import configparser
import contextlib
import getpass
import hashlib
import io
import logging
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.doubles.elb_doubles import AZURITE_ACCOUNT, PROT_DB, ElbWorld, first_records
from tests.doubles.fake_cluster import FakeCluster
from tests.doubles.fake_elastic_blast import FAILURE_MESSAGE, main

pytestmark = pytest.mark.azurite

_QUIETED = ("boto3", "botocore", "urllib3", "s3transfer", "awslimitchecker")  # util.py:500-501
RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL): ")
AZURE_KEYS = {
    "azure-region": "eastus",
    "azure-resource-group": "rg-blastflow-test",
    "azure-storage-account": AZURITE_ACCOUNT,
    "azure-acr-name": "blastflowtest",
    "azure-acr-resource-group": "rg-blastflow-test",
}


def _ini(world: ElbWorld, tmp_path: Path, name: str, *, drop: tuple[str, ...] = (), **sections: dict) -> Path:
    """An ini as blastflow writes it for the fork: Azure keys, a 3-protein query, batch-len 200 (3 batches)."""
    query = tmp_path / f"{name}.fa"
    query.write_text(first_records("prot", 3))
    cfg = configparser.ConfigParser()
    cfg.read_dict({
        "cloud-provider": {**AZURE_KEYS, "azure-storage-account-container": world.container},
        "blast": {"program": "blastp", "db": PROT_DB, "queries": str(query), "results": _results(world, name),
                  "batch-len": "200", "options": "-evalue 1e-05"},
    })  # fmt: skip
    for section, values in sections.items():
        cfg.read_dict({section.replace("_", "-"): values})
    for key in drop:
        cfg.remove_option("cloud-provider", key)
    path = tmp_path / f"{name}.ini"
    with path.open("w") as handle:
        cfg.write(handle)
    return path


def _results(world: ElbWorld, name: str) -> str:
    return f"{world.results_base}/{name}"


def _process(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the double as a program: `elastic-blast` on PATH (the `fake_elastic_blast` fixture's launcher)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["elastic-blast", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120,
                          check=False)  # fmt: skip


def _elb(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the double's `main` in this process (a second each saved: no interpreter and Azure SDK start-up),
    its stdout and stderr captured and its logging set-up undone afterwards."""
    cwd.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {name: logging.getLogger(name).level for name in _QUIETED}
    out, err, here = io.StringIO(), io.StringIO(), Path.cwd()
    before = {name: os.environ.get(name) for name in env}
    try:
        os.chdir(cwd)
        os.environ.update(env)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as done:  # argparse
                code = done.code if isinstance(done.code, int) else 0
    finally:
        for handler in [h for h in root.handlers if h not in saved[1]]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved[0])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
        for name, value in before.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
        os.chdir(here)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def _submit(ini: Path, cwd: Path, **env: str) -> str:
    """Submit; return the fork's elb_job_id (from its `[1/5] Writing configuration to …` line)."""
    done = _elb("submit", "--cfg", ini, "--logfile", "stderr", cwd=cwd, **env)
    assert done.returncode == 0, done.stderr
    return re.search(r"/(job-[0-9a-f]{32})/metadata/", done.stdout)[1]


def _status(ini: Path, cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return _elb("status", "--cfg", ini, *(flags or ("--exit-code", "--verbose")), cwd=cwd)


def _blast_pods(world: ElbWorld, elb_job_id: str) -> list[dict]:
    """One observation of the cluster: this submission's `app=blast` pods."""
    return [p for p in world.cluster.pods("default")
            if p["metadata"]["labels"].get("app") == "blast" and p["metadata"]["labels"]["elb-job-id"] == elb_job_id]


def _blob(world: ElbWorld, name: str) -> str | None:
    data = FakeCluster.read_blob(world.cluster.read(), world.results_base, name)
    return None if data is None else data.decode()


def _default_cluster(results: str) -> str:
    """elb_config.py:1369-1372: elasticblast-<user>-<md5(results)[:9]>."""
    user = re.sub(r"\W", "-", getpass.getuser().lower(), flags=re.ASCII).replace("_", "-")
    return f"elasticblast-{user}-{hashlib.md5(results.encode()).hexdigest()[:9]}"


# 1. stdout --------------------------------------------------------------------------------------
def test_submit_prints_only_the_forks_coloured_progress_lines_and_sdk_records(
    elb_world: ElbWorld, tmp_path: Path
) -> None:
    """stdout: commands/submit.py:118, 268 and elasticblast.py:103; `[parallel-prep]` (facts:45) is fork commit
    f762962, after the pinned ref. The `azure` loggers are left on (util.py:499-501): the SDK's request records."""
    ini = _ini(elb_world, tmp_path, "stdout")
    done = _process("submit", "--cfg", ini, "--logfile", "stderr", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    elb_job_id = re.search(r"job-[0-9a-f]{32}", done.stdout)[0]
    assert done.stdout.splitlines() == [
        f"\x1b[33m[1/5] Writing configuration to {_results(elb_world, 'stdout')}/{elb_job_id}/metadata/"
        "elastic-blast-config.json\x1b[0m",
        "\x1b[33m Splitting queries into batches\x1b[0m",
        "\x1b[33m Upload workfiles\x1b[0m",
    ]
    err = done.stderr.splitlines()
    put = next(i for i, line in enumerate(err) if line.endswith("INFO: Request URL: 'https://management.azure.com/"
                                                                  f"subscriptions/00000000-0000-0000-0000-000000000000"
                                                                  "/resourceGroups/rg-blastflow-test/providers/"
                                                                  "Microsoft.ContainerService/managedClusters/"
                                                                  f"{_default_cluster(_results(elb_world, 'stdout'))}"
                                                                  "?api-version=2024-10-01'")
               and err[i + 1] == "Request method: 'PUT'")  # fmt: skip
    assert err[put + 2] == "Request headers:" and "    'Authorization': 'REDACTED'" in err[put + 3 : put + 9]
    assert any(line.endswith("INFO: Response status: 201") for line in err)
    assert any(line.endswith("INFO: DefaultAzureCredential acquired a token from AzureCliCredential") for line in err)
    assert not [line for line in err if " WARNING: " in line], "a plain submit warns about nothing"


# 2. log level, format, colours ------------------------------------------------------------------------
def test_log_records_have_the_forks_format_level_and_no_colour(elb_world: ElbWorld, tmp_path: Path) -> None:
    """util.py:446-501: `--logfile stderr` → every record on stderr as `<UTC µs>Z LEVEL: message` (454-456,
    427-443), DEBUG by default (constants.py:460); otherwise DEBUG records go to ./elastic-blast.log and only
    WARNING and above to stderr. Colour only in the stdout prints (submit.py:118)."""
    ini = _ini(elb_world, tmp_path, "logs")
    done = _process("status", "--cfg", ini, "--logfile", "stderr", cwd=tmp_path / "a")
    starts = [RECORD.match(line) for line in done.stderr.splitlines()]
    assert starts[0] and {m[1] for m in starts if m} == {"DEBUG", "INFO"}
    first, second = done.stderr.splitlines()[:2]
    assert first.endswith(f" DEBUG: Reading {ini}") and second.endswith(" INFO: ElasticBLAST status 1.5.0")
    # config.py:121, then bin/elastic-blast:79
    unmatched = [line for line, m in zip(done.stderr.splitlines(), starts, strict=True) if not m]
    assert unmatched and all(not line.startswith("20") for line in unmatched), "only SDK records span lines"

    quiet = _process("status", "--cfg", ini, "--loglevel", "INFO", "--logfile", "stderr", cwd=tmp_path / "b")
    assert " DEBUG: " not in quiet.stderr and " INFO: " in quiet.stderr

    default = _process("status", "--cfg", ini, cwd=tmp_path / "c")
    assert default.stderr == "" and default.returncode == 0  # the log file took the records
    log = (tmp_path / "c" / "elastic-blast.log").read_text()
    assert RECORD.match(log) and " DEBUG: " in log and "\x1b" not in log + done.stderr


# 3. configuration -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("section", "key"), [("cluster", "colour"), ("blast", "batch_len"), ("timeouts", "blast")])
def test_unknown_ini_keys_are_refused_in_the_forks_words(
    elb_world: ElbWorld, tmp_path: Path, section: str, key: str
) -> None:
    """elb_config.py:1144-1169, exit 1 (INPUT_ERROR) through bin/elastic-blast:95-104."""
    ini = _ini(elb_world, tmp_path, "unknown", **{section: {key: "x"}})
    done = _process("submit", "--cfg", ini, cwd=tmp_path)

    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == (
        f'ERROR: Unrecognized configuration parameter "{key}" in section "{section}". Please, ensure that parameter '
        "names are properly spelled and placed in appropriate sections."
    )
    assert elb_world.cluster.read()["searches"] == {}


def test_the_forks_azure_keys_are_accepted(elb_world: ElbWorld, tmp_path: Path) -> None:
    """AZUREConfig mapping, elb_config.py:316-334: every Azure key the fork knows (status checks the ini as submit
    does, bin/elastic-blast:87, and exits 6 UNKNOWN for a cluster that does not exist rather than 1)."""
    extra = {"azure-storage-account-key": "k", "azure-vnet": "v", "azure-subnet": "s", "aks-version": "1.31",
             "azure-system-vm-size": "Standard_D2s_v3"}  # fmt: skip
    ini = _ini(elb_world, tmp_path, "keys", cloud_provider=extra, cluster={"reuse": "no", "num-cpus": "4"})
    done = _status(ini, tmp_path)
    assert done.returncode == 6 and done.stdout.splitlines() == [
        "UNKNOWN", f'Cluster "{_default_cluster(_results(elb_world, "keys"))}" was not found'
    ]


def test_without_an_acr_name_nothing_can_pull_the_default_image(elb_world: ElbWorld, tmp_path: Path) -> None:
    """elb_config.py:892 replaces the ACR name in constants.py:252 with azure-acr-name, whose default is
    `elb-unknown-azure-acr-name` (constants.py:235): the setup jobs cannot pull it, so no BLAST job ever comes."""
    ini = _ini(elb_world, tmp_path, "noacr", drop=("azure-acr-name",))
    elb_job_id = _submit(ini, tmp_path)
    for _ in range(8):
        pods = [p for p in elb_world.cluster.pods("default") if p["metadata"]["labels"]["elb-job-id"] == elb_job_id]
    assert {p["metadata"]["labels"]["app"] for p in pods} == {"setup", "submit"}
    waiting = [c["state"]["waiting"] for p in pods for c in p["status"]["containerStatuses"]]
    image = "elb-unknown-azure-acr-name.azurecr.io/ncbi/elb:1.4.0"
    assert waiting and all(w == {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
                           for w in waiting)  # fmt: skip
    assert _status(ini, tmp_path).stdout == "SUBMITTING\n"


# 4. resubmission ---------------------------------------------------------------------------------------
def test_resubmitting_to_a_used_results_location_exits_8(elb_world: ElbWorld, tmp_path: Path) -> None:
    """commands/submit.py:140-142, 199-235 (the cluster of that name still exists, or <results>/metadata/disk-id.txt
    does), message util.py:671-691; CLUSTER_ERROR is 8 (constants.py:208); facts:37."""
    ini = _ini(elb_world, tmp_path, "again")
    results = _results(elb_world, "again")
    _submit(ini, tmp_path)

    again = _elb("submit", "--cfg", ini, cwd=tmp_path)

    assert again.returncode == 8 and again.stdout == ""
    assert again.stderr.splitlines() == [
        f"ERROR: Previous instance of cluster {_default_cluster(results)} is still Succeeded",
        f"ERROR: An ElasticBLAST search that will write results to {results} has already been submitted.",
        'Please resubmit your search with a different value for "results" configuration parameter, or save the '
        "ElasticBLAST results and then either delete the previous ElasticBLAST search by running elastic-blast "
        f'delete, or run the command azcopy rm {results} --recursive or delete "disk-id.txt" file',
    ]
    FakeCluster.upload(elb_world.cluster.read(), _results(elb_world, "disk"), "metadata/disk-id.txt", b"{}")
    used = _elb("submit", "--cfg", _ini(elb_world, tmp_path, "disk"), cwd=tmp_path)
    assert used.returncode == 8 and "Previous instance" not in used.stderr


# 5. SUBMITTING first --------------------------------------------------------------------------------------
def test_status_says_submitting_until_the_setup_jobs_have_made_the_blast_jobs(
    elb_world: ElbWorld, tmp_path: Path
) -> None:
    """facts:42-44; azure.py:1240-1246 applies init-pv without waiting and kubernetes.py:1412 the submit-jobs job;
    the BLAST jobs come from cloud-job-submit-aks.sh; no app=blast job → SUBMITTING, exit 3 (azure.py:1585-1599)."""
    elb_world.cluster.configure(setup_ticks=3)
    ini = _ini(elb_world, tmp_path, "setup")
    elb_job_id = _submit(ini, tmp_path)

    for _ in range(2):
        early = _status(ini, tmp_path)
        assert (early.returncode, early.stdout) == (3, "SUBMITTING\n")
    setup = [p for p in elb_world.cluster.pods("default") if p["metadata"]["labels"]["elb-job-id"] == elb_job_id]
    assert sorted(p["metadata"]["labels"]["app"] for p in setup) == ["setup", "submit"]  # init-pv, submit-jobs
    later = _status(ini, tmp_path)
    assert (later.returncode, later.stdout) == (4, "Pending 3\nRunning 0\nSucceeded 0\nFailed 0\n")
    assert _blob(elb_world, f"setup/{elb_job_id}/metadata/num_jobs_submitted.txt") == "3\n"


# 6. pods: OnFailure restarts, backoffLimit 5, labels and containers ---------------------------------------------
def test_a_failing_batch_restarts_inside_its_pod_until_the_job_fails(elb_world: ElbWorld, tmp_path: Path) -> None:
    """templates/blast-batch-job-aks.yaml.template:113-114 (restartPolicy OnFailure, backoffLimit 5); the Job
    controller fails the Job when both containers' restarts add up to 5 (job_controller.go
    pastBackoffLimitOnFailure) and deletes its pod; facts:69-71."""
    elb_world.scenario("blast_failure")
    elb_world.cluster.configure(setup_ticks=0)
    ini = _ini(elb_world, tmp_path, "restarts")
    elb_job_id = _submit(ini, tmp_path)
    failing = f"blastp-batch-sinvicta-prot-job-000-{elb_job_id[-8:]}"

    seen = []
    for _ in range(7):
        pod = next((p for p in _blast_pods(elb_world, elb_job_id) if p["metadata"]["labels"]["job-name"] == failing),
                   None)  # fmt: skip
        blast = pod and pod["status"]["containerStatuses"][0]
        seen.append(pod and (pod["metadata"]["name"], pod["status"]["phase"], blast["restartCount"],
                             next(iter(blast["state"]))))  # fmt: skip
    name = seen[0][0]
    assert seen == [(name, "Pending", 0, "waiting"), (name, "Running", 0, "running"), (name, "Running", 1, "waiting"),
                    (name, "Running", 1, "running"), (name, "Running", 2, "waiting"), (name, "Running", 2, "running"),
                    None]  # fmt: skip
    assert _status(ini, tmp_path).returncode == 1  # the Job is Failed


def test_blast_pods_carry_the_forks_labels_containers_and_results(elb_world: ElbWorld, tmp_path: Path) -> None:
    """templates/blast-batch-job-aks.yaml.template:5 (job name), 6-16 (labels), 28-112 (containers, ELB_RESULTS),
    113 (restartPolicy); azure.py:1051-1095, 1082 (ELB_RESULTS = <results>/<elb_job_id>); facts:64-71."""
    elb_world.cluster.configure(setup_ticks=0)
    ini = _ini(elb_world, tmp_path, "labels")
    elb_job_id = _submit(ini, tmp_path)

    pods = sorted(_blast_pods(elb_world, elb_job_id), key=lambda p: p["metadata"]["name"])

    assert len(pods) == 3
    for index, pod in enumerate(pods):
        job = f"blastp-batch-sinvicta-prot-job-{index:03d}-{elb_job_id[-8:]}"
        labels = pod["metadata"]["labels"]
        assert {k: labels[k] for k in ("app", "db", "elb-job-id", "job-name")} == {
            "app": "blast", "db": "sinvicta-prot", "elb-job-id": elb_job_id, "job-name": job}
        assert pod["metadata"]["name"].startswith(f"{job}-")
        spec = pod["spec"]
        assert spec["restartPolicy"] == "OnFailure"
        assert [c["name"] for c in spec["initContainers"]] == ["load-blastdb-into-ram"]
        assert [c["name"] for c in spec["containers"]] == ["blast", "results-export"]
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        assert env["ELB_RESULTS"] == f"{_results(elb_world, 'labels')}/{elb_job_id}"
        assert pod["status"]["containerStatuses"][0]["image"] == "blastflowtest.azurecr.io/ncbi/elb:1.4.0"


# 7. TTL ----------------------------------------------------------------------------------------------------
def test_finished_jobs_and_their_pods_are_deleted_after_the_ttl(elb_world: ElbWorld, tmp_path: Path) -> None:
    """Fork HEAD templates/blast-batch-job-aks.yaml.template:122 `ttlSecondsAfterFinished: ${ELB_JOB_TTL_SECONDS}`,
    azure.py:1114-1128 (default 1800 s, commit ba8075b; the pinned 7a47129 has none: ELB_JOB_TTL_SECONDS=0 here);
    facts:71. 10 s of cluster time per observation."""
    elb_world.cluster.configure(setup_ticks=0, tick_s=600)  # 10 minutes of cluster time per observation
    short = _submit(_ini(elb_world, tmp_path, "ttl600"), tmp_path, ELB_JOB_TTL_SECONDS="600")
    default = _submit(_ini(elb_world, tmp_path, "ttldefault"), tmp_path)
    never = _submit(_ini(elb_world, tmp_path, "ttlnone"), tmp_path, ELB_JOB_TTL_SECONDS="0")

    listed = []
    for _ in range(6):  # Pending, Running, Succeeded from the third observation on
        labels = [p["metadata"]["labels"] for p in elb_world.cluster.pods("default")]
        listed.append(tuple(sum(x.get("app") == "blast" and x["elb-job-id"] == s for x in labels)
                            for s in (short, default, never)))  # fmt: skip

    assert listed == [(3, 3, 3), (3, 3, 3), (3, 3, 3), (0, 3, 3), (0, 3, 3), (0, 0, 3)]
    status = _status(_ini(elb_world, tmp_path, "ttl600"), tmp_path)
    assert (status.returncode, status.stdout) == (3, "SUBMITTING\n")  # no app=blast job left on its cluster


# 8. delete ------------------------------------------------------------------------------------------------
def test_delete_exit_codes(elb_world: ElbWorld, tmp_path: Path) -> None:
    """azure.py:2043-2048: a missing cluster exits 8 `Cluster <name> was not found` (facts:82); otherwise the whole
    AKS cluster is deleted, exit 0 (azure.py:1897-1937, facts:83-84); with `[cluster] reuse` it deletes the jobs of
    this process's new elb_job_id, i.e. none, exit 0 (azure.py:1015-1035, 1638-1643)."""
    elb_world.cluster.configure(setup_ticks=0)
    ini = _ini(elb_world, tmp_path, "delete")
    name = _default_cluster(_results(elb_world, "delete"))

    missing = _elb("delete", "--cfg", ini, "--logfile", "stderr", cwd=tmp_path)
    assert missing.returncode == 8 and missing.stderr.splitlines()[-1].endswith(f" ERROR: Cluster {name} was not found")
    elb_job_id = _submit(ini, tmp_path)
    assert len(_blast_pods(elb_world, elb_job_id)) == 3
    deleted = _elb("delete", "--cfg", ini, "--logfile", "stderr", cwd=tmp_path)
    assert deleted.returncode == 0 and deleted.stdout == ""
    assert _blast_pods(elb_world, elb_job_id) == [] and name not in elb_world.cluster.read()["clusters"]
    assert _elb("delete", "--cfg", ini, cwd=tmp_path).returncode == 8

    kept = _ini(elb_world, tmp_path, "reused", cluster={"reuse": "true"})
    kept_id = _submit(kept, tmp_path)
    assert _elb("delete", "--cfg", kept, cwd=tmp_path).returncode == 0
    assert len(_blast_pods(elb_world, kept_id)) == 3, "nothing was deleted"


# 9. failure text ---------------------------------------------------------------------------------------------
def test_failure_text_is_the_forks_sentence_and_failure_txt_is_blasts_stderr(
    elb_world: ElbWorld, tmp_path: Path
) -> None:
    """commands/status.py:50, 85-100 (with --exit-code alone nothing is printed: line 88 compares an int to an enum;
    facts:55); the pod writes BLAST's stderr as <results>/<elb_job_id>/metadata/FAILURE.txt (blast-run-aks.sh:24,
    50, 75-81); the fork's status prints FAILURE.txt's text only from <results>/metadata (elasticblast.py:127-138)."""
    elb_world.scenario("blast_failure")
    elb_world.cluster.configure(setup_ticks=0)
    ini = _ini(elb_world, tmp_path, "failed")
    elb_job_id = _submit(ini, tmp_path)
    for _ in range(7):
        elb_world.cluster.observe()

    verbose = _status(ini, tmp_path)
    assert (verbose.returncode, verbose.stdout) == (1, f"{FAILURE_MESSAGE}\n")
    plain = _status(ini, tmp_path, "--exit-code")
    assert (plain.returncode, plain.stdout) == (1, "")
    said = _blob(elb_world, f"failed/{elb_job_id}/metadata/FAILURE.txt")
    assert said.startswith("BLAST Database error: No alias or index file found for protein database "
                           "[sinvicta_prot_missing]")  # real BLAST+'s words  # fmt: skip
    assert _blob(elb_world, "failed/metadata/FAILURE.txt") is None

    FakeCluster.upload(elb_world.cluster.read(), _results(elb_world, "failed"), "metadata/FAILURE.txt", b"disk full")
    assert _status(ini, tmp_path).stdout == f"{FAILURE_MESSAGE}\ndisk full\n"


# 10. status quirks --------------------------------------------------------------------------------------------
def test_status_ignores_the_markers_the_forks_pods_and_finalizer_write(elb_world: ElbWorld, tmp_path: Path) -> None:
    """facts:60-62: status reads <results>/metadata/*.txt (elasticblast.py:127, 141) while the finalizer writes
    <results>/<elb_job_id>/metadata/SUCCESS.txt (elb-finalizer-aks.sh:31, 255-256): SUCCESS comes from job counts."""
    elb_world.cluster.configure(setup_ticks=0, tick_s=10)
    ini = _ini(elb_world, tmp_path, "markers")
    elb_job_id = _submit(ini, tmp_path, ELB_JOB_TTL_SECONDS="20")
    for _ in range(2):
        elb_world.cluster.observe()

    done = _status(ini, tmp_path)
    assert (done.returncode, done.stdout) == (0, f"Your ElasticBLAST search succeeded, results can be found in "
                                                 f"{_results(elb_world, 'markers')}\n")  # fmt: skip
    assert _blob(elb_world, f"markers/{elb_job_id}/metadata/SUCCESS.txt") == "SUCCESS\n"
    assert _blob(elb_world, "markers/metadata/SUCCESS.txt") is None
    elb_world.cluster.observe()  # 20 s after the jobs finished: gone
    gone = _status(ini, tmp_path)
    assert (gone.returncode, gone.stdout) == (3, "SUBMITTING\n"), "its own SUCCESS.txt is not what status reads"


def test_status_counts_every_blast_job_on_the_cluster(elb_world: ElbWorld, tmp_path: Path) -> None:
    """facts:60-62; azure.py:1555-1622 select jobs and pods by `app=blast` only: another submission on the same
    cluster (`[cluster] name`, a second one needs `reuse`, submit.py:140) counts, and its failure is ours."""
    elb_world.cluster.configure(setup_ticks=0)
    first = _ini(elb_world, tmp_path, "mine", cluster={"name": "shared-cluster"})
    _submit(first, tmp_path)
    elb_world.scenario("blast_failure")
    _submit(_ini(elb_world, tmp_path, "theirs", cluster={"name": "shared-cluster", "reuse": "true"}), tmp_path)

    running = _status(first, tmp_path)
    assert (running.returncode, running.stdout) == (4, "Pending 6\nRunning 0\nSucceeded 0\nFailed 0\n")
    for _ in range(6):
        elb_world.cluster.observe()
    assert _status(first, tmp_path).returncode == 1, "the other submission's failed job fails ours"


def test_a_refused_kubectl_reads_as_submitting(elb_world: ElbWorld, tmp_path: Path) -> None:
    """azure.py:1576-1578 (pods query: a WARNING) and 1620-1621 (jobs query: `except SafeExecError: pass`): with
    the cluster refusing the credentials the counts are all 0, so status says SUBMITTING, exit 3 (not UNKNOWN 6,
    which is upstream GKE's answer, facts:52)."""
    elb_world.cluster.configure(setup_ticks=0)
    ini = _ini(elb_world, tmp_path, "refused")
    _submit(ini, tmp_path)
    elb_world.cluster.revoke_credentials()

    done = _status(ini, tmp_path)

    assert (done.returncode, done.stdout) == (3, "SUBMITTING\n")
    assert done.stderr.startswith("WARNING: _count_blast_jobs: pod query failed (The command \"kubectl --context=")
    assert "error: You must be logged in to the server (Unauthorized)" in done.stderr


def test_a_cluster_that_is_not_running_fails_status_with_exit_8(elb_world: ElbWorld, tmp_path: Path) -> None:
    """azure.py:1530-1539: Creating/Updating/Starting → SUBMITTING; any other state but Succeeded → exit 8."""
    ini = _ini(elb_world, tmp_path, "stopping")
    _submit(ini, tmp_path)
    name = _default_cluster(_results(elb_world, "stopping"))
    elb_world.cluster.set_provisioning_state(name, "Starting")
    assert _status(ini, tmp_path).stdout == "SUBMITTING\n"
    elb_world.cluster.set_provisioning_state(name, "Stopping")

    done = _status(ini, tmp_path)

    assert done.returncode == 8 and done.stdout == ""
    assert done.stderr == f'ERROR: Cluster "{name}" is not responding. Try again in a few minutes.\n'
