"""BLAST option strings: parsed with shlex, checked per program, refused when the pipeline owns them.

The allow-list is checked against the installed BLAST+ (`<program> -help`): every
allowed option exists there with the same flag/value shape, BLAST's own
"Incompatible with" / "Requires" rules are enforced, and the argument lists we
produce run through the real programs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from Bio import SeqIO

from blastflow.errors import InputError
from blastflow.options import ALLOWED, CONTROLLED, check_options, search_options, supported
from blastflow.programs import PROGRAMS

DATA = Path(__file__).resolve().parent.parent / "data" / "sinvicta"
needs_blast = pytest.mark.skipif(shutil.which("blastp") is None, reason="BLAST+ is not installed")

# Options the brief requires refusing because the pipeline controls them.
PIPELINE_OPTIONS = [
    "-query", "-db", "-out", "-outfmt", "-remote", "-num_threads", "-subject", "-subject_loc", "-html",
    "-import_search_strategy", "-export_search_strategy", "-seqidlist", "-gilist", "-negative_gilist",
    "-entrez_query", "-use_index", "-index_name",
]  # fmt: skip
# BLAST+ options deliberately left out: they need files or data on every machine that runs a batch.
NOT_SUPPORTED = {
    "-taxids", "-negative_taxids", "-taxidlist", "-negative_taxidlist", "-ipglist", "-negative_ipglist",
    "-db_soft_mask", "-db_hard_mask", "-filtering_db", "-window_masker_taxid", "-window_masker_db", "-in_pssm",
}  # fmt: skip


def _error(program: str, text: str) -> str:
    with pytest.raises(InputError) as caught:
        check_options(program, text)
    assert caught.value.code == "invalid_options"
    return str(caught.value)


def test_quoted_values_and_flags() -> None:
    assert check_options("blastn", "-task blastn-short  -dust '20 64 1' -lcase_masking -penalty -3") == [
        "-task", "blastn-short", "-dust", "20 64 1", "-lcase_masking", "-penalty", "-3",
    ]  # fmt: skip


def test_empty_options() -> None:
    assert check_options("blastp", "   ") == []


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("option", PIPELINE_OPTIONS)
def test_pipeline_options_are_refused(program: str, option: str) -> None:
    message = _error(program, f"-word_size 4 {option} value")
    assert message.startswith(f"option {option} is not allowed: ")


@pytest.mark.parametrize(
    ("option", "hint"),
    [
        ("-evalue 1e-3", "use the search's evalue parameter (--evalue) instead"),
        ("-max_target_seqs 50", "use the search's max_target_seqs parameter (--max-target-seqs) instead"),
        ("-outfmt 6", "results come as a hits table and a merged archive"),
        ("-num_descriptions 5", "use the max_target_seqs parameter"),
    ],
)
def test_refusals_say_what_to_use_instead(option: str, hint: str) -> None:
    assert hint in _error("blastp", option)


def test_unknown_option_lists_supported_ones() -> None:
    message = _error("blastp", "-wordsize 3")
    assert message.startswith("option -wordsize is not supported for blastp by blastflow; supported options: -task")
    assert "-word_size" in message and "-penalty" not in message


def test_option_of_another_program() -> None:
    assert _error("blastp", "-penalty -2") == "option -penalty does not apply to blastp; it is for blastn"


@pytest.mark.parametrize(
    ("program", "text", "expected"),
    [
        ("blastn", "-word_size 3", "option -word_size takes an integer >= 4, not '3'"),
        ("blastp", "-word_size two", "option -word_size takes an integer >= 2, not 'two'"),
        ("blastn", "-penalty 2", "option -penalty takes an integer <= 0, not '2'"),
        ("blastn", "-perc_identity 101", "option -perc_identity takes a number >= 0 and <= 100, not '101'"),
        ("blastp", "-best_hit_overhang 0.5", "takes a number > 0 and < 0.5, not '0.5'"),
        ("blastp", "-threshold nan", "option -threshold takes a number >= 0, not 'nan'"),
        ("blastp", "-matrix BLOSUM99", "option -matrix takes one of BLOSUM45, BLOSUM50, BLOSUM62"),
        ("blastp", "-task megablast", "option -task takes one of blastp, blastp-fast, blastp-short, not 'megablast'"),
        ("blastx", "-query_gencode 7", "takes a genetic code number (1-6, 9-16, 21-31 or 33), not '7'"),
        ("blastn", "-soft_masking yes", "option -soft_masking takes one of true, false, not 'yes'"),
        ("blastp", "-seg '12 2.2'", "option -seg takes 'yes', 'no' or 'window locut hicut', not '12 2.2'"),
        ("blastp", "-query_loc 1..50", "takes a query range start-stop, e.g. 1-500, not '1..50'"),
        ("blastp", "-word_size", "option -word_size needs a value: an integer >= 2"),
        ("blastp", "-word_size 3 -word_size 4", "option -word_size is given twice: keep one"),
        ("blastp", "word_size 3", "expected an option such as -word_size, found 'word_size'"),
        ("blastp", "-lcase_masking yes", "expected an option such as -word_size, found 'yes'"),
        ("blastp", "-culling_limit 2 -best_hit_overhang 0.1", "-culling_limit and -best_hit_overhang cannot be used"),
        ("blastn", "-template_type coding", "option -template_type needs -template_length as well"),
        ("blastp", "-seg 'yes", 'cannot read the BLAST options "-seg \'yes": No closing quotation; check the quotes'),
    ],
)
def test_bad_values_are_named(program: str, text: str, expected: str) -> None:
    assert expected in _error(program, text)


@pytest.mark.parametrize(
    "text",
    [
        "-word_size 3; rm -rf /",
        "-word_size $(reboot)",
        "-word_size `id`",
        "-seg 'yes' && curl example.org",
        "-task blastp | sh",
        "-query_loc 1-5>out.txt",
    ],
)
def test_shell_metacharacters_never_pass(text: str) -> None:
    _error("blastp", text)


def test_search_options_add_the_spec_values() -> None:
    assert search_options("blastn", "-task megablast", 0.001, 25) == [
        "-task", "megablast", "-evalue", "0.001", "-max_target_seqs", "25",
    ]  # fmt: skip


@pytest.mark.parametrize(("evalue", "count"), [(0.0, 5), (float("inf"), 5), (1e-5, 0)])
def test_search_options_check_the_spec_values(evalue: float, count: int) -> None:
    with pytest.raises(InputError):
        search_options("blastp", "", evalue, count)


# -- against the installed BLAST+ ---------------------------------------------------------------------------


@cache
def blast_help(program: str) -> dict[str, dict[str, object]]:
    """Each option of `<program> -help`: whether it is a flag, and its Incompatible with / Requires sets."""
    text = subprocess.run([program, "-help"], capture_output=True, text=True, check=True).stdout
    options: dict[str, dict[str, object]] = {}
    current: dict[str, object] | None = None
    relation = None
    for line in text.splitlines():
        header = re.match(r"^ (-[a-z_0-9]+)(\s+<.*)?$", line)
        if header:
            current = {"flag": header.group(2) is None, "incompatible": set(), "requires": set()}
            options[header.group(1)] = current
            relation = None
            continue
        rule = re.match(r"^\s+\* (Incompatible with|Requires):\s+(.*)$", line)
        if rule and current is not None:
            relation = "incompatible" if rule.group(1).startswith("Incompatible") else "requires"
            current[relation] |= {f"-{n}" for n in re.findall(r"[a-z_]+", rule.group(2))}  # type: ignore[operator]
        elif relation and current is not None and re.match(r"^   [a-z_]+(, [a-z_]+)*,?$", line):
            current[relation] |= {f"-{n}" for n in re.findall(r"[a-z_]+", line)}  # type: ignore[operator]
        else:
            relation = None
    return options


@needs_blast
@pytest.mark.parametrize("program", PROGRAMS)
def test_allow_list_matches_blast_help(program: str) -> None:
    help_options = blast_help(program)
    allowed = set(supported(program))
    assert allowed <= help_options.keys(), "allowed options the program does not have"
    for name in allowed:
        assert ALLOWED[name].is_flag == help_options[name]["flag"], name
        # BLAST's own rules between options we allow are ours too.
        assert help_options[name]["incompatible"] & allowed <= ALLOWED[name].incompatible, name  # type: ignore[operator]
        assert help_options[name]["requires"] & allowed <= ALLOWED[name].requires, name  # type: ignore[operator]
    considered = allowed | CONTROLLED.keys() | NOT_SUPPORTED
    assert help_options.keys() <= considered, f"options nobody decided about: {help_options.keys() - considered}"


@pytest.fixture(scope="module")
def tiny_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A protein and a nucleotide query (2 records each) and databases (30 records each) from the sample."""
    base = tmp_path_factory.mktemp("options")
    files = {}
    for molecule, name in (("prot", "prot"), ("nucl", "cdna")):
        records = list(SeqIO.parse(DATA / f"Sinvicta2-2-3.{name}.subset.fasta", "fasta"))
        SeqIO.write(records[:2], base / f"{molecule}.query.fa", "fasta")
        SeqIO.write(records[:30], base / f"{molecule}.db.fa", "fasta")
        subprocess.run(
            ["makeblastdb", "-in", str(base / f"{molecule}.db.fa"), "-dbtype", molecule, "-out", str(base / molecule)],
            capture_output=True,
            check=True,
        )
        files[f"{molecule}.query"] = base / f"{molecule}.query.fa"
        files[molecule] = base / molecule
    return files


