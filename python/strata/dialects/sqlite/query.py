"""The SQL of the typed client on SQLite: the statements `strata.client` runs and the
conditions, expressions and clauses they are made of. The client owns their meaning (what a
read selects, what each filter means, the order of nested writes); this module only writes
it as SQLite SQL.

Names passed in are quoted SQL names (`quote`), qualified where a function says so
(`qualified`); conditions and expressions are SQL text as these functions return them.
Values are always ``?`` parameters: the client binds them in the order they appear in the
statement, so a function that binds (it takes ``bind``, a function that records a value and
returns its placeholder) calls it in that order.

SQLite's choices the client relies on, spelled here:

* ``LIKE`` ignores ASCII case (and only ASCII case, without the ICU extension), so it is
  the case-insensitive test, with ``%``, ``_`` and ``\\`` escaped in the value; the
  case-sensitive ``contains``/``starts_with``/``ends_with`` use ``instr`` and ``substr``.
* Scalar lists are JSON arrays in a TEXT column, read with ``json_each`` and appended to
  with ``json_insert``. ``json_each``'s value of a string stops at a NUL (SQLite's C string
  functions), so "a\\0b" would match "a": string elements are compared by their JSON text,
  which escapes NUL.
* Json filters run in the core's ``strata_json_match`` function (`rust/json_filter.rs`).
* ``LIMIT -1`` means no limit; a row's ``rowid`` finds it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from strata.dialects.sqlite.datetimes import (
    census_sql,
    first_form_sql,
    foreign_value_sql,
    instant_sql,
    rewrite_batch_sql,
    rewrite_update_sql,
)
from strata.dialects.sqlite.ddl import quote
from strata.dialects.standard_query import (
    aggregate,
    assignment,
    count_all,
    count_rows,
    count_sql,
    delete_sql,
    exists,
    exists_sql,
    grouped,
    in_list,
    is_not_null,
    is_null,
    joined,
    like_pattern,
    narrowed,
    negated,
    null,
    qualified,
    returning_clause,
    rows,
    select_sql,
    table_as,
    update_sql,
    value_of,
)

if TYPE_CHECKING:
    from strata.dialects.base import Bind

__all__ = [
    "aggregate",
    "all_of",
    "always",
    "any_of",
    "arithmetic",
    "assignment",
    "census_sql",
    "collected",
    "compare",
    "count_all",
    "count_rows",
    "count_sql",
    "delete_sql",
    "exists",
    "exists_sql",
    "first_form_sql",
    "first_non_null",
    "foreign_value_sql",
    "grouped",
    "in_list",
    "insert_sql",
    "instant_sql",
    "is_not_null",
    "is_null",
    "joined",
    "json_match",
    "keys_in",
    "link_sql",
    "list_appended",
    "list_empty",
    "list_overlaps",
    "load_sql",
    "locking",
    "lower",
    "narrowed",
    "native_upsert",
    "negated",
    "never",
    "not_true",
    "null",
    "order_term",
    "pagination",
    "placeholder",
    "qualified",
    "quote",
    "rewrite_batch_sql",
    "rewrite_update_sql",
    "row_id",
    "rows",
    "select_sql",
    "string_match",
    "table_as",
    "update_sql",
    "upsert_sql",
    "value_of",
]

# -- names and parameters -------------------------------------------------------------------


#: An upsert reads, then writes, inside a write transaction: SQLite's write lock, taken at
#: the start, keeps every other writer out in between, so no conflict can come in.
native_upsert = False


def row_id(alias: str, key: Sequence[str]) -> str:
    """The column that finds a row of the table aliased ``alias`` again: its rowid."""
    return f"{alias}.rowid"


def placeholder(index: int) -> str:
    """A positional parameter: ``?`` takes them in the order they appear."""
    return "?"


# -- conditions -------------------------------------------------------------------------------


def always() -> str:
    """The condition that always holds."""
    return "1"


def never() -> str:
    """The condition that never holds."""
    return "0"


def all_of(conditions: Sequence[str]) -> str:
    """All of ``conditions`` (as written: group those that need it); `always` for none."""
    return " AND ".join(conditions) or "1"


def any_of(conditions: Sequence[str]) -> str:
    """Any of ``conditions``, grouped; `never` for none."""
    return f"({' OR '.join(conditions)})" if conditions else "0"


def not_true(condition: str) -> str:
    """The condition that ``condition`` is false or unknown (NULL)."""
    return f"NOT IFNULL(({condition}), 0)"


_COMPARISONS = {
    "equals": "=",
    "not": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
}


def compare(left: str, operator: str, right: str) -> str:
    """``left`` compared with ``right``: ``operator`` is ``equals``, ``not``, ``lt``,
    ``lte``, ``gt`` or ``gte``."""
    return f"{left} {_COMPARISONS[operator]} {right}"


def keys_in(columns: Sequence[str], keys: Sequence[Sequence[str]]) -> str:
    """``columns`` (qualified) equal to one of ``keys``, each key's values as expressions
    (placeholders) in column order."""
    if len(columns) == 1:
        return f"{columns[0]} IN ({', '.join(key[0] for key in keys)})"
    rows = ", ".join("(" + ", ".join(key) + ")" for key in keys)
    return f"({', '.join(columns)}) IN (VALUES {rows})"


def lower(expression: str) -> str:
    """Text ``expression`` folded to lower case, as case-insensitive comparisons see it."""
    return f"lower({expression})"


def string_match(column: str, operator: str, text: str, bind: Bind, *, insensitive: bool) -> str:
    """Text ``column`` tested against ``text``: ``contains``, ``starts_with``,
    ``ends_with``, or (only ``insensitive``) ``equals``."""
    if insensitive:
        pattern = like_pattern(
            text,
            "" if operator in ("equals", "starts_with") else "%",
            "" if operator in ("equals", "ends_with") else "%",
        )
        return f"{column} LIKE {bind(pattern)} ESCAPE '\\'"
    if operator == "contains":
        return f"instr({column}, {bind(text)}) > 0"
    if operator == "starts_with":
        # instr finds the first occurrence, so position 1 means "starts with".
        return f"instr({column}, {bind(text)}) = 1"
    if operator != "ends_with":
        raise ValueError(f"not a case-sensitive text test: {operator!r}")
    # ends_with: the tail as long as the value. With an empty value the tail starts past
    # the end and is '', which matches, as it should.
    length = f"length({bind(text)})"
    return f"substr({column}, length({column}) - {length} + 1) = {bind(text)}"


def json_match(
    column: str, path: Sequence[str | int], operator: str, operand: Any, bind: Bind
) -> str:
    """The core's test of a Json column: the test ``[path, operator, operand]`` is bound
    as JSON, so neither keys nor values ever pass through SQLite's JSON path syntax."""
    # ASCII escapes carry even a lone surrogate exactly (as JSON.stringify writes it).
    spec = json.dumps([list(path), operator, operand], allow_nan=False, separators=(",", ":"))
    return f"strata_json_match({column}, {bind(spec)})"


