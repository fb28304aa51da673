"""Provenance records: checksums, the BLAST+ version of an archive, `blastdbcmd -info`, the card, no-hit queries."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blastflow.provenance import (
    DatabaseInfo,
    Provenance,
    QueryInfo,
    archive_blast_version,
    database_info,
    file_sha256,
    provenance_rows,
    query_ids,
    read_provenance,
    relative_command,
    write_no_hits,
    write_provenance,
)


@pytest.fixture(scope="module")
def protein_db(sample_fasta: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("provdb") / "prot"
    subprocess.run(
        ["makeblastdb", "-in", str(sample_fasta["db_prot"]), "-dbtype", "prot", "-out", str(prefix), "-title",
         "fire ant proteins"], check=True, capture_output=True,
    )
    return prefix


def test_database_info_is_blastdbcmds_and_checksums_every_file_of_the_database(protein_db: Path) -> None:
    info = database_info(protein_db.name, "prot", protein_db.parent)  # a bare name found through BLASTDB
    assert info.title == "fire ant proteins" and info.sequences == 150 and info.letters and info.letters > 10_000
    assert info.date  # e.g. "Nov 29, 2026  7:30 PM"
    files = sorted(protein_db.parent.glob("prot.*"))
    assert sorted(info.sha256) == [f.name for f in files] and ".pin" in "".join(info.sha256)
    assert info.sha256["prot.psq"] == hashlib.sha256((protein_db.parent / "prot.psq").read_bytes()).hexdigest()
    assert info.bytes == sum(f.stat().st_size for f in files)


def test_a_database_blastdbcmd_cannot_read_is_described_not_raised(tmp_path: Path) -> None:
    info = database_info(str(tmp_path / "nothing"), "prot", None)
    assert info.sequences is None and info.sha256 == {} and "blastdbcmd -info failed" in info.note


def test_the_blast_version_is_read_from_the_archive_blast_wrote(protein_db: Path, sample_fasta, tmp_path) -> None:
    archive = tmp_path / "out.asn"
    subprocess.run(
        ["blastp", "-query", str(sample_fasta["query_prot"]), "-db", str(protein_db), "-outfmt", "11", "-out",
         str(archive), "-max_target_seqs", "1"], check=True, capture_output=True,
    )
    version = subprocess.run(["blastp", "-version"], capture_output=True, text=True, check=True).stdout
    assert archive_blast_version(archive) and archive_blast_version(archive) in version.splitlines()[0]


def test_a_query_split_in_batches_hashes_like_the_whole(tmp_path: Path) -> None:
    parts = [tmp_path / "a.fa", tmp_path / "b.fa"]
    parts[0].write_text(">q1\nMKV\n")
    parts[1].write_text(">q2 second\nMKW\n")
    assert file_sha256(parts) == hashlib.sha256(b">q1\nMKV\n>q2 second\nMKW\n").hexdigest()
    assert query_ids(parts) == ["q1", "q2"]


def test_no_hits_lists_the_queries_without_a_hit_in_query_order(tmp_path: Path) -> None:
    missing = write_no_hits(tmp_path / "no_hits.txt", ["q3", "q1", "q2"], {"q1"})
    assert missing == ["q3", "q2"] and (tmp_path / "no_hits.txt").read_text() == "q3\nq2\n"


def test_commands_are_recorded_relative_to_the_job_and_without_secrets() -> None:
    argv = ["/usr/bin/blastn", "-query", "/data/j/batch_001.fa", "-db", "/data/j/db/nt", "-task", "megablast",
            "-entrez_query", "x AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0"]
    text = relative_command(argv, Path("/data/j"))
    assert text.startswith("blastn -query batch_001.fa -db db/nt -task megablast")
    assert "c2VjcmV0" not in text


def test_the_record_round_trips_and_the_card_shows_the_facts(tmp_path: Path) -> None:
    record = Provenance(
        job_id="j", rerun_of="5d2c8b1e-7f3a-4e6d-9b0c-1a2b3c4d5e6f", flow_run_id="fr", code_version="0.1.0",
        backend="local", profile={"max_parallel": "2"}, program="blastp", blast_version="2.12.0+",
        parameters={"query": "q.fa", "evalue": 1e-5, "max_target_seqs": 10},
        query=QueryInfo(source="q.fa", sequences=12, letters=3456, sha256="ab" * 32),
        database=DatabaseInfo(name="prot", title="fire ant proteins", sequences=150, letters=40_000,
                              date="Nov 29, 2026", sha256={"prot.pin": "cd" * 32}),
        commands=["blastp -query batch_000.fa -db prot -outfmt 11"], recorded_at=datetime(2026, 11, 29, tzinfo=UTC),
    )
    path = write_provenance(tmp_path / "provenance.json", record)
    assert read_provenance(path) == record
    card = dict(provenance_rows(record))
    assert card["BLAST+"] == "blastp 2.12.0+"
    assert card["Database"] == "fire ant proteins (150 sequences, 40,000 letters; Nov 29, 2026)"
    assert card["Query SHA-256"] == "ab" * 32 and "evalue=1e-05" in card["Parameters"]
    assert card["Command (batch 1)"].startswith("blastp -query batch_000.fa")
    assert card["Rerun of"] == record.rerun_of