RICH_OPTIONS = {
    "blastn": "-task blastn -word_size 11 -penalty -3 -reward 2 -gapopen 5 -gapextend 2 -dust '20 64 1' "
    "-soft_masking true -perc_identity 50 -qcov_hsp_perc 10 -max_hsps 3 -culling_limit 5 -strand both "
    "-xdrop_gap 30 -window_size 0 -min_raw_gapped_score 10 -off_diagonal_range 0 -sum_stats false -lcase_masking "
    "-subject_besthit -dbsize 1000000 -searchsp 0 -xdrop_ungap 20 -xdrop_gap_final 100 -no_greedy -parse_deflines "
    "-query_loc 1-200",
    "blastn-dc": "-task dc-megablast -template_type coding -template_length 18 -best_hit_overhang 0.1 "
    "-best_hit_score_edge 0.1 -ungapped",
    "blastp": "-task blastp -word_size 3 -gapopen 11 -gapextend 1 -matrix BLOSUM62 -threshold 11 -comp_based_stats 2 "
    "-seg '12 2.2 2.5' -soft_masking false -max_hsps 5 -best_hit_overhang 0.1 -best_hit_score_edge 0.1 "
    "-window_size 40 -use_sw_tback -xdrop_gap 15 -xdrop_gap_final 25 -xdrop_ungap 7",
    "blastx": "-query_gencode 1 -strand plus -max_intron_length 0 -task blastx-fast -seg no -sum_stats true "
    "-comp_based_stats 0 -matrix BLOSUM80 -threshold 16",
    "tblastn": "-db_gencode 11 -task tblastn-fast -matrix PAM30 -max_intron_length 100 -comp_based_stats 1 "
    "-gapopen 9 -gapextend 1",
    "tblastx": "-query_gencode 2 -db_gencode 5 -strand minus -matrix BLOSUM80 -threshold 13 -word_size 3 -seg yes "
    "-max_intron_length 0 -xdrop_ungap 7 -sum_stats true",
}


