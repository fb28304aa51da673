"""What the fault suites share: flow processes to start and kill, waits, /proc process checks, page renders.

A fault-injection helper, not a double: it drives the real flow, store and page, and launches the
`elastic-blast` wrapper double (`elb_wrapper`). Import it as `from tests.doubles.faultkit import ...`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from blastflow.model import JobRecord, StepName, StepStatus
from blastflow.store.base import StateStore
from tests.doubles.elb_doubles import module_launcher

__all__ = [
    "APP",
    "DOUBLES",
    "REPO",
    "command_line",
    "descendants",
    "elb_wrapper",
    "kill_group",
    "live_pids",
    "log_texts",
    "page_strings",
    "render_job_page",
    "start_flow",
    "step_states",
    "wait_for",
]

DOUBLES = Path(__file__).resolve().parent
REPO = DOUBLES.parents[1]
APP = str(REPO / "ui" / "app.py")
T = TypeVar("T")


# -- waiting -------------------------------------------------------------------------------------------------------


def wait_for(
    probe: Callable[[], T | None], what: str, *, limit_s: float = 240.0, proc: subprocess.Popen | None = None
) -> T:
    """Call `probe` until it returns something truthy; fail naming `what` (and the flow's log if it died)."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the flow process exited with {proc.returncode} before {what}{_log_of(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting {limit_s:.0f} s for {what}{_log_of(proc)}")
        time.sleep(0.1)


def _log_of(proc: subprocess.Popen | None) -> str:
    path = getattr(proc, "log_path", None)
    if path is None or not Path(path).exists():
        return ""
    return "\n--- flow process output (last 3000 characters) ---\n" + Path(path).read_text(errors="replace")[-3000:]


def log_texts(store: StateStore, job_id: str, step: StepName | None = None) -> list[str]:
    """Every stored log line of a job (or of one step), in order."""
    return [line.text for line in store.read_logs(job_id, step).lines]


# -- flow processes ------------------------------------------------------------------------------------------------


def start_flow(job_id: str, env: dict[str, str], log_path: Path, **params: Any) -> subprocess.Popen:
    """Run the blast-search flow in a process of its own (its own session, so its children can be found).

    Its output goes to `log_path` (shown when a wait fails).
    """
    code = textwrap.dedent(
        f"""
        import json
        from flows.blast_search import blast_search
        blast_search(job_id={job_id!r}, **json.loads({json.dumps(params)!r}))
        """
    )
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def kill_group(pgid: int) -> None:
    """SIGKILL every process still in a process group (the children a killed flow left behind)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# -- processes, from /proc ----------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2])


def _all_pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def live_pids(pids: Iterable[int]) -> list[int]:
    """Those of `pids` that are still running (zombies count as gone)."""
    alive = []
    for pid in pids:
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z":
            alive.append(pid)
    return alive


def descendants(root: int) -> set[int]:
    """Every live process below `root`, and every live process in `root`'s process group (orphans stay in it)."""
    parents: dict[int, int] = {}
    group: set[int] = set()
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is None or stat[0] == "Z":
            continue
        parents[pid] = stat[1]
        if stat[2] == root and pid != root:
            group.add(pid)
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found | group


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


# -- the elastic-blast wrapper double ------------------------------------------------------------------------------


def elb_wrapper(bin_dir: Path) -> Path:
    """A launcher for `python -m tests.doubles.elb_wrapper` (set BLASTFLOW_ELB_EXECUTABLE to it)."""
    return module_launcher(bin_dir / "elastic-blast-wrapper", "tests.doubles.elb_wrapper")


# -- the monitoring page -------------------------------------------------------------------------------------------


def step_states(job: JobRecord) -> dict[StepName, StepStatus]:
    return {name: step.status for name, step in job.steps.items()}


def render_job_page(store_url: str, job_id: str, tab: str | None = None) -> Any:
    """The job page under Streamlit's AppTest, reading `store_url` as the running page would."""
    from streamlit.testing.v1 import AppTest

    saved = os.environ.get("BLASTFLOW_STORE_URL")
    os.environ["BLASTFLOW_STORE_URL"] = store_url
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["job"] = job_id
        if tab is not None:
            at.query_params["tab"] = tab
        at.run()
    finally:
        if saved is None:
            os.environ.pop("BLASTFLOW_STORE_URL", None)
        else:
            os.environ["BLASTFLOW_STORE_URL"] = saved
    assert not at.exception, at.exception
    return at


def page_strings(at: Any) -> list[str]:
    """Every string the page sent to the browser: each field of every element's protobuf, recursively."""
    found: list[str] = []

    def walk_message(message: Any) -> None:
        for _field, value in message.ListFields():
            for item in value if _is_repeated(value) else [value]:
                if isinstance(item, str):
                    found.append(item)
                elif isinstance(item, bytes):
                    found.append(item.decode(errors="replace"))
                elif hasattr(item, "ListFields"):
                    walk_message(item)

    def walk_node(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            walk_message(proto)
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk_node(child)

    walk_node(at._tree)
    return found


def _is_repeated(value: Any) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields")
