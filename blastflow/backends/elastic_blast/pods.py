"""ElasticBLAST's Kubernetes pods: list them by label, count their phases, read their log tails.

Cluster access goes through prefect-kubernetes' `KubernetesCredentials` block
(a kubeconfig, or in-cluster), whose client is asynchronous (kubernetes_asyncio);
the sync methods here run it on a private event loop. Errors keep their cause:
401/403 become a permanent `BackendError` ("cluster credentials rejected"),
timeouts, 429 and 5xx a `TransientBackendError` the Prefect tasks retry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from blastflow.backends.elastic_blast.aio import run_sync
from blastflow.errors import BackendError, ConfigError, TransientBackendError
from blastflow.sanitise import sanitise
from blastflow.search import PodCounts

if TYPE_CHECKING:
    from blastflow.backends.elastic_blast.credentials import KubernetesCredentials

__all__ = [
    "BLAST_APP_LABEL",
    "ELB_JOB_ID_LABEL",
    "LOG_CONTAINERS",
    "SETUP_BACKOFF_LIMITS",
    "SETUP_SELECTOR",
    "ContainerState",
    "PodInfo",
    "PodReader",
    "count_pods",
    "label_selector",
    "latest_per_batch",
    "pod_info",
    "pod_problems",
    "select_run_pods",
    "setup_failures",
    "setup_given_up",
    "setup_summary",
]

BLAST_APP_LABEL = "app=blast"
SETUP_SELECTOR = "app in (setup,submit)"  # ElasticBLAST's database-setup and job-submission jobs
ELB_JOB_ID_LABEL = "elb-job-id"  # stamped by ElasticBLAST's Azure fork on every job and pod of one submit
LOG_CONTAINERS = ("blast", "results-export")
_JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})  # waiting reasons of a pod that is on its way
# backoffLimit of ElasticBLAST's setup Jobs (restartPolicy Never: a failed pod is replaced until more than this many
# have failed): init-pv 9 in job-init-pv.yaml.template of 1.5.0 and in the Azure fork's job-init-pv-aks.yaml.template;
# submit-jobs 0 (job-submit-jobs.yaml.template).
SETUP_BACKOFF_LIMITS = {"init-pv": 9}
_PHASE_FIELD = {"Pending": "pending", "Running": "running", "Succeeded": "succeeded", "Failed": "failed"}


@dataclass(frozen=True, slots=True)
class ContainerState:
    name: str
    state: str  # waiting | running | terminated | unknown
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What blastflow needs to know about one pod."""

    name: str
    phase: str
    batch: str  # the Kubernetes Job (one per batch) the pod belongs to
    created: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)
    containers: tuple[ContainerState, ...] = ()
    init_containers: tuple[ContainerState, ...] = ()  # e.g. load-blastdb-into-ram of a BLAST pod
    results: str = ""  # ELB_RESULTS from the pod's environment, where ElasticBLAST sets it
    unschedulable: str = ""  # the scheduler's reason when the pod cannot be placed

    @property
    def elb_job_id(self) -> str:
        return self.labels.get(ELB_JOB_ID_LABEL, "")


def label_selector(elb_job_id: str | None = None) -> str:
    """The selector for one search's BLAST pods.

    Example:
        >>> label_selector(), label_selector("job-0f3a")
        ('app=blast', 'app=blast,elb-job-id=job-0f3a')
    """
    return f"{BLAST_APP_LABEL},{ELB_JOB_ID_LABEL}={elb_job_id}" if elb_job_id else BLAST_APP_LABEL


def pod_info(pod: Any) -> PodInfo:
    """A `PodInfo` from a Kubernetes `V1Pod` (kubernetes or kubernetes_asyncio model)."""
    meta, status, spec = pod.metadata, pod.status, pod.spec
    labels = dict(meta.labels or {})
    batch = next((labels[k] for k in _JOB_NAME_LABELS if labels.get(k)), "") or meta.name.rsplit("-", 1)[0]
    containers = tuple(_container_state(c) for c in (getattr(status, "container_statuses", None) or []))
    inits = tuple(_container_state(c) for c in (getattr(status, "init_container_statuses", None) or []))
    results = ""
    for container in getattr(spec, "containers", None) or []:
        for env in container.env or []:
            if env.name == "ELB_RESULTS" and env.value:
                results = env.value
    unschedulable = ""
    for condition in getattr(status, "conditions", None) or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            unschedulable = condition.message or condition.reason or "not scheduled"
    return PodInfo(
        name=meta.name,
        phase=(getattr(status, "phase", None) or "Unknown"),
        batch=batch,
        created=meta.creation_timestamp,
        labels=labels,
        containers=containers,
        init_containers=inits,
        results=results,
        unschedulable=unschedulable,
    )