@needs_blast
@pytest.mark.parametrize("case", RICH_OPTIONS)
def test_checked_options_run_in_blast(case: str, tiny_dbs: dict[str, Path], tmp_path: Path) -> None:
    program = case.split("-")[0]
    query_molecule, db_molecule = PROGRAMS[program]
    argv = search_options(program, RICH_OPTIONS[case], 1e-5, 10)
    done = subprocess.run(
        [program, "-query", str(tiny_dbs[f"{query_molecule}.query"]), "-db", str(tiny_dbs[db_molecule]),
         "-outfmt", "11", "-out", str(tmp_path / "out.asn"), *argv],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.asn").read_text().startswith("Blast4-archive")


@needs_blast
@pytest.mark.parametrize(
    ("program", "text"),
    [
        ("blastn", "-word_size 3"),
        ("blastp", "-matrix BLOSUM99"),
        ("blastp", "-culling_limit 2 -best_hit_overhang 0.1"),
        ("blastn", "-template_type coding"),
    ],
)
def test_what_we_refuse_blast_refuses_too(program: str, text: str, tiny_dbs: dict[str, Path], tmp_path: Path) -> None:
    _error(program, text)
    query_molecule, db_molecule = PROGRAMS[program]
    done = subprocess.run(
        [program, "-query", str(tiny_dbs[f"{query_molecule}.query"]), "-db", str(tiny_dbs[db_molecule]),
         "-outfmt", "11", "-out", str(tmp_path / "out.asn"), *text.split()],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0
