"""Search results: batch archives (format 11) merged into one archive, rendered once to one hits table.

The merged archive `results.asn` is the batch archives concatenated in order:
`blast_formatter -archive results.asn` reads such a file as one search and
renders every batch (checked against BLAST+ 2.12 in tests/test_results.py and,
byte for byte against direct searches, in tests/ops/test_cli_results.py), so it
gives any output format for the whole search. Its `-outfmt "6 <HIT_FIELDS>"`
rendering IS `hits.tsv` (BLAST's bytes, never rewritten), streamed on to
`hits.parquet` (`blastflow.hits.tsv_to_parquet`): no step holds every hit in
memory, so a search with millions of hits finalizes in bounded memory. blast_formatter reads
subject titles from the database, by the name or path the search gave BLAST, so
the database must be on this machine: `Backend.results_database` makes it so
and names the directory passed to blast_formatter as BLASTDB (`find_database`
says where this machine already has one).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blastflow.errors import BackendError
from blastflow.hits import (
    ARCHIVE_FILE,
    HIT_FIELDS,
    HITS_FILE,
    PARQUET_FILE,
    Hit,
    parse_outfmt6,
    read_hits,
    tsv_to_parquet,
)
from blastflow.programs import Molecule

__all__ = [
    "FormatterError", "Results", "blast_formatter", "find_database", "merge_archives", "merge_results", "render_hits",
]

_RENDER_TIMEOUT_S = 3600


@dataclass(frozen=True, slots=True)
class Results:
    """The merged results: where they are, and how many hits they hold."""

    hits_path: Path
    archive_path: Path
    hit_count: int
    parquet_path: Path | None = None

    @property
    def hits(self) -> list[Hit]:
        """Every hit in order, read back from `hits.tsv` (for tests and small searches: finalize never asks)."""
        return read_hits(self.hits_path)


def render_hits(archive: Path, *, what: str = "", blastdb: Path | None = None) -> list[Hit]:
    """The hits of one BLAST archive, in BLAST's order (per query, best first).

    Args:
        archive: a BLAST archive (format 11).
        what: how to name it in an error, e.g. "the blastp results of batch_001" (default: its file name).
        blastdb: the directory blast_formatter finds the search's database in (its BLASTDB); None: this
            process's environment.

    Raises:
        BackendError: blast_formatter is missing or cannot read the archive (or its database).
    """
    with tempfile.TemporaryDirectory(prefix="blastflow-render-") as tmp:
        out = _format(archive, Path(tmp) / "hits.tsv", what=what, blastdb=blastdb)
        with out.open(encoding="utf-8", errors="replace") as handle:
            return list(parse_outfmt6(handle))


def _format(archive: Path, out: Path, *, what: str, blastdb: Path | None) -> Path:
    """Run blast_formatter on one archive into `out` (outfmt 6 with `HIT_FIELDS`)."""
    try:
        return blast_formatter(archive, out, f"6 {HIT_FIELDS}", blastdb=blastdb)
    except BackendError as exc:
        raise BackendError(f"blast_formatter could not render {what or archive.name}: {exc.cause}") from None


class FormatterError(BackendError):
    """blast_formatter refused an archive; `cause` is its own last words."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message, code="archive_unreadable")
        self.cause = cause


def blast_formatter(archive: Path, out: Path, outfmt: str, *, blastdb: Path | None) -> Path:
    """`blast_formatter -archive ARCHIVE -outfmt OUTFMT -out OUT` with the search's database directory as BLASTDB.

    Raises:
        BackendError: BLAST+ is missing; `FormatterError` naming the archive and blast_formatter's last
            error line when it cannot render it.
    """
    argv = ["blast_formatter", "-archive", str(archive), "-outfmt", outfmt, "-out", str(out)]
    # The child's own environment: the worker's BLASTDB stays as it is for everything else in this process.
    env = {**os.environ, "BLASTDB": str(blastdb)} if blastdb is not None else None
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_RENDER_TIMEOUT_S,
            env=env, check=False,
        )
    except FileNotFoundError as exc:
        raise BackendError("BLAST+ is not installed here: blast_formatter was not found on PATH") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        cause = (lines[-1] if lines else f"exit code {done.returncode}") + (
            " (the archive must be whole and the database the search used must still exist at the same path)"
        )
        raise FormatterError(f"{archive} cannot be read by blast_formatter: {cause}", cause)
    return out


