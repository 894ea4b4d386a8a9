"""``include`` and ``select``: which fields a read returns, and loading related records.

Related records are loaded one query per relation per level, never one per parent row: the
parents' keys are collected and the related rows fetched with ``WHERE key IN (...)`` (in
chunks of `CHUNK` keys, well under SQLite's bound-variable limit), then grouped back onto
their parents. ``take``/``skip`` inside an include apply per parent, with
``ROW_NUMBER() OVER (PARTITION BY key ...)``. Implicit many-to-many relations join through
their ``_AToB`` table in the same single query.

``include`` returns model instances with the included relation attributes filled (a list,
or a record or None); ``select`` returns plain dicts holding only what was selected, since
a partial record is not a valid instance of its model. ``omit`` (``{"password": True}``),
Prisma's complement of ``select``, returns dicts too: every scalar field but the omitted
ones, plus what ``include`` (which it may accompany) loads. It takes scalar fields only,
works at any level (``include={"posts": {"omit": {"body": True}}}``), and together with
``select`` at the same level is a `ValidationError`, as in Prisma.

``_count`` in an include or select (``{"_count": True}`` for every list relation, or
``{"_count": {"select": {"posts": True, "tags": {"where": {...}}}}}``) gives each record a
``_count`` dict, ``{"posts": 3, ...}``, counting the related rows the client sees. The
counts of one level take one more query (per `CHUNK` records): the records' rows again, by
primary key, with one correlated ``COUNT(*)`` subquery per counted relation. That handles
direct and many-to-many relations, per-relation wheres and the implicit filters with the
same `SqlBuilder` code as relation filters, and adds nothing to the main SELECT, which
windows and ``distinct`` shape. On a model instance the counts are pydantic's extra data
(``__pydantic_extra__``): ``record._count`` reads them and ``repr`` shows them, but
``model_dump`` leaves them out, since ``_count`` is no field of the model.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strata.client.where import SqlBuilder
from strata.dialects.values import Codec, describe_value
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.base import ClientBase
    from strata.client.meta import ModelMeta, RelationLink

__all__ = ["CHUNK", "RelationArgs", "Selection", "load_relations", "parse_selection"]

#: Parent keys per relation query. SQLite allows 32766 bound variables (999 before 3.32);
#: a nested ``where`` adds its own, so stay far below either.
CHUNK = 500

#: The include/select key for relation counts, as in Prisma Client.
COUNT = "_count"
_RELATION_ARGS = frozenset({"where", "order_by", "take", "skip", "include", "select", "omit"})


@dataclass
class RelationArgs:
    """What to load for one relation: its filter, order and window, and nested shape."""

    link: RelationLink
    selection: Selection
    where: Mapping[str, Any] | None = None
    order_by: Any = None
    take: int | None = None
    skip: int | None = None


@dataclass
class Selection:
    """The shape of the records one read returns."""

    meta: ModelMeta
    #: Scalar fields to read: what is returned plus the keys relations need.
    columns: tuple[str, ...]
    relations: dict[str, RelationArgs] = field(default_factory=dict)
    #: With ``select``: the fields returned, as dicts. None: model instances.
    selected: tuple[str, ...] | None = None
    #: ``_count``: the list relations counted, each with its where (or None).
    counts: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)


def _flag(meta: ModelMeta, name: str, value: Any, argument: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValidationError(
        f"{meta.name}.{name}: {argument} takes True/False for a scalar field, got "
        f"{describe_value(value)}",
        model=meta.name,
        field=name,
        expected="True or False",
    )


def parse_selection(
    client: ClientBase[Any],
    meta: ModelMeta,
    include: Mapping[str, Any] | None,
    select: Mapping[str, Any] | None,
    omit: Mapping[str, Any] | None = None,
) -> Selection:
    if include is not None and select is not None:
        raise ValidationError(
            f"{meta.name}: use include or select, not both at the same level",
            model=meta.name,
            expected="include= or select=",
        )
    if select is not None and omit is not None:
        raise ValidationError(
            f"{meta.name}: use select or omit, not both at the same level",
            model=meta.name,
            expected="select= or omit=",
        )
    relations: dict[str, RelationArgs] = {}
    selected: list[str] | None = None
    chosen = include if include is not None else select
    if chosen is not None and not isinstance(chosen, Mapping):
        raise ValidationError(
            f"{meta.name}: include/select take a dict, got {describe_value(chosen)}",
            model=meta.name,
            expected="a dict of field names",
        )
    if select is not None:
        selected = []
    counts: dict[str, Mapping[str, Any] | None] = {}
    for name, value in (chosen or {}).items():
        if name == COUNT:
            counts = _count_args(meta, value)
            for counted, where in counts.items():
                # Compiled here only to refuse a bad where before the read's first query.
                client.sql().count_related(meta.relations[counted], "t0", where)
            if counts and selected is not None:
                selected.append(name)
        elif name in meta.relations:
            if value is False:
                continue
            relations[name] = _relation_args(client, meta, meta.relations[name], value)
            if selected is not None:
                selected.append(name)
        elif name in meta.scalars and selected is not None:
            if _flag(meta, name, value, "select"):
                selected.append(name)
        else:
            kind = "relation" if include is not None else "field"
            raise meta.unknown_field(name, kind)
    if omit is not None:
        # Every scalar field not omitted, then what include loads.
        selected = [*_kept_scalars(meta, omit), *relations, *([COUNT] if counts else [])]
    if selected is None:
        columns = tuple(meta.scalars)
    else:
        needed = [n for n in selected if n in meta.scalars]
        for args in relations.values():
            needed.extend(f for f in args.link.source_fields if f not in needed)
        if counts:
            needed.extend(f for f in meta.record_key if f not in needed)
        columns = tuple(needed)
    return Selection(
        meta, columns, relations, None if selected is None else tuple(selected), counts
    )


def _kept_scalars(meta: ModelMeta, omit: Any) -> list[str]:
    """The scalar fields a read with ``omit`` returns: all but those omitted (True)."""
    if not isinstance(omit, Mapping):
        raise ValidationError(
            f"{meta.name}: omit takes a dict of scalar fields, got {describe_value(omit)}",
            model=meta.name,
            expected="{'field': True}",
        )
    for name, value in omit.items():
        if name in meta.relations:
            raise ValidationError(
                f"{meta.name}.{name}: omit takes scalar fields; leave a relation out of "
                "include instead",
                model=meta.name,
                field=name,
                expected="a scalar field",
            )
        meta.scalar(name)
        _flag(meta, name, value, "omit")
    return [name for name in meta.scalars if omit.get(name) is not True]


def _count_args(meta: ModelMeta, value: Any) -> dict[str, Mapping[str, Any] | None]:
    """The relations ``_count`` asks for, each with its where."""
    expected = "True or {'select': {'relation': True | {'where': ...}}}"
    counts: dict[str, Mapping[str, Any] | None]
    if value is True:
        counts = {n: None for n, link in meta.relations.items() if link.many}
        if not counts:
            # Prisma Client offers no _count here; silently returning none would hide it.
            raise ValidationError(
                f"{meta.name}: {COUNT} counts list relations, and {meta.name} has none",
                model=meta.name,
                field=COUNT,
                expected="a model with a list relation",
            )
        return counts
    if value is False:
        return {}
    if not isinstance(value, Mapping) or set(value) != {"select"}:
        raise ValidationError(
            f"{meta.name}: {COUNT} takes {expected}, got {describe_value(value)}",
            model=meta.name,
            field=COUNT,
            expected=expected,
        )
    chosen = value["select"]
    if not isinstance(chosen, Mapping):
        raise ValidationError(
            f"{meta.name}: {COUNT}'s select takes a dict, got {describe_value(chosen)}",
            model=meta.name,
            field=COUNT,
            expected=expected,
        )
    counts = {}
    for name, argument in chosen.items():
        link = meta.relations.get(name)
        if link is None or not link.many:
            raise ValidationError(
                f"{meta.name}.{name}: {COUNT} counts list relations, and {name} is not one "
                f"(list relations: {', '.join(n for n, r in meta.relations.items() if r.many)})",
                model=meta.name,
                field=name,
                expected="a list relation",
            )
        if argument is True:
            counts[name] = None
        elif isinstance(argument, Mapping) and set(argument) == {"where"}:
            counts[name] = argument["where"]
        elif argument is not False:
            raise ValidationError(
                f"{meta.name}.{name}: {COUNT} takes True or {{'where': ...}} per relation, got "
                f"{describe_value(argument)}",
                model=meta.name,
                field=name,
                expected="True or {'where': ...}",
            )
    return counts


def _relation_args(
    client: ClientBase[Any], meta: ModelMeta, link: RelationLink, value: Any
) -> RelationArgs:
    target = client.metas[link.target]
    if value is True:
        return RelationArgs(link, parse_selection(client, target, None, None))
    if not isinstance(value, Mapping) or not set(value) <= _RELATION_ARGS:
        raise ValidationError(
            f"{meta.name}.{link.name}: takes True or a dict with "
            f"{', '.join(sorted(_RELATION_ARGS))}, got {describe_value(value)}",
            model=meta.name,
            field=link.name,
            expected="True or {'where': ..., 'order_by': ..., 'include': ...}",
        )
    if not link.many and set(value) - {"include", "select", "omit"}:
        raise ValidationError(
            f"{meta.name}.{link.name}: a to-one relation takes only include/select/omit",
            model=meta.name,
            field=link.name,
            expected="{'include': ...}, {'select': ...} or {'omit': ...}",
        )
    for window in ("take", "skip"):
        amount = value.get(window)
        if amount is not None and (not isinstance(amount, int) or amount < 0):
            raise ValidationError(
                f"{meta.name}.{link.name}: {window} in an include takes an int >= 0",
                model=meta.name,
                field=link.name,
                expected="an int >= 0",
            )
    return RelationArgs(
        link,
        parse_selection(
            client, target, value.get("include"), value.get("select"), value.get("omit")
        ),
        where=value.get("where"),
        order_by=value.get("order_by"),
        take=value.get("take"),
        skip=value.get("skip"),
    )


def finish(selection: Selection, records: list[dict[str, Any]]) -> list[Any]:
    """The records as the caller gets them: model instances, or dicts with only the
    selected keys."""
    if selection.selected is not None:
        keys = selection.selected
        return [{key: record[key] for key in keys} for record in records]
    reader = selection.meta.reader(selection.columns)
    if not selection.counts:
        return [reader.model(record) for record in records]
    instances = []
    for record in records:
        counts = record.pop(COUNT)
        instance = reader.model(record)
        # Not a declared field: pydantic's extra data, read as `record._count`.
        object.__setattr__(instance, "__pydantic_extra__", {COUNT: counts})
        instances.append(instance)
    return instances


def load_relations(
    client: ClientBase[Any], selection: Selection, records: list[dict[str, Any]]
) -> None:
    """Fill each record's requested relations, one query per relation (per chunk)."""
    for name, args in selection.relations.items():
        link = args.link
        key_of = _key_function(link.source_fields)
        keys = list(dict.fromkeys(key for record in records if None not in (key := key_of(record))))
        related: dict[tuple[Any, ...], list[Any]] = {}
        for start in range(0, len(keys), CHUNK):
            for key, child in _fetch_related(client, args, keys[start : start + CHUNK]):
                related.setdefault(key, []).append(child)
        for record in records:
            children = related.get(key_of(record)) or []
            record[name] = children if link.many else (children[0] if children else None)
    if selection.counts:
        _load_counts(client, selection, records)


