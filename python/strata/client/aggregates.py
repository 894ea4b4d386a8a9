"""``aggregate`` and ``group_by``, computed by SQLite, returned in Prisma's shape.

The keyword arguments are Prisma's without the underscore: ``count=``, ``avg=``, ``sum=``,
``min=``, ``max=``, each a dict of field names (``{"price": True}``); ``count`` also takes
``True`` (the number of rows) or ``{"_all": True, "email": True}`` (rows, and non-NULL
emails). Results use Prisma's keys::

    db.job.aggregate(avg={"progress": True}, count=True)
    # {"_avg": {"progress": 42.5}, "_count": 10}

Types: ``_count`` is an int; ``_avg`` a float (a Decimal for Decimal fields); ``_sum`` has
the field's type (int, float or Decimal); ``_min`` and ``_max`` are decoded like the field.
Averages and sums of an empty set are None.

Decimal sums and averages are exact. SQLite's SUM and AVG add the stored doubles (0.1 + 0.2
= 0.30000000000000004), so the statement collects each group's values instead
(``json_group_array``, which writes a double as its 15 significant digits, the digits the
codec reads), and Python adds them with `decimal`: the sum exactly, the average as the exact
sum divided by the count, to 28 significant digits. It is one statement still, so the other
aggregates count the same rows; the values travel as text (about 30 ms more for 100,000
rows). ``having`` and ``order_by`` on a Decimal ``_sum`` or ``_avg`` would compare SQLite's
double sums, so they are refused; filter or sort the exact results in Python.

``_min`` and ``_max`` of a DateTime column that holds mixed stored forms compare instants
(`strata.client.datetimes`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

from strata.client.datetimes import compared_column, operand_codec
from strata.client.where import SqlBuilder
from strata.dialects.values import describe_value
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.base import ClientBase
    from strata.client.meta import ModelMeta
    from strata.dialects.base import QueryDialect

__all__ = ["AggregateSpec", "aggregate", "group_by"]

#: The result keys, each the dialect's aggregate function of the same name with a ``_``.
_FUNCTIONS = frozenset({"_count", "_avg", "_sum", "_min", "_max"})
_NUMERIC = frozenset({"Int", "BigInt", "Float", "Decimal"})
_ORDERED = _NUMERIC | {"String", "DateTime", "Boolean"}
_HAVING_OPERATORS = frozenset({"equals", "lt", "lte", "gt", "gte"})


class AggregateSpec:
    """The aggregates asked for, as SQL expressions and how to read each result back."""

    def __init__(self, sql: QueryDialect, meta: ModelMeta, alias: str, **requested: Any) -> None:
        self.sql = sql
        self.meta = meta
        self.alias = alias
        #: (result key, field or "_all" or None for a bare count, SQL expression)
        self.columns: list[tuple[str, str | None, str]] = []
        for key, value in requested.items():
            if value is None or value is False:
                continue
            result_key = f"_{key}"
            if key == "count" and value is True:
                self.columns.append((result_key, None, sql.count_all()))
                continue
            if not isinstance(value, Mapping):
                raise ValidationError(
                    f"{meta.name}: {key}= takes a dict of fields, got {describe_value(value)}",
                    model=meta.name,
                    expected="{'field': True}",
                )
            for name, wanted in value.items():
                if wanted is not True:
                    continue
                self.columns.append((result_key, name, self._column(result_key, name)))

    def _exact(self, result_key: str, name: str) -> bool:
        return result_key in ("_sum", "_avg") and self.meta.scalars[name].type == "Decimal"

    def _column(self, result_key: str, name: str) -> str:
        """The SQL of one result column: SQLite's aggregate, or for a Decimal sum or
        average the group's values, which `_decode` adds up exactly."""
        sql = self._checked(result_key, name)
        if not self._exact(result_key, name):
            return sql
        return self.sql.collected(self.sql.qualified(self.alias, self.meta.column(name)))

    def expression(self, result_key: str, name: str) -> str:
        """The SQL for one aggregate of one field, for ``having`` and ``order_by``."""
        if name != "_all" and self._exact(result_key, name):
            meta = self.meta
            raise ValidationError(
                f"{meta.name}.{name}: {result_key} of a Decimal field is computed exactly, "
                "outside SQL, so having= and order_by= cannot use it; filter or sort the "
                "results in Python",
                model=meta.name,
                field=name,
                expected="having= and order_by= on other aggregates",
            )
        return self._checked(result_key, name)

    def _checked(self, result_key: str, name: str) -> str:
        """The SQL for one aggregate of one field, checked against the field's type."""
        meta = self.meta
        if result_key == "_count" and name == "_all":
            return self.sql.count_all()
        field = meta.scalar(name)
        allowed = {
            "_count": True,
            "_avg": field.type in _NUMERIC,
            "_sum": field.type in _NUMERIC,
            "_min": field.type in _ORDERED or field.is_enum,
            "_max": field.type in _ORDERED or field.is_enum,
        }
        if not allowed[result_key] or (field.list and result_key != "_count"):
            raise ValidationError(
                f"{meta.name}.{name}: {result_key} does not apply to a {field.type} field",
                model=meta.name,
                field=name,
                expected="a numeric field"
                if result_key in ("_avg", "_sum")
                else "an ordered field",
            )
        column = self.sql.qualified(self.alias, meta.column(name))
        if result_key in ("_min", "_max"):
            column = compared_column(meta, name, column)  # a mixed DateTime: by instant
        return self.sql.aggregate(result_key[1:], column)

    def read(self, values: Sequence[Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        #: Per Decimal field, its exact total and count (a sum and an average share them).
        totals: dict[str, tuple[Decimal, int]] = {}
        for (key, name, _), value in zip(self.columns, values, strict=True):
            if name is None:
                result[key] = value
            elif self._exact(key, name):
                if name not in totals:
                    totals[name] = _exact_total(value)
                total, count = totals[name]
                if not count:
                    exact = None
                elif key == "_sum":
                    exact = total
                else:
                    exact = _AVERAGE.divide(total, count)
                result.setdefault(key, {})[name] = exact
            else:
                result.setdefault(key, {})[name] = self._decode(key, name, value)
        return result

    def _decode(self, key: str, name: str, value: Any) -> Any:
        if key == "_count" or value is None:
            return value
        field = self.meta.scalars[name]
        if key == "_avg" or (key == "_sum" and field.type == "Float"):
            return float(value)
        if key == "_sum" and field.type in ("Int", "BigInt"):
            return int(value)  # PostgreSQL sums a BIGINT into a NUMERIC
        return self.meta.codecs[name].decode(value)


#: Sums of stored Decimal values are exact: each has at most 15 significant digits between
#: 1E-308 and 1E+308, so 1,000 digits hold any sum of them. Inexact would mean a digit was
#: lost, so it raises rather than round.
_EXACT_SUM = Context(prec=1000, traps=[Inexact, InvalidOperation])
#: Averages are divisions, rarely exact: 28 significant digits, `decimal`'s default.
_AVERAGE = Context(prec=28)


def _exact_total(values: str) -> tuple[Decimal, int]:
    """The exact sum and the number of a group's Decimal values, given as
    ``json_group_array`` writes them: numbers (a REAL as its 15 significant digits, the
    digits the codec reads), or numeric text in a database written by other tools."""
    numbers = json.loads(values, parse_float=Decimal, parse_int=Decimal)
    with localcontext(_EXACT_SUM):
        try:
            total = sum(numbers, Decimal(0))
        except TypeError:  # text among the numbers
            total = sum(map(Decimal, numbers), Decimal(0))
    return total, len(numbers)


def aggregate(
    client: ClientBase[Any], meta: ModelMeta, where: Mapping[str, Any] | None, **requested: Any
) -> dict[str, Any]:
    builder = client.sql()
    sql = builder.sql
    spec = AggregateSpec(sql, meta, "t0", **requested)
    if not spec.columns:
        raise ValidationError(
            f"{meta.name}: aggregate needs at least one of count=, avg=, sum=, min=, max=",
            model=meta.name,
            expected="count=, avg=, sum=, min= or max=",
        )
    condition = builder.where(meta, "t0", where)
    rows = client.query(
        sql.select_sql([c[2] for c in spec.columns], meta.table_sql, "t0", condition),
        builder.params,
    )
    return spec.read(rows[0])


def group_by(
    client: ClientBase[Any],
    meta: ModelMeta,
    by: Sequence[str],
    where: Mapping[str, Any] | None,
    having: Mapping[str, Any] | None,
    order_by: Any,
    skip: int | None,
    take: int | None,
    **requested: Any,
) -> list[dict[str, Any]]:
    if isinstance(by, str):
        by = [by]
    if not by:
        raise ValidationError(
            f"{meta.name}: group_by needs by=[field, ...]", model=meta.name, expected="fields"
        )
    for name in by:
        meta.scalar(name)
    builder = client.sql()
    sql = builder.sql
    spec = AggregateSpec(sql, meta, "t0", **requested)
    # A mixed DateTime column groups by instant, so one instant stored twice is one group.
    grouped = [compared_column(meta, n, sql.qualified("t0", meta.column(n))) for n in by]
    # Parameters are bound in the order they appear: where, having, order, the window.
    condition = builder.where(meta, "t0", where)
    having_sql = _having(builder, spec, by, having) if having else None
    order = _group_order(builder, spec, by, order_by)
    window = sql.pagination(take, skip or 0, builder.bind) if take is not None or skip else None
    statement = sql.select_sql(
        [*grouped, *(c[2] for c in spec.columns)],
        meta.table_sql,
        "t0",
        condition,
        group_by=grouped,
        having=having_sql,
        order_by=order,
        window=window,
    )
    results = []
    codecs = [meta.codecs[n] for n in by]
    for row in client.query(statement, builder.params):
        record = {n: codec.decode(v) for n, codec, v in zip(by, codecs, row, strict=False)}
        record.update(spec.read(row[len(by) :]))
        results.append(record)
    return results


def _having(
    builder: SqlBuilder, spec: AggregateSpec, by: Sequence[str], having: Mapping[str, Any]
) -> str:
    """``{"field": {"_avg": {"gt": 5}}}`` filters on aggregates; a plain filter on a
    grouped field filters groups by their value; AND / OR / NOT combine them."""
    meta = spec.meta
    sql = builder.sql
    parts = []
    for key, value in having.items():
        if key in ("AND", "OR", "NOT"):
            items = [value] if isinstance(value, Mapping) else list(value)
            inner = [sql.grouped(_having(builder, spec, by, item)) for item in items]
            if key == "AND":
                parts.append(sql.all_of(inner))
            elif key == "OR":
                parts.append(sql.any_of(inner))
            else:
                parts.append(sql.all_of([sql.negated(c) for c in inner]))
            continue
        meta.scalar(key)
        if isinstance(value, Mapping) and set(value) <= _FUNCTIONS:
            for function, filters in value.items():
                expression = spec.expression(function, key)
                parts.append(_aggregate_filter(builder, spec, function, key, expression, filters))
        elif key in by:
            parts.append(builder.where(meta, "t0", {key: value}))
        else:
            raise ValidationError(
                f"{meta.name}.{key}: having filters a field in by= or an aggregate "
                "({'_avg': {'gt': 1}})",
                model=meta.name,
                field=key,
                expected="a grouped field or an aggregate filter",
            )
    return sql.all_of(parts)


def _aggregate_filter(
    builder: SqlBuilder,
    spec: AggregateSpec,
    function: str,
    name: str,
    expression: str,
    filters: Any,
) -> str:
    meta = spec.meta
    if not isinstance(filters, Mapping) or not set(filters) <= {
        *_HAVING_OPERATORS,
        "not",
        "in",
        "not_in",
    }:
        raise ValidationError(
            f"{meta.name}.{name}: {function} takes a filter with equals, not, in, not_in, lt, "
            f"lte, gt, gte; got {describe_value(filters)}",
            model=meta.name,
            field=name,
            expected="a comparison filter",
        )

    def encode(value: Any) -> Any:
        if function in ("_count", "_avg"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(
                    f"{meta.name}.{name}: {function} compares with numbers, got "
                    f"{describe_value(value)}",
                    model=meta.name,
                    field=name,
                    expected="a number",
                )
            return value
        return operand_codec(meta, name).to_sql_element(value)

    sql = builder.sql
    parts = []
    for operator, operand in filters.items():
        if operator in _HAVING_OPERATORS or operator == "not":
            parts.append(sql.compare(expression, operator, builder.bind(encode(operand))))
        else:
            values = [builder.bind(encode(v)) for v in operand]
            parts.append(sql.in_list(expression, values, negated=operator == "not_in"))
    return sql.all_of(parts)


def _group_order(
    builder: SqlBuilder, spec: AggregateSpec, by: Sequence[str], order_by: Any
) -> list[str]:
    """Order groups by a grouped field (``{"status": "asc"}``) or an aggregate
    (``{"_count": {"id": "desc"}}``, ``{"_avg": {"price": "asc"}}``)."""
    meta = spec.meta
    items = [] if order_by is None else [order_by] if isinstance(order_by, Mapping) else order_by
    terms = []
    for item in items:
        for key, direction in item.items():
            if key in _FUNCTIONS and isinstance(direction, Mapping):
                for name, inner in direction.items():
                    if inner not in ("asc", "desc"):
                        raise ValidationError(
                            f"{meta.name}.{name}: order must be 'asc' or 'desc'",
                            model=meta.name,
                            field=name,
                            expected="'asc' or 'desc'",
                        )
                    terms.append(builder.sql.order_term(spec.expression(key, name), inner))
            elif key in by:
                terms.extend(builder.order_by(meta, "t0", {key: direction}))
            else:
                raise ValidationError(
                    f"{meta.name}.{key}: group_by orders by a field in by= or an aggregate",
                    model=meta.name,
                    field=key,
                    expected=f"one of {list(by)} or _count/_avg/_sum/_min/_max",
                )
    return terms
