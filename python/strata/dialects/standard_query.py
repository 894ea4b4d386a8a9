"""The parts of the client's SQL that SQLite and PostgreSQL spell alike: plain standard SQL
(select lists, joins, EXISTS, aggregates, UPDATE and DELETE with RETURNING). Each dialect's
``query`` module re-exports these beside what it spells its own way (`strata.dialects.
sqlite.query`, `strata.dialects.postgresql.query`), so the client sees one module per
database and the SQL both share is written once.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "aggregate",
    "assignment",
    "count_all",
    "count_rows",
    "count_sql",
    "delete_sql",
    "exists",
    "exists_sql",
    "grouped",
    "in_list",
    "is_not_null",
    "is_null",
    "joined",
    "like_pattern",
    "narrowed",
    "negated",
    "null",
    "qualified",
    "returning_clause",
    "rows",
    "select_sql",
    "table_as",
    "update_sql",
    "value_of",
]


def qualified(alias: str, column: str) -> str:
    """``column`` of the table aliased ``alias``."""
    return f"{alias}.{column}"


def table_as(table: str, alias: str) -> str:
    """``table`` under ``alias``, as a statement's source."""
    return f"{table} AS {alias}"


def joined(left: str, right: str, on: str) -> str:
    """Source ``left`` joined with source ``right`` where ``on`` holds."""
    return f"{left} JOIN {right} ON {on}"


def negated(condition: str) -> str:
    """Not ``condition`` (group it unless it is one term)."""
    return f"NOT {condition}"


def grouped(condition: str) -> str:
    """``condition`` in parentheses, to combine it with others."""
    return f"({condition})"


def is_null(expression: str) -> str:
    return f"{expression} IS NULL"


def is_not_null(expression: str) -> str:
    return f"{expression} IS NOT NULL"


def in_list(expression: str, values: Sequence[str], *, negated: bool = False) -> str:
    """``expression`` (not, when ``negated``) among ``values`` (expressions, parameters);
    none matches no value."""
    negation = "NOT " if negated else ""
    return f"{expression} {negation}IN ({', '.join(values) or 'NULL'})"


def like_pattern(value: str, prefix: str, suffix: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{prefix}{escaped}{suffix}"


def rows(source: str, condition: str) -> str:
    """The rows of ``source`` where ``condition`` holds, for `exists`, `count_rows`,
    `value_of` and `narrowed`."""
    return f"FROM {source} WHERE {condition}"


def narrowed(rows: str, condition: str) -> str:
    """``rows`` (from `rows`) where ``condition`` holds as well (group it unless it is
    one term)."""
    return f"{rows} AND {condition}"


def exists(rows: str) -> str:
    """Whether ``rows`` has a row."""
    return f"EXISTS (SELECT 1 {rows})"


def count_rows(rows: str) -> str:
    """The number of ``rows``, as an expression."""
    return f"(SELECT COUNT(*) {rows})"


def value_of(expression: str, rows: str) -> str:
    """``expression`` read from the one row of ``rows``, as an expression."""
    return f"(SELECT {expression} {rows})"


_AGGREGATES = {"count": "COUNT", "avg": "AVG", "sum": "SUM", "min": "MIN", "max": "MAX"}


def count_all() -> str:
    """The number of rows, as an aggregate."""
    return "COUNT(*)"


def aggregate(function: str, expression: str) -> str:
    """``count``, ``avg``, ``sum``, ``min`` or ``max`` of ``expression``."""
    return f"{_AGGREGATES[function]}({expression})"


def select_sql(
    columns: Sequence[str],
    table: str,
    alias: str,
    condition: str,
    *,
    group_by: Sequence[str] = (),
    having: str | None = None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
    window: str | None = None,
) -> str:
    """A SELECT of ``columns`` (expressions) from ``table`` as ``alias``: grouped,
    filtered by ``having``, sorted by ``order_by`` (`order_term`), at most ``limit`` rows,
    or the rows of ``window`` (`pagination`)."""
    sql = f"SELECT {', '.join(columns)} FROM {table} AS {alias} WHERE {condition}"
    if group_by:
        sql += f" GROUP BY {', '.join(group_by)}"
    if having is not None:
        sql += f" HAVING {having}"
    if order_by:
        sql += f" ORDER BY {', '.join(order_by)}"
    if limit is not None:
        sql += f" LIMIT {limit}"
    if window is not None:
        sql += f" {window}"
    return sql


def exists_sql(table: str, alias: str, condition: str) -> str:
    """One row if a row of ``table`` (as ``alias``) matches ``condition``, else none."""
    return f"SELECT 1 FROM {table} AS {alias} WHERE {condition} LIMIT 1"


def count_sql(table: str, alias: str, condition: str) -> str:
    """The number of rows of ``table`` (as ``alias``) matching ``condition``."""
    return f"SELECT COUNT(*) FROM {table} AS {alias} WHERE {condition}"


def returning_clause(columns: Sequence[str]) -> str:
    return " RETURNING " + ", ".join(columns) if columns else ""


def update_sql(
    table: str,
    alias: str,
    assignments: Sequence[str],
    condition: str,
    returning: Sequence[str] = (),
) -> str:
    """An UPDATE of the rows of ``table`` (as ``alias``) matching ``condition``,
    returning each row's ``returning`` columns as it is now."""
    return (
        f"UPDATE {table} AS {alias} SET {', '.join(assignments)} WHERE {condition}"
        + returning_clause(returning)
    )


def delete_sql(table: str, alias: str | None, condition: str, returning: Sequence[str] = ()) -> str:
    """A DELETE of the rows of ``table`` (as ``alias``, when given) matching
    ``condition``, returning each row's ``returning`` columns as it was."""
    source = table if alias is None else f"{table} AS {alias}"
    return f"DELETE FROM {source} WHERE {condition}" + returning_clause(returning)


def assignment(column: str, value: str) -> str:
    """``column`` set to ``value`` (a parameter or an expression)."""
    return f"{column} = {value}"


def null() -> str:
    """The NULL value, as an expression."""
    return "NULL"
