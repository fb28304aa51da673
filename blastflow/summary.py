"""The run summary people read in Prefect's artifacts and the CLI: pure text from data."""

from __future__ import annotations

from collections.abc import Sequence

from blastflow.hits import Hit
from blastflow.model import JobRecord

__all__ = ["summary_markdown", "top_hits_table"]


def _cell(text: object) -> str:
    # Markdown table cells: a pipe or newline in a description would break the row.
    return str(text).replace("|", "\\|").replace("\n", " ")


def top_hits_table(hits: Sequence[Hit], limit: int = 25) -> list[dict[str, object]]:
    """The best hits (lowest e-value, then highest bit score) as rows for a table artifact.

    Example:
        >>> h = Hit("q1", "s1", "kinase", 99.5, 300, 1, 0, 1, 300, 1, 300, 1e-50, 500.0, 100.0, 300, 310)
        >>> top_hits_table([h])[0]["subject"], top_hits_table([h])[0]["evalue"]
        ('s1', '1e-50')
    """
    best = sorted(hits, key=lambda h: (h.evalue, -h.bitscore))[:limit]
    return [
        {
            "query": h.query,
            "subject": h.subject,
            "description": h.description,
            "pct_identity": round(h.pct_identity, 2),
            "length": h.length,
            "evalue": f"{h.evalue:.3g}",
            "bitscore": round(h.bitscore, 1),
            "query_coverage": round(h.query_coverage, 1),
        }
        for h in best
    ]


def summary_markdown(job: JobRecord, hits: Sequence[Hit], pod_logs: str, limit: int = 10) -> str:
    """A short markdown report of a finished search.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobRecord(job_id="j", title="demo", program="blastp", database="prot", created_at=t, updated_at=t)
        >>> "**0** hits" in summary_markdown(job, [], "captured")
        True
    """
    queries_hit = len({h.query for h in hits})
    lines = [
        f"# {_cell(job.title or 'BLAST search')}",
        "",
        f"- program: `{job.program}`; database: `{_cell(job.database)}`; backend: `{job.backend}`",
        f"- queries: {job.query_count:,} ({job.query_length:,} residues); with hits: {queries_hit:,}",
        f"- **{len(hits):,}** hits; results: `{_cell(job.results_location or '-')}`",
        f"- pod logs: {pod_logs}",
    ]
    if hits:
        lines += ["", "| query | subject | % id | e-value | bit score |", "|---|---|---:|---:|---:|"]
        for row in top_hits_table(hits, limit):
            lines.append(
                f"| {_cell(row['query'])} | {_cell(row['subject'])} | {row['pct_identity']} | {row['evalue']} "
                f"| {row['bitscore']} |"
            )
    return "\n".join(lines)
