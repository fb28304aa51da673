"""The run summary and the top-hits table (Prefect artifacts): hit text arrives sanitised, never raw."""

from __future__ import annotations

from datetime import UTC, datetime

from blastflow.model import JobRecord
from blastflow.summary import summary_markdown, top_hits_table
from tests.sanitise_corpus import ACCOUNT_KEY, GITHUB_TOKEN, SAS_QUERY, SAS_SIG

OSC8_LINK = "\x1b]8;;https://evil.example/\x07click here\x1b]8;;\x07"
SECRETS = (ACCOUNT_KEY, GITHUB_TOKEN, SAS_SIG, "hunter2-in-a-header")
HITS = [  # what a FASTA header can carry into a hit: keys, a SAS URL, escape codes, a pipe
    {"query": f"{GITHUB_TOKEN}", "subject": "password=hunter2-in-a-header",
     "description": f"\x1b[31mkinase\x1b[0m {OSC8_LINK} AccountName=a;AccountKey={ACCOUNT_KEY}; | "
                    f"https://acct.blob.core.windows.net/db?{SAS_QUERY}",
     "pct_identity": 99.456, "length": 300, "evalue": 1e-50, "bitscore": 500.04, "query_coverage": 100.0},
]  # fmt: skip


def _job() -> JobRecord:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return JobRecord(job_id="j", title="demo", program="blastp", database="prot", created_at=t, updated_at=t)


def test_the_top_hits_table_artifact_has_hit_text_sanitised() -> None:
    row = top_hits_table(HITS)[0]
    text = " ".join(str(value) for value in row.values())
    assert not [secret for secret in SECRETS if secret in text]
    assert "\x1b" not in text and "\x07" not in text
    assert row["description"].startswith("kinase click here AccountName=a;AccountKey=***; | ")  # the words stay
    assert row["description"].endswith("/db?***")
    assert (row["pct_identity"], row["evalue"], row["bitscore"]) == (99.46, "1e-50", 500.0)


def test_the_summary_artifact_has_hit_text_sanitised_and_its_table_intact() -> None:
    text = summary_markdown(_job(), "captured", hits=1, queries_hit=1, best=HITS)
    assert not [secret for secret in SECRETS if secret in text]
    assert "\x1b" not in text
    assert "| *** | password=*** | 99.46 | 1e-50 | 500.0 |" in text
