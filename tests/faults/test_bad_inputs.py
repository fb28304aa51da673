"""A corpus of bad inputs: each fails with a clear error, leaves no half-written job and starts no process.

Clear error: the message names the problem (`what`) and how to fix it (`how`), in
at most a few hundred characters (a 10 MB line is never echoed back). No
half-written job, per entry point:

- a backend's `prepare`: no job directory (nor a staging one) left behind; for
  elastic-blast, no `.ini` and no search on the cluster;
- the whole flow, which creates the job row first: that row is a clean failed one
  (phase failed, the error on it and on the prepare step, no step running, later
  steps pending) and there is no job directory; when the row cannot exist (no
  store, no valid id) the run fails before anything is written;
- opening the store: the error, and nothing else.

No process started: recording shims on PATH see no BLAST+ search, makeblastdb or
`elastic-blast` start (a read-only `blastdbcmd` look-up of a database name is
allowed), no submit child ran (no supervisor state), and no new process is left.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError

from blastflow.backends.elastic_blast.backend import ElasticBlastBackend
from blastflow.backends.local.backend import LocalBackend
from blastflow.errors import BlastflowError, ConfigError, InputError, StoreUnavailable
from blastflow.model import Phase, StepName, StepStatus, new_job_id
from blastflow.search import SearchSpec
from blastflow.settings import Settings, get_settings
from blastflow.steps.prepare import check_search
from blastflow.store import open_store
from tests.doubles.elb_doubles import PROT_DB
from tests.doubles.faultkit import descendants, live_pids

PEPTIDE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQ"
TEN_MB = 10 * 1024 * 1024
# The first line of the files that are not FASTA: no message may quote it (sanitise would not catch it).
SECRET = "root:x:0:0:hunter2-NEVER-QUOTED:/root:/bin/bash"
MAX_MESSAGE = 700

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True)
class Bad:
    """One bad input: what to change in a good search, and what the error must say."""

    change: dict[str, Any]
    what: str  # the problem, as the message names it
    how: str  # the fix, as the message says it
    error: type[Exception] = InputError
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, sample_fasta: dict[str, Path]) -> dict[str, str]:
    """Bad files on disk, by name (entries refer to them as "{name}"); made once, only read by the tests."""
    root = tmp_path_factory.mktemp("bad-inputs")
    made = {
        "binary": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4,
        "gzip": gzip.compress(f">q1\n{PEPTIDE}\n".encode()),
        "latin1": f">q1 caf\xe9 protein\n{PEPTIDE}\n".encode("latin-1"),
        "empty": b"",
        "one_line": b"M" * TEN_MB,  # 10 MB on a single line, no header
        "seq_in_header": b">q1 " + PEPTIDE.encode() * (TEN_MB // len(PEPTIDE)) + b"\n",  # one 10 MB header line
        "nul_inside": "".join(f">q{i}\n{PEPTIDE}\n" for i in range(80)).encode() + b">bad\nMKT\x00\x00AYI\n",
        "db_zero_width": f">db\u200bone\n{PEPTIDE}\n>db2\n{PEPTIDE[::-1]}\n".encode(),
        "db_blast_file": b"not really an index",
        # a configuration file under the roots given as a query: it must fail without a word of it quoted
        "secret_config": f"{SECRET}\n>q1\n{PEPTIDE}\n".encode(),
        "secret_db": f"{SECRET}\nAccountKey=Zm9yLXRlc3Rz\n".encode(),
    }
    paths = {}
    for name, data in made.items():
        suffix = ".pin" if name == "db_blast_file" else ".fasta"
        paths[name] = root / f"{name}{suffix}"
        paths[name].write_bytes(data)
    (root / "a_directory").mkdir(exist_ok=True)
    for name, target in {"link_out": "/etc/passwd", "db_link_out": "/etc/hostname"}.items():
        (root / f"{name}.fasta").unlink(missing_ok=True)
        (root / f"{name}.fasta").symlink_to(target)  # inside the roots by name, outside once resolved
    return {**{k: str(v) for k, v in paths.items()}, "directory": str(root / "a_directory"), "root": str(root),
            "missing": str(root / "no-such-queries.fasta"), "dotdot_out": str(root) + "/.." * 40 + "/etc/passwd",
            "link_out": str(root / "link_out.fasta"), "db_link_out": str(root / "db_link_out.fasta"),
            "cdna": str(Path(__file__).resolve().parents[2] / "data" / "sinvicta" / "Sinvicta2-2-3.cdna.subset.fasta"),
            "query_prot": str(sample_fasta["query_prot"]), "db_prot": str(sample_fasta["db_prot"])}  # fmt: skip


# -- the corpus: the local backend's prepare ---------------------------------------------------------------------

LOCAL: dict[str, Bad] = {
    # malformed, binary, empty, huge
    "malformed FASTA text": Bad({"query": "hello\nworld\n"}, "is not FASTA: line 1", "A FASTA record is a header line"),
    "binary file": Bad({"query": "{binary}"}, "is a binary file, not FASTA text", "give the FASTA file itself"),
    "NUL bytes after good records": Bad({"query": "{nul_inside}"}, "binary, not FASTA text (NUL byte on line 162)",
                                        "give the FASTA file itself"),
    "gzip-compressed file": Bad({"query": "{gzip}"}, "is gzip-compressed", "decompress it first (gunzip)"),
    "Latin-1 text": Bad({"query": "{latin1}"}, "is not UTF-8 text", "save it as plain text (UTF-8 or ASCII)"),
    "empty text": Bad({"query": ""}, "the query is empty", "give FASTA text starting with '>'"),
    "blank text": Bad({"query": "  \n\t\n"}, "the query is empty", "give FASTA text starting with '>'"),
    "empty file": Bad({"query": "{empty}"}, "is empty", "it must hold FASTA records"),
    "missing query file": Bad({"query": "{missing}"}, "does not exist", "give the path of a FASTA file"),
    "directory as query": Bad({"query": "{directory}"}, "is not a file", "give the path of a FASTA file"),
    "10 MB single line, no header": Bad({"query": "{one_line}"}, "is not FASTA: line 1",
                                        "A FASTA record is a header line"),
    "10 MB single line, sequence in the header": Bad({"query": "{seq_in_header}"},
                                                     "record 'q1' (line 1) has no sequence",
                                                     "put its residues on the lines after the header"),
    "header without id": Bad({"query": f">\n{PEPTIDE}\n"}, "a header without an id",
                             "write '>id optional description'"),
    "record without sequence": Bad({"query": f">a\n>b\n{PEPTIDE}\n"}, "record 'a' (line 1) has no sequence",
                                   "put its residues on the lines after the header"),
    "gaps and digits in a sequence": Bad({"query": f">a\n{PEPTIDE[:9]}-{PEPTIDE[9:]}1\n"}, "has '-' at residue 10",
                                         "remove digits, gaps ('-')"),
    "duplicate ids": Bad({"query": f">a x\n{PEPTIDE}\n>a y\n{PEPTIDE}\n"}, "duplicate id 'a' at lines 1 and 3",
                         "rename or remove one of them"),
    "control character in a header": Bad({"query": f">a\x1b[31mred\n{PEPTIDE}\n"}, "contains a control character",
                                         "remove it"),
    # outside the input roots (BLASTFLOW_INPUT_ROOTS), and files that are not FASTA: never quoted
    "query outside the input roots": Bad({"query": "/etc/passwd"}, "is outside the directories this worker reads",
                                         "add its directory to BLASTFLOW_INPUT_ROOTS"),
    "missing query outside the roots": Bad({"query": "/nonexistent/queries.fasta"}, "is outside the directories",
                                           "add its directory to BLASTFLOW_INPUT_ROOTS"),
    "'..' out of an input root": Bad({"query": "{dotdot_out}"}, "after following symlinks and '..'",
                                     "add its directory to BLASTFLOW_INPUT_ROOTS"),
    "a symlink out of an input root": Bad({"query": "{link_out}"}, "is outside the directories",
                                          "add its directory to BLASTFLOW_INPUT_ROOTS"),
    "database outside the input roots": Bad({"db": "/etc/shadow"}, "database '/etc/shadow' is outside",
                                            "add its directory to BLASTFLOW_INPUT_ROOTS"),
    "database symlinked out of an input root": Bad({"db": "{db_link_out}"}, "is outside the directories",
                                                   "add its directory to BLASTFLOW_INPUT_ROOTS"),
    "a config file as the query": Bad({"query": "{secret_config}"}, "is not FASTA: line 1 should be a header",
                                      "A FASTA record is a header line"),
    "a config file as the database": Bad({"db": "{secret_db}"}, "is not FASTA: line 1 should be a header",
                                         "A FASTA record is a header line"),
    # wrong molecule
    "nucleotide and protein mixed": Bad({"query": f">p\n{PEPTIDE}\n>n\n{'ACGT' * 20}\n"}, "mixes nucleotide sequences",
                                        "split them into two files"),
    "nucleotide query for blastp": Bad({"query": f">n\n{'ACGTTGCA' * 10}\n"}, "blastp expects a protein query",
                                       "use blastn (nucleotide database), blastx"),
    "protein query for blastn": Bad({"program": "blastn"}, "blastn expects a nucleotide query", "use blastp"),
    "nucleotide database for blastp": Bad({"db": "{cdna}"}, "is a nucleotide database", "use tblastn"),
    # shell metacharacters and unicode confusables in ids
    "Cyrillic look-alike in a query id": Bad({"query": f">SINV_00001-P\u0410\n{PEPTIDE}\n"},
                                             "CYRILLIC CAPITAL LETTER A, U+0410", "rename the record using ASCII"),
    "fullwidth letters in a query id": Bad({"query": f">\uff33\uff29\uff2e\uff36_1\n{PEPTIDE}\n"},
                                           "FULLWIDTH LATIN CAPITAL LETTER S, U+FF33", "rename the record using ASCII"),
    "right-to-left override in a query id": Bad({"query": f">gene\u202e1v\n{PEPTIDE}\n"},
                                                "RIGHT-TO-LEFT OVERRIDE, U+202E", "rename the record using ASCII"),
    "zero-width space in a database id": Bad({"db": "{db_zero_width}"}, "ZERO WIDTH SPACE, U+200B",
                                             "rename the record using ASCII"),
    "shell metacharacters in a control-character id": Bad({"query": f">$(reboot)\x07;rm\n{PEPTIDE}\n"},
                                                          "contains a control character", "remove it"),
    # forbidden, unknown and smuggled options
    "forbidden option -out": Bad({"options": "-out /tmp/x"}, "option -out is not allowed", "blastflow sets it"),
    "forbidden option -db": Bad({"options": "-db /etc/passwd"}, "option -db is not allowed", "blastflow sets it"),
    "forbidden option -num_threads": Bad({"options": "-num_threads 64"}, "option -num_threads is not allowed",
                                         "blastflow sets it"),
    "forbidden option -remote": Bad({"options": "-remote"}, "option -remote is not allowed",
                                    "searches run on the chosen backend"),
    "-evalue given twice over": Bad({"options": "-evalue 10"}, "option -evalue is not allowed",
                                    "use the search's evalue parameter"),
    "unknown option": Bad({"options": "-frobnicate 3"}, "option -frobnicate is not supported for blastp",
                          "supported options: -task"),
    "shell metacharacters in options": Bad({"options": "-word_size 3; rm -rf ~"}, "option -word_size takes an integer",
                                           "not '3;'"),
    "command substitution in an option value": Bad({"options": "-matrix $(reboot)"}, "not '$(reboot)'",
                                                   "option -matrix takes one of BLOSUM45"),
    "backticks in an option value": Bad({"options": "-seg `id`"}, "not '`id`'", "option -seg takes 'yes', 'no'"),
    "a pipe in the options": Bad({"options": "-word_size 3 | sh"}, "found '|'", "options look like '-name value'"),
    "an unclosed quote in the options": Bad({"options": "-word_size '3"}, "No closing quotation", "check the quotes"),
    "a newline smuggling -out": Bad({"options": "-word_size 3\n-out /etc/passwd"}, "option -out is not allowed",
                                    "blastflow sets it"),
    # databases
    "missing database": Bad({"db": "{root}/no/such/db"}, "/no/such/db' not found", "Give a FASTA file"),
    "empty database": Bad({"db": " "}, "the database is empty", "give a FASTA file or the path"),
    "database is a directory": Bad({"db": "{directory}"}, "is a directory", "give a FASTA file or a BLAST database"),
    "one file of a BLAST database": Bad({"db": "{db_blast_file}"}, "is one file of a BLAST database",
                                        "without the extension"),
    "shell metacharacters as the database": Bad({"db": "$(touch${IFS}/tmp/blastflow-pwned);`reboot`"}, "not found",
                                                "Give a FASTA file"),
    "whitespace in a database path": Bad({"db": "{root}/my db/prot"}, "contains whitespace",
                                         "use a path without spaces"),
    # numbers
    "infinite evalue": Bad({"evalue": float("inf")}, "evalue must be a positive number", "not inf"),
}  # fmt: skip


def _spec(files: dict[str, str], change: dict[str, Any], **base: Any) -> SearchSpec:
    fields: dict[str, Any] = {"program": "blastp", "query": files["query_prot"], "db": files["db_prot"],
                              "batch_len": 2000, **base}  # fmt: skip
    for key, value in change.items():
        fields[key] = value.format(**files) if isinstance(value, str) and value.startswith("{") else value
    return SearchSpec(**fields)


def _check_message(error: BaseException, bad: Bad) -> str:
    text = str(error)
    assert isinstance(error, bad.error), f"{type(error).__name__}: {text}"
    assert bad.what in text, text
    assert bad.how in text, text
    assert len(text) <= MAX_MESSAGE, f"a {len(text)}-character message"
    assert "hunter2" not in text and "root:" not in text, "no content of a file that is not FASTA is quoted"
    return text


@pytest.fixture
def no_new_processes():
    """Fails the test if a process started under this one is still running at its end."""
    before = descendants(os.getpid())
    yield
    left = live_pids(descendants(os.getpid()) - before)
    assert not left, f"processes left running: {left}"


@pytest.mark.parametrize("case", LOCAL)
def test_local_prepare_rejects(case, files, tmp_path, spawn_record, no_new_processes) -> None:
    bad = LOCAL[case]
    jobs = tmp_path / "data" / "jobs"
    backend = LocalBackend(Settings(data_dir=tmp_path / "data"))

    with pytest.raises(BlastflowError) as caught:
        backend.prepare("0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b", check_search(_spec(files, bad.change)), jobs / "job")

    _check_message(caught.value, bad)
    assert not jobs.exists() or list(jobs.iterdir()) == [], "no job directory, not even a staging one"
    assert spawn_record.work_started() == [], "no BLAST+ search or database build was started"
    assert not Path("/tmp/blastflow-pwned").exists()


# -- the corpus: the elastic-blast backend's prepare -------------------------------------------------------------

ELASTIC: dict[str, Bad] = {
    "a local path as the ElasticBLAST database": Bad({"db": "{db_prot}"}, "is not something ElasticBLAST can search",
                                                     "give an NCBI database name"),
    "a nucleotide NCBI database for blastp": Bad({"db": "nt"}, "'nt' is a nucleotide database", "use tblastn"),
    "an NCBI database name in the wrong case": Bad({"db": "Swissprot"}, "NCBI database names are case-sensitive",
                                                   "did you mean 'swissprot'"),
    "a database in another cloud": Bad({"db": "gs://bucket/dbs/prot"}, "is on gcp", "ElasticBLAST reads the database"),
    "-remote on ElasticBLAST": Bad({"options": "-remote"}, "option -remote is not allowed", "chosen backend"),
    "Cyrillic look-alike id on ElasticBLAST": Bad({"query": f">q\u0430\n{PEPTIDE}\n"}, "CYRILLIC SMALL LETTER A",
                                                  "rename the record using ASCII"),
    "no results location": Bad({"db": "swissprot"}, "no results location for ElasticBLAST", "set BLASTFLOW_ELB_RESULTS",
                               ConfigError, {"BLASTFLOW_ELB_RESULTS": None}),
    "gs:// results without GCP credentials": Bad(
        {"db": "swissprot"}, "no GCP credentials to read gs:// results",
        "create a prefect-gcp GcpCredentials block and set BLASTFLOW_ELB_GCP_CREDENTIALS_BLOCK", ConfigError,
        {"BLASTFLOW_ELB_RESULTS": "gs://blast-results/runs", "BLASTFLOW_ELB_GCP_PROJECT": "blast-project",
         "BLASTFLOW_ELB_GCP_REGION": "us-east4", "BLASTFLOW_ELB_GCP_ZONE": "us-east4-b",
         "GOOGLE_APPLICATION_CREDENTIALS": "", "CLOUDSDK_CONFIG": "/nonexistent/gcloud-config"}),
}  # fmt: skip


@pytest.mark.azurite
@pytest.mark.parametrize("case", ELASTIC)
def test_elastic_blast_prepare_rejects(
    case, elb_world, files, tmp_path, monkeypatch, spawn_record, no_new_processes
) -> None:
    bad = ELASTIC[case]
    for name, value in bad.extra.items():
        monkeypatch.delenv(name) if value is None else monkeypatch.setenv(name, value)
    workdir = tmp_path / "job"

    with pytest.raises(BlastflowError) as caught:
        spec = _spec(files, bad.change, db=PROT_DB)  # a database name ElasticBLAST could search
        ElasticBlastBackend().prepare("1f2a3b4c-5d6e-4f7a-8b8c-0d1e2f3a4b5c", check_search(spec), workdir)

    _check_message(caught.value, bad)
    assert not workdir.exists(), "no .ini, no batches"
    assert elb_world.cluster.read()["searches"] == {}
    assert spawn_record.work_started() == [], "elastic-blast was not started"


# -- the corpus: the whole flow, which writes the job row first ---------------------------------------------------

# Each with the prepare step's status after it: failed when prepare found the problem, pending when the
# parameters were refused before prepare began.
FLOW: dict[str, tuple[Bad, StepStatus]] = {
    "malformed FASTA, whole flow": (LOCAL["malformed FASTA text"], StepStatus.FAILED),
    "Cyrillic look-alike id, whole flow": (LOCAL["Cyrillic look-alike in a query id"], StepStatus.FAILED),
    "shell metacharacters in options, whole flow": (LOCAL["shell metacharacters in options"], StepStatus.FAILED),
    "missing database, whole flow": (LOCAL["missing database"], StepStatus.FAILED),
    "query outside the roots, whole flow": (LOCAL["query outside the input roots"], StepStatus.FAILED),
    "config file as the query, whole flow": (LOCAL["a config file as the query"], StepStatus.FAILED),
    "wrong molecule, whole flow": (LOCAL["nucleotide query for blastp"], StepStatus.FAILED),
    "negative evalue, whole flow": (Bad({"evalue": -1.0}, "invalid search parameters: evalue",
                                        "Input should be greater than 0 (got -1.0)"), StepStatus.PENDING),
    "max_target_seqs 0, whole flow": (Bad({"max_target_seqs": 0}, "invalid search parameters: max_target_seqs",
                                          "Input should be greater than or equal to 1 (got 0)"), StepStatus.PENDING),
    "batch_len 0, whole flow": (Bad({"batch_len": 0}, "invalid search parameters: batch_len",
                                    "Input should be greater than or equal to 1 (got 0)"), StepStatus.PENDING),
    # Prefect checks parameters against the flow's signature before the flow body runs; the failure
    # hook then writes the row.
    "unknown program, whole flow": (Bad({"program": "blastz"}, "program: Input should be",
                                        "'blastn', 'blastp', 'blastx', 'tblastn' or 'tblastx'", ParameterTypeError),
                                    StepStatus.PENDING),
}  # fmt: skip


@pytest.mark.parametrize("case", FLOW)
def test_flow_rejects_with_a_clean_failed_row(case, pipeline, files, spawn_record, no_new_processes) -> None:
    from flows.blast_search import blast_search

    bad, prepare_status = FLOW[case]
    params = {"query": files["query_prot"], "db": files["db_prot"], "program": "blastp", "batch_len": 2000}
    params |= {k: v.format(**files) if isinstance(v, str) and v.startswith("{") else v for k, v in bad.change.items()}
    job_id = new_job_id()

    with pytest.raises(Exception) as caught:
        blast_search(**params, job_id=job_id)

    job = pipeline.get(job_id)
    assert job is not None and job.phase is Phase.FAILED and job.is_terminal
    _check_message(caught.value, bad)
    assert bad.what in job.error and bad.how in job.error, job.error
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    assert job.steps[StepName.PREPARE].status is prepare_status
    if prepare_status is StepStatus.FAILED:
        assert job.error.startswith("Invalid input: ") and job.steps[StepName.PREPARE].error == job.error
    assert job.steps[StepName.SUBMIT].status is StepStatus.PENDING, "nothing was handed over"
    assert all(job.steps[n].status is StepStatus.PENDING for n in (StepName.WAIT_FOR_PODS, StepName.RUN,
                                                                    StepName.FINALIZE))  # fmt: skip
    assert not get_settings().job_dir(job_id).exists()
    assert spawn_record.work_started() == []


def test_flow_with_a_job_id_that_is_not_a_uuid_writes_nothing(pipeline, sample_fasta, spawn_record) -> None:
    from flows.blast_search import blast_search

    with pytest.raises(InputError) as caught:
        blast_search(query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]), program="blastp",
                     job_id="../../etc/passwd; rm -rf ~")  # fmt: skip
    _check_message(caught.value, Bad({}, "is not a UUID4", "leave it empty to use the flow run id"))
    assert pipeline.list_jobs() == [] and not get_settings().jobs_dir.exists()
    assert spawn_record.work_started() == []


# -- the corpus: the store's connection string ---------------------------------------------------------------------

AZURE_KEY = "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="  # base64, not Azurite's

STORES: dict[str, Bad] = {
    "a bare Table endpoint URL": Bad({"url": "https://acct.table.core.windows.net/"}, "is a bare endpoint URL",
                                     "needs a connection string with AccountName=", ConfigError),
    "no AccountKey": Bad({"url": "AccountName=acct;TableEndpoint=https://acct.table.core.windows.net"},
                         "is missing AccountKey=", "copy the whole string", ConfigError),
    "an AccountKey cut short": Bad({"url": f"AccountName=acct;AccountKey={AZURE_KEY[:-7]};"}, "is not base64",
                                   "copy it again", ConfigError),
    "an account name with capitals": Bad({"url": f"AccountName=My_Account;AccountKey={AZURE_KEY};"},
                                         "is not a storage account name", "3-24 lowercase letters and digits",
                                         ConfigError),
    "sqlite with two slashes": Bad({"url": "sqlite://state.db"}, "a SQLite store URL is sqlite:///",
                                   "three slashes, then the path", ConfigError),
    "another database's URL": Bad({"url": f"postgres://blast:{AZURE_KEY}@db.internal/jobs"},
                                  "neither sqlite:///… nor an Azure connection string", "set BLASTFLOW_STORE_URL",
                                  ConfigError),
    "an endpoint nobody listens on": Bad({"url": f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                                 f"AccountKey={AZURE_KEY};TableEndpoint=http://127.0.0.1:9/x;"},
                                         "cannot reach the Table endpoint at 127.0.0.1:9",
                                         "check BLASTFLOW_STORE_URL", StoreUnavailable),
    "the wrong key for a live account": Bad({"url": "AZURITE_WRONG_KEY"}, "refused the credentials",
                                            "check AccountName and AccountKey", ConfigError),
}  # fmt: skip


@pytest.mark.azurite
@pytest.mark.parametrize("case", STORES)
def test_open_store_rejects(case, azurite, no_new_processes) -> None:
    bad = STORES[case]
    url = bad.change["url"]
    if url == "AZURITE_WRONG_KEY":  # the session Azurite, with a well-formed key that is not its key
        url = azurite.connection_string.replace(azurite.connection_string.split("AccountKey=")[1].split(";")[0],
                                                AZURE_KEY)  # fmt: skip
    with pytest.raises(BlastflowError) as caught:
        open_store(url)
    text = _check_message(caught.value, bad)
    assert AZURE_KEY[:20] not in text, "the message never repeats the key"


@pytest.mark.azurite
def test_flow_with_a_bad_store_url_fails_before_writing_anything(
    pipeline, sample_fasta, monkeypatch, spawn_record
) -> None:
    from flows.blast_search import blast_search
    from tasks.context import store

    good = os.environ["BLASTFLOW_STORE_URL"]
    monkeypatch.setenv("BLASTFLOW_STORE_URL", f"AccountName=acct;AccountKey={AZURE_KEY[:-7]};")
    get_settings.cache_clear()
    store.cache_clear()
    try:
        with pytest.raises(ConfigError) as caught:
            blast_search(query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]), program="blastp",
                         job_id=new_job_id())  # fmt: skip
    finally:
        monkeypatch.setenv("BLASTFLOW_STORE_URL", good)
        store.cache_clear()
        get_settings.cache_clear()
    assert pipeline.list_jobs() == []
    text = _check_message(caught.value, STORES["an AccountKey cut short"])
    assert AZURE_KEY[:20] not in text
    assert not get_settings().jobs_dir.exists()
    assert spawn_record.work_started() == []


# -- hostile-looking but valid: ids with shell metacharacters are data -------------------------------------------

CANARY = Path("/tmp/blastflow-pwned-by-an-id")
HOSTILE_IDS = [
    f"q;touch${{IFS}}{CANARY};",
    f"$(touch${{IFS}}{CANARY})",
    f"`touch${{IFS}}{CANARY}`&&x>y<z",
    "'\"*?[a-z]~!#%^",
]


@pytest.mark.slow
def test_ids_with_shell_metacharacters_run_end_to_end_as_plain_data(pipeline, sample_fasta, tmp_path) -> None:
    """Such ids are not bad input: they pass, reach BLAST only in files and argument lists, and come back as given."""
    from Bio import SeqIO

    from blastflow.hits import read_hits
    from flows.blast_search import blast_search

    CANARY.unlink(missing_ok=True)
    proteins = list(SeqIO.parse(sample_fasta["db_prot"], "fasta"))
    renamed = [f">{weird} hostile id {n}\n{record.seq}\n" for n, (weird, record) in
               enumerate(zip(HOSTILE_IDS, proteins, strict=False))]  # fmt: skip
    db = tmp_path / "hostile_db.fasta"
    db.write_text("".join(renamed) + "".join(f">{r.id}\n{r.seq}\n" for r in proteins[len(HOSTILE_IDS) : 40]))
    job_id = new_job_id()

    result = blast_search(query="".join(renamed), db=str(db), program="blastp", job_id=job_id)

    assert result["phase"] == "completed"
    hits = read_hits(get_settings().job_dir(job_id) / "results" / "hits.tsv")
    found = {(h.query, h.subject) for h in hits if h.pct_identity == 100.0}
    assert {(weird, weird) for weird in HOSTILE_IDS} <= found, "each id finds itself, spelt as given"
    assert not CANARY.exists(), "no shell ever ran an id"
