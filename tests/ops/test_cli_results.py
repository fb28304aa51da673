"""`blastflow results`: the summary of a finished job, one format written out, and jobs without results refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from Bio import SeqIO
from typer.testing import CliRunner

from blastflow.hits import HIT_COLUMNS, HIT_FIELDS, read_hits
from blastflow.merge import JobUpdate
from blastflow.model import Phase, StepName, new_job_id
from blastflow.options import search_options
from blastflow.provenance import NO_HITS_FILE
from blastflow.settings import get_settings
from blastflow.store import open_store
from ops.cli import app
from tests.test_formats import run_search

pytestmark = pytest.mark.skipif(shutil.which("blast_formatter") is None, reason="BLAST+ is not installed")

runner = CliRunner()


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One real blastp search in batches, its results merged as finalize merges them."""
    search = run_search(tmp_path_factory.mktemp("cli-results"), "blastp", direct=False)
    (search["results"] / NO_HITS_FILE).write_text("SI2.2.0_nohit_1\nSI2.2.0_nohit_2\n")
    return search


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("BLASTFLOW_STORE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    get_settings.cache_clear()
    with open_store() as opened:
        yield opened
    get_settings.cache_clear()


def _job(store, job_id: str | None = None, **fields: object) -> str:
    job_id = job_id or new_job_id()
    store.update(job_id, JobUpdate(job_id=job_id, program="blastp", database="db", **fields))
    return job_id


def test_summary_counts_hits_queries_and_lists_the_formats(store, searched: dict) -> None:
    job_id = _job(store, searched["results"].parent.name, phase=Phase.COMPLETED,
                  results_location=str(searched["results"]))
    done = runner.invoke(app, ["results", job_id])
    assert done.exit_code == 0, done.output
    rows = (searched["results"] / "hits.tsv").read_text().splitlines()
    assert f"hits: {len(rows):,}" in done.output
    assert f"queries with hits: {len({row.split(chr(9))[0] for row in rows})}" in done.output
    assert "queries without hits: 2 (SI2.2.0_nohit_1, SI2.2.0_nohit_2)" in done.output
    assert "formats: tsv, csv, json, pairwise, xml, tabular-comments, archive" in done.output  # no SAM: blastp


def test_format_xml_is_written_to_out(store, searched: dict, tmp_path: Path) -> None:
    job_id = _job(store, searched["results"].parent.name, phase=Phase.COMPLETED,
                  results_location=str(searched["results"]))
    out = tmp_path / "results.xml"
    done = runner.invoke(app, ["results", job_id, "--format", "xml", "--out", str(out)])
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert text.startswith("<?xml") and text.count("<Iteration>") == searched["queries"]
    path = runner.invoke(app, ["results", job_id, "--format", "xml"])
    assert path.stdout.strip() == str(searched["results"] / "formats" / "results.xml")


def test_sam_for_blastp_is_refused_with_the_reason(store, searched: dict) -> None:
    job_id = _job(store, searched["results"].parent.name, phase=Phase.COMPLETED,
                  results_location=str(searched["results"]))
    done = runner.invoke(app, ["results", job_id, "--format", "sam"])
    assert done.exit_code == 1
    assert "SAM (outfmt 17) exists only for blastn" in done.output and "this search is blastp" in done.output


def test_a_running_job_says_why_and_which_formats_will_exist(store) -> None:
    job_id = _job(store, phase=Phase.RUNNING)
    done = runner.invoke(app, ["results", job_id, "--format", "xml"])
    assert done.exit_code == 1
    assert f"job {job_id} has no results: it is running (running)" in done.output
    assert "When it completes it will have these formats: tsv, csv, json, pairwise, xml" in done.output


def test_a_failed_job_says_its_error(store) -> None:
    job_id = _job(store, phase=Phase.FAILED, error="blastp exited with code 3: out of memory")
    done = runner.invoke(app, ["results", job_id])
    assert done.exit_code == 1
    assert "it is failed (failed)" in done.output and "error: blastp exited with code 3: out of memory" in done.output
    assert f"blastflow rerun {job_id}" in done.output and "tabular-comments" in done.output


def test_a_missing_archive_is_named(store, tmp_path: Path) -> None:
    results = tmp_path / "j1" / "results"
    results.mkdir(parents=True)
    job_id = _job(store, "j1", phase=Phase.COMPLETED, results_location=str(results))
    done = runner.invoke(app, ["results", job_id, "--format", "pairwise"])
    assert done.exit_code == 1
    assert f"{results / 'results.asn'} is missing" in done.output


def test_an_unknown_job_is_named(store) -> None:
    done = runner.invoke(app, ["results", "nope"])
    assert done.exit_code == 1 and "no job 'nope'" in done.output


@pytest.mark.parametrize("job_id", ["../../etc", "a/b", "..", "x\\y"])
@pytest.mark.parametrize("command", ["results", "show", "logs", "rerun"])
def test_a_job_id_that_could_name_a_path_is_refused_first(store, command: str, job_id: str) -> None:
    done = runner.invoke(app, [command, job_id])
    assert done.exit_code == 1
    assert "job id" in done.output and "Traceback" not in done.output


def test_results_of_another_folder_are_never_printed(store, searched: dict) -> None:
    job_id = _job(store, phase=Phase.COMPLETED, results_location=str(searched["results"]))  # not its folder
    done = runner.invoke(app, ["results", job_id, "--format", "tsv", "--out", "-"])
    assert done.exit_code == 1
    assert f"is not job {job_id}'s own results folder" in done.output and "SINV_" not in done.output


@pytest.mark.parametrize("fmt", ["archive", "tsv", "xml"])
def test_a_result_file_linked_out_of_the_folder_is_refused(store, searched: dict, tmp_path: Path, fmt: str) -> None:
    results = tmp_path / "j1" / "results"
    shutil.copytree(searched["results"], results)
    (tmp_path / "elsewhere.txt").write_text("root:x:0:0:hunter2\n")
    for name in ("results.asn", "hits.tsv"):
        (results / name).unlink()
        (results / name).symlink_to(tmp_path / "elsewhere.txt")
    shutil.rmtree(results / "formats", ignore_errors=True)
    job_id = _job(store, "j1", phase=Phase.COMPLETED, results_location=str(results))
    done = runner.invoke(app, ["results", job_id, "--format", fmt, "--out", "-"])
    assert done.exit_code == 1
    assert "is not a file of the results folder" in done.output and "hunter2" not in done.output


def _completed(store, searched: dict) -> str:
    results = searched["results"]
    return _job(store, results.parent.name, phase=Phase.COMPLETED, results_location=str(results))


def test_tsv_is_hits_tsv_and_header_prepends_the_column_names(store, searched: dict) -> None:
    job_id = _completed(store, searched)
    hits = (searched["results"] / "hits.tsv").read_bytes()
    plain = runner.invoke(app, ["results", job_id, "--format", "tsv", "--out", "-"])
    assert plain.exit_code == 0 and plain.stdout_bytes == hits and not hits.startswith(b"query\t")
    headed = runner.invoke(app, ["results", job_id, "--format", "tsv", "--header", "--out", "-"])
    assert headed.exit_code == 0, headed.output
    assert headed.stdout_bytes == ("\t".join(HIT_COLUMNS) + "\n").encode() + hits


def test_json_is_an_array_of_typed_hits(store, searched: dict) -> None:
    job_id = _completed(store, searched)
    done = runner.invoke(app, ["results", job_id, "--format", "json", "--out", "-"])
    assert done.exit_code == 0, done.output
    objects = json.loads(done.stdout)
    assert [tuple(o.values()) for o in objects] == [
        tuple(getattr(hit, name) for name in HIT_COLUMNS) for hit in read_hits(searched["results"] / "hits.tsv")
    ]
    assert list(objects[0]) == list(HIT_COLUMNS) and isinstance(objects[0]["bitscore"], float)


@pytest.mark.parametrize("fmt", ["xml", "csv", "json", "pairwise"])
def test_header_with_a_format_that_has_its_own_layout_is_refused(store, searched: dict, fmt: str) -> None:
    done = runner.invoke(app, ["results", _completed(store, searched), "--format", fmt, "--header"])
    assert done.exit_code == 1
    assert f"a header row applies only to tsv (BLAST tabular has none); {fmt}" in done.output
    without = runner.invoke(app, ["results", _completed(store, searched), "--header"])
    assert without.exit_code == 2 and "use --format tsv --header" in without.output


# ------------------------------------------------------------------------------------------------------------------
# Parity (issue 15): `blastflow results JOB --format tsv` of a search run through the real flow is byte for byte
# what BLAST+ prints when run directly on the same query, database and options.
# ------------------------------------------------------------------------------------------------------------------

DATA = Path(__file__).resolve().parents[2] / "data" / "sinvicta"
CDNA, PROT = DATA / "Sinvicta2-2-3.cdna.subset.fasta", DATA / "Sinvicta2-2-3.prot.subset.fasta"
EVALUE, MAX_TARGET_SEQS = 1e-5, 10
# program -> query FASTA and records, database molecule; some queries are not in the database (fewer or no hits)
PARITY = {"blastn": (CDNA, slice(20, 50), "nucl"), "blastp": (PROT, slice(130, 170), "prot"),
          "blastx": (CDNA, slice(0, 24), "prot")}  # fmt: skip
DATABASES = {"nucl": (CDNA, slice(0, 40)), "prot": (PROT, slice(0, 150))}
BATCH_LEN = {"one batch": 10**8, "batches": {"blastn": 12_000, "blastp": 3_000, "blastx": 12_000}}


def _parity_inputs(base: Path) -> dict[str, Path]:
    """One database per molecule (made here, searched by path by both) and one query file per program."""
    paths: dict[str, Path] = {}
    for molecule, (fasta, picks) in DATABASES.items():
        SeqIO.write(list(SeqIO.parse(fasta, "fasta"))[picks], base / f"{molecule}.fa", "fasta")
        paths[molecule] = base / "db" / molecule
        subprocess.run(["makeblastdb", "-in", str(base / f"{molecule}.fa"), "-dbtype", molecule, "-out",
                        str(paths[molecule]), "-parse_seqids"], capture_output=True, check=True)  # fmt: skip
    for program, (fasta, picks, _molecule) in PARITY.items():
        paths[program] = base / f"query_{program}.fa"
        SeqIO.write(list(SeqIO.parse(fasta, "fasta"))[picks], paths[program], "fasta")
    return paths


def _direct(program: str, query: Path, db: Path, outfmt: str) -> bytes:
    options = search_options(program, "", EVALUE, MAX_TARGET_SEQS)  # what the flow gives every batch
    argv = [program, "-query", str(query), "-db", str(db), *options, "-outfmt", outfmt]
    return subprocess.run(argv, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> Iterator[dict[tuple[str, str], dict]]:
    """Each program searched through the real flow (local backend, SQLite store) with one batch and with several,
    and directly with BLAST+: `-outfmt "6 std qcovs qlen slen stitle"` and plain `-outfmt 6`."""
    from flows.blast_search import blast_search
    from tasks.context import store as task_store

    base = tmp_path_factory.mktemp("parity")
    inputs = _parity_inputs(base)
    cases: dict[tuple[str, str], dict] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"BLASTFLOW_DATA_DIR": str(base / "data"), "BLASTFLOW_STORE_URL": f"sqlite:///{base}/s.db",
                            "BLASTFLOW_POLL_INTERVAL_S": "0.25"}.items():  # fmt: skip
            patch.setenv(name, value)
        get_settings.cache_clear()
        task_store.cache_clear()
        try:
            for program, (_fasta, _picks, molecule) in PARITY.items():
                direct = {outfmt: _direct(program, inputs[program], inputs[molecule], outfmt)
                          for outfmt in (f"6 {HIT_FIELDS}", "6")}  # fmt: skip
                for shape, batch_len in BATCH_LEN.items():
                    size = batch_len if isinstance(batch_len, int) else batch_len[program]
                    job_id = str(uuid.uuid4())
                    blast_search(query=str(inputs[program]), db=str(inputs[molecule]), program=program, job_id=job_id,
                                 evalue=EVALUE, max_target_seqs=MAX_TARGET_SEQS, batch_len=size)  # fmt: skip
                    batches = task_store().get(job_id).steps[StepName.PREPARE].counters["batches"]
                    cases[program, shape] = {"job": job_id, "batches": batches, "direct": direct}
            yield cases
        finally:
            if task_store.cache_info().currsize:
                task_store().close()
            task_store.cache_clear()
            get_settings.cache_clear()


@pytest.mark.parametrize("shape", list(BATCH_LEN))
@pytest.mark.parametrize("program", list(PARITY))
def test_results_tsv_is_byte_for_byte_what_blast_prints_directly(parity: dict, program: str, shape: str) -> None:
    case = parity[program, shape]
    assert case["batches"] == 1 if shape == "one batch" else case["batches"] >= 2
    done = runner.invoke(app, ["results", case["job"], "--format", "tsv", "--out", "-"])
    assert done.exit_code == 0, done.output
    tsv = done.stdout_bytes
    assert tsv == case["direct"][f"6 {HIT_FIELDS}"] and tsv.count(b"\n") >= 20
    assert tsv == (get_settings().job_dir(case["job"]) / "results" / "hits.tsv").read_bytes()
    standard = b"".join(b"\t".join(line.split(b"\t")[:12]) + b"\n" for line in tsv.splitlines())
    assert standard == case["direct"]["6"]  # the 12 columns of plain `-outfmt 6`, as BLAST+ prints them