def select_run_pods(pods: Iterable[PodInfo], results: str) -> list[PodInfo]:
    """The pods of the search that writes to `results`.

    Pods that carry `ELB_RESULTS` (the Azure fork sets it) must match it; pods
    without it are kept, as upstream ElasticBLAST gives each search its own cluster.
    """
    base = results.rstrip("/")
    return [p for p in pods if not p.results or p.results.rstrip("/") == base or p.results.startswith(base + "/")]


def latest_per_batch(pods: Iterable[PodInfo]) -> list[PodInfo]:
    """The newest pod of each batch (a retried batch leaves its failed pods behind)."""
    latest: dict[str, PodInfo] = {}
    for pod in pods:
        seen = latest.get(pod.batch)
        if seen is None or _age_key(pod) >= _age_key(seen):
            latest[pod.batch] = pod
    return [latest[b] for b in sorted(latest)]


def count_pods(pods: Iterable[PodInfo]) -> PodCounts:
    """Pending / Running / Succeeded / Failed over the newest pod of each batch.

    Example:
        >>> count_pods([PodInfo("a-x", "Running", "a"), PodInfo("b-y", "Pending", "b")])
        PodCounts(pending=1, running=1, succeeded=0, failed=0)
    """
    counts = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0}
    for pod in latest_per_batch(pods):
        counts[_PHASE_FIELD.get(pod.phase, "pending")] += 1  # Unknown (node lost): not running as far as we know
    return PodCounts(**counts)


def pod_problems(pods: Iterable[PodInfo]) -> list[str]:
    """Why pods are stuck or failed, in the cluster's own words (image pulls, scheduling, exits).

    Example:
        >>> stuck = PodInfo("b-0", "Pending", "b", containers=(ContainerState("blast", "waiting",
        ...     "ImagePullBackOff", 'Back-off pulling image "elb:1"'),))
        >>> pod_problems([stuck])
        ['pod b-0: container blast waiting: ImagePullBackOff: Back-off pulling image "elb:1"']
    """
    problems = []
    for pod in latest_per_batch(pods):
        if pod.unschedulable:
            problems.append(f"pod {pod.name}: not scheduled: {pod.unschedulable}")
        for c in (*pod.init_containers, *pod.containers):
            if c.state == "waiting" and c.reason and c.reason not in _STARTING:
                problems.append(f"pod {pod.name}: container {c.name} waiting: {c.reason}: {c.message}".rstrip(": "))
            elif c.state == "terminated" and c.exit_code:
                problems.append(f"pod {pod.name}: container {c.name} exited with code {c.exit_code} ({c.reason})")
    return [sanitise(p) for p in problems]


def setup_summary(pods: Iterable[PodInfo], db: str) -> tuple[str, str | None]:
    """What ElasticBLAST's setup jobs are doing, and why they failed (None while none has).

    Before any BLAST pod exists, ElasticBLAST runs setup jobs (templates of 1.5.0): `init-pv` (`app=setup`,
    containers `get-blastdb` and `import-query-batches`) downloads the database, then `submit-jobs`
    (`app=submit`) creates the BLAST jobs. A setup job's failure is the search's failure.

    Example:
        >>> init = PodInfo("init-pv-x", "Running", "init-pv", containers=(ContainerState("get-blastdb", "running"),
        ...     ContainerState("import-query-batches", "terminated", "Completed", exit_code=0)))
        >>> setup_summary([init], "swissprot")
        ('downloading database swissprot: 0 of 1 setup jobs done (get-blastdb running)', None)
    """
    jobs = latest_per_batch(pods)
    done = [pod for pod in jobs if pod.phase == "Succeeded"]
    failed = [pod for pod in jobs if pod.phase == "Failed"]
    if failed:
        return "", sanitise(f"ElasticBLAST's setup failed: {'; '.join(_setup_failure(pod) for pod in failed)}")
    running = [c.name for pod in jobs for c in pod.containers if c.state == "running"]
    detail = f" ({', '.join(running)} running)" if running else ""
    return f"downloading database {db}: {len(done)} of {len(jobs)} setup jobs done{detail}", None


