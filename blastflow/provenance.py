"""Provenance: what produced a search's results, recorded beside them in `provenance.json`.

A bioinformatician must be able to say, months later, which BLAST+, which database (title, size, date and a
checksum), which query (checksum) and which parameters gave these hits, and to run the same search again. Finalize
writes the record once the results exist; the page shows it as a card, Prefect keeps it as an artifact and
`blastflow rerun` reads the search back from it. Paths in command lines are relative to the job's directory, so
the record says what ran, not where this machine keeps it. Nothing secret is recorded: the cluster profile is
given without its secret fields (`BackendProvenance.profile`), and every text passes through `sanitise`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from blastflow.query import fasta_lines, read_fasta
from blastflow.sanitise import sanitise

__all__ = [
    "NO_HITS_FILE",
    "PROVENANCE_FILE",
    "BackendProvenance",
    "DatabaseInfo",
    "Provenance",
    "QueryInfo",
    "archive_blast_version",
    "card_text",
    "database_info",
    "file_sha256",
    "profile_text",
    "provenance_markdown",
    "provenance_rows",
    "query_ids",
    "read_provenance",
    "relative_command",
    "write_no_hits",
    "write_provenance",
]

PROVENANCE_FILE = "provenance.json"
NO_HITS_FILE = "no_hits.txt"  # the ids of the queries without a hit, one per line, in query order
HASH_LIMIT_BYTES = 8 * 1024**3  # databases larger than this are described by size, not hashed (nr is ~300 GB)
_CHUNK = 1024 * 1024
_IDENT = re.compile(rb'ident "([^"]+)"')
_INFO_COUNTS = re.compile(r"^\s*([\d,]+) sequences; ([\d,]+) total (?:bases|residues)", re.MULTILINE)
_INFO_TITLE = re.compile(r"^Database: (.*)$", re.MULTILINE)
_INFO_DATE = re.compile(r"^Date: (.*?)(?:\t|$)", re.MULTILINE)
_INFO_VOLUMES = re.compile(r"^Volumes:\n((?:\t.*\n?)+)", re.MULTILINE)
_TOOL_TIMEOUT_S = 120


@dataclass(frozen=True)
class BackendProvenance:
    """What a backend adds: each batch's BLAST command (argv) and its (non-secret) profile."""

    commands: list[list[str]] = field(default_factory=list)
    profile: dict[str, str] = field(default_factory=dict)
    note: str = ""  # e.g. where the commands come from when the backend does not run them itself


class QueryInfo(BaseModel):
    source: str  # the path the user gave, or "FASTA text"
    sequences: int
    letters: int
    sha256: str  # of the query as searched (the validated FASTA the batches hold, in order)
    note: str = ""  # why the checksum or the no-hit list is missing


class DatabaseInfo(BaseModel):
    name: str  # as the search gave it to BLAST
    title: str = ""
    sequences: int | None = None
    letters: int | None = None
    date: str = ""  # as `blastdbcmd -info` prints it
    bytes: int = 0
    sha256: dict[str, str] = Field(default_factory=dict)  # file name -> checksum
    note: str = ""  # why something is missing (not readable here, too large to hash)
    directory: str = ""  # where finalize found it on the worker (blast_formatter's BLASTDB); "" for a path


class Provenance(BaseModel):
    job_id: str
    rerun_of: str | None = None
    flow_run_id: str | None = None
    code_version: str | None = None
    backend: str
    profile: dict[str, str] = Field(default_factory=dict)
    program: str
    blast_version: str = ""  # of the BLAST+ that ran the search (from the archive)
    parameters: dict[str, object] = Field(default_factory=dict)  # the flow parameters, as given
    query: QueryInfo
    database: DatabaseInfo
    commands: list[str] = Field(default_factory=list)  # one per batch, paths relative to the job directory
    commands_note: str = ""
    hits: int = 0
    queries_without_hits: int = 0
    recorded_at: datetime


