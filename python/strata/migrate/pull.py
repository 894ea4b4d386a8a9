"""``strata db pull``: a Prisma schema written from the tables a live database holds.

The result round-trips: a schema pulled from a database calculates to the same tables the
database has, so ``migrate diff`` between the two finds nothing. The dialect says how each
column reads as a field (`strata.dialects.base.IntrospectionDialect.pulled`: its type,
``@db.X`` native type, default, list or enum); this module writes models, keys, indexes and
relations, the same for every database, and the enums and namespaces (``@@schema``) of the
databases that have them.

Pulling into an existing schema (Prisma's re-introspection) keeps what the database cannot
tell: a model whose table, and every table related to it, still calculates to exactly what
the database holds is kept as written (comments, ``@default(cuid())``, ``@updatedAt``,
enum and list types, relation names). Other models are written afresh, still under their
previous names, with each unchanged column's field kept as written apart from its key and
index attributes, which follow the database. Tables no model maps become models named after
them (``@@map`` where the name is not an identifier); the config blocks are kept, but for
the datasource's ``extensions``, which follow the database when the schema enables
``postgresqlExtensions`` (`_extensions_property`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from strata.errors import ConfigurationError
from strata.schema import ir
from strata.schema.format import format_schema
from strata.schema.sql import Column, Enum, Extension, ForeignKey, SqlSchema, Table
from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Attribute,
    Block,
    ConfigBlock,
    ConfigProperty,
    EnumBlock,
    EnumValue,
    Expression,
    Field,
    FieldType,
    FunctionCall,
    Identifier,
    ModelBlock,
    NumberValue,
    SchemaFile,
    StringValue,
)
from strata.schema.validate.vocabulary import OPERATOR_CLASSES

if TYPE_CHECKING:
    from strata.dialects.base import Dialect

__all__ = ["pull"]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: Prisma's referential actions by their SQL spelling.
_ACTIONS = {
    "CASCADE": "Cascade",
    "RESTRICT": "Restrict",
    "NO ACTION": "NoAction",
    "SET NULL": "SetNull",
    "SET DEFAULT": "SetDefault",
}
#: Prisma's index types by their SQL spelling (`strata.schema.sql.Index.algorithm`).
_INDEX_TYPES = {"HASH": "Hash", "GIST": "Gist", "GIN": "Gin", "SPGIST": "SpGist", "BRIN": "Brin"}
#: The key and index attributes of a kept field, which the database decides.
_KEY_ATTRIBUTES = {"id", "unique"}


@dataclass(frozen=True)
class _Previous:
    """The schema pulled into, when there is one: its tree, its IR and its tables."""

    tree: SchemaFile
    schema: ir.Schema
    tables: SqlSchema


def pull(
    live: SqlSchema,
    dialect: Dialect,
    previous: tuple[SchemaFile, ir.Schema, SqlSchema] | None = None,
) -> str:
    """The schema text for the tables of ``live``, read by ``dialect``. ``previous`` is the
    schema pulled into (its syntax tree, IR and calculated tables), or None for a new file
    with only a datasource of the dialect's provider."""
    known = None if previous is None else _Previous(*previous)
    join_tables = {t.name for t in live.tables if _is_join_table(t, live)}
    tables = [t for t in live.tables if t.name not in join_tables]
    names = _model_names(tables, [t for t in live.tables if t.name in join_tables], known)
    kept = _kept_models(live, join_tables, known)
    blocks: list[Block] = []
    if known is None:
        properties = [ConfigProperty("provider", StringValue(dialect.provider))]
        if live.tables and all(t.namespace is not None for t in live.tables):
            # Tables in named database schemas: the datasource lists them (multiSchema).
            schemas = tuple(StringValue(n) for n in live.namespaces)
            properties.append(ConfigProperty("schemas", ArrayValue(schemas)))
        blocks.append(ConfigBlock("datasource", "db", tuple(properties)))
    else:
        blocks.extend(
            _with_extensions(b, live, known) if isinstance(b, ConfigBlock) else b
            for b in known.tree.blocks
            if not isinstance(b, ModelBlock)
        )
    enums = _EnumNames(live.enums, set(names.values()), known)
    writer = _ModelWriter(live, tables, join_tables, names, dialect, known, enums)
    for table in tables:
        if table.name in kept:
            assert known is not None
            blocks.append(kept[table.name])
        else:
            blocks.append(writer.model(table))
    blocks.extend(enums.block(enum) for enum in live.enums if enum.name not in enums.previous)
    tree = SchemaFile(tuple(blocks))
    return format_schema(tree)