def setup_failures(pods: Iterable[PodInfo]) -> list[str]:
    """Why each setup job's newest pod failed, in the cluster's words (empty while none has failed).

    Example:
        >>> setup_failures([PodInfo("init-pv-x", "Failed", "init-pv", containers=(ContainerState("get-blastdb",
        ...     "terminated", "Error", exit_code=2),))])
        ['job init-pv: container get-blastdb exited with code 2 (Error)']
    """
    return [sanitise(_setup_failure(pod)) for pod in latest_per_batch(pods) if pod.phase == "Failed"]


def setup_given_up(pods: Iterable[PodInfo]) -> bool:
    """Whether Kubernetes has stopped retrying a setup Job: more of its pods failed than its backoffLimit allows.

    Example:
        >>> failed = [PodInfo(f"init-pv-{i}", "Failed", "init-pv") for i in range(9)]
        >>> setup_given_up(failed), setup_given_up([*failed, PodInfo("init-pv-9", "Failed", "init-pv")])
        (False, True)
        >>> setup_given_up([PodInfo("submit-jobs-x", "Failed", "submit-jobs")])
        True
    """
    failures: dict[str, int] = {}
    for pod in pods:
        if pod.phase == "Failed":
            failures[pod.batch] = failures.get(pod.batch, 0) + 1
    return any(count > SETUP_BACKOFF_LIMITS.get(job, 0) for job, count in failures.items())


def _setup_failure(pod: PodInfo) -> str:
    ended = [c for c in (*pod.init_containers, *pod.containers) if c.state == "terminated" and c.exit_code]
    said = [f"container {c.name} exited with code {c.exit_code} ({c.reason}){': ' + c.message if c.message else ''}"
            for c in ended]  # fmt: skip
    return f"job {pod.batch}: {', '.join(said) or 'failed'}"


class PodReader:
    """Reads pods and pod logs in one namespace through a `KubernetesCredentials` block."""

    def __init__(self, credentials: KubernetesCredentials, namespace: str, request_timeout_s: float = 30.0) -> None:
        self.credentials = credentials
        self.namespace = namespace
        self.request_timeout_s = request_timeout_s

    def list_pods(self, selector: str) -> list[PodInfo]:
        """Every pod matching `selector`.

        Raises:
            BackendError: credentials rejected (`cluster_auth`) or the namespace does not exist.
            TransientBackendError: timeout, throttling, server error, cluster unreachable.
            ConfigError: no usable cluster configuration.
        """
        return run_sync(lambda: self._list_pods(selector))

    def read_logs(
        self, pods: Sequence[PodInfo], containers: Sequence[str] = LOG_CONTAINERS, tail_lines: int = 200
    ) -> dict[str, str]:
        """`"<pod>/<container>"` → the log tail, for every container that has printed something."""
        return run_sync(lambda: self._read_logs(pods, containers, tail_lines))

    async def _list_pods(self, selector: str) -> list[PodInfo]:
        action = f"listing pods ({selector}) in namespace {self.namespace!r}"
        async with self._core(action) as core, _api_errors(action, self.namespace, self.request_timeout_s):
            result = await core.list_namespaced_pod(
                self.namespace, label_selector=selector, _request_timeout=self.request_timeout_s
            )
        return [pod_info(p) for p in result.items or []]

    async def _read_logs(self, pods: Sequence[PodInfo], containers: Sequence[str], tail_lines: int) -> dict[str, str]:
        wanted = [(p.name, c) for p in pods for c in containers if _has_container(p, c)]
        if not wanted:
            return {}
        limit = asyncio.Semaphore(8)
        async with self._core(f"reading pod logs in namespace {self.namespace!r}") as core:

            async def one(pod: str, container: str) -> tuple[str, str]:
                action = f"reading the log of pod {pod!r} container {container!r}"
                async with limit:
                    try:
                        async with _api_errors(action, self.namespace, self.request_timeout_s):
                            text = await core.read_namespaced_pod_log(
                                pod,
                                self.namespace,
                                container=container,
                                tail_lines=tail_lines,
                                _request_timeout=self.request_timeout_s,
                            )
                    except _NoLog:
                        return f"{pod}/{container}", ""
                return f"{pod}/{container}", sanitise(_text(text))

            found = await asyncio.gather(*(one(p, c) for p, c in wanted))
        return {key: text for key, text in found if text.strip()}

    @asynccontextmanager
    async def _core(self, action: str):  # type: ignore[no-untyped-def]
        try:
            client_cm = self.credentials.get_client("core")
            core = await client_cm.__aenter__()
        except Exception as exc:
            raise _config_error(exc, action) from exc
        try:
            yield core
        except BaseException as exc:
            if not await client_cm.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            await client_cm.__aexit__(None, None, None)


