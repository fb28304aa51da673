"""The StateStore contract: every test runs on SQLite and on a real Azurite (fixture `spec`)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blastflow.errors import InputError, StoreLimitError
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import STEP_ORDER, JobStatus, Phase, StepName, StepStatus, new_job_id
from blastflow.sanitise import MASK
from blastflow.store import optimistic
from blastflow.store.base import StateStore
from blastflow.store.limits import clip_log_line

BAD_JOB_IDS = ["a/b", "a\\b", "a#b", "a?b", "a\x07b", "a\nb", "", "x" * 101, "a b"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The stores' clock, one second further on each write: job order does not hang on timer resolution."""
    ticks = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]

    def now() -> datetime:
        ticks[0] += timedelta(seconds=1)
        return ticks[0]

    monkeypatch.setattr(optimistic, "utcnow", now)
    return ticks


# -- job rows ------------------------------------------------------------------------------------------------


def test_a_missing_job_reads_as_none(store: StateStore) -> None:
    assert store.get(new_job_id()) is None


def test_the_first_update_creates_the_row(store: StateStore) -> None:
    job_id = new_job_id()
    created = store.update(job_id, JobUpdate(title="Fire ant transcripts", program="blastn", phase=Phase.PREPARING))

    assert created.job_id == job_id
    assert created.version == 1
    assert created.created_at.tzinfo is not None and created.created_at.utcoffset() == timedelta(0)
    assert created.steps[StepName.PREPARE].status is StepStatus.RUNNING
    stored = store.get(job_id)
    assert stored == created
    assert stored is not None and stored.updated_at.utcoffset() == timedelta(0)


def test_updates_merge_into_the_row_and_count_versions(store: StateStore) -> None:
    job_id = new_job_id()
    store.update(job_id, JobUpdate(phase=Phase.PREPARING, title="t"))
    store.update(job_id, JobUpdate(steps={StepName.PREPARE: StepUpdate(lines=["checking query", "3 sequences"])}))
    last = store.update(job_id, JobUpdate(phase=Phase.SUBMITTING))

    stored = store.get(job_id)
    assert stored == last
    assert stored.version == 3
    assert stored.title == "t"
    assert stored.steps[StepName.PREPARE].status is StepStatus.COMPLETED
    assert stored.steps[StepName.PREPARE].last_output == "checking query\n3 sequences"
    assert stored.steps[StepName.SUBMIT].status is StepStatus.RUNNING


def test_an_update_for_another_job_id_is_refused(store: StateStore) -> None:
    job_id = new_job_id()
    with pytest.raises(InputError, match="does not match"):
        store.update(job_id, JobUpdate(job_id=new_job_id(), title="x"))
    assert store.get(job_id) is None


def test_a_failure_demotes_orphan_running_steps_through_the_store(store: StateStore) -> None:
    job_id = new_job_id()
    store.update(job_id, JobUpdate(phase=Phase.SUBMITTING))
    failed = store.update(job_id, JobUpdate(phase=Phase.WORKER_LOST, error="worker stopped reporting"))

    stored = store.get(job_id)
    assert stored == failed
    submit = stored.steps[StepName.SUBMIT]
    assert submit.status is StepStatus.FAILED
    assert submit.source == "orphan_inferred"
    assert submit.error == "worker stopped reporting"
    assert not any(step.status is StepStatus.RUNNING for step in stored.steps.values())


def test_terminal_phases_are_sticky(store: StateStore) -> None:
    job_id = new_job_id()
    store.update(job_id, JobUpdate(phase=Phase.RUNNING))
    store.update(job_id, JobUpdate(phase=Phase.COMPLETED))
    late = store.update(
        job_id, JobUpdate(phase=Phase.RUNNING, steps={StepName.RUN: StepUpdate(status=StepStatus.RUNNING)})
    )

    stored = store.get(job_id)
    assert stored == late
    assert stored.phase is Phase.COMPLETED and stored.status is JobStatus.COMPLETED
    assert stored.steps[StepName.RUN].status is StepStatus.COMPLETED