# -- the datasource's extensions ------------------------------------------------------------------

#: The extensions Prisma writes into a schema that does not list them yet. ``pg_crypto`` is
#: Prisma's spelling (the extension is ``pgcrypto``), so ``pgcrypto`` is only kept, not added.
_PULLED_EXTENSIONS = ("citext", "postgis", "pg_crypto", "uuid-ossp")


def _with_extensions(block: ConfigBlock, live: SqlSchema, known: _Previous) -> ConfigBlock:
    """The datasource with its ``extensions`` as Prisma re-introspects them; other blocks,
    and every block of a schema without ``postgresqlExtensions``, as written."""
    if block.kind != "datasource" or "postgresqlExtensions" not in known.schema.preview_features:
        return block
    rest = tuple(p for p in block.properties if p.name != "extensions")
    written = next((p for p in block.properties if p.name == "extensions"), None)
    items = _extensions_property(live.extensions, known.schema.extensions)
    if not items:
        return replace(block, properties=rest)
    value = ArrayValue(tuple(items))
    if written is None:
        return replace(block, properties=(*rest, ConfigProperty("extensions", value)))
    properties = tuple(replace(p, value=value) if p is written else p for p in block.properties)
    return replace(block, properties=properties)


def _extensions_property(
    installed: tuple[Extension, ...], listed: tuple[ir.Extension, ...]
) -> list[Expression]:
    """Prisma's ``add_extensions``: each installed extension (by name) the schema lists, with
    the version and schema arguments it wrote, updated to the database's where they differ;
    and each installed one of `_PULLED_EXTENSIONS` it does not list, with its schema. A name
    that is not an identifier is written as one, with ``map``."""
    items: list[Expression] = []
    for extension in installed:
        identifier = _sanitized(extension.name)
        arguments: list[Argument] = []
        if identifier != extension.name:
            arguments.append(_string_argument("map", extension.name))
        previous = next(
            (e for e in listed if extension.name in (e.db_name, e.name)),
            None,
        )
        if previous is not None:
            if previous.version is not None:
                arguments.append(_string_argument("version", extension.version))
            if previous.db_schema is not None:
                arguments.append(_string_argument("schema", extension.schema))
        elif extension.name in _PULLED_EXTENSIONS:
            arguments.append(_string_argument("schema", extension.schema))
        else:
            continue
        items.append(
            FunctionCall(identifier, tuple(arguments)) if arguments else Identifier(identifier)
        )
    return items


def _sanitized(name: str) -> str:
    """Prisma's ``sanitize_string``: leading characters other than letters dropped, other
    characters that are not letters, digits or ``_`` made ``_``."""
    return re.sub(r"[^_a-zA-Z0-9]", "_", re.sub(r"^[^a-zA-Z]+", "", name))


def _string_argument(name: str, value: str) -> Argument:
    return Argument(name, StringValue(value))


# -- which models stay as written ----------------------------------------------------------------


def _kept_models(
    live: SqlSchema, join_tables: set[str], known: _Previous | None
) -> dict[str, ModelBlock]:
    """The previous model blocks that still describe the database exactly, by table."""
    if known is None:
        return {}
    changed = {t.name for t in live.tables if known.tables.table(t.name) != t}
    changed |= {t.name for t in known.tables.tables if live.table(t.name) is None}
    # A model's relation fields depend on the tables that refer to it, and a join table's
    # on both its sides.
    for table in (*live.tables, *known.tables.tables):
        if table.name in changed:
            changed |= {fk.referenced_table for fk in table.foreign_keys}
    blocks = {block.name: block for block in known.tree.models()}
    kept = {}
    for model in known.schema.models:
        if model.is_view or model.table in changed or model.name not in blocks:
            continue
        if any(
            m2m.table in changed and model.name in (m2m.model_a, m2m.model_b)
            for m2m in known.schema.many_to_many
        ):
            continue
        kept[model.table] = blocks[model.name]
    return kept


