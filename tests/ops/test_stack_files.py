"""Where a stack keeps its state, and the status lines `blastflow stack status` prints."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from blastflow.sanitise import sanitise
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


def test_an_exposed_stack_says_where_its_auth_string_is_and_how_to_open_it(tmp_path: Path) -> None:
    files = StackFiles.of(tmp_path)
    secret = files.ensure_auth_string()
    status = StackStatus(api_url="http://127.0.0.1:4200/api", server_pid=10, healthy=True, host="0.0.0.0",
                         auth_file=files.api_auth)
    lines, remote = status.lines(), status.remote_lines()

    assert lines[-2:] == ["Listening on:   0.0.0.0 (reachable from other machines)",
                          f"API auth:       on (string in {files.api_auth})"]
    assert remote[0] == "From another machine: http://<this machine's address>:4200 (the server listens on 0.0.0.0)"
    assert f"paste the line in {files.api_auth}" in remote[1]
    assert f'PREFECT_API_AUTH_STRING="$(cat {files.api_auth})"' in remote[2]
    assert secret not in "\n".join(lines + remote) and secret not in repr(status)


def test_a_loopback_stack_prints_nothing_about_auth() -> None:
    status = StackStatus(api_url="http://127.0.0.1:4200/api", server_pid=10, healthy=True, host="127.0.0.1")
    assert not any("auth" in line.lower() or "Listening" in line for line in status.lines())
    assert status.remote_lines() == []


def test_the_auth_string_is_made_once_in_a_file_only_the_user_can_read(tmp_path: Path) -> None:
    files = StackFiles.of(tmp_path)
    assert files.auth_string() is None

    made = files.ensure_auth_string()
    assert stat.S_IMODE(files.api_auth.stat().st_mode) == 0o600
    assert made.startswith("blastflow:") and len(made) > 40  # Prefect's user:password form, 256 random bits
    assert files.ensure_auth_string() == made == files.auth_string()  # once: `up` again keeps it

    files.api_auth.chmod(0o644)  # e.g. restored from a backup
    assert files.ensure_auth_string() == made
    assert stat.S_IMODE(files.api_auth.stat().st_mode) == 0o600
    assert StackFiles.of(tmp_path / "other").ensure_auth_string() != made


def test_clients_of_the_stack_get_its_auth_string_and_never_show_it(tmp_path: Path) -> None:
    files = StackFiles.of(tmp_path)
    assert files.api("http://127.0.0.1:4200/api").env() == {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}

    secret = files.ensure_auth_string()
    api = files.api("http://127.0.0.1:4200/api")
    assert api.env() == {"PREFECT_API_URL": "http://127.0.0.1:4200/api", "PREFECT_API_AUTH_STRING": secret}
    assert base64.b64decode(api.headers()["Authorization"].removeprefix("Basic ")).decode() == secret
    assert secret not in repr(api) and secret not in str(api)
    assert secret not in sanitise(f"server said: bad auth {secret}")  # a log tail in an error is masked
