"""The alignments view's logic against BLAST+ itself: one small real search per program, rendered both ways.

Each search writes an archive; `blast_formatter` turns it into XML (what the page
reads) and into BLAST's own pairwise text (`-outfmt 0`). Our text for every HSP
must give the same Query / Sbjct lines (start, residues, end) and score lines.
Named differences, normalised here only: residues masked by SEG/DUST are `X` in
the XML where the pairwise text prints the real residue (lower case, or upper
case for tblastn); tblastx's sum statistics print `Expect(2)` where the XML has
no count of the HSPs summed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from Bio import SeqIO

from blastflow.alignments import INDEX_SUFFIX, alignment_index, format_hsp, query_alignments
from blastflow.errors import BackendError
from blastflow.hits import ARCHIVE_FILE

pytestmark = pytest.mark.skipif(shutil.which("blast_formatter") is None, reason="BLAST+ is not installed")

PROGRAMS = ("blastn", "blastp", "blastx", "tblastn", "tblastx")
# (query file, database) per program; nucleotide queries include a reverse complement for minus strands and frames.
SEARCHES = {
    "blastn": ("nucl", "nucl"),
    "blastp": ("prot", "prot"),
    "blastx": ("nucl", "prot"),
    "tblastn": ("prot", "nucl"),
    "tblastx": ("nucl", "nucl"),
}
ROW = re.compile(r"^(Query|Sbjct)  (\d+)\s+(\S+)  (\d+)$", re.M)
SCORE = re.compile(r"^ (Score = .*?)(?:, Method: .*)?$|^ (Identities = .*)$|^ (Strand=.*|Frame = .*)$", re.M)


def _run(*argv: str) -> None:
    subprocess.run(argv, capture_output=True, check=True)


@pytest.fixture(scope="module")
def searches(sample_fasta: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Per program: (the XML, BLAST's pairwise text) of one small search, both from the same archive."""
    base = tmp_path_factory.mktemp("alignments")
    transcripts = list(SeqIO.parse(sample_fasta["query_nucl"], "fasta"))
    proteins = list(SeqIO.parse(sample_fasta["query_prot"], "fasta"))
    minus = transcripts[1].reverse_complement(id=f"{transcripts[1].id}_rc", description="reverse complement")
    SeqIO.write([transcripts[0], minus, transcripts[2]], base / "nucl.fa", "fasta")
    SeqIO.write(proteins[:3], base / "prot.fa", "fasta")
    _run("makeblastdb", "-in", str(sample_fasta["query_nucl"]), "-dbtype", "nucl", "-out", str(base / "db_nucl"))
    _run("makeblastdb", "-in", str(sample_fasta["db_prot"]), "-dbtype", "prot", "-out", str(base / "db_prot"))
    out = {}
    for program, (query, db) in SEARCHES.items():
        archive = base / f"{program}.asn"
        _run(program, "-query", str(base / f"{query}.fa"), "-db", str(base / f"db_{db}"), "-outfmt", "11",
             "-max_target_seqs", "3", "-out", str(archive))  # fmt: skip
        _run("blast_formatter", "-archive", str(archive), "-outfmt", "5", "-out", str(base / f"{program}.xml"))
        _run("blast_formatter", "-archive", str(archive), "-outfmt", "0", "-out", str(base / f"{program}.txt"))
        out[program] = (base / f"{program}.xml", (base / f"{program}.txt").read_text())
    return out


def _ours(xml: Path) -> str:
    """Our text for every HSP of every query with hits, in result order (as BLAST's pairwise lists them)."""
    texts = []
    for query_id in alignment_index(xml).with_hits:
        page = query_alignments(xml, query_id)
        texts.extend(format_hsp(hsp, page.program) for hit in page.hits for hsp in hit.hsps)
    return "\n\n".join(texts)


