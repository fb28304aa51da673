"""TEST DOUBLE of a GKE cluster's own work for a search the real `elastic-blast` 1.5.0 submitted.

Not a program. Once a test starts it (`GcpWorld.start_cluster`), it does what GKE's Job controller and kubelet and
ElasticBLAST's container images would do with the Jobs that `elastic-blast submit` applied through the kubectl
double, honestly and offline: the containers' work is done for real (files copied from and to gs://, which is the
world's object store, `objects.py`; real BLAST+ from /usr/bin), only the time is simulated. Time is counted in
observations (`observe`: every `kubectl get jobs|pods` and every pod listing of the fake Kubernetes API is one tick), so
a test decides how long a setup or a batch takes without sleeping (tick counts in state "engine", state.py).
(`elastic-blast status` makes 2-4 such observations: `get jobs -l app=blast`, `get pods`, `get jobs -l app=setup`…)

What it imitates, with the source of each behaviour (`templates/` is elastic_blast/templates in the 1.5.0 package;
the images' scripts are in github.com/ncbi/elastic-blast):

- Jobs and pods (Kubernetes batch/v1): one pod per Job at a time, named `<job>-<5 chars>`, labelled with the pod
  template's labels plus `job-name`, `controller-uid` and their `batch.kubernetes.io/` forms; Pending (init
  containers and containers waiting PodInitializing / ContainerCreating) for `pending_ticks`, then init containers
  one by one, then the containers together. `restartPolicy: Never`: a failed container fails the pod, the Job makes
  a new pod after `backoff_ticks` until more than `backoffLimit` pods failed, then the Job is Failed. `OnFailure`:
  the container restarts in the same pod (restartCount, CrashLoopBackOff for `backoff_ticks`); once the restarts
  reach `backoffLimit` the Job is Failed and its pod deleted. A Job whose pod succeeded is Complete.
- init-pv (templates/job-init-pv.yaml.template: app=setup, restartPolicy Never, backoffLimit 9):
  `get-blastdb` copies `${ELB_DB_PATH}` (gs://…/<db>.*) into the disk (or, for an NCBI name, what
  `update_blastdb.pl --source gcp` fetches: gs://blast-db/<latest-dir>/<db>.*), then runs the real
  `blastdbcmd -info` as the template does, failing with its exit code and words (taxdb is not fetched, and
  `blastdbcheck` is not run: its metadata test needs NCBI's taxdb, which this offline double has not);
  `import-query-batches` (docker-qs/run.sh with -c 1, client split) copies `<results>/query_batches/batch_*.fa`
  into the disk and writes `<results>/metadata/batch_list.txt`.
- submit-jobs (templates/job-submit-jobs.yaml.template: app=submit, backoffLimit 0; its image runs
  docker-job-submit/cloud-job-submit.sh): waits while a setup job is active; if one did not complete, says
  "Setup job(s) failed: <names>" and exits 1; else deletes Job init-pv, reads `<results>/metadata/job.yaml.template`
  (uploaded by `elastic-blast submit`, gcp.py 345-350) and `batch_list.txt`, substitutes `${JOB_NUM}` and
  `${BLAST_ELB_BATCH_NUM}` per batch, applies one Job per batch and writes `<results>/metadata/num_jobs_submitted.txt`.
  (Its volume snapshot and read-only PVC swap are not simulated: nothing blastflow or `elastic-blast status` reads
  depends on them.)
- BLAST jobs (templates/blast-batch-job.yaml.template: app=blast, db=<db>, restartPolicy OnFailure, backoffLimit 3):
  init container `load-blastdb-into-ram` runs the real `blastdb_path -getvolumespath` (vmtouch is not run); `blast`
  runs the BLAST+ command line its script echoes, on the disk's database and batch, gzips the archive (format 11),
  writes BLASTDB_LENGTH.out, BLAST_RUNTIME-<n>.out and BLAST_EXIT_CODE.out, and on a BLAST error copies BLAST's
  stderr to `<results>/metadata/FAILURE.txt` unless one exists (the script then ends 0); `results-export` waits for
  BLAST_EXIT_CODE.out, runs the script's `gsutil cp` lines (metadata/, logs/, the archive) and exits with BLAST's code.
- The janitor CronJob (templates/elb-janitor-cronjob.yaml.template) is not run: its GCP script
  (docker-janitor/elastic-blast-janitor.sh) does nothing while jobs run, and once `elastic-blast status --verbose`
  prints the success sentence instead of counts, its line num_failed=`grep '^Failed ' …` fails under
  `set -euo pipefail` and the script stops: on GKE a finished search gets no SUCCESS.txt and keeps its cluster
  (read from the script at github.com/ncbi/elastic-blast, not run).

Faults a test may inject beyond the honest ones (a broken database upload, a missing batch): state
`engine.kills` kills a container (e.g. OOMKilled, exit 137) the given number of times, as the kernel would.
`GkePods` serves the pods to `fake_k8s.FakeKubernetes` (as V1Pod JSON, with init container statuses).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.doubles.gcp_cli.objects import Objects
from tests.doubles.gcp_cli.state import State

__all__ = ["GkePods", "add_job", "container_logs", "observe", "pod_json", "pod_log"]

Data = dict[str, Any]
Program = Callable[["Run"], "int | None"]  # an exit code, or None: still running (waiting for something)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
BASH = "BASH version 5.1.16(1)-release"  # what the images' scripts echo first
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet
_TOOL_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "BLAST_USAGE_REPORT": "false"}
_TOOL_TIMEOUT_S = 120
_STARTING = "PodInitializing"


# -- the object store, as the images' gsutil sees it ------------------------------------------------------------
def _split(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("gs://").partition("/")
    return bucket, key


def _glob(objects: Objects, url: str) -> list[str]:
    """gs:// URLs matching `url` ('*' within one path level), as gsutil expands them."""
    bucket, key = _split(url)
    fixed = re.split(r"[*?]", key, maxsplit=1)[0]
    pattern = re.compile("".join("[^/]*" if p == "*" else re.escape(p) for p in re.split(r"(\*)", key)) + r"\Z")
    return [f"gs://{bucket}/{k}" for k in objects.keys(bucket, fixed) if pattern.match(k)]


