"""blastflow: BLAST searches orchestrated by Prefect, with sanitised step state in a store."""

from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import JobRecord, Phase, StepName, StepStatus, new_job_id
from blastflow.sanitise import register_secret, sanitise

__all__ = [
    "JobRecord",
    "JobUpdate",
    "Phase",
    "StepName",
    "StepStatus",
    "StepUpdate",
    "merge",
    "new_job_id",
    "register_secret",
    "sanitise",
]

__version__ = "0.1.0"
