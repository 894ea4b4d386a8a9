"""Scalar updates: the assignments of an ``update``'s values and atomic operations, and
the UPDATE of the rows a condition picks (`update_rows`), for `strata.client.writes` and the
repositories' ``update_many``.

Scalar updates take a value or ``{"set": value}``; numeric fields also take ``increment``,
``decrement``, ``multiply`` and ``divide``, and scalar lists ``push`` (an element or a
list), applied by the database to the stored value so concurrent updates do not lose each
other's changes. A Json field's dict is its value. Decimal arithmetic is exact, computed
here (see `update_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any

from strata.client.defaults import now
from strata.client.where import SqlBuilder
from strata.dialects.values import Codec
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.base import ClientBase
    from strata.client.meta import ModelMeta

__all__ = ["encode_update", "invalid", "returning", "update_rows"]

_ATOMIC = ("increment", "decrement", "multiply", "divide")
_NUMERIC = frozenset({"Int", "BigInt", "Float", "Decimal"})


def invalid(meta: ModelMeta, field: str | None, message: str, expected: str) -> ValidationError:
    """A write's `ValidationError` for ``meta`` (and ``field``, when given)."""
    where = f"{meta.name}.{field}" if field else meta.name
    return ValidationError(f"{where}: {message}", model=meta.name, field=field, expected=expected)


def returning(meta: ModelMeta) -> list[str]:
    """What a write returns: every scalar column, a full record's row."""
    return [meta.column(n) for n in meta.scalars]


def encode_update(
    meta: ModelMeta, data: Mapping[str, Any], builder: SqlBuilder, alias: str | None = None
) -> list[str]:
    """The assignments for scalar values and atomic number operations, with
    ``@updatedAt`` fields set to now unless given. Operations read the stored value as
    ``alias``'s column when given (an upsert's update, where the row to insert is in scope
    too)."""
    sql = builder.sql
    assignments = []
    for name, value in data.items():
        field = meta.scalars[name]
        codec = meta.codecs[name]
        column = meta.column(name)
        stored = column if alias is None else sql.qualified(alias, column)
        # A Json field's dict is its value; a Json list's value is a list.
        if isinstance(value, Mapping) and (field.type != "Json" or field.list):
            if len(value) != 1:
                raise invalid(meta, name, "takes one operation", "{'set': ...} or {'increment': n}")
            ((operation, operand),) = value.items()
            if operation == "set":
                assignments.append(sql.assignment(column, builder.bind(codec.to_sql(operand))))
            elif operation in _ATOMIC and field.type in _NUMERIC and not field.list:
                if field.type == "Decimal":
                    # SQLite would compute in doubles: 0.1 + 0.2 = 0.30000000000000004.
                    raise AssertionError("Decimal arithmetic goes through update_rows")
                operand_sql = builder.bind(codec.to_sql_element(operand))
                assignments.append(
                    sql.assignment(column, sql.arithmetic(stored, operation, operand_sql))
                )
            elif operation == "push" and field.list:
                assignments.append(sql.assignment(column, _push(builder, stored, codec, operand)))
            else:
                if field.list:
                    allowed = "set, push"
                elif field.type in _NUMERIC:
                    allowed = "set, " + ", ".join(_ATOMIC)
                else:
                    allowed = "set"
                raise invalid(
                    meta, name, f"unknown update operation {operation!r}", f"one of {allowed}"
                )
        else:
            assignments.append(sql.assignment(column, builder.bind(codec.to_sql(value))))
    for name in meta.updated_at:
        if name not in data:
            stamp = builder.bind(meta.codecs[name].to_sql(now()))
            assignments.append(sql.assignment(meta.column(name), stamp))
    return assignments


def _push(builder: SqlBuilder, column: str, codec: Codec, operand: Any) -> str:
    """The list in ``column`` with ``operand`` (an element or a list of them) appended by
    the database, so that concurrent pushes do not lose each other's elements. The operand
    is encoded as a JSON array by the field's codec, so each element is checked and stored
    as the column's elements are."""
    items = list(operand) if isinstance(operand, list | tuple) else [operand]
    encoded = codec.to_sql_element(items)
    return builder.sql.list_appended(column, partial(builder.bind, encoded), len(items))


#: Decimal arithmetic is exact: 1,000 digits hold any sum, difference or product of two
#: storable values; a quotient that needs more (1 / 3) raises Inexact, and could not be
#: stored anyway.
_EXACT = Context(prec=1000, traps=[Inexact, DivisionByZero, InvalidOperation])
_DECIMAL_ARITHMETIC: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "increment": _EXACT.add,
    "decrement": _EXACT.subtract,
    "multiply": _EXACT.multiply,
    "divide": _EXACT.divide,
}