def _load_counts(
    client: ClientBase[Any], selection: Selection, records: list[dict[str, Any]]
) -> None:
    """Set each record's ``_count``: one query per chunk of records (see the module
    docstring)."""
    meta = selection.meta
    key_fields = meta.record_key
    key_of = _key_function(key_fields)
    keys = list(dict.fromkeys(key_of(record) for record in records))
    names = tuple(selection.counts)
    found: dict[tuple[Any, ...], tuple[int, ...]] = {}
    width = len(key_fields)
    for start in range(0, len(keys), CHUNK):
        builder = client.sql()
        counted = [
            builder.count_related(meta.relations[name], "t0", where)
            for name, where in selection.counts.items()
        ]
        key_columns = [builder.sql.qualified("t0", meta.column(f)) for f in key_fields]
        codecs = [meta.codecs[f] for f in key_fields]
        match = _key_match(builder, key_columns, keys[start : start + CHUNK], codecs)
        rows = client.query(
            builder.sql.select_sql([*key_columns, *counted], meta.table_sql, "t0", match),
            builder.params,
        )
        reader = meta.reader(key_fields)
        for row in rows:
            key = key_of(reader.values(row[:width]))
            found[key] = tuple(row[width:])
    zero = (0,) * len(names)
    for record in records:
        record[COUNT] = dict(zip(names, found.get(key_of(record), zero), strict=True))


