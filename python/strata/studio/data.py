"""Browsing and editing a model's rows for the studio, through the client only.

Everything here works on plain JSON values, because the studio's HTTP API (`strata.studio.app`)
speaks JSON: values coming in are turned into the Python values the client takes, by the
field's Prisma type (`coerce`), and records going out into JSON values (`to_json`). Reads
page by keyset (`rows`): the client's ``cursor`` with the primary key as the last sort key,
so a page deep into a million rows costs what the first one does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from strata._compat import UTC, fromisoformat
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.meta import ModelMeta
    from strata.database import Database
    from strata.schema import ir

__all__ = ["MAX_TAKE", "NotFound", "coerce", "describe", "rows", "to_json", "write"]

#: The most rows one page may hold: a page is meant to be read, not to export a table.
MAX_TAKE = 500
#: ``where`` keys that hold lists of nested conditions rather than a field's condition.
_COMBINATORS = ("AND", "OR", "NOT")
#: Operators whose operand is a list of the field's values.
_LIST_OPERATORS = ("in", "notIn", "not_in")
#: Operators whose operand is not a value of the field (a mode, a nested condition).
_UNTYPED_OPERATORS = ("mode", "path", "string_contains", "array_contains")


class NotFound(ValidationError):
    """A model, binding or action the studio does not have (HTTP 404)."""


def meta_of(db: Database, model: str) -> ModelMeta:
    """The model's metadata; `NotFound` naming the models for an unknown one."""
    metas = db.client_.metas
    if model not in metas:
        raise NotFound(
            f"the schema has no model {model!r} (its models: {', '.join(metas)})",
            model=model,
            expected="a model of the schema",
        )
    return metas[model]


def describe(db: Database, model: str) -> dict[str, Any]:
    """A model as the page needs it: its fields (type, optional, list, enum values, whether
    the database fills it in), its key, and its relations as links to other models."""
    meta = meta_of(db, model)
    schema = db.client_.schema
    enums = {e.name: [v.name for v in e.values] for e in schema.enums}
    fields = []
    for name, field in meta.scalars.items():
        fields.append(
            {
                "name": name,
                "type": field.type,
                "optional": field.optional,
                "list": field.list,
                "enum": enums.get(field.type),
                "generated": _generated(meta, field),
                "updatedAt": name in meta.updated_at,
            }
        )
    relations = []
    for link in meta.relations.values():
        if link.kind != "direct":
            continue
        relations.append(
            {
                "name": link.name,
                "model": link.target,
                "many": link.many,
                # Where the link's values sit on this model, and what they match there.
                "fields": list(link.source_fields),
                "references": list(link.target_fields),
            }
        )
    return {
        "name": meta.name,
        "key": list(meta.record_key),
        "fields": fields,
        "relations": relations,
        "softDelete": db.client_.soft_delete.get(meta.name),
    }


def _generated(meta: ModelMeta, field: ir.ScalarField) -> bool:
    """Whether a create may leave the field out: the client or the database fills it."""
    return field.name in meta.generated or field.default is not None or field.optional


# -- values in and out -------------------------------------------------------------------------


def coerce(meta: ModelMeta, name: str, value: Any) -> Any:
    """A JSON value (or the text of a form's input) as the client takes it for field
    ``name``: DateTime from ISO 8601 text (UTC when it names no offset), Decimal and BigInt
    from text, Bytes from base64, numbers and booleans from their text."""
    field = meta.scalar(name)
    if value is None:
        return None
    if field.list:
        if not isinstance(value, list):
            raise _bad_value(meta, name, value, f"a list of {field.type}")
        return [_coerce_one(meta, field, item) for item in value]
    return _coerce_one(meta, field, value)


def _coerce_one(meta: ModelMeta, field: ir.ScalarField, value: Any) -> Any:
    kind = field.type
    try:
        if kind in ("Int", "BigInt"):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError
            return int(value)
        if kind == "Float":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError
            return float(value)
        if kind == "Decimal":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError
            return Decimal(str(value))
        if kind == "Boolean":
            if isinstance(value, str) and value in ("true", "false"):
                return value == "true"
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "DateTime":
            if not isinstance(value, str):
                raise ValueError
            moment = fromisoformat(value.strip())
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        if kind == "Bytes":
            if not isinstance(value, str):
                raise ValueError
            return base64.b64decode(value, validate=True)
    except (ValueError, InvalidOperation, TypeError):
        raise _bad_value(meta, field.name, value, _expected(kind)) from None
    # String, Json and enums: the client checks them itself.
    return value


def _expected(kind: str) -> str:
    return {
        "Int": "an integer",
        "BigInt": "an integer",
        "Float": "a number",
        "Decimal": "a decimal number",
        "Boolean": "true or false",
        "DateTime": "an ISO 8601 time, such as 2026-12-04T15:30:00Z",
        "Bytes": "base64 text",
    }[kind]


