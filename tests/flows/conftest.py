"""Flow test fixtures: the ElasticBLAST doubles, for runs of the same flow with backend="elastic-blast"."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doubles"))
from elb_doubles import (
    elb_blast_dbs,
    elb_world,
    fake_cluster,
    fake_elastic_blast,
    fake_k8s,
    fake_kubeconfig,
)

__all__ = ["elb_blast_dbs", "elb_world", "fake_cluster", "fake_elastic_blast", "fake_k8s", "fake_kubeconfig"]
