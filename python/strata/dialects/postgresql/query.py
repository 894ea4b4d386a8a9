"""The SQL of the typed client on PostgreSQL: the statements `strata.client` runs and the
conditions, expressions and clauses they are made of, as `strata.dialects.sqlite.query`
writes them for SQLite. The client owns their meaning; this module writes it for a server.

Values are ``$n`` parameters: the client's ``bind`` records a value and returns its
placeholder, so a placeholder may appear more than once and the order of the values in the
text does not matter. Parameters are sent as text (rust/engine/postgres/value.rs) and the
server gives each the type its place in the statement asks for (a column's type, an enum,
``numeric``); where nothing asks, the SQL here casts.

PostgreSQL's choices the client relies on, spelled here:

* ``ILIKE`` is the case-insensitive test, with ``%``, ``_`` and ``\\`` escaped in the value;
  the case-sensitive ``contains``/``starts_with``/``ends_with`` use ``strpos`` and ``left``/
  ``right``, which take the value as it is.
* Scalar lists are native arrays: ``@>`` (has every), ``&&`` (has some), ``cardinality`` and
  ``||`` to append in the statement.
* Json filters are jsonb expressions with the semantics of the core's ``strata_json_match``
  on SQLite (`rust/json_filter.rs`): a path walks object keys (``->`` text) and array
  indices (``->`` int, or a key of canonical decimal digits, which also names an object
  key), values compare with jsonb's ``=`` (objects whatever their key order, numbers by
  value, ``true`` not ``1``), array tests compare elements one by one (not jsonb's
  recursive ``@>``), and the result is NULL where the column is NULL or the path leads
  nowhere.
* A row is found again by its primary key (PostgreSQL has no stable row id: a ``ctid``
  moves when the row is updated).
* ``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING`` is the race-free upsert.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from strata.dialects.postgresql.ddl import quote
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
from strata.errors import ConfigurationError

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

#: ``INSERT ... ON CONFLICT ... DO UPDATE`` decides insert or update under the unique
#: index's lock, so concurrent upserts of one key never both insert.
native_upsert = True

# -- names and parameters -------------------------------------------------------------------


def row_id(alias: str, key: Sequence[str]) -> str:
    """What finds a row of the table aliased ``alias`` again: its primary key (one
    column). A ``ctid`` would not do: it changes when the row is updated."""
    if len(key) != 1:
        raise ConfigurationError(
            "on PostgreSQL, strata finds rows it has just written by their primary key, "
            "which must then be a single column"
        )
    return f"{alias}.{key[0]}"


def placeholder(index: int) -> str:
    """The ``index``-th positional parameter."""
    return f"${index}"


# -- conditions -------------------------------------------------------------------------------


def always() -> str:
    """The condition that always holds."""
    return "TRUE"


def never() -> str:
    """The condition that never holds."""
    return "FALSE"


def all_of(conditions: Sequence[str]) -> str:
    """All of ``conditions`` (as written: group those that need it); `always` for none."""
    return " AND ".join(conditions) or "TRUE"


def any_of(conditions: Sequence[str]) -> str:
    """Any of ``conditions``, grouped; `never` for none."""
    return f"({' OR '.join(conditions)})" if conditions else "FALSE"


def not_true(condition: str) -> str:
    """The condition that ``condition`` is false or unknown (NULL)."""
    return f"({condition}) IS NOT TRUE"


_COMPARISONS = {
    "equals": "=",
    "not": "<>",
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
    (placeholders) in column order. Row constructors, not ``VALUES``: each value then takes
    its column's type, where ``VALUES`` would make untyped parameters text."""
    if len(columns) == 1:
        return f"{columns[0]} IN ({', '.join(key[0] for key in keys) or 'NULL'})"
    rows = ", ".join("(" + ", ".join(key) + ")" for key in keys)
    return f"({', '.join(columns)}) IN ({rows})"


def lower(expression: str) -> str:
    """Text ``expression`` folded to lower case, as case-insensitive comparisons see it."""
    return f"lower(({expression})::text)"


def string_match(column: str, operator: str, text: str, bind: Bind, *, insensitive: bool) -> str:
    """Text ``column`` tested against ``text``: ``contains``, ``starts_with``,
    ``ends_with``, or (only ``insensitive``) ``equals``. The column is read as text, so a
    String of another native type (``@db.Uuid``, ``@db.Char``) takes the tests too."""
    column = f"({column})::text"
    if insensitive:
        pattern = like_pattern(
            text,
            "" if operator in ("equals", "starts_with") else "%",
            "" if operator in ("equals", "ends_with") else "%",
        )
        return f"{column} ILIKE {bind(pattern)} ESCAPE '\\'"
    value = bind(text)
    if operator == "contains":
        # strpos finds '' at 1, so an empty value matches every text, as it should.
        return f"strpos({column}, {value}::text) > 0"
    if operator == "starts_with":
        return f"left({column}, length({value}::text)) = {value}::text"
    if operator != "ends_with":
        raise ValueError(f"not a case-sensitive text test: {operator!r}")
    return f"right({column}, length({value}::text)) = {value}::text"