# -- one container run ------------------------------------------------------------------------------------------
class Run:
    """A container of a pod doing its work: its spec, its pod's volumes as local directories, its log."""

    def __init__(self, data: Data, objects: Objects, job: Data, pod: Data, spec: Data, previous: str = "") -> None:
        self.data, self.objects, self.job, self.pod, self.spec = data, objects, job, pod, spec
        self.previous = previous  # what the container logged in earlier observations
        self.lines: list[str] = []

    @property
    def script(self) -> str:
        """The container's shell script (the templates' `args`, one line once YAML has folded it)."""
        return " ".join(str(a) for a in self.spec.get("args") or [])

    @property
    def env(self) -> dict[str, str]:
        return {e["name"]: str(e.get("value", "")) for e in self.spec.get("env") or []}

    def path(self, container_path: str) -> str:
        """The local directory or file behind a path inside the container (its volume mounts, its workingDir)."""
        if not container_path.startswith("/"):
            container_path = os.path.normpath(os.path.join(self.spec.get("workingDir") or "/", container_path))
        mounts = sorted(self.spec.get("volumeMounts") or [], key=lambda m: -len(m["mountPath"]))
        for mount in mounts:
            root = mount["mountPath"].rstrip("/")
            if container_path == root or container_path.startswith(root + "/"):
                return _volume_dir(self.data, self.job, self.pod, mount["name"]) + container_path[len(root) :]
        raise ValueError(f"{container_path} is on no volume of container {self.spec['name']}")

    def say(self, *lines: str) -> None:
        self.lines.extend(line for text in lines for line in text.splitlines())

    def tool(self, argv: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
        """Run a real BLAST+ program, as the image would, and log what it printed."""
        done = subprocess.run(argv, cwd=cwd, env=_TOOL_ENV, capture_output=True, text=True, check=False,
                              timeout=_TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)  # fmt: skip
        self.say(done.stdout, done.stderr)
        return done

    def copy(self, src: str, dst: str) -> str | None:
        """`gsutil -mq cp SRC DST` between gs:// and the container's files; gsutil's error text, or None."""
        if src.startswith("gs://"):
            urls = _glob(self.objects, src)
            if not urls:
                return f"CommandException: No URLs matched: {src}"
            target_dir = self.path(dst)
            for url in urls:
                target = os.path.join(target_dir, url.rsplit("/", 1)[-1]) if os.path.isdir(target_dir) else target_dir
                with open(target, "wb") as handle:
                    handle.write(self.objects.read(*_split(url)) or b"")
            return None
        local = self.path(src)
        if not os.path.isfile(local):
            return f"CommandException: No URLs matched: {src}"
        bucket, key = _split(dst)
        key = key + os.path.basename(local) if not key or key.endswith("/") else key
        with open(local, "rb") as handle:
            self.objects.write(bucket, key, handle.read())
        return None


def _volume_dir(data: Data, job: Data, pod: Data, volume: str) -> str:
    """A PVC is the cluster's one disk (elastic-blast's blast-dbs-pvc*); an emptyDir is the pod's own."""
    spec = next(v for v in job["template"]["spec"].get("volumes") or [] if v["name"] == volume)
    base = data["engine"]["directory"]
    where = os.path.join(base, "pv") if "persistentVolumeClaim" in spec else os.path.join(base, "pods", pod["name"],
                                                                                          volume)  # fmt: skip
    os.makedirs(where, exist_ok=True)
    return where


# -- what the containers of ElasticBLAST's images do ------------------------------------------------------------
def _found(pattern: str, text: str) -> tuple[str, ...]:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"the container's script does not match the 1.5.0 template ({pattern!r})")
    return match.groups()


