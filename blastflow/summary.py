"""The run summary people read in Prefect's artifacts and the CLI: pure text from data.

Hit text (query and subject ids, descriptions) comes from the user's FASTA files and is sanitised here,
on its way to an artifact, never in hits.tsv (BLAST's data, which other tools read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from blastflow.model import JobRecord
from blastflow.sanitise import sanitise

__all__ = ["summary_markdown", "top_hits_table"]


def _cell(text: object) -> str:
    # Markdown table cells: a pipe or newline in a description would break the row.
    return sanitise(str(text)).replace("|", "\\|").replace("\n", " ")


def top_hits_table(best: Sequence[Mapping[str, Any]], limit: int = 25) -> list[dict[str, object]]:
    """The best hits as rows for a table artifact, from rows already best first (`hit_query.top_hits`).

    Rows are keyed by `Hit` field names; the whole search is never a list here (it can have millions of hits).
    The texts are sanitised: a description can carry anything a FASTA header did (a key, escape codes).

    Example:
        >>> h = {"query": "q1", "subject": "s1", "description": "kinase", "pct_identity": 99.5, "length": 300,
        ...      "evalue": 1e-50, "bitscore": 500.0, "query_coverage": 100.0}
        >>> top_hits_table([h])[0]["subject"], top_hits_table([h])[0]["evalue"]
        ('s1', '1e-50')
    """
    return [
        {
            "query": sanitise(str(h["query"])),
            "subject": sanitise(str(h["subject"])),
            "description": sanitise(str(h["description"])),
            "pct_identity": round(h["pct_identity"], 2),
            "length": int(h["length"]),
            "evalue": f"{h['evalue']:.3g}",
            "bitscore": round(h["bitscore"], 1),
            "query_coverage": round(h["query_coverage"], 1),
        }
        for h in best[:limit]
    ]


def summary_markdown(
    job: JobRecord, pod_logs: str, *, hits: int, queries_hit: int, best: Sequence[Mapping[str, Any]], limit: int = 10,
    without_hits: Sequence[str] = (),
) -> str:
    """A short markdown report of a finished search: its counts and its `limit` best hits (`best`, best first).

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobRecord(job_id="j", title="demo", program="blastp", database="prot", created_at=t, updated_at=t)
        >>> "**0** hits" in summary_markdown(job, "captured", hits=0, queries_hit=0, best=[])
        True
    """
    lines = [
        f"# {_cell(job.title or 'BLAST search')}",
        "",
        f"- program: `{job.program}`; database: `{_cell(job.database)}`; backend: `{job.backend}`",
        f"- queries: {job.query_count:,} ({job.query_length:,} residues); with hits: {queries_hit:,}",
        f"- **{hits:,}** hits; results: `{_cell(job.results_location or '-')}`",
        *([f"- queries without hits: {len(without_hits):,} ({_cell(_first(without_hits))}; all in `no_hits.txt`)"]
          if without_hits else []),
        f"- pod logs: {pod_logs}",
    ]
    if best:
        lines += ["", "| query | subject | % id | e-value | bit score |", "|---|---|---:|---:|---:|"]
        for row in top_hits_table(best, limit):
            lines.append(
                f"| {_cell(row['query'])} | {_cell(row['subject'])} | {row['pct_identity']} | {row['evalue']} "
                f"| {row['bitscore']} |"
            )
    return "\n".join(lines)


def _first(ids: Sequence[str], shown: int = 5) -> str:
    """The first few ids, and how many more."""
    more = len(ids) - shown
    return ", ".join(ids[:shown]) + (f" and {more:,} more" if more > 0 else "")