# -- Json ---------------------------------------------------------------------------------------

#: An index past the end of any jsonb array (they hold fewer than 2**28 elements) that
#: still fits the int ``->`` takes: what a greater index is replaced with.
_NO_INDEX = 2**31 - 1
#: A key that also indexes an array, as `rust/json_filter.rs` reads one: "0", "12", not "012".
_INDEX_KEY = re.compile(r"0|[1-9][0-9]*")


def _json_at(column: str, path: Sequence[str | int], bind: Bind) -> str:
    """The jsonb value at ``path`` in ``column``, NULL where the path leads nowhere."""
    node = column
    for step in path:
        # `-> int` on a scalar gives the scalar itself (a scalar is a one-element array to
        # jsonb), so an index applies to arrays only; `-> text` on an array or a scalar
        # is NULL, as it should be.
        if isinstance(step, int):
            node = (
                f"(CASE WHEN jsonb_typeof({node}) = 'array' "
                f"THEN {node} -> {bind(min(step, _NO_INDEX))}::int END)"
            )
        elif _INDEX_KEY.fullmatch(step):
            index, key = bind(min(int(step), _NO_INDEX)), bind(step)
            node = (
                f"(CASE jsonb_typeof({node}) WHEN 'array' THEN {node} -> {index}::int "
                f"ELSE {node} -> {key}::text END)"
            )
        else:
            node = f"({node} -> {bind(step)}::text)"
    return node


def json_match(
    column: str, path: Sequence[str | int], operator: str, operand: Any, bind: Bind
) -> str:
    """Json ``column`` tested at ``path`` (see the module docstring): NULL on a NULL column
    or where the path leads nowhere, except ``is_null``, which holds for a JSON null, a
    missing path and a NULL column alike (all three read back as None)."""
    node = _json_at(column, path, bind)
    if operator == "is_null":
        return f"({node} IS NULL OR {node} = 'null'::jsonb)"
    if operator == "equals":
        return f"{node} = {_jsonb(operand, bind)}"
    if operator.startswith("string_"):
        text = f"({node} #>> '{{}}')"
        value = f"{bind(operand)}::text"
        test = {
            "string_contains": f"strpos({text}, {value}) > 0",
            "string_starts_with": f"left({text}, length({value})) = {value}",
            "string_ends_with": f"right({text}, length({value})) = {value}",
        }[operator]
        return f"(jsonb_typeof({node}) = 'string' AND {test})"
    if operator == "array_contains" and isinstance(operand, list):
        wanted = _jsonb(operand, bind)
        test = (
            f"NOT EXISTS (SELECT 1 FROM jsonb_array_elements({wanted}) AS w(v) "
            f"WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements({node}) AS i(v) "
            "WHERE i.v = w.v))"
        )
    elif operator == "array_contains":
        test = (
            f"EXISTS (SELECT 1 FROM jsonb_array_elements({node}) AS i(v) "
            f"WHERE i.v = {_jsonb(operand, bind)})"
        )
    elif operator in ("array_starts_with", "array_ends_with"):
        index = 0 if operator == "array_starts_with" else -1
        test = f"COALESCE({node} -> {index} = {_jsonb(operand, bind)}, FALSE)"
    else:
        raise ValueError(f"not a Json filter: {operator!r}")
    # CASE runs the element scan only on an array (jsonb_array_elements refuses others).
    return (
        f"(CASE WHEN {node} IS NULL THEN NULL WHEN jsonb_typeof({node}) <> 'array' "
        f"THEN FALSE ELSE {test} END)"
    )


def _jsonb(value: Any, bind: Bind) -> str:
    return f"{bind(json.dumps(value, allow_nan=False))}::jsonb"


# -- scalar lists -------------------------------------------------------------------------------


def list_empty(column: str, empty: bool) -> str:
    """Whether scalar list ``column`` is empty (NULL has no elements), or not."""
    return f"COALESCE(cardinality({column}), 0) {'= 0' if empty else '> 0'}"


def list_overlaps(column: str, given: Callable[[], str], *, every: bool, by_text: bool) -> str:
    """Whether scalar list ``column`` holds every one (``every``) or some of the elements
    of the array parameter ``given`` binds (its type is the column's)."""
    return f"COALESCE({column}, '{{}}') {'@>' if every else '&&'} {given()}"


# -- row sets and subqueries ----------------------------------------------------------------


# -- ordering and paging -------------------------------------------------------------------


