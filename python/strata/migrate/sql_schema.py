"""The tables a Prisma schema needs (`calculate`), as `strata.schema.sql` shapes, with the
types and defaults the dialect spells."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from strata.schema import ir
from strata.schema.sql import (
    Column,
    Extension,
    ForeignKey,
    Index,
    IndexColumn,
    SqlSchema,
    Table,
)

if TYPE_CHECKING:
    from strata.dialects.base import DdlDialect

__all__ = ["calculate"]


def calculate(schema: ir.Schema, dialect: DdlDialect) -> SqlSchema:
    """The tables a database must hold for ``schema``, in Prisma's order: models as
    declared, then the join tables of implicit many-to-many relations."""
    models = {m.name: m for m in schema.models}
    tables = [
        _model_table(model, schema, models, dialect) for model in schema.models if not model.is_view
    ]
    tables.extend(_join_table(m2m, models, dialect) for m2m in schema.many_to_many)
    if schema.relation_mode == "prisma":
        # The client emulates the relations; the database gets no foreign keys (Prisma's rule).
        tables = [replace(t, foreign_keys=()) for t in tables]
    return SqlSchema(
        tuple(tables), dialect.enums(schema), dialect.namespaces(schema), _extensions(schema)
    )


def _extensions(schema: ir.Schema) -> tuple[Extension, ...]:
    """The datasource's extensions sorted by identifier, as Prisma's parser sorts them (and so
    its CreateExtension steps)."""
    return tuple(
        Extension(e.db_name, e.db_schema or "", e.version or "")
        for e in sorted(schema.extensions, key=lambda e: e.name)
    )


def _model_table(
    model: ir.Model, schema: ir.Schema, models: dict[str, ir.Model], dialect: DdlDialect
) -> Table:
    primary = tuple(c.column for c in model.primary_key.columns) if model.primary_key else ()
    columns = tuple(
        Column(
            name=f.column,
            type=dialect.column_type(f, schema),
            not_null=dialect.not_null(f),
            default=dialect.column_default(f, schema),
            autoincrement=dialect.autoincrement(model, f),
            enum=_enum_type(f, schema) if f.is_enum else None,
        )
        for f in model.scalar_fields
    )
    foreign_keys = tuple(
        ForeignKey(
            columns=fk.columns,
            referenced_table=fk.referenced_table,
            referenced_columns=fk.referenced_columns,
            on_delete=fk.on_delete.sql,
            on_update=fk.on_update.sql,
            name=fk.db_name,
            referenced_namespace=models[fk.referenced_model].db_schema,
        )
        for fk in model.foreign_keys
    )
    indexes = tuple(
        Index(
            name=index.db_name,
            columns=tuple(
                IndexColumn(c.column, _SORT[c.sort], dialect.operator_class(c))
                for c in index.columns
            ),
            unique=index.unique,
            algorithm=dialect.index_algorithm(index),
        )
        for index in _indexes_in_prisma_order(model)
        if index.kind != "fulltext"
    )
    return Table(
        name=model.table,
        columns=columns,
        primary_key=primary,
        foreign_keys=foreign_keys,
        indexes=indexes,
        primary_key_name=model.primary_key.db_name if model.primary_key else None,
        namespace=model.db_schema,
    )


def _enum_type(field: ir.ScalarField, schema: ir.Schema) -> str:
    return schema.enum(field.type).db_name


_SORT: dict[str | None, Literal["ASC", "DESC"] | None] = {None: None, "Asc": "ASC", "Desc": "DESC"}


def _indexes_in_prisma_order(model: ir.Model) -> list[ir.Index]:
    """The order Prisma's schema calculator adds a model's indexes in (`ir.Index.position`),
    and so the order of its CreateIndex steps."""
    return sorted([*model.uniques, *model.indexes], key=lambda index: index.position)


def _join_table(m2m: ir.ManyToMany, models: dict[str, ir.Model], dialect: DdlDialect) -> Table:
    """Prisma's join table: columns A and B referencing each side's id, both cascading, a
    primary key (or, where the dialect says, a unique index) on (A, B) and an index on B."""
    columns = []
    foreign_keys = []
    for column_name, model_name in (("A", m2m.model_a), ("B", m2m.model_b)):
        model = models[model_name]
        assert model.primary_key is not None
        assert len(model.primary_key.columns) == 1
        id_column = model.primary_key.columns[0]
        id_field = model.field(id_column.field)
        assert isinstance(id_field, ir.ScalarField)
        columns.append(Column(column_name, dialect.join_column_type(id_field), not_null=True))
        foreign_keys.append(
            ForeignKey(
                columns=(column_name,),
                referenced_table=model.table,
                referenced_columns=(id_column.column,),
                on_delete="CASCADE",
                on_update="CASCADE",
                name=f"{m2m.table}_{column_name}_fkey",
                referenced_namespace=model.db_schema,
            )
        )
    b_index = Index(f"{m2m.table}_B_index", (IndexColumn("B"),), unique=False)
    if dialect.join_table_primary_key:
        return Table(
            m2m.table,
            tuple(columns),
            ("A", "B"),
            tuple(foreign_keys),
            (b_index,),
            primary_key_name=f"{m2m.table}_AB_pkey",
            namespace=m2m.db_schema,
        )
    ab_unique = Index(f"{m2m.table}_AB_unique", (IndexColumn("A"), IndexColumn("B")), unique=True)
    return Table(m2m.table, tuple(columns), (), tuple(foreign_keys), (ab_unique, b_index))