def _same_row(ours: tuple[str, ...], blast: tuple[str, ...]) -> bool:
    """Equal, but for residues the XML masks (X / N) where BLAST's text prints the residue itself."""
    if ours[:2] != blast[:2] or ours[3] != blast[3] or len(ours[2]) != len(blast[2]):
        return False
    return all(a == b or (a in "XN" and b.isalpha()) for a, b in zip(ours[2], blast[2], strict=True))


@pytest.mark.parametrize("program", PROGRAMS)
def test_query_and_sbjct_lines_equal_blast_pairwise_text(searches: dict[str, tuple[Path, str]], program: str) -> None:
    xml, pairwise = searches[program]
    ours, blast = ROW.findall(_ours(xml)), ROW.findall(pairwise)
    assert len(blast) > 10
    assert len(ours) == len(blast)
    different = [(a, b) for a, b in zip(ours, blast, strict=True) if not _same_row(a, b)]
    assert different == []


@pytest.mark.parametrize("program", PROGRAMS)
def test_score_identity_and_frame_lines_equal_blast_pairwise_text(
    searches: dict[str, tuple[Path, str]], program: str
) -> None:
    xml, pairwise = searches[program]
    blast = [tuple(re.sub(r"Expect\(\d+\)", "Expect", part) for part in row) for row in SCORE.findall(pairwise)]
    assert SCORE.findall(_ours(xml)) == blast


def test_the_searches_cover_minus_strands_negative_frames_and_gaps(searches: dict[str, tuple[Path, str]]) -> None:
    ours = {program: _ours(xml) for program, (xml, _) in searches.items()}
    assert " Strand=Plus/Minus" in ours["blastn"]
    assert re.search(r"^ Frame = -\d$", ours["blastx"], re.M)
    assert re.search(r"^ Frame = -\d$", ours["tblastn"], re.M)
    assert re.search(r"^ Frame = [+-]\d/-\d$", ours["tblastx"], re.M)
    assert any(re.search(r"^(Query|Sbjct)  \d+\s+\S*-", text, re.M) for text in ours.values())


def test_positives_only_for_protein_alignments(searches: dict[str, tuple[Path, str]]) -> None:
    assert "Positives" not in _ours(searches["blastn"][0])
    assert "Positives" in _ours(searches["blastx"][0])


def test_index_lists_queries_in_result_order_and_is_cached_beside_the_xml(
    searches: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    xml = tmp_path / "results.xml"
    shutil.copy(searches["blastx"][0], xml)
    index = alignment_index(xml)
    assert [q.query_id for q in index.queries] == re.findall(r"^Query= (\S+)", searches["blastx"][1], re.M)
    assert index.queries[1].query_id.endswith("_rc")
    assert all(q.hits == 3 for q in index.queries)
    cache = xml.with_name(xml.name + INDEX_SUFFIX)
    assert cache.is_file()
    assert alignment_index(xml) == index  # read back from the cache


def test_index_is_rebuilt_when_the_xml_changes(searches: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    xml = tmp_path / "results.xml"
    shutil.copy(searches["blastp"][0], xml)
    first = alignment_index(xml)
    shutil.copy(searches["blastx"][0], xml)
    later = xml.stat().st_mtime_ns + 1_000_000_000
    os.utime(xml, ns=(later, later))
    assert alignment_index(xml).queries != first.queries
    assert [q.query_id for q in alignment_index(xml).queries][1].endswith("_rc")


def test_a_query_is_read_from_its_own_bytes_only(searches: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    xml = tmp_path / "results.xml"
    shutil.copy(searches["blastp"][0], xml)
    index = alignment_index(xml)
    first, second = index.queries[0], index.queries[1]
    with xml.open("r+b") as handle:  # wreck the first query's hits, same length: the index stays valid
        handle.seek(first.start + 200)
        handle.write(b"\0" * 200)
    page = query_alignments(xml, second.query_id)
    assert page.query_id == second.query_id
    assert len(page.hits) == second.hits
    with pytest.raises(BackendError, match=re.escape(str(xml))):
        query_alignments(xml, first.query_id)


def test_a_page_holds_only_the_hits_asked_for(searches: dict[str, tuple[Path, str]]) -> None:
    xml = searches["blastp"][0]
    query_id = alignment_index(xml).with_hits[0]
    everything = query_alignments(xml, query_id)
    page = query_alignments(xml, query_id, offset=1, limit=1)
    assert (page.total, page.offset, len(page.hits)) == (3, 1, 1)
    assert page.hits[0] == everything.hits[1]
    assert query_alignments(xml, query_id, offset=2, limit=10).hits == everything.hits[2:]
    assert query_alignments(xml, query_id, offset=5, limit=10).hits == ()


def test_subject_ids_come_from_the_definition_line(searches: dict[str, tuple[Path, str]]) -> None:
    xml = searches["blastp"][0]
    query_id = alignment_index(xml).with_hits[0]
    hit = query_alignments(xml, query_id).hits[0]
    assert hit.subject_id == query_id  # the query itself is in the database: its first hit
    assert hit.description.startswith("locus=")
    assert hit.length > 100


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "the file is empty"),
        (b"<html>not blast</html>", "no <BlastOutput>"),
    ],
)
def test_unreadable_xml_is_an_error_naming_the_file(tmp_path: Path, content: bytes, why: str) -> None:
    xml = tmp_path / "results.xml"
    xml.write_bytes(content)
    with pytest.raises(BackendError, match=re.escape(str(xml))) as caught:
        alignment_index(xml)
    assert why in str(caught.value)


