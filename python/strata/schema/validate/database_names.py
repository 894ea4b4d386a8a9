"""Phase 5: database names, constraint names and multi-schema.

Prisma's generated constraint names and their length limit, clashes between table, enum and
constraint names in one database schema, and ``@@schema`` for multi-schema PostgreSQL.
Resolution reuses the names assigned here.
"""

from __future__ import annotations

from collections import Counter

from strata.schema.syntax import Attribute, EnumBlock, ModelBlock, Span
from strata.schema.validate.context import _Context, _Field, _Model
from strata.schema.validate.vocabulary import _attribute_error, _label, _model_error

# --- database names ------------------------------------------------------------------------


def _check_map_length(ctx: _Context, model: _Model, attribute: Attribute, name: str) -> None:
    limit = ctx.connector.max_identifier_length
    if len(name.encode()) > limit:
        ctx.error(
            _model_error(
                "model",
                model.name,
                f"The constraint name '{name}' specified in the `map` argument for the "
                f"`{_label(attribute)}` constraint is too long for your chosen provider. The "
                f"maximum allowed length is {limit} bytes.",
            ),
            attribute.span,
        )


def _truncated_name(stem: str, suffix: str, limit: int) -> str:
    """Prisma's generated constraint names: ``stem + suffix``, with the stem cut (at a
    character boundary) so the whole fits in ``limit`` bytes."""
    room = limit - len(suffix)
    encoded = stem.encode()
    if len(encoded) >= room:
        stem = encoded[:room].decode("utf-8", "ignore")
    return stem + suffix


def _assign_constraint_names(ctx: _Context) -> None:
    """Database names of primary keys and indexes, ``map:`` or Prisma's convention; the
    constraint-name checks and the IR both use them."""
    limit = ctx.connector.max_identifier_length
    for model in ctx.models.values():
        if model.primary_key:
            pk = model.primary_key
            pk.db_name = pk.map or _truncated_name(model.table, "_pkey", limit)
        for index in model.indexes:
            suffix = "_key" if index.kind == "unique" else "_idx"
            stem = "_".join([model.table, *(c.field.column for c in index.columns)])
            index.db_name = index.map or _truncated_name(stem, suffix, limit)


def _foreign_key_name(ctx: _Context, field_: _Field) -> str:
    rel = field_.relation
    if rel.map:
        return rel.map
    stem = "_".join([field_.model.table, *(f.column for f in rel.fields or [])])
    return _truncated_name(stem, "_fkey", ctx.connector.max_identifier_length)


def _check_database_names(ctx: _Context) -> None:
    """Two models (or views) cannot map to one table, nor two enums to one type, in the same
    database schema. The error goes on the ``@@map`` that causes the clash."""
    tables: dict[tuple[str | None, str], _Model] = {}
    for model in ctx.models.values():
        key = (model.schema, model.table)
        existing = tables.setdefault(key, model)
        if existing is model:
            continue
        culprit, other = (model, existing) if model.map_attribute else (existing, model)
        span = (culprit.map_attribute or culprit.node).span
        ctx.error(
            f'The model with database name "{model.table}" could not be defined because another '
            f'model or view with this name exists: "{other.name}"',
            span,
        )
    enum_names: set[tuple[str | None, str]] = set()
    for enum in ctx.enums.values():
        key = (enum.schema, enum.db_name)
        if key in enum_names:
            ctx.error("An enum with the same database name is already defined.", enum.node.span)
        enum_names.add(key)


def _check_constraint_names(ctx: _Context) -> None:
    """Constraint names must be unique where the database needs them to be (see
    `_Connector.global_names`). Only names that can clash are checked: on SQLite those of
    indexes, on PostgreSQL also primary keys and foreign keys."""
    connector = ctx.connector
    scope_description = {
        "indexes": "global for indexes and unique constraints",
        "primary keys and indexes": "global for primary key, indexes and unique constraints",
    }[connector.global_names]
    # (kind, model, name, attribute, span) for every named constraint.
    constraints: list[tuple[str, _Model, str, str, Span]] = []
    for model in ctx.models.values():
        if model.primary_key:
            pk = model.primary_key
            constraints.append(
                ("primary key", model, pk.db_name, _label(pk.attribute), pk.attribute.span)
            )
        for index in model.indexes:
            if not model.is_view:
                constraints.append(
                    ("index", model, index.db_name, index.label, index.attribute.span)
                )
        for field_ in model.relation_fields():
            if field_.relation.fields:
                span = field_.relation.map_span or field_.span
                constraints.append(
                    ("foreign key", model, _foreign_key_name(ctx, field_), "@relation", span)
                )
    global_kinds = {"index"} if connector.global_names == "indexes" else {"index", "primary key"}
    global_counts = Counter(
        (m.schema, name) for kind, m, name, _, _ in constraints if kind in global_kinds
    )
    local_counts = Counter((m.name, name) for _, m, name, _, _ in constraints)
    for kind, model, name, label, span in constraints:
        scopes = []
        if kind in global_kinds and global_counts[(model.schema, name)] > 1:
            scopes.append(scope_description)
        if connector.local_names and local_counts[(model.name, name)] > 1:
            scopes.append(
                f"on model `{model.name}` for primary key, indexes, unique constraints and "
                "foreign keys"
            )
        for scope in scopes:
            ctx.error(
                _attribute_error(
                    label,
                    f"The given constraint name `{name}` has to be unique in the following "
                    f"namespace: {scope}. Please provide a different name using the `map` "
                    "argument.",
                ),
                span,
            )


# --- multi-schema ----------------------------------------------------------------------------


def _check_schemas(ctx: _Context) -> None:
    """``@@schema`` (multi-schema PostgreSQL): once the datasource lists ``schemas``, every
    model, view and enum must say which one it lives in, and only listed ones exist."""
    ds = ctx.datasource
    declared = set(ds.schemas) if ds else set()
    requires_schema = bool(ds and ds.schemas_span and ctx.connector.multi_schema)
    blocks: list[tuple[str, str, str | None, Attribute | None, ModelBlock | EnumBlock]] = [
        (m.kind, m.name, m.schema, m.schema_attribute, m.node) for m in ctx.models.values()
    ]
    blocks += [("enum", e.name, e.schema, e.schema_attribute, e.node) for e in ctx.enums.values()]
    for kind, name, schema, attribute, node in blocks:
        if attribute is not None:
            if not ctx.connector.multi_schema:
                ctx.error(
                    "@@schema is not supported on the current datasource provider", attribute.span
                )
            elif schema is not None and schema not in declared:
                ctx.error(
                    "This schema is not defined in the datasource. Read more on `@@schema` at "
                    "https://pris.ly/d/multi-schema",
                    attribute.span,
                )
        elif requires_schema and not any(a.name == "schema" for a in node.attributes):
            # (a repeated @@schema was reported as such and left unread; it is not missing)
            message = f"This {kind} is missing an `@@schema` attribute."
            ctx.error(message if kind == "enum" else _model_error(kind, name, message), node.span)
