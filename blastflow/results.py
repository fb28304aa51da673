"""Search results: batch archives (format 11) rendered to one hits table, and merged into one archive.

Each batch's archive is rendered with `blast_formatter -outfmt "6 <HIT_FIELDS>"`
and the batches' hits are written, in batch order, to `hits.tsv`. The merged
archive `results.asn` is the batch archives concatenated in order:
`blast_formatter -archive results.asn` reads such a file as one search and
renders every batch (checked against BLAST+ 2.12 in tests/test_results.py), so
it gives any other output format for the whole search. blast_formatter reads
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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from blastflow.errors import BackendError
from blastflow.hits import ARCHIVE_FILE, HIT_FIELDS, HITS_FILE, Hit, parse_outfmt6, write_hits
from blastflow.programs import Molecule

__all__ = ["Results", "find_database", "merge_archives", "merge_results", "render_hits"]

_FIELDS = HIT_FIELDS.split()
_TITLE = _FIELDS.index("stitle")  # the one free-text field: a title may hold tabs
_RENDER_TIMEOUT_S = 3600


@dataclass(frozen=True, slots=True)
class Results:
    """The merged results: where they are, every hit in order, and how many hits each batch gave."""

    hits_path: Path
    archive_path: Path
    hits: list[Hit]
    batch_hits: tuple[int, ...]


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
        out = Path(tmp) / "hits.tsv"
        argv = ["blast_formatter", "-archive", str(archive), "-outfmt", f"6 {HIT_FIELDS}", "-out", str(out)]
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
            cause = lines[-1] if lines else f"exit code {done.returncode}"
            raise BackendError(
                f"blast_formatter could not render {what or archive.name}: {cause} "
                "(the database the search used must still exist at the same path)"
            )
        with out.open(encoding="utf-8", errors="replace") as handle:
            return list(parse_outfmt6(_untab_titles(handle)))


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


def _untab_titles(lines: Iterable[str]) -> Iterator[str]:
    """Rows with any tab inside the subject title turned into a space, so each row has one field per column."""
    extra_allowed = len(_FIELDS)
    for line in lines:
        parts = line.rstrip("\n").split("\t")
        extra = len(parts) - extra_allowed
        if extra > 0 and not line.startswith("#"):
            parts = [*parts[:_TITLE], " ".join(parts[_TITLE : _TITLE + extra + 1]), *parts[_TITLE + extra + 1 :]]
        yield "\t".join(parts)


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
    """Render every batch archive to `hits.tsv` and merge the archives into `results.asn`.

    Args:
        archives: the batch archives, in batch order (as `Backend.fetch_results` returns them).
        dest_dir: where `hits.tsv` and `results.asn` go (created if needed).
        program: the search's BLAST program, named in errors.
        blastdb: the directory holding the search's database (`Backend.results_database`), for blast_formatter.

    Returns:
        The paths written, every hit in order, and each batch's hit count.

    Raises:
        BackendError: an archive cannot be rendered.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    label = f"the {program} results of" if program else "the results of"
    per_batch = [render_hits(archive, what=f"{label} {archive.stem}", blastdb=blastdb) for archive in archives]
    hits = [hit for batch in per_batch for hit in batch]
    hits_path = dest_dir / HITS_FILE
    write_hits(hits_path, hits)
    archive_path = merge_archives(archives, dest_dir / ARCHIVE_FILE)
    return Results(
        hits_path=hits_path, archive_path=archive_path, hits=hits, batch_hits=tuple(len(b) for b in per_batch)
    )