def list_empty(column: str, empty: bool) -> str:
    """Whether scalar list ``column`` is empty (NULL has no elements), or not."""
    return f"IFNULL(json_array_length({column}), 0) {'= 0' if empty else '> 0'}"


def _elements(array: Callable[[], str], by_text: bool) -> str:
    """The elements of a JSON array (NULL has none) as rows of ``element``; ``array`` is
    called for each place the array appears."""
    if by_text:
        return f"SELECT {array()} -> key AS element FROM json_each({array()})"
    return f"SELECT value AS element FROM json_each({array()})"


def list_overlaps(column: str, given: Callable[[], str], *, every: bool, by_text: bool) -> str:
    """Whether scalar list ``column`` holds every one (``every``) or some of the elements
    of the JSON array parameter ``given`` binds; ``by_text`` for String elements."""
    mine = _elements(lambda: column, by_text)
    if every:
        wanted = _elements(given, by_text)
        return f"NOT EXISTS (SELECT 1 FROM ({wanted}) WHERE element NOT IN ({mine}))"
    return f"EXISTS (SELECT 1 FROM ({mine}) WHERE element IN ({_elements(given, by_text)}))"


# -- row sets and subqueries ----------------------------------------------------------------


# -- ordering and paging -------------------------------------------------------------------


def order_term(expression: str, direction: str, nulls: str | None = None) -> str:
    """Sort by ``expression``, ``asc`` or ``desc``, with NULLs ``first`` or ``last``
    when ``nulls`` says (else where the database puts them)."""
    suffix = direction.upper() + (f" NULLS {nulls.upper()}" if nulls else "")
    return f"{expression} {suffix}"