def _key_function(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A record's key for ``fields``, always a tuple (a relation may join on several
    fields). itemgetter builds it in C, which matters at tens of thousands of records."""
    getter = operator.itemgetter(*fields)
    if len(fields) == 1:
        return lambda record: (getter(record),)
    return getter


def _fetch_related(
    client: ClientBase[Any], args: RelationArgs, keys: list[tuple[Any, ...]]
) -> list[tuple[tuple[Any, ...], Any]]:
    """The related records for a chunk of parent keys, each with its parent's key."""
    link, selection = args.link, args.selection
    target = selection.meta
    # The child's own grouping key must be read even if not selected.
    columns = selection.columns
    if link.kind == "direct":
        columns = columns + tuple(f for f in link.target_fields if f not in columns)
    builder = client.sql()
    sql = builder.sql
    alias = "t0"
    selected = [sql.qualified(alias, target.column(c)) for c in columns]
    source = sql.table_as(target.table_sql, alias)
    if link.kind == "m2m":
        join = builder.alias()
        on = sql.compare(
            sql.qualified(alias, sql.quote(link.target_columns[0])),
            "equals",
            sql.qualified(join, sql.quote(link.join_target or "")),
        )
        source = sql.joined(sql.table_as(sql.quote(link.join_table or ""), join), source, on)
        parent_columns = [sql.qualified(join, sql.quote(link.join_source or ""))]
        # The parent's key comes first: the child's own columns do not hold it.
        selected = [*parent_columns, *selected]
    else:
        parent_columns = [sql.qualified(alias, sql.quote(c)) for c in link.target_columns]
    # Keys are decoded values (parents' fields); bind them encoded, as the column holds them.
    key_codecs = [client.metas[link.source].codecs[f] for f in link.source_fields]
    key_sql = _key_match(builder, parent_columns, keys, key_codecs)
    condition = sql.all_of([key_sql, sql.grouped(builder.where(target, alias, args.where))])
    order = builder.order_by(target, alias, args.order_by)
    if args.take is not None or args.skip:
        # Per-parent windows: number each parent's children in order, keep the window. The
        # row number comes back as the last column.
        skip = builder.bind(args.skip or 0)
        take = None if args.take is None else builder.bind((args.skip or 0) + args.take)
        statement = sql.load_sql(
            selected, source, condition, order, partition=parent_columns, skip=skip, take=take
        )
        trim = 1
    else:
        statement = sql.load_sql(selected, source, condition, order)
        trim = 0
    rows = client.query(statement, builder.params)
    reader = target.reader(columns)
    children: list[dict[str, Any]] = []
    parents: list[tuple[Any, ...]] = []
    for row in rows:
        if trim:
            row = row[:-trim]
        if link.kind == "m2m":
            parents.append((key_codecs[0].decode(row[0]),))
            row = row[1:]
        values = reader.values(row)
        if link.kind == "direct":
            parents.append(tuple(values[f] for f in link.target_fields))
        children.append(values)
    load_relations(client, selection, children)
    return list(zip(parents, finish(selection, children), strict=True))


def _key_match(
    builder: SqlBuilder, columns: list[str], keys: list[tuple[Any, ...]], codecs: list[Codec]
) -> str:
    """The condition that ``columns`` hold one of ``keys`` (the dialect's `keys_in`)."""
    bound = [
        [builder.bind(c.to_sql_element(v)) for c, v in zip(codecs, key, strict=True)]
        for key in keys
    ]
    return builder.sql.keys_in(columns, bound)
