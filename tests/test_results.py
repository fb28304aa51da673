"""Results: batch archives rendered by the real blast_formatter, merged to hits.tsv and one archive.

The merged hits must equal one direct BLAST run over the whole query (same rows,
same order, same numbers), and the merged archive must render to the same hits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from Bio import SearchIO, SeqIO

from blastflow.errors import BackendError
from blastflow.hits import HIT_COLUMNS, HIT_FIELDS, HIT_SCHEMA, Hit, parse_outfmt6, read_hits
from blastflow.results import find_database, merge_results, render_hits

PROT = Path(__file__).resolve().parent.parent / "data" / "sinvicta" / "Sinvicta2-2-3.prot.subset.fasta"
OPTIONS = ["-evalue", "1e-5", "-max_target_seqs", "10"]

pytestmark = pytest.mark.skipif(shutil.which("blast_formatter") is None, reason="BLAST+ is not installed")


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """20 proteins against 200 in three batches (archives), and the same search run directly in one go."""
    base = tmp_path_factory.mktemp("results")
    records = list(SeqIO.parse(PROT, "fasta"))
    SeqIO.write(records[:200], base / "db.fa", "fasta")
    subprocess.run(["makeblastdb", "-in", str(base / "db.fa"), "-dbtype", "prot", "-out", str(base / "db" / "p200"),
                    "-parse_seqids"], capture_output=True, check=True)  # fmt: skip
    db = str(base / "db" / "p200")
    query = records[:20]
    SeqIO.write(query, base / "query.fa", "fasta")
    archives = []
    for index, (start, stop) in enumerate([(0, 7), (7, 14), (14, 20)]):
        SeqIO.write(query[start:stop], base / f"batch_{index:03d}.fa", "fasta")
        archive = base / f"batch_{index:03d}.asn"
        subprocess.run(["blastp", "-query", str(base / f"batch_{index:03d}.fa"), "-db", db, "-outfmt", "11",
                        "-out", str(archive), *OPTIONS], capture_output=True, check=True)  # fmt: skip
        archives.append(archive)
    direct = subprocess.run(["blastp", "-query", str(base / "query.fa"), "-db", db, "-outfmt", f"6 {HIT_FIELDS}",
                             *OPTIONS], capture_output=True, text=True, check=True).stdout  # fmt: skip
    return {"base": base, "db": db, "archives": archives, "direct": direct, "query": query}


def test_merged_hits_equal_one_direct_run(search: dict, tmp_path: Path) -> None:
    results = merge_results(search["archives"], tmp_path / "out", program="blastp")
    direct = list(parse_outfmt6(search["direct"].splitlines()))
    assert results.hits == direct
    assert len(direct) > 20
    assert results.hit_count == len(direct)
    assert read_hits(results.hits_path) == direct
    assert results.hits_path.read_text() == search["direct"]  # BLAST's own bytes: no header, nothing rewritten


def test_the_parquet_file_has_every_hit_in_batch_order(search: dict, tmp_path: Path) -> None:
    """hits.parquet (what the page queries) holds the direct run's hits, row for row, typed."""
    results = merge_results(search["archives"], tmp_path / "out", program="blastp")
    direct = list(parse_outfmt6(search["direct"].splitlines()))
    table = pq.read_table(results.parquet_path)
    assert results.parquet_path.name == "hits.parquet" and table.schema.equals(HIT_SCHEMA)
    assert [Hit(**row) for row in table.to_pylist()] == direct
    assert results.hit_count == len(direct)


def test_a_search_without_hits_gives_empty_files_with_their_columns(search: dict, tmp_path: Path) -> None:
    query, archive = tmp_path / "nothing.fa", tmp_path / "nothing.asn"
    query.write_text(">nothing\nWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW\n")
    subprocess.run(["blastp", "-query", str(query), "-db", search["db"], "-outfmt", "11", "-out", str(archive),
                    "-evalue", "1e-30"], capture_output=True, check=True)  # fmt: skip
    results = merge_results([archive], tmp_path / "out")
    assert results.hit_count == 0
    table = pq.read_table(results.parquet_path)
    assert table.num_rows == 0 and table.schema.equals(HIT_SCHEMA)
    assert results.hits_path.read_bytes() == b""  # as BLAST prints a search without hits
    assert tuple(table.column_names) == HIT_COLUMNS


def test_every_query_hits_itself(search: dict, tmp_path: Path) -> None:
    hits = merge_results(search["archives"], tmp_path / "out").hits
    for record in search["query"]:
        best = next(h for h in hits if h.query == record.id)
        assert (best.subject, best.pct_identity, best.query_coverage) == (record.id, 100.0, 100.0)
        assert best.query_length == best.subject_length == len(record)
        assert best.description == record.description.split(None, 1)[1]


