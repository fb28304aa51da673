"""The hits as the results tabs show them: people's column names, and the e-value score of the plots.

The rows themselves never come here whole: Descriptions and Plots ask
`blastflow.hit_query` for a page, a count or binned counts (DuckDB over the
search's Parquet file). Pure, tested without Streamlit.

`shown_hits` is the page's boundary for hit text: query and subject ids and
descriptions come from the user's FASTA headers (hits.tsv keeps them as BLAST
wrote them), so what the page sends is sanitised here, once.
"""

from __future__ import annotations

import math

import pandas as pd

from blastflow.hit_query import EVALUE_SCORE_CAP, HIT_TABLE_COLUMNS
from blastflow.sanitise import sanitise

__all__ = ["EVALUE_SCORE_CAP", "HIT_TABLE_COLUMNS", "HIT_TEXT_COLUMNS", "neg_log10_evalue", "shown_hits"]

# The columns holding text from the FASTA headers (the rest are numbers BLAST computed).
HIT_TEXT_COLUMNS = tuple(HIT_TABLE_COLUMNS[name] for name in ("query", "subject", "description"))


def neg_log10_evalue(evalue: float) -> float:
    """-log10 of an e-value, the higher the better the hit; an e-value of 0 scores `EVALUE_SCORE_CAP`.

    The one scale of the e-value plots and the overview's colours (`hit_query` computes the same in SQL).

    Example:
        >>> neg_log10_evalue(1e-50), neg_log10_evalue(0.0), neg_log10_evalue(10.0)
        (50.0, 300.0, -1.0)
    """
    return min(EVALUE_SCORE_CAP, -math.log10(max(evalue, 10.0**-EVALUE_SCORE_CAP)))


def shown_hits(rows: pd.DataFrame) -> pd.DataFrame:
    """A page of hits as the page may show it: every text column sanitised (a copy; `rows` stays as read).

    Example:
        >>> rows = pd.DataFrame({"Query": ["q1"], "Subject": ["s1"], "Description": ["\\x1b[31mkinase\\x1b[0m"]})
        >>> shown_hits(rows)["Description"].tolist(), rows["Description"].tolist() == ["\\x1b[31mkinase\\x1b[0m"]
        (['kinase'], True)
    """
    shown = rows.copy()
    for column in HIT_TEXT_COLUMNS:
        if column in shown.columns:
            shown[column] = shown[column].map(_sanitised, na_action="ignore")
    return shown


def _sanitised(value: object) -> object:
    return sanitise(value) if isinstance(value, str) else value
