"""Resume: who may be resumed, which batches are kept (archives checked with real BLAST+), how the row records it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.backend import ElasticBlastBackend
from blastflow.backends.local.backend import LocalBackend
from blastflow.backends.local.run_files import (
    LocalConfig,
    PodPhase,
    PodState,
    RerunSelection,
    RunFiles,
    SupervisorState,
    read_state,
    write_state,
)
from blastflow.backends.local.supervisor import Supervisor
from blastflow.errors import BackendError
from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import RESUME_MEMORY, JobRecord, Phase, StepName, StepStatus
from blastflow.process import start_time
from blastflow.resume import (
    ResumeAction,
    ResumePlan,
    ResumeRefused,
    archive_complete,
    batch_ranges,
    check_resumable,
    outfmt7_queries,
    plan_resume,
    resume_lines,
    resume_update,
)
from blastflow.search import Batch, PreparedRun, RunState, RunStatus
from blastflow.settings import Settings
from blastflow.steps.context import StepContext
from blastflow.steps.resume import Worker
from blastflow.steps.resume import resume as resume_step
from tests.doubles.scripted_backend import ScriptedBackend

JOB = "4b5c6d7e-8f9a-4b0c-9d1e-2f3a4b5c6d7e"
RUN_1 = "11111111-2222-4333-8444-555555555555"
T = datetime(2026, 11, 29, tzinfo=UTC)


def _batches(count: int, where: Path = Path("/nowhere")) -> list[Batch]:
    return [Batch(index=i, path=where / f"batch_{i:03d}.fa", sequences=1, residues=9) for i in range(count)]


def _lost_job() -> JobRecord:
    """A job that prepared, submitted, ran a while and lost its worker."""
    job = merge(None, JobUpdate(job_id=JOB, phase=Phase.PREPARING), T)
    job = merge(job, JobUpdate(steps={StepName.PREPARE: StepUpdate(status=StepStatus.COMPLETED)}), T)
    job = merge(job, JobUpdate(phase=Phase.SUBMITTED, steps={StepName.SUBMIT: StepUpdate(lines=["submitted"])}), T)
    job = merge(job, JobUpdate(phase=Phase.RUNNING, steps={StepName.RUN: StepUpdate(lines=["3 of 7 done"])}), T)
    return merge(job, JobUpdate(phase=Phase.WORKER_LOST, error="Worker lost: pid 7 is gone"), T)


def _plan(reused: int = 3, rerun: int = 4) -> ResumePlan:
    batches = _batches(reused + rerun)
    return ResumePlan(ResumeAction.SUBMIT, reused=tuple(batches[:reused]), rerun=tuple(batches[reused:]))


def _resume(flow_run_id: str = RUN_1, plan: ResumePlan | None = None) -> JobUpdate:
    return resume_update(plan or _plan(), flow_run_id=flow_run_id, host="h2", pid=42, code_version="abc")


# -- the merge: a resume is the one way out of a terminal phase ---------------------------------------------------


def test_a_resume_reopens_a_lost_job_and_records_where_it_came_from() -> None:
    lost = _lost_job()
    later = T + timedelta(minutes=5)
    job = merge(lost, _resume(), later)
    assert (job.phase, job.status.value, job.error, job.error_code) == (Phase.QUEUED, "queued", None, None)
    assert (job.flow_run_id, job.host, job.pid, job.resume_count) == (RUN_1, "h2", 42, 1)
    [record] = job.resumes
    assert (record.number, record.at, record.from_phase, record.error) == (
        1, later, Phase.WORKER_LOST, "Worker lost: pid 7 is gone"
    )
    assert (record.reused_count, record.reused, record.rerun_count, record.rerun) == (3, "0-2", 4, "3-6")
    assert job.steps[StepName.PREPARE].status is StepStatus.COMPLETED, "its batches are what the resume reuses"
    run = job.steps[StepName.RUN]
    assert (run.status, run.error, run.started_at) == (StepStatus.PENDING, None, None)
    assert (run.last_output, run.log_line_count) == ("3 of 7 done", 1), "the earlier run's log stays"
    # Live again: the resumed run's own writes move it on, up to completion.
    running = merge(job, JobUpdate(phase=Phase.RUNNING), later)
    assert running.phase is Phase.RUNNING and running.steps[StepName.RUN].status is StepStatus.RUNNING
    assert merge(running, JobUpdate(phase=Phase.COMPLETED), later).phase is Phase.COMPLETED


def test_without_a_resume_a_terminal_job_stays_terminal() -> None:
    lost = _lost_job()
    assert merge(lost, JobUpdate(phase=Phase.QUEUED, flow_run_id=RUN_1), T).phase is Phase.WORKER_LOST


def test_a_completed_job_is_never_reopened() -> None:
    done = merge(_lost_job(), _resume(), T)
    done = merge(done, JobUpdate(phase=Phase.COMPLETED), T)
    again = merge(done, _resume("99999999-2222-4333-8444-555555555555"), T)
    assert (again.phase, again.resume_count, len(again.resumes)) == (Phase.COMPLETED, 1, 1)


def test_a_retried_resume_write_counts_once_and_the_history_is_bounded() -> None:
    job = merge(_lost_job(), _resume(), T)
    assert merge(job, _resume(), T).resume_count == 1, "the same flow run's resume is one resume"
    for n in range(RESUME_MEMORY + 2):
        job = merge(job, JobUpdate(phase=Phase.FAILED, error=f"failure {n}"), T)
        job = merge(job, _resume(f"{n:08d}-2222-4333-8444-555555555555"), T)
    assert job.resume_count == RESUME_MEMORY + 3
    assert [r.number for r in job.resumes] == list(range(4, RESUME_MEMORY + 4))
    assert job.resumes[-1].error == f"failure {RESUME_MEMORY + 1}"


def test_the_resume_history_reads_as_lines() -> None:
    job = merge(_lost_job(), _resume(), T)
    adopted = ResumePlan(ResumeAction.ADOPT, reused=tuple(_batches(2)))
    job = merge(merge(job, JobUpdate(phase=Phase.CANCELLED), T), _resume(RUN_1.replace("1", "3"), adopted), T)
    assert resume_lines(job) == [
        f"resume 1 at 2026-11-29 00:00:00Z by flow run {RUN_1}, from worker_lost: 3 batches reused (0-2), "
        "4 run again (3-6)",
        f"resume 2 at 2026-11-29 00:00:00Z by flow run {RUN_1.replace('1', '3')}, from cancelled: adopted the "
        "running backend work (2 batches done then)",
    ]


# -- who may be resumed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "prepared", "alive", "says"),
    [
        (Phase.COMPLETED, True, None, "completed already .* `blastflow rerun "),
        (Phase.FAILED, False, None, "was never prepared .* no batches to reuse; `blastflow rerun "),
        (Phase.RUNNING, True, True, "in flow run .*: wait for it to end, or stop it with `blastflow cancel "),
        (Phase.RUNNING, True, None, "cannot be checked from this host: run `blastflow reconcile` there"),
    ],
)
def test_a_job_that_cannot_be_resumed_is_refused_with_what_to_do(
    phase: Phase, prepared: bool, alive: bool | None, says: str
) -> None:
    job = JobRecord(job_id=JOB, phase=phase, created_at=T, updated_at=T, flow_run_id=RUN_1, pid=7, host="h1")
    with pytest.raises(ResumeRefused, match=says) as refused:
        check_resumable(job, JOB, prepared=prepared, flow_alive=alive)
    assert refused.value.code == "resume_refused"


def test_a_missing_job_is_refused_and_lost_or_own_jobs_are_resumable() -> None:
    with pytest.raises(ResumeRefused, match=r"no job .* `blastflow jobs` lists"):
        check_resumable(None, JOB, prepared=False, flow_alive=None)
    live = JobRecord(job_id=JOB, phase=Phase.RUNNING, created_at=T, updated_at=T, flow_run_id=RUN_1, pid=7)
    assert check_resumable(live, JOB, prepared=True, flow_alive=False) is live, "its process is gone"
    assert check_resumable(live, JOB, prepared=True, flow_alive=True, flow_run_id=RUN_1) is live, "a retried task"


# -- which batches are kept ----------------------------------------------------------------------------------------


def _never(batch: Batch, path: Path) -> bool:
    raise AssertionError("an adopted or archive-less run checks no archive")


def test_live_backend_work_is_adopted_without_checking_anything() -> None:
    batches = _batches(3)
    for state in (RunState.RUNNING, RunState.SUBMITTING, RunState.CREATING):
        plan = plan_resume(batches, state, {"batch_001": Path("a")}, _never)
        assert (plan.action, plan.reused, plan.rerun) == (ResumeAction.ADOPT, (batches[1],), ())


def test_only_batches_with_a_complete_archive_are_kept() -> None:
    batches = _batches(4)
    archives = {b.name: Path(b.name) for b in batches[:3]}
    plan = plan_resume(batches, RunState.FAILURE, archives, lambda batch, path: batch.index != 1)
    assert (plan.action, [b.index for b in plan.reused], [b.index for b in plan.rerun]) == (
        ResumeAction.SUBMIT, [0, 2], [1, 3]
    )
    assert plan.summary() == "Resume: 2 batches reused (archives checked), 2 run again"
    whole = plan_resume(batches, RunState.FAILURE, {b.name: Path(b.name) for b in batches}, lambda b, p: True)
    assert (whole.action, len(whole.reused)) == (ResumeAction.FINALIZE, 4)


def test_a_backend_without_local_archives_finalizes_a_finished_search_and_reruns_any_other() -> None:
    batches = _batches(2)
    assert plan_resume(batches, RunState.SUCCESS, None, _never).action is ResumeAction.FINALIZE
    failed = plan_resume([], RunState.FAILURE, None, _never)
    assert failed.action is ResumeAction.SUBMIT, "the backend's resume_submit says whether it can"


def test_outfmt7_lists_every_query_with_or_without_hits() -> None:
    assert outfmt7_queries(["# Query: a x y", "# 0 hits found", "# Query: b", "# BLAST processed 2 queries"]) == (
        ["a", "b"], 2
    )
    assert outfmt7_queries(["# Query: a"]) == (["a"], None), "no closing line: cut short"
    assert batch_ranges(_batches(1)) == "0" and batch_ranges([]) == ""


@pytest.fixture(scope="module")
def archives(sample_fasta: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real blastp batches (3 queries each) against the sample database, archived as format 11."""
    out = tmp_path_factory.mktemp("resume-archives")
    subprocess.run(["makeblastdb", "-in", str(sample_fasta["db_prot"]), "-dbtype", "prot", "-out", str(out / "db")],
                   check=True, capture_output=True)  # fmt: skip
    records = sample_fasta["query_prot"].read_text().split(">")[1:]
    paths = {}
    for name, chunk in (("first", records[:3]), ("second", records[3:6])):
        (out / f"{name}.fa").write_text("".join(f">{r}" for r in chunk))
        subprocess.run(["blastp", "-query", str(out / f"{name}.fa"), "-db", str(out / "db"), "-outfmt", "11",
                        "-out", str(out / f"{name}.asn")], check=True, capture_output=True)  # fmt: skip
        paths[name] = out / f"{name}.asn"
        paths[f"{name}_batch"] = out / f"{name}.fa"
    paths["db_dir"] = out
    return paths


