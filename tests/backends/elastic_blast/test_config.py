"""The ElasticBLAST `.ini`: what gets written, and everything ElasticBLAST would reject, found before any work."""

from __future__ import annotations

import configparser
import re

import pytest

from blastflow.backends.elastic_blast.config import (
    ElbSearch,
    build_config,
    check_options,
    cloud_of_results,
    config_problems,
    db_label,
    parse_azure_blob_url,
    read_config,
    render_config,
    results_for_job,
    validate_config,
)
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.errors import ConfigError, InputError

AZURE = ElbProfile(
    results="https://blastacct.blob.core.windows.net/results/runs",
    azure_region="eastus",
    azure_resource_group="rg-blast",
    azure_storage_account="blastacct",
    azure_storage_account_container="results",
    azure_acr_name="blastacr",
    azure_acr_resource_group="rg-acr",
    num_nodes=4,
    machine_type="Standard_E32s_v3",
    use_preemptible=False,
)
GCP = ElbProfile(results="gs://blast-results/runs", gcp_project="my-project", gcp_region="us-east4",
                 gcp_zone="us-east4-b", cluster_name="blast-cluster")


def _search(results: str, **changes: object) -> ElbSearch:
    fields = {"program": "blastp", "db": "swissprot", "queries": "/jobs/1/queries.fa", "results": results,
              "options": ("-seg", "yes", "-evalue", "1e-05"), "batch_len": None, **changes}
    return ElbSearch(**fields)  # type: ignore[arg-type]


def _roundtrip(search: ElbSearch, profile: ElbProfile) -> configparser.ConfigParser:
    return read_config(render_config(build_config(search, profile)))


def test_an_azure_search_gets_the_forks_provider_keys_and_the_blast_section() -> None:
    cfg = _roundtrip(_search(results_for_job(AZURE.results, "job-1")), AZURE)

    assert dict(cfg["cloud-provider"]) == {
        "azure-region": "eastus",
        "azure-resource-group": "rg-blast",
        "azure-storage-account": "blastacct",
        "azure-storage-account-container": "results",
        "azure-acr-name": "blastacr",
        "azure-acr-resource-group": "rg-acr",
    }
    assert dict(cfg["cluster"]) == {"machine-type": "Standard_E32s_v3", "num-nodes": "4", "use-preemptible": "no"}
    assert cfg["blast"]["results"] == "https://blastacct.blob.core.windows.net/results/runs/job-1"
    assert cfg["blast"]["options"] == "-seg yes -evalue 1e-05"
    assert "batch-len" not in cfg["blast"]  # ElasticBLAST's tuner sizes the batches unless asked otherwise
    validate_config(cfg)


def test_a_gcp_search_gets_only_gcp_keys() -> None:
    cfg = _roundtrip(_search("gs://blast-results/runs/job-2", batch_len=500), GCP)
    assert set(cfg["cloud-provider"]) == {"gcp-project", "gcp-region", "gcp-zone"}
    assert cfg["cluster"]["name"] == "blast-cluster"
    assert cfg["blast"]["batch-len"] == "500"
    validate_config(cfg)


def test_values_survive_elastic_blasts_interpolating_config_parser() -> None:
    cfg = _roundtrip(_search("gs://blast-results/r", db="gs://blast-results/dbs/50%_identity"), GCP)
    assert cfg["blast"]["db"] == "gs://blast-results/dbs/50%_identity"


def test_option_values_with_spaces_are_quoted_for_the_pods_shell() -> None:
    cfg = _roundtrip(_search("gs://blast-results/r", options=("-seg", "12 2.2 2.5")), GCP)
    assert cfg["blast"]["options"] == "-seg '12 2.2 2.5'"