class _NoLog(Exception):
    """The container has no log to give yet (not started) or the pod is gone."""


@asynccontextmanager
async def _api_errors(action: str, namespace: str, timeout_s: float):  # type: ignore[no-untyped-def]
    """Translate Kubernetes client exceptions into blastflow errors that keep the cause."""
    import aiohttp
    from kubernetes_asyncio.client.exceptions import ApiException

    reading_log = action.startswith("reading the log")
    try:
        yield
    except ApiException as exc:
        status = exc.status or 0
        said = _status_message(exc)
        if reading_log and status in (400, 404):
            raise _NoLog() from exc
        where = f"HTTP {status} {exc.reason or ''}".strip()
        if status == 401:
            raise BackendError(
                f"cluster credentials rejected ({where}) while {action}: {said}. Refresh the kubeconfig or the "
                "KubernetesCredentials block (BLASTFLOW_ELB_KUBECONFIG / BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK).",
                code="cluster_auth",
            ) from None
        if status == 403:
            raise BackendError(
                f"cluster credentials rejected ({where}) while {action}: {said}. The account needs get, list and "
                f"watch on pods and pods/log in namespace {namespace!r} (deployments/k8s/rbac.yaml).",
                code="cluster_auth",
            ) from None
        if status == 404:
            raise BackendError(
                f"not found ({where}) while {action}: {said}. Check BLASTFLOW_ELB_NAMESPACE.", code="cluster_not_found"
            ) from None
        if status in (408, 429) or status >= 500:
            raise TransientBackendError(f"the Kubernetes API answered {where} while {action}: {said}") from None
        raise BackendError(f"the Kubernetes API answered {where} while {action}: {said}") from None
    except TimeoutError:  # asyncio's and aiohttp's timeouts are TimeoutError on Python 3.11
        raise TransientBackendError(
            f"the Kubernetes API did not answer within {timeout_s:g} s while {action}"
        ) from None
    except aiohttp.ClientError as exc:
        raise TransientBackendError(f"cannot reach the Kubernetes API while {action}: {sanitise(str(exc))}") from None


def _config_error(exc: BaseException, action: str) -> ConfigError:
    """No client could be made: no kubeconfig, no in-cluster service account, or a broken config."""
    return ConfigError(
        f"no usable cluster credentials for {action}: {sanitise(str(exc)) or type(exc).__name__}. Set "
        "BLASTFLOW_ELB_KUBECONFIG or BLASTFLOW_ELB_K8S_CREDENTIALS_BLOCK, or run inside the cluster."
    )


def _status_message(exc: Any) -> str:
    """The `message` of the Kubernetes Status body, never the raw headers."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        message = json.loads(body).get("message", "") if body else ""
    except (ValueError, AttributeError):
        message = body.strip()[:300] if isinstance(body, str) else ""
    return sanitise(message or exc.reason or "no message")


def _age_key(pod: PodInfo) -> tuple[float, str]:
    return (pod.created.timestamp() if pod.created else 0.0, pod.name)


def _has_container(pod: PodInfo, container: str) -> bool:
    # Before the kubelet reports container statuses we cannot tell; ask, and accept an empty answer.
    return not pod.containers or any(c.name == container for c in pod.containers)


def _container_state(status: Any) -> ContainerState:
    state = status.state
    restarts = status.restart_count or 0
    if state is not None and state.waiting is not None:
        return ContainerState(
            status.name, "waiting", state.waiting.reason or "", state.waiting.message or "", restarts=restarts
        )
    if state is not None and state.terminated is not None:
        t = state.terminated
        return ContainerState(status.name, "terminated", t.reason or "", t.message or "", t.exit_code, restarts)
    if state is not None and state.running is not None:
        return ContainerState(status.name, "running", restarts=restarts)
    return ContainerState(status.name, "unknown", restarts=restarts)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""
