"""Creating and updating records, with Prisma's nested writes.

``data`` holds scalar fields and relation fields. A relation field takes nested operations:

* in ``create`` and ``update``: ``create`` (a dict or a list), ``connect`` (a unique where,
  or a list), ``connect_or_create`` (``{"where": ..., "create": ...}``, or a list);
* in ``update`` only: ``disconnect`` (True for a to-one relation, unique wheres for a list)
  and ``set`` (the complete new list of related records, by unique where);
* ``create_many`` (``{"data": [...], "skip_duplicates": bool}``) on a one-to-many relation;
* in ``update`` only, on the related records themselves: ``update`` (``{"where": ...,
  "data": ...}`` or a list for a list relation, the data for a to-one), ``update_many``
  (``{"where": filter, "data": scalars}`` or a list), ``delete`` (True for a to-one
  relation, unique wheres for a list), ``delete_many`` (filters) and ``upsert``
  (``{"where": ..., "create": ..., "update": ...}`` or a list; to-one: no where).

Those last operations touch only records related to this one, and only those the client
sees (its implicit filters): a unique where naming another record is RecordNotFoundError,
as for a top-level update. ``delete`` on a soft-deleting model marks the record deleted.

The order follows the foreign key. When this record holds it (``Job.user``), the related
record is found or created first and its key written into this row. When the related rows
hold it (``User.jobs``) or a join table does (many-to-many), they are written after this
row exists. The caller runs the whole thing inside one transaction.

Scalar updates (values, ``{"set": value}``, ``increment``... and ``push``) are
`strata.client.updates`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from strata.client.defaults import now
from strata.client.meta import missing_rule
from strata.client.updates import invalid as _invalid
from strata.client.updates import returning, update_rows
from strata.client.where import SqlBuilder
from strata.dialects.values import describe_value
from strata.errors import RecordNotFoundError, UniqueConstraintError

if TYPE_CHECKING:
    from strata.client.base import ClientBase
    from strata.client.meta import ModelMeta, RelationLink

__all__ = ["RowEncoder", "create_record", "unique_where", "update_record"]

_CREATE_OPERATIONS = frozenset({"create", "connect", "connect_or_create", "create_many"})
#: Nested operations on the related records themselves, which must belong to this one.
_OWNED_OPERATIONS = frozenset({"update", "update_many", "delete", "delete_many", "upsert"})
_UPDATE_OPERATIONS = _CREATE_OPERATIONS | _OWNED_OPERATIONS | {"disconnect", "set"}
#: The keys of one item of each owned operation: a list relation's, then a to-one's.
_ITEM_KEYS: dict[str, tuple[frozenset[str] | None, frozenset[str] | None]] = {
    "update": (frozenset({"where", "data"}), None),
    "update_many": (frozenset({"where", "data"}), None),
    "upsert": (frozenset({"where", "create", "update"}), frozenset({"create", "update"})),
}


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
    client: ClientBase[Any], meta: ModelMeta, where: Any, fields: tuple[str, ...]
) -> tuple[Any, ...]:
    """The values of ``fields`` of the record matching a unique ``where``, or
    RecordNotFoundError (P2025)."""
    builder = client.sql()
    sql = builder.sql
    condition = builder.where(meta, "t0", unique_where(meta, where))
    columns = [sql.qualified("t0", meta.column(f)) for f in fields]
    rows = client.query(
        sql.select_sql(columns, meta.table_sql, "t0", condition, limit=2), builder.params
    )
    if not rows:
        raise RecordNotFoundError(meta.name, where)
    return tuple(rows[0])


# -- create ----------------------------------------------------------------------------------


class RowEncoder:
    """Encodes a new row that gives one set of fields, adding what `missing_rule` says for
    the others. Required fields without a value or a database default are an error here,
    not a NOT NULL failure later."""

    def __init__(self, meta: ModelMeta, given: tuple[str, ...]) -> None:
        for name in given:
            if name not in meta.scalars:
                raise meta.unknown_field(name)
        self.meta = meta
        self._given = given
        rules = {n: missing_rule(meta, n) for n in meta.scalars if n not in given}
        for name, rule in rules.items():
            if rule == "required":
                raise _invalid(meta, name, "is required", f"a value for {name}")
        self._generated = tuple(
            (n, meta.codecs[n].to_sql, rule) for n, rule in rules.items() if callable(rule)
        )
        self._stamped = tuple(n for n, rule in rules.items() if rule == "now")
        self._fixed = tuple((n, rule[1]) for n, rule in rules.items() if isinstance(rule, tuple))
        #: The columns of every encoded row, in order.
        self.names = (
            *given,
            *(n for n, _, _ in self._generated),
            *self._stamped,
            *(n for n, _ in self._fixed),
        )

    def encode(self, item: Mapping[str, Any]) -> tuple[Any, ...]:
        """One row's parameters."""
        codecs = self.meta.codecs
        current = now()
        return (
            *(codecs[n].to_sql(item[n]) for n in self._given),
            *(to_sql(generate()) for _, to_sql, generate in self._generated),
            *(codecs[n].to_sql(current) for n in self._stamped),
            *(value for _, value in self._fixed),
        )


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
        for operation, argument in operations.items():
            _check_operation(meta, link, operation, argument)
        if link.holds_fk and len(operations) > 1 and operations.keys() & _OWNED_OPERATIONS:
            raise _invalid(meta, name, "takes one nested operation", "one operation")
    return scalars, nested