@pytest.mark.parametrize(
    ("url", "cloud"),
    [
        ("gs://blast-results/runs", "gcp"),
        ("s3://blast.results-1/x", "aws"),
        ("https://blastacct.blob.core.windows.net/results/x/y", "azure"),
    ],
)
def test_results_prefixes_elastic_blast_accepts(url: str, cloud: str) -> None:
    assert cloud_of_results(url) == cloud


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/data/results", "is not a bucket URL ElasticBLAST accepts"),
        ("http://blastacct.blob.core.windows.net/results/x", "is not a bucket URL"),
        ("az://results/x", "is not a bucket URL"),
        ("gs://Blast_Results/x", "bucket name 'Blast_Results'"),
        ("s3://a/x", "bucket name 'a'"),
        ("https://Blast-Acct.blob.core.windows.net/results/x", "3-24 lowercase letters and digits"),
        ("https://blastacct.blob.core.windows.net/Results/x", "container 'Results'"),
        ("https://blastacct.blob.core.windows.net/re--sults/x", "container 're--sults'"),
    ],
)
def test_results_locations_elastic_blast_rejects(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        cloud_of_results(url)
    assert "BLASTFLOW_ELB_RESULTS" in str(raised.value)


def test_azure_blob_urls_split_into_account_container_and_prefix() -> None:
    parsed = parse_azure_blob_url("https://blastacct.blob.core.windows.net/results/runs/job-1/")
    assert (parsed.account, parsed.container, parsed.prefix) == ("blastacct", "results", "runs/job-1")
    assert parse_azure_blob_url("https://blastacct.blob.core.windows.net/results").prefix == ""
    assert parse_azure_blob_url("https://example.com/results/x") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-remote"], re.escape("The BLAST+ option '-remote' is not supported in ElasticBLAST. Please remove this")),
        (["-seqidlist", "ids.txt"], "option '-seqidlist' is not supported in ElasticBLAST"),
        (["-gilist", "g.txt", "-remote"], "options '-gilist', '-remote' are not supported in ElasticBLAST"),
        (["-entrez_query", "human[organism]"], "'-entrez_query' is not supported"),
        (["-use_index", "true"], "'-use_index' is not supported"),
        (["-task", "rmblastn"], re.escape("Allowed task values for blastn are ['blastn', 'blastn-short', 'dc-mega")),
        (["-outfmt", "6"], "-outfmt is not allowed"),
        (["-num_threads", "8"], "-num_threads is not allowed"),
        (["-query", "x.fa"], "-query is not allowed"),
        (["-word_size", "$(reboot)"], "contains a character ElasticBLAST cannot pass on"),
        (["-seg", 'a"b'], "contains a character"),
    ],
)
def test_options_elastic_blast_rejects(options: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_options(options, "blastn")


def test_a_task_for_a_program_without_tasks_is_refused_in_elastic_blasts_words() -> None:
    with pytest.raises(InputError, match=re.escape('option in "-task tblastx". tblastx does not support the task')):
        check_options(["-task", "tblastx"], "tblastx")
    check_options(["-task", "megablast"], "blastn")  # allowed


@pytest.mark.parametrize(
    ("labels", "results", "message"),
    [
        ("Owner=x", "gs://b/r", 'Key "Owner" must have all lower case characters and have less than 64 characters'),
        ("team=Blast", "gs://b/r", 'Value "Blast" must have all lower case characters'),
        ("k" * 64 + "=v", "gs://b/r", "must have all lower case characters and have less than 64 characters"),
        ("owner", "gs://b/r", "labels configuration \"['owner']\" is incorrect"),
        ("k" * 256 + "=v", "s3://b/r", "must have less than 256 characters"),
    ],
)
def test_labels_elastic_blast_refuses(labels: str, results: str, message: str) -> None:
    cfg = configparser.ConfigParser()
    cfg.read_dict({"cluster": {"labels": labels}, "blast": {"results": results}})
    assert any(message in p.text for p in config_problems(cfg)), [p.text for p in config_problems(cfg)]


def test_labels_elastic_blast_accepts() -> None:
    cfg = configparser.ConfigParser()
    cfg.read_dict({"cluster": {"labels": "owner=ann,project=ants"}, "blast": {"results": "gs://b/r"}})
    assert not [p for p in config_problems(cfg) if "abel" in p.text or "Key" in p.text]


def test_every_problem_is_reported_at_once() -> None:
    cfg = configparser.ConfigParser()
    cfg.read_dict({
        "cloud-provider": {"gcp-project": "p", "azure-region": "eastus"},
        "cluster": {"num-nodes": "0", "name": "Bad_Name"},
        "blast": {"program": "blastz", "db": "", "queries": "q.fa", "results": "gs://blast-results/x",
                  "options": "-remote -outfmt 6", "batch-len": "-5", "mem-limit": "lots"},
    })

    texts = [p.text for p in config_problems(cfg)]

    for expected in ("[blast] db is required", "'blastz' is not supported", "'-remote' is not supported",
                     "-outfmt is not allowed", "batch-len must be a positive integer",
                     "mem-limit must be a memory size", "has keys for azure", "needs gcp-region, gcp-zone",
                     "num-nodes must be a positive integer", "cluster name Bad_Name must have all lower case"):
        assert any(expected in t for t in texts), f"{expected!r} not in {texts}"
    with pytest.raises(InputError, match="ElasticBLAST would reject this search"):
        validate_config(cfg)


def test_profile_only_problems_are_config_errors() -> None:
    cfg = _roundtrip(_search("https://blastacct.blob.core.windows.net/results/x"),
                     AZURE.model_copy(update={"azure_storage_account": "otheracct", "azure_region": None}))
    with pytest.raises(ConfigError) as raised:
        validate_config(cfg)
    text = str(raised.value)
    assert "needs azure-region" in text and "BLASTFLOW_ELB_AZURE_REGION" in text
    assert "storage account 'blastacct' but azure-storage-account is 'otheracct'" in text


def test_a_missing_results_key_is_a_config_problem() -> None:
    cfg = configparser.ConfigParser()
    cfg.read_dict({"blast": {"program": "blastn", "db": "nt", "queries": "q.fa"}})
    with pytest.raises(ConfigError, match=r"\[blast\] results is required"):
        validate_config(cfg)


def test_db_labels_are_what_result_files_are_named_after() -> None:
    assert db_label("swissprot") == "swissprot"
    assert db_label("gs://bkt/dbs/fire_ant_prot/") == "fire_ant_prot"
    assert results_for_job(" s3://bkt/runs/ ", "abc") == "s3://bkt/runs/abc"
