"""The hits as the results tabs show them: people's column names, and the e-value score of the plots.

The rows themselves never come here whole: Descriptions and Plots ask
`blastflow.hit_query` for a page, a count or binned counts (DuckDB over the
search's Parquet file). Pure, tested without Streamlit.
"""

from __future__ import annotations

import math

from blastflow.hit_query import EVALUE_SCORE_CAP, HIT_TABLE_COLUMNS

__all__ = ["EVALUE_SCORE_CAP", "HIT_TABLE_COLUMNS", "neg_log10_evalue"]


def neg_log10_evalue(evalue: float) -> float:
    """-log10 of an e-value, the higher the better the hit; an e-value of 0 scores `EVALUE_SCORE_CAP`.

    The one scale of the e-value plots and the overview's colours (`hit_query` computes the same in SQL).

    Example:
        >>> neg_log10_evalue(1e-50), neg_log10_evalue(0.0), neg_log10_evalue(10.0)
        (50.0, 300.0, -1.0)
    """
    return min(EVALUE_SCORE_CAP, -math.log10(max(evalue, 10.0**-EVALUE_SCORE_CAP)))