def find_database(db: str, molecule: Molecule) -> Path | None:
    """The directory holding BLAST database `db` where blast_formatter looks for it; None if it is not there.

    A path is looked for beside itself; a bare name in the current directory, then in each BLASTDB directory
    (BLAST+'s own order). A database is its alias file (`.pal`/`.nal`), its index (`.pin`/`.nin`), or the
    index of its first volume (`<db>.00.pin`).
    """
    letter = molecule[0]
    path = Path(db).expanduser()
    if path.name != db:
        places = [path.parent]
    else:
        places = [Path.cwd(), *(Path(part) for part in os.environ.get("BLASTDB", "").split(os.pathsep) if part)]
    name = path.name
    for place in places:
        if (place / f"{name}.{letter}al").is_file() or (place / f"{name}.{letter}in").is_file():
            return place.absolute()
        if glob.glob(os.path.join(glob.escape(str(place)), f"{glob.escape(name)}.[0-9][0-9]*.{letter}in")):
            return place.absolute()
    return None


def merge_archives(archives: Sequence[Path], dest: Path) -> Path:
    """Concatenate batch archives, in order, into one archive blast_formatter reads as a whole."""
    with dest.open("wb") as out:
        for archive in archives:
            with archive.open("rb") as part:
                shutil.copyfileobj(part, out)
    return dest


def merge_results(
    archives: Sequence[Path], dest_dir: Path, *, program: str | None = None, blastdb: Path | None = None
) -> Results:
    """Merge the batch archives into `results.asn` and render it, once, into `hits.tsv`, then `hits.parquet`.

    One blast_formatter over the merged archive (the archives concatenated: it reads them as one): a search of
    29 batches starts one process, not 29. Only when that fails are the batches rendered one by one, to name
    the one that cannot be read.

    Args:
        archives: the batch archives, in batch order (as `Backend.fetch_results` returns them).
        dest_dir: where `hits.tsv`, `hits.parquet` and `results.asn` go (created if needed).
        program: the search's BLAST program, named in errors.
        blastdb: the directory holding the search's database (`Backend.results_database`), for blast_formatter.

    Returns:
        The paths written and the hit count.

    Raises:
        BackendError: an archive cannot be rendered (naming the batch).
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive_path = merge_archives(archives, dest_dir / ARCHIVE_FILE)
    hits_path = dest_dir / HITS_FILE
    with tempfile.TemporaryDirectory(prefix=".render-", dir=dest_dir) as tmp:  # beside hits.tsv: renamed into place
        rendered = _render_once(archives, archive_path, Path(tmp), program=program, blastdb=blastdb)
        os.replace(rendered, hits_path)  # whole or not at all: a failed render leaves no half hits.tsv
    parquet_path = dest_dir / PARQUET_FILE
    count = tsv_to_parquet(hits_path, parquet_path)
    return Results(hits_path=hits_path, archive_path=archive_path, hit_count=count, parquet_path=parquet_path)


def _render_once(
    archives: Sequence[Path], merged: Path, tmp: Path, *, program: str | None, blastdb: Path | None
) -> Path:
    """blast_formatter's outfmt 6 of the merged archive, through one process (an empty file without any batch)."""
    out = tmp / HITS_FILE
    if not archives:
        out.touch()
        return out
    try:
        return blast_formatter(merged, out, f"6 {HIT_FIELDS}", blastdb=blastdb)
    except BackendError:
        _name_the_unreadable_batch(archives, tmp, program=program, blastdb=blastdb)
        raise


def _name_the_unreadable_batch(
    archives: Sequence[Path], tmp: Path, *, program: str | None, blastdb: Path | None
) -> None:
    """The merged archive failed to render: render the batches one by one and raise naming the first bad one."""
    label = f"the {program} results of" if program else "the results of"
    for archive in archives:
        _format(archive, tmp / "batch.tsv", what=f"{label} {archive.stem}", blastdb=blastdb)
