"""Which ElasticBLAST is installed: NCBI's upstream release, or the Azure fork.

Upstream `elastic-blast` 1.5.0 (what `pip install elastic-blast` installs) has no
Azure support at all and refuses an ini with Azure keys only after a run has
started; the fork (dotnetpower/elastic-blast-azure) adds an `AZUREConfig`. Both
print the same `--version`, so the question goes to the CLI's own Python: does its
`elastic_blast.elb_config` define `AZUREConfig`? A CLI that is not a Python script
(a wrapper) cannot be asked: `BLASTFLOW_ELB_FLAVOUR` then says which it is.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Literal

from blastflow.errors import ConfigError

__all__ = ["Flavour", "installed_flavour"]

Flavour = Literal["upstream", "azure-fork"]

_PROBE = "import sys, elastic_blast.elb_config as c; sys.exit(0 if hasattr(c, 'AZUREConfig') else 3)"
_PROBE_TIMEOUT_S = 60.0


def installed_flavour(executable: str, declared: str = "auto") -> Flavour:
    """The flavour of `executable`: `declared` when it names one, else asked of the CLI's own interpreter.

    Raises:
        ConfigError: the executable is missing, or is not a Python script and no flavour is declared.
    """
    if declared in ("upstream", "azure-fork"):
        return declared  # type: ignore[return-value]
    path = shutil.which(executable)
    if path is None:
        raise ConfigError(
            f"{executable!r} was not found: install ElasticBLAST (for Azure, the Azure fork) or set "
            "BLASTFLOW_ELB_EXECUTABLE."
        )
    resolved = Path(path).resolve()
    return _ask(str(resolved), resolved.stat().st_mtime_ns)


@cache
def _ask(path: str, _mtime_ns: int) -> Flavour:
    interpreter = _python_of(Path(path))
    if interpreter is None:
        raise ConfigError(
            f"cannot tell whether {path} is NCBI's ElasticBLAST or its Azure fork (it is not a Python script): "
            "set BLASTFLOW_ELB_FLAVOUR to upstream or azure-fork."
        )
    probe = subprocess.run(
        [interpreter, "-c", _PROBE], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False
    )
    if probe.returncode not in (0, 3):
        raise ConfigError(
            f"{path} cannot import its own elastic_blast package (exit {probe.returncode}): reinstall ElasticBLAST, "
            "or set BLASTFLOW_ELB_FLAVOUR."
        )
    return "azure-fork" if probe.returncode == 0 else "upstream"


def _python_of(script: Path) -> str | None:
    """The interpreter on the script's `#!` line, when it is a Python."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    parts = first[2:].split() if first.startswith("#!") else []
    if parts and Path(parts[0]).name == "env" and len(parts) > 1:
        parts = [shutil.which(parts[1]) or parts[1]]
    return parts[0] if parts and "python" in Path(parts[0]).name else None