def _stamp(run: Run) -> str:
    return (EPOCH + timedelta(seconds=run.data["engine"]["tick"])).strftime("%Y-%m-%d %H:%M:%S")


def _get_blastdb(run: Run) -> int:
    """Container get-blastdb of templates/job-init-pv.yaml.template: download the database, check it."""
    (db_path,) = _found(r"if \[ -z '(\S*)' \]", run.script)
    db, molecule = _found(r"echo blastdbcmd -info -db (\S+) -dbtype (\S+);", run.script)
    run.say(BASH)
    if db_path:
        run.say(f"gsutil -mq cp {db_path} .")
        error = run.copy(db_path, ".")
    else:  # an NCBI database: update_blastdb.pl --source gcp fetches it from NCBI's bucket
        latest = (run.objects.read("blast-db", "latest-dir") or b"").decode().strip()
        run.say(*_found(r"echo (update_blastdb\.pl (?!taxdb)[^;]*);", run.script))
        error = run.copy(f"gs://blast-db/{latest}/{db}.*", ".")
        error = error and f"{error} (TEST DOUBLE: gs://blast-db/{latest}/ has no {db}; not update_blastdb.pl's words)"
    if error:
        run.say(error)
        return 1
    run.say(*_found(r"echo (update_blastdb\.pl taxdb[^;]*);", run.script))  # taxdb: no search here needs it
    run.say(f"{_stamp(run)} RUNTIME download-blastdbs {run.data['engine']['setup_ticks']:f} seconds")
    run.say(f"blastdbcmd -info -db {db} -dbtype {molecule}")
    done = run.tool(["blastdbcmd", "-info", "-db", db, "-dbtype", molecule], run.path("."))
    if done.returncode:
        return done.returncode
    # blastdbcheck is not run: its MetaData test looks taxid 9606 up in NCBI's taxdb, which the real pod has just
    # downloaded (update_blastdb.pl taxdb) and this offline double has not; it would fail every database here.
    run.say(f"blastdbcheck -db {db} -dbtype {molecule} -no_isam -ends 5", "TEST DOUBLE: blastdbcheck not run")
    return 0