# -- names ------------------------------------------------------------------------------------


def _model_names(
    tables: list[Table], join_tables: list[Table], known: _Previous | None
) -> dict[str, str]:
    """The model name of each table: the previous schema's, else the table's own with its
    first letter in upper case (as Prisma models are named), made an identifier where it is
    not one. An implicit many-to-many table's models must sort in the order of its ``A``
    and ``B`` columns, which is how Prisma tells the two apart; names that do not are
    refused (name the models in the schema, and pull again)."""
    previous = {} if known is None else {m.table: m.name for m in known.schema.models}
    names: dict[str, str] = {}
    for table in tables:
        fresh = _identifier(table.name[:1].upper() + table.name[1:], names.values())
        names[table.name] = previous.get(table.name) or fresh
    for join in join_tables:
        sides = {fk.columns[0]: fk.referenced_table for fk in join.foreign_keys}
        a, b = names[sides["A"]], names[sides["B"]]
        if a > b:
            raise ConfigurationError(
                f"the many-to-many table {join.name!r} joins {sides['A']!r} (column A) and "
                f"{sides['B']!r} (column B), but Prisma orders those columns by model name "
                f"and {a!r} sorts after {b!r}: add models for those tables to the schema with "
                "names in that order (and @@map), then pull again"
            )
    return names


def _identifier(name: str, taken: object) -> str:
    """``name`` as a Prisma identifier: other characters become ``_``, and a name that does
    not start with a letter gets a leading ``M``; a clash with ``taken`` gets a number."""
    candidate = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not candidate or not candidate[0].isalpha():
        candidate = "M" + candidate
    unique, n = candidate, 1
    while unique in taken:  # type: ignore[operator]
        n += 1
        unique = f"{candidate}{n}"
    return unique


def _is_join_table(table: Table, live: SqlSchema) -> bool:
    """Prisma's implicit many-to-many table: ``_Name`` with columns ``A`` and ``B``, each a
    foreign key to another table's single-column key."""
    if not table.name.startswith("_") or [c.name for c in table.columns] != ["A", "B"]:
        return False
    keys = {fk.columns: fk for fk in table.foreign_keys}
    return all(
        (fk := keys.get((column,))) is not None and live.table(fk.referenced_table) is not None
        for column in ("A", "B")
    )


# -- enums ------------------------------------------------------------------------------------


class _EnumNames:
    """The Prisma names of the database's enums and their values: the previous schema's,
    else the database's own, made identifiers (with ``@@map`` / ``@map`` where changed)."""

    def __init__(self, enums: tuple[Enum, ...], taken: set[str], known: _Previous | None) -> None:
        self.previous = {} if known is None else {e.db_name: e for e in known.schema.enums}
        self.names: dict[str, str] = {}
        for enum in enums:
            old = self.previous.get(enum.name)
            self.names[enum.name] = old.name if old else _identifier(enum.name, taken)
            taken.add(self.names[enum.name])

    def name(self, enum: str) -> str:
        return self.names.get(enum) or _identifier(enum, ())

    def value(self, enum: str, stored: str) -> str:
        old = self.previous.get(enum)
        if old is not None:
            for value in old.values:
                if value.db_name == stored:
                    return value.name
        return _identifier(stored, ())

    def block(self, enum: Enum) -> EnumBlock:
        values = []
        for stored in enum.values:
            name = self.value(enum.name, stored)
            mapped = () if name == stored else (Attribute("map", (_string(stored),)),)
            values.append(EnumValue(name, mapped))
        attributes = []
        if self.name(enum.name) != enum.name:
            attributes.append(_block("map", (_string(enum.name),)))
        if enum.namespace is not None:
            attributes.append(_block("schema", (_string(enum.namespace),)))
        return EnumBlock(self.name(enum.name), tuple(values), tuple(attributes))


