"""How SQLite tells the stored forms of a DateTime column apart and compares them: the SQL
behind `strata.client.datetimes`, which owns the forms' meaning (detection, caching, the
errors, the rewrite's batching).

A form is named as the client names it (``"iso8601"``, ``"iso8601-z"``,
``"sqlite-datetime"``, ``"unixepoch-ms"``); ``column`` and ``table`` arguments are quoted
SQL names.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "census_sql",
    "first_form_sql",
    "foreign_value_sql",
    "form_case",
    "form_condition",
    "instant_sql",
    "rewrite_batch_sql",
    "rewrite_update_sql",
]

# The shapes match any character where a digit belongs: a GLOB of character classes costs
# three times as much per row, and text of the right shape without the digits is no time at
# all (every reader refuses it), so whether it counts as in the form changes no comparison.
_DATE = "????-??-??"
_CLOCK = "??:??:??"


def form_condition(column: str, form: str) -> str:
    """A condition true for the non-NULL values of ``column`` that are in ``form``."""
    if form == "unixepoch-ms":
        return f"typeof({column}) IN ('integer', 'real')"
    text = f"typeof({column}) = 'text'"
    if form == "iso8601":
        return f"{text} AND {column} GLOB '{_DATE}T{_CLOCK}.???+00:00'"
    if form == "iso8601-z":
        return f"{text} AND {column} GLOB '{_DATE}T{_CLOCK}.???Z'"
    if form == "sqlite-datetime":
        # `.000` is left out: that instant's text in this form has no fraction.
        return (
            f"{text} AND ({column} GLOB '{_DATE} {_CLOCK}' OR ({column} GLOB "
            f"'{_DATE} {_CLOCK}.???' AND substr({column}, 20) <> '.000'))"
        )
    raise ValueError(f"not a DateTime form: {form!r}")


def form_case(column: str, forms: Sequence[str], otherwise: str) -> str:
    """An expression naming the form of each non-NULL value of ``column``: the first of
    ``forms`` it is in, else ``otherwise``."""
    branches = " ".join(f"WHEN {form_condition(column, form)} THEN '{form}'" for form in forms)
    return f"CASE {branches} ELSE '{otherwise}' END"


def instant_sql(column: str) -> str:
    """``column`` as integer milliseconds since the Unix epoch, whatever form each value
    has. Text goes through SQLite's date functions (which read every form, and ISO 8601
    text with ``Z`` or a ``+HH:MM`` offset, to the millisecond); text they cannot read is
    NULL, which matches no comparison."""
    return (
        f"(CASE typeof({column}) WHEN 'integer' THEN {column} "
        f"WHEN 'real' THEN CAST({column} AS INTEGER) - ({column} < CAST({column} AS INTEGER)) "
        # julianday() is SQLite's internal integer milliseconds over 86400000.0; multiplied
        # back and rounded it is exact, and 210866760000000 is the epoch in those units.
        f"WHEN 'text' THEN CAST(round(julianday({column}) * 86400000.0) AS INTEGER) "
        f"- 210866760000000 END)"
    )


def census_sql(table: str, column: str, forms: Sequence[str], otherwise: str) -> str:
    """Rows of (form, number of values), most common first: one scan of the column (of
    its index, when it has one)."""
    return (
        f"SELECT form, count(*) FROM (SELECT {form_case(column, forms, otherwise)} AS form "
        f"FROM {table} WHERE {column} IS NOT NULL) GROUP BY form ORDER BY count(*) DESC, form"
    )


def first_form_sql(table: str, column: str, forms: Sequence[str], otherwise: str) -> str:
    """The form of the column's first non-NULL value (no row when it has none)."""
    case = form_case(column, forms, otherwise)
    return f"SELECT {case} FROM {table} WHERE {column} IS NOT NULL LIMIT 1"


def foreign_value_sql(table: str, column: str, form: str) -> str:
    """One row holding whether any value of the column is not in ``form``."""
    if form == "unixepoch-ms":
        # SQLite sorts every number before every text and blob: with an index on the
        # column, one seek answers.
        foreign = f"{column} >= ''"
    else:
        foreign = f"{column} IS NOT NULL AND NOT ({form_condition(column, form)})"
    return f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {foreign})"


def rewrite_batch_sql(table: str, column: str, target: str) -> str:
    """The next batch of a rewrite into ``target``: (rowid, value) of up to ``?2`` rows
    after rowid ``?1`` whose value is not in ``target`` yet, in rowid order."""
    return (
        f"SELECT rowid, {column} FROM {table} WHERE rowid > ? AND {column} IS NOT NULL "
        f"AND NOT ({form_condition(column, target)}) ORDER BY rowid LIMIT ?"
    )


def rewrite_update_sql(table: str, column: str) -> str:
    """One rewritten value: parameters (value, rowid)."""
    return f"UPDATE {table} SET {column} = ? WHERE rowid = ?"