def _import_query_batches(run: Run) -> int:
    """Container import-query-batches: docker-qs/run.sh -c 1 (the batches elastic-blast split and uploaded)."""
    argv = [str(a) for a in run.spec.get("command") or []]
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    results, local = options["-o"], options.get("-q", "/blast/queries/")
    if options.get("-c") != "1":
        run.say("TEST DOUBLE: run.sh without -c 1 (a cloud query split) is not simulated")
        return 1
    run.say(f"+ gsutil -mq cp '{results}/query_batches/batch_*.fa' {local}")
    error = run.copy(f"{results}/query_batches/batch_*.fa", local)
    if error:
        run.say(error)
        return 1
    names = sorted(f for f in os.listdir(run.path(local)) if re.fullmatch(r"batch_\d+\.fa", f))
    run.say("+ find /blast/queries -type f -name 'batch_*.fa'", f"+ gsutil -qm cp batch_list.txt "
            f"{results}/metadata/batch_list.txt")  # fmt: skip
    run.objects.write(*_split(f"{results}/metadata/batch_list.txt"), "".join(f"{n}\n" for n in names).encode())
    return 0


def _submit_jobs(run: Run) -> int | None:
    """Container submit-jobs: docker-job-submit/cloud-job-submit.sh."""
    setup = [job for job in run.data["k8s"]["jobs"] if job.get("labels", {}).get("app") == "setup"]
    active = [job["name"] for job in setup if not job.get("conditions")]
    if active:
        waiting = f"Waiting for jobs {' '.join(active)}"
        if waiting not in run.previous:
            run.say(waiting)
        return None
    failed = [job["name"] for job in setup if "Complete" not in job.get("conditions", [])]
    if failed:
        run.say(f"Setup job(s) failed: {' '.join(failed)}")
        return 1
    _delete_job(run.data, "init-pv")  # frees the read-write disk for the BLAST jobs
    results = run.env["ELB_RESULTS"]
    template = run.objects.read(*_split(f"{results}/metadata/job.yaml.template"))
    batches = run.objects.read(*_split(f"{results}/metadata/batch_list.txt"))
    if template is None or batches is None:
        run.say("Job file or batch list not found in GCS")
        return 1
    run.say("Submitting jobs")
    count = _apply_batch_jobs(run, template.decode(), batches.decode().split())
    run.say(f"Submitted {count} jobs")
    run.objects.write(*_split(f"{results}/metadata/num_jobs_submitted.txt"), f"{count}\n".encode())
    run.say("Done")
    return 0


def _apply_batch_jobs(run: Run, template: str, batches: list[str]) -> int:
    """`envsubst '${JOB_NUM} ${BLAST_ELB_BATCH_NUM}'` per batch, then `kubectl apply`; the number of batches."""
    import yaml

    for index, batch in enumerate(batches):
        match = re.fullmatch(r"batch_(\d{3,})\.fa", batch)
        if match:
            text = template.replace("${JOB_NUM}", match[1]).replace("${BLAST_ELB_BATCH_NUM}", str(index))
            job = add_job(run.data, yaml.safe_load(text))
            run.say(f"job.batch/{job['name']} created")
    return len(batches)


def _load_blastdb_into_ram(run: Run) -> int:
    """Init container load-blastdb-into-ram: `blastdb_path … -getvolumespath | … vmtouch` (vmtouch not run)."""
    molecule, db = _found(r"blastdb_path -dbtype (\S+) -db (\S+) -getvolumespath", run.script)
    run.say(BASH)
    argv = ["blastdb_path", "-dbtype", molecule, "-db", db, "-getvolumespath"]
    done = subprocess.run(argv, cwd=run.path("."), env=_TOOL_ENV, capture_output=True, text=True, check=False,
                          timeout=_TOOL_TIMEOUT_S)  # fmt: skip
    run.say(done.stderr, f"{_stamp(run)} RUNTIME cache-blastdbs-to-ram 0.000000 seconds")
    return done.returncode


