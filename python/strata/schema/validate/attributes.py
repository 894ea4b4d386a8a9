"""Phase 4: every ``@`` and ``@@`` attribute, checked and read into the working records.

The dispatch by attribute name, then the readers for scalar fields, relation fields, blocks
(``@@id``, ``@@unique``, ``@@index``, ...) and enums. The arguments that keys and indexes
share are read in `indexes`, native types in `native_types` and ``@default`` in `defaults`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from strata.schema import ir
from strata.schema.syntax import Attribute, Expression, FunctionCall
from strata.schema.validate.context import (
    _Context,
    _Enum,
    _Field,
    _Index,
    _IndexColumn,
    _Model,
    _PrimaryKey,
    _RelationArgs,
)
from strata.schema.validate.defaults import _resolve_default
from strata.schema.validate.expressions import (
    _T,
    _Args,
    _expect_constant,
    _expect_list,
    _expect_string,
)
from strata.schema.validate.indexes import (
    _read_clustered,
    _read_column_arguments,
    _read_map_argument,
    _read_name_argument,
    _resolve_index_columns,
)
from strata.schema.validate.native_types import _read_native_type
from strata.schema.validate.vocabulary import (
    _ACTIONS,
    _INDEX_ALGORITHMS,
    _attribute_error,
    _label,
    _model_error,
    _validation_error,
)

# =============================================================================================
# 4. Attributes: each is checked for its arguments and read into the working records
# =============================================================================================

_AttributeReader = Callable[[_Context, _Field, Attribute, _Args], None]
_BlockAttributeReader = Callable[[_Context, _Model, Attribute, _Args], None]


def _single_attributes(
    ctx: _Context, attributes: Iterable[Attribute], repeatable: Iterable[str]
) -> list[Attribute]:
    """The attributes to read: one that may appear once but appears several times is
    reported at every occurrence and then not read at all."""
    attributes = list(attributes)
    names = [a.name for a in attributes if "." not in a.name]
    if len(set(names)) == len(names):
        return attributes  # the usual case: no attribute repeats
    counts = Counter(names)
    allowed = set(repeatable)
    result = []
    for attribute in attributes:
        if counts[attribute.name] > 1 and attribute.name not in allowed:
            ctx.error(f'Attribute "{_label(attribute)}" can only be defined once.', attribute.span)
        else:
            result.append(attribute)
    return result


def _unknown_attribute(ctx: _Context, attribute: Attribute) -> None:
    ctx.error(f'Attribute not known: "{_label(attribute)}".', attribute.span)


def _read_model_attributes(ctx: _Context, model: _Model) -> None:
    for field_ in model.fields:
        if field_.kind == "relation":
            _read_relation_field_attributes(ctx, field_)
        elif field_.kind != "unknown":  # Prisma does not look at a field it cannot type
            _read_scalar_field_attributes(ctx, field_)
    _read_block_attributes(ctx, model)


def _dispatch(
    ctx: _Context,
    target: _T,
    attribute: Attribute,
    readers: Mapping[str, Callable[[_Context, _T, Attribute, _Args], None]],
) -> None:
    """Run the reader registered for ``attribute`` on ``target``, with its arguments
    checked, or report the attribute as unknown."""
    reader = readers.get(attribute.name)
    if reader is None:
        _unknown_attribute(ctx, attribute)
        return
    args = _Args(ctx, attribute)
    reader(ctx, target, attribute, args)
    args.finish()


def _read_scalar_field_attributes(ctx: _Context, field_: _Field) -> None:
    attributes = _single_attributes(ctx, field_.node.attributes, ())
    native = [a for a in attributes if "." in a.name]
    for extra in native[1:]:
        ctx.error(f'Attribute "{_label(extra)}" can only be defined once.', extra.span)
    for attribute in attributes:
        if "." in attribute.name:
            if attribute is native[0] and field_.kind == "scalar":
                _read_native_type(ctx, field_, attribute)
            elif attribute is native[0]:
                _unknown_attribute(ctx, attribute)
            continue
        _dispatch(ctx, field_, attribute, _SCALAR_FIELD_ATTRIBUTES)


def _read_relation_field_attributes(ctx: _Context, field_: _Field) -> None:
    attributes = _single_attributes(ctx, field_.node.attributes, ())
    # `@relation` first: the message for a misplaced `@unique` mentions its fields.
    attributes.sort(key=lambda a: a.name != "relation")
    for attribute in attributes:
        _dispatch(ctx, field_, attribute, _RELATION_FIELD_ATTRIBUTES)


# --- scalar field attributes ---------------------------------------------------------------


def _read_field_id(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
    model = field_.model
    map_ = _read_map_argument(ctx, args, attribute)
    column = _IndexColumn(field_)
    _read_column_arguments(ctx, column, args.optional("sort"), args.optional("length"))
    clustered = _read_clustered(ctx, args)
    if model.primary_key is not None:
        ctx.error(
            _model_error(
                model.kind,
                model.name,
                "At most one field must be marked as the id field with the `@id` attribute.",
            ),
            attribute.span,
        )
        return
    model.primary_key = _PrimaryKey(
        attribute, [column], source_field=field_, map=map_, clustered=clustered
    )


def _read_field_unique(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
    map_ = _read_map_argument(ctx, args, attribute)
    column = _IndexColumn(field_)
    _read_column_arguments(ctx, column, args.optional("sort"), args.optional("length"))
    clustered = _read_clustered(ctx, args)
    field_.model.indexes.append(
        _Index("unique", attribute, [column], source_field=field_, map=map_, clustered=clustered)
    )


def _read_field_map(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
    value = args.default("name")
    name = None if value is None else _expect_string(ctx, value)
    if name is not None:
        field_.column = name


def _read_updated_at(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
    if field_.kind != "scalar" or field_.type_name != "DateTime":
        ctx.error(
            _attribute_error(
                attribute, "Fields that are marked with @updatedAt must be of type DateTime."
            ),
            attribute.span,
        )
    if field_.is_list:
        ctx.error(
            _attribute_error(attribute, "Fields that are marked with @updatedAt cannot be lists."),
            attribute.span,
        )
    field_.updated_at = True


def _read_field_ignore(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
    if field_.kind == "unsupported":
        ctx.error(
            _attribute_error(
                attribute,
                "Fields of type `Unsupported` cannot take an `@ignore` attribute. They are "
                "already treated as ignored by the client due to their type.",
            ),
            attribute.span,
        )
        return
    field_.ignored = True


def _read_relation_on_scalar(
    ctx: _Context, field_: _Field, attribute: Attribute, args: _Args
) -> None:
    ctx.error(_attribute_error(attribute, "Invalid field type, not a relation."), attribute.span)
    args.discard()


def _read_default(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
    value = args.default("value")
    map_expr = args.optional("map")
    mapped = None if map_expr is None else _expect_string(ctx, map_expr)
    if value is None:
        return
    if mapped is not None:
        if isinstance(value, FunctionCall) and value.name == "autoincrement":
            ctx.error(
                _attribute_error(
                    attribute, "Naming an autoincrement default value is not allowed."
                ),
                attribute.span,
            )
        else:
            # Only SQL Server has named default constraints.
            ctx.error(
                _attribute_error(
                    attribute,
                    "You defined a database name for the default value of a field on the model. "
                    "This is not supported by the provider.",
                ),
                attribute.span,
            )
    field_.default = _resolve_default(ctx, field_, value)


_SCALAR_FIELD_ATTRIBUTES: Mapping[str, _AttributeReader] = {
    "id": _read_field_id,
    "unique": _read_field_unique,
    "default": _read_default,
    "map": _read_field_map,
    "updatedAt": _read_updated_at,
    "ignore": _read_field_ignore,
    "relation": _read_relation_on_scalar,
}


# --- relation field attributes -------------------------------------------------------------


def _read_relation(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
    rel = _RelationArgs(attribute)
    field_.relation = rel
    if (name := args.default("name", required=False)) is not None:
        rel.name = _expect_string(ctx, name)
        if rel.name == "":
            ctx.error(
                _attribute_error(attribute, "A relation cannot have an empty name."), name.span
            )
            rel.name = None
    target = ctx.models[field_.type_name]
    if (fields := args.optional("fields")) is not None:
        rel.fields = _resolve_relation_fields(ctx, field_.model, fields, attribute, "fields")
    if (references := args.optional("references")) is not None:
        rel.references = _resolve_relation_fields(ctx, target, references, attribute, "references")
    for key in ("onDelete", "onUpdate"):
        if (expr := args.optional(key)) is not None and (
            action := _read_referential_action(ctx, expr)
        ):
            if key == "onDelete":
                rel.on_delete = (action, expr.span)
            else:
                rel.on_update = (action, expr.span)
    if (map_expr := args.optional("map")) is not None:
        rel.map = _expect_string(ctx, map_expr)
        rel.map_span = map_expr.span
        if rel.map == "":
            ctx.error(
                _attribute_error(attribute, "The `map` argument cannot be an empty string."),
                map_expr.span,
            )
            rel.map = None


def _resolve_relation_fields(
    ctx: _Context,
    model: _Model,
    expr: Expression,
    attribute: Attribute,
    argument: Literal["fields", "references"],
) -> list[_Field]:
    names = _expect_list(ctx, expr, _expect_constant)
    if names is None:
        return []
    resolved: list[_Field] = []
    unknown: list[str] = []
    relations: list[str] = []
    for name in names:
        target = model.by_name.get(name)
        if target is None:
            unknown.append(name)
        elif target.kind == "relation":
            relations.append(name)
        elif target in resolved:
            ctx.error(
                _model_error(
                    model.kind,
                    model.name,
                    f"The argument `{argument}` refers to the field {name} multiple times.",
                ),
                expr.span,
            )
            return []
        else:
            resolved.append(target)
    if argument == "fields":
        if unknown:
            ctx.error(
                _validation_error(
                    "The argument fields must refer only to existing fields. The following "
                    f"fields do not exist in this model: {', '.join(unknown)}"
                ),
                expr.span,
            )
        if relations:
            ctx.error(
                _validation_error(
                    "The argument fields must refer only to scalar fields. But it is "
                    f"referencing the following relation fields: {', '.join(relations)}"
                ),
                expr.span,
            )
    else:
        if unknown:
            ctx.error(
                _validation_error(
                    "The argument `references` must refer only to existing fields in the "
                    f"related model `{model.name}`. The following fields do not exist in the "
                    f"related model: {', '.join(unknown)}"
                ),
                attribute.span,
            )
        if relations:
            ctx.error(
                _validation_error(
                    "The argument `references` must refer only to scalar fields in the related "
                    f"model `{model.name}`. But it is referencing the following relation "
                    f"fields: {', '.join(relations)}"
                ),
                attribute.span,
            )
    return [] if unknown or relations else resolved


def _read_referential_action(ctx: _Context, expr: Expression) -> ir.ReferentialAction | None:
    name = _expect_constant(ctx, expr)
    if name is None:
        return None
    action = _ACTIONS.get(name)
    if action is None:
        ctx.error(_attribute_error("@relation", f"Invalid referential action: `{name}`"), expr.span)
    return action


def _read_relation_field_ignore(
    ctx: _Context, field_: _Field, attribute: Attribute, args: _Args
) -> None:
    field_.ignored = True


def _rejected_on_relation_field(message: Callable[[_Field], str]) -> _AttributeReader:
    """A reader for an attribute that scalar fields take and relation fields do not."""

    def reader(ctx: _Context, field_: _Field, attribute: Attribute, args: _Args) -> None:
        ctx.error(_attribute_error(attribute, message(field_)), attribute.span)
        args.discard()

    return reader


def _unique_on_relation_message(field_: _Field) -> str:
    fields = [f.name for f in field_.relation.fields or []]
    suggestion = ""
    if len(fields) == 1:
        suggestion = f" Did you mean to put it on `{fields[0]}`?"
    elif fields:
        suggestion = f" Did you mean to provide `@@unique([{', '.join(fields)}])`?"
    return (
        f"The field `{field_.name}` is a relation field and cannot be marked with `unique`. "
        f"Only scalar fields can be made unique.{suggestion}"
    )


_RELATION_FIELD_ATTRIBUTES: Mapping[str, _AttributeReader] = {
    "relation": _read_relation,
    "ignore": _read_relation_field_ignore,
    "id": _rejected_on_relation_field(
        lambda f: (
            f"The field `{f.name}` is a relation field and cannot be marked with `@id`. "
            "Only scalar fields can be declared as id."
        )
    ),
    "default": _rejected_on_relation_field(
        lambda f: "Cannot set a default value on a relation field."
    ),
    "map": _rejected_on_relation_field(
        lambda f: "The attribute `@map` cannot be used on relation fields."
    ),
    "unique": _rejected_on_relation_field(_unique_on_relation_message),
}

# --- block attributes: @@id, @@unique, @@index, @@fulltext, @@map, @@schema, @@ignore ----------


def _read_block_attributes(ctx: _Context, model: _Model) -> None:
    attributes = _single_attributes(ctx, model.node.attributes, ("index", "unique", "fulltext"))
    # @@ignore first: an ignored model may have an id on optional fields.
    attributes.sort(key=lambda a: a.name != "ignore")
    for attribute in attributes:
        _dispatch(ctx, model, attribute, _BLOCK_ATTRIBUTES)
    _check_id_field_arity(ctx, model)


def _read_block_id(ctx: _Context, model: _Model, attribute: Attribute, args: _Args) -> None:
    fields = args.default("fields")
    name = _read_name_argument(ctx, args, attribute, model)
    map_ = _read_map_argument(ctx, args, attribute)
    clustered = _read_clustered(ctx, args)
    if fields is None:
        return
    columns = _resolve_index_columns(ctx, model, fields, attribute, "id")
    if columns is None:
        return
    optional = [c.field.name for c in columns if not c.field.required]
    if optional and not model.ignored:
        word = "field" if len(optional) == 1 else "fields"
        ctx.error(
            _model_error(
                model.kind,
                model.name,
                f"The id definition refers to the optional {word} {', '.join(optional)}. ID "
                "definitions must reference only required fields.",
            ),
            attribute.span,
        )
    if model.primary_key is not None:
        ctx.error(
            _model_error(
                model.kind,
                model.name,
                "Each model must have at most one id criteria. You can't have `@id` and `@@id` "
                "at the same time.",
            ),
            attribute.span,
        )
        return
    model.primary_key = _PrimaryKey(attribute, columns, name=name, map=map_, clustered=clustered)


def _read_block_unique(ctx: _Context, model: _Model, attribute: Attribute, args: _Args) -> None:
    fields = args.default("fields")
    name = _read_name_argument(ctx, args, attribute, model)
    map_ = _read_map_argument(ctx, args, attribute)
    clustered = _read_clustered(ctx, args)
    if fields is None:
        return
    columns = _resolve_index_columns(ctx, model, fields, attribute, "unique")
    if columns is not None:
        model.indexes.append(
            _Index("unique", attribute, columns, name=name, map=map_, clustered=clustered)
        )


def _read_block_index(ctx: _Context, model: _Model, attribute: Attribute, args: _Args) -> None:
    fields = args.default("fields")
    # `name:` on @@index is Prisma's legacy spelling of `map:`.
    legacy_name = _read_name_argument(ctx, args, attribute, model)
    map_ = _read_map_argument(ctx, args, attribute)
    if legacy_name is not None and map_ is not None:
        ctx.error(
            _attribute_error(
                attribute,
                "The `@@index` attribute accepts the `name` argument as an alias for the `map` "
                "argument for legacy reasons. It does not accept both though. Please use the "
                "`map` argument to specify the database name of the index.",
            ),
            attribute.span,
        )
    algorithm = None
    if (type_expr := args.optional("type")) is not None:
        algorithm = _expect_constant(ctx, type_expr)
        if algorithm is not None and algorithm not in _INDEX_ALGORITHMS:
            ctx.error(
                _attribute_error(attribute, f"Unknown index type: {algorithm}."), type_expr.span
            )
            algorithm = None
    clustered = _read_clustered(ctx, args)
    if fields is None:
        return
    columns = _resolve_index_columns(ctx, model, fields, attribute, "index")
    if columns is not None:
        model.indexes.append(
            _Index(
                "index",
                attribute,
                columns,
                map=map_ or legacy_name,
                algorithm=algorithm,
                clustered=clustered,
            )
        )


def _read_block_fulltext(ctx: _Context, model: _Model, attribute: Attribute, args: _Args) -> None:
    fields = args.default("fields")
    map_ = _read_map_argument(ctx, args, attribute)
    if fields is None:
        return
    columns = _resolve_index_columns(ctx, model, fields, attribute, "fulltext")
    if columns is not None:
        model.indexes.append(_Index("fulltext", attribute, columns, map=map_))


def _read_block_map(ctx: _Context, model: _Model, attribute: Attribute, args: _Args) -> None:
    value = args.default("name")
    name = None if value is None else _expect_string(ctx, value)
    if name is not None:
        model.table = name
        model.map_attribute = attribute


def _read_block_schema(ctx: _Context, model: _Model, attribute: Attribute, args: _Args) -> None:
    value = args.default("name")
    model.schema_attribute = attribute
    model.schema = None if value is None else _expect_string(ctx, value)


def _read_block_ignore(ctx: _Context, model: _Model, attribute: Attribute, args: _Args) -> None:
    model.ignored = True
    for field_ in model.fields:
        if field_.ignored:
            ctx.error(
                _attribute_error(
                    "@ignore",
                    "Fields on an already ignored Model do not need an `@ignore` annotation.",
                ),
                field_.span,
            )


_BLOCK_ATTRIBUTES: Mapping[str, _BlockAttributeReader] = {
    "id": _read_block_id,
    "unique": _read_block_unique,
    "index": _read_block_index,
    "fulltext": _read_block_fulltext,
    "map": _read_block_map,
    "schema": _read_block_schema,
    "ignore": _read_block_ignore,
}


def _check_id_field_arity(ctx: _Context, model: _Model) -> None:
    """``@id`` on an optional or list field (checked once ``@@ignore`` is known, since an
    ignored model is exempt)."""
    pk = model.primary_key
    if pk and pk.source_field and not pk.source_field.required and not model.ignored:
        ctx.error(
            _attribute_error("@id", "Fields that are marked as id must be required."),
            pk.attribute.span,
        )


# --- enums ---------------------------------------------------------------------------------


def _read_enum_attributes(ctx: _Context, enum: _Enum) -> None:
    for value in enum.node.values:
        for attribute in _single_attributes(ctx, value.attributes, ()):
            if attribute.name != "map":
                _unknown_attribute(ctx, attribute)
                continue
            args = _Args(ctx, attribute)
            expr = args.default("name")
            args.finish()
            if expr is not None and (name := _expect_string(ctx, expr)) is not None:
                enum.value_db_names[value.name] = name
    for attribute in _single_attributes(ctx, enum.node.attributes, ()):
        if attribute.name not in ("map", "schema"):
            _unknown_attribute(ctx, attribute)
            continue
        args = _Args(ctx, attribute)
        expr = args.default("name")
        args.finish()
        name = None if expr is None else _expect_string(ctx, expr)
        if attribute.name == "map":
            enum.db_name = name or enum.db_name
        else:
            enum.schema_attribute = attribute
            enum.schema = name