# -- models written afresh -----------------------------------------------------------------------


class _ModelWriter:
    def __init__(
        self,
        live: SqlSchema,
        tables: list[Table],
        join_tables: set[str],
        names: dict[str, str],
        dialect: Dialect,
        known: _Previous | None,
        enums: _EnumNames,
    ) -> None:
        self.live = live
        self.names = names
        self.dialect = dialect
        self.known = known
        self.enums = enums
        self.join_tables = [t for t in live.tables if t.name in join_tables]
        # Relations between the same two models need names to tell them apart.
        pairs = Counter(
            frozenset((table.name, fk.referenced_table))
            for table in tables
            for fk in table.foreign_keys
        )
        self.ambiguous = {pair for pair, n in pairs.items() if n > 1}
        self.previous_fields = self._previous_fields()

    def _previous_fields(self) -> dict[tuple[str, str], Field]:
        """The previous tree's scalar fields whose column still calculates as it is now,
        by (table, column)."""
        if self.known is None:
            return {}
        blocks = {block.name: block for block in self.known.tree.models()}
        fields = {}
        for model in self.known.schema.models:
            block = blocks.get(model.name)
            old, new = self.known.tables.table(model.table), self.live.table(model.table)
            if block is None or old is None or new is None:
                continue
            by_name = {f.name: f for f in block.fields}
            for scalar in model.scalar_fields:
                column = new.column(scalar.column)
                if column is not None and column == old.column(scalar.column):
                    node = by_name[scalar.name]
                    attributes = tuple(a for a in node.attributes if a.name not in _KEY_ATTRIBUTES)
                    fields[(model.table, scalar.column)] = replace(node, attributes=attributes)
        return fields

    def model(self, table: Table) -> ModelBlock:
        name = self.names[table.name]
        fields = [self._scalar(table, column) for column in table.columns]
        attributes: list[Attribute] = []
        # Databases that keep constraint names (PostgreSQL) name the primary key too.
        key_name = (
            ()
            if table.primary_key_name is None
            else _map(table.primary_key_name, f"{table.name}_pkey")
        )
        if len(table.primary_key) > 1:
            key = _list(self._field_name(table, c) for c in table.primary_key)
            attributes.append(_block("id", (Argument(None, key), *key_name)))
        for index in table.indexes:
            columns = tuple(c.name for c in index.columns)
            plain = index.algorithm is None and index.columns[0].operator_class is None
            if index.unique and len(columns) == 1 and index.columns[0].sort is None and plain:
                default = f"{table.name}_{columns[0]}_key"
                position = [c.name for c in table.columns].index(columns[0])
                fields[position] = _with(fields[position], "unique", _map(index.name, default))
                continue
            items: list[Expression] = [
                self._index_item(table, c.name, c.sort, c.operator_class) for c in index.columns
            ]
            default = f"{table.name}_{'_'.join(columns)}_{'key' if index.unique else 'idx'}"
            arguments = [Argument(None, ArrayValue(tuple(items))), *_map(index.name, default)]
            if index.algorithm is not None:
                method = _INDEX_TYPES.get(index.algorithm, index.algorithm)
                arguments.append(Argument("type", Identifier(method)))
            attributes.append(_block("unique" if index.unique else "index", tuple(arguments)))
        if len(table.primary_key) == 1:
            position = [c.name for c in table.columns].index(table.primary_key[0])
            fields[position] = _with(fields[position], "id", key_name)
        fields.extend(self._relations(table))
        if name != table.name:
            attributes.append(_block("map", (Argument(None, StringValue(table.name)),)))
        if table.namespace is not None:
            attributes.append(_block("schema", (_string(table.namespace),)))
        if not table.primary_key and not any(i.unique for i in table.indexes):
            # Prisma needs a unique criterion to address rows; such a table is kept out
            # of the client, as `db pull` does.
            attributes.append(Attribute("ignore", None, block=True))
        return ModelBlock("model", name, tuple(fields), tuple(attributes))

    def _index_item(
        self, table: Table, column: str, sort: str | None, operator_class: str | None
    ) -> Expression:
        """An index column: the field, with ``sort: Desc`` and ``ops:`` where given."""
        name = self._field_name(table, column)
        arguments = []
        if sort == "DESC":
            arguments.append(Argument("sort", Identifier("Desc")))
        if operator_class is not None:
            prisma = self._operator_classes().get(operator_class)
            ops: Expression = (
                Identifier(prisma)
                if prisma is not None
                else FunctionCall("raw", (Argument(None, StringValue(operator_class)),))
            )
            arguments.append(Argument("ops", ops))
        return FunctionCall(name, tuple(arguments)) if arguments else Identifier(name)

    def _operator_classes(self) -> dict[str, str]:
        """Prisma's operator class names by the database's spelling of each."""
        spelled = {}
        for prisma in sorted(OPERATOR_CLASSES):
            column = ir.IndexColumn(field="", column="", operator_class=prisma)
            sql = self.dialect.ddl.operator_class(column)
            if sql is not None:
                spelled[sql] = prisma
        return spelled

    def _field_name(self, table: Table, column: str) -> str:
        kept = self.previous_fields.get((table.name, column))
        if kept is not None:
            return kept.name
        model = self._previous_model(table.name)
        if model is not None:
            for scalar in model.scalar_fields:
                if scalar.column == column:
                    return scalar.name
        return _identifier(column, ())

    def _previous_model(self, table: str) -> ir.Model | None:
        if self.known is None:
            return None
        return next((m for m in self.known.schema.models if m.table == table), None)

    def _scalar(self, table: Table, column: Column) -> Field:
        kept = self.previous_fields.get((table.name, column.name))
        if kept is not None:
            return kept
        pulled = self.dialect.introspection.pulled(column)
        name = self._field_name(table, column.name)
        type_name, default = pulled.type, pulled.default
        if pulled.enum is not None:
            type_name = self.enums.name(pulled.enum)
            default = self._enum_default(pulled.enum, default)
        attributes = []
        if default is not None:
            attributes.append(Attribute("default", (Argument(None, default),)))
        if name != column.name:
            attributes.append(Attribute("map", (Argument(None, StringValue(column.name)),)))
        if pulled.native_type is not None:
            native, arguments = pulled.native_type
            values = tuple(Argument(None, NumberValue(a)) for a in arguments)
            attributes.append(Attribute(f"db.{native}", values or None))
        field_type = FieldType(
            type_name,
            # A list is never optional in a Prisma schema (its column is nullable).
            optional=not column.not_null and not pulled.list,
            list=pulled.list,
            unsupported=pulled.unsupported,
        )
        return Field(name, field_type, tuple(attributes))

    def _enum_default(self, enum: str, default: Expression | None) -> Expression | None:
        """An enum default's stored values as the enum's Prisma value names."""
        if isinstance(default, Identifier):
            return Identifier(self.enums.value(enum, default.name))
        if isinstance(default, ArrayValue):
            return ArrayValue(tuple(self._enum_default(enum, v) or v for v in default.items))
        return default

    # -- relations ----------------------------------------------------------------------

    def _relations(self, table: Table) -> list[Field]:
        """The relation fields of ``table``'s model, named as Prisma's ``db pull`` names
        them: after the other model, with the relation's name where two relations join the
        same models."""
        taken = {self._field_name(table, c.name) for c in table.columns}
        fields = []
        for fk in table.foreign_keys:
            target = self.live.table(fk.referenced_table)
            if target is None or target.name not in self.names:
                continue
            relation = self._relation_name(table, fk)
            optional = any(not _column(table, name).not_null for name in fk.columns)
            arguments = (
                *_named(relation),
                Argument("fields", _list(self._field_name(table, c) for c in fk.columns)),
                Argument(
                    "references",
                    _list(self._field_name(target, c) for c in fk.referenced_columns),
                ),
                *_actions(fk, optional),
            )
            model = self.names[target.name]
            fields.append(
                Field(
                    _free(model if relation is None else f"{model}_{relation}", taken),
                    FieldType(model, optional=optional),
                    (Attribute("relation", arguments),),
                )
            )
        for other in self.live.tables:
            if other.name not in self.names:
                continue
            for fk in other.foreign_keys:
                if fk.referenced_table != table.name:
                    continue
                relation = self._relation_name(other, fk)
                model = self.names[other.name]
                one = fk.columns in _unique_keys(other)
                name = model if relation is None else f"{model}_{relation}"
                fields.append(
                    Field(
                        _free(name, taken),
                        FieldType(model, optional=one, list=not one),
                        tuple(Attribute("relation", _named(relation)) for _ in [relation] if _),
                    )
                )
        for join in self.join_tables:
            sides = {fk.columns[0]: fk.referenced_table for fk in join.foreign_keys}
            for side, other_side in (("A", "B"), ("B", "A")):
                if sides[side] != table.name or sides[other_side] not in self.names:
                    continue
                model = self.names[sides[other_side]]
                relation = join.name[1:]
                implicit = "To".join(sorted((self.names[sides["A"]], self.names[sides["B"]])))
                fields.append(
                    Field(
                        _free(model, taken),
                        FieldType(model, list=True),
                        () if relation == implicit else (Attribute("relation", _named(relation)),),
                    )
                )
                if sides["A"] == sides["B"]:
                    break  # a self-relation: one list field
        return fields

    def _relation_name(self, table: Table, fk: ForeignKey) -> str | None:
        """None where the two models have one relation between them; else a name made of
        the models and the foreign key's columns."""
        pair = frozenset((table.name, fk.referenced_table))
        if pair not in self.ambiguous and table.name != fk.referenced_table:
            return None
        columns = "_".join(fk.columns)
        return f"{self.names[table.name]}_{columns}To{self.names[fk.referenced_table]}"


