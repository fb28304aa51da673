"""Which ElasticBLAST is installed: asked of the real CLI's own Python, before any Azure search is prepared."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.flavour import installed_flavour
from blastflow.errors import ConfigError


def test_the_pypi_release_is_upstream(real_elastic_blast: Path) -> None:
    assert installed_flavour(str(real_elastic_blast)) == "upstream"


def test_a_cli_whose_package_has_azure_config_is_the_fork(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork's marker, as in dotnetpower/elastic-blast-azure src/elastic_blast/elb_config.py (`AZUREConfig`)."""
    package = tmp_path / "site" / "elastic_blast"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "elb_config.py").write_text("class AZUREConfig:\n    pass\n")
    script = tmp_path / "bin" / "elastic-blast"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nprint('elastic-blast 1.5.0')\n")
    script.chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))

    assert installed_flavour(str(script)) == "azure-fork"


def test_a_wrapper_cannot_be_asked_and_says_how_to_declare_it(tmp_path: Path) -> None:
    wrapper = tmp_path / "elastic-blast"
    wrapper.write_text("#!/bin/sh\nexec elastic-blast \"$@\"\n")
    wrapper.chmod(0o755)
    with pytest.raises(ConfigError, match="set BLASTFLOW_ELB_FLAVOUR to upstream or azure-fork"):
        installed_flavour(str(wrapper))
    assert installed_flavour(str(wrapper), "azure-fork") == "azure-fork"


def test_a_missing_cli_is_named() -> None:
    with pytest.raises(ConfigError, match="'no-such-elastic-blast' was not found"):
        installed_flavour("no-such-elastic-blast")