def test_cut_short_or_missing_xml_is_an_error_naming_the_file(
    searches: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    xml = tmp_path / "results.xml"
    whole = searches["blastp"][0].read_bytes()
    xml.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BackendError, match="cut short") as caught:
        alignment_index(xml)
    assert str(xml) in str(caught.value)
    with pytest.raises(BackendError, match=re.escape(f"{tmp_path / 'gone.xml'} is missing")):
        alignment_index(tmp_path / "gone.xml")
    shutil.copy(searches["blastp"][0], xml)
    with pytest.raises(BackendError, match="has no query 'nope'"):
        query_alignments(xml, "nope")


def test_merged_archive_of_two_batches_keeps_each_query_apart(
    searches: dict[str, tuple[Path, str]], sample_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """The job's results.asn is the batch archives concatenated: `Query_1` repeats, the query ids do not."""
    from blastflow.formats import formatted

    db = searches["blastp"][0].parent / "db_prot"
    proteins = list(SeqIO.parse(sample_fasta["query_prot"], "fasta"))[:4]
    archives = []
    for n, batch in enumerate((proteins[:2], proteins[2:])):
        SeqIO.write(batch, tmp_path / f"b{n}.fa", "fasta")
        _run("blastp", "-query", str(tmp_path / f"b{n}.fa"), "-db", str(db), "-outfmt", "11",
             "-max_target_seqs", "3", "-out", str(tmp_path / f"b{n}.asn"))  # fmt: skip
        archives.append((tmp_path / f"b{n}.asn").read_bytes())
    results = tmp_path / "results"
    results.mkdir()
    (results / ARCHIVE_FILE).write_bytes(b"".join(archives))
    xml = formatted(results, "xml", program="blastp")
    assert [q.query_id for q in alignment_index(xml).queries] == [p.id for p in proteins]
    assert query_alignments(xml, proteins[3].id).hits[0].subject_id == proteins[3].id


def test_a_subject_filter_finds_each_hit_by_its_tabular_subject_id(searches: dict[str, tuple[Path, str]]) -> None:
    """The Descriptions table's Subject (outfmt 6 `sseqid`) selects exactly that hit."""
    xml = searches["tblastn"][0]
    tabular = subprocess.run(
        ["blast_formatter", "-archive", str(xml.with_suffix(".asn")), "-outfmt", "6 qseqid sseqid"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pairs = sorted({tuple(line.split("\t")) for line in tabular.splitlines()})
    assert len(pairs) >= 6
    for query_id, subject in pairs:
        page = query_alignments(xml, query_id, subject=subject)
        assert (page.total, [hit.subject_id for hit in page.hits]) == (1, [subject])