def _blast(run: Run) -> int:
    """Container blast of templates/blast-batch-job.yaml.template: run BLAST+, keep its archive and exit code."""
    job_num, program, db, command = _found(r"echo run start (\S+) (\S+) (\S+); echo (.+?); TIME=", run.script)
    results_dir, disk = run.path("/blast/results"), run.path(".")
    run.say(BASH)
    info = subprocess.run(["blastdbcmd", "-info", "-db", db], cwd=disk, env=_TOOL_ENV, capture_output=True,
                          text=True, check=False, timeout=_TOOL_TIMEOUT_S)  # fmt: skip
    total = next((line.split()[2] for line in info.stdout.splitlines() if "total" in line), "")
    _write(os.path.join(results_dir, "BLASTDB_LENGTH.out"), total.replace(",", "") + "\n")
    run.say(f"run start {job_num} {program} {db}", command)
    argv = [run.path(arg) if arg.startswith("/blast/") else arg for arg in shlex.split(command)]
    done = subprocess.run(argv, cwd=disk, env=_TOOL_ENV, capture_output=True, text=True, check=False,
                          timeout=_TOOL_TIMEOUT_S)  # fmt: skip
    run.say(done.stderr, f"RUNTIME blast-job-{job_num} 1.000000 seconds", f"run end {job_num} {done.returncode}")
    out = run.path(_found(r"-out (\S+)", command)[0])
    if os.path.isfile(out):
        with open(out, "rb") as raw, gzip.open(out + ".gz", "wb") as packed:
            shutil.copyfileobj(raw, packed)
        os.remove(out)
    else:
        run.say(f"gzip: {out}: No such file or directory")
    _write(os.path.join(results_dir, f"BLAST_RUNTIME-{job_num}.out"), f"run exitCode {job_num} {done.returncode}\n")
    _write(os.path.join(results_dir, "BLAST_EXIT_CODE.out"), f"{done.returncode}\n")
    if done.returncode:
        (results,) = _found(r"gsutil -q stat (\S+)/metadata/FAILURE\.txt", run.script)
        bucket, key = _split(f"{results}/metadata/FAILURE.txt")
        if run.objects.info(bucket, key) is None:
            run.objects.write(bucket, key, done.stderr.encode())
    return 0  # the script's last command is the `if` above, whatever BLAST said


def _results_export(run: Run) -> int | None:
    """Container results-export: wait for BLAST_EXIT_CODE.out, copy what the script lists, exit with BLAST's code."""
    code_file = run.path("/result/BLAST_EXIT_CODE.out")
    if not (os.path.isfile(code_file) and os.path.getsize(code_file)):
        return None  # until [ -s /result/BLAST_EXIT_CODE.out ] ; do sleep 1; done
    copies = re.findall(r"ls -1f (\S+) \| gsutil -qm cp -I (\S+);|gsutil -mq cp (\S+) (\S+);", run.script)
    for listed, listed_to, src, dst in copies:
        src, dst = (listed, listed_to) if listed else (src, dst)
        run.say(f"+ gsutil -mq cp {src} {dst}")
        error = run.copy(src, dst)
        if error:
            run.say(error)
            return 1  # set -e
    with open(code_file) as handle:
        code = int(handle.read().strip() or "1")
    run.say("++ cat /result/BLAST_EXIT_CODE.out", f"+ exit {code}")
    return code


PROGRAMS: dict[str, Program] = {
    "get-blastdb": _get_blastdb,
    "import-query-batches": _import_query_batches,
    "submit-jobs": _submit_jobs,
    "load-blastdb-into-ram": _load_blastdb_into_ram,
    "blast": _blast,
    "results-export": _results_export,
}


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


# -- Jobs and pods ----------------------------------------------------------------------------------------------
def add_job(data: Data, doc: Data) -> Data:
    """`kubectl apply` of a Job manifest: the Job, to be run by `observe` (an existing Job stays as it is)."""
    meta, spec = doc["metadata"], doc["spec"]
    found = next((job for job in data["k8s"]["jobs"] if job["name"] == meta["name"]), None)
    if found is not None:
        return found
    template = spec["template"]
    job = {"name": meta["name"], "labels": dict(meta.get("labels") or {}), "conditions": [], "active": 1,
           "succeeded": 0, "failed": 0, "backoff_limit": int(spec.get("backoffLimit", 6)), "retry_at": 0,
           "uid": _uid(f"job/{meta['name']}/{data['engine']['serial']}"),
           "template": {"labels": dict((template.get("metadata") or {}).get("labels") or {}),
                        "spec": template["spec"]}}  # fmt: skip
    data["k8s"]["jobs"].append(job)
    return job