# -- syntax helpers -----------------------------------------------------------------------------


def _column(table: Table, name: str) -> Column:
    column = table.column(name)
    assert column is not None, (table.name, name)
    return column


def _unique_keys(table: Table) -> set[tuple[str, ...]]:
    keys = {tuple(c.name for c in index.columns) for index in table.indexes if index.unique}
    return keys | ({table.primary_key} if table.primary_key else set())


def _free(name: str, taken: set[str]) -> str:
    """``name``, numbered when a field already has it; then taken."""
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}{n}"
    taken.add(unique)
    return unique


def _list(names: Iterable[str]) -> ArrayValue:
    return ArrayValue(tuple(Identifier(name) for name in names))


def _named(relation: str | None) -> tuple[Argument, ...]:
    return () if relation is None else (Argument(None, StringValue(relation)),)


def _actions(fk: ForeignKey, optional: bool) -> tuple[Argument, ...]:
    """``onDelete``/``onUpdate`` where they differ from Prisma's defaults (Restrict, or
    SetNull for an optional relation, on delete; Cascade on update)."""
    arguments = []
    on_delete = _ACTIONS.get(fk.on_delete.upper(), fk.on_delete)
    if on_delete != ("SetNull" if optional else "Restrict"):
        arguments.append(Argument("onDelete", Identifier(on_delete)))
    on_update = _ACTIONS.get(fk.on_update.upper(), fk.on_update)
    if on_update != "Cascade":
        arguments.append(Argument("onUpdate", Identifier(on_update)))
    return tuple(arguments)


def _map(name: str, default: str) -> tuple[Argument, ...]:
    """``map: "name"`` where a constraint's name is not the one Prisma would give it."""
    return () if name == default else (Argument("map", StringValue(name)),)


def _with(field: Field, attribute: str, arguments: tuple[Argument, ...]) -> Field:
    """``field`` with ``@attribute(arguments)`` after its type."""
    added = Attribute(attribute, arguments or None)
    return replace(field, attributes=(added, *field.attributes))


def _block(name: str, arguments: tuple[Argument, ...]) -> Attribute:
    return Attribute(name, arguments, block=True)


def _string(text: str) -> Argument:
    return Argument(None, StringValue(text))
