"""The job store (Azurite's Table service) goes away for 30 s in the middle of a run: nothing is lost.

The flow runs on the elastic-blast backend over its doubles, with the job store in a
private Azurite. The fake `elastic-blast submit` prints its first lines and holds;
the test takes Azurite away (stopped: connections refused; or paused with SIGSTOP:
a hung endpoint, requests time out), releases the submit (so the rest of its
output is printed while the store is down), waits 30 s and brings Azurite back on
the same port and data. The run must finish completed, and the submit step's
stored lines must be exactly what the child printed (recorded by the wrapper
double), once each, and counted on the row.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from blastflow.model import STEP_ORDER, Phase, StepName, StepStatus
from blastflow.sanitise import sanitise
from blastflow.store.azure_table import AzureTableStore
from flows.blast_search import blast_search
from tests.doubles.elb_doubles import PROT_DB, first_records
from tests.doubles.faultkit import elb_wrapper, log_texts, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.azurite, pytest.mark.timeout(420)]

JOB_ID = "4e5f6a7b-8c9d-4e0f-9a1b-3c4d5e6f7a8b"
HELD_LINE = "[1/5] Writing configuration to "  # the Azure fork's first stdout line (commands/submit.py:118)
OUTAGE_S = 30.0


class Outage(threading.Thread):
    """Stops Azurite once the held submit line is stored, lets the submit go on, restarts Azurite 30 s later."""

    def __init__(self, azurite, handshake: Path, how: str) -> None:
        super().__init__(name="store-outage", daemon=True)
        self.azurite, self.handshake, self.how = azurite, handshake, how
        self.phase_at_stop: Phase | None = None
        self.flow_done_at_restart: bool | None = None
        self.flow_done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with AzureTableStore(self.azurite.connection_string) as watcher:
                # The store may go while a write of the flow is in flight: its retry must not apply it twice.
                def held() -> bool:
                    return any(line.startswith(HELD_LINE) for line in log_texts(watcher, JOB_ID, StepName.SUBMIT))

                wait_for(held, "the held submit line")
                self.phase_at_stop = watcher.get(JOB_ID).phase
            self.azurite.stop() if self.how == "stop" else self.azurite.pause()
            self.handshake.touch()  # the submit child prints the rest of its output into the outage
            time.sleep(OUTAGE_S)
            self.flow_done_at_restart = self.flow_done.is_set()
            self.azurite.start() if self.how == "stop" else self.azurite.resume()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.handshake.touch()


@pytest.mark.parametrize("how", ["stop", "pause"])
def test_a_30_s_store_outage_mid_run_loses_no_line(
    azure_pipeline, elb_world, azurite_private, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    record, handshake = tmp_path / "printed.jsonl", tmp_path / "handshake"
    monkeypatch.setenv("BLASTFLOW_ELB_EXECUTABLE", str(elb_wrapper(tmp_path / "bin")))
    monkeypatch.setenv("FAULTS_ELB_RECORD", str(record))
    monkeypatch.setenv("FAKE_ELB_HANDSHAKE", str(handshake))
    monkeypatch.setenv("FAKE_ELB_HANDSHAKE_TIMEOUT", "180")
    outage = Outage(azurite_private, handshake, how)
    outage.start()
    try:
        result = blast_search(query=first_records("prot", 4), db=PROT_DB, program="blastp", batch_len=400,
                              backend="elastic-blast", job_id=JOB_ID)  # fmt: skip
    finally:
        outage.flow_done.set()
        outage.join(timeout=OUTAGE_S + 60)
    assert outage.error is None, outage.error
    assert outage.phase_at_stop is Phase.SUBMITTING, "the store went down while submit was streaming"
    assert outage.flow_done_at_restart is False, "the flow was still running when the store came back"

    store = azure_pipeline
    job = store.get(JOB_ID)
    assert result["phase"] == "completed" and result["hits"] > 0
    assert job.phase is Phase.COMPLETED and job.error is None
    assert {name: step.status for name, step in job.steps.items()} == dict.fromkeys(STEP_ORDER, StepStatus.COMPLETED)
    assert job.pod_logs == "captured"

    # The submit step's lines are exactly what the child printed: none lost, none twice.
    printed = [json.loads(line) for line in record.read_text().splitlines()]
    assert any(sanitise(text).startswith(HELD_LINE) for _, text in printed)
    # The fork's later progress line (elasticblast.py:103) and its last log record (azure.py:1137).
    assert any(sanitise(text) == " Upload workfiles" for _, text in printed), "printed in the outage"
    assert any(text.endswith(" INFO: Submitted elb-finalizer job") for _, text in printed), "printed in the outage"
    stored = store.read_logs(JOB_ID, StepName.SUBMIT).lines
    assert stored[0].text.startswith("$ elastic-blast-wrapper submit --cfg ")
    assert Counter(line.text for line in stored[1:]) == Counter(sanitise(text) for _, text in printed)
    for stream in ("stdout", "stderr"):  # each stream's lines keep their order
        mine = [sanitise(text) for s, text in printed if s == stream]
        assert [line.text for line in stored if line.text in set(mine)] == mine

    # Every step: sequence numbers 1..n once each, and the row counts exactly the stored lines.
    for name in STEP_ORDER:
        seqs = [line.seq for line in store.read_logs(JOB_ID, name).lines]
        assert seqs == list(range(1, len(seqs) + 1)), name
        assert job.steps[name].log_line_count == len(seqs), name
    assert job.steps[StepName.SUBMIT].log_line_count == len(printed) + 1
