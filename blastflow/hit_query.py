"""Questions the results page and the summary ask of a search's hits, answered by DuckDB over `hits.parquet`.

Why Parquet + DuckDB: a search can have millions of hits. Finalize writes them
once, streaming, to a columnar Parquet file (pyarrow); every question here is
one SQL statement DuckDB runs over that file: a page of rows (ORDER BY … LIMIT
… OFFSET), a filtered count, binned histograms, hits per query, one query's
overview rows. Only the answer (a page, a few dozen bins) reaches the page
process, never the rows; with pyarrow alone every sort or filter would need
every row in memory. Nothing here imports Streamlit: the page is a thin shell.

SQL is built only from this module's constants: the sort column comes from an
allow-list (`SORT_COLUMNS`), and every value a person types (and the file's
path) is a bound parameter. One in-memory DuckDB per process serves every
question, each on its own cursor: opening a database costs about 0.1 s, a
cursor nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:  # pandas only where a frame is returned: finalize's questions never import it (start-up cost)
    import pandas as pd

__all__ = [
    "EVALUE_SCORE_CAP",
    "HIT_TABLE_COLUMNS",
    "SORT_COLUMNS",
    "HitFilter",
    "count_hits",
    "evalue_histogram",
    "hits_per_query",
    "identity_histogram",
    "overview_rows",
    "page",
    "queries_with_hits",
    "query_names",
    "top_hits",
    "totals",
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
# People's column name -> field: the only names a sort may use.
SORT_COLUMNS: dict[str, str] = {header: field for field, header in HIT_TABLE_COLUMNS.items()}
_SELECT = ", ".join(f'{field} AS "{header}"' for field, header in HIT_TABLE_COLUMNS.items())
_SCORE = f"least({EVALUE_SCORE_CAP}, -log10(greatest(evalue, 1e-{int(EVALUE_SCORE_CAP)})))"


@dataclass(frozen=True, slots=True)
class HitFilter:
    """Which hits a table shows: text in query, subject or description; e-value and identity bounds."""

    text: str = ""
    max_evalue: float | None = None
    min_identity: float = 0.0

    def where(self) -> tuple[str, dict[str, Any]]:
        """The SQL condition (constants only) and its named parameters."""
        terms, params = ["TRUE"], {}
        needle = self.text.strip()
        if needle:  # ILIKE scans a million titles several times faster than lower() + contains()
            terms.append("(query ILIKE $text ESCAPE '\\' OR subject ILIKE $text ESCAPE '\\' "
                         "OR description ILIKE $text ESCAPE '\\')")  # fmt: skip
            params["text"] = f"%{_escape_like(needle)}%"
        if self.max_evalue is not None:
            terms.append("evalue <= $max_evalue")
            params["max_evalue"] = float(self.max_evalue)
        if self.min_identity > 0:
            terms.append("pct_identity >= $min_identity")
            params["min_identity"] = float(self.min_identity)
        return " AND ".join(terms), params


def _escape_like(text: str) -> str:
    r"""`text` as a literal inside a LIKE pattern: its own `%`, `_` and `\` match themselves.

    Example:
        >>> _escape_like("50%_a\\b")
        '50\\%\\_a\\\\b'
    """
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_ALL = HitFilter()
_HITS = "read_parquet($path, file_row_number = true)"  # file_row_number: BLAST's order, for ties
_db: duckdb.DuckDBPyConnection | None = None
_db_lock = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on this process's in-memory DuckDB (made on first use)."""
    global _db
    with _db_lock:
        if _db is None:
            _db = duckdb.connect()
        return _db.cursor()


def _execute(path: Path, sql: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Run `sql`, in which `hits` stands for the Parquet file at `path`."""
    cursor = _cursor()
    try:
        return cursor.execute(sql.replace("FROM hits", f"FROM {_HITS}"), {"path": str(path), **(params or {})})
    except BaseException:
        cursor.close()
        raise


def _frame(path: Path, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    cursor = _execute(path, sql, params)
    try:
        return cursor.df()
    finally:
        cursor.close()


def _records(path: Path, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of `sql` as column-named dicts, without pandas."""
    cursor = _execute(path, sql, params)
    try:
        names = [column[0] for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _row(path: Path, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
    cursor = _execute(path, sql, params)
    try:
        return cursor.fetchone() or ()
    finally:
        cursor.close()


def totals(path: Path) -> tuple[int, int]:
    """(hits, queries with hits) of the whole search."""
    hits, queries = _row(path, "SELECT count(*), count(DISTINCT query) FROM hits")
    return int(hits), int(queries)


def queries_with_hits(path: Path) -> set[str]:
    """The ids of the queries that have at least one hit."""
    return {row["query"] for row in _records(path, "SELECT DISTINCT query FROM hits")}


def count_hits(path: Path, hit_filter: HitFilter = _ALL) -> int:
    """How many hits pass `hit_filter`."""
    where, params = hit_filter.where()
    return int(_row(path, f"SELECT count(*) FROM hits WHERE {where}", params)[0])


def _order(sort: str, descending: bool) -> str:
    """ORDER BY terms for a people's column name from `SORT_COLUMNS`; ties keep file order (BLAST's)."""
    if sort not in SORT_COLUMNS:
        raise ValueError(f"cannot sort by {sort!r}: choose one of {', '.join(SORT_COLUMNS)}")
    return f"{SORT_COLUMNS[sort]} {'DESC' if descending else 'ASC'}, file_row_number"


def page(
    path: Path,
    hit_filter: HitFilter = _ALL,
    *,
    sort: str = "E-value",
    descending: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> pd.DataFrame:
    """One page of the filtered hits, sorted, with people's column names (`HIT_TABLE_COLUMNS`).

    Raises:
        ValueError: `sort` is not a column of the table, or `offset`/`limit` is negative.
    """
    if offset < 0 or limit < 0:
        raise ValueError(f"a page needs offset ≥ 0 and limit ≥ 0 (got offset {offset}, limit {limit})")
    where, params = hit_filter.where()
    sql = f"SELECT {_SELECT} FROM hits WHERE {where} ORDER BY {_order(sort, descending)} LIMIT $limit OFFSET $offset"
    return _frame(path, sql, {**params, "limit": int(limit), "offset": int(offset)})


def evalue_histogram(path: Path, bins: int = 40) -> pd.DataFrame:
    """Hits binned by -log10(e-value) (0 capped at `EVALUE_SCORE_CAP`): columns From, To, Hits."""
    return _histogram(path, _SCORE, bins, fixed=None)


def identity_histogram(path: Path, bins: int = 40) -> pd.DataFrame:
    """Hits binned by percent identity over 0–100: columns From, To, Hits."""
    return _histogram(path, "pct_identity", bins, fixed=(0.0, 100.0))


def _histogram(path: Path, value: str, bins: int, fixed: tuple[float, float] | None) -> pd.DataFrame:
    """Equal-width bins between the value's range (or `fixed`); only non-empty bins are returned."""
    bounds = f"SELECT min({value}) AS lo, max({value}) AS hi FROM hits"
    params: dict[str, Any] = {"bins": int(bins)}
    if fixed:
        bounds = "SELECT $lo::DOUBLE AS lo, $hi::DOUBLE AS hi"
        params.update(lo=fixed[0], hi=fixed[1])
    sql = f"""
        WITH b AS ({bounds}), w AS (SELECT lo, greatest((hi - lo) / $bins, 1e-9) AS width FROM b)
        SELECT lo + k * width AS "From", lo + (k + 1) * width AS "To", count(*) AS "Hits"
        FROM (SELECT least(greatest(floor(({value} - lo) / width), 0), $bins - 1)::BIGINT AS k, lo, width
              FROM hits, w)
        GROUP BY k, lo, width ORDER BY k
    """
    return _frame(path, sql, params)


def hits_per_query(path: Path, top: int = 40) -> pd.DataFrame:
    """Number of hits per query, most first (columns Query, Hits), the `top` queries."""
    sql = 'SELECT query AS "Query", count(*) AS "Hits" FROM hits GROUP BY query ORDER BY 2 DESC, 1 LIMIT $top'
    return _frame(path, sql, {"top": int(top)})


def query_names(path: Path, search: str = "", limit: int = 200) -> list[str]:
    """Queries for a picker: those with most hits first, only those containing `search` (any case) if given."""
    sql = (
        "SELECT query FROM hits WHERE contains(lower(query), lower($search)) "
        "GROUP BY query ORDER BY count(*) DESC, query LIMIT $limit"
    )
    return _frame(path, sql, {"search": search.strip(), "limit": int(limit)})["query"].tolist()


def overview_rows(path: Path, query: str, limit: int = 50) -> pd.DataFrame:
    """The graphical overview of one query: one bar per hit from query start to end, best hits first.

    Bars are stacked by rank (`Row`); `-log10 E` colours them (e-value 0 scores `EVALUE_SCORE_CAP`).
    """
    sql = f"""
        SELECT row_number() OVER (ORDER BY evalue, bitscore DESC, file_row_number) AS "Row", subject AS "Subject",
               description AS "Description", least(q_start, q_end) AS "Start", greatest(q_start, q_end) AS "End",
               evalue AS "E-value", {_SCORE} AS "-log10 E", pct_identity AS "% identity",
               query_length AS "Query length"
        FROM hits WHERE query = $query
        ORDER BY "Row" LIMIT $limit
    """
    return _frame(path, sql, {"query": query, "limit": int(limit)})


def top_hits(path: Path, limit: int = 25) -> list[dict[str, Any]]:
    """The best hits (lowest e-value, then highest bit score, then file order) as field-named rows."""
    sql = "SELECT * EXCLUDE (file_row_number) FROM hits ORDER BY evalue, bitscore DESC, file_row_number LIMIT $limit"
    return _records(path, sql, {"limit": int(limit)})
