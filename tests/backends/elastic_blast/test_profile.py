"""The ElasticBLAST cluster profile comes from BLASTFLOW_ELB_* environment variables, checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from blastflow.backends.elastic_blast.profile import ElbProfile


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BLASTFLOW_ELB_RESULTS", "gs://blast-results/runs")
    monkeypatch.setenv("BLASTFLOW_ELB_NUM_NODES", "4")
    monkeypatch.setenv("BLASTFLOW_ELB_USE_PREEMPTIBLE", "true")
    monkeypatch.setenv("BLASTFLOW_ELB_KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("BLASTFLOW_ELB_BLOB_CONNECTION_STRING", "AccountName=a;AccountKey=c2VjcmV0")
    profile = ElbProfile()
    assert (profile.results, profile.num_nodes, profile.use_preemptible) == ("gs://blast-results/runs", 4, True)
    assert profile.kubeconfig == tmp_path / "kubeconfig" and profile.namespace == "default"
    assert "c2VjcmV0" not in repr(profile)  # the connection string is a secret


@pytest.mark.parametrize(("name", "value"), [("NUM_NODES", "0"), ("K8S_REQUEST_TIMEOUT_S", "-1"),
                                             ("BATCH_LEN", "0")])
def test_nonsense_is_refused_on_load(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"BLASTFLOW_ELB_{name}", value)
    with pytest.raises(ValidationError, match=name.lower()):
        ElbProfile()