def _check_operation(meta: ModelMeta, link: RelationLink, operation: str, argument: Any) -> None:
    """The shape of one of the newer nested operations, checked before any SQL runs (the
    nested data itself is checked when it is written, inside the transaction)."""
    if operation in ("create_many", "update_many", "delete_many") and not link.many:
        raise _invalid(meta, link.name, f"{operation} is for list relations", "update / delete")
    if operation == "create_many":
        if link.kind == "m2m":
            raise _invalid(
                meta, link.name, "create_many is not for many-to-many relations", "create"
            )
        expected = "{'data': [dict, ...], 'skip_duplicates': bool}"
        rows = argument.get("data") if isinstance(argument, Mapping) else None
        if (
            not isinstance(argument, Mapping)
            or not set(argument) <= {"data", "skip_duplicates"}
            or not isinstance(rows, Sequence)
            or isinstance(rows, str)
            or not all(isinstance(row, Mapping) for row in rows)
        ):
            raise _invalid(
                meta,
                link.name,
                f"create_many takes {expected}, got {describe_value(argument)}",
                expected,
            )
    elif operation == "delete" and not link.many:
        if not isinstance(argument, bool):
            raise _invalid(meta, link.name, "delete takes True on a to-one relation", "True")
        if link.holds_fk and not link.optional:
            raise _invalid(meta, link.name, "is required and cannot be deleted", "update")
    elif operation in _OWNED_OPERATIONS:
        keys = _ITEM_KEYS.get(operation, (None, None))[0 if link.many else 1]
        items = _as_list(argument) if link.many else [argument]
        for item in items:
            if not isinstance(item, Mapping) or (keys is not None and set(item) != keys):
                expected = "a dict" if keys is None else "{" + ", ".join(sorted(keys)) + "}"
                raise _invalid(
                    meta,
                    link.name,
                    f"{operation} takes {expected}, got {describe_value(item)}",
                    expected,
                )


def create_record(client: ClientBase[Any], meta: ModelMeta, data: Any) -> dict[str, Any]:
    """Insert one record and its nested writes; returns the new row, decoded. On a
    soft-deleting model, a unique value held by a soft-deleted row revives that row
    (see `_revive`); the caller runs the create in a transaction then."""
    scalars, nested = _split(meta, data, _CREATE_OPERATIONS)
    client.stamp(meta, scalars)
    before = {n: ops for n, ops in nested.items() if meta.relations[n].holds_fk}
    for name, operations in before.items():
        scalars.update(_resolve_parent(client, meta, meta.relations[name], operations))
    encoder = RowEncoder(meta, tuple(scalars))
    row = encoder.encode(scalars)
    columns = [meta.column(n) for n in encoder.names]
    sql = client.dialect.query.insert_sql(meta.table_sql, columns, returning(meta))
    deleted = client.reviving(meta)
    if deleted is None:
        result = client.query(sql, row)
    else:
        try:
            # A savepoint of its own: on PostgreSQL a failed statement aborts the whole
            # transaction, and the revival must run in it after the INSERT failed.
            with client.db.transaction_():
                result = client.query(sql, row)
        except UniqueConstraintError as conflict:
            result = _revive(
                client,
                meta,
                deleted,
                tuple(scalars),
                dict(zip(encoder.names, row, strict=True)),
                conflict,
            )
            if not result:
                raise
    record = meta.full_reader.values(result[0])
    for name, operations in nested.items():
        if name not in before:
            _write_children(client, meta, meta.relations[name], record, operations)
    return record


