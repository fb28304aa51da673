"""The hits as the results tabs show them: one table with people's column names, and what is cut from it.

Descriptions (`ui/results.py`) filters this table; Plots (`ui/plots.py`) counts,
bins and draws it. Pure pandas, tested without Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from blastflow.hits import Hit

__all__ = [
    "EVALUE_SCORE_CAP",
    "HIT_TABLE_COLUMNS",
    "filter_hits",
    "hits_frame",
    "hits_per_query",
    "neg_log10_evalue",
    "overview_rows",
]

EVALUE_SCORE_CAP = 300.0  # the -log10 score of an e-value of 0 (or of any below 1e-300)

# Hit field -> column header, in the order of the Descriptions table.
HIT_TABLE_COLUMNS: dict[str, str] = {
    "query": "Query",
    "subject": "Subject",
    "description": "Description",
    "pct_identity": "% identity",
    "length": "Alignment length",
    "evalue": "E-value",
    "bitscore": "Bit score",
    "query_coverage": "Query coverage %",
    "mismatches": "Mismatches",
    "gap_opens": "Gap opens",
    "q_start": "Query start",
    "q_end": "Query end",
    "s_start": "Subject start",
    "s_end": "Subject end",
    "query_length": "Query length",
    "subject_length": "Subject length",
}


def hits_frame(hits: Sequence[Hit]) -> pd.DataFrame:
    """The hits as a table with people's column names, in the Descriptions order.

    Example:
        >>> h = Hit("q1", "s1", "kinase", 99.5, 100, 0, 0, 1, 100, 5, 104, 1e-50, 180.0, 100.0, 100, 300)
        >>> list(hits_frame([h]).columns[:3]), float(hits_frame([h])["E-value"][0])
        (['Query', 'Subject', 'Description'], 1e-50)
    """
    frame = pd.DataFrame(
        [{field: getattr(hit, field) for field in HIT_TABLE_COLUMNS} for hit in hits], columns=list(HIT_TABLE_COLUMNS)
    )
    return frame.rename(columns=HIT_TABLE_COLUMNS)


def neg_log10_evalue(evalue: float) -> float:
    """-log10 of an e-value, the higher the better the hit; an e-value of 0 scores `EVALUE_SCORE_CAP`.

    The one scale of the e-value plots and the overview's colours.

    Example:
        >>> neg_log10_evalue(1e-50), neg_log10_evalue(0.0), neg_log10_evalue(10.0)
        (50.0, 300.0, -1.0)
    """
    return min(EVALUE_SCORE_CAP, -math.log10(max(evalue, 10.0**-EVALUE_SCORE_CAP)))


def filter_hits(
    frame: pd.DataFrame, text: str = "", max_evalue: float | None = None, min_identity: float = 0.0
) -> pd.DataFrame:
    """Hits whose query, subject or description contains `text`, within the e-value and identity bounds."""
    keep = pd.Series(True, index=frame.index)
    needle = text.strip().casefold()
    if needle:
        searchable = frame["Query"] + "\t" + frame["Subject"] + "\t" + frame["Description"]
        keep &= searchable.str.casefold().str.contains(needle, regex=False)
    if max_evalue is not None:
        keep &= frame["E-value"] <= max_evalue
    if min_identity > 0:
        keep &= frame["% identity"] >= min_identity
    return frame[keep].reset_index(drop=True)


def hits_per_query(frame: pd.DataFrame) -> pd.DataFrame:
    """Number of hits per query, most first (columns Query, Hits)."""
    counts = frame.groupby("Query", sort=False).size().reset_index(name="Hits")
    return counts.sort_values(["Hits", "Query"], ascending=[False, True], kind="stable").reset_index(drop=True)


def overview_rows(frame: pd.DataFrame, query: str, limit: int = 50) -> pd.DataFrame:
    """The graphical overview of one query: one bar per hit from query start to end, best hits first.

    Bars are stacked by rank (`Row`); `-log10 E` colours them (see `neg_log10_evalue`).
    """
    rows = frame[frame["Query"] == query].sort_values(["E-value", "Bit score"], ascending=[True, False])
    rows = rows.head(limit).reset_index(drop=True)
    start = rows[["Query start", "Query end"]].min(axis=1)
    end = rows[["Query start", "Query end"]].max(axis=1)
    return pd.DataFrame(
        {
            "Row": range(1, len(rows) + 1),
            "Subject": rows["Subject"],
            "Description": rows["Description"],
            "Start": start,
            "End": end,
            "E-value": rows["E-value"],
            "-log10 E": [neg_log10_evalue(v) for v in rows["E-value"]],
            "% identity": rows["% identity"],
            "Query length": rows["Query length"],
        }
    )
