"""The step context's heartbeat: a waiting step writes its row at a steady interval, and no more often."""

from __future__ import annotations

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import StepName
from blastflow.settings import Settings
from tests.doubles.scripted_backend import ScriptedBackend


def test_the_heartbeat_interval_is_a_quarter_of_the_quiet_threshold() -> None:
    assert Settings().heartbeat_interval_s == 225.0  # the default 900 s threshold
    assert Settings(quiet_threshold_s=60).heartbeat_interval_s == 15.0


def test_a_quiet_wait_heartbeats_once_per_interval_and_a_step_write_counts_as_one(
    make_ctx, run, sqlite_store, clock
) -> None:
    ctx = make_ctx(ScriptedBackend())
    version = sqlite_store.get(run.job_id).version
    writes: list[tuple[float, JobUpdate]] = []
    real_update = sqlite_store.update
    ctx.store.update = lambda job_id, update: writes.append((clock.now, update)) or real_update(job_id, update)

    ctx.pause(1000.0, on_tick=ctx.heartbeat)  # 1,000 s of nothing: beats at 225, 450, 675 and 900 s
    assert [at for at, _ in writes] == [225.0, 450.0, 675.0, 900.0]
    assert all(update.phase is None and not update.steps for _, update in writes)  # a heartbeat changes nothing

    ctx.write(JobUpdate(steps={StepName.WAIT_FOR_PODS: StepUpdate(message="2 pending")}))  # at 1,000 s
    ctx.pause(200.0, on_tick=ctx.heartbeat)
    assert len(writes) == 5, "a step's own write restarts the interval: no heartbeat within 225 s of it"
    ctx.pause(30.0, on_tick=ctx.heartbeat)
    assert [at for at, _ in writes][-1] == 1225.0
    assert sqlite_store.get(run.job_id).version == version + len(writes)  # each one a real write of the row


def test_a_heartbeat_the_store_cannot_take_is_tried_again_soon_without_holding_the_step(
    make_ctx, run, sqlite_store, clock
) -> None:
    from blastflow.errors import StoreUnavailable

    ctx = make_ctx(ScriptedBackend())
    tries: list[float] = []
    real_update = sqlite_store.update

    def down_once(job_id, update):
        tries.append(clock.now)
        if len(tries) == 1:
            raise StoreUnavailable("cannot reach the Table endpoint")
        return real_update(job_id, update)

    ctx.store.update = down_once
    ctx.pause(300.0, on_tick=ctx.heartbeat)
    assert tries == [225.0, 255.0], "one failed beat, retried 30 s later, then the interval again"
    assert clock.now == 300.0, "the outage did not hold the pause up"
