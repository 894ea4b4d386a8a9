"""Phase 7: the resolved `ir.Schema`, built once every check has passed.

Database names, Prisma's constraint names and the effective referential actions are filled in
from the working records.
"""

from __future__ import annotations

from strata.schema import ir
from strata.schema.validate.context import (
    _Context,
    _Enum,
    _Field,
    _Index,
    _IndexColumn,
    _Model,
    _Relation,
)
from strata.schema.validate.database_names import _foreign_key_name
from strata.schema.validate.relations import _relation_name

# =============================================================================================
# 7. Resolution: the IR
# =============================================================================================


def _build_schema(ctx: _Context) -> ir.Schema:
    ds = ctx.datasource
    return ir.Schema(
        provider=ctx.connector.provider,
        models=tuple(_build_model(ctx, m) for m in ctx.models.values()),
        enums=tuple(_build_enum(e) for e in ctx.enums.values()),
        many_to_many=tuple(
            _build_many_to_many(ctx, r) for r in ctx.relations if r.kind == "many_to_many"
        ),
        url=ds.url if ds else None,
        relation_mode=ctx.relation_mode,
        db_schemas=tuple(ds.schemas) if ds else (),
        extensions=tuple(ds.extensions) if ds else (),
        generators=tuple(ctx.generators),
        warnings=_warnings(ctx),
    )


def _warnings(ctx: _Context) -> tuple[str, ...]:
    rendered = [str(d) for d in ctx.diag.warnings]
    if omitted := ctx.diag.omitted_warnings:
        rendered.append(f"{omitted} more warnings are left out")
    return tuple(rendered)


def _build_model(ctx: _Context, model: _Model) -> ir.Model:
    pk = model.primary_key
    return ir.Model(
        name=model.name,
        table=model.table,
        fields=tuple(_build_field(f) for f in model.fields),
        primary_key=ir.PrimaryKey(
            tuple(_build_column(c) for c in pk.columns), name=pk.name, db_name=pk.db_name
        )
        if pk
        else None,
        uniques=tuple(
            _build_index(i, _position(model, i)) for i in model.indexes if i.kind == "unique"
        ),
        indexes=tuple(
            _build_index(i, _position(model, i)) for i in model.indexes if i.kind != "unique"
        ),
        foreign_keys=tuple(
            _build_foreign_key(ctx, f) for f in model.relation_fields() if f.relation.fields
        ),
        is_view=model.is_view,
        ignored=model.ignored,
        db_schema=model.schema,
        documentation=model.node.documentation,
    )


def _build_field(field_: _Field) -> ir.Field:
    node = field_.node
    if field_.kind == "relation":
        rel = field_.relation
        return ir.RelationField(
            name=field_.name,
            target=field_.type_name,
            relation_name=_relation_name(field_),
            optional=field_.optional,
            list=field_.is_list,
            fields=tuple(f.name for f in rel.fields or []),
            references=tuple(f.name for f in rel.references or []),
            on_delete=rel.on_delete[0] if rel.on_delete else None,
            on_update=rel.on_update[0] if rel.on_update else None,
            ignored=field_.ignored,
            documentation=node.documentation,
        )
    return ir.ScalarField(
        name=field_.name,
        column=field_.column,
        type=field_.type_name,
        optional=field_.optional,
        list=field_.is_list,
        default=field_.default,
        updated_at=field_.updated_at,
        native_type=field_.native_type,
        unsupported=node.type.unsupported,
        ignored=field_.ignored,
        documentation=node.documentation,
    )


def _build_column(column: _IndexColumn) -> ir.IndexColumn:
    return ir.IndexColumn(
        field=column.field.name,
        column=column.field.column,
        sort=column.sort,
        length=column.length,
        operator_class=column.operator_class,
    )


#: The order Prisma's parser database collects a model's indexes in, attribute by
#: attribute: field-level ``@unique``, then every ``@@index``, ``@@unique``, ``@@fulltext``.
_COLLECTED = {"index": 1, "unique": 2, "fulltext": 3}


def _position(model: _Model, index: _Index) -> int:
    """``index``'s place in Prisma's order (see `ir.Index.position`)."""
    group = 0 if index.source_field is not None else _COLLECTED[index.kind]
    return group * len(model.indexes) + model.indexes.index(index)


def _build_index(index: _Index, position: int) -> ir.Index:
    kind = "fulltext" if index.kind == "fulltext" else None
    if index.algorithm is not None:
        kind = index.algorithm.lower()
    return ir.Index(
        columns=tuple(_build_column(c) for c in index.columns),
        unique=index.kind == "unique",
        db_name=index.db_name,
        name=index.name,
        kind=kind,
        position=position,
    )


def _build_foreign_key(ctx: _Context, field_: _Field) -> ir.ForeignKey:
    """Prisma's defaults: onDelete Restrict when a foreign-key field is required, SetNull
    when all are optional; onUpdate Cascade."""
    rel = field_.relation
    fields, references = rel.fields or [], rel.references or []
    target = ctx.models[field_.type_name]
    default_delete = (
        ir.ReferentialAction.RESTRICT
        if any(f.required for f in fields)
        else ir.ReferentialAction.SET_NULL
    )
    return ir.ForeignKey(
        field=field_.name,
        columns=tuple(f.column for f in fields),
        referenced_model=target.name,
        referenced_table=target.table,
        referenced_columns=tuple(f.column for f in references),
        on_delete=rel.on_delete[0] if rel.on_delete else default_delete,
        on_update=rel.on_update[0] if rel.on_update else ir.ReferentialAction.CASCADE,
        db_name=_foreign_key_name(ctx, field_),
    )


def _build_enum(enum: _Enum) -> ir.Enum:
    return ir.Enum(
        name=enum.name,
        db_name=enum.db_name,
        values=tuple(
            ir.EnumValue(v.name, enum.value_db_names.get(v.name, v.name), v.documentation)
            for v in enum.node.values
        ),
        db_schema=enum.schema,
        documentation=enum.node.documentation,
    )


def _build_many_to_many(ctx: _Context, relation: _Relation) -> ir.ManyToMany:
    """Model A is the model whose name sorts first; the join table lives in its schema."""
    assert relation.forward is not None  # a many-to-many relation always has both sides
    name = _relation_name(relation.forward)
    model_a, model_b = sorted((relation.forward.model.name, relation.forward.type_name))
    return ir.ManyToMany(
        relation_name=name,
        model_a=model_a,
        model_b=model_b,
        table=f"_{name}",
        db_schema=ctx.models[model_a].schema,
    )