def test_an_archive_is_complete_only_whole_and_for_its_own_batch(archives: dict[str, Path], tmp_path: Path) -> None:
    first = Batch(index=0, path=archives["first_batch"], sequences=3, residues=1)
    db_dir = archives["db_dir"]
    assert archive_complete(archives["first"], first, db_dir)
    cut = tmp_path / "cut.asn"
    cut.write_bytes(archives["first"].read_bytes()[: archives["first"].stat().st_size // 2])
    assert not archive_complete(cut, first, db_dir), "a truncated archive"
    assert not archive_complete(archives["second"], first, db_dir), "another batch's archive"
    assert not archive_complete(tmp_path / "missing.asn", first, db_dir)
    gone = Batch(index=0, path=tmp_path / "gone.fa", sequences=3, residues=1)
    assert not archive_complete(archives["first"], gone, db_dir), "a batch that cannot be read is not kept"


# -- the local backend: run only the chosen batches ----------------------------------------------------------------


def _local_run(workdir: Path, batches: int = 3) -> PreparedRun:
    (workdir / "pods").mkdir(parents=True)
    return PreparedRun(job_id=JOB, backend="local", program="blastp", workdir=workdir,
                       config_path=workdir / "local.json", database="db", database_label="db", molecule="prot",
                       batches=_batches(batches, workdir))  # fmt: skip


def test_the_local_backend_sets_the_dead_supervisor_aside_and_selects_the_batches(tmp_path: Path) -> None:
    run = _local_run(tmp_path / "job")
    files = RunFiles(run.workdir)
    write_state(files.supervisor, SupervisorState(pid=2**22 + 7, phase="running"))  # no such process
    files.cancel.touch()
    for name in ("batch_000", "batch_002"):
        files.pod_dir(name).mkdir()
        files.pod_out(name).write_text("archive")
    files.pod_partial("batch_002").write_text("half")
    backend = LocalBackend()
    assert backend.batch_archives(run) == {n: files.pod_out(n) for n in ("batch_000", "batch_002")}

    said = backend.resume_submit(run, run.batches[1:])

    assert said == "The next supervisor runs 2 of 3 batches; the earlier supervisor's final state is kept as " \
                   "supervisor.1.json"
    assert read_state(files.rerun, RerunSelection) == RerunSelection(batches=["batch_001", "batch_002"])
    assert not files.supervisor.exists() and (run.workdir / "supervisor.1.json").is_file()
    assert not files.cancel.exists(), "a stale cancel would stop the new supervisor at once"
    assert files.pod_out("batch_000").read_text() == "archive", "a kept batch's archive is untouched"
    assert not files.pod_out("batch_002").exists() and not files.pod_partial("batch_002").exists()


def test_the_local_backend_never_starts_a_second_supervisor(tmp_path: Path) -> None:
    run = _local_run(tmp_path / "job")
    files = RunFiles(run.workdir)
    me = os.getpid()
    write_state(files.supervisor, SupervisorState(pid=me, pid_start=start_time(me)))  # alive: this process
    with pytest.raises(BackendError, match="is still running: resume adopts it") as refused:
        LocalBackend().resume_submit(run, run.batches)
    assert refused.value.code == "supervisor_running" and not files.rerun.exists()


def _config(run: PreparedRun) -> LocalConfig:
    config = LocalConfig(job_id=JOB, program="blastp", blast=shutil.which("blastp") or "blastp", database="db",
                         database_label="db", molecule="prot", options=[], batches=run.batches, workdir=run.workdir,
                         max_parallel=1, threads_per_pod=1, batch_retries=0, retry_backoff_s=0)  # fmt: skip
    run.config_path.write_text(config.model_dump_json())
    return config


def test_a_resumed_supervisor_runs_only_the_selected_batches(tmp_path: Path) -> None:
    run = _local_run(tmp_path / "job", batches=4)
    write_state(RunFiles(run.workdir).rerun, RerunSelection(batches=["batch_001", "batch_003"]))
    supervisor = Supervisor(_config(run))
    assert [b.name for b in supervisor.waiting] == ["batch_001", "batch_003"]
    assert supervisor.kept == {"batch_000", "batch_002"}


def test_a_resumed_supervisor_records_the_kept_batches_as_succeeded(tmp_path: Path) -> None:
    run = _local_run(tmp_path / "job", batches=2)
    files = RunFiles(run.workdir)
    write_state(files.rerun, RerunSelection(batches=[]))  # every batch kept: nothing to run
    _config(run)
    done = subprocess.run([sys.executable, "-m", "blastflow.backends.local.supervisor", "--config",
                           str(run.config_path)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumed: 2 batches kept from an earlier run, 0 to run" in done.stdout
    assert read_state(files.supervisor, SupervisorState).phase.value == "success"
    pods = [read_state(files.pod_state(b.name), PodState) for b in run.batches]
    assert [(p.phase, p.message) for p in pods] == [
        (PodPhase.SUCCEEDED, "kept from an earlier run (its archive was checked by the resume)")
    ] * 2


# -- the step: what the row shows when the backend's work is adopted, or only finalize is left ------------------


class _ArchivesElsewhere(ScriptedBackend):
    """A backend like ElasticBLAST: results in a bucket, so no per-batch archives here, and no partial reruns."""

    def batch_archives(self, run: PreparedRun) -> None:
        return None

    def resume_submit(self, run: PreparedRun, batches: Sequence[Batch]) -> str:
        raise BackendError("cannot re-run part of this search", code="resume_unsupported")


def _resume_step(tmp_path: Path, sqlite_store, state: RunState):
    settings = Settings(data_dir=tmp_path / "data")
    run = PreparedRun(job_id=JOB, backend="scripted", program="blastp", workdir=settings.job_dir(JOB),
                      config_path=tmp_path / "cfg", database="db", database_label="db", molecule="prot",
                      batches=_batches(2, tmp_path))  # fmt: skip
    run.workdir.mkdir(parents=True)
    run.save()
    for update in (JobUpdate(job_id=JOB, phase=Phase.PREPARING),
                   JobUpdate(steps={StepName.PREPARE: StepUpdate(status=StepStatus.COMPLETED)}),
                   JobUpdate(phase=Phase.FAILED, error="the flow failed")):  # fmt: skip
        sqlite_store.update(JOB, update)
    backend = _ArchivesElsewhere(statuses=[RunStatus(state=state)])
    ctx = StepContext(job_id=JOB, store=sqlite_store, backend=backend, settings=settings)
    return resume_step(ctx, Worker(RUN_1, "h2", 42, "abc")), sqlite_store.get(JOB)


def test_a_finished_search_elsewhere_is_only_finalized(tmp_path: Path, sqlite_store) -> None:
    resumed, job = _resume_step(tmp_path, sqlite_store, RunState.SUCCESS)
    assert resumed.plan.action is ResumeAction.FINALIZE and resumed.run.job_id == JOB
    assert job.phase is Phase.FINALIZING and job.steps[StepName.FINALIZE].status is StepStatus.RUNNING
    assert [job.steps[n].status for n in (StepName.SUBMIT, StepName.WAIT_FOR_PODS, StepName.RUN)] == [
        StepStatus.SKIPPED, StepStatus.SKIPPED, StepStatus.COMPLETED
    ]
    assert job.steps[StepName.RUN].message == "All 2 batches' results kept from the earlier run"
    assert (job.resume_count, job.resumes[0].from_phase, job.flow_run_id) == (1, Phase.FAILED, RUN_1)


def test_work_still_running_elsewhere_is_adopted(tmp_path: Path, sqlite_store) -> None:
    resumed, job = _resume_step(tmp_path, sqlite_store, RunState.RUNNING)
    assert resumed.plan.action is ResumeAction.ADOPT and job.resumes[0].adopted
    assert job.phase is Phase.SUBMITTED and job.steps[StepName.SUBMIT].status is StepStatus.COMPLETED
    assert "nothing was started again" in job.steps[StepName.SUBMIT].message


def test_a_backend_that_cannot_rerun_part_of_a_search_says_so(tmp_path: Path, sqlite_store) -> None:
    with pytest.raises(BackendError, match="cannot re-run part of this search"):
        _resume_step(tmp_path, sqlite_store, RunState.FAILURE)
    # ElasticBLAST's own refusal (the method reads nothing of the backend: no cluster profile needed).
    with pytest.raises(BackendError, match=r"ElasticBLAST cannot re-run only the failed .* `blastflow rerun ") as no:
        ElasticBlastBackend.resume_submit(None, PreparedRun.model_construct(job_id=JOB), [])  # type: ignore[arg-type]
    assert no.value.code == "resume_unsupported"
