"""Keys, unique constraints and indexes: their arguments and their checks.

Phase 4 reads the arguments that ``@id``, ``@unique``, ``@@id``, ``@@unique`` and
``@@index`` share (fields, map, name, sort, length, operator classes, clustered); phase 5
checks each index once all are read (algorithms, operator classes, the fields it covers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from strata.schema.syntax import Attribute, Expression, FunctionCall, Identifier, StringValue
from strata.schema.validate.context import _Context, _Field, _Index, _IndexColumn, _Model
from strata.schema.validate.database_names import _check_map_length
from strata.schema.validate.expressions import (
    _Args,
    _expect_bool,
    _expect_constant,
    _expect_int,
    _expect_string,
    _items,
    _mismatch,
    _render,
)
from strata.schema.validate.vocabulary import (
    _BRIN_DEFAULT_NATIVE_TYPES,
    _BRIN_OPERATOR_CLASSES,
    _OPERATOR_CLASS_ALGORITHMS,
    OPERATOR_CLASSES,
    _attribute_error,
    _label,
    _model_error,
)

# --- arguments shared by @id, @unique, @@id, @@unique, @@index ---------------------------------


def _read_map_argument(ctx: _Context, args: _Args, attribute: Attribute) -> str | None:
    expr = args.optional("map")
    if expr is None:
        return None
    name = _expect_string(ctx, expr)
    if name == "":
        ctx.error(
            _attribute_error(attribute, "The `map` argument cannot be an empty string."), expr.span
        )
        return None
    return name


def _read_name_argument(
    ctx: _Context, args: _Args, attribute: Attribute, model: _Model
) -> str | None:
    """``name:`` on ``@@id``/``@@unique``: it becomes part of the client API, so only
    ``_a-zA-Z0-9`` is allowed."""
    expr = args.optional("name")
    if expr is None:
        return None
    name = _expect_string(ctx, expr)
    if name == "":
        ctx.error(
            _attribute_error(attribute, "The `name` argument cannot be an empty string."), expr.span
        )
        return None
    if name is not None and attribute.name != "index" and not re.fullmatch(r"[_a-zA-Z0-9]*", name):
        ctx.error(
            _model_error(
                model.kind,
                model.name,
                f"The `name` property within the `{_label(attribute)}` attribute only allows "
                "for the following characters: `_a-zA-Z0-9`.",
            ),
            attribute.span,
        )
    return name


def _read_column_arguments(
    ctx: _Context,
    column: _IndexColumn,
    sort: Expression | None,
    length: Expression | None,
    ops: Expression | None = None,
) -> None:
    """``sort:``, ``length:`` and ``ops:`` of one indexed field: given to ``@id`` and
    ``@unique`` directly, and per field in ``@@index([a(sort: Desc)])``."""
    if sort is not None:
        value = _expect_constant(ctx, sort)
        if value == "Asc":
            column.sort = "Asc"
        elif value == "Desc":
            column.sort = "Desc"
        elif value is not None:
            ctx.error(
                f"The `sort` argument can only be `Asc` or `Desc` you provided: {value}.",
                sort.span,
            )
    if length is not None:
        number = _expect_int(ctx, length)
        if number is not None and number >= 0:
            column.length = number
    if ops is not None:
        _read_operator_class(ctx, ops, column)


def _read_operator_class(ctx: _Context, expr: Expression, column: _IndexColumn) -> None:
    if isinstance(expr, Identifier):
        if expr.name in OPERATOR_CLASSES:
            column.operator_class = expr.name
        else:
            ctx.error(f"Invalid operator class: {expr.name}", expr.span)
    elif isinstance(expr, FunctionCall) and expr.name == "raw":
        if len(expr.arguments) == 1 and isinstance(expr.arguments[0].value, StringValue):
            column.operator_class = expr.arguments[0].value.value
            column.raw_operator_class = True
        else:
            ctx.error('An operator class is written `raw("name_ops")`, with one string.', expr.span)
    else:
        _mismatch(ctx, "an operator class", expr)


def _read_clustered(ctx: _Context, args: _Args) -> bool | None:
    expr = args.optional("clustered")
    return None if expr is None else _expect_bool(ctx, expr)


def _resolve_index_columns(
    ctx: _Context,
    model: _Model,
    expr: Expression,
    attribute: Attribute,
    what: Literal["id", "unique", "index", "fulltext"],
) -> list[_IndexColumn] | None:
    """``[a, b(sort: Desc)]`` in ``@@id``/``@@unique``/``@@index``/``@@fulltext``: the
    fields, resolved on ``model``, with their arguments. None (after reporting) on failure."""
    columns: list[_IndexColumn] = []
    unknown: list[str] = []
    relations: list[_Field] = []
    malformed = False
    for item in _items(expr):
        if isinstance(item, Identifier):
            name, item_args = item.name, []
        elif isinstance(item, FunctionCall):
            name, item_args = item.name, list(item.arguments)
        else:
            _mismatch(ctx, "a constant literal", item)
            malformed = True
            continue
        target = model.by_name.get(name)
        if target is None:  # also dotted paths into composite types, which need MongoDB
            unknown.append(name)
            continue
        if target.kind == "relation":
            relations.append(target)
            continue
        if any(c.field is target for c in columns):
            ctx.error(
                _model_error(
                    model.kind,
                    model.name,
                    f"The {'unique ' if what == 'unique' else ''}index definition refers to the "
                    f"field {name} multiple times.",
                ),
                attribute.span,
            )
            return None
        column = _IndexColumn(target)
        given = {arg.name: arg.value for arg in item_args}
        for arg in item_args:
            if arg.name not in ("sort", "length", "ops"):
                ctx.error(
                    _attribute_error(
                        attribute,
                        f"`{name}` takes the arguments `sort`, `length` and `ops`, given "
                        f"`{arg.name or _render(arg.value)}`.",
                    ),
                    arg.span,
                )
        _read_column_arguments(
            ctx, column, given.get("sort"), given.get("length"), given.get("ops")
        )
        columns.append(column)
    if unknown:
        ctx.error(_unknown_index_fields_message(model, what, unknown), attribute.span)
    if relations:
        ctx.error(_relation_index_fields_message(model, what, relations), attribute.span)
    return None if malformed or unknown or relations else columns


def _unknown_index_fields_message(model: _Model, what: str, names: list[str]) -> str:
    listed = ", ".join(names)
    if what == "id":
        word = "field" if len(names) == 1 else "fields"
        message = f"The multi field id declaration refers to the unknown {word} {listed}."
    else:
        message = (
            f"The {'unique ' if what == 'unique' else ''}index definition refers to the unknown "
            f"fields: {listed}."
        )
    return _model_error(model.kind, model.name, message)


def _relation_index_fields_message(model: _Model, what: str, fields: list[_Field]) -> str:
    names = ", ".join(f.name for f in fields)
    if what == "id":
        message = (
            f"The id definition refers to the relation fields {names}. ID definitions must "
            "reference only scalar fields."
        )
        return _model_error(model.kind, model.name, message)
    suggested = [s.name for f in fields for s in f.relation.fields or []]
    suggestion = ""
    if suggested:
        attribute = "unique" if what == "unique" else "index"
        suggestion = f" Did you mean `@@{attribute}([{', '.join(suggested)}])`?"
    message = (
        f"The {'unique ' if what == 'unique' else ''}index definition refers to the relation "
        f"fields {names}. Index definitions must reference only scalar fields.{suggestion}"
    )
    return _model_error(model.kind, model.name, message)


# --- index checks (phase 5): fields, connector support, names, algorithms, operator classes ---


def _check_index(ctx: _Context, model: _Model, index: _Index) -> None:
    label = index.label
    attribute = index.attribute
    if not index.columns:
        ctx.error(
            _attribute_error(
                attribute,
                "The list of fields in an index cannot be empty. Please specify at least one "
                "field.",
            ),
            attribute.span,
        )
    if index.kind == "fulltext":
        ctx.error(
            _attribute_error(
                attribute, "Defining fulltext indexes is not supported with the current connector."
            ),
            attribute.span,
        )
    if any(c.length is not None for c in index.columns):
        ctx.error(
            _attribute_error(
                label,
                "The length argument is not supported in an index definition with the current "
                "connector",
            ),
            attribute.span,
        )
    if index.clustered is not None and not model.is_view:
        ctx.error(
            _attribute_error(
                label, "Defining clustering is not supported in the current connector."
            ),
            attribute.span,
        )
    if index.map is not None:
        _check_map_length(ctx, model, attribute, index.map)
    if index.kind == "unique" and len(index.columns) > 1 and index.name is None:
        client_name = "_".join(c.field.name for c in index.columns)
        if client_name in model.by_name:
            ctx.error(
                _model_error(
                    model.kind,
                    model.name,
                    f"The field `{client_name}` clashes with the `{label}` name. Please resolve "
                    f"the conflict by providing a custom id name: `{label}([...], name: "
                    '"custom_name")`',
                ),
                attribute.span,
            )
    _check_index_algorithm(ctx, index)


def _check_index_algorithm(ctx: _Context, index: _Index) -> None:
    """``type:`` and ``ops:``: PostgreSQL's index access methods and operator classes."""
    attribute = index.attribute
    has_ops = any(c.operator_class for c in index.columns)
    if has_ops and index.kind != "index":
        ctx.error(
            _attribute_error(
                attribute, "Operator classes can only be defined to fields in an @@index attribute."
            ),
            attribute.span,
        )
        return
    algorithm = index.algorithm
    if algorithm is not None and algorithm not in ctx.connector.index_algorithms:
        ctx.error(
            _attribute_error(
                attribute, "The given index type is not supported with the current connector"
            ),
            attribute.span,
        )
        return
    if has_ops and not ctx.connector.operator_classes:
        # strata: operator classes are PostgreSQL's; on SQLite they can only be a mistake.
        ctx.error(
            _attribute_error(
                attribute, "Operator classes (`ops:`) are not supported on the sqlite connector."
            ),
            attribute.span,
        )
        return
    if algorithm == "Hash" and any(c.sort for c in index.columns):
        ctx.error(
            _attribute_error(attribute, "Hash type does not support sort option."), attribute.span
        )
    if algorithm == "SpGist" and len(index.columns) > 1:
        ctx.error(
            _attribute_error(attribute, "SpGist does not support multi-column indices."),
            attribute.span,
        )
    if ctx.connector.operator_classes:
        for column in index.columns:
            if column.field.native_type and column.field.native_type[0] == "Xml":
                kind = "a unique constraint" if index.kind == "unique" else "an index"
                ctx.error(
                    f"Native type `Xml` cannot be used in {kind} on PostgreSQL.",
                    column.field.span,
                )
            problem = _operator_class_problem(algorithm or "BTree", column)
            if problem:
                ctx.error(_attribute_error(attribute, problem), attribute.span)


