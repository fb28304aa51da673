"""The path fences: inputs only under the input roots, served files only inside the job's own results folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blastflow.confine import INPUT_ROOTS_ENV, confine, job_results_dir, looks_like_path, served, shown
from blastflow.errors import InputError
from blastflow.settings import SAMPLE_DATA_DIR, Settings


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    """Two roots, a directory outside both, and symlinks between them."""
    places = {name: tmp_path / name for name in ("inputs", "shared", "outside")}
    for place in places.values():
        place.mkdir()
    (places["outside"] / "secret.txt").write_text("root:x:0:0\n")
    (places["inputs"] / "q.fasta").write_text(">q1\nMKV\n")
    (places["inputs"] / "out.fasta").symlink_to(places["outside"] / "secret.txt")
    (places["inputs"] / "across.fasta").symlink_to(places["shared"])
    return places


def test_a_file_under_a_root_is_accepted_resolved(roots: dict[str, Path]) -> None:
    given = f"{roots['inputs']}/./sub/../q.fasta"
    assert confine(given, [roots["inputs"]], "query") == roots["inputs"] / "q.fasta"


def test_a_relative_path_is_taken_from_this_directory(roots: dict[str, Path], monkeypatch) -> None:
    monkeypatch.chdir(roots["inputs"])
    assert confine("q.fasta", [roots["inputs"]], "query") == roots["inputs"] / "q.fasta"
    with pytest.raises(InputError, match="is outside"):
        confine("../outside/secret.txt", [roots["inputs"]], "query")


@pytest.mark.parametrize(
    "escape",
    ["/etc/passwd", "{inputs}/../outside/secret.txt", "{inputs}/out.fasta", "{inputs}" + "/.." * 30 + "/etc/passwd"],
)
def test_escapes_are_refused_naming_the_setting_and_never_the_content(roots: dict[str, Path], escape: str) -> None:
    given = escape.format(**roots)
    with pytest.raises(InputError) as caught:
        confine(given, [roots["inputs"], roots["shared"]], "query")
    text = str(caught.value)
    assert "is outside the directories this worker reads inputs from" in text and INPUT_ROOTS_ENV in text
    assert f"separated by '{os.pathsep}'" in text and "root:x" not in text
    assert caught.value.code == "invalid_query"


def test_a_missing_file_outside_reads_like_an_existing_one(roots: dict[str, Path]) -> None:
    """No oracle: whether a refused path exists cannot be told from the message."""
    messages = []
    for name in ("secret.txt", "no-such-file.txt"):
        with pytest.raises(InputError) as caught:
            confine(str(roots["outside"] / "x" / ".." / name), [roots["inputs"]], "database")
        messages.append(str(caught.value).replace(name, "NAME"))
    assert messages[0] == messages[1]


def test_a_symlink_into_another_root_is_accepted(roots: dict[str, Path]) -> None:
    assert confine(str(roots["inputs"] / "across.fasta"), [roots["inputs"], roots["shared"]], "db") == roots["shared"]
    with pytest.raises(InputError):
        confine(str(roots["inputs"] / "across.fasta"), [roots["inputs"]], "db")


def test_databases_named_not_given_by_path_are_no_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert [looks_like_path(v) for v in ("swissprot", "nt", "gs://b/db", "https://a.blob.core.windows.net/c/db")] == [
        False, False, False, False,
    ]  # fmt: skip
    (tmp_path / "passwd").write_text("x")
    assert [looks_like_path(v) for v in ("/data/db", "./db", "~/db", "passwd")] == [True, True, True, True]


def test_a_long_or_secret_value_is_shown_cut_and_masked() -> None:
    assert shown("x" * 500).endswith("…'") and len(shown("x" * 500)) < 70
    assert "hunter2" not in shown("password=hunter2")


def test_the_input_roots_default_to_the_data_dir_and_the_samples(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(INPUT_ROOTS_ENV, raising=False)
    assert Settings(data_dir=tmp_path).input_root_paths() == [tmp_path, SAMPLE_DATA_DIR]
    assert (SAMPLE_DATA_DIR / "sinvicta").is_dir()
    monkeypatch.setenv(INPUT_ROOTS_ENV, f"/srv/fasta{os.pathsep}{os.pathsep}~/seqs")
    assert Settings(data_dir=tmp_path).input_root_paths() == [Path("/srv/fasta"), Path.home() / "seqs"]


@pytest.mark.parametrize("job_id", ["..", "../other", "/etc", "a/b", ""])
def test_a_job_id_that_names_another_place_never_becomes_a_path(tmp_path: Path, job_id: str) -> None:
    with pytest.raises(InputError, match="job id"):
        Settings(data_dir=tmp_path).job_dir(job_id)


# -- served files ------------------------------------------------------------------------------------------------


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs" / "j1" / "results"
    (folder / "formats").mkdir(parents=True)
    (folder / "hits.tsv").write_text("q\ts\n")
    (tmp_path / "jobs" / "j2" / "results").mkdir(parents=True)
    (tmp_path / "jobs" / "j2" / "results" / "hits.tsv").write_text("other job\n")
    (folder / "results.asn").symlink_to("/etc/passwd")
    (folder / "no_hits.txt").symlink_to(tmp_path / "jobs" / "j2" / "results" / "hits.tsv")
    return folder


def test_the_jobs_own_folder_is_served(results: Path) -> None:
    assert job_results_dir(str(results), "j1") == results
    assert job_results_dir(f"{results}/../results", "j1") == results
    assert served(results, "hits.tsv") == results / "hits.tsv"
    assert served(results, "formats/results.xml") == results / "formats" / "results.xml"


@pytest.mark.parametrize("location", ["{j2}", "{tmp}", "/etc", "{j1}/formats", "{j1}/../../j2/results"])
def test_another_folder_is_never_the_jobs_results(results: Path, location: str) -> None:
    where = location.format(j1=results, j2=results.parents[1] / "j2" / "results", tmp=results.parents[2])
    with pytest.raises(InputError, match="is not job j1's own results folder"):
        job_results_dir(where, "j1")


def test_a_results_folder_symlinked_elsewhere_is_refused(results: Path, tmp_path: Path) -> None:
    (tmp_path / "jobs" / "j3").mkdir()
    (tmp_path / "jobs" / "j3" / "results").symlink_to(results)  # resolves to j1's folder
    with pytest.raises(InputError, match="is not job j3's own"):
        job_results_dir(str(tmp_path / "jobs" / "j3" / "results"), "j3")


@pytest.mark.parametrize("name", ["../../j2/results/hits.tsv", "/etc/passwd", "results.asn", "no_hits.txt", ".", ""])
def test_names_out_of_the_folder_are_refused(results: Path, name: str) -> None:
    with pytest.raises(InputError, match="is not a file of the results folder"):
        served(results, name)
