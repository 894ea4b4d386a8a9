"""Phase 5: the checks on each model once its attributes are read.

Unique criteria, primary keys, views, scalar fields, unsupported types, autoincrement, column
name clashes and the names the client API derives. `_check_models` runs the whole phase; the
index checks are in `indexes`, database names and ``@@schema`` in `database_names`.
"""

from __future__ import annotations

import re
from collections import Counter

from strata.schema.syntax import Attribute
from strata.schema.validate.context import _Context, _Field, _Model
from strata.schema.validate.database_names import (
    _assign_constraint_names,
    _check_constraint_names,
    _check_database_names,
    _check_map_length,
    _check_schemas,
)
from strata.schema.validate.indexes import _check_index
from strata.schema.validate.vocabulary import (
    _attribute_error,
    _label,
    _model_error,
    _validation_error,
)

# =============================================================================================
# 5. Models: keys, indexes, fields, database names, multi-schema, views
# =============================================================================================


def _check_models(ctx: _Context) -> None:
    for composite in ctx.composite_types.values():
        ctx.error(
            f"Composite types are not supported on {ctx.connector.provider}: they need MongoDB.",
            composite.node.span,
        )
    for model in ctx.models.values():
        if model.is_view:
            _check_view(ctx, model)
        else:
            _check_unique_criteria(ctx, model)
        _check_primary_key(ctx, model)
        for field_ in model.fields:
            _check_scalar_field(ctx, field_)
        _check_autoincrement(ctx, model)
        _check_column_names(ctx, model)
        for index in model.indexes:
            _check_index(ctx, model, index)
        _check_client_names(ctx, model)
    _assign_constraint_names(ctx)
    _check_database_names(ctx)
    _check_constraint_names(ctx)
    _check_schemas(ctx)


def _check_unique_criteria(ctx: _Context, model: _Model) -> None:
    """A model needs an id or a unique criteria whose fields are all required and supported,
    so the client can address a single row."""
    if model.ignored:
        return
    criteria = model.unique_criteria()
    if any(all(f.required and f.kind != "unsupported" for f in fields) for fields in criteria):
        return
    message = (
        "Each model must have at least one unique criteria that has only required fields. "
        "Either mark a single field with `@id`, `@unique` or add a multi field criterion with "
        "`@@id([])` or `@@unique([])` to the model."
    )
    if criteria:
        listed = "\n".join("- " + ", ".join(f.name for f in fields) for fields in criteria)
        message += (
            " The following unique criterias were not considered as they contain fields that "
            f"are not required:\n{listed}"
        )
    ctx.error(_model_error("model", model.name, message), model.node.span)


def _check_primary_key(ctx: _Context, model: _Model) -> None:
    pk = model.primary_key
    if pk is None:
        return
    attribute = pk.attribute
    label = _label(attribute)
    if model.is_view:
        ctx.error(_validation_error("Views cannot have primary keys."), attribute.span)
    if not pk.columns:
        ctx.error(
            _attribute_error(
                attribute,
                f"The list of fields in an `{label}()` attribute cannot be empty. Please specify "
                "at least one field.",
            ),
            attribute.span,
        )
    if pk.map is not None and not ctx.connector.named_primary_keys:
        ctx.error(
            _model_error(
                model.kind,
                model.name,
                "You defined a database name for the primary key on the model. This is not "
                "supported by the provider.",
            ),
            model.node.span,
        )
    if pk.map is not None:
        _check_map_length(ctx, model, attribute, pk.map)
    if any(c.sort for c in pk.columns):
        ctx.error(
            _attribute_error(
                attribute,
                "The sort argument is not supported in the primary key with the current connector",
            ),
            attribute.span,
        )
    if any(c.length is not None for c in pk.columns):
        ctx.error(
            _attribute_error(
                attribute,
                "The length argument is not supported in the primary key with the current "
                "connector",
            ),
            attribute.span,
        )
    if pk.clustered is not None:
        ctx.error(
            _attribute_error(
                attribute, "Defining clustering is not supported in the current connector."
            ),
            attribute.span,
        )
    if len(pk.columns) > 1 and pk.name is None:
        client_name = "_".join(c.field.name for c in pk.columns)
        if client_name in model.by_name:
            ctx.error(
                _model_error(
                    model.kind,
                    model.name,
                    f"The field `{client_name}` clashes with the `@@id` attribute's name. Please "
                    "resolve the conflict by providing a custom id name: `@@id([...], name: "
                    '"custom_name")`',
                ),
                attribute.span,
            )


