"""`get_backend`: backends by name, each imported only when asked for, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow import backends
from blastflow.backends import get_backend
from blastflow.backends.local.backend import LocalBackend
from blastflow.errors import ConfigError
from blastflow.settings import Settings


def test_local_backend_with_given_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_parallel_batches=3)
    backend = get_backend("local", settings)
    assert isinstance(backend, LocalBackend)
    assert backend.settings is settings


def test_unknown_backend_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'slurm': choose one of local, elastic-blast"):
        get_backend("slurm")


def test_missing_backend_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "elastic-blast", ("blastflow.backends.not_installed", "Backend"))
    with pytest.raises(ConfigError, match=r"'elastic-blast' backend is not available .*not_installed is missing"):
        get_backend("elastic-blast")


def test_module_without_the_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "odd", ("blastflow.backends.local.run_files", "NoSuchBackend"))
    with pytest.raises(ConfigError, match=r"incomplete: blastflow\.backends\.local\.run_files defines no NoSu"):
        get_backend("odd")
