"""The real elastic-blast 1.5.0 on GCP, with only the cloud replaced: it accepts what blastflow writes, blastflow
refuses first (in its words) what it refuses, and blastflow reads what it says.

`elastic-blast` is the PyPI release in its own virtualenv (`real_elastic_blast`, made by scripts/setup.sh --test).
What lies beyond the network — gcloud, gsutil, kubectl and the GKE auth plugin — are the offline doubles of
tests/doubles/gcp_cli (`GcpWorld`). One real call takes 2-6 s, so a module shares one submitted search and every
test that uses it first puts the world in the scenario it needs.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from blastflow.backends.elastic_blast.backend import CONFIG_FILE, ElasticBlastBackend
from blastflow.backends.elastic_blast.config import (
    ElbSearch,
    build_config,
    check_options,
    config_problems,
    read_config,
    render_config,
    results_for_job,
    validate_config,
)
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.backends.elastic_blast.status import parse_status
from blastflow.errors import BackendError, BlastflowError, TransientBackendError
from blastflow.failure import child_error_text
from blastflow.search import PodCounts, PreparedRun, Program, RunState, RunStatus, SearchSpec
from blastflow.settings import Settings
from blastflow.steps.prepare import check_search
from blastflow.stream import stream_child
from tests.doubles.gcp_cli.world import GcpWorld

PROTEIN = (
    ">sp|P69905|HBA_HUMAN Hemoglobin subunit alpha\n"
    "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDLHAHKL\n"
)
NUCLEOTIDE = (
    ">q1 alpha globin cDNA\n"
    "ATGGTGCTGTCTCCTGCCGACAAGACCAACGTCAAGGCCGCCTGGGGTAAGGTCGGCGCGCACGCTGGCGAGTATGGTGCGGAGGCCCTGGAGAGG\n"
)
NUCLEOTIDE_QUERY = frozenset({"blastn", "blastx", "tblastx"})
OWN_DB = "gs://elb-test-bucket/dbs/fire_ant/prot"  # a database the user uploaded (makeblastdb, then gsutil cp)
JOB_ID = "5f0c2a3e-9b1d-4c7e-8a6f-0d2e4b6c8a10"
OTHER_JOB_ID = "6a1d3b4f-0c2e-4d8f-9b7a-1e3f5c7d9b21"
STATUS = ("status", "--exit-code", "--verbose")
SUBMIT_TAIL_LINES = 20  # what blastflow's submit step keeps of each stream for its error text
FAILURE_TEXT = "Error: batch_000 blastp exited with code 3: BLAST engine error (out of memory?)"


# -- what blastflow writes -------------------------------------------------------------------------------------------
def _profile(world: GcpWorld, **changes: object) -> ElbProfile:
    settings = {"results": world.results_base, "gcp_project": world.project, "gcp_region": world.region,
                "gcp_zone": world.zone, "cluster_name": world.cluster}  # fmt: skip
    return ElbProfile(**{**settings, **changes})


def _write_search(world: GcpWorld, name: str, program: str, text: str) -> Path:
    directory = world.directory / "searches" / name
    directory.mkdir(parents=True)
    (directory / "queries.fa").write_text(NUCLEOTIDE if program in NUCLEOTIDE_QUERY else PROTEIN)
    (directory / CONFIG_FILE).write_text(text)
    return directory / CONFIG_FILE


class Ini(NamedTuple):
    """A search as a user gives it, and the cluster profile it runs with."""

    program: Program
    db: str
    options: str = ""
    batch_len: int | None = None  # the search's; None (and none in the profile): ElasticBLAST's tuner sizes batches
    profile: dict[str, object] = {}  # noqa: RUF012 (never mutated)


def _blastflow_ini(world: GcpWorld, name: str, ini: Ini) -> Path:
    """The .ini blastflow's prepare writes for `ini`, after every check it makes (all must pass)."""
    query = NUCLEOTIDE if ini.program in NUCLEOTIDE_QUERY else PROTEIN
    search = check_search(SearchSpec(program=ini.program, query=query, db=ini.db, options=ini.options,
                                     batch_len=ini.batch_len))  # fmt: skip
    check_options(search.options, ini.program)
    queries = world.directory / "searches" / name / "queries.fa"
    cfg = build_config(ElbSearch(ini.program, ini.db, str(queries), f"{world.results_base}/{name}",
                                 tuple(search.options), ini.batch_len), _profile(world, **ini.profile))  # fmt: skip
    text = render_config(cfg)
    validate_config(read_config(text))
    return _write_search(world, name, ini.program, text)