def _operator_class_problem(algorithm: str, column: _IndexColumn) -> str | None:
    """Whether the field's type (and native type) suits the index type and operator class;
    a message when it does not. The rules are PostgreSQL's, as Prisma encodes them."""
    if column.raw_operator_class:
        return None  # raw("...") is taken on trust
    field_ = column.field
    opclass = column.operator_class
    native = field_.native_type[0] if field_.native_type else None
    name = field_.name
    if opclass and algorithm not in _OPERATOR_CLASS_ALGORITHMS.get(opclass, ("Brin",)):
        return (
            f"The given operator class `{opclass}` is not supported with the `{algorithm}` index "
            "type."
        )
    if algorithm in ("BTree", "Hash"):
        return None
    if field_.kind == "unsupported":
        return None
    is_string = field_.kind == "scalar" and field_.type_name == "String"

    def unsuited() -> str:
        if opclass and native:
            return (
                f"The given operator class `{opclass}` does not support native type `{native}` "
                f"of field `{name}`."
            )
        if opclass:
            return (
                f"The given operator class `{opclass}` expects the field `{name}` to define a "
                "valid native type."
            )
        if native:
            return f"The {algorithm} index field type `{native}` has no default operator class."
        return f"The {algorithm} index type does not support the type of the field `{name}`."

    if algorithm == "Gist":
        return None if native == "Inet" and opclass == "InetOps" else unsuited()
    if algorithm == "Gin":
        return _gin_problem(column, native, unsuited)
    if algorithm == "SpGist":
        if native == "Inet" and opclass in ("InetOps", None):
            return None
        if native is None and opclass is None and is_string:
            return None
        if native is None and opclass == "TextOps":
            if is_string:
                return None
            return (
                f"The given operator class `TextOps` points to the field `{name}` that is not of "
                "String type."
            )
        if native in ("Text", "VarChar", "Char") and opclass in ("TextOps", None):
            return None
        return unsuited()
    return _brin_problem(column, native, unsuited)