def _uid(seed: str) -> str:
    digest = hashlib.sha1(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _delete_job(data: Data, name: str) -> None:
    """`kubectl delete job NAME`: the Job and its pods."""
    k8s = data["k8s"]
    k8s["jobs"] = [job for job in k8s["jobs"] if job["name"] != name]
    k8s["pods"] = [pod for pod in k8s["pods"] if pod.get("job") != name]


def observe(data: Data, objects: Objects) -> None:
    """One observation of the cluster: one tick of its time, in which every Job and pod moves on."""
    engine = data["engine"]
    cluster = (data.get("current_context") or "").split("_", 3)[-1]
    if not engine["enabled"] or data["clusters"].get(cluster) != "RUNNING":
        return  # a cluster that is not there (deleted, provisioning) does nothing
    engine["tick"] += 1
    stepped: set[str] = set()
    while True:  # a Job applied during this tick (by submit-jobs) gets its pod in this tick too
        jobs = [job for job in data["k8s"]["jobs"] if "template" in job and not job["conditions"] and
                job["name"] not in stepped]  # fmt: skip
        if not jobs:
            return
        for job in jobs:
            stepped.add(job["name"])
            if job in data["k8s"]["jobs"]:  # init-pv may have gone meanwhile (submit-jobs deletes it)
                _step_job(data, objects, job, engine["tick"])


def _step_job(data: Data, objects: Objects, job: Data, now: int) -> None:
    live = [pod for pod in data["k8s"]["pods"] if pod.get("job") == job["name"] and pod["phase"] in
            ("Pending", "Running")]  # fmt: skip
    if not live:
        if now < job["retry_at"]:
            return
        live = [_new_pod(data, job, now)]
    pod = live[0]
    _step_pod(data, objects, job, pod, now)
    if pod["phase"] == "Succeeded":
        job.update(conditions=["SuccessCriteriaMet", "Complete"], active=0, succeeded=1)
    elif pod["phase"] == "Failed":  # restartPolicy Never: the Job makes a new pod, up to backoffLimit times
        job["failed"] += 1
        if job["failed"] > job["backoff_limit"]:
            job.update(conditions=["FailureTarget", "Failed"], active=0)
        job["retry_at"] = now + data["engine"]["backoff_ticks"]
    elif pod["restart_policy"] == "OnFailure" and 0 < _restarts(pod) >= job["backoff_limit"]:
        # restartPolicy OnFailure: restarts count against backoffLimit; the Job fails and deletes its pod.
        job.update(conditions=["FailureTarget", "Failed"], active=0, failed=1)
        data["k8s"]["pods"].remove(pod)


def _restarts(pod: Data) -> int:
    return sum(c["restarts"] for c in (*pod["init_containers"], *pod["containers"]))


def _new_pod(data: Data, job: Data, now: int) -> Data:
    engine = data["engine"]
    engine["serial"] += 1
    digest = hashlib.sha1(f"{job['name']}/{engine['serial']}".encode()).digest()
    name = f"{job['name']}-{''.join(_NAME_CHARS[b % len(_NAME_CHARS)] for b in digest[:5])}"
    spec = job["template"]["spec"]
    waiting = _STARTING if spec.get("initContainers") else "ContainerCreating"
    uid, job_name = job["uid"], job["name"]
    labels = {**job["template"]["labels"], "controller-uid": uid, "job-name": job_name,
              "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": job_name}  # fmt: skip
    pod = {
        "name": name, "job": job["name"], "labels": labels, "phase": "Pending", "uid": _uid(f"pod/{name}"),
        "created": now, "until": now + engine["pending_ticks"], "restart_policy": spec.get("restartPolicy", "Always"),
        "init_containers": [_container(c["name"], _STARTING) for c in spec.get("initContainers") or []],
        "containers": [_container(c["name"], waiting) for c in spec["containers"]],
    }  # fmt: skip
    data["k8s"]["pods"].append(pod)
    return pod


def _container(name: str, reason: str) -> Data:
    return {"name": name, "state": "waiting", "reason": reason, "message": "", "exit_code": None, "restarts": 0,
            "log": "", "until": 0, "started": None, "last": None}  # fmt: skip


def _step_pod(data: Data, objects: Objects, job: Data, pod: Data, now: int) -> None:
    """Move a live pod on: still pending, its init containers one by one, then its containers together."""
    if now < pod["until"]:
        return
    engine = data["engine"]
    init = next((c for c in pod["init_containers"] if c["state"] != "terminated" or c["exit_code"]), None)
    if init is not None:
        _step_container(data, objects, job, pod, init, now, engine["init_ticks"])
        if init["state"] == "terminated" and init["exit_code"] == 0:
            init = next((c for c in pod["init_containers"] if c["state"] != "terminated"), None)
        if init is not None:
            return
    pod["phase"] = "Running"
    for container in pod["containers"]:
        ticks = engine["setup_ticks"] if container["name"] in ("get-blastdb", "import-query-batches") else \
            engine["run_ticks"]  # fmt: skip
        _step_container(data, objects, job, pod, container, now, ticks)
    ended = [c for c in pod["containers"] if c["state"] == "terminated"]
    if len(ended) == len(pod["containers"]):
        pod["phase"] = "Failed" if any(c["exit_code"] for c in ended) else "Succeeded"


def _step_container(data: Data, objects: Objects, job: Data, pod: Data, c: Data, now: int, ticks: int) -> None:
    """Start a waiting container, or let a running one do its work when its time is up; restart on failure."""
    if c["state"] == "waiting" and (c["reason"] != "CrashLoopBackOff" or now >= c["until"]):
        c.update(state="running", reason="", message="", until=now + ticks, started=now)
    if c["state"] != "running" or now < c["until"]:  # (a container given 0 ticks does its work as it starts)
        return
    specs = [*(job["template"]["spec"].get("initContainers") or []), *job["template"]["spec"]["containers"]]
    spec = next(s for s in specs if s["name"] == c["name"])
    run = Run(data, objects, job, pod, spec, c["log"])
    killed = _kill(data, c["name"])
    code = killed[0] if killed else PROGRAMS[c["name"]](run)
    c["log"] += "".join(f"{line}\n" for line in run.lines)
    if code is None:
        return  # still at it (waiting for a file, for other jobs)
    reason = killed[1] if killed else ("Completed" if code == 0 else "Error")
    c.update(state="terminated", exit_code=code, reason=reason, finished=now)
    if code and pod["restart_policy"] == "OnFailure":  # the kubelet restarts it in the same pod, after a back-off
        pod_id = f"{pod['name']}_default({pod['uid']})"
        c.update(state="waiting", reason="CrashLoopBackOff", restarts=c["restarts"] + 1,
                 until=now + data["engine"]["backoff_ticks"],
                 message=f"back-off 10s restarting failed container={c['name']} pod={pod_id}",
                 last={"exit_code": code, "reason": reason, "started": c["started"], "finished": now})  # fmt: skip
    elif code and not any(x is c for x in pod["containers"]):
        pod["phase"] = "Failed"  # an init container failed and the pod may not restart it


def _kill(data: Data, name: str) -> tuple[int, str] | None:
    """A kill the test asked for (engine.kills): (exit code, reason), using up one of its times."""
    rule = data["engine"]["kills"].get(name)
    if not rule or rule.get("times", 1) <= 0:
        return None
    rule["times"] = rule.get("times", 1) - 1
    return int(rule.get("exit_code", 137)), str(rule.get("reason", "OOMKilled"))


# -- what the API server and kubectl show -----------------------------------------------------------------------
def _time(tick: int | None) -> str:
    return (EPOCH + timedelta(seconds=tick or 0)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_status(c: Data, image: str) -> Data:
    """A V1ContainerStatus as the kubelet reports it."""
    if c["state"] == "waiting":
        state: Data = {"waiting": {"reason": c["reason"], **({"message": c["message"]} if c["message"] else {})}}
    elif c["state"] == "running":
        state = {"running": {"startedAt": _time(c["started"])}}
    else:
        state = {"terminated": {"exitCode": c["exit_code"], "reason": c["reason"], "startedAt": _time(c["started"]),
                                "finishedAt": _time(c.get("finished"))}}  # fmt: skip
    status = {"name": c["name"], "image": image, "imageID": "", "ready": c["state"] == "running",
              "started": c["state"] == "running", "restartCount": c["restarts"], "state": state}  # fmt: skip
    if c.get("last"):
        last = c["last"]
        status["lastState"] = {"terminated": {"exitCode": last["exit_code"], "reason": last["reason"],
                                              "startedAt": _time(last["started"]),
                                              "finishedAt": _time(last["finished"])}}  # fmt: skip
    return status


def pod_json(data: Data, pod: Data) -> Data:
    """The pod as the Kubernetes API serves it (a V1Pod), spec from its Job's template."""
    job = next((j for j in data["k8s"]["jobs"] if j["name"] == pod.get("job")), None)
    spec = job["template"]["spec"] if job and "template" in job else {"containers": []}
    images = {c["name"]: c.get("image", "") for c in [*(spec.get("initContainers") or []), *spec["containers"]]}
    containers = [{"name": c["name"], "image": c.get("image", ""),
                   "env": [{"name": e["name"], "value": str(e.get("value", ""))} for e in c.get("env") or []]}
                  for c in spec["containers"]]  # fmt: skip
    status: Data = {"phase": pod["phase"], "conditions": [{"type": "PodScheduled", "status": "True"}]}
    if "containers" in pod:  # a pod of the cluster double (scenario pods only have a phase)
        status["initContainerStatuses"] = [_container_status(c, images.get(c["name"], "")) for c in
                                           pod["init_containers"]]  # fmt: skip
        status["containerStatuses"] = [_container_status(c, images.get(c["name"], "")) for c in pod["containers"]]
    meta = {
        "name": pod["name"],
        "namespace": data["engine"]["namespace"],
        "labels": pod.get("labels", {}),
        "uid": pod.get("uid") or _uid(f"pod/{pod['name']}"),
        "creationTimestamp": _time(pod.get("created")),
    }
    pod_spec = {"restartPolicy": spec.get("restartPolicy", "Always"), "containers": containers,
                "initContainers": [{"name": c["name"], "image": c.get("image", "")}
                                   for c in spec.get("initContainers") or []]}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec, "status": status}


def pod_log(data: Data, name: str, container: str, tail_lines: int | None) -> tuple[int, str]:
    """(HTTP status, body) of `GET …/pods/{name}/log?container=…&tailLines=…`, as the API server answers."""
    pod = next((p for p in data["k8s"]["pods"] if p["name"] == name), None)
    if pod is None:
        return 404, f'pods "{name}" not found'
    found = next((c for c in [*pod.get("init_containers", []), *pod.get("containers", [])]
                  if c["name"] == container), None)  # fmt: skip
    if found is None:
        return 400, f"container {container} is not valid for pod {name}"
    if found["state"] == "waiting" and not found["log"]:
        return 400, f'container "{container}" in pod "{name}" is waiting to start: {found["reason"]}'
    lines = found["log"].splitlines()
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    return 200, "".join(f"{line}\n" for line in lines)


def container_logs(pods: list[Data], container: str) -> str:
    """`kubectl logs -l SELECTOR -c CONTAINER`: the logs of that container in every selected pod, one after another."""
    found = (c for pod in pods for c in pod.get("containers", []) + pod.get("init_containers", []))
    return "".join(c["log"] for c in found if c["name"] == container)


class GkePods:
    """TEST DOUBLE pod source for `fake_k8s.FakeKubernetes`: the GCP world's pods, one tick per listing.

    The same interface as `fake_cluster.FakeCluster` (pods, pod_log, revoke_credentials), over the world's
    state file, so the fake API server and the kubectl double show one cluster.
    """

    def __init__(self, state_file: str, objects: Objects) -> None:
        self.state_file, self.objects = state_file, objects

    def pods(self, namespace: str) -> list[Data]:
        with State(self.state_file) as state:
            data = state.data
            observe(data, self.objects)
            if namespace != data["engine"]["namespace"]:
                return []
            return [pod_json(data, pod) for pod in data["k8s"]["pods"]]

    def pod_log(self, namespace: str, name: str, container: str, tail_lines: int | None) -> tuple[int, str]:
        with State(self.state_file) as state:
            if namespace != state.data["engine"]["namespace"]:
                return 404, f'pods "{name}" not found'
            return pod_log(state.data, name, container, tail_lines)

    def revoke_credentials(self) -> None:
        """The cluster stops trusting everyone's credentials: kubectl (and so elastic-blast) is refused too."""
        with State(self.state_file) as state:
            state.data["k8s"]["unauthorized"] = True