def order_term(expression: str, direction: str, nulls: str | None = None) -> str:
    """Sort by ``expression``, ``asc`` or ``desc``, with NULLs ``first`` or ``last``
    when ``nulls`` says (else where PostgreSQL puts them: last in ascending order)."""
    suffix = direction.upper() + (f" NULLS {nulls.upper()}" if nulls else "")
    return f"{expression} {suffix}"


def pagination(limit: int | None, offset: int, bind: Bind) -> str:
    """At most ``limit`` rows (None: all) after the first ``offset``, both bound."""
    if limit is None:
        return f"OFFSET {bind(offset)}"
    return f"LIMIT {bind(limit)} OFFSET {bind(offset)}"


# -- aggregates -----------------------------------------------------------------------------


def collected(column: str) -> str:
    """The non-NULL values of ``column`` as JSON array text, each NUMERIC in its exact
    digits: the values of a Decimal sum or average, which the client adds exactly as on
    SQLite (so both databases give the same digits)."""
    return f"COALESCE(json_agg({column}) FILTER (WHERE {column} IS NOT NULL), '[]')::text"


# -- statements -----------------------------------------------------------------------------


def locking(select: str) -> str:
    """``select`` locking the rows it reads until the transaction ends."""
    return f"{select} FOR UPDATE"


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
        f"ORDER BY {ordering}) AS _rn {body}) AS _numbered WHERE _rn > {skip}"
    )
    if take is not None:
        sql += f" AND _rn <= {take}"
    return sql + " ORDER BY _rn"


def _values(count: int) -> str:
    return ", ".join(f"${index}" for index in range(1, count + 1))


def insert_sql(table: str, columns: Sequence[str], returning: Sequence[str] = ()) -> str:
    """An INSERT of one row into ``columns`` (parameters in that order; none: every
    column's default), returning the row's ``returning`` columns."""
    if not columns:
        return f"INSERT INTO {table} DEFAULT VALUES" + returning_clause(returning)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_values(len(columns))})"
        + returning_clause(returning)
    )


def upsert_sql(
    table: str,
    alias: str,
    columns: Sequence[str],
    conflict: Sequence[str],
    assignments: Sequence[str],
    returning: Sequence[str],
) -> str:
    """One row inserted into ``columns`` (parameters 1 to n), or, when a row with the same
    ``conflict`` columns exists, that row updated by ``assignments`` (which read it as
    ``alias``), returning ``returning`` either way. Without assignments the existing row's
    first conflict column is set to itself, so that it is locked and returned all the same
    (``DO NOTHING`` returns no row)."""
    sets = list(assignments) or [f"{conflict[0]} = {alias}.{conflict[0]}"]
    return (
        f"INSERT INTO {table} AS {alias} ({', '.join(columns)}) VALUES "
        f"({_values(len(columns))}) ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET "
        + ", ".join(sets)
        + returning_clause([qualified(alias, column) for column in returning])
    )


def link_sql(table: str, source: str, target: str) -> str:
    """A join-table row linking two records (parameters: source key, target key); an
    existing link stays as it is."""
    return f"INSERT INTO {table} ({source}, {target}) VALUES ($1, $2) ON CONFLICT DO NOTHING"


# -- assignments ------------------------------------------------------------------------------


def first_non_null(expression: str, otherwise: str) -> str:
    """``expression``, or ``otherwise`` where it is NULL."""
    return f"COALESCE({expression}, {otherwise})"


_ARITHMETIC = {"increment": "+", "decrement": "-", "multiply": "*", "divide": "/"}


def arithmetic(column: str, operation: str, operand: str) -> str:
    """Numeric ``column`` after ``increment``, ``decrement``, ``multiply`` or
    ``divide`` by ``operand``, computed by the database on the stored value (an integer
    column divides as integers, as on SQLite)."""
    return f"{column} {_ARITHMETIC[operation]} {operand}"


def list_appended(column: str, array: Callable[[], str], count: int) -> str:
    """Scalar list ``column`` with the ``count`` elements of an array parameter appended,
    in the statement, so that concurrent appends keep each other's elements."""
    if not count:
        return column
    return f"COALESCE({column}, '{{}}') || {array()}"


# -- DateTime forms -----------------------------------------------------------------------------
# A DateTime column is timestamp(3): one native form (`strata.client.datetimes`), so the
# client never asks for these; asking is a bug, said plainly rather than answered in SQLite's
# terms.


def _no_forms(*_: object) -> str:
    raise ConfigurationError(
        "PostgreSQL stores DateTime values in its timestamp type, in one form: there are "
        "no stored forms to detect, compare or rewrite"
    )


instant_sql = census_sql = first_form_sql = foreign_value_sql = _no_forms
rewrite_batch_sql = rewrite_update_sql = _no_forms