def _unchecked_ini(world: GcpWorld, name: str, program: str, db: str, options: tuple[str, ...],
                   profile: dict[str, object], batch_len: int | None = None) -> Path:  # fmt: skip
    """The .ini build_config would write for a search that skipped every check."""
    queries = world.directory / "searches" / name / "queries.fa"
    search = ElbSearch(program, db, str(queries), f"{world.results_base}/{name}", options, batch_len)
    return _write_search(world, name, program, render_config(build_config(search, _profile(world, **profile))))


def _elastic_blast(world: GcpWorld, exe: Path, *args: str, ini: Path) -> subprocess.CompletedProcess[str]:
    return world.run([str(exe), *args, "--cfg", str(ini)])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> GcpWorld:
    """One world for the checks that create no cluster (dry-runs and refusals), with a user's own database."""
    made = GcpWorld.create(tmp_path_factory.mktemp("gcp-checks"))
    own_db = made.local(OWN_DB)
    own_db.parent.mkdir(parents=True)
    for extension in ("pin", "phr", "psq", "pdb", "pot", "ptf", "pto"):
        own_db.with_name(f"{own_db.name}.{extension}").write_bytes(b"\0")
    return made


# -- every GCP ini blastflow writes, the real CLI accepts ------------------------------------------------------------
ACCEPTED = [
    pytest.param(Ini("blastp", "swissprot"), id="blastp-defaults"),
    pytest.param(Ini("blastx", "swissprot", "-seg yes -query_gencode 2"), id="blastx-seg-gencode"),
    pytest.param(Ini("blastn", "nt", "-task megablast -word_size 28 -dust no", batch_len=2_000_000),
                 id="blastn-megablast-own-batch-len"),
    pytest.param(Ini("tblastn", "nt", "-seg yes", profile={"labels": "owner=ann,project=fire-ants"}),
                 id="tblastn-labels"),
    pytest.param(Ini("tblastx", "nt", "-word_size 3", profile={"cluster_name": "blastflow-tblastx"}),
                 id="tblastx-word-size-cluster-name"),
    pytest.param(Ini("blastp", OWN_DB, "-task blastp-fast -comp_based_stats 0", profile={
        "machine_type": "e2-standard-8", "num_nodes": 2, "pd_size": "100G", "use_preemptible": True,
        "mem_request": "2G", "mem_limit": "6G"}), id="own-database-full-profile"),
    pytest.param(Ini("blastp", "swissprot", "-task blastp-short", profile={"batch_len": 50_000}),
                 id="blastp-short-profile-batch-len"),
]


