"""The race-free upsert: one ``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING``
statement, where the database has it (the dialect's `native_upsert`) and the call's shape
allows it, as Prisma's native upsert does.

An upsert otherwise reads, then updates or creates (`strata.client.repository`): race-free
on SQLite, whose write transaction keeps every other writer out from its start, but not on a
server under read committed, where two upserts of one new key could both read "none" and
one of them fail on the unique index. The one statement decides under the index's lock
instead, so concurrent upserts of one key give one row and no error.

The shape it takes (anything else takes the read-then-write path, which gives the same
results when nothing runs beside it):

* ``where`` is exactly one unique criterion, with plain values;
* ``create`` gives that criterion's fields the same values (so that the row it would insert
  is the one ``where`` names), and neither ``create`` nor ``update`` writes a relation;
* ``update`` has no Decimal arithmetic (computed exactly outside SQL, see
  `strata.client.updates.update_rows`);
* the view adds no filter of its own (a tenant scope, hidden soft-deleted rows), since the
  conflicting row might be one the view may not see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from strata.client.updates import encode_update, returning
from strata.client.writes import RowEncoder, unique_where
from strata.dialects.values import ENCODE_ERRORS

if TYPE_CHECKING:
    from strata.client.base import ClientBase
    from strata.client.meta import ModelMeta

__all__ = ["native_upsert"]

_ARITHMETIC = frozenset({"increment", "decrement", "multiply", "divide"})


def native_upsert(
    client: ClientBase[Any],
    meta: ModelMeta,
    where: Any,
    create: Mapping[str, Any],
    update: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Upsert in one statement and return the row, decoded; None when the call's shape
    (see the module docstring) needs the read-then-write path."""
    sql = client.dialect.query
    if not sql.native_upsert or client.implicit_where(meta) is not None:
        return None
    if not isinstance(create, Mapping) or not isinstance(update, Mapping):
        return None
    if not all(name in meta.scalars for name in (*create, *update)):
        return None  # relation writes, or unknown fields the other path reports
    flat = unique_where(meta, where)
    key = next((f for f in meta.uniques.values() if set(f) == set(flat)), None)
    if key is None or any(v is None or isinstance(v, Mapping) for v in flat.values()):
        return None
    if not _same_key(meta, key, flat, create) or _decimal_arithmetic(meta, update):
        return None
    encoder = RowEncoder(meta, tuple(create))
    row = encoder.encode(create)
    builder = client.sql()
    builder.params.extend(row)
    assignments = encode_update(meta, update, builder, alias="t0")
    statement = sql.upsert_sql(
        meta.table_sql,
        "t0",
        [meta.column(n) for n in encoder.names],
        [meta.column(f) for f in key],
        assignments,
        returning(meta),
    )
    rows = client.query(statement, builder.params)
    return meta.full_reader.values(rows[0])


def _same_key(
    meta: ModelMeta, key: tuple[str, ...], where: Mapping[str, Any], create: Mapping[str, Any]
) -> bool:
    """Whether ``create`` gives each key field the value ``where`` names (as stored)."""
    for field in key:
        if field not in create:
            return False
        codec = meta.codecs[field]
        try:
            if codec.to_sql(create[field]) != codec.to_sql(where[field]):
                return False
        except ENCODE_ERRORS:
            return False  # the other path reports the bad value
    return True


def _decimal_arithmetic(meta: ModelMeta, update: Mapping[str, Any]) -> bool:
    return any(
        meta.scalars[name].type == "Decimal"
        and isinstance(value, Mapping)
        and _ARITHMETIC & set(value)
        for name, value in update.items()
        if name in meta.scalars
    )