def _decimal_arithmetic(
    meta: ModelMeta, data: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, tuple[str, Decimal]]]:
    """``data`` without its arithmetic on Decimal fields (``{"increment": x}`` ...), and
    that arithmetic: field, operation and operand, the operand as it would be stored."""
    plain: dict[str, Any] = {}
    arithmetic: dict[str, tuple[str, Decimal]] = {}
    for name, value in data.items():
        field = meta.scalars[name]
        if (
            field.type == "Decimal"
            and not field.list
            and isinstance(value, Mapping)
            and len(value) == 1
            and next(iter(value)) in _DECIMAL_ARITHMETIC
        ):
            ((operation, operand),) = value.items()
            codec = meta.codecs[name]
            arithmetic[name] = (operation, codec.decode(codec.to_sql_element(operand)))
        else:
            plain[name] = value
    return plain, arithmetic


def _compute(meta: ModelMeta, name: str, operation: str, operand: Decimal, current: Any) -> Any:
    """The stored value of ``current`` (as stored) after ``operation``, computed in exact
    decimal; ValidationError when the result cannot be stored exactly."""
    codec = meta.codecs[name]
    if current is None:
        return None  # as in SQL: NULL + 1 is NULL
    value = codec.decode(current)
    try:
        result = _DECIMAL_ARITHMETIC[operation](value, operand)
        return codec.to_sql(result)
    except (DivisionByZero, InvalidOperation):
        outcome = "is a division by zero"
    except Inexact:
        outcome = "has endless digits"
    except ValidationError:
        outcome = f"gives {result}, which has too many digits"
    raise invalid(
        meta,
        name,
        f"{operation} {operand} on {value} {outcome}, so the result cannot be stored exactly "
        f"(the field takes {codec.expected}); nothing was changed",
        codec.expected,
    )


def update_rows(
    client: ClientBase[Any],
    meta: ModelMeta,
    data: Mapping[str, Any],
    condition: Callable[[SqlBuilder], str],
    *,
    return_rows: bool = False,
) -> tuple[int, list[tuple[Any, ...]]]:
    """``UPDATE`` the rows ``condition`` picks (as ``t0``) with ``data``'s values and
    operations: the number of rows changed and, with ``return_rows``, the rows as they are
    now (every scalar column). When ``data`` sets nothing (and no ``@updatedAt`` field
    stamps the rows), the matching rows are read, unchanged.

    Arithmetic on Int, BigInt and Float fields is SQL (``col = col + ?``). SQLite would do
    Decimal arithmetic in doubles, and PostgreSQL rounds a NUMERIC quotient (and any result
    to the column's scale), so that is read-modify-write instead: inside one transaction,
    read the rows' current values, locked against other writers (SQLite's write lock is
    held from the transaction's start; on PostgreSQL the read is ``FOR UPDATE``), compute
    each result exactly with `decimal`, refuse any that cannot be stored before anything is
    written, and write each row's results by its key."""
    plain, arithmetic = _decimal_arithmetic(meta, data)
    tail = returning(meta) if return_rows else []
    builder = client.sql()
    sql = builder.sql
    assignments = encode_update(meta, plain, builder)
    if not assignments and not arithmetic:
        columns = [sql.qualified("t0", meta.column(n)) for n in meta.scalars]
        statement = sql.select_sql(columns, meta.table_sql, "t0", condition(builder))
        rows = client.query(statement, builder.params)
        return 0, rows if return_rows else []
    if not arithmetic:
        statement = sql.update_sql(meta.table_sql, "t0", assignments, condition(builder), tail)
        if return_rows:
            rows = client.query(statement, builder.params)
            return len(rows), rows
        return client.execute(statement, builder.params), []
    key = meta.record_key
    names = tuple(arithmetic)
    # Each row's results, then its key, follow the plain assignments' parameters.
    position = iter(range(len(builder.params) + 1, len(builder.params) + len(names) + 1))
    assignments += [sql.assignment(meta.column(n), sql.placeholder(next(position))) for n in names]
    start = len(builder.params) + len(names) + 1
    match = sql.all_of(
        [
            sql.compare(sql.qualified("t0", meta.column(f)), "equals", sql.placeholder(start + i))
            for i, f in enumerate(key)
        ]
    )
    update = sql.update_sql(meta.table_sql, "t0", assignments, match, tail)
    with client.db.transaction_():
        reading = client.sql()
        columns = [sql.qualified("t0", meta.column(f)) for f in (*key, *names)]
        select = sql.select_sql(columns, meta.table_sql, "t0", condition(reading))
        current = client.query(sql.locking(select), reading.params)
        updates = [
            [
                *builder.params,
                *(
                    _compute(meta, name, *arithmetic[name], value)
                    for name, value in zip(names, row[len(key) :], strict=True)
                ),
                *row[: len(key)],
            ]
            for row in current
        ]
        if return_rows:
            rows = [found for params in updates for found in client.query(update, params)]
            changed = len(rows)
        else:
            rows = []
            changed = client.execute_many(update, updates)
    return changed, rows