def test_biopython_reads_the_same_hits(search: dict, tmp_path: Path) -> None:
    """An independent parser (Bio.SearchIO blast-tab) agrees with ours on the direct output."""
    hits = merge_results(search["archives"], tmp_path / "out").hits
    rows = [
        (qresult.id, hit.id, hsp.evalue, hsp.bitscore, hsp.ident_pct)
        for qresult in SearchIO.parse(_text_file(tmp_path, search["direct"]), "blast-tab", fields=HIT_FIELDS.split())
        for hit in qresult
        for hsp in hit
    ]
    assert sorted(rows) == sorted((h.query, h.subject, h.evalue, h.bitscore, h.pct_identity) for h in hits)


def test_merged_archive_renders_the_whole_search(search: dict, tmp_path: Path) -> None:
    results = merge_results(search["archives"], tmp_path / "out")
    assert results.archive_path.name == "results.asn"
    assert results.archive_path.read_bytes() == b"".join(a.read_bytes() for a in search["archives"])
    assert render_hits(results.archive_path) == results.hits  # blast_formatter reads concatenated archives
    xml = subprocess.run(["blast_formatter", "-archive", str(results.archive_path), "-outfmt", "5"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert xml.count("<Iteration>") == 20  # every query of every batch, in one XML document
    assert xml.count("<?xml") == 1


def test_archive_without_its_database_fails_clearly(search: dict, tmp_path: Path) -> None:
    db_dir = Path(search["db"]).parent
    moved = db_dir.with_name("moved")
    db_dir.rename(moved)
    try:
        with pytest.raises(BackendError, match=r"could not render the blastp results of batch_001: .*must still exist"):
            merge_results(search["archives"][1:2], tmp_path / "out", program="blastp")
    finally:
        moved.rename(db_dir)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.asn"]  # no half hits.tsv, no temp dir


def test_an_archive_made_by_database_name_renders_with_the_blastdb_it_is_given(
    search: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a cluster: the pod searched `-db p200` found through its BLASTDB; the worker has the database
    elsewhere and passes that directory to blast_formatter, leaving its own environment alone."""
    db_dir = Path(search["db"]).parent
    batch = search["base"] / "batch_000.fa"
    archive = tmp_path / "by_name.asn"
    subprocess.run(["blastp", "-query", str(batch), "-db", "p200", "-outfmt", "11", "-out", str(archive), *OPTIONS],
                   capture_output=True, check=True, cwd=db_dir)  # fmt: skip
    monkeypatch.delenv("BLASTDB", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BackendError, match="could not render"):
        render_hits(archive)  # the worker's own environment does not know `p200`
    hits = render_hits(archive, blastdb=db_dir)
    assert hits == merge_results(search["archives"][:1], tmp_path / "out").hits
    assert "BLASTDB" not in os.environ


def test_find_database_looks_where_blast_formatter_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("one/prot.pin", "two/nucl.nal", "three/big.00.pin", "three/big.01.pin", "four/prot.nin"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    monkeypatch.setenv("BLASTDB", f"{tmp_path / 'four'}:{tmp_path / 'one'}:{tmp_path / 'two'}:{tmp_path / 'three'}")
    monkeypatch.chdir(tmp_path)
    assert find_database("prot", "prot") == tmp_path / "one"  # four's prot is a nucleotide database
    assert find_database("nucl", "nucl") == tmp_path / "two"  # an alias file
    assert find_database("big", "prot") == tmp_path / "three"  # volumes only
    assert find_database(str(tmp_path / "one" / "prot"), "prot") == tmp_path / "one"  # a path: only beside itself
    assert find_database(str(tmp_path / "two" / "prot"), "prot") is None
    assert find_database("swissprot", "prot") is None
    monkeypatch.delenv("BLASTDB")
    assert find_database("prot", "prot") is None


def test_tabs_in_titles_stay_in_the_title() -> None:
    row = "q1\ts1\t99.5\t100\t0\t0\t1\t100\t1\t100\t1e-50\t200\t100\t100\t120\ttitle\twith\ttabs"
    (hit,) = parse_outfmt6([row + "\n"])
    assert (hit.description, hit.pct_identity, hit.subject_length) == ("title\twith\ttabs", 99.5, 120)


def _text_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "direct.tsv"
    path.write_text(text)
    return path


def test_a_search_of_many_batches_is_rendered_by_one_blast_formatter(
    search: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 2: finalize renders the merged archive once, not once per batch; same rows as per batch."""
    import blastflow.results as results_module

    started: list[list[str]] = []
    real_run = results_module.subprocess.run

    def counting_run(argv, *args, **kwargs):
        started.append(list(argv))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(results_module.subprocess, "run", counting_run)
    merged = merge_results(search["archives"], tmp_path / "out", program="blastp")
    assert [argv[0] for argv in started] == ["blast_formatter"] and len(search["archives"]) == 3
    per_batch = [hit for archive in search["archives"] for hit in render_hits(archive)]
    assert merged.hits == per_batch