def file_sha256(paths: Iterable[Path]) -> str:
    """One SHA-256 over the files' bytes in order (a query split into batches hashes like the whole file)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def archive_blast_version(archive: Path) -> str:
    """The BLAST+ version that wrote a format-11 archive (its `ident`), e.g. "2.12.0+"; "" if not found."""
    try:
        with archive.open("rb") as handle:
            found = _IDENT.search(handle.read(4096))
    except OSError:
        return ""
    return found.group(1).decode("ascii", "replace") if found else ""


def relative_command(argv: Sequence[str], base: Path) -> str:
    """A command line as a shell would quote it, with paths under `base` relative and the program by name.

    Example:
        >>> relative_command(["/usr/bin/blastp", "-query", "/w/j/batch_000.fa", "-evalue", "1e-05"], Path("/w/j"))
        'blastp -query batch_000.fa -evalue 1e-05'
    """
    prefix = f"{base}{os.sep}"
    words = [Path(argv[0]).name, *(word.removeprefix(prefix) for word in argv[1:])]
    return sanitise(shlex.join(words))


def query_ids(files: Iterable[Path]) -> list[str]:
    """The query ids (first word of each header) in the order BLAST reads them."""
    return [record.id for path in files for record in read_fasta(fasta_lines(path, "query"), str(path))]


def write_no_hits(dest: Path, ids: Sequence[str], with_hits: set[str]) -> list[str]:
    """Write the queries without a hit to `dest` (one id per line, query order); return them."""
    missing = [qid for qid in ids if qid not in with_hits]
    _write_atomic(dest, "".join(f"{qid}\n" for qid in missing))
    return missing


def database_info(name: str, molecule: str, blastdb: Path | None) -> DatabaseInfo:
    """`blastdbcmd -info` of the search's database, and a checksum of its files when they are small enough."""
    env = {**os.environ, "BLASTDB": str(blastdb)} if blastdb is not None else None
    argv = ["blastdbcmd", "-db", name, "-dbtype", molecule, "-info"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=_TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return DatabaseInfo(name=name, note=f"blastdbcmd could not be run: {exc}")
    if done.returncode != 0:
        return DatabaseInfo(name=name, note=f"blastdbcmd -info failed: {_last_line(done.stderr)}")
    info = _parse_info(name, done.stdout).model_copy(update={"directory": str(blastdb) if blastdb else ""})
    return _with_checksums(info, _volume_files(done.stdout, blastdb))


def _parse_info(name: str, text: str) -> DatabaseInfo:
    counts, title, date = _INFO_COUNTS.search(text), _INFO_TITLE.search(text), _INFO_DATE.search(text)
    return DatabaseInfo(
        name=name,
        title=title.group(1).strip() if title else "",
        sequences=int(counts.group(1).replace(",", "")) if counts else None,
        letters=int(counts.group(2).replace(",", "")) if counts else None,
        date=date.group(1).strip() if date else "",
    )


def _volume_files(text: str, blastdb: Path | None) -> list[Path]:
    """Every file of every volume `blastdbcmd -info` lists (volumes named bare are under `blastdb`)."""
    block = _INFO_VOLUMES.search(text)
    volumes = [line.strip() for line in block.group(1).splitlines() if line.strip()] if block else []
    files: list[Path] = []
    for volume in volumes:
        path = Path(volume) if Path(volume).is_absolute() or blastdb is None else blastdb / volume
        files += sorted(p for p in path.parent.glob(f"{path.name}.*") if p.is_file())
    return files


def _with_checksums(info: DatabaseInfo, files: list[Path]) -> DatabaseInfo:
    size = sum(path.stat().st_size for path in files)
    if not files:
        return info.model_copy(update={"note": "the database's files were not found on this machine"})
    if size > HASH_LIMIT_BYTES:
        return info.model_copy(update={"bytes": size, "note": f"{size / 1024**3:.1f} GiB: too large to checksum"})
    return info.model_copy(update={"bytes": size, "sha256": {p.name: file_sha256([p]) for p in files}})


def write_provenance(dest: Path, provenance: Provenance) -> Path:
    """`provenance.json`, written whole or not at all."""
    _write_atomic(dest, provenance.model_dump_json(indent=2) + "\n")
    return dest


def read_provenance(path: Path) -> Provenance:
    """Read `provenance.json`; raises ValueError (pydantic's) or OSError."""
    return Provenance.model_validate_json(path.read_text(encoding="utf-8"))


def provenance_rows(p: Provenance) -> list[tuple[str, str]]:
    """The card: label and value, short enough to read at a glance (the JSON has everything)."""
    db = p.database
    counts = f"{db.sequences:,} sequences, {db.letters:,} letters" if db.sequences is not None else "-"
    checksum = "; ".join(f"{name} {digest[:12]}" for name, digest in list(db.sha256.items())[:3]) or db.note or "-"
    params = "  ".join(f"{key}={value}" for key, value in p.parameters.items() if key not in {"query", "db", "title"})
    return [
        ("BLAST+", f"{p.program} {p.blast_version}".strip()),
        ("Database", f"{db.title or db.name} ({counts}; {db.date or 'date unknown'})"),
        ("Database checksum", checksum),
        ("Query", f"{p.query.source}: {p.query.sequences:,} sequences, {p.query.letters:,} letters"),
        ("Query SHA-256", p.query.sha256 or p.query.note or "-"),
        ("Parameters", params),
        ("Command (batch 1)", p.commands[0] if p.commands else p.commands_note or "-"),
        ("Backend", " ".join([p.backend, *(f"{k}={v}" for k, v in p.profile.items())])),
        ("Code / Prefect run", f"{p.code_version or '-'} / {p.flow_run_id or '-'}"),
        *([("Rerun of", p.rerun_of)] if p.rerun_of else []),
    ]


def card_text(p: Provenance) -> str:
    """The card as aligned text, one line per fact: the page shows it in a code block, never as markup."""
    rows = provenance_rows(p)
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def provenance_markdown(p: Provenance) -> str:
    """The card for a Prefect markdown artifact: fenced, so nothing in it is read as markup."""
    body = card_text(p).replace("~~~", "~ ~ ~")
    return f"# Provenance of job {p.job_id}\n\n~~~text\n{body}\n~~~\n\nEverything else: `{PROVENANCE_FILE}`."


def profile_text(values: Mapping[str, object]) -> dict[str, str]:
    """A profile's set values as text (None and empty left out), sanitised."""
    return {key: sanitise(str(value)) for key, value in values.items() if value not in (None, "")}


def _write_atomic(dest: Path, text: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(dest)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