@pytest.mark.parametrize("ini", ACCEPTED)
def test_the_real_cli_accepts_every_gcp_ini_blastflow_writes(
    ini: Ini, world: GcpWorld, real_elastic_blast: Path, request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.id
    path = _blastflow_ini(world, name, ini)

    done = _elastic_blast(world, real_elastic_blast, "submit", "--dry-run", ini=path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    # The one thing a dry-run really does on GCP (gcp.py 345-350): upload the BLAST job template.
    assert world.local(f"{world.results_base}/{name}/metadata/job.yaml.template").is_file()
    assert ("batch-len" in path.read_text()) is bool(ini.batch_len or ini.profile.get("batch_len"))
    assert world.unhandled() == []


# -- what the real CLI refuses, blastflow refuses first, in the real CLI's words -------------------------------------
class Refusal(NamedTuple):
    program: str
    db: str
    options: tuple[str, ...] = ()
    profile: dict[str, object] = {}  # noqa: RUF012 (never mutated)
    dry_run: bool = True  # False: a rule --dry-run skips (ElasticBLAST's tuner, which a dry-run never runs)
    about: str = ""  # a word the refusal must name (so a refusal for another reason cannot pass)


REFUSED = [
    pytest.param(Refusal("blastn", "nt", ("-task", "rmblastn"), about="rmblastn"), id="blastn-task-rmblastn"),
    pytest.param(Refusal("blastp", "swissprot", ("-task", "blastn"), about="blastp-fast"), id="blastp-task-blastn"),
    pytest.param(Refusal("tblastx", "nt", ("-task", "x"), dry_run=False, about="tblastx"), id="tblastx-task"),
    pytest.param(Refusal("blastp", "swissprot", ("-remote",), about="-remote"), id="remote"),
    pytest.param(Refusal("blastp", "swissprot", ("-seqidlist", "ids.txt"), about="-seqidlist"), id="seqidlist"),
    pytest.param(Refusal("blastp", "swissprot", profile={"labels": "Owner=x"}, about="Owner"), id="label-key-case"),
    pytest.param(Refusal("blastp", "swissprot", profile={"labels": "owner=Ann"}, about="Ann"), id="label-value-case"),
    pytest.param(Refusal("blastp", "swissprot", profile={"labels": f"{'k' * 64}=x"}, about="k" * 64),
                 id="label-key-64-chars"),
    pytest.param(Refusal("blastp", "swissprot", profile={"cluster_name": "Blast-Flow"}, about="Blast-Flow"),
                 id="cluster-name-case"),
    pytest.param(Refusal("blastp", "swissprot", profile={"cluster_name": "blast_flow"}, about="blast_flow"),
                 id="cluster-name-underscore"),
]


def _real_error(stderr: str) -> str:
    """The real CLI's error sentence, without the `-outfmt 11` it appends to the options it quotes."""
    errors = [line.removeprefix("ERROR: ") for line in stderr.splitlines() if line.startswith("ERROR: ")]
    assert errors, f"the real CLI printed no ERROR line: {stderr}"
    return errors[-1].replace(" -outfmt 11", "")


@pytest.mark.parametrize("case", REFUSED)
def test_what_the_real_cli_refuses_blastflow_refuses_first_in_the_same_words(
    case: Refusal, world: GcpWorld, real_elastic_blast: Path, request: pytest.FixtureRequest
) -> None:
    path = _unchecked_ini(world, request.node.callspec.id, case.program, case.db, case.options, case.profile)

    real = _elastic_blast(world, real_elastic_blast, "submit", *(("--dry-run",) if case.dry_run else ()), ini=path)
    ours = [problem.text for problem in config_problems(read_config(path.read_text()))]

    assert real.returncode == 1, real.stderr
    said = _real_error(real.stderr)
    assert case.about in said
    assert any(said in text for text in ours), f"real: {said!r}\nours: {ours}"
    with pytest.raises(BlastflowError, match="ElasticBLAST would reject this search"):
        validate_config(read_config(path.read_text()))
    assert world.state()["clusters"] == {}, "a refused search must create nothing"


def test_with_a_batch_len_elastic_blast_lets_a_tblastx_task_through_but_blast_refuses_it(
    gcp_world: GcpWorld, real_elastic_blast: Path
) -> None:
    """Why blastflow refuses -task for tblastx whatever the ini: ElasticBLAST checks -task only on its tuner's path
    (elb_config.py 761, tuner.py 135; tblastx never reaches it when the ini sets batch-len), and BLAST+ tblastx has
    no -task at all, so every batch would fail on the cluster."""
    path = _unchecked_ini(gcp_world, "tblastx-task", "tblastx", "nt", ("-task", "x"), {}, batch_len=100_000)

    real = _elastic_blast(gcp_world, real_elastic_blast, "submit", ini=path)
    blast = subprocess.run(["tblastx", "-task", "x", "-query", os.devnull, "-subject", os.devnull],
                           capture_output=True, text=True, check=False)  # fmt: skip

    assert real.returncode == 0, real.stderr
    assert gcp_world.state()["clusters"] == {gcp_world.cluster: "RUNNING"}, "the search was really submitted"
    assert blast.returncode != 0 and 'Unknown argument: "task"' in blast.stderr
    with pytest.raises(BlastflowError, match=re.escape('option in "-task x". tblastx does not support the task')):
        check_options(["-task", "x"], "tblastx")


# -- one search submitted for real through the backend, then asked about in every state ------------------------------
def _install(world: GcpWorld, monkeypatch: pytest.MonkeyPatch, exe: Path) -> ElasticBlastBackend:
    """blastflow's backend on the real CLI in `world`, configured as a deployment would be (BLASTFLOW_ELB_*)."""
    world.install(monkeypatch)
    for name in [n for n in os.environ if n.startswith("BLASTFLOW_ELB_")]:
        monkeypatch.delenv(name)
    settings = {"EXECUTABLE": str(exe), "RESULTS": world.results_base, "GCP_PROJECT": world.project,
                "GCP_REGION": world.region, "GCP_ZONE": world.zone, "CLUSTER_NAME": world.cluster,
                "STATUS_INTERVAL_S": "0", "COMMAND_TIMEOUT_S": "120"}  # fmt: skip
    for key, value in settings.items():
        monkeypatch.setenv(f"BLASTFLOW_ELB_{key}", value)
    return ElasticBlastBackend(Settings(data_dir=world.directory / "data"))


def _prepared_run(backend: ElasticBlastBackend, world: GcpWorld, job_id: str) -> PreparedRun:
    """What `backend.prepare` writes for a blastp search of swissprot (built here, without prepare's storage check)."""
    search = check_search(SearchSpec(program="blastp", query=PROTEIN, db="swissprot"))
    workdir = world.directory / "jobs" / job_id
    workdir.mkdir(parents=True)
    (workdir / "queries.fa").write_text(PROTEIN)
    results, queries = results_for_job(backend.profile.results, job_id), str(workdir / "queries.fa")
    text = render_config(build_config(ElbSearch("blastp", "swissprot", queries, results, tuple(search.options)),
                                      backend.profile))
    validate_config(read_config(text))
    (workdir / CONFIG_FILE).write_text(text)
    return PreparedRun(job_id=job_id, backend=backend.name, program="blastp", workdir=workdir,
                       config_path=workdir / CONFIG_FILE, database="swissprot", database_label="swissprot",
                       molecule="prot", options=search.options, query_count=search.query.count,
                       batches=[],  # no batch-len: ElasticBLAST's tuner makes (and counts) the batches
                       query_length=search.query.total_length, results_location=results)  # fmt: skip


@dataclass
class Submitted:
    """What blastflow's submit step sees of a child: exit code and the tails of both streams."""

    returncode: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def error_text(self, backend: ElasticBlastBackend) -> str:
        """The job's error, exactly as blastflow's submit step words it."""
        meaning = backend.exit_meaning(self.returncode)
        return child_error_text(f"{backend.name} submit", self.returncode, self.stderr, self.stdout, meaning)


def _submit(backend: ElasticBlastBackend, run: PreparedRun) -> Submitted:
    """`backend.submit_command` streamed the way blastflow's submit step streams it."""
    tails: dict[str, deque[str]] = {name: deque(maxlen=SUBMIT_TAIL_LINES) for name in ("stdout", "stderr")}
    argv = backend.submit_command(run)
    result = stream_child(argv, lambda stream, line: tails[stream].append(line), env=backend.submit_env(run),
                          cwd=run.workdir, timeout_s=300)  # fmt: skip
    return Submitted(result.returncode, list(tails["stdout"]), list(tails["stderr"]))


@dataclass(frozen=True)
class Search:
    world: GcpWorld
    run: PreparedRun
    submitted: Submitted
    status_after_submit: RunStatus
    bucket_after_submit: list[str]
    world_after_submit: dict[str, Any]


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory, real_elastic_blast: Path) -> Search:
    """A blastp search submitted through blastflow's backend with the real CLI, and its status right after."""
    world = GcpWorld.create(tmp_path_factory.mktemp("gcp-search"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        backend = _install(world, monkeypatch, real_elastic_blast)
        run = _prepared_run(backend, world, JOB_ID)
        submitted = _submit(backend, run)
        bucket = sorted(str(p.relative_to(world.local(run.results_location))) for p in
                        world.local(run.results_location).rglob("*") if p.is_file())  # fmt: skip
        after = world.state()
        status = backend.status(run)
    return Search(world, run, submitted, status, bucket, after)


@pytest.fixture
def backend(search: Search, real_elastic_blast: Path, monkeypatch: pytest.MonkeyPatch) -> ElasticBlastBackend:
    return _install(search.world, monkeypatch, real_elastic_blast)


def test_a_real_submit_through_the_backend_leaves_what_elastic_blast_needs_and_reads_as_submitting(
    search: Search,
) -> None:
    assert search.submitted.returncode == 0, search.submitted.stderr
    assert search.submitted.stdout == []  # upstream submit prints nothing on stdout; its log went to stderr
    assert search.bucket_after_submit == [
        "metadata/disk-id.txt", "metadata/elastic-blast-config.json", "metadata/job.yaml.template",
        "metadata/query_length.txt", "query_batches/batch_000.fa",
    ]  # fmt: skip
    after = search.world_after_submit
    assert after["clusters"] == {"blastflow-test": "RUNNING"} and after["current_context"] == search.world.context
    assert {(job["name"], job["labels"]["app"]) for job in after["k8s"]["jobs"]} == {
        ("init-pv", "setup"), ("submit-jobs", "submit")}  # fmt: skip
    # Setup jobs copy the database to the disk; the BLAST jobs come later (from submit-jobs), so: SUBMITTING.
    # (The pods' side is read through a kubeconfig, which this world has not: that part is skipped, not failed.)
    assert search.status_after_submit.state is RunState.SUBMITTING
    assert search.world.unhandled() == []


class Said(NamedTuple):
    """What the real `status --exit-code --verbose` does in a scenario, and what blastflow makes of it."""

    exit_code: int
    outcome: RunState | type[BlastflowError]
    words: str = ""  # in parse_status's message (or error)
    counts: PodCounts | None = None
    code: str | None = None  # the BackendError's code


CLI_STATUS = [
    pytest.param("provisioning", {}, Said(3, RunState.SUBMITTING), id="cluster-provisioning"),
    pytest.param("running", {"pending": 2, "running": 3, "succeeded": 1},
                 Said(4, RunState.RUNNING, counts=PodCounts(pending=2, running=3, succeeded=1)), id="running"),
    pytest.param("success", {}, Said(0, RunState.SUCCESS, "results can be found in gs://elb-test-bucket/blast/"),
                 id="success"),
    pytest.param("failure", {"failure_text": FAILURE_TEXT}, Said(1, RunState.FAILURE, FAILURE_TEXT), id="failure-txt"),
    pytest.param("running", {"succeeded": 2, "failed": 1},
                 Said(1, RunState.FAILURE, "ElasticBLAST reports the search failed"), id="batch-failed"),
    pytest.param("cluster_missing", {}, Said(6, RunState.UNKNOWN, 'Cluster "blastflow-test" was not found'),
                 id="cluster-missing"),
    pytest.param("unauthorised", {}, Said(6, BackendError, "You must be logged in to the server (Unauthorized)",
                                          code="cluster_auth"), id="kubectl-unauthorised"),
    pytest.param("stopping", {}, Said(8, TransientBackendError, 'Cluster "blastflow-test" exists, but is not'),
                 id="cluster-stopping"),
    pytest.param("gcloud_unauthenticated", {}, Said(7, BackendError, "You do not currently have an active account",
                                                    code="cluster_auth"), id="gcloud-unauthenticated"),
]  # fmt: skip


@pytest.mark.parametrize(("scenario", "settings", "said"), CLI_STATUS)
def test_parse_status_reads_what_the_real_status_says_in_each_state(
    scenario: str, settings: dict[str, object], said: Said, search: Search, real_elastic_blast: Path
) -> None:
    search.world.scenario(scenario, results=search.run.results_location, **settings)  # type: ignore[arg-type]

    done = _elastic_blast(search.world, real_elastic_blast, *STATUS, ini=search.run.config_path)

    assert done.returncode == said.exit_code, (done.stdout, done.stderr)
    if isinstance(said.outcome, RunState):
        status = parse_status(done.returncode, done.stdout, done.stderr)
        assert status.state is said.outcome
        assert said.words in status.message
        assert status.counts == (said.counts or PodCounts())
    else:
        with pytest.raises(said.outcome) as raised:
            parse_status(done.returncode, done.stdout, done.stderr)
        assert type(raised.value) is said.outcome and said.words in str(raised.value)
        assert said.code is None or raised.value.code == said.code
    assert search.world.unhandled() == []


@pytest.mark.parametrize(
    ("scenario", "settings", "said"),
    [
        pytest.param("failure", {"failure_text": FAILURE_TEXT}, Said(1, RunState.FAILURE, FAILURE_TEXT), id="failure"),
        pytest.param("unauthorised", {}, Said(6, BackendError, "cluster credentials rejected", code="cluster_auth"),
                     id="unauthorised"),
    ],
)  # fmt: skip
def test_the_backends_status_in_a_few_states(
    scenario: str, settings: dict[str, object], said: Said, search: Search, backend: ElasticBlastBackend
) -> None:
    search.world.scenario(scenario, results=search.run.results_location, **settings)  # type: ignore[arg-type]

    if isinstance(said.outcome, RunState):
        status = backend.status(search.run)
        assert status.state is said.outcome and said.words in status.message
        assert said.counts is None or status.counts == said.counts
    else:
        with pytest.raises(said.outcome, match=said.words) as raised:
            backend.status(search.run)
        assert raised.value.code == said.code


def test_a_second_submit_to_a_used_results_location_is_exit_8_with_its_meaning(
    search: Search, backend: ElasticBlastBackend
) -> None:
    """ElasticBLAST refuses a results location whose metadata/disk-id.txt exists (commands/submit.py 198-201)."""
    search.world.scenario("submitting", results=search.run.results_location)

    again = _submit(backend, search.run)

    assert again.returncode == 8
    text = again.error_text(backend)
    assert text.startswith("elastic-blast submit exited with code 8 (cluster error, or the results location was "
                           "already used by another search): ")  # fmt: skip
    assert "has already been submitted" in text


def test_another_search_while_a_cluster_of_that_name_runs_is_exit_8_too(
    search: Search, backend: ElasticBlastBackend
) -> None:
    """One search per cluster name (commands/submit.py 183-212): a fixed BLASTFLOW_ELB_CLUSTER_NAME serialises them."""
    search.world.scenario("submitting", results=search.run.results_location)
    other = _prepared_run(backend, search.world, OTHER_JOB_ID)

    refused = _submit(backend, other)

    assert refused.returncode == 8
    assert "Previous instance of cluster blastflow-test is still RUNNING" in "\n".join(refused.stderr)
    assert "cluster error, or the results location was already used" in refused.error_text(backend)
    assert not search.world.local(f"{other.results_location}/metadata/disk-id.txt").exists()


def test_cancel_deletes_the_search_then_says_the_cluster_was_already_gone(
    gcp_world: GcpWorld, real_elastic_blast: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _install(gcp_world, monkeypatch, real_elastic_blast)
    run = _prepared_run(backend, gcp_world, JOB_ID)
    assert _submit(backend, run).returncode == 0
    assert gcp_world.state()["disks"], "the submit made the database disk"

    first = backend.cancel(run)
    gone = gcp_world.state()
    second = backend.cancel(run)

    assert first == "elastic-blast delete stopped the search and released its cluster resources"
    assert gone["clusters"] == {} and gone["disks"] == [] and gone["k8s"]["pvcs"] == {}
    assert second.startswith("the cluster was already gone, nothing to delete (")
    assert second.endswith("ERROR: Cluster blastflow-test was not found)")
    assert gcp_world.unhandled() == []