def test_list_jobs_newest_first_with_status_filter_and_limit(store: StateStore, clock: list[datetime]) -> None:
    phases = [Phase.COMPLETED, Phase.FAILED, Phase.RUNNING, Phase.COMPLETED, Phase.QUEUED]
    ids = []
    for phase in phases:
        job_id = new_job_id()
        store.update(job_id, JobUpdate(phase=phase, title=f"job {len(ids)}"))
        ids.append(job_id)
    store.update(ids[0], JobUpdate(title="touched later: still listed by created_at"))

    assert [job.job_id for job in store.list_jobs()] == ids[::-1]
    assert [job.job_id for job in store.list_jobs(limit=2)] == [ids[4], ids[3]]
    assert [job.job_id for job in store.list_jobs(status=JobStatus.COMPLETED)] == [ids[3], ids[0]]
    both = store.list_jobs(status=[JobStatus.FAILED, JobStatus.RUNNING])
    assert [job.job_id for job in both] == [ids[2], ids[1]]
    assert store.list_jobs(status=JobStatus.CANCELLED) == []
    assert store.list_jobs(limit=1)[0] == store.get(ids[4])
    assert store.get(ids[0]).created_at == datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)  # the test's clock


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"limit": 0}, "positive"), ({"status": "sleeping"}, "unknown job status")]
)
def test_list_jobs_rejects_bad_arguments(store: StateStore, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        store.list_jobs(**kwargs)


def test_a_concurrent_write_is_re_read_and_re_merged(store: StateStore, spec, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer commits between our read and our write: ours must retry on the new row, losing nothing."""
    job_id = new_job_id()
    store.update(job_id, JobUpdate(phase=Phase.RUNNING))
    other = spec.open()
    real_merge = optimistic.merge
    calls: list[int] = []

    def racing_merge(current, update, now):
        calls.append(current.version if current else 0)
        if len(calls) == 1:  # the other writer gets in after our read
            monkeypatch.setattr(optimistic, "merge", real_merge)
            other.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=["from the other writer"])}))
            monkeypatch.setattr(optimistic, "merge", racing_merge)
        return real_merge(current, update, now)

    monkeypatch.setattr(optimistic, "merge", racing_merge)
    try:
        ours = store.update(job_id, JobUpdate(steps={StepName.RUN: StepUpdate(lines=["from us"])}))
    finally:
        other.close()

    assert calls == [1, 2]  # merged on the row we read, then again on the row the other writer left
    assert ours.version == 3
    assert ours.steps[StepName.RUN].last_output == "from the other writer\nfrom us"
    assert ours.steps[StepName.RUN].log_line_count == 2
    assert store.get(job_id) == ours


# -- records near the service limits --------------------------------------------------------------------------


def test_a_record_larger_than_one_property_round_trips(store: StateStore) -> None:
    """40K+ characters of JSON: more than one 32K Table property, so the record is chunked."""
    job_id = new_job_id()
    title = ("Solenopsis invicta — 🧬 " * 2_000)[:40_001]  # astral characters straddle chunk boundaries
    store.update(job_id, JobUpdate(title=title, phase=Phase.RUNNING))
    tail = [f"{step.value} line {i} " + "é" * 150 for step in STEP_ORDER for i in range(60)]
    for step in STEP_ORDER:
        store.update(job_id, JobUpdate(steps={step: StepUpdate(lines=[t for t in tail if t.startswith(step.value)])}))
    big = store.update(job_id, JobUpdate(error="E" * 40_000, phase=Phase.FAILED))

    stored = store.get(job_id)
    assert stored == big
    assert stored.title == title
    assert all(len(stored.steps[step].last_output) > 7_000 for step in STEP_ORDER)
    assert len(stored.model_dump_json()) > 2 * 32_000  # three Table properties


def test_a_record_over_one_mebibyte_is_refused_and_the_row_kept(store: StateStore) -> None:
    job_id = new_job_id()
    before = store.update(job_id, JobUpdate(title="small", phase=Phase.PREPARING))

    with pytest.raises(StoreLimitError, match=r"1 MiB") as raised:
        store.update(job_id, JobUpdate(title="T" * 600_000))

    assert "title (600,000 characters)" in str(raised.value)
    assert store.get(job_id) == before
    assert store.update(job_id, JobUpdate(title="still writable")).version == 2


# -- logs --------------------------------------------------------------------------------------------------------


def test_append_and_read_logs_in_step_order(store: StateStore) -> None:
    job_id = new_job_id()
    assert store.append_logs(job_id, StepName.SUBMIT, ["submit 1", "submit 2"]) == 2
    assert store.append_logs(job_id, StepName.PREPARE, ["prepare 1"]) == 1
    assert store.append_logs(job_id, StepName.SUBMIT, ["submit 3"]) == 3
    assert store.append_logs(job_id, StepName.SUBMIT, []) == 3

    page = store.read_logs(job_id)
    assert [(line.step, line.seq, line.text) for line in page.lines] == [
        (StepName.PREPARE, 1, "prepare 1"),
        (StepName.SUBMIT, 1, "submit 1"),
        (StepName.SUBMIT, 2, "submit 2"),
        (StepName.SUBMIT, 3, "submit 3"),
    ]
    assert [line.text for line in store.read_logs(job_id, step=StepName.SUBMIT).lines] == [
        "submit 1",
        "submit 2",
        "submit 3",
    ]
    assert store.read_logs(new_job_id()).lines == []


def test_the_cursor_resumes_exactly_after_the_last_line_returned(store: StateStore) -> None:
    """A reader tailing with small pages while writers append: every line once, none missed."""
    job_id = new_job_id()
    written: list[tuple[StepName, str]] = []
    seen: list[tuple[StepName, str]] = []
    cursor = None
    steps = [StepName.PREPARE, StepName.SUBMIT, StepName.RUN]
    for round_ in range(12):
        step = steps[round_ % 3]
        batch = [f"{step.value} round {round_} line {i}" for i in range(round_ % 4 + 1)]
        store.append_logs(job_id, step, batch)
        written.extend((step, text) for text in batch)
        page = store.read_logs(job_id, after=cursor, limit=3)
        seen.extend((line.step, line.text) for line in page.lines)
        cursor = page.cursor
    while True:
        page = store.read_logs(job_id, after=cursor, limit=3)
        if not page.lines:
            assert page.cursor == cursor  # nothing new: the cursor stays put
            break
        seen.extend((line.step, line.text) for line in page.lines)
        cursor = page.cursor

    assert len(seen) == len(set(seen)) == len(written)
    for step in steps:
        assert [t for s, t in seen if s is step] == [t for s, t in written if s is step]


def test_reading_one_step_leaves_the_other_steps_positions_in_the_cursor(store: StateStore) -> None:
    job_id = new_job_id()
    store.append_logs(job_id, StepName.PREPARE, ["p1", "p2"])
    store.append_logs(job_id, StepName.RUN, ["r1"])
    first = store.read_logs(job_id, limit=1)
    only_run = store.read_logs(job_id, step=StepName.RUN, after=first.cursor)
    rest = store.read_logs(job_id, after=only_run.cursor)

    assert [line.text for line in first.lines] == ["p1"]
    assert [line.text for line in only_run.lines] == ["r1"]
    assert [line.text for line in rest.lines] == ["p2"]


def test_many_lines_are_chunked_and_come_back_whole(store: StateStore) -> None:
    """12,000 lines (about 4 MB): many Table chunks, more than one transaction."""
    job_id = new_job_id()
    lines = [f"Query_{i} hit {i % 97} ACGT" + "ü" * (i % 7) + "🧬" * (i % 3) + "x" * 300 for i in range(12_000)]
    assert store.append_logs(job_id, StepName.RUN, lines) == 12_000
    assert store.append_logs(job_id, StepName.RUN, ["after"]) == 12_001

    got: list[str] = []
    seqs: list[int] = []
    cursor = None
    while page := store.read_logs(job_id, after=cursor, limit=5_000):
        if not page.lines:
            break
        got.extend(line.text for line in page.lines)
        seqs.extend(line.seq for line in page.lines)
        cursor = page.cursor
    assert got == [*lines, "after"]
    assert seqs == list(range(1, 12_002))


def test_lines_are_sanitised_at_the_store_gate(store: StateStore) -> None:
    job_id = new_job_id()
    store.append_logs(
        job_id,
        StepName.SUBMIT,
        ["\x1b[33m[prep] uploading\x1b[0m DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5==;"],
    )
    (line,) = store.read_logs(job_id).lines
    assert line.text == f"[prep] uploading DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={MASK};"

    stored = store.update(job_id, JobUpdate(title="\x1b[1mbold\x1b[0m password=hunter2"))
    assert store.get(job_id).title == stored.title == f"bold password={MASK}"


def test_an_oversize_log_line_is_refused_and_nothing_of_that_append_is_stored(store: StateStore) -> None:
    job_id = new_job_id()
    store.append_logs(job_id, StepName.RUN, ["kept 1", "kept 2"])
    long_line = "N" * 40_000

    with pytest.raises(StoreLimitError, match=r"log line 2 of this append is 40,000 characters") as raised:
        store.append_logs(job_id, StepName.RUN, ["would be line 3", long_line, "would be line 5"])

    assert "Nothing from this append was stored" in str(raised.value)
    assert [line.text for line in store.read_logs(job_id).lines] == ["kept 1", "kept 2"]
    clipped = clip_log_line(long_line)
    assert store.append_logs(job_id, StepName.RUN, [clipped]) == 3
    assert store.read_logs(job_id).lines[-1].text == clipped
    assert clipped.startswith("N" * 29_000) and clipped.endswith(" characters cut]")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": "compile"}, "unknown step"),
        ({"after": "garbage"}, "not one a store returned"),
        ({"after": "run:-1"}, "not one a store returned"),
        ({"limit": 0}, "positive"),
    ],
)
def test_read_logs_rejects_bad_arguments(store: StateStore, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        store.read_logs(new_job_id(), **kwargs)


def test_append_logs_rejects_an_unknown_step_and_a_bare_string(store: StateStore) -> None:
    job_id = new_job_id()
    with pytest.raises(InputError, match="unknown step"):
        store.append_logs(job_id, "compile", ["x"])
    with pytest.raises(InputError, match="list of lines"):
        store.append_logs(job_id, StepName.RUN, "one string")
    assert store.read_logs(job_id).lines == []


# -- job ids ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", BAD_JOB_IDS, ids=repr)
def test_bad_job_ids_are_refused_before_any_io(store: StateStore, job_id: str) -> None:
    with pytest.raises(InputError, match="job id"):
        store.get(job_id)
    with pytest.raises(InputError, match="job id"):
        store.update(job_id, JobUpdate(title="x"))
    with pytest.raises(InputError, match="job id"):
        store.append_logs(job_id, StepName.RUN, ["x"])
    with pytest.raises(InputError, match="job id"):
        store.read_logs(job_id)
    assert store.list_jobs() == []


# -- several processes at once (issue 2, item 7) --------------------------------------------------------------


def test_two_processes_interleaving_200_updates_each_lose_nothing(store: StateStore, spec, tmp_path: Path) -> None:
    job_id = new_job_id()
    store.update(job_id, JobUpdate(phase=Phase.RUNNING, title="race"))

    spec.run_workers("updates", job_id, 200, ["A", "B"], tmp_path)

    job = store.get(job_id)
    assert job.steps[StepName.RUN].log_line_count == 400
    assert job.version == 401
    tail = job.steps[StepName.RUN].last_output.split("\n")
    for tag in "AB":  # each writer's lines keep their order in the tail
        mine = [int(line.split()[1]) for line in tail if line.startswith(tag)]
        assert mine == sorted(mine)


def test_two_processes_appending_logs_get_unique_gap_free_sequences(store: StateStore, spec, tmp_path: Path) -> None:
    job_id = new_job_id()

    spec.run_workers("logs", job_id, 200, ["A", "B"], tmp_path)

    lines = store.read_logs(job_id).lines
    assert [line.seq for line in lines] == list(range(1, 401))
    for tag in "AB":
        assert [line.text for line in lines if line.text.startswith(tag)] == [f"{tag} {i}" for i in range(200)]
    switches = sum(1 for a, b in itertools.pairwise(lines) if a.text[0] != b.text[0])
    assert switches >= 2, "the two writers did not interleave: this run proved nothing about concurrency"


def test_a_batch_appended_again_is_stored_once(store: StateStore) -> None:
    # A retry of an append whose answer was lost sends the same batch id: nothing is stored twice.
    job_id = new_job_id()
    assert store.append_logs(job_id, StepName.SUBMIT, ["a", "b"], batch_id="batch-1") == 2
    assert store.append_logs(job_id, StepName.SUBMIT, ["a", "b"], batch_id="batch-1") == 2
    assert store.append_logs(job_id, StepName.SUBMIT, ["c"], batch_id="batch-2") == 3
    assert store.append_logs(job_id, StepName.RUN, ["a", "b"], batch_id="batch-1") == 2  # per step
    assert [line.text for line in store.read_logs(job_id, StepName.SUBMIT).lines] == ["a", "b", "c"]


def test_an_update_sent_again_is_merged_once(store: StateStore) -> None:
    job_id = new_job_id()
    store.update(job_id, JobUpdate(phase=Phase.SUBMITTING))
    update = JobUpdate(steps={StepName.SUBMIT: StepUpdate(lines=["Submitting jobs to cluster"])})
    first = store.update(job_id, update)
    again = store.update(job_id, update)
    assert again.version == first.version and again.steps[StepName.SUBMIT].log_line_count == 1
