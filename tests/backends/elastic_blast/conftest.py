"""The real ElasticBLAST CLI (1.5.0 from PyPI, in its own virtualenv made by scripts/setup.sh --test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
REAL_ELASTIC_BLAST = Path(os.environ.get("ELB_VENV", REPO / ".venv-elb")) / "bin" / "elastic-blast"


@pytest.fixture(scope="session")
def real_elastic_blast() -> Path:
    """The path of the real `elastic-blast`; the suite fails (not skips) when it is not installed."""
    if not REAL_ELASTIC_BLAST.is_file():
        pytest.fail(f"the real elastic-blast is not installed at {REAL_ELASTIC_BLAST}: run scripts/setup.sh --test")
    return REAL_ELASTIC_BLAST
