"""``cursor`` of `Repository.find_many`: the rows at or after a record in the sort order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from strata.client.datetimes import compared_column
from strata.client.where import RELATION_COUNT
from strata.client.writes import unique_where
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.meta import ModelMeta
    from strata.client.where import SqlBuilder

__all__ = ["cursor_condition"]


def cursor_condition(
    builder: SqlBuilder,
    meta: ModelMeta,
    order_by: Any,
    cursor: Mapping[str, Any],
    backwards: bool,
) -> str:
    """Rows at or after the cursor record in the sort order: a lexicographic
    comparison with the cursor row's values (a field, or a relation's count), read by
    subqueries."""
    cursor_where = unique_where(meta, cursor)
    keys: list[tuple[str, bool]] = []
    for item in (
        [] if order_by is None else [order_by] if isinstance(order_by, Mapping) else order_by
    ):
        for name, direction in item.items():
            if name in meta.scalars:
                sort = direction.get("sort") if isinstance(direction, Mapping) else direction
            elif name in meta.relations and meta.relations[name].many:
                sort = direction[RELATION_COUNT]  # order_by has checked the shape
            else:
                raise ValidationError(
                    f"{meta.name}: a cursor needs order_by on scalar fields or relation "
                    f"counts, got {name!r}",
                    model=meta.name,
                    field=name,
                    expected="order_by on scalar fields or {'relation': {'_count': ...}}",
                )
            keys.append((name, (sort == "desc") != backwards))
    sorted_fields = {name for name, _ in keys}
    keys += [(f, backwards) for f in meta.primary_key if f not in sorted_fields]
    sql = builder.sql
    alternatives = []
    for index, (name, descending) in enumerate(keys):
        terms = []
        # Each expression is built where it appears in the SQL: it binds its parameters.
        for earlier, _ in keys[:index]:
            mine = _sort_value(builder, meta, earlier, "t0")
            value = _cursor_value(builder, meta, earlier, cursor_where)
            terms.append(sql.compare(mine, "equals", value))
        # The last key includes the cursor record itself.
        last = index == len(keys) - 1
        operator = ("lte" if last else "lt") if descending else ("gte" if last else "gt")
        mine = _sort_value(builder, meta, name, "t0")
        value = _cursor_value(builder, meta, name, cursor_where)
        terms.append(sql.compare(mine, operator, value))
        alternatives.append(sql.grouped(sql.all_of(terms)))
    return sql.any_of(alternatives)


def _sort_value(builder: SqlBuilder, meta: ModelMeta, name: str, alias: str) -> str:
    """What a cursor compares for a sort key: the field's column, or for a list
    relation the number of related rows (as ``order_by`` counts them)."""
    if name in meta.scalars:
        # A DateTime column of mixed stored forms compares by instant.
        return compared_column(meta, name, builder.sql.qualified(alias, meta.column(name)))
    return builder.count_related(meta.relations[name], alias, None)


def _cursor_value(
    builder: SqlBuilder, meta: ModelMeta, name: str, cursor_where: Mapping[str, Any]
) -> str:
    value = _sort_value(builder, meta, name, "c")
    condition = builder.where(meta, "c", cursor_where)
    sql = builder.sql
    return sql.value_of(value, sql.rows(sql.table_as(meta.table_sql, "c"), condition))