def _bad_value(meta: ModelMeta, name: str, value: Any, expected: str) -> ValidationError:
    return ValidationError(
        f"{meta.name}.{name}: {json.dumps(value, default=str)[:80]} is not {expected}",
        model=meta.name,
        field=name,
        expected=expected,
    )


def coerce_where(meta: ModelMeta, where: Any) -> dict[str, Any]:
    """A JSON ``where`` (the client's filter syntax) with its values coerced per field.
    Relation filters and operators the client knows pass through for it to check."""
    if not isinstance(where, Mapping):
        raise ValidationError(
            f"{meta.name}: a filter is a JSON object such as "
            '{"status": {"equals": "QUEUED"}}, got ' + json.dumps(where)[:80],
            model=meta.name,
            expected="a JSON object",
        )
    coerced: dict[str, Any] = {}
    for key, condition in where.items():
        if key in _COMBINATORS:
            items = condition if isinstance(condition, list) else [condition]
            coerced[key] = [coerce_where(meta, item) for item in items]
        elif key in meta.scalars:
            coerced[key] = _coerce_condition(meta, key, condition)
        elif key in meta.relations:
            coerced[key] = condition
        else:
            raise meta.unknown_field(key)
    return coerced


def _coerce_condition(meta: ModelMeta, name: str, condition: Any) -> Any:
    if not isinstance(condition, Mapping):
        return coerce(meta, name, condition)
    operand: dict[str, Any] = {}
    for operator, value in condition.items():
        if operator in _LIST_OPERATORS and isinstance(value, list):
            operand[operator] = [_coerce_scalar(meta, name, v) for v in value]
        elif operator == "not":
            operand[operator] = _coerce_condition(meta, name, value)
        elif operator in _UNTYPED_OPERATORS:
            operand[operator] = value
        else:
            operand[operator] = _coerce_scalar(meta, name, value)
    return operand


def _coerce_scalar(meta: ModelMeta, name: str, value: Any) -> Any:
    field = meta.scalar(name)
    if value is None or field.type == "Json":
        return value
    return _coerce_one(meta, field, value)


def to_json(value: Any) -> Any:
    """A value read outside a model's fields (a queue's time, a limiter's key) as JSON:
    times as ISO 8601 in UTC, Decimal as text (no precision lost), Bytes as base64."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def _time(value: datetime) -> str:
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


#: How a value of each type that JSON has no form for is written; the others (text,
#: numbers, booleans, enums, Json) are JSON as they are read. BigInt is text because a
#: JavaScript number loses digits past 2**53.
_WRITERS: dict[str, Callable[[Any], Any]] = {
    "DateTime": _time,
    "Decimal": str,
    "BigInt": str,
    "Bytes": _base64,
}
#: Per model: each field, with its writer or None. Built once, since a page of rows
#: converts every value of every row.
_CONVERTERS: dict[int, tuple[ModelMeta, list[tuple[str, Callable[[Any], Any] | None]]]] = {}


def _nullable(write: Callable[[Any], Any], many: bool) -> Callable[[Any], Any]:
    """``write`` for a field's value (a list of them when ``many``), None kept as it is."""
    if many:
        return lambda value: None if value is None else [write(v) for v in value]
    return lambda value: None if value is None else write(value)


def _converters(meta: ModelMeta) -> list[tuple[str, Callable[[Any], Any] | None]]:
    known = _CONVERTERS.get(id(meta))
    if known is not None and known[0] is meta:
        return known[1]
    converters: list[tuple[str, Callable[[Any], Any] | None]] = []
    for name in meta.columns:
        field = meta.scalars[name]
        writer = _WRITERS.get(field.type)
        converters.append((name, None if writer is None else _nullable(writer, field.list)))
    _CONVERTERS[id(meta)] = (meta, converters)
    return converters


def record_json(meta: ModelMeta, record: Any) -> dict[str, Any]:
    """A record (a model instance, or the dict a ``select`` reads) as JSON values."""
    if not isinstance(record, dict):
        record = {name: getattr(record, name) for name in meta.columns}
    return {
        name: record[name] if write is None else write(record[name])
        for name, write in _converters(meta)
    }


# -- reading -----------------------------------------------------------------------------------


def _order(meta: ModelMeta, sort: str | None, direction: str) -> list[dict[str, str]]:
    """The sort keys of a page: the chosen field, then the primary key, which makes the
    order total so that a keyset cursor can never skip or repeat a row."""
    if direction not in ("asc", "desc"):
        raise ValidationError(
            f"{meta.name}: the direction is asc or desc, got {direction!r}",
            model=meta.name,
            expected="asc or desc",
        )
    order: list[dict[str, str]] = []
    if sort is not None:
        meta.scalar(sort)
        order.append({sort: direction})
    order += [{f: direction} for f in meta.record_key if f != sort]
    return order


