"""No orphan compute: a flow process killed with SIGKILL mid-search, then reconcile, leaves no process of the job.

SIGKILL runs no hook, and the local supervisor runs detached (its own session): without cleanup it goes on
running every batch for nobody. Reconcile fails the job, stops the supervisor's BLAST processes, and says
so in the job's log. The processes are counted from /proc: every live process whose command line names the
job's directory (the supervisor's `--config`, each BLAST's `-query` and `-out`).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from blastflow.backends import get_backend
from blastflow.cleanup import LOG_PREFIX
from blastflow.model import Phase, StepName
from blastflow.search import PreparedRun
from blastflow.settings import get_settings
from flows.reconcile import reconcile
from tests.doubles.faultkit import command_line, kill_group, live_pids, log_texts, start_flow, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

JOB_ID = "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b"


def job_processes(job_dir: Path) -> list[int]:
    """Live processes (zombies count as gone) whose command line names `job_dir`."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return [pid for pid in live_pids(pids) if str(job_dir) in command_line(pid)]


def test_sigkill_then_reconcile_leaves_no_process_of_the_job(pipeline, sample_fasta, prefect_api, tmp_path) -> None:
    job_dir = get_settings().job_dir(JOB_ID)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "BLASTFLOW_MAX_PARALLEL_BATCHES": "2"}
    proc = start_flow(JOB_ID, env, tmp_path / "flow.log", query=str(sample_fasta["many_prot"]),
                      db=str(sample_fasta["db_prot"]), program="blastp", batch_len=400)  # fmt: skip
    try:
        wait_for(lambda: (job := pipeline.get(JOB_ID)) is not None and job.phase is Phase.RUNNING, "phase running",
                 proc=proc)  # fmt: skip
        wait_for(lambda: any(" -query " in command_line(pid) for pid in job_processes(job_dir)), "a BLAST process",
                 proc=proc)  # fmt: skip
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: any(" -query " in command_line(pid) for pid in job_processes(job_dir)),
                 "BLAST to outlive the killed flow", limit_s=30)  # fmt: skip

        assert JOB_ID in reconcile(quiet_threshold_s=900)

        assert job_processes(job_dir) == [], [command_line(pid) for pid in job_processes(job_dir)]
        job = pipeline.get(JOB_ID)
        assert job.phase is Phase.WORKER_LOST
        said = [line for line in log_texts(pipeline, JOB_ID, StepName.RUN) if line.startswith(LOG_PREFIX)]
        assert len(said) == 1 and said[0].startswith(LOG_PREFIX + "stopped the supervisor (pid "), said
        assert "no process of this job is left; finished batch archives are kept" in said[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(proc.pid)
        if (job_dir / "run.json").exists():
            get_backend("local").cancel(PreparedRun.load(job_dir))