def _gin_problem(
    column: _IndexColumn, native: str | None, unsuited: Callable[[], str]
) -> str | None:
    field_ = column.field
    opclass = column.operator_class
    is_json = field_.kind == "scalar" and field_.type_name == "Json"
    if opclass is None and (field_.is_list or (native is None and is_json)):
        return None
    if native == "JsonB" and opclass in ("JsonbOps", "JsonbPathOps", None):
        return None
    if native is None and opclass in ("JsonbOps", "JsonbPathOps"):
        if is_json:
            return None
        return (
            f"The given operator class `{opclass}` points to the field `{field_.name}` that is not "
            "of Json type."
        )
    if opclass == "ArrayOps":
        if field_.is_list:
            return None
        return (
            f"The given operator class `ArrayOps` expects the type of field `{field_.name}` to be "
            "an array."
        )
    return unsuited()


def _brin_problem(
    column: _IndexColumn, native: str | None, unsuited: Callable[[], str]
) -> str | None:
    field_ = column.field
    opclass = column.operator_class
    if native is not None:
        if native in _BRIN_OPERATOR_CLASSES and (
            opclass is None or opclass in _BRIN_OPERATOR_CLASSES[native]
        ):
            return None
        return unsuited()
    default_native = (
        _BRIN_DEFAULT_NATIVE_TYPES.get(field_.type_name) if field_.kind == "scalar" else None
    )
    if default_native is None:
        return unsuited()
    if opclass is None or opclass in _BRIN_OPERATOR_CLASSES[default_native]:
        return None
    if any(opclass in classes for classes in _BRIN_OPERATOR_CLASSES.values()) and opclass in {
        c for t in _BRIN_DEFAULT_NATIVE_TYPES.values() for c in _BRIN_OPERATOR_CLASSES[t]
    }:
        return (
            f"The given operator class `{opclass}` points to the field `{field_.name}` that is not "
            f"of {_scalar_for_brin_class(opclass)} type."
        )
    return unsuited()


def _scalar_for_brin_class(opclass: str) -> str:
    for scalar, native in _BRIN_DEFAULT_NATIVE_TYPES.items():
        if opclass in _BRIN_OPERATOR_CLASSES[native]:
            return scalar
    return "a matching"
