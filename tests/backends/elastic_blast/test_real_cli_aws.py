"""The real elastic-blast 1.5.0 on AWS, with only the cloud replaced by moto's server: it accepts the inis
blastflow writes, and what it refuses blastflow refuses first in its words.

ElasticBLAST reaches AWS through boto3 (no CLI to stand in for); `AWS_ENDPOINT_URL` points it at moto. A dry run
makes one call, STS GetCallerIdentity (elb_config.py ~317), which moto answers for the `reader` identity.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.config import (
    ElbSearch,
    build_config,
    check_options,
    config_problems,
    read_config,
    render_config,
)
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.errors import InputError
from blastflow.search import SearchSpec
from blastflow.steps.prepare import check_search

PROTEIN = ">sp|P69905|HBA_HUMAN\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPN\n"


def _dry_run(exe: Path, moto_s3, directory: Path, ini_text: str) -> subprocess.CompletedProcess[str]:
    directory.mkdir(parents=True)
    (directory / "q.fa").write_text(PROTEIN)
    ini = directory / "elastic-blast.ini"
    ini.write_text(ini_text.replace("@QUERIES@", str(directory / "q.fa")))
    env = {**moto_s3.env(), "AWS_ENDPOINT_URL": moto_s3.endpoint, "PATH": "/usr/bin:/bin", "HOME": str(directory)}
    return subprocess.run([str(exe), "submit", "--cfg", str(ini), "--dry-run", "--logfile", "stderr"],
                          capture_output=True, text=True, env=env, cwd=directory, timeout=120, check=False)  # fmt: skip


def _ini(options: str = "", **profile: object) -> str:
    search = check_search(SearchSpec(program="blastp", query=PROTEIN, db="swissprot", options=options))
    base = {"results": "s3://elb-results/runs", "aws_region": "us-east-1"}
    cfg = build_config(ElbSearch("blastp", "swissprot", "@QUERIES@", "s3://elb-results/runs/j1",
                                 tuple(search.options)), ElbProfile(**{**base, **profile}))  # fmt: skip
    return render_config(cfg)


@pytest.mark.parametrize(
    "profile",
    [{}, {"labels": "owner=ann,Project=Fire-Ants"}, {"batch_len": 50_000, "num_nodes": 2}],
    ids=["defaults", "labels-upper-case-allowed-on-aws", "batch-len-nodes"],
)
def test_the_real_cli_accepts_the_aws_inis_blastflow_writes(
    profile: dict[str, object], real_elastic_blast: Path, moto_s3, tmp_path: Path
) -> None:
    text = _ini("-seg yes", **profile)
    assert not config_problems(read_config(text))  # blastflow's own checks pass
    done = _dry_run(real_elastic_blast, moto_s3, tmp_path / "search", text)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_tag_key_over_255_characters_is_refused_by_both_in_the_same_words(
    real_elastic_blast: Path, moto_s3, tmp_path: Path
) -> None:
    text = _ini(labels=f"{'k' * 256}=v")
    done = _dry_run(real_elastic_blast, moto_s3, tmp_path / "search", text)
    said = [line.split("ERROR: ", 1)[1] for line in done.stderr.splitlines() if "ERROR: " in line]
    assert done.returncode == 1 and said, done.stderr[-2000:]
    assert any(said[-1] in problem.text for problem in config_problems(read_config(text)))


def test_an_option_elastic_blast_refuses_is_refused_by_both(real_elastic_blast: Path, moto_s3, tmp_path: Path) -> None:
    text = _ini().replace("options = ", "options = -remote ")
    done = _dry_run(real_elastic_blast, moto_s3, tmp_path / "search", text)
    assert done.returncode == 1 and "-remote" in done.stderr
    with pytest.raises(InputError, match="The BLAST\\+ option '-remote' is not supported in ElasticBLAST"):
        check_options(["-remote"], "blastp")