def _cursor(meta: ModelMeta, cursor: Any) -> dict[str, Any]:
    key = meta.record_key
    if not isinstance(cursor, Mapping) or set(cursor) != set(key):
        raise ValidationError(
            f"{meta.name}: a cursor names the record key ({', '.join(key)}), "
            f"got {json.dumps(cursor, default=str)[:80]}",
            model=meta.name,
            expected=f"an object with {', '.join(key)}",
        )
    values = tuple(coerce(meta, f, cursor[f]) for f in key)
    return meta.key_where(key, values)


def rows(
    db: Database,
    model: str,
    *,
    where: Any = None,
    sort: str | None = None,
    direction: str = "asc",
    take: int = 50,
    after: Any = None,
    before: Any = None,
) -> dict[str, Any]:
    """One page of ``model``'s rows: ``take`` rows after the record ``after`` (or before
    ``before``, or from the start) in the order of ``sort`` then the key. Says whether rows
    lie beyond each end of the page, and each row's key for the next cursor."""
    meta = meta_of(db, model)
    if isinstance(take, bool) or not isinstance(take, int) or not 1 <= take <= MAX_TAKE:
        raise ValidationError(
            f"{model}: take is a number of rows from 1 to {MAX_TAKE}, got {take!r}",
            model=model,
            expected=f"1 to {MAX_TAKE}",
        )
    if after is not None and before is not None:
        raise ValidationError(
            f"{model}: give after or before, not both", model=model, expected="one cursor"
        )
    condition = None if where is None else coerce_where(meta, where)
    order = _order(meta, sort, direction)
    repository = db.model_(model)
    cursor = after if after is not None else before
    # Rows as dicts: a page shows values, and skips building a model per row.
    read: dict[str, Any] = {"order_by": order, "select": dict.fromkeys(meta.columns, True)}
    # One row more than asked tells whether there is another page, without a count.
    if cursor is None:
        found = repository.find_many(condition, take=take + 1, **read)
        more_after, more_before = len(found) > take, False
        found = found[:take]
    elif after is not None:
        found = repository.find_many(
            condition, cursor=_cursor(meta, cursor), skip=1, take=take + 1, **read
        )
        more_after, more_before = len(found) > take, True
        found = found[:take]
    else:
        # A negative take reads backwards from the cursor and returns the rows in order.
        found = repository.find_many(
            condition, cursor=_cursor(meta, cursor), skip=1, take=-(take + 1), **read
        )
        more_after, more_before = True, len(found) > take
        found = found[-take:] if found else found
    # The dicts are the page's own: only the values JSON has no form for are rewritten.
    writers = [(name, write) for name, write in _converters(meta) if write is not None]
    for record in found:
        for name, write in writers:
            record[name] = write(record[name])
    shown: list[dict[str, Any]] = found
    return {
        "model": meta.name,
        "rows": shown,
        "keys": [{f: r[f] for f in meta.record_key} for r in shown],
        "hasNext": more_after,
        "hasPrevious": more_before,
    }


def one(db: Database, model: str, key: Any) -> dict[str, Any]:
    meta = meta_of(db, model)
    record = db.model_(model).find_unique_or_raise(_cursor(meta, key))
    return record_json(meta, record)


def counts(db: Database) -> dict[str, int]:
    """Rows per model, as the sidebar shows them (soft-deleted rows left out)."""
    return {name: db.model_(name).count() for name in db.client_.metas}


# -- writing -----------------------------------------------------------------------------------


def _data(meta: ModelMeta, data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"{meta.name}: data is a JSON object of field values",
            model=meta.name,
            expected="a JSON object",
        )
    return {name: coerce(meta, name, value) for name, value in data.items()}


def write(
    db: Database, model: str, action: str, *, key: Any = None, data: Any = None
) -> dict[str, Any]:
    """Create, update or delete one record through the client, in a transaction of its
    own, so that defaults, ``@updatedAt``, soft deletes and constraint errors behave as
    they do in code; returns the record as written (for a delete, as it was)."""
    meta = meta_of(db, model)
    repository = db.model_(model)
    with db.transaction_():
        if action == "create":
            record = repository.create(_data(meta, data))
        elif action == "update":
            record = repository.update(_cursor(meta, key), _data(meta, data))
        elif action == "delete":
            record = repository.delete(_cursor(meta, key))
        else:
            raise ValidationError(f"unknown action {action!r}", expected="create, update or delete")
    return record_json(meta, record)
