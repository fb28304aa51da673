"""The sanitiser on real-looking output: terminal control goes, secrets are masked, sequences and logs stay."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastflow.sanitise import MASK, register_secret, registered_secret_count, sanitise
from tests.sanitise_corpus import (
    ACCOUNT_KEY,
    AZURE_SDK_DUMP,
    AZURE_SDK_DUMP_SANITISED,
    CLEAN_LINES,
    FASTA_FILES,
    JWT,
    REGISTERED_SECRETS,
    SAS_QUERY,
    SECRET_CASES,
    SECRET_LINES,
    TERMINAL_CASES,
    SecretCase,
    fasta_lines,
)

# C0 and C1 control characters other than tab and newline, and the bidi overrides: none may survive.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# ── the corpus ────────────────────────────────────────────────────────────────


def test_the_corpus_is_big_enough() -> None:
    assert len({case.form for case in SECRET_CASES}) == len(SECRET_CASES) >= 20
    assert len(TERMINAL_CASES) + len(CLEAN_LINES) + len(AZURE_SDK_DUMP.splitlines()) >= 30
    assert len(FASTA_FILES) == 2


@pytest.mark.parametrize("case", SECRET_CASES, ids=[case.form for case in SECRET_CASES])
def test_each_secret_form_is_masked_and_its_context_kept(case: SecretCase) -> None:
    out = sanitise(case.line)
    assert case.secret not in out
    assert out == case.expected
    assert MASK in out


def test_secret_lines_hold_no_secret_after_sanitising() -> None:
    # the (line, secret) view the fault suite uses
    for line, secret in SECRET_LINES:
        assert secret in re.sub(r"\x1b\[[0-9;]*m", "", line)  # one is split by colour codes
        assert secret not in sanitise(line)


def test_useful_context_survives() -> None:
    conn = sanitise(f"DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey={ACCOUNT_KEY};EndpointSuffix=x")
    assert "AccountName=myacct" in conn and "DefaultEndpointsProtocol=https" in conn and ACCOUNT_KEY not in conn
    url = "https://myacct.blob.core.windows.net/results/elb-5f2c/batch_000-blastn-nt.out.gz"
    assert sanitise(f"copy {url}?{SAS_QUERY} done") == f"copy {url}?{MASK} done"
    assert sanitise(f"'Authorization': 'Bearer {JWT}', 'x-ms-version': '2025-01-05'") == (
        f"'Authorization': '{MASK}', 'x-ms-version': '2025-01-05'"
    )


@pytest.mark.parametrize(("raw", "expected"), TERMINAL_CASES, ids=range(len(TERMINAL_CASES)))
def test_terminal_control_is_stripped(raw: str, expected: str) -> None:
    out = sanitise(raw)
    assert out == expected
    assert "\x1b" not in out and "\r" not in out and not CONTROL.search(out)


@pytest.mark.parametrize("line", CLEAN_LINES, ids=range(len(CLEAN_LINES)))
def test_ordinary_lines_pass_unchanged(line: str) -> None:
    assert sanitise(line) == line


def test_an_azure_sdk_request_response_dump_keeps_everything_but_the_secrets() -> None:
    out = sanitise(AZURE_SDK_DUMP)
    assert out == AZURE_SDK_DUMP_SANITISED
    assert JWT not in out and "sig=" not in out
    assert "'x-ms-client-request-id': '3f1c2b4a-1d2e-11ef-9a8b-0242ac120002'" in out
    assert out.count("\n") == AZURE_SDK_DUMP.count("\n")


# ── sequences and BLAST output ────────────────────────────────────────────────


@pytest.mark.parametrize("path", FASTA_FILES, ids=lambda p: p.name)
def test_every_line_of_the_sample_fasta_files_is_unchanged(path) -> None:
    text = path.read_text()
    lines = text.splitlines()
    assert len(lines) > 5000
    changed = [line for line in lines if sanitise(line) != line]
    assert changed == []
    assert sanitise(text) == text  # the whole file as one string (the line-by-line path for long text)


def test_dna_and_protein_lines_are_both_present_in_the_samples() -> None:
    lines = fasta_lines()
    assert any(set(line) <= set("ACGTN") and len(line) == 60 for line in lines)
    assert any(set(line) - set("ACGTN>") and line.isalpha() and line.isupper() for line in lines)


_RESIDUES = "ACGTUNRYKMSWBDHVacgtnXZJOP*-"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_RESIDUES, max_size=200))
def test_any_sequence_line_is_unchanged(line: str) -> None:
    assert sanitise(line) == line


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=_RESIDUES, min_size=1, max_size=80), min_size=1, max_size=10))
def test_any_aws_like_protein_line_is_unchanged(words: list[str]) -> None:
    # an AWS key id is AKIA + 16; a protein line of that shape has no digit and must stay
    line = "AKIA" + "".join(words).upper().replace("*", "").replace("-", "")[:16].ljust(16, "A")
    assert sanitise(line) == line


# ── regressions: each of these was wrong once ─────────────────────────────────


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # false positives: ordinary words next to a secret rule's keyword
        ("BLAST: Basic Local Alignment Search Tool", "BLAST: Basic Local Alignment Search Tool"),
        ("botocore.credentials: Found credentials in environment variables.", None),
        ("tokens=5 max_tokens=3 token_count=7", None),
        ("Using bearer token auth", None),
        ("PartitionKey='5f2c' RowKey='current'", None),
        # leaks: a bare bearer token, an unclosed quoted value, an upper-case key
        ("sending header Bearer abcdef123456", "sending header Bearer ***"),
        ('{"token": "eyJhbGciOiJIUzI1NiJ9.abc', '{"token": "***'),
        ("PASSWORD=hunter2hunter2", "PASSWORD=***"),
        ("client_secret='it''s'", "client_secret='***''s'"),
        # an unterminated OSC title used to swallow the lines after it
        ("\x1b]0;title\nnext line", "\nnext line"),
        # a mask next to a key used to complete a new match on the second pass
        ("AccountKey=''AccountKey=", "AccountKey='***'AccountKey="),
        # non-ASCII text before the secret keeps positions right
        ("İstanbul München password=s3cr3t ok", "İstanbul München password=*** ok"),
    ],
)
def test_regressions(raw: str, expected: str | None) -> None:
    out = sanitise(raw)
    assert out == (raw if expected is None else expected)
    assert sanitise(out) == out


def test_an_uppercase_secret_word_is_masked_too() -> None:
    assert sanitise("AZURE_STORAGE_ACCOUNT_KEY: abcdef123456") == "AZURE_STORAGE_ACCOUNT_KEY: ***"
    assert sanitise("Authorization: BASIC dXNlcjpwYXNzd29yZA==") == "Authorization: ***"


# ── registered secrets ────────────────────────────────────────────────────────


def test_the_corpus_registered_its_secrets() -> None:
    for value in REGISTERED_SECRETS:
        assert sanitise(f"[{value}]") == f"[{MASK}]"


def test_register_secret_masks_the_exact_and_url_encoded_value() -> None:
    value = "p@ss/w0rd+with=odd&chars-7b1e"
    before = registered_secret_count()
    register_secret(value)
    assert registered_secret_count() == before + 2  # the value and its URL-encoded form
    assert sanitise(f"using {value} now") == f"using {MASK} now"
    assert sanitise(f"https://host/path?x={quote(value, safe='')}&y=1") == f"https://host/path?x={MASK}&y=1"
    register_secret(value)  # twice is once
    assert registered_secret_count() == before + 2


def test_short_or_empty_values_are_not_registered() -> None:
    before = registered_secret_count()
    for value in (None, "", "ACGT", "abcde"):
        register_secret(value)
    assert registered_secret_count() == before
    assert sanitise("ACGT abcde") == "ACGT abcde"


def test_the_longest_registered_value_wins() -> None:
    register_secret("inner-secret-3c9d")
    register_secret("outer-inner-secret-3c9d-tail")
    assert sanitise("a outer-inner-secret-3c9d-tail b inner-secret-3c9d c") == f"a {MASK} b {MASK} c"


# ── properties ────────────────────────────────────────────────────────────────

_FRAGMENTS = [
    "\x1b", "\x1b[", "31m", "\x1b[0m", "\x1b[2K", "\x1b[1A", "\x1b[?25l", "\x1b]8;;", "\x1b]0;", "\x07", "\x1b\\",
    "\r", "\n", "\t", "\x00", "\x08", "\x9b", "\x85", "\u202e", " ", ";", "&", "?", "=", "==", ":", "'", '"', "@",
    "{", "}", ",", "/", "+", "%", "*", "***", "://", "https://acct.blob.core.windows.net/c/b", "sig=", "sv=2022-11-02",
    "AccountKey=", "SharedAccessKey=", "AccountName=myacct", "Password=", "password", "token", "secret", "Secret",
    "client_secret", "api-key", "Authorization", "Bearer ", "Basic ", "--account-key ", "--password ", "eyJ",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "AKIA", "AKIAIOSFODNN7EXAMPLE", "ghp_", "u:p", "A" * 86,
    ACCOUNT_KEY, "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "MIIEpAIBAAKCAQEA",
    "ATGAATACCCTCTGGCTCTC", "MNTLWLSLWDYPGKLPLNF", REGISTERED_SECRETS[0], REGISTERED_SECRETS[0][:9], "İ", "ß",
]  # fmt: skip
_TEXT = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=6), max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(_TEXT)
def test_sanitising_twice_changes_nothing(text: str) -> None:
    once = sanitise(text)
    assert sanitise(once) == once


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_no_terminal_control_survives(text: str) -> None:
    out = sanitise(text)
    assert "\x1b" not in out and "\r" not in out and not CONTROL.search(out)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT.filter(lambda t: "-----BEGIN" not in t), min_size=1, max_size=8))
def test_sanitising_is_line_local(chunks: list[str]) -> None:
    text = "\n".join(chunks)
    assert sanitise(text) == "\n".join(sanitise(line) for line in text.split("\n"))


def test_a_long_text_gives_the_same_result_as_its_lines() -> None:
    lines = [raw for raw, _ in TERMINAL_CASES] + [line for line, _ in SECRET_LINES] + CLEAN_LINES
    lines = [line for line in lines if "-----BEGIN" not in line] * 5
    text = "\n".join(lines)
    assert len(text) > 20_000  # long enough for the line-by-line path
    assert sanitise(text) == "\n".join(sanitise(line) for line in text.split("\n"))


def test_a_private_key_block_in_a_long_text_is_masked_whole() -> None:
    case = next(case for case in SECRET_CASES if case.form == "PEM private key")
    text = "\n".join([*CLEAN_LINES * 3, case.line, "after the key"])
    assert len(text) > 4096
    out = sanitise(text)
    assert all(body_line not in out for body_line in case.line.split("\n")[1:-1])
    assert out.endswith(f"\n{MASK}\nafter the key")


def test_the_corpus_is_idempotent() -> None:
    raws = [line for line, _ in SECRET_LINES] + [raw for raw, _ in TERMINAL_CASES] + CLEAN_LINES + [AZURE_SDK_DUMP]
    for raw in raws:
        once = sanitise(raw)
        assert sanitise(once) == once, raw


def test_empty_text() -> None:
    assert sanitise("") == ""
