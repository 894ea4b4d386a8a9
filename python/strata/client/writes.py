"""Creating and updating records, with Prisma's nested writes.

``data`` holds scalar fields and relation fields. A relation field takes nested operations:

* in ``create`` and ``update``: ``create`` (a dict or a list), ``connect`` (a unique where,
  or a list), ``connect_or_create`` (``{"where": ..., "create": ...}``, or a list);
* in ``update`` only: ``disconnect`` (True for a to-one relation, unique wheres for a list)
  and ``set`` (the complete new list of related records, by unique where).

The order follows the foreign key. When this record holds it (``Job.user``), the related
record is found or created first and its key written into this row. When the related rows
hold it (``User.jobs``) or a join table does (many-to-many), they are written after this
row exists. The caller runs the whole thing inside one transaction.

Scalar updates take a value or ``{"set": value}``; numeric fields also take ``increment``,
``decrement``, ``multiply`` and ``divide``, applied by SQLite to the stored value so
concurrent updates do not lose each other's changes. A Json field's dict is its value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from strata.client.codecs import describe_value
from strata.client.defaults import now
from strata.client.where import SqlBuilder
from strata.dialects.sqlite import quote
from strata.errors import RecordNotFoundError, ValidationError
from strata.schema import ir

if TYPE_CHECKING:
    from strata.client.client import Client
    from strata.client.meta import ModelMeta, RelationLink

__all__ = ["RowEncoder", "create_record", "unique_where", "update_record"]

_ATOMIC = {"increment": "+", "decrement": "-", "multiply": "*", "divide": "/"}
_NUMERIC = frozenset({"Int", "BigInt", "Float", "Decimal"})
_CREATE_OPERATIONS = frozenset({"create", "connect", "connect_or_create"})
_UPDATE_OPERATIONS = _CREATE_OPERATIONS | {"disconnect", "set"}


def _invalid(meta: ModelMeta, field: str | None, message: str, expected: str) -> ValidationError:
    where = f"{meta.name}.{field}" if field else meta.name
    return ValidationError(f"{where}: {message}", model=meta.name, field=field, expected=expected)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


# -- unique criteria -------------------------------------------------------------------------


def unique_where(meta: ModelMeta, where: Any) -> dict[str, Any]:
    """``where`` checked to name a unique criterion (the id, a ``@unique`` field, or a
    compound key by its name or ``a_b`` key), flattened to plain field filters. Other keys
    may narrow it further, as in Prisma."""
    if not isinstance(where, Mapping):
        raise _invalid(meta, None, f"where must be a dict, got {describe_value(where)}", "a dict")
    flat: dict[str, Any] = {}
    found = False
    for key, value in where.items():
        fields = meta.uniques.get(key)
        if fields is not None and len(fields) > 1 and isinstance(value, Mapping):
            if set(value) != set(fields):
                raise _invalid(
                    meta, key, f"takes exactly the fields {list(fields)}", f"{list(fields)}"
                )
            flat.update(value)
            found = found or not any(v is None for v in value.values())
        else:
            if fields is not None and value is not None and not isinstance(value, Mapping):
                found = True
            flat[key] = value
    if not found:
        criteria = ", ".join(meta.uniques)
        raise _invalid(
            meta,
            None,
            f"where must name a unique criterion with a value ({criteria}); got {sorted(where)}",
            f"one of {criteria}",
        )
    return flat


def find_key(
    client: Client, meta: ModelMeta, where: Any, fields: tuple[str, ...]
) -> tuple[Any, ...]:
    """The values of ``fields`` of the record matching a unique ``where``, or
    RecordNotFoundError (P2025)."""
    builder = client.sql()
    condition = builder.where(meta, "t0", unique_where(meta, where))
    columns = ", ".join(f"t0.{meta.column(f)}" for f in fields)
    rows = client.query(
        f"SELECT {columns} FROM {meta.table_sql} AS t0 WHERE {condition} LIMIT 2", builder.params
    )
    if not rows:
        raise RecordNotFoundError(meta.name, where)
    return tuple(rows[0])


# -- create ----------------------------------------------------------------------------------


class RowEncoder:
    """Encodes new rows that give one fixed set of fields, adding the client-side
    defaults: generated ids, and the current time for ``@default(now())`` and
    ``@updatedAt`` fields. Built once per set of fields, so `create_many` checks unknown
    and missing fields once, not per row.

    Required fields without a value or a database default are an error here, not a NOT
    NULL failure later. A scalar list without a value is empty.
    """

    def __init__(self, meta: ModelMeta, given: tuple[str, ...]) -> None:
        for name in given:
            if name not in meta.scalars:
                raise meta.unknown_field(name)
        self.meta = meta
        self._given = given
        missing = [n for n in meta.scalars if n not in given]
        self._stamped = tuple(
            n
            for n in missing
            if meta.scalars[n].updated_at or _default_kind(meta.scalars[n]) == "now"
        )
        self._generated = tuple(
            (meta.codecs[n].to_sql, meta.generated[n])
            for n in missing
            if n in meta.generated and n not in self._stamped
        )
        self._empty_lists = tuple(
            meta.codecs[n].to_sql([])
            for n in missing
            if meta.scalars[n].list and meta.scalars[n].default is None
        )
        for name in missing:
            field = meta.scalars[name]
            if not (field.optional or field.list or field.default or field.updated_at):
                raise _invalid(meta, name, "is required", f"a value for {name}")
        generated = (n for n in missing if n in meta.generated and n not in self._stamped)
        empty_lists = (
            n for n in missing if meta.scalars[n].list and meta.scalars[n].default is None
        )
        #: The columns of every encoded row, in order.
        self.names = (*given, *generated, *self._stamped, *empty_lists)

    def _extras(self) -> tuple[Any, ...]:
        """The values of one row's fields that were not given, in `names` order."""
        current = now()
        return (
            *(to_sql(generate()) for to_sql, generate in self._generated),
            *(self.meta.codecs[n].to_sql(current) for n in self._stamped),
            *self._empty_lists,
        )

    def encode(self, item: Mapping[str, Any]) -> tuple[Any, ...]:
        """One row's parameters."""
        codecs = self.meta.codecs
        return (*(codecs[n].to_sql(item[n]) for n in self._given), *self._extras())

    def encode_many(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Many rows' parameters, from tuples of the given fields' values. Each column is
        checked and converted as a whole (see `Codec.to_sql_column`), so rows of plain
        values pass through without a Python-level step per value."""
        if self._given:
            columns = list(zip(*rows, strict=True))
            converted = [
                self.meta.codecs[name].to_sql_column(column)
                for name, column in zip(self._given, columns, strict=True)
            ]
            if any(new is not old for new, old in zip(converted, columns, strict=True)):
                rows = list(zip(*converted, strict=True))
        if not (self._generated or self._stamped or self._empty_lists):
            return rows
        if self._generated:  # ids differ per row
            return [row + self._extras() for row in rows]
        extras = self._extras()  # one timestamp for every row
        return [row + extras for row in rows]


def _default_kind(field: ir.ScalarField) -> str | None:
    return None if field.default is None else field.default.kind


def insert_sql(meta: ModelMeta, names: Sequence[str], conflict: str = "") -> str:
    if not names:
        return f"INSERT INTO {meta.table_sql} DEFAULT VALUES"
    columns = ", ".join(meta.column(n) for n in names)
    placeholders = ", ".join("?" for _ in names)
    return f"INSERT INTO {meta.table_sql} ({columns}) VALUES ({placeholders}){conflict}"


def returning(meta: ModelMeta) -> str:
    return " RETURNING " + ", ".join(meta.column(n) for n in meta.scalars)


def _split(
    meta: ModelMeta, data: Any, allowed: frozenset[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Scalar values and per-relation nested operations, checked."""
    if not isinstance(data, Mapping):
        raise _invalid(meta, None, f"data must be a dict, got {describe_value(data)}", "a dict")
    scalars: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        if name in meta.relations:
            if not isinstance(value, Mapping) or not value or not set(value) <= allowed:
                raise _invalid(
                    meta,
                    name,
                    f"a relation takes nested operations ({', '.join(sorted(allowed))}), "
                    f"got {describe_value(value)}",
                    "a dict of nested operations",
                )
            nested[name] = dict(value)
        elif name in meta.scalars:
            scalars[name] = value
        else:
            raise meta.unknown_field(name)
    for name, operations in nested.items():
        link = meta.relations[name]
        clash = [f for f in link.source_fields if f in scalars] if link.holds_fk else []
        if clash:
            raise _invalid(
                meta, name, f"is set through {clash} as well; give one or the other", "one of them"
            )
        if not link.many and any(
            isinstance(v, Sequence) and not isinstance(v, str) for v in operations.values()
        ):
            raise _invalid(meta, name, "is a to-one relation: give one record", "a dict")
    return scalars, nested


def create_record(client: Client, meta: ModelMeta, data: Any) -> dict[str, Any]:
    """Insert one record and its nested writes; returns the new row, decoded."""
    scalars, nested = _split(meta, data, _CREATE_OPERATIONS)
    client.stamp(meta, scalars)
    before = {n: ops for n, ops in nested.items() if meta.relations[n].holds_fk}
    for name, operations in before.items():
        scalars.update(_resolve_parent(client, meta, meta.relations[name], operations))
    encoder = RowEncoder(meta, tuple(scalars))
    row = encoder.encode(scalars)
    result = client.query(insert_sql(meta, encoder.names) + returning(meta), row)
    record = meta.full_reader.values(result[0])
    for name, operations in nested.items():
        if name not in before:
            _write_children(client, meta, meta.relations[name], record, operations)
    return record


def _resolve_parent(
    client: Client, meta: ModelMeta, link: RelationLink, operations: dict[str, Any]
) -> dict[str, Any]:
    """For a relation whose key this record holds: the key values to store, from the
    record connected or created. ``disconnect`` clears the key."""
    target = client.metas[link.target]
    if "disconnect" in operations:
        if not link.optional:
            raise _invalid(meta, link.name, "is required and cannot be disconnected", "connect")
        return dict.fromkeys(link.source_fields) if operations["disconnect"] else {}
    if "connect" in operations:
        key = find_key(client, target, operations["connect"], link.target_fields)
    elif "connect_or_create" in operations:
        key = _connect_or_create(
            client, target, link.target_fields, operations["connect_or_create"]
        )
    elif "create" in operations:
        created = create_record(client, target, operations["create"])
        key = tuple(created[f] for f in link.target_fields)
    else:  # "set" makes no sense for a to-one relation
        raise _invalid(meta, link.name, "takes create, connect or connect_or_create", "one of them")
    return dict(zip(link.source_fields, key, strict=True))


def _connect_or_create(
    client: Client, target: ModelMeta, fields: tuple[str, ...], argument: Any
) -> tuple[Any, ...]:
    if not isinstance(argument, Mapping) or set(argument) != {"where", "create"}:
        raise _invalid(target, None, "connect_or_create takes {'where': ..., 'create': ...}", "")
    try:
        return find_key(client, target, argument["where"], fields)
    except RecordNotFoundError:
        created = create_record(client, target, argument["create"])
        return tuple(created[f] for f in fields)


def _write_children(
    client: Client,
    meta: ModelMeta,
    link: RelationLink,
    parent: dict[str, Any],
    operations: dict[str, Any],
) -> None:
    """Nested writes on relations whose key the related rows (or a join table) hold."""
    target = client.metas[link.target]
    parent_key = tuple(parent[f] for f in link.source_fields)
    back_reference = dict(zip(link.target_fields, parent_key, strict=True))
    # set: drop every current link first, then connect the given records.
    if "set" in operations:
        if not link.many:
            raise _invalid(meta, link.name, "set is for list relations", "connect / disconnect")
        _unlink(client, meta, link, target, parent_key, None)
        operations = {**operations, "connect": _as_list(operations["set"])}
    if "disconnect" in operations:
        value = operations["disconnect"]
        if link.many:
            for where in _as_list(value):
                _unlink(client, meta, link, target, parent_key, where)
        elif value:
            _unlink(client, meta, link, target, parent_key, None)
    for item in _as_list(operations.get("create", [])):
        if not isinstance(item, Mapping):
            raise _invalid(target, None, f"create takes dicts, got {describe_value(item)}", "")
        if link.kind == "m2m":
            created = create_record(client, target, item)
            _link(client, link, parent_key, tuple(created[f] for f in link.target_fields))
        else:
            create_record(client, target, {**item, **back_reference})
    for where in _as_list(operations.get("connect", [])):
        _connect_child(client, link, target, parent_key, where)
    for argument in _as_list(operations.get("connect_or_create", [])):
        if not isinstance(argument, Mapping) or set(argument) != {"where", "create"}:
            raise _invalid(
                target, None, "connect_or_create takes {'where': ..., 'create': ...}", ""
            )
        try:
            _connect_child(client, link, target, parent_key, argument["where"])
        except RecordNotFoundError:
            _write_children(client, meta, link, parent, {"create": [argument["create"]]})


def _connect_child(
    client: Client, link: RelationLink, target: ModelMeta, parent_key: tuple[Any, ...], where: Any
) -> None:
    if link.kind == "m2m":
        _link(client, link, parent_key, find_key(client, target, where, link.target_fields))
        return
    builder = client.sql()
    assignments = ", ".join(
        f"{target.column(f)} = {builder.bind(target.codecs[f].to_sql(v))}"
        for f, v in zip(link.target_fields, parent_key, strict=True)
    )
    condition = builder.where(target, "t0", unique_where(target, where))
    changed = client.execute(
        f"UPDATE {target.table_sql} AS t0 SET {assignments} WHERE {condition}", builder.params
    )
    if not changed:
        raise RecordNotFoundError(target.name, where)


def _link(
    client: Client, link: RelationLink, source: tuple[Any, ...], target: tuple[Any, ...]
) -> None:
    table = quote(link.join_table or "")
    columns = f"{quote(link.join_source or '')}, {quote(link.join_target or '')}"
    client.execute(
        f"INSERT INTO {table} ({columns}) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [source[0], target[0]],
    )


def _unlink(
    client: Client,
    meta: ModelMeta,
    link: RelationLink,
    target: ModelMeta,
    parent_key: tuple[Any, ...],
    where: Any,
) -> None:
    """Remove the link to the related record matching ``where`` (all of them when None):
    clear its foreign key, or delete the join-table row."""
    builder = client.sql()
    if link.kind == "m2m":
        sql = (
            f"DELETE FROM {quote(link.join_table or '')} "
            f"WHERE {quote(link.join_source or '')} = {builder.bind(parent_key[0])}"
        )
        if where is not None:
            key = find_key(client, target, where, link.target_fields)
            sql += f" AND {quote(link.join_target or '')} = {builder.bind(key[0])}"
        client.execute(sql, builder.params)
        return
    if not all(target.scalars[f].optional for f in link.target_fields):
        raise _invalid(
            meta,
            link.name,
            f"cannot disconnect: {target.name}.{', '.join(link.target_fields)} is required",
            "delete the related records instead",
        )
    assignments = ", ".join(f"{target.column(f)} = NULL" for f in link.target_fields)
    mine = " AND ".join(
        f"t0.{target.column(f)} = {builder.bind(target.codecs[f].to_sql(v))}"
        for f, v in zip(link.target_fields, parent_key, strict=True)
    )
    condition = "1" if where is None else builder.where(target, "t0", unique_where(target, where))
    client.execute(
        f"UPDATE {target.table_sql} AS t0 SET {assignments} WHERE {mine} AND {condition}",
        builder.params,
    )


# -- update ----------------------------------------------------------------------------------


def encode_update(meta: ModelMeta, data: Mapping[str, Any], builder: SqlBuilder) -> list[str]:
    """``SET`` assignments for scalar values and atomic number operations, with
    ``@updatedAt`` fields set to now unless given."""
    assignments = []
    for name, value in data.items():
        field = meta.scalars[name]
        codec = meta.codecs[name]
        column = meta.column(name)
        if isinstance(value, Mapping) and field.type != "Json":
            if len(value) != 1:
                raise _invalid(
                    meta, name, "takes one operation", "{'set': ...} or {'increment': n}"
                )
            ((operation, operand),) = value.items()
            if operation == "set":
                assignments.append(f"{column} = {builder.bind(codec.to_sql(operand))}")
            elif operation in _ATOMIC and field.type in _NUMERIC and not field.list:
                operand_sql = builder.bind(codec.to_sql_element(operand))
                assignments.append(f"{column} = {column} {_ATOMIC[operation]} {operand_sql}")
            else:
                allowed = "set, " + ", ".join(_ATOMIC) if field.type in _NUMERIC else "set"
                raise _invalid(
                    meta, name, f"unknown update operation {operation!r}", f"one of {allowed}"
                )
        else:
            assignments.append(f"{column} = {builder.bind(codec.to_sql(value))}")
    for name in meta.updated_at:
        if name not in data:
            assignments.append(
                f"{meta.column(name)} = {builder.bind(meta.codecs[name].to_sql(now()))}"
            )
    return assignments


def update_record(client: Client, meta: ModelMeta, where: Any, data: Any) -> dict[str, Any]:
    """Update the record matching a unique ``where`` and run nested writes; returns the
    updated row, decoded. RecordNotFoundError (P2025) when there is no such record."""
    flat_where = unique_where(meta, where)
    scalars, nested = _split(meta, data, _UPDATE_OPERATIONS)
    client.check_update(meta, scalars)
    for name, operations in nested.items():
        link = meta.relations[name]
        if link.holds_fk:
            resolved = _resolve_parent(client, meta, link, operations)
            scalars.update({f: {"set": v} for f, v in resolved.items()})
    builder = client.sql()
    assignments = encode_update(meta, scalars, builder)
    condition = builder.where(meta, "t0", flat_where)
    if assignments:
        sql = (
            f"UPDATE {meta.table_sql} AS t0 SET {', '.join(assignments)} WHERE {condition}"
            + returning(meta)
        )
    else:
        columns = ", ".join(f"t0.{meta.column(n)}" for n in meta.scalars)
        sql = f"SELECT {columns} FROM {meta.table_sql} AS t0 WHERE {condition}"
    rows = client.query(sql, builder.params)
    if not rows:
        raise RecordNotFoundError(meta.name, where)
    record = meta.full_reader.values(rows[0])
    for name, operations in nested.items():
        link = meta.relations[name]
        if not link.holds_fk:
            _write_children(client, meta, link, record, operations)
    return record