def _revive(
    client: ClientBase[Any],
    meta: ModelMeta,
    deleted: str,
    given: tuple[str, ...],
    values: dict[str, Any],
    conflict: UniqueConstraintError,
) -> list[tuple[Any, ...]]:
    """A create's INSERT hit the unique key ``conflict`` names: when a soft-deleted row
    this view may see holds it, bring that row back in its place and return it (else
    nothing, and the caller raises the conflict). The row is updated in place: ``deleted``
    is cleared, the fields the create gives are written (``values``, already encoded) and
    ``@updatedAt`` fields are stamped, as in an update; fields the create leaves out keep
    their stored values, the primary key among them, so rows referencing it stay attached.
    A live row holding the key is no soft-deleted one, so that conflict stands; so does
    one the revived row meets on another unique key."""
    by_column = {field.column: name for name, field in meta.scalars.items()}
    key = [by_column[column] for column in conflict.columns if column in by_column]
    if conflict.table != meta.model.table or not key or len(key) != len(conflict.columns):
        return []
    if not all(name in values for name in key):
        return []  # part of the key comes from a database default: not this create's value
    builder = client.with_deleted_rows().sql()
    sql = builder.sql
    changed = {name: values[name] for name in given if name != deleted}
    changed.update({name: values[name] for name in meta.updated_at if name not in given})
    assignments = [
        sql.assignment(meta.column(name), builder.bind(value)) for name, value in changed.items()
    ]
    assignments.append(sql.assignment(meta.column(deleted), builder.bind(values.get(deleted))))
    condition = builder.where(meta, "t0", {deleted: {"not": None}})
    held = [
        sql.compare(sql.qualified("t0", meta.column(name)), "equals", builder.bind(values[name]))
        for name in key
    ]
    statement = sql.update_sql(
        meta.table_sql, "t0", assignments, sql.all_of([condition, *held]), returning(meta)
    )
    return client.query(statement, builder.params)


def _resolve_parent(
    client: ClientBase[Any], meta: ModelMeta, link: RelationLink, operations: dict[str, Any]
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
    client: ClientBase[Any], target: ModelMeta, fields: tuple[str, ...], argument: Any
) -> tuple[Any, ...]:
    if not isinstance(argument, Mapping) or set(argument) != {"where", "create"}:
        raise _invalid(target, None, "connect_or_create takes {'where': ..., 'create': ...}", "")
    try:
        return find_key(client, target, argument["where"], fields)
    except RecordNotFoundError:
        created = create_record(client, target, argument["create"])
        return tuple(created[f] for f in fields)