def pagination(limit: int | None, offset: int, bind: Bind) -> str:
    """At most ``limit`` rows (None: all) after the first ``offset``, both bound."""
    return f"LIMIT {bind(-1 if limit is None else limit)} OFFSET {bind(offset)}"


# -- aggregates -----------------------------------------------------------------------------


def collected(column: str) -> str:
    """The non-NULL values of ``column`` as a JSON array (a REAL as its 15 significant
    digits): the values of a Decimal sum or average, which the client adds exactly."""
    return f"json_group_array({column}) FILTER (WHERE {column} IS NOT NULL)"


# -- statements -----------------------------------------------------------------------------


def locking(select: str) -> str:
    """``select`` as it is: a write transaction holds SQLite's write lock from its start."""
    return select


def load_sql(
    columns: Sequence[str],
    source: str,
    condition: str,
    order_by: Sequence[str],
    *,
    partition: Sequence[str] = (),
    skip: str | None = None,
    take: str | None = None,
) -> str:
    """Related rows of many parents at once: ``columns`` of ``source`` (`table_as`,
    `joined`) where ``condition`` holds, in ``order_by`` order. With ``skip`` (a
    parameter: rows to skip) each parent's rows, ``partition`` (its key columns), are
    numbered in order and only those after ``skip`` and up to ``take`` (a parameter: the
    last row number kept) are read, with the number as one more column at the end."""
    head = f"SELECT {', '.join(columns)}"
    body = f"FROM {source} WHERE {condition}"
    if skip is None:
        return f"{head} {body}" + (f" ORDER BY {', '.join(order_by)}" if order_by else "")
    over = ", ".join(partition)
    ordering = ", ".join(order_by) or over
    sql = (
        f"SELECT * FROM ({head}, ROW_NUMBER() OVER (PARTITION BY {over} "
        f"ORDER BY {ordering}) AS _rn {body}) WHERE _rn > {skip}"
    )
    if take is not None:
        sql += f" AND _rn <= {take}"
    return sql + " ORDER BY _rn"


def insert_sql(table: str, columns: Sequence[str], returning: Sequence[str] = ()) -> str:
    """An INSERT of one row into ``columns`` (parameters in that order; none: every
    column's default), returning the row's ``returning`` columns."""
    if not columns:
        return f"INSERT INTO {table} DEFAULT VALUES" + returning_clause(returning)
    values = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})" + returning_clause(
        returning
    )


def upsert_sql(
    table: str,
    alias: str,
    columns: Sequence[str],
    conflict: Sequence[str],
    assignments: Sequence[str],
    returning: Sequence[str],
) -> str:
    """Not used on SQLite (`native_upsert`), written for the protocol's sake."""
    values = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} AS {alias} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {', '.join(assignments)}"
        + returning_clause(returning)
    )


def link_sql(table: str, source: str, target: str) -> str:
    """A join-table row linking two records (parameters: source key, target key); an
    existing link stays as it is."""
    return f"INSERT INTO {table} ({source}, {target}) VALUES (?, ?) ON CONFLICT DO NOTHING"


# -- assignments ------------------------------------------------------------------------------


def first_non_null(expression: str, otherwise: str) -> str:
    """``expression``, or ``otherwise`` where it is NULL."""
    return f"IFNULL({expression}, {otherwise})"


_ARITHMETIC = {"increment": "+", "decrement": "-", "multiply": "*", "divide": "/"}


def arithmetic(column: str, operation: str, operand: str) -> str:
    """Numeric ``column`` after ``increment``, ``decrement``, ``multiply`` or
    ``divide`` by ``operand``, computed by the database on the stored value."""
    return f"{column} {_ARITHMETIC[operation]} {operand}"


def list_appended(column: str, array: Callable[[], str], count: int) -> str:
    """Scalar list ``column`` with the ``count`` elements of a JSON array appended, in
    the statement, so that concurrent appends keep each other's elements. ``array`` binds
    the array, once for each element read from it: ``->`` hands each element to
    json_insert as JSON, whatever its type, and ``$[#]`` appends it."""
    if not count:
        return column
    appended = ", ".join(f"'$[#]', {array()} -> {i}" for i in range(count))
    return f"json_insert(IFNULL({column}, '[]'), {appended})"
