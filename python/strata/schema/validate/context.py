"""The working records the phases fill in, and the context that carries them.

`_Field`, `_Model`, `_Index`, `_PrimaryKey`, `_Enum`, `_Relation`, `_Datasource` and
`_Context` (the tree, the diagnostics and everything learned so far). Every phase module
imports these; no check lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from strata.schema import ir
from strata.schema.diagnostics import Diagnostics
from strata.schema.syntax import (
    Attribute,
    ConfigBlock,
    EnumBlock,
    Field,
    ModelBlock,
    SchemaFile,
    Span,
)
from strata.schema.validate.vocabulary import _SQLITE, _Connector, _label

# =============================================================================================
# Working records: what the phases learn about the schema
# =============================================================================================

_FieldKind = Literal["scalar", "enum", "relation", "composite", "unsupported", "unknown"]


@dataclass(eq=False)
class _RelationArgs:
    """What a relation field's ``@relation`` says; all None when it has none."""

    attribute: Attribute | None = None
    name: str | None = None
    #: None when the argument is absent; resolution problems leave an empty list.
    fields: list[_Field] | None = None
    references: list[_Field] | None = None
    on_delete: tuple[ir.ReferentialAction, Span] | None = None
    on_update: tuple[ir.ReferentialAction, Span] | None = None
    map: str | None = None
    map_span: Span | None = None


@dataclass(eq=False)
class _Field:
    node: Field
    model: _Model
    kind: _FieldKind
    #: The scalar type, enum, model or composite type the field's type names.
    type_name: str
    column: str = ""
    default: ir.DefaultValue | None = None
    native_type: tuple[str, tuple[str, ...]] | None = None
    updated_at: bool = False
    ignored: bool = False
    relation: _RelationArgs = field(default_factory=_RelationArgs)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def span(self) -> Span:
        return self.node.span

    @property
    def optional(self) -> bool:
        return self.node.type.optional

    @property
    def is_list(self) -> bool:
        return self.node.type.list

    @property
    def required(self) -> bool:
        return not self.node.type.optional and not self.node.type.list


@dataclass(eq=False)
class _IndexColumn:
    field: _Field
    sort: Literal["Asc", "Desc"] | None = None
    length: int | None = None
    #: A Prisma operator class name, or the text of ``raw("...")``.
    operator_class: str | None = None
    raw_operator_class: bool = False


@dataclass(eq=False)
class _Index:
    """``@unique``, ``@@unique``, ``@@index`` or ``@@fulltext``."""

    kind: Literal["unique", "index", "fulltext"]
    attribute: Attribute
    columns: list[_IndexColumn]
    #: The field carrying ``@unique``, for field-level uniques.
    source_field: _Field | None = None
    #: ``name:``: the client-side name of a compound unique.
    name: str | None = None
    map: str | None = None
    algorithm: str | None = None
    clustered: bool | None = None
    db_name: str = ""

    @property
    def label(self) -> str:
        return _label(self.attribute)


@dataclass(eq=False)
class _PrimaryKey:
    attribute: Attribute
    columns: list[_IndexColumn]
    source_field: _Field | None = None
    name: str | None = None
    map: str | None = None
    clustered: bool | None = None
    db_name: str = ""


@dataclass(eq=False)
class _Model:
    """A model, a view, or a composite type (``type``): all three hold fields."""

    node: ModelBlock
    fields: list[_Field] = field(default_factory=list)
    by_name: dict[str, _Field] = field(default_factory=dict)
    table: str = ""
    map_attribute: Attribute | None = None
    schema: str | None = None
    schema_attribute: Attribute | None = None
    ignored: bool = False
    primary_key: _PrimaryKey | None = None
    indexes: list[_Index] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def kind(self) -> str:
        """``model``, ``view`` or ``composite type``, as messages call it."""
        return "composite type" if self.node.kind == "type" else self.node.kind

    @property
    def is_view(self) -> bool:
        return self.node.kind == "view"

    def relation_fields(self) -> list[_Field]:
        return [f for f in self.fields if f.kind == "relation"]

    def unique_criteria(self) -> list[list[_Field]]:
        """Sets of fields that identify a row: the primary key and each unique index."""
        criteria = [[c.field for c in i.columns] for i in self.indexes if i.kind == "unique"]
        if self.primary_key is not None:
            criteria.insert(0, [c.field for c in self.primary_key.columns])
        return criteria


@dataclass(eq=False)
class _Enum:
    node: EnumBlock
    db_name: str = ""
    schema: str | None = None
    schema_attribute: Attribute | None = None
    value_db_names: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(eq=False)
class _Relation:
    """A relation, as Prisma pairs relation fields into one.

    ``forward`` is the side that holds (or should hold) ``fields``/``references``; for an
    implicit many-to-many relation it is the field on the model whose name sorts first.
    ``back`` is the other side. Either may be missing when the schema defines one side only.
    """

    kind: Literal["one_to_one", "one_to_many", "many_to_many", "embedded_many_to_many"]
    forward: _Field | None
    back: _Field | None

    @property
    def fields(self) -> list[_Field]:
        return [f for f in (self.forward, self.back) if f is not None]


@dataclass
class _Datasource:
    node: ConfigBlock
    connector: _Connector
    url: str | None = None
    relation_mode: Literal["foreignKeys", "prisma"] = "foreignKeys"
    schemas: list[str] = field(default_factory=list)
    schemas_span: Span | None = None
    extensions_span: Span | None = None
    extensions: list[ir.Extension] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.node.name


class _Context:
    """Everything the phases share: the tree, the diagnostics and what has been learned."""

    def __init__(self, tree: SchemaFile) -> None:
        self.tree = tree
        self.diag = Diagnostics(tree.path, tree.text)
        self.connector = _SQLITE
        self.datasource: _Datasource | None = None
        self.generators: list[ir.Generator] = []
        self.preview_features: set[str] = set()
        #: Models and views by name (first definition; duplicates are only reported).
        self.models: dict[str, _Model] = {}
        self.composite_types: dict[str, _Model] = {}
        self.enums: dict[str, _Enum] = {}
        self.relations: list[_Relation] = []
        #: Whether some relation fields could not be told apart (see `_check_ambiguity`).
        self.ambiguous = False

    def error(self, message: str, span: Span) -> None:
        self.diag.error(message, span)

    def warning(self, message: str, span: Span) -> None:
        self.diag.warning(message, span)

    @property
    def relation_mode(self) -> Literal["foreignKeys", "prisma"]:
        return self.datasource.relation_mode if self.datasource else "foreignKeys"

    def has_errors(self) -> bool:
        return self.diag.error_count > 0
