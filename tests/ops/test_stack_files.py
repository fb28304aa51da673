"""Where a stack keeps its state, and the status lines `blastflow status` prints."""

from __future__ import annotations

from pathlib import Path

from ops.stack_files import StackFiles, StackStatus


def test_the_status_lines_say_where_to_look() -> None:
    status = StackStatus(api_url="http://127.0.0.1:4200/api", server_pid=10, worker_pid=11, healthy=True,
                         code_version="0.1.0+abc", deployments=["blast-search", "reconcile"])
    assert status.ui_url == "http://127.0.0.1:4200"
    assert status.lines() == [
        "Prefect server: pid 10, answering at http://127.0.0.1:4200/api",
        "Prefect UI:     http://127.0.0.1:4200",
        "Worker:         pid 11 (pool blastflow-local)",
        "Deployed code:  0.1.0+abc",
        "Deployments:    blast-search, reconcile",
    ]


def test_each_stack_has_its_own_worker_name(tmp_path: Path) -> None:
    one, two = StackFiles.of(tmp_path / "a"), StackFiles.of(tmp_path / "b")
    assert one.worker_name != two.worker_name and one.worker_name.startswith("blastflow-local-")


def test_the_state_up_records_reads_back(tmp_path: Path) -> None:
    files = StackFiles.of(tmp_path)
    assert files.read_state() == {}
    files.root.mkdir()
    files.write_state(api_url="http://127.0.0.1:4200/api", port=4200, deployments=["blast-search"])
    assert files.read_state() == {"api_url": "http://127.0.0.1:4200/api", "port": 4200, "deployments": ["blast-search"]}
    assert files.state == tmp_path.resolve() / "stack" / "stack.json"