def _check_view(ctx: _Context, model: _Model) -> None:
    if "views" not in ctx.preview_features:
        ctx.error(
            _validation_error(
                "View definitions are only available with the `views` preview feature."
            ),
            model.node.span,
        )
    for index in model.indexes:
        if index.kind != "unique":
            ctx.error(_validation_error("Views cannot have indexes."), index.attribute.span)
            continue
        if index.map is not None:
            ctx.error(
                _validation_error(
                    "@@unique annotations on views are not backed by unique indexes in the "
                    "database and cannot specify a mapped database name."
                ),
                index.attribute.span,
            )
        if index.clustered is not None:
            ctx.error(
                _validation_error(
                    "@@unique annotations on views are not backed by unique indexes in the "
                    "database and cannot be clustered."
                ),
                index.attribute.span,
            )
        if any(c.sort or c.length is not None or c.operator_class for c in index.columns):
            ctx.error(
                _attribute_error(
                    index.attribute,
                    "Scalar fields in @@unique attributes in views cannot have arguments.",
                ),
                index.attribute.span,
            )


def _check_scalar_field(ctx: _Context, field_: _Field) -> None:
    model = field_.model
    if field_.is_list and field_.kind in ("scalar", "enum") and not ctx.connector.scalar_lists:
        # strata: Prisma rejects scalar lists on SQLite. strata stores them as JSON text.
        ctx.warning(
            f"Field `{field_.name}` in {model.kind} `{model.name}` is a scalar list: Prisma does "
            "not support scalar lists on SQLite, so Prisma's tools will reject this schema. "
            "strata stores the list as JSON text.",
            field_.span,
        )
    if field_.kind == "unsupported" and ctx.connector.native_types:
        _check_unsupported_type(ctx, field_)


def _check_unsupported_type(ctx: _Context, field_: _Field) -> None:
    """``Unsupported("Inet")`` that names a native type Prisma supports is an error: the
    native type notation gives the field full support."""
    text = field_.node.type.unsupported or ""
    match = re.fullmatch(r"([^(]+)(?:\((.*?)\))?(.+)?", text)
    if match is None:
        return
    prefix, params = match.group(1).strip(), match.group(2)
    spec = ctx.connector.native_types.get(prefix)
    args = [] if params is None else [p.strip() for p in params.split(",")]
    digits = all(a.isascii() and a.isdigit() for a in args)
    if spec is None or not digits or len(args) > spec.optional_args:
        return
    ds_name = ctx.datasource.name if ctx.datasource else "db"
    rendered = prefix + (f"({', '.join(args)})" if args else "")
    ctx.error(
        _validation_error(
            f'The type `Unsupported("{text}")` you specified in the type definition for the '
            f"field `{field_.name}` is supported as a native type by Prisma. Please use the "
            f"native type notation `{spec.scalar} @{ds_name}.{rendered}` for full support."
        ),
        field_.span,
    )


def _check_autoincrement(ctx: _Context, model: _Model) -> None:
    """SQLite (AUTOINCREMENT on INTEGER PRIMARY KEY) allows one, on the single-field id."""
    fields = [f for f in model.fields if f.default and f.default.kind == "autoincrement"]
    if not fields or ctx.connector.autoincrement_anywhere:
        return
    if len(fields) > 1:
        ctx.error(
            _attribute_error(
                "@default",
                "The `autoincrement()` default value is used multiple times on this model even "
                "though the underlying datasource only supports one instance per table.",
            ),
            model.node.span,
        )
    pk = model.primary_key
    for field_ in fields:
        if pk is None or [c.field for c in pk.columns] != [field_]:
            ctx.error(
                _attribute_error(
                    "@default",
                    "The `autoincrement()` default value is used on a non-id field even though "
                    "the datasource does not support this.",
                ),
                field_.span,
            )


def _check_column_names(ctx: _Context, model: _Model) -> None:
    """Two scalar fields cannot share a column, whether by name or through ``@map``."""
    columns: dict[str, _Field] = {}
    for field_ in model.fields:
        if field_.kind == "relation":
            continue
        if field_.column in columns:
            ctx.error(
                f'Field "{field_.name}" is already defined on {model.kind} "{model.name}".',
                field_.span,
            )
        else:
            columns[field_.column] = field_


def _check_client_names(ctx: _Context, model: _Model) -> None:
    """``name:`` on ``@@id``/``@@unique`` names an argument in the client API: it must be
    unique on the model and must not be a field's name."""
    names: list[tuple[str, Attribute]] = []
    if model.primary_key and model.primary_key.name:
        names.append((model.primary_key.name, model.primary_key.attribute))
    names += [(i.name, i.attribute) for i in model.indexes if i.kind == "unique" and i.name]
    counts = Counter(name for name, _ in names)
    for name, attribute in names:
        if counts[name] > 1:
            ctx.error(
                _attribute_error(
                    attribute,
                    f"The given custom name `{name}` has to be unique on the model. Please provide "
                    "a different name for the `name` argument.",
                ),
                attribute.span,
            )
        if name in model.by_name:
            ctx.error(
                _model_error(
                    model.kind,
                    model.name,
                    f"The custom name `{name}` specified for the `{_label(attribute)}` "
                    "attribute is already used as a name for a field. Please choose a different "
                    "name.",
                ),
                attribute.span,
            )
