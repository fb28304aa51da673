"""TEST DOUBLE: a scripted `Backend` for step tests, and a clock that moves only when a step sleeps.

`ScriptedBackend` stands in for the real backends (blastflow.backends.local, blastflow.backends.elastic_blast)
behind the `blastflow.backends.base.Backend` protocol: it replays scripted pod counts, statuses and pod logs.
`FakeClock` stands in for `time.monotonic` / `time.sleep` in a `StepContext`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from blastflow.provenance import BackendProvenance
from blastflow.search import CheckedSearch, PodCounts, PreparedRun, RunState, RunStatus


class ScriptedBackend:
    """Each call takes the next scripted answer and repeats the last one when the script runs out."""

    name = "scripted"
    status_interval_s = 0.0

    def __init__(
        self,
        counts: Iterable[PodCounts] = (),
        statuses: Iterable[RunStatus | Exception] = (),
        pod_logs: Iterable[dict[str, str] | None] = (),
        problems: Iterable[str] = (),
        archives: Iterable[Path] = (),
        database: Path | Exception | None = None,
    ) -> None:
        self._counts, self._statuses, self._pod_logs = list(counts), list(statuses), list(pod_logs)
        self._problems = list(problems)
        self._archives, self._database = list(archives), database
        self.calls: dict[str, int] = {}

    def _next(self, name: str, script: list):
        self.calls[name] = self.calls.get(name, 0) + 1
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def prepare(self, job_id: str, search: CheckedSearch, workdir: Path) -> PreparedRun:
        raise NotImplementedError

    def submit_command(self, run: PreparedRun) -> list[str]:
        raise NotImplementedError

    def submit_env(self, run: PreparedRun) -> dict[str, str | None]:
        return {}

    def pod_counts(self, run: PreparedRun) -> PodCounts:
        return self._next("pod_counts", self._counts)

    def status(self, run: PreparedRun) -> RunStatus:
        return self._next("status", self._statuses or [RunStatus(state=RunState.RUNNING)])

    def exit_meaning(self, returncode: int) -> str | None:
        return None

    def pod_problems(self, run: PreparedRun) -> list[str]:
        return self._problems

    def pod_logs(self, run: PreparedRun, tail_lines: int = 200) -> dict[str, str] | None:
        return self._next("pod_logs", self._pod_logs or [{}])

    def pod_logs_elsewhere(self, run: PreparedRun) -> str:
        return "scripted: the logs are in the scripted log service"

    def fetch_results(self, run: PreparedRun, dest: Path) -> list[Path]:
        return list(self._archives)

    def results_database(self, run: PreparedRun) -> Path | None:
        return self._next("results_database", [self._database])

    def provenance(self, run: PreparedRun) -> BackendProvenance:
        return BackendProvenance(commands=[["blastp", "-query", "scripted.fa"]], profile={"scripted": "yes"})

    def cancel(self, run: PreparedRun, others_live: Sequence[PreparedRun] = ()) -> str:
        self.calls["cancel"] = self.calls.get("cancel", 0) + 1
        return "scripted: cancelled"


class FakeClock:
    """Time that moves only when a step sleeps: waits and timeouts run instantly and exactly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