def _write_children(
    client: ClientBase[Any],
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
    if "create_many" in operations:
        argument = operations["create_many"]
        client.repositories[target.name].create_many(
            [{**row, **back_reference} for row in argument["data"]],
            skip_duplicates=bool(argument.get("skip_duplicates", False)),
        )
    _write_owned(client, meta, link, parent, operations)


def _write_owned(
    client: ClientBase[Any],
    meta: ModelMeta,
    link: RelationLink,
    parent: dict[str, Any],
    operations: dict[str, Any],
) -> None:
    """``update``, ``update_many``, ``upsert``, ``delete`` and ``delete_many`` of the
    records related to ``parent`` through a relation whose key they (or a join table) hold.
    A to-one relation's operations act on its one related record, if any."""
    target = client.metas[link.target]
    parent_key = tuple(parent[f] for f in link.source_fields)

    def mine(where: Any) -> Callable[[SqlBuilder], str]:
        return lambda builder: _owned(builder, link, target, parent_key, where)

    def unique(where: Any) -> Any:
        # A list relation names the record; a to-one relation has only the one.
        return unique_where(target, where) if link.many else None

    def missing(where: Any) -> RecordNotFoundError:
        return RecordNotFoundError(target.name, where or {f"{meta.name}.{link.name}": parent_key})

    items: dict[str, list[Any]] = {
        name: _as_list(operations[name]) if link.many else [operations[name]]
        for name in ("update", "upsert", "update_many", "delete", "delete_many")
        if name in operations
    }
    for item in items.get("update", []):
        where, data = (item["where"], item["data"]) if link.many else (None, item)
        found = _find_owned(client, target, mine(unique(where)))
        if found is None:
            raise missing(where)
        update_record(client, target, found, data)
    for item in items.get("upsert", []):
        found = _find_owned(client, target, mine(unique(item.get("where"))))
        if found is None:
            _write_children(client, meta, link, parent, {"create": [item["create"]]})
        else:
            update_record(client, target, found, item["update"])
    for item in items.get("update_many", []):
        _update_rows(client, target, item["data"], mine(item["where"]))
    for item in items.get("delete", []):
        if item is False:
            continue
        if not _delete_rows(client, target, mine(unique(item))):
            raise missing(item if link.many else None)
    for item in items.get("delete_many", []):
        _delete_rows(client, target, mine(item))


def _owned(
    builder: SqlBuilder,
    link: RelationLink,
    target: ModelMeta,
    parent_key: tuple[Any, ...],
    where: Any,
) -> str:
    """The condition for rows of ``target`` (as ``t0``) related to the parent whose key is
    ``parent_key`` and matching ``where``, with the client's implicit filter."""
    sql = builder.sql
    if link.kind == "m2m":
        join = builder.alias()
        linked = [
            sql.compare(
                sql.qualified(join, sql.quote(link.join_source or "")),
                "equals",
                builder.bind(parent_key[0]),
            ),
            sql.compare(
                sql.qualified(join, sql.quote(link.join_target or "")),
                "equals",
                sql.qualified("t0", sql.quote(link.target_columns[0])),
            ),
        ]
        table = sql.table_as(sql.quote(link.join_table or ""), join)
        belongs = [sql.exists(sql.rows(table, sql.all_of(linked)))]
    else:
        belongs = [
            sql.compare(
                sql.qualified("t0", target.column(f)),
                "equals",
                builder.bind(target.codecs[f].to_sql(v)),
            )
            for f, v in zip(link.target_fields, parent_key, strict=True)
        ]
    return sql.all_of([*belongs, sql.grouped(builder.where(target, "t0", where))])


def _find_owned(
    client: ClientBase[Any], meta: ModelMeta, condition: Callable[[SqlBuilder], str]
) -> dict[str, Any] | None:
    """A unique where for the one row ``condition`` picks, if there is one."""
    builder = client.sql()
    sql = builder.sql
    fields = meta.record_key
    columns = [sql.qualified("t0", meta.column(f)) for f in fields]
    rows = client.query(
        sql.select_sql(columns, meta.table_sql, "t0", condition(builder), limit=1),
        builder.params,
    )
    if not rows:
        return None
    values = meta.reader(fields).values(rows[0])
    return meta.key_where(fields, tuple(values[f] for f in fields))


def _update_rows(
    client: ClientBase[Any], meta: ModelMeta, data: Any, condition: Callable[[SqlBuilder], str]
) -> int:
    """``update_many`` of the rows ``condition`` picks: scalar fields only."""
    if not isinstance(data, Mapping):
        raise _invalid(meta, None, f"data must be a dict, got {describe_value(data)}", "a dict")
    for name in data:
        meta.scalar(name)
    client.check_update(meta, data)
    if not data and not meta.updated_at:
        return 0
    return update_rows(client, meta, data, condition)[0]


def _delete_rows(
    client: ClientBase[Any], meta: ModelMeta, condition: Callable[[SqlBuilder], str]
) -> int:
    """Delete the rows ``condition`` picks, or on a soft-deleting model mark them deleted
    (as `Repository.delete` does); the number of rows."""
    builder = client.sql()
    sql = builder.sql
    deleted = client.soft_delete.get(meta.name)
    if deleted is None:
        statement = sql.delete_sql(meta.table_sql, "t0", condition(builder))
    else:
        # The SET value comes first in the statement, so it is bound first. A row deleted
        # before (visible in a with_deleted() view) keeps the time it was deleted.
        column = meta.column(deleted)
        stamp = builder.bind(meta.codecs[deleted].to_sql(now()))
        mark = sql.assignment(column, sql.first_non_null(column, stamp))
        statement = sql.update_sql(meta.table_sql, "t0", [mark], condition(builder))
    return client.execute(statement, builder.params)


def _write_parent(
    client: ClientBase[Any],
    meta: ModelMeta,
    link: RelationLink,
    where: Any,
    operations: dict[str, Any],
) -> tuple[dict[str, Any], Callable[[], None] | None]:
    """``update``, ``upsert`` or ``delete`` of the record this one's foreign key points at
    (the one operation `_split` allows). Returns the key values to store in this row, and
    for ``delete`` what to run once this row no longer points at the record."""
    ((operation, argument),) = operations.items()
    target = client.metas[link.target]
    current = find_key(client, meta, where, link.source_fields)
    key_where = None if None in current else target.key_where(link.target_fields, current)
    if operation == "upsert":
        if key_where is not None:
            try:
                find_key(client, target, key_where, link.target_fields)
            except RecordNotFoundError:
                pass
            else:
                update_record(client, target, key_where, argument["update"])
                return {}, None
        created = create_record(client, target, argument["create"])
        return {
            s: created[t] for s, t in zip(link.source_fields, link.target_fields, strict=True)
        }, None
    if key_where is None:
        raise RecordNotFoundError(target.name, {link.name: None})
    if operation == "update":
        update_record(client, target, key_where, argument)
        return {}, None
    if operation == "delete" and argument:

        def delete() -> None:
            condition = unique_where(target, key_where)
            if not _delete_rows(client, target, lambda b: b.where(target, "t0", condition)):
                raise RecordNotFoundError(target.name, key_where)

        return dict.fromkeys(link.source_fields), delete
    return {}, None


def _connect_child(
    client: ClientBase[Any],
    link: RelationLink,
    target: ModelMeta,
    parent_key: tuple[Any, ...],
    where: Any,
) -> None:
    if link.kind == "m2m":
        _link(client, link, parent_key, find_key(client, target, where, link.target_fields))
        return
    builder = client.sql()
    sql = builder.sql
    assignments = [
        sql.assignment(target.column(f), builder.bind(target.codecs[f].to_sql(v)))
        for f, v in zip(link.target_fields, parent_key, strict=True)
    ]
    condition = builder.where(target, "t0", unique_where(target, where))
    changed = client.execute(
        sql.update_sql(target.table_sql, "t0", assignments, condition), builder.params
    )
    if not changed:
        raise RecordNotFoundError(target.name, where)


def _link(
    client: ClientBase[Any], link: RelationLink, source: tuple[Any, ...], target: tuple[Any, ...]
) -> None:
    sql = client.dialect.query
    statement = sql.link_sql(
        sql.quote(link.join_table or ""),
        sql.quote(link.join_source or ""),
        sql.quote(link.join_target or ""),
    )
    client.execute(statement, [source[0], target[0]])


def _unlink(
    client: ClientBase[Any],
    meta: ModelMeta,
    link: RelationLink,
    target: ModelMeta,
    parent_key: tuple[Any, ...],
    where: Any,
) -> None:
    """Remove the link to the related record matching ``where`` (all of them when None):
    clear its foreign key, or delete the join-table row."""
    builder = client.sql()
    sql = builder.sql
    if link.kind == "m2m":
        linked = [
            sql.compare(sql.quote(link.join_source or ""), "equals", builder.bind(parent_key[0]))
        ]
        if where is not None:
            key = find_key(client, target, where, link.target_fields)
            linked.append(
                sql.compare(sql.quote(link.join_target or ""), "equals", builder.bind(key[0]))
            )
        statement = sql.delete_sql(sql.quote(link.join_table or ""), None, sql.all_of(linked))
        client.execute(statement, builder.params)
        return
    if not all(target.scalars[f].optional for f in link.target_fields):
        raise _invalid(
            meta,
            link.name,
            f"cannot disconnect: {target.name}.{', '.join(link.target_fields)} is required",
            "delete the related records instead",
        )
    assignments = [sql.assignment(target.column(f), sql.null()) for f in link.target_fields]
    mine = [
        sql.compare(
            sql.qualified("t0", target.column(f)),
            "equals",
            builder.bind(target.codecs[f].to_sql(v)),
        )
        for f, v in zip(link.target_fields, parent_key, strict=True)
    ]
    condition = (
        sql.always() if where is None else builder.where(target, "t0", unique_where(target, where))
    )
    client.execute(
        sql.update_sql(target.table_sql, "t0", assignments, sql.all_of([*mine, condition])),
        builder.params,
    )


# -- update ----------------------------------------------------------------------------------


def update_record(
    client: ClientBase[Any], meta: ModelMeta, where: Any, data: Any
) -> dict[str, Any]:
    """Update the record matching a unique ``where`` and run nested writes; returns the
    updated row, decoded. RecordNotFoundError (P2025) when there is no such record."""
    flat_where = unique_where(meta, where)
    scalars, nested = _split(meta, data, _UPDATE_OPERATIONS)
    client.check_update(meta, scalars)
    after = []
    for name, operations in nested.items():
        link = meta.relations[name]
        if link.holds_fk:
            if operations.keys() & _OWNED_OPERATIONS:
                resolved, then = _write_parent(client, meta, link, flat_where, operations)
                if then is not None:
                    after.append(then)
            else:
                resolved = _resolve_parent(client, meta, link, operations)
            scalars.update({f: {"set": v} for f, v in resolved.items()})

    def condition(builder: SqlBuilder) -> str:
        return builder.where(meta, "t0", flat_where)

    _, rows = update_rows(client, meta, scalars, condition, return_rows=True)
    if not rows:
        raise RecordNotFoundError(meta.name, where)
    record = meta.full_reader.values(rows[0])
    for then in after:
        then()
    for name, operations in nested.items():
        link = meta.relations[name]
        if not link.holds_fk:
            _write_children(client, meta, link, record, operations)
    return record
