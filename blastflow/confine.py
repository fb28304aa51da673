"""Fences for paths: what a search may read, and what a job's results may serve.

Anyone who can start a `blast-search` run (the Prefect UI's Run button, the API, a schedule) names its query
and database by path, so without a fence a run could read any file the worker can. `confine` accepts a path
only under the configured input roots (`BLASTFLOW_INPUT_ROOTS`), after resolving symlinks and `..`; `served`
accepts a file name only when it resolves inside the job's own results folder. Both are decided on the
resolved path, and the resolved path is what is read afterwards. A refusal names the setting, never says
whether the refused file exists.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from blastflow.errors import InputError
from blastflow.sanitise import sanitise

__all__ = [
    "INPUT_ROOTS_ENV",
    "RESULTS_DIR_NAME",
    "confine",
    "confine_database",
    "job_results_dir",
    "looks_like_path",
    "served",
    "shown",
]

INPUT_ROOTS_ENV = "BLASTFLOW_INPUT_ROOTS"
RESULTS_DIR_NAME = "results"  # every backend keeps a job's results in <jobs dir>/<job id>/results
_SHOWN_CHARS = 60
_PATH_CHARS = 300  # a path is shown whole, unless it is not one a person typed


def shown(text: str, limit: int = _SHOWN_CHARS) -> str:
    """`text` quoted for a message: sanitised and cut short, so no message repeats a long or secret value.

    >>> shown("a" * 70)
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…'"
    """
    cut = text if len(text) <= limit else text[:limit] + "…"
    return repr(sanitise(cut))


def looks_like_path(value: str) -> bool:
    """A database given as a path (to confine), rather than a BLASTDB name or a bucket URL.

    >>> looks_like_path("/data/db/swissprot"), looks_like_path("swissprot"), looks_like_path("gs://b/db")
    (True, False, False)
    """
    if "://" in value or not value.strip():
        return False
    return "/" in value or os.sep in value or value.startswith(("~", ".")) or Path(value).exists()


def confine(value: str, roots: Sequence[Path], role: str) -> Path:
    """The resolved path of `value` when it lies under one of `roots`; else an InputError naming the setting.

    Args:
        value: the path as given (relative paths are relative to this process's directory).
        roots: the directories inputs may come from (`Settings.input_root_paths`).
        role: "query" or "database", for the message and the error code.

    Example:
        >>> confine("/etc/../etc/passwd", [Path("/data")], "query")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        blastflow.errors.InputError: query '/etc/../etc/passwd' is outside the directories this worker reads ...
    """
    resolved = Path(value).expanduser().resolve()
    if any(resolved.is_relative_to(root.expanduser().resolve()) for root in roots):
        return resolved
    places = ", ".join(str(root) for root in roots) or "none configured"
    raise InputError(
        f"{role} {shown(value, _PATH_CHARS)} is outside the directories this worker reads inputs from ({places}), "
        f"after following symlinks and '..': put the file under one of them, give FASTA text instead, or add its "
        f"directory to {INPUT_ROOTS_ENV} (directories separated by '{os.pathsep}')",
        code=f"invalid_{role}",
    )


def confine_database(db: str, roots: Sequence[Path]) -> str:
    """A database given as a path, resolved under `roots` (InputError otherwise); a name or URL unchanged.

    >>> confine_database("swissprot", [])
    'swissprot'
    """
    return str(confine(db.strip(), roots, "database")) if looks_like_path(db.strip()) else db


def job_results_dir(location: str, job_id: str) -> Path:
    """The job's own results folder (`…/<job id>/results`), resolved; raises InputError for anything else.

    A stored row names its results location; only the folder that belongs to the job may be served from.

    >>> job_results_dir("/data/jobs/j1/results/../results", "j1")
    PosixPath('/data/jobs/j1/results')
    """
    resolved = Path(location).resolve()
    if resolved.name != RESULTS_DIR_NAME or resolved.parent.name != job_id:
        raise InputError(
            f"results location {shown(location, _PATH_CHARS)} is not job {job_id}'s own results folder "
            f"(<jobs dir>/{job_id}/{RESULTS_DIR_NAME}): nothing is served from it"
        )
    return resolved


def served(directory: Path, name: str) -> Path:
    """`directory/name` resolved, when it stays inside `directory` (no '..', absolute name or symlink out).

    >>> served(Path("/data/jobs/j1/results"), "../../j2/results/hits.tsv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    blastflow.errors.InputError: '../../j2/results/hits.tsv' is not a file of the results folder ...
    """
    base = directory.resolve()
    resolved = (base / name).resolve()
    if resolved == base or not resolved.is_relative_to(base):
        raise InputError(
            f"{shown(name)} is not a file of the results folder {base}: only the job's own result files are served"
        )
    return resolved
