"""Every BLAST format from the stored archive, compared with BLAST+'s own output of the same search run directly.

One search per program (blastn, blastp) runs through the local backend's batching: the batches are written by
`write_batches`, each is searched with the pod's own argv (`LocalConfig.pod_argv`, outfmt 11), and the archives are
concatenated as finalize does (`merge_results`). The same query set is then searched directly, once per outfmt.
Only the differences named in blastflow/formats.py are normalised away: the per-query statistics blast_formatter
recomputes (pairwise Lambda/K/H and effective search space; XML Statistics_*) and SAM's @PG command line.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from Bio import SeqIO

from blastflow.backends.local.run_files import LocalConfig
from blastflow.batch import write_batches
from blastflow.errors import BackendError, InputError
from blastflow.formats import FORMATS, formats_for, formatted, known_problem, merge_sam, split_archive
from blastflow.hits import ARCHIVE_FILE, HIT_COLUMNS, HITS_FILE, Hit, read_hits, write_hits
from blastflow.options import search_options
from blastflow.query import read_fasta
from blastflow.results import merge_results

DATA = Path(__file__).resolve().parent.parent / "data" / "sinvicta"
EVALUE, MAX_TARGET_SEQS = 1e-5, 10

pytestmark = pytest.mark.skipif(shutil.which("blast_formatter") is None, reason="BLAST+ is not installed")

# program -> (FASTA, molecule, database records, query records (some without hits), residues per batch)
SEARCHES = {
    "blastn": ("Sinvicta2-2-3.cdna.subset.fasta", "nucl", slice(0, 60), [*range(6), 200, 201], 1500),
    "blastp": ("Sinvicta2-2-3.prot.subset.fasta", "prot", slice(0, 150), [*range(6), 900, 901], 700),
}


def run_search(base: Path, program: str, *, direct: bool = True) -> dict[str, object]:
    """Batches searched with the pod argv and merged as finalize does; the direct outputs of the whole query.

    Also the results of a real search for tests/ops/test_cli_results.py and tests/ui/test_downloads.py.
    """
    fasta, molecule, db_slice, picks, batch_len = SEARCHES[program]
    records = list(SeqIO.parse(DATA / fasta, "fasta"))
    SeqIO.write(records[db_slice], base / "db.fa", "fasta")
    db = str(base / "db" / program)
    subprocess.run(["makeblastdb", "-in", str(base / "db.fa"), "-dbtype", molecule, "-out", db, "-parse_seqids"],
                   capture_output=True, check=True)  # fmt: skip
    SeqIO.write([records[i] for i in picks], base / "query.fa", "fasta")
    with (base / "query.fa").open() as handle:
        batches = write_batches(list(read_fasta(handle, "query.fa")), batch_len, base / "query_batches")
    options = search_options(program, "", EVALUE, MAX_TARGET_SEQS)
    config = LocalConfig(
        job_id="j", program=program, blast=shutil.which(program), database=db, database_label="db",
        molecule=molecule, options=options, batches=batches, workdir=base, max_parallel=1, threads_per_pod=1,
        batch_retries=0, retry_backoff_s=0,
    )  # fmt: skip
    archives = []
    for batch in batches:
        archives.append(base / "archives" / f"{batch.name}.asn")
        archives[-1].parent.mkdir(exist_ok=True)
        subprocess.run(config.pod_argv(batch, archives[-1]), capture_output=True, check=True)
    results = base / "results"
    merge_results(archives, results, program=program)
    outputs = {}
    for outfmt in ((0, 5, 7, 17) if program == "blastn" else (0, 5, 7)) if direct else ():
        argv = [program, "-query", str(base / "query.fa"), "-db", db, "-outfmt", str(outfmt), *options]
        outputs[outfmt] = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return {"results": results, "archives": archives, "direct": outputs, "batches": batches, "queries": len(picks)}


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    return {program: run_search(tmp_path_factory.mktemp(program), program) for program in SEARCHES}


def _pairwise(text: str) -> str:
    """Without the statistics block blast_formatter recomputes per batch (Lambda ... effective search space)."""
    return re.sub(r"^Lambda .*?^Effective search space used: \d+\n", "", text, flags=re.S | re.M)


def _xml(text: str) -> str:
    return re.sub(r"^ *<Statistics_(?:eff-space|hsp-len|kappa|lambda|entropy)>.*\n", "", text, flags=re.M)


def _sam(text: str) -> str:
    return re.sub(r"^@PG\t.*\n", "", text, flags=re.M)


def test_the_searches_have_several_batches_and_queries_without_hits(searches: dict) -> None:
    for search in searches.values():
        assert len(search["batches"]) >= 2
        assert search["direct"][7].count("# 0 hits found") >= 1


@pytest.mark.parametrize("program", list(SEARCHES))
@pytest.mark.parametrize(("fmt", "normalise"), [("pairwise", _pairwise), ("xml", _xml), ("tabular-comments", str)])
def test_merged_format_equals_blast_run_directly(searches: dict, program: str, fmt: str, normalise) -> None:
    search = searches[program]
    merged = formatted(search["results"], fmt, program=program).read_text()
    direct = search["direct"][FORMATS[fmt].outfmt]
    assert normalise(merged) == normalise(direct)
    assert normalise(merged) != merged or fmt == "tabular-comments"  # the named difference is really there


def test_tabular_comments_counts_every_query_once(searches: dict) -> None:
    search = searches["blastn"]
    text = formatted(search["results"], "tabular-comments", program="blastn").read_text()
    assert text.count("# Query: ") == search["queries"]
    assert text.splitlines()[-1] == f"# BLAST processed {search['queries']} queries"


def test_xml_numbers_iterations_and_queries_across_batches(searches: dict) -> None:
    search = searches["blastp"]
    text = formatted(search["results"], "xml", program="blastp").read_text()
    numbers = [int(n) for n in re.findall(r"<Iteration_iter-num>(\d+)<", text)]
    ids = re.findall(r"<Iteration_query-ID>Query_(\d+)<", text)
    assert numbers == list(range(1, search["queries"] + 1)) == [int(i) for i in ids]
    assert text.count("<?xml") == 1 and text.count("</BlastOutput>") == 1


def test_sam_equals_blastn_run_directly_apart_from_the_command_line(searches: dict) -> None:
    search = searches["blastn"]
    merged = formatted(search["results"], "sam", program="blastn").read_text()
    direct = search["direct"][17]
    assert _sam(merged) == _sam(direct)
    assert merged.count("@HD") == 1 and merged.count("@PG") == 1
    names = re.findall(r"^@SQ\tSN:(\S+)", merged, flags=re.M)
    assert len(names) == len(set(names)) > len(search["batches"])  # batch 2's Query_1 did not collide


def test_archive_and_tsv_are_the_stored_files(searches: dict) -> None:
    search = searches["blastp"]
    archive = formatted(search["results"], "archive")
    assert archive == search["results"] / ARCHIVE_FILE
    assert archive.read_bytes() == b"".join(path.read_bytes() for path in search["archives"])
    assert formatted(search["results"], "tsv") == search["results"] / HITS_FILE


def test_csv_and_json_are_the_hits_with_named_columns(searches: dict) -> None:
    """csv: a header row, then BLAST's text of each field; json: one typed object per hit, in the same order."""
    results = searches["blastp"]["results"]
    lines = (results / HITS_FILE).read_text().splitlines()
    with formatted(results, "csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(HIT_COLUMNS)
    assert rows[1:] == [line.split("\t", len(HIT_COLUMNS) - 1) for line in lines] and len(lines) > 1
    objects = json.loads(formatted(results, "json").read_text())
    assert [Hit(**obj) for obj in objects] == read_hits(results / HITS_FILE)
    assert type(objects[0]["evalue"]) is float and type(objects[0]["length"]) is int


def test_json_keeps_tiny_e_values_as_numbers_and_titles_as_text(tmp_path: Path) -> None:
    hit = Hit("q1", "s1", 100.0, 300, 0, 0, 1, 300, 1, 300, 3.8e-149, 407.0, 100.0, 300, 300, 'a "kinase"\tlike')
    write_hits(tmp_path / HITS_FILE, [hit])
    text = formatted(tmp_path, "json").read_text()
    assert '"evalue": 3.8e-149' in text and json.loads(text) == [{n: getattr(hit, n) for n in HIT_COLUMNS}]
    (tmp_path / "none").mkdir()
    write_hits(tmp_path / "none" / HITS_FILE, [])
    assert json.loads(formatted(tmp_path / "none", "json").read_text()) == []


def test_a_hits_file_of_the_old_layout_gives_the_same_named_formats(tmp_path: Path) -> None:
    """A job finished before hits.tsv was BLAST's bytes (header row, title third): csv, json, a headed tsv and
    the summary read it by its header, in today's column order."""
    from blastflow.formats import describe_results
    from blastflow.hits import LEGACY_COLUMNS

    hit = Hit("q1", "s1", 99.5, 300, 1, 0, 1, 300, 1, 300, 1e-100, 500.0, 100.0, 300, 310, "a kinase")
    rows = ["\t".join(LEGACY_COLUMNS), "\t".join(str(getattr(hit, name)) for name in LEGACY_COLUMNS)]
    (tmp_path / HITS_FILE).write_text("\n".join(rows) + "\n")
    today = "\t".join(str(getattr(hit, name)) for name in HIT_COLUMNS)
    assert formatted(tmp_path, "tsv", header=True).read_text() == "\t".join(HIT_COLUMNS) + "\n" + today + "\n"
    assert json.loads(formatted(tmp_path, "json").read_text()) == [{n: getattr(hit, n) for n in HIT_COLUMNS}]
    assert formatted(tmp_path, "csv").read_text().splitlines() == [",".join(HIT_COLUMNS), today.replace("\t", ",")]
    assert (describe_results(tmp_path).hits, describe_results(tmp_path).queries_with_hits) == (1, 1)


def test_a_header_row_only_for_tsv(searches: dict) -> None:
    results = searches["blastp"]["results"]
    headed = formatted(results, "tsv", header=True)
    assert headed.read_bytes() == ("\t".join(HIT_COLUMNS) + "\n").encode() + (results / HITS_FILE).read_bytes()
    assert headed.parent.name == "formats"  # hits.tsv itself stays BLAST's bytes
    for fmt in ("csv", "xml"):
        with pytest.raises(InputError, match=f"a header row applies only to tsv .*; {fmt} ") as err:
            formatted(results, fmt, header=True)
        assert err.value.code == "header_not_available"


def test_a_second_call_uses_the_cached_file(searches: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    results = searches["blastp"]["results"]
    first = formatted(results, "pairwise", program="blastp")
    stamp = first.stat().st_mtime_ns
    monkeypatch.setenv("PATH", "")  # blast_formatter cannot run now: a render would fail
    assert formatted(results, "pairwise", program="blastp") == first
    assert first.stat().st_mtime_ns == stamp
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_a_cached_file_older_than_the_archive_is_made_again(searches: dict) -> None:
    results = searches["blastp"]["results"]
    first = formatted(results, "tabular-comments", program="blastp")
    os.utime(first, ns=(1, 1))
    again = formatted(results, "tabular-comments", program="blastp")
    assert again.stat().st_mtime_ns > 1


def test_sam_is_refused_for_blastp(searches: dict) -> None:
    with pytest.raises(InputError, match=r"SAM \(outfmt 17\) exists only for blastn.*this search is blastp") as err:
        formatted(searches["blastp"]["results"], "sam", program="blastp")
    assert err.value.code == "format_not_available"
    assert "sam" not in formats_for("blastp") and "sam" in formats_for("blastn")


def test_an_unknown_format_lists_the_names(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown format 'html': choose one of tsv, csv, json, pairwise, xml"):
        formatted(tmp_path, "html")


def test_a_missing_archive_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=re.escape(f"{tmp_path / ARCHIVE_FILE} is missing")) as err:
        formatted(tmp_path, "xml")
    assert err.value.code == "results_missing"


def test_a_corrupt_archive_is_named_with_blast_formatters_reason(searches: dict, tmp_path: Path) -> None:
    good = (searches["blastp"]["results"] / ARCHIVE_FILE).read_text()
    (tmp_path / ARCHIVE_FILE).write_text(good[: len(good) // 2])  # cut short, as by a full disk
    with pytest.raises(BackendError, match=re.escape(f"{tmp_path / ARCHIVE_FILE} cannot be read by blast_formatter: "))\
            as err:  # fmt: skip
        formatted(tmp_path, "pairwise", program="blastp")
    assert err.value.code == "archive_unreadable"
    assert not (tmp_path / "formats" / "pairwise.txt").exists()  # no half-written file counts as the format


def test_split_archive_finds_each_batch() -> None:
    lines = ["Blast4-archive ::= {\n", "a\n", "}\n", "Blast4-archive ::= {\n", "b\n", "}\n"]
    assert [len(batch) for batch in split_archive(lines)] == [3, 3]
    assert list(split_archive(["junk\n"])) == [["junk\n"]]


def test_merge_sam_counts_a_batch_without_hits_in_the_numbering() -> None:
    """Batch 2 searched 3 queries and hit none (SAM prints nothing for it): batch 3's Query_1 is Query_6."""
    one = ["@HD\tVN:1.2\n", "@SQ\tSN:Query_1\tLN:9\n", "@PG\tID:0\n", "s1\t0\tQuery_1\t1\t255\t9M\t*\t0\t0\n"]
    three = ["@HD\tVN:1.2\n", "@SQ\tSN:Query_1\tLN:7\n", "@PG\tID:0\n", "Query_1\t0\tQuery_1\t1\t255\t7M\t*\t0\t0\n"]
    lines = list(merge_sam(lambda: [one, [], three], [2, 3, 1]))
    assert lines[1:3] == ["@SQ\tSN:Query_1\tLN:9\n", "@SQ\tSN:Query_6\tLN:7\n"]
    assert lines[-1] == "Query_1\t0\tQuery_6\t1\t255\t7M\t*\t0\t0\n"  # a subject named like a query keeps its name


def test_known_problem_names_what_is_known_without_rendering(searches: dict, tmp_path: Path) -> None:
    assert known_problem(searches["blastp"]["results"], "xml") is None
    assert f"{tmp_path / HITS_FILE} is missing" in known_problem(tmp_path, "csv")
    (tmp_path / ARCHIVE_FILE).write_text("garbage\n")
    assert f"{tmp_path / ARCHIVE_FILE} is not a BLAST archive" in known_problem(tmp_path, "pairwise")


def test_the_database_directory_finalize_recorded_is_where_blast_formatter_looks(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from blastflow.formats import database_dir
    from blastflow.provenance import DatabaseInfo, Provenance, QueryInfo, write_provenance

    results = tmp_path / "job" / "results"
    results.mkdir(parents=True)
    assert database_dir(results) is None  # a local search by path: the archive names the database itself
    (tmp_path / "job" / "blastdb").mkdir()
    assert database_dir(results) == tmp_path / "job" / "blastdb"  # an elastic-blast job's copy
    found_by_blastdb = tmp_path / "dbs"
    found_by_blastdb.mkdir()
    write_provenance(results / "provenance.json", Provenance(
        job_id="j", backend="local", program="blastp", query=QueryInfo(source="q", sequences=1, letters=1, sha256=""),
        database=DatabaseInfo(name="swissprot", directory=str(found_by_blastdb)), recorded_at=datetime.now(UTC)))
    assert database_dir(results) == found_by_blastdb
