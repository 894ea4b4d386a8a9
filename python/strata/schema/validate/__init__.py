"""Validation: Prisma's rules for a parsed schema, and its resolution into the IR.

`validate(tree)` checks a `SchemaFile` the way Prisma 5 to 7 check it for the sqlite and
postgresql providers (and for a file without a datasource, which strata treats as SQLite,
its default), reports every problem in the file at the node it concerns, and raises one
`SchemaError` listing them all. A valid file comes back as the resolved `ir.Schema`.

The work runs in phases; each is a section of this module, in this order:

1. configuration: the datasource (provider, urls, relationMode, schemas, extensions) and the
   generators (provider, preview features);
2. names: top-level names, field names, enum values, reserved and malformed identifiers;
3. types: what each field's type refers to (scalar, enum, model, composite type);
4. attributes: every ``@``/``@@`` attribute is checked for its arguments and read into
   working records (primary keys, indexes, defaults, relation arguments, native types);
5. models: primary keys, unique criteria, indexes, defaults, autoincrement, native types,
   database names and constraint-name clashes, multi-schema, views;
6. relations: relation fields are paired the way Prisma pairs them, then checked by kind
   (one-to-one, one-to-many, implicit many-to-many) along with referential actions;
7. resolution: the IR, with database names, Prisma's constraint names and the effective
   referential actions.

No check assumes that an earlier one passed: each skips only what it cannot judge (a field
whose type is unknown, say), so one run reports everything it can. Messages reuse Prisma's
wording, prefixes included (``Error parsing attribute "@relation": ...``), so users can
search for them. Where strata knowingly departs from Prisma the code says so: look for
"strata:" in the comments.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeVar

from strata.schema import ir
from strata.schema.diagnostics import Diagnostics, render
from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Attribute,
    ConfigBlock,
    ConfigProperty,
    EnumBlock,
    Expression,
    Field,
    FunctionCall,
    Identifier,
    ModelBlock,
    NumberValue,
    SchemaFile,
    Span,
    StringValue,
)

__all__ = ["validate"]

_T = TypeVar("_T")


def validate(tree: SchemaFile) -> ir.Schema:
    """Check ``tree`` against Prisma's rules and resolve it.

    Raises `SchemaError` listing every problem found, each with its line, column and a caret
    excerpt. Warnings do not stop validation; they are returned in ``Schema.warnings``.
    """
    ctx = _Context(tree)
    _read_configuration(ctx)
    _collect_names(ctx)
    _resolve_field_types(ctx)
    for model in ctx.models.values():  # composite types are rejected whole: see _check_models
        _read_model_attributes(ctx, model)
    for enum in ctx.enums.values():
        _read_enum_attributes(ctx, enum)
    _check_models(ctx)
    _check_relations(ctx)
    ctx.diag.raise_if_errors()
    return _build_schema(ctx)


# =============================================================================================
# Providers: what each database supports
# =============================================================================================


@dataclass(frozen=True)
class _NativeType:
    """A native type constructor: ``@db.VarChar(n)`` applies to String fields and takes no
    required and one optional argument."""

    scalar: str
    required_args: int = 0
    optional_args: int = 0


# PostgreSQL's native types, as Prisma names them. Decimal's optional arguments come as a
# pair: `Decimal` or `Decimal(precision, scale)`.
_POSTGRES_NATIVE_TYPES: Mapping[str, _NativeType] = {
    "SmallInt": _NativeType("Int"),
    "Integer": _NativeType("Int"),
    "Oid": _NativeType("Int"),
    "BigInt": _NativeType("BigInt"),
    "Real": _NativeType("Float"),
    "DoublePrecision": _NativeType("Float"),
    "Decimal": _NativeType("Decimal", optional_args=2),
    "Money": _NativeType("Decimal"),
    "Boolean": _NativeType("Boolean"),
    "Text": _NativeType("String"),
    "VarChar": _NativeType("String", optional_args=1),
    "Char": _NativeType("String", optional_args=1),
    "Bit": _NativeType("String", optional_args=1),
    "VarBit": _NativeType("String", optional_args=1),
    "Uuid": _NativeType("String"),
    "Xml": _NativeType("String"),
    "Inet": _NativeType("String"),
    "Citext": _NativeType("String"),
    "Timestamp": _NativeType("DateTime", optional_args=1),
    "Timestamptz": _NativeType("DateTime", optional_args=1),
    "Date": _NativeType("DateTime"),
    "Time": _NativeType("DateTime", optional_args=1),
    "Timetz": _NativeType("DateTime", optional_args=1),
    "Json": _NativeType("Json"),
    "JsonB": _NativeType("Json"),
    "ByteA": _NativeType("Bytes"),
}

_INDEX_ALGORITHMS = ("BTree", "Hash", "Gist", "Gin", "SpGist", "Brin")


@dataclass(frozen=True)
class _Connector:
    """The capabilities of a provider that validation depends on (Prisma's "connector")."""

    provider: Literal["sqlite", "postgresql"]
    native_types: Mapping[str, _NativeType]
    #: Longest identifier in bytes; Prisma truncates generated constraint names to fit.
    max_identifier_length: int
    #: strata: SQLite has no scalar lists in Prisma; strata stores them as JSON text and warns.
    scalar_lists: bool
    multi_schema: bool
    index_algorithms: frozenset[str]
    #: PostgreSQL operator classes (``ops:``) in ``@@index``.
    operator_classes: bool
    #: ``map:`` on ``@id``/``@@id`` and on ``@relation``.
    named_primary_keys: bool
    named_foreign_keys: bool
    #: ``autoincrement()`` on a field that is not the single-field id, or several per table.
    autoincrement_anywhere: bool
    #: PostgreSQL accepts ``ON DELETE SET NULL`` on a NOT NULL column (it fails when it
    #: fires), so Prisma only warns there, as long as the database enforces foreign keys.
    set_null_on_required_is_warning: bool
    #: Where constraint names must be unique: SQLite indexes share one namespace per
    #: database; PostgreSQL primary keys and indexes share one per schema, and a table's
    #: primary key, indexes and foreign keys one per table.
    global_names: Literal["indexes", "primary keys and indexes"]
    local_names: bool


_SQLITE = _Connector(
    provider="sqlite",
    native_types={},
    max_identifier_length=10_000,
    scalar_lists=False,
    multi_schema=False,
    index_algorithms=frozenset({"BTree"}),
    operator_classes=False,
    named_primary_keys=False,
    named_foreign_keys=False,
    autoincrement_anywhere=False,
    set_null_on_required_is_warning=False,
    global_names="indexes",
    local_names=False,
)

_POSTGRESQL = _Connector(
    provider="postgresql",
    native_types=_POSTGRES_NATIVE_TYPES,
    max_identifier_length=63,
    scalar_lists=True,
    multi_schema=True,
    index_algorithms=frozenset(_INDEX_ALGORITHMS),
    operator_classes=True,
    named_primary_keys=True,
    named_foreign_keys=True,
    autoincrement_anywhere=True,
    set_null_on_required_is_warning=True,
    global_names="primary keys and indexes",
    local_names=True,
)

_CONNECTORS = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL, "postgres": _POSTGRESQL}
# Providers Prisma knows and strata does not support.
_OTHER_PRISMA_PROVIDERS = frozenset({"mysql", "sqlserver", "mongodb", "cockroachdb"})


# =============================================================================================
# Prisma's vocabulary
# =============================================================================================

_SCALARS = ir.SCALAR_TYPES
_ACTIONS = {action.value: action for action in ir.ReferentialAction}
# With relationMode = "prisma" the client emulates these, and only these.
_EMULATED_ACTIONS = (
    ir.ReferentialAction.CASCADE,
    ir.ReferentialAction.RESTRICT,
    ir.ReferentialAction.SET_NULL,
)

# Names the generated TypeScript client cannot use for a model or enum (Prisma's list).
_RESERVED_TYPE_NAMES = frozenset(
    ["PrismaClient", "break", "case", "catch", "class", "const", "continue", "debugger",
     "default", "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for",
     "function", "if", "implements", "import", "in", "instanceof", "interface", "let", "new",
     "null", "package", "private", "protected", "public", "return", "super", "switch", "this",
     "throw", "true", "try", "typeof", "var", "void", "while", "with", "yield"]
)  # fmt: skip

# Preview features, as of Prisma 6.x/7. They matter to validation only where they enable
# schema syntax (`views`, `postgresqlExtensions`); the rest is checked so typos surface.
_PREVIEW_FEATURES = (
    "nativeDistinct",
    "postgresqlExtensions",
    "relationJoins",
    "schemaEngineDriverAdapters",
    "shardKeys",
    "strictUndefinedChecks",
    "views",
    "reactNative",
    "typedSql",
)
_POSTGRES_PREVIEW_FEATURES = ("fullTextSearchPostgres",)
_DEPRECATED_PREVIEW_FEATURES = (
    "aggregateApi", "atomicNumberOperations", "clientExtensions", "cockroachdb",
    "connectOrCreate", "createMany", "dataProxy", "deno", "distinct", "driverAdapters", "esm",
    "extendedIndexes", "extendedWhereUnique", "fieldReference", "filteredRelationCount",
    "filterJson", "fullTextIndex", "fullTextSearch", "groupBy", "improvedQueryRaw",
    "interactiveTransactions", "jsonProtocol", "metrics", "microsoftSqlServer", "middlewares",
    "mongoDb", "multiSchema", "namedConstraints", "nApi", "nativeTypes", "omitApi",
    "orderByAggregateGroup", "orderByNulls", "orderByRelation", "prismaSchemaFolder",
    "referentialActions", "referentialIntegrity", "selectRelationCount", "tracing",
    "transactionApi", "uncheckedScalarInputs",
)  # fmt: skip

# PostgreSQL operator classes: the index types each works with. Every one not listed here
# ends in `Ops` and belongs to BRIN.
_OPERATOR_CLASS_ALGORITHMS = {
    "InetOps": ("Gist", "SpGist"),
    "JsonbOps": ("Gin",),
    "JsonbPathOps": ("Gin",),
    "ArrayOps": ("Gin",),
    "TextOps": ("SpGist",),
}
# BRIN operator classes by the native types they accept (None: the field's default type).
_BRIN_OPERATOR_CLASSES: Mapping[str, tuple[str, ...]] = {
    "Bit": ("BitMinMaxOps",),
    "VarBit": ("VarBitMinMaxOps",),
    "Char": ("BpcharBloomOps", "BpcharMinMaxOps"),
    "Date": ("DateBloomOps", "DateMinMaxOps", "DateMinMaxMultiOps"),
    "Real": ("Float4BloomOps", "Float4MinMaxOps", "Float4MinMaxMultiOps"),
    "DoublePrecision": ("Float8BloomOps", "Float8MinMaxOps", "Float8MinMaxMultiOps"),
    "Inet": ("InetInclusionOps", "InetBloomOps", "InetMinMaxOps", "InetMinMaxMultiOps"),
    "SmallInt": ("Int2BloomOps", "Int2MinMaxOps", "Int2MinMaxMultiOps"),
    "Integer": ("Int4BloomOps", "Int4MinMaxOps", "Int4MinMaxMultiOps"),
    "BigInt": ("Int8BloomOps", "Int8MinMaxOps", "Int8MinMaxMultiOps"),
    "Decimal": ("NumericBloomOps", "NumericMinMaxOps", "NumericMinMaxMultiOps"),
    "Oid": ("OidBloomOps", "OidMinMaxOps", "OidMinMaxMultiOps"),
    "ByteA": ("ByteaBloomOps", "ByteaMinMaxOps"),
    "Text": ("TextBloomOps", "TextMinMaxOps"),
    "VarChar": ("TextBloomOps", "TextMinMaxOps"),
    "Timestamp": ("TimestampBloomOps", "TimestampMinMaxOps", "TimestampMinMaxMultiOps"),
    "Timestamptz": ("TimestampTzBloomOps", "TimestampTzMinMaxOps", "TimestampTzMinMaxMultiOps"),
    "Time": ("TimeBloomOps", "TimeMinMaxOps", "TimeMinMaxMultiOps"),
    "Timetz": ("TimeTzBloomOps", "TimeTzMinMaxOps", "TimeTzMinMaxMultiOps"),
    "Uuid": ("UuidBloomOps", "UuidMinMaxOps", "UuidMinMaxMultiOps"),
}
# The native type a BRIN operator class stands for when the field has none of its own: a
# Float field is a DoublePrecision column, an Int field an Integer one, and so on.
_BRIN_DEFAULT_NATIVE_TYPES = {
    "Float": "DoublePrecision",
    "Int": "Integer",
    "BigInt": "BigInt",
    "Decimal": "Decimal",
    "Bytes": "ByteA",
    "String": "Text",
    "DateTime": "Timestamp",
}
_OPERATOR_CLASSES = frozenset(
    [*_OPERATOR_CLASS_ALGORITHMS, *(c for cs in _BRIN_OPERATOR_CLASSES.values() for c in cs)]
)


# --- Prisma's message shapes: the prefix says what kind of rule failed ------------------------


def _model_error(kind: str, name: str, message: str) -> str:
    return f'Error validating {kind} "{name}": {message}'


def _attribute_error(attribute: Attribute | str, message: str) -> str:
    label = attribute if isinstance(attribute, str) else _label(attribute)
    return f'Error parsing attribute "{label}": {message}'


def _validation_error(message: str) -> str:
    return f"Error validating: {message}"


def _field_error(container: str, model: str, field_name: str, message: str) -> str:
    return f"Error validating field `{field_name}` in {container} `{model}`: {message}"


def _label(attribute: Attribute) -> str:
    """``@id`` or ``@@index``: the attribute as written, without arguments."""
    return ("@@" if attribute.block else "@") + attribute.name


# =============================================================================================
# Expressions: describing, rendering and coercing attribute and property values
# =============================================================================================


def _value_kind(expr: Expression) -> str:
    if isinstance(expr, StringValue):
        return "string"
    if isinstance(expr, NumberValue):
        return "numeric"
    if isinstance(expr, Identifier):
        return "literal"
    if isinstance(expr, ArrayValue):
        return "array"
    return "functional"


def _render(expr: Expression) -> str:
    """The expression as it would be written in a schema."""
    if isinstance(expr, StringValue):
        return json.dumps(expr.value, ensure_ascii=False)
    if isinstance(expr, NumberValue):
        return expr.text
    if isinstance(expr, Identifier):
        return expr.name
    if isinstance(expr, ArrayValue):
        return "[" + ", ".join(_render(item) for item in expr.items) + "]"
    arguments = ", ".join(
        (f"{a.name}: " if a.name else "") + _render(a.value) for a in expr.arguments
    )
    return f"{expr.name}({arguments})"


def _mismatch(ctx: _Context, expected: str, expr: Expression) -> None:
    ctx.error(
        f"Expected {expected} value, but received {_value_kind(expr)} value `{_render(expr)}`.",
        expr.span,
    )


def _expect_string(ctx: _Context, expr: Expression) -> str | None:
    if isinstance(expr, StringValue):
        return expr.value
    _mismatch(ctx, "a string", expr)
    return None


def _expect_constant(ctx: _Context, expr: Expression) -> str | None:
    """A bare name: a field name, ``Desc``, ``Cascade``."""
    if isinstance(expr, Identifier):
        return expr.name
    _mismatch(ctx, "a constant", expr)
    return None


def _integer(expr: Expression) -> int | None:
    """The value of an integer literal, or None for anything else. Python refuses to convert
    more than 4,300 digits; nothing in a schema takes an integer that long, so such a
    literal counts as no integer."""
    if not (isinstance(expr, NumberValue) and expr.is_integer):
        return None
    try:
        return int(expr.text)
    except ValueError:
        return None


def _expect_int(ctx: _Context, expr: Expression) -> int | None:
    if (number := _integer(expr)) is not None:
        return number
    _mismatch(ctx, "an integer", expr)
    return None


def _expect_bool(ctx: _Context, expr: Expression) -> bool | None:
    if isinstance(expr, Identifier) and expr.name in ("true", "false"):
        return expr.name == "true"
    _mismatch(ctx, "a boolean", expr)
    return None


def _items(expr: Expression) -> tuple[Expression, ...]:
    """The items of a list; Prisma also accepts a single value where a list is expected."""
    return expr.items if isinstance(expr, ArrayValue) else (expr,)


def _expect_list(
    ctx: _Context, expr: Expression, item: Callable[[_Context, Expression], _T | None]
) -> list[_T] | None:
    """Every item coerced by ``item``; None (after reporting) if any item is wrong."""
    values = [item(ctx, value) for value in _items(expr)]
    if any(value is None for value in values):
        return None
    return [value for value in values if value is not None]


def _string_or_env(ctx: _Context, expr: Expression) -> str | None:
    """A url or provider: a string literal, or ``env("NAME")`` returned as ``"env:NAME"``."""
    if isinstance(expr, StringValue):
        return expr.value
    if isinstance(expr, FunctionCall) and expr.name == "env":
        args = expr.arguments
        if len(args) == 1 and isinstance(args[0].value, StringValue):
            if args[0].name is not None:
                ctx.warning("The env function doesn't expect named arguments", expr.span)
            return "env:" + args[0].value.value
        ctx.error("The env function expects a singular, unnamed, string argument.", expr.span)
        return None
    _mismatch(ctx, 'a string or env("...")', expr)
    return None


class _Args:
    """The arguments of one attribute, taken by name as the attribute's reader asks for them.

    Prisma's conventions: an attribute takes at most one unnamed argument, which stands for
    its first parameter (``@map("x")`` is ``@map(name: "x")``), and an argument the reader
    never asks for is one the attribute does not know: `finish` reports those.
    """

    def __init__(self, ctx: _Context, attribute: Attribute) -> None:
        self.ctx = ctx
        self.attribute = attribute
        self.named: dict[str, Argument] = {}
        self.unnamed: Argument | None = None
        extra_unnamed: list[Argument] = []
        for arg in attribute.arguments or ():
            if arg.name is None:
                if self.unnamed is None:
                    self.unnamed = arg
                else:
                    extra_unnamed.append(arg)
            elif arg.name in self.named:
                ctx.error(
                    _attribute_error(attribute, f'The argument "{arg.name}" is given twice.'),
                    arg.span,
                )
            else:
                self.named[arg.name] = arg
        if extra_unnamed and self.unnamed is not None:
            values = ", ".join(_render(a.value) for a in [self.unnamed, *extra_unnamed])
            ctx.error(
                _attribute_error(
                    attribute,
                    "You provided multiple unnamed arguments. This is not possible. Did you "
                    f"forget the brackets? Did you mean `[{values}]`?",
                ),
                attribute.span,
            )

    def default(self, name: str, *, required: bool = True) -> Expression | None:
        """The argument called ``name``, or else the unnamed one."""
        named, unnamed = self.named.pop(name, None), self.unnamed
        self.unnamed = None
        if named is not None and unnamed is not None:
            self.ctx.error(
                _attribute_error(
                    self.attribute, f'The argument "{name}" is given both by name and unnamed.'
                ),
                unnamed.span,
            )
        arg = named or unnamed
        if arg is None:
            if required:
                self.ctx.error(
                    f'Argument "{name}" is missing in attribute "{_label(self.attribute)}".',
                    self.attribute.span,
                )
            return None
        return arg.value

    def optional(self, name: str) -> Expression | None:
        arg = self.named.pop(name, None)
        return None if arg is None else arg.value

    def discard(self) -> None:
        """Forget the remaining arguments: the attribute itself is already an error."""
        self.named.clear()
        self.unnamed = None

    def finish(self) -> None:
        for arg in self.named.values():
            self.ctx.error(
                _attribute_error(self.attribute, f"The argument `{arg.name}` is not known."),
                arg.span,
            )
        if self.unnamed is not None:
            self.ctx.error(
                _attribute_error(self.attribute, "This attribute takes no unnamed argument."),
                self.unnamed.span,
            )
        self.discard()


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


# =============================================================================================
# 1. Configuration: datasource and generators
# =============================================================================================


def _read_configuration(ctx: _Context) -> None:
    for block in ctx.tree.blocks:
        if isinstance(block, ConfigBlock):
            _check_duplicate_properties(ctx, block)
    _read_datasource(ctx)
    _read_generators(ctx)
    _check_extensions_preview_feature(ctx)


def _check_duplicate_properties(ctx: _Context, block: ConfigBlock) -> None:
    seen: set[str] = set()
    for prop in block.properties:
        if prop.name in seen:
            ctx.error(
                f'Key "{prop.name}" is already defined in {block.kind} "{block.name}".', prop.span
            )
        seen.add(prop.name)


def _first_properties(block: ConfigBlock) -> dict[str, ConfigProperty]:
    """Properties by name; the first wins (a repeated key is reported on its own)."""
    props: dict[str, ConfigProperty] = {}
    for prop in block.properties:
        props.setdefault(prop.name, prop)
    return props


def _read_datasource(ctx: _Context) -> None:
    blocks = ctx.tree.datasources()
    if len(blocks) > 1:
        for block in blocks:
            ctx.error(
                f"Error validating datasource `{block.name}`: You defined more than one "
                "datasource. This is not allowed yet because support for multiple databases "
                "has not been implemented yet.",
                block.span,
            )
    if not blocks:
        return  # strata: a file without a datasource is checked with SQLite's rules
    block = blocks[0]
    props = _first_properties(block)
    connector = _read_provider(ctx, block, props.pop("provider", None))
    if connector is None:
        return  # the other properties depend on the provider
    ds = _Datasource(block, connector)
    ctx.connector = connector
    ctx.datasource = ds
    _read_urls(ctx, ds, props)
    _read_relation_mode(ctx, ds, props)
    if (prop := props.pop("schemas", None)) is not None:
        _read_schemas_property(ctx, ds, prop)
    if connector.provider == "postgresql" and (prop := props.pop("extensions", None)):
        ds.extensions_span = prop.span
        _read_extensions(ctx, prop.value)
    if (prop := props.pop("previewFeatures", None)) is not None:
        ctx.error(
            "Preview features are only supported in the generator block. Please move this "
            "field to the generator block.",
            prop.span,
        )
    for prop in props.values():
        ctx.error(f'Property not known: "{prop.name}".', prop.span)


def _read_provider(
    ctx: _Context, block: ConfigBlock, prop: ConfigProperty | None
) -> _Connector | None:
    if prop is None:
        ctx.error(
            f'Argument "provider" is missing in data source block "{block.name}".', block.span
        )
        return None
    value = prop.value
    where = f"Error validating datasource `{block.name}`: "
    if isinstance(value, FunctionCall) and value.name == "env":
        ctx.error(
            "A datasource must not use the env() function in the provider argument.", block.span
        )
        return None
    if not isinstance(value, StringValue):
        ctx.error(
            where + "The provider argument in a datasource must be a string literal", value.span
        )
        return None
    provider = value.value
    if not provider:
        ctx.error(where + "The provider argument in a datasource must not be empty", value.span)
        return None
    if provider in _OTHER_PRISMA_PROVIDERS:
        ctx.error(
            f'The provider "{provider}" is not supported: strata supports sqlite and postgresql.',
            value.span,
        )
        return None
    connector = _CONNECTORS.get(provider)
    if connector is None:
        ctx.error(f'Datasource provider not known: "{provider}".', value.span)
    return connector


def _read_urls(ctx: _Context, ds: _Datasource, props: dict[str, ConfigProperty]) -> None:
    """``url`` is optional (Prisma 7 moved it to prisma.config.ts); when given, the shadow
    database must differ from it and from ``directUrl``."""
    urls: dict[str, tuple[str, Span]] = {}
    for key in ("url", "directUrl", "shadowDatabaseUrl"):
        prop = props.pop(key, None)
        if prop is not None and (value := _string_or_env(ctx, prop.value)) is not None:
            urls[key] = (value, prop.value.span)
    ds.url = urls["url"][0] if "url" in urls else None
    shadow = urls.get("shadowDatabaseUrl")
    if shadow is None or shadow[0] == "":
        return
    for key, label in (("directUrl", "directUrl"), ("url", "url")):
        if key in urls and urls[key][0] == shadow[0]:
            ctx.error(
                f'shadowDatabaseUrl is the same as {label} for datasource "{ds.name}". Please '
                "specify a different database as shadow database to avoid data loss.",
                urls[key][1],
            )


def _read_relation_mode(ctx: _Context, ds: _Datasource, props: dict[str, ConfigProperty]) -> None:
    mode = props.pop("relationMode", None)
    legacy = props.pop("referentialIntegrity", None)
    if legacy is not None:
        ctx.warning(
            "The `referentialIntegrity` attribute is deprecated. Please use `relationMode` "
            "instead. Learn more at https://pris.ly/d/relation-mode",
            legacy.span,
        )
        if mode is not None:
            ctx.error(
                "The `referentialIntegrity` and `relationMode` attributes cannot be used "
                "together. Please use only `relationMode` instead.",
                legacy.span,
            )
            return
    chosen = mode or legacy
    if chosen is None:
        return
    value = _expect_string(ctx, chosen.value)
    if value == "prisma":
        ds.relation_mode = "prisma"
    elif value == "foreignKeys":
        ds.relation_mode = "foreignKeys"
    elif value is not None:
        ctx.error(
            f"Error validating datasource `relationMode`: Invalid relation mode setting: "
            f'"{value}". Supported values: "prisma", "foreignKeys"',
            chosen.value.span,
        )


def _read_schemas_property(ctx: _Context, ds: _Datasource, prop: ConfigProperty) -> None:
    """``schemas = ["public", "auth"]``: the PostgreSQL schemas models may live in."""
    if not ds.connector.multi_schema:
        ctx.error("The `schemas` property is not supported on the current connector.", prop.span)
    items = _items(prop.value)
    names = [_expect_string(ctx, item) for item in items]
    if not items:
        ctx.error("If provided, the schemas array can not be empty.", prop.value.span)
    seen: set[str] = set()
    for name in names:
        if name is None:
            continue
        if name in seen:
            ctx.error("Duplicated schema names are not allowed", prop.value.span)
        seen.add(name)
        ds.schemas.append(name)
    ds.schemas_span = prop.span


def _read_extensions(ctx: _Context, expr: Expression) -> None:
    """``extensions = [postgis, uuid_ossp(map: "uuid-ossp", schema: "x", version: "1.1")]``."""
    for item in _items(expr):
        if isinstance(item, Identifier | FunctionCall):
            if problem := _identifier_problem(item.name, "extension"):
                ctx.error(problem, item.span)
        else:
            _mismatch(ctx, "a constant or function", item)
        if isinstance(item, FunctionCall):
            seen: set[str] = set()
            for arg in item.arguments:
                if arg.name is None:
                    ctx.error(_validation_error("The argument must have a name"), arg.span)
                elif arg.name not in ("map", "schema", "version"):
                    ctx.error(f'Argument not known: "{arg.name}".', arg.span)
                elif arg.name in seen:
                    ctx.error(
                        _validation_error(f"The argument `{arg.name}` can only be defined once"),
                        arg.span,
                    )
                else:
                    _expect_string(ctx, arg.value)
                if arg.name:
                    seen.add(arg.name)


def _read_generators(ctx: _Context) -> None:
    seen: set[str] = set()
    for block in ctx.tree.generators():
        if block.name in seen:
            ctx.error(
                f'The generator "{block.name}" cannot be defined because a generator with that '
                "name already exists.",
                block.span,
            )
        seen.add(block.name)
        props = _first_properties(block)
        provider: str | None = None
        if (prop := props.get("provider")) is None:
            ctx.error(
                f'Argument "provider" is missing in generator block "{block.name}".', block.span
            )
        else:
            provider = _string_or_env(ctx, prop.value)
        features: list[str] = []
        if (prop := props.get("previewFeatures")) is not None:
            features = _read_preview_features(ctx, prop)
        ctx.preview_features.update(features)
        ctx.generators.append(ir.Generator(block.name, provider or "", tuple(features)))


def _read_preview_features(ctx: _Context, prop: ConfigProperty) -> list[str]:
    """The known features, by their canonical names (Prisma matches them case-insensitively)."""
    known = {name.lower(): name for name in _PREVIEW_FEATURES}
    if ctx.connector.provider == "postgresql":
        known.update({name.lower(): name for name in _POSTGRES_PREVIEW_FEATURES})
    deprecated = {name.lower(): name for name in _DEPRECATED_PREVIEW_FEATURES}
    features: list[str] = []
    for name in _expect_list(ctx, prop.value, _expect_string) or []:
        key = name.lower()
        if key == "fulltextsearch" and ctx.connector.provider == "postgresql":
            ctx.warning(
                'On `provider = "postgresql"`, preview feature "fullTextSearch" has been renamed '
                'to "fullTextSearchPostgres". Learn more at https://pris.ly/d/fts-postgres.',
                prop.span,
            )
            features.append("fullTextSearchPostgres")
        elif key in deprecated:
            ctx.warning(
                f'Preview feature "{name}" is deprecated. The functionality can be used without '
                "specifying it as a preview feature.",
                prop.span,
            )
            features.append(deprecated[key])
        elif key in known:
            features.append(known[key])
        else:
            # strata: Prisma rejects an unknown preview feature. strata generates no client, so
            # a feature it does not know (a newer Prisma's, say) cannot affect it: it warns.
            ctx.warning(
                f'The preview feature "{name}" is not known. Expected one of: '
                + ", ".join(sorted(set(known.values()) - {"reactNative", "typedSql"})),
                prop.span,
            )
    return features


def _check_extensions_preview_feature(ctx: _Context) -> None:
    ds = ctx.datasource
    if ds and ds.extensions_span and "postgresqlExtensions" not in ctx.preview_features:
        ctx.error(
            "The `extensions` property is only available with the `postgresqlExtensions` "
            "preview feature.",
            ds.extensions_span,
        )


# =============================================================================================
# 2. Names
# =============================================================================================


def _identifier_problem(name: str, item: str) -> str | None:
    """Prisma's rules for a name: not empty, no leading digit, no ``-`` (the parser accepts
    ``-`` inside names because generator names may contain it)."""
    if not name:
        return f"The name of a {item} must not be empty."
    if name[0].isdigit():
        return f"The name of a {item} must not start with a number."
    if "-" in name:
        return f"The character `-` is not allowed in {item} names."
    return None


def _check_identifier(ctx: _Context, name: str, item: str, span: Span) -> None:
    if problem := _identifier_problem(name, item):
        ctx.error(_validation_error(problem), span)


def _collect_names(ctx: _Context) -> None:
    """Register models, views, composite types and enums, reporting clashing names. A block
    whose name is taken is reported and then left out: its contents would only echo the
    first definition's errors."""
    taken: dict[str, str] = {}
    for block in ctx.tree.blocks:
        if isinstance(block, ConfigBlock):
            continue
        kind = "enum" if isinstance(block, EnumBlock) else _block_kind(block)
        _check_identifier(ctx, block.name, kind, block.span)
        if block.name in _SCALARS:
            ctx.error(
                f"{block.name} is a reserved scalar type name and cannot be used.", block.span
            )
        elif block.name in _RESERVED_TYPE_NAMES and kind != "composite type":
            link = "https://pris.ly/d/naming-models"
            ctx.error(
                _model_error(
                    kind,
                    block.name,
                    f"The {kind} name `{block.name}` is invalid. It is a reserved name. Please "
                    f"change it. Read more at {link}",
                ),
                block.span,
            )
        if block.name in taken:
            ctx.error(
                f'The {kind} "{block.name}" cannot be defined because a {taken[block.name]} with '
                "that name already exists.",
                block.span,
            )
            continue
        taken[block.name] = kind
        if isinstance(block, EnumBlock):
            ctx.enums[block.name] = _collect_enum(ctx, block)
        elif block.kind == "type":
            ctx.composite_types[block.name] = _Model(block, table=block.name)
        else:
            ctx.models[block.name] = _Model(block, table=block.name)


def _block_kind(block: ModelBlock) -> str:
    return "composite type" if block.kind == "type" else block.kind


def _collect_enum(ctx: _Context, block: EnumBlock) -> _Enum:
    enum = _Enum(block, db_name=block.name)
    if not block.values:
        ctx.error(_validation_error("An enum must have at least one value."), block.span)
    for value in block.values:
        _check_identifier(ctx, value.name, "enum value", value.span)
        if value.name in enum.value_db_names:
            ctx.error(
                f'Value "{value.name}" is already defined on enum "{block.name}".', value.span
            )
        else:
            enum.value_db_names[value.name] = value.name
    return enum


# =============================================================================================
# 3. Types: what each field's type refers to
# =============================================================================================


def _resolve_field_types(ctx: _Context) -> None:
    for model in [*ctx.models.values(), *ctx.composite_types.values()]:
        for node in model.node.fields:
            _check_identifier(ctx, node.name, "field", node.span)
            if node.name in model.by_name:
                ctx.error(
                    f'Field "{node.name}" is already defined on {model.kind} "{model.name}".',
                    node.span,
                )
                continue
            kind, type_name = _field_type(ctx, model, node)
            resolved = _Field(node, model, kind, type_name, column=node.name)
            model.fields.append(resolved)
            model.by_name[node.name] = resolved


def _field_type(ctx: _Context, model: _Model, node: Field) -> tuple[_FieldKind, str]:
    type_ = node.type
    if type_.unsupported is not None:
        return "unsupported", "Unsupported"
    if type_.name in _SCALARS:
        return "scalar", type_.name
    if type_.name in ctx.enums:
        return "enum", type_.name
    if type_.name in ctx.models:
        if model.node.kind == "type":
            ctx.error(
                f'Error validating composite type "{model.name}": {type_.name} refers to a '
                "model, making this a relation field. Relation fields inside composite types "
                "are not supported.",
                type_.span,
            )
            return "unknown", type_.name
        return "relation", type_.name
    if type_.name in ctx.composite_types:
        return "composite", type_.name
    ctx.error(
        f'Type "{type_.name}" is neither a built-in type, nor refers to another model, '
        "composite type, or enum.",
        type_.span,
    )
    return "unknown", type_.name


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
        if expr.name in _OPERATOR_CLASSES:
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


# --- native types --------------------------------------------------------------------------


def _read_native_type(ctx: _Context, field_: _Field, attribute: Attribute) -> None:
    """``@db.VarChar(255)``: the prefix names the datasource; the type must exist for the
    provider, take that many arguments and suit the field's scalar type."""
    prefix, type_name = attribute.name.split(".", 1)
    ds = ctx.datasource
    if ds is None:
        ctx.error(
            f"Native type {type_name} needs a datasource: there is no datasource block named "
            f"`{prefix}`.",
            attribute.span,
        )
        return
    if prefix != ds.name:
        ctx.error(
            f"The prefix {prefix} is invalid. It must be equal to the name of an existing "
            f"datasource e.g. {ds.name}. Did you mean to use {ds.name}.{type_name}?",
            attribute.span,
        )
    spec = ctx.connector.native_types.get(type_name)
    if spec is None:
        ctx.error(
            f"Native type {type_name} is not supported for {ctx.connector.provider} connector.",
            attribute.span,
        )
        return
    args = list(attribute.arguments or ())
    given = len(args)
    if given < spec.required_args or (given > spec.required_args and not spec.optional_args):
        ctx.error(
            f"Native type {type_name} takes {spec.required_args} arguments, but received {given}.",
            attribute.span,
        )
        return
    if given > spec.required_args + spec.optional_args or (type_name == "Decimal" and given == 1):
        ctx.error(
            f"Native type {type_name} takes {spec.optional_args} optional arguments, but "
            f"received {given}.",
            attribute.span,
        )
        return
    if field_.type_name != spec.scalar:
        ctx.error(
            f"Native type {type_name} is not compatible with declared field type "
            f"{field_.type_name}, expected field type {spec.scalar}.",
            attribute.span,
        )
        return
    values = _native_type_arguments(ctx, attribute, args)
    if values is None:
        return
    field_.native_type = (type_name, tuple(str(v) for v in values))
    _check_native_type_ranges(ctx, attribute, type_name, values)


def _native_type_arguments(
    ctx: _Context, attribute: Attribute, args: list[Argument]
) -> list[int] | None:
    values = []
    for arg in args:
        number = _integer(arg.value)
        if arg.name is not None or number is None:
            rendered = ", ".join(_render(a.value) for a in args)
            ctx.error(f"Expected a nonnegative integer, but found ({rendered}).", attribute.span)
            return None
        values.append(number)
    if any(v < 0 for v in values):
        rendered = ", ".join(str(v) for v in values)
        ctx.error(f"Expected a nonnegative integer, but found ({rendered}).", attribute.span)
        return None
    return values


def _check_native_type_ranges(
    ctx: _Context, attribute: Attribute, type_name: str, values: list[int]
) -> None:
    prefix = f"Argument M is out of range for native type `{type_name}`"
    if type_name == "Decimal" and values:
        precision, scale = values
        if scale > precision:
            ctx.error(
                f"The scale must not be larger than the precision for the {type_name} native "
                f"type in Postgres.",
                attribute.span,
            )
        elif precision == 0 or precision > 1000:
            ctx.error(
                f"{prefix}: Precision must be positive with a maximum value of 1000.",
                attribute.span,
            )
    elif type_name in ("Bit", "VarBit") and values == [0]:
        ctx.error(f"{prefix}: M must be a positive integer.", attribute.span)
    elif type_name in ("Timestamp", "Timestamptz", "Time", "Timetz") and values and values[0] > 6:
        ctx.error(f"{prefix}: M can range from 0 to 6.", attribute.span)


# --- defaults ------------------------------------------------------------------------------
#
# Every problem with a default is reported at the expression at fault (the literal, the list
# item or the function call), under Prisma's `Error parsing attribute "@default"` prefix.


def _default_error(ctx: _Context, message: str, span: Span) -> None:
    ctx.error(_attribute_error("@default", message), span)


_ArgumentCheck = Callable[[_Context, FunctionCall], tuple[object, ...] | None]


@dataclass(frozen=True)
class _DefaultFunction:
    """A function in ``@default(...)``: the `ir.DefaultValue` kind it makes, the scalar
    types it applies to, and how its arguments are checked (None: it takes none)."""

    kind: Literal["autoincrement", "now", "cuid", "uuid", "nanoid", "ulid"]
    types: frozenset[str]
    check_args: _ArgumentCheck | None = None


def _integer_choice_args(name: str, allowed: Callable[[int], bool], choice: str) -> _ArgumentCheck:
    """Arguments of ``uuid(4|7)``, ``cuid(1|2)``, ``nanoid(2..255)``: none, or one integer."""

    def check(ctx: _Context, call: FunctionCall) -> tuple[object, ...] | None:
        if not call.arguments:
            return ()
        arg = call.arguments[0]
        value = arg.value
        if len(call.arguments) > 1 or arg.name is not None or not isinstance(value, NumberValue):
            _default_error(ctx, f"`{name}()` takes a single Int argument.", call.span)
            return None
        number = _integer(value)
        if number is None or not allowed(number):
            _default_error(
                ctx,
                f"`{name}()` takes either no argument, or a single integer argument {choice}.",
                call.span,
            )
            return None
        return (number,)

    return check


_STRING = frozenset({"String"})
_DEFAULT_FUNCTIONS: Mapping[str, _DefaultFunction] = {
    "autoincrement": _DefaultFunction("autoincrement", frozenset({"Int", "BigInt"})),
    "now": _DefaultFunction("now", frozenset({"DateTime"})),
    "cuid": _DefaultFunction(
        "cuid",
        _STRING,
        _integer_choice_args("cuid", lambda v: v in (1, 2), "which is either 1 or 2"),
    ),
    "uuid": _DefaultFunction(
        "uuid",
        _STRING,
        _integer_choice_args("uuid", lambda v: v in (4, 7), "which is either 4 or 7"),
    ),
    "nanoid": _DefaultFunction(
        "nanoid",
        _STRING,
        _integer_choice_args("nanoid", lambda v: 2 <= v <= 255, "between 2 and 255"),
    ),
    "ulid": _DefaultFunction("ulid", _STRING),
}


def _resolve_default(ctx: _Context, field_: _Field, value: Expression) -> ir.DefaultValue | None:
    """The default as an `ir.DefaultValue`, or None after reporting why it is invalid."""
    if isinstance(value, FunctionCall) and value.name == "dbgenerated":
        return _dbgenerated_default(ctx, value)  # any type: the database computes it
    if field_.kind == "composite":
        _default_error(
            ctx,
            "Defaults on fields of type composite are not supported. Please remove the "
            "`@default` attribute.",
            value.span,
        )
        return None
    if field_.kind == "unsupported":
        _default_error(
            ctx, 'Only @default(dbgenerated("...")) can be used for Unsupported types.', value.span
        )
        return None
    if isinstance(value, FunctionCall):
        return _function_default(ctx, field_, value)

    def literal(item: Expression) -> object:
        if field_.kind == "enum":
            return _enum_literal(ctx, ctx.enums[field_.type_name], item)
        return _scalar_literal(ctx, field_.type_name, item)

    if field_.is_list:
        if not isinstance(value, ArrayValue):
            _default_error(ctx, "The default value of a list field must be a list.", value.span)
            return None
        items = [literal(item) for item in value.items]
        return None if _INVALID in items else ir.DefaultValue("value", tuple(items))
    if isinstance(value, ArrayValue):
        _default_error(ctx, "The default value of a non-list field cannot be a list.", value.span)
        return None
    single = literal(value)
    return None if single is _INVALID else ir.DefaultValue("value", single)


def _dbgenerated_default(ctx: _Context, call: FunctionCall) -> ir.DefaultValue | None:
    """``dbgenerated("SQL")``: an expression the database evaluates; ``dbgenerated()`` says
    the database has a default the schema does not spell out."""
    args = call.arguments
    if not args:
        return ir.DefaultValue("dbgenerated")
    if len(args) > 1 or not isinstance(args[0].value, StringValue):
        _default_error(ctx, "`dbgenerated()` takes a single String argument", call.span)
        return None
    if not args[0].value.value:
        _default_error(
            ctx,
            "dbgenerated() takes either no argument, or a single nonempty string argument.",
            call.span,
        )
        return None
    return ir.DefaultValue("dbgenerated", args[0].value.value)


def _function_default(ctx: _Context, field_: _Field, call: FunctionCall) -> ir.DefaultValue | None:
    if call.name == "auto":  # MongoDB's ObjectId generator
        _default_error(
            ctx, "The current connector does not support the `auto()` function.", call.span
        )
        return None
    spec = _DEFAULT_FUNCTIONS.get(call.name)
    if spec is None:
        _default_error(
            ctx,
            f"Unknown function in @default(): `{call.name}` is not known. You can read about the "
            "available functions here: https://pris.ly/d/attribute-functions",
            call.span,
        )
        return None
    if field_.kind != "scalar" or field_.type_name not in spec.types:
        _default_error(
            ctx,
            f"The function `{call.name}()` cannot be used on fields of type `{field_.type_name}`.",
            call.span,
        )
        return None
    if spec.check_args is not None:
        arguments = spec.check_args(ctx, call)
    elif call.arguments:
        _default_error(
            ctx,
            f"The `{call.name}` function does not take any argument. Consider changing this "
            f"default to `{call.name}()`.",
            call.span,
        )
        arguments = None
    else:
        arguments = ()
    return None if arguments is None else ir.DefaultValue(spec.kind, arguments=arguments)


_INVALID = object()  # a literal that failed its check (None is a valid Python value elsewhere)

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _enum_literal(ctx: _Context, enum: _Enum, value: Expression) -> object:
    """An enum value's Prisma name, or `_INVALID` after reporting."""
    if not isinstance(value, Identifier):
        _default_error(ctx, f"Expected an enum value, but found `{_render(value)}`.", value.span)
        return _INVALID
    if value.name not in enum.value_db_names:
        _default_error(
            ctx,
            f"The defined default value `{value.name}` is not a valid value of the enum "
            "specified for the field.",
            value.span,
        )
        return _INVALID
    return value.name


def _scalar_literal(ctx: _Context, type_name: str, value: Expression) -> object:
    """A literal default as Python, or `_INVALID` after reporting."""

    def fail(message: str) -> object:
        _default_error(ctx, message, value.span)
        return _INVALID

    if isinstance(value, StringValue):
        text = value.value
        if type_name == "String":
            return text
        if type_name == "Json":
            try:
                json.loads(text)
            except ValueError as error:
                return fail(f'Parse error: "{text}" is not a valid JSON string. ({error})')
            return text
        if type_name == "DateTime":
            if not _RFC3339.fullmatch(text) or not _parses_as_datetime(text):
                return fail(f'Parse error: "{text}" is not a valid rfc3339 datetime string.')
            return text
        if type_name == "Bytes":
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as error:
                return fail(f'Parse error: "{text}" is not a valid base64 string. ({error})')
        if type_name == "Decimal":
            try:
                return decimal.Decimal(text)
            except decimal.InvalidOperation:
                return fail(f'Parse error: "{text}" is not a valid decimal.')
    elif isinstance(value, NumberValue):
        if type_name in ("Int", "BigInt"):
            number = _integer(value)
            if number is None or not -(2**63) <= number < 2**63:
                return fail(f'Parse error: "{value.text}" is not a valid integer.')
            return number
        if type_name == "Float":
            return float(value.text)
        if type_name == "Decimal":
            try:
                return decimal.Decimal(value.text)
            except decimal.InvalidOperation:  # an exponent beyond Decimal's range
                return fail(f'Parse error: "{value.text}" is not a valid decimal.')
    elif isinstance(value, Identifier) and type_name == "Boolean":
        if value.name not in ("true", "false"):
            return fail("A boolean literal must be `true` or `false`.")
        return value.name == "true"
    return fail(f"Expected a {type_name} value, but found `{_render(value)}`.")


def _parses_as_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


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


# --- database names ------------------------------------------------------------------------


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


# =============================================================================================
# 6. Relations
# =============================================================================================


def _check_relations(ctx: _Context) -> None:
    ctx.relations = _pair_relation_fields(ctx)
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            _check_relation_field(ctx, field_)
    _check_ambiguity(ctx)
    if ctx.ambiguous:
        return  # pairing guessed wrong for ambiguous fields: any further message would mislead
    for relation in ctx.relations:
        if relation.kind in ("one_to_one", "one_to_many"):
            _check_inline_relation(ctx, relation)
            if relation.kind == "one_to_one":
                _check_one_to_one(ctx, relation)
            else:
                _check_one_to_many(ctx, relation)
        elif relation.kind == "many_to_many":
            _check_implicit_many_to_many(ctx, relation)
        else:
            for field_ in relation.fields:
                ctx.error(
                    _validation_error(
                        f"Embedded many-to-many relations are not supported on "
                        f"{ctx.connector.provider}. Please use the syntax defined in "
                        "https://pris.ly/d/relational-database-many-to-many"
                    ),
                    field_.span,
                )


def _relation_name(field_: _Field) -> str:
    """The relation's name: given in ``@relation("...")``, or Prisma's default: the two model
    names, sorted, joined by ``To``."""
    if field_.relation.name:
        return field_.relation.name
    first, second = sorted((field_.model.name, field_.type_name))
    return f"{first}To{second}"


def _pair_relation_fields(ctx: _Context) -> list[_Relation]:
    """Group relation fields into relations, exactly as Prisma does.

    A field's opposite is the first relation field on the related model that points back to
    this model with the same ``@relation`` name (or, for both, none). Each relation is then
    recorded once, from the side Prisma records it from; the rules below mirror Prisma's
    `ingest_relation`, so that "forward" and "back" mean what they mean there.
    """
    by_pair: dict[tuple[str, str], list[_Field]] = defaultdict(list)
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            by_pair[(model.name, field_.type_name)].append(field_)

    def opposite_of(field_: _Field) -> _Field | None:
        for candidate in by_pair[(field_.type_name, field_.model.name)]:
            if candidate is not field_ and candidate.relation.name == field_.relation.name:
                return candidate
        return None

    relations: list[_Relation] = []
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            relation = _ingest_relation(field_, opposite_of(field_))
            if relation is not None:
                relations.append(relation)
    return relations


def _sorts_first(field_: _Field, other: _Field) -> bool:
    """Prisma's tie-break between two sides: by model name, then by field name."""
    return (field_.model.name, field_.name) <= (other.model.name, other.name)


def _ingest_relation(field_: _Field, opposite: _Field | None) -> _Relation | None:
    """The relation seen from ``field_``, or None when it is recorded from the other side."""
    if opposite is None:
        if field_.is_list:
            return _Relation("one_to_many", None, field_)  # the singular side is missing
        # Singular without an opposite: one-to-one if its fields are a unique constraint.
        fields = field_.relation.fields
        unique = fields is not None and any(
            i.kind == "unique" and [c.field for c in i.columns] == fields
            for i in field_.model.indexes
        )
        return _Relation("one_to_one" if unique else "one_to_many", field_, None)
    if field_.is_list and opposite.is_list:
        if not _sorts_first(field_, opposite):
            return None
        embedded = field_.relation.fields is not None or opposite.relation.fields is not None
        return _Relation("embedded_many_to_many" if embedded else "many_to_many", field_, opposite)
    if field_.is_list:
        return None  # one-to-many, recorded from the singular side
    if opposite.is_list:
        return _Relation("one_to_many", field_, opposite)
    # One-to-one. The forward side (holding the foreign key) is the required one; between two
    # optional sides the one with `fields`; otherwise the one that sorts first.
    if field_.required and opposite.optional:
        return _Relation("one_to_one", field_, opposite)
    if field_.optional and opposite.required:
        return None
    if field_.required:  # both required: invalid, reported later
        return _Relation("one_to_one", field_, opposite) if _sorts_first(field_, opposite) else None
    if field_.relation.fields is not None:
        return _Relation("one_to_one", field_, opposite)
    if opposite.relation.fields is None and _sorts_first(field_, opposite):
        return _Relation("one_to_one", field_, opposite)
    return None


def _check_ambiguity(ctx: _Context) -> None:
    """Relation fields on one model that point to the same model need distinct relation names
    (for a self-relation, the two sides share one)."""
    groups: dict[tuple[str, str, str], list[_Field]] = defaultdict(list)
    explicit: dict[tuple[str, str, str], bool] = {}
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            key = (model.name, field_.type_name, _relation_name(field_))
            groups[key].append(field_)
            explicit[key] = field_.relation.name is not None
    for key, fields in groups.items():
        model_name, target, _ = key
        self_relation = model_name == target
        count = len(fields)
        if count < 2 or (self_relation and count == 2 and explicit[key]):
            continue
        names = _join_names([f.name for f in fields])
        if self_relation and not explicit[key] and count == 2:
            message = (
                f"Ambiguous self relation detected. The fields {names} in model `{model_name}` "
                f"both refer to `{target}`. If they are part of the same relation add the same "
                "relation name for them with `@relation(<name>)`."
            )
        elif self_relation and not explicit[key]:
            message = (
                f"Unnamed self relation detected. The fields {names} in model `{model_name}` "
                "have no relation name. Please provide a relation name for one of them by adding "
                "`@relation(<name>)."
            )
        elif self_relation:
            message = (
                f"Wrongly named self relation detected. The fields {names} in model "
                f"`{model_name}` have the same relation name. At most two relation fields can "
                "belong to the same relation and therefore have the same name. Please assign a "
                "different relation name to one of them."
            )
        elif explicit[key]:
            message = (
                f"Wrongly named relation detected. The fields {names} in model `{model_name}` "
                "both use the same relation name. Please provide different relation names for "
                "them through `@relation(<name>)."
            )
        else:
            message = (
                f"Ambiguous relation detected. The fields {names} in model `{model_name}` both "
                f"refer to `{target}`. Please provide different relation names for them by "
                "adding `@relation(<name>)."
            )
        kind = fields[0].model.kind
        ctx.error(_model_error(kind, model_name, message), fields[0].span)
        ctx.ambiguous = True


def _join_names(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _check_relation_field(ctx: _Context, field_: _Field) -> None:
    """Rules about one relation field on its own: ignored targets, supported referential
    actions, named foreign keys, and the index advice of relationMode = "prisma"."""
    target = ctx.models[field_.type_name]
    model = field_.model
    if target.ignored and not field_.ignored and not model.ignored:
        ctx.error(
            _attribute_error(
                "@ignore",
                f"The relation field `{field_.name}` on Model `{model.name}` must specify the "
                f"`@ignore` attribute, because the model {target.name} it is pointing to is "
                "marked ignored.",
            ),
            field_.span,
        )
    rel = field_.relation
    allowed = _EMULATED_ACTIONS if ctx.relation_mode == "prisma" else tuple(ir.ReferentialAction)
    for setting in (rel.on_delete, rel.on_update):
        if setting is not None and setting[0] not in allowed:
            listed = ", ".join(f"`{a.value}`" for a in allowed)
            ctx.error(
                _validation_error(
                    f"Invalid referential action: `{setting[0].value}`. Allowed values: ({listed})"
                ),
                setting[1],
            )
    if rel.map is not None and rel.attribute is not None:
        if not ctx.connector.named_foreign_keys:
            ctx.error(
                _attribute_error("@relation", "Your provider does not support named foreign keys."),
                rel.attribute.span,
            )
        else:
            _check_map_length(ctx, model, rel.attribute, rel.map)
    if ctx.relation_mode == "prisma" and rel.fields:
        _check_relation_index(ctx, field_)


def _check_relation_index(ctx: _Context, field_: _Field) -> None:
    """With relationMode = "prisma" no foreign key creates an index; Prisma warns unless an
    index, unique constraint or primary key starts with the relation's fields."""
    fields = field_.relation.fields or []
    model = field_.model
    groups = [[c.field for c in i.columns] for i in model.indexes]
    if model.primary_key:
        groups.append([c.field for c in model.primary_key.columns])
    if any(group[: len(fields)] == fields for group in groups):
        return
    span = field_.relation.attribute.span if field_.relation.attribute else field_.span
    ctx.warning(
        'With `relationMode = "prisma"`, no foreign keys are used, so relation fields will not '
        "benefit from the index usually created by the relational database under the hood. This "
        "can lead to poor performance when querying these fields. We recommend adding an index "
        "manually. Learn more at https://pris.ly/d/relation-mode-prisma-indexes",
        span,
    )


def _missing_opposite(ctx: _Context, field_: _Field) -> None:
    model = field_.model
    ctx.error(
        _field_error(
            model.kind,
            model.name,
            field_.name,
            f"The relation field `{field_.name}` on {model.kind} `{model.name}` is missing an "
            f"opposite relation field on the model `{field_.type_name}`. Either run `prisma "
            "format` or add it manually.",
        ),
        field_.span,
    )


def _check_inline_relation(ctx: _Context, relation: _Relation) -> None:
    """Rules for the side holding the foreign key of a one-to-one or one-to-many relation."""
    forward = relation.forward
    if forward is None:
        return
    rel = forward.relation
    fields, references = rel.fields or [], rel.references or []
    if rel.fields is not None and rel.references is not None and len(fields) != len(references):
        ctx.error(
            _validation_error(
                "You must specify the same number of fields in `fields` and `references`."
            ),
            (rel.attribute or forward.node).span,
        )
    if forward.required and any(not f.required for f in fields):
        ctx.error(
            _validation_error(
                f"The relation field `{forward.name}` uses the scalar fields "
                f"{', '.join(f.name for f in fields)}. At least one of those fields is optional. "
                "Hence the relation field must be optional as well."
            ),
            forward.span,
        )
    if references:
        _check_references_unique(ctx, forward, references)
    for referencing, referenced in zip(fields, references, strict=False):
        if (referencing.kind, referencing.type_name, referencing.node.type.unsupported) != (
            referenced.kind,
            referenced.type_name,
            referenced.node.type.unsupported,
        ):
            ctx.error(
                _attribute_error(
                    "@relation",
                    f"The type of the field `{referencing.name}` in the model "
                    f"`{referencing.model.name}` is not matching the type of the referenced field "
                    f"`{referenced.name}` in model `{referenced.model.name}`.",
                ),
                forward.span,
            )
    _check_set_null_on_required(ctx, forward, fields)


def _check_references_unique(ctx: _Context, forward: _Field, references: list[_Field]) -> None:
    target = ctx.models[forward.type_name]
    wanted = sorted(f.name for f in references)
    if any(sorted(f.name for f in c) == wanted for c in target.unique_criteria()):
        return
    names = ", ".join(f.name for f in references)
    if len(references) == 1:
        advice = f"an `@unique` attribute to the field `{names}` in the model `{target.name}`"
    else:
        advice = f"an `@@unique([{names}])` attribute to the model `{target.name}`"
    ctx.error(
        _attribute_error(
            "@relation",
            "The argument `references` must refer to a unique criteria in the related model. "
            f"Consider adding {advice}.",
        ),
        forward.span,
    )


def _check_set_null_on_required(ctx: _Context, forward: _Field, fields: list[_Field]) -> None:
    """``SetNull`` cannot null a required column. PostgreSQL accepts the DDL and fails when
    the action fires, so there (with foreign keys) it is a warning."""
    if not any(f.required for f in fields):
        return
    rel = forward.relation
    warn = ctx.connector.set_null_on_required_is_warning and ctx.relation_mode == "foreignKeys"
    for key, setting in (("onDelete", rel.on_delete), ("onUpdate", rel.on_update)):
        if setting is None or setting[0] is not ir.ReferentialAction.SET_NULL:
            continue
        if warn:
            ctx.warning(
                f"The `{key}` referential action of a relation should not be set to `SetNull` "
                "when a referenced field is required. We recommend either to choose another "
                "referential action, or to make the referenced fields optional. Read more at "
                "https://pris.ly/d/postgres-set-null",
                forward.span,
            )
        else:
            ctx.error(
                _attribute_error(
                    "@relation",
                    f"The `{key}` referential action of a relation must not be set to `SetNull` "
                    "when a referenced field is required.\nEither choose another referential "
                    "action, or make the referenced fields optional.",
                ),
                forward.span,
            )


def _has_actions(field_: _Field) -> bool:
    return field_.relation.on_delete is not None or field_.relation.on_update is not None


def _relation_error(field_: _Field, message: str) -> tuple[str, Span]:
    return _attribute_error("@relation", message), field_.span


def _check_one_to_one(ctx: _Context, relation: _Relation) -> None:
    forward, back = relation.forward, relation.back
    if forward is None:
        return
    if back is None:
        _missing_opposite(ctx, forward)
        _check_one_to_one_fields_unique(ctx, forward)
        return
    f_rel, b_rel = forward.relation, back.relation
    on_forward = f"`{forward.name}` on Model `{forward.model.name}`"
    on_back = f"`{back.name}` on Model `{back.model.name}`"
    pair, reverse = f"{on_forward} and {on_back}", f"{on_back} and {on_forward}"
    for argument, f_value, b_value in (
        ("fields", f_rel.fields, b_rel.fields),
        ("references", f_rel.references, b_rel.references),
    ):
        if not f_value and not b_value:
            for field_, names in ((forward, pair), (back, reverse)):
                ctx.error(
                    *_relation_error(
                        field_,
                        f"The relation fields {names} do not provide the `{argument}` argument in "
                        "the @relation attribute. You have to provide it on one of the two fields.",
                    )
                )
        elif f_value and b_value:
            for field_ in (forward, back):
                ctx.error(
                    *_relation_error(
                        field_,
                        f"The relation fields {pair} both provide the `{argument}` argument in "
                        "the @relation attribute. You have to provide it only on one of the two "
                        "fields.",
                    )
                )
    if _has_actions(forward) and _has_actions(back):
        for field_, names in ((back, reverse), (forward, pair)):
            ctx.error(
                *_relation_error(
                    field_,
                    f"The relation fields {names} both provide the `onDelete` or `onUpdate` "
                    "argument in the @relation attribute. You have to provide it only on one of "
                    "the two fields.",
                )
            )
    elif _has_actions(back):
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` must not specify "
                "the `onDelete` or `onUpdate` argument in the @relation attribute. You must only "
                f"specify it on the opposite field `{forward.name}` on model "
                f"`{forward.model.name}`.",
            )
        )
    _check_one_to_one_fields_unique(ctx, forward)
    if ctx.has_errors():
        return  # Prisma reports these only when the relation is otherwise sound
    if f_rel.fields and b_rel.references:
        for field_ in (forward, back):
            ctx.error(
                *_relation_error(
                    field_,
                    f"The relation field `{forward.name}` on Model `{forward.model.name}` provides "
                    "the `fields` argument in the @relation attribute. And the related field "
                    f"`{back.name}` on Model `{back.model.name}` provides the `references` "
                    "argument. You must provide both arguments on the same side.",
                )
            )
    if f_rel.references and b_rel.fields:
        ctx.error(
            *_relation_error(
                forward,
                f"The relation field `{forward.name}` on Model `{forward.model.name}` provides "
                "the `references` argument in the @relation attribute. And the related field "
                f"`{back.name}` on Model `{back.model.name}` provides the `fields` argument. You "
                "must provide both arguments on the same side.",
            )
        )
    if back.required:
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` is required. This "
                "is not valid because it's not possible to enforce this constraint on the "
                f"database level. Please change the field type from `{forward.model.name}` to "
                f"`{forward.model.name}?` to fix this.",
            )
        )
    elif forward.required and (b_rel.fields is not None or b_rel.references is not None):
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.model.name}.{back.name}` defines the `fields` and/or "
                "`references` argument. You must set them on the required side of the relation "
                f"(`{forward.model.name}.{forward.name}`) in order for the constraints to be "
                "enforced. Alternatively, you can change this field to be required and the "
                "opposite optional, or make both sides of the relation optional.",
            )
        )


def _check_one_to_one_fields_unique(ctx: _Context, forward: _Field) -> None:
    """A one-to-one relation is enforced by a unique constraint on its foreign key."""
    fields = forward.relation.fields
    if not fields:
        return
    wanted = set(fields)
    if any(set(c) == wanted and len(c) == len(fields) for c in forward.model.unique_criteria()):
        return
    names = ", ".join(f.name for f in fields)
    if len(fields) == 1:
        advice = f"Either add an `@unique` attribute to the field `{names}`"
    else:
        advice = f"Either add an `@@unique([{names}])` attribute to the model"
    ctx.error(
        *_relation_error(
            forward,
            "A one-to-one relation must use unique fields on the defining side. "
            f"{advice}, or change the relation to one-to-many.",
        )
    )


def _check_one_to_many(ctx: _Context, relation: _Relation) -> None:
    forward, back = relation.forward, relation.back
    if forward is None or back is None:
        for present in relation.fields:
            _missing_opposite(ctx, present)
        return
    model = forward.model.name
    if not forward.relation.fields:
        ctx.error(
            *_relation_error(
                forward,
                f"The relation field `{forward.name}` on Model `{model}` must specify the "
                "`fields` argument in the @relation attribute. You can run `prisma format` to "
                "fix this automatically.",
            )
        )
    if not forward.relation.references:
        ctx.error(
            *_relation_error(
                forward,
                f"The relation field `{forward.name}` on Model `{model}` must specify the "
                "`references` argument in the @relation attribute.",
            )
        )
    opposite = f"You must only specify it on the opposite field `{forward.name}` on model `{model}`"
    if back.relation.fields or back.relation.references:
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` must not specify "
                f"the `fields` or `references` argument in the @relation attribute. {opposite}.",
            )
        )
    if _has_actions(back):
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` must not specify "
                f"the `onDelete` or `onUpdate` argument in the @relation attribute. {opposite}, "
                "or in case of a many to many relation, in an explicit join table.",
            )
        )


def _check_implicit_many_to_many(ctx: _Context, relation: _Relation) -> None:
    """Both sides lists, no ``fields``: Prisma keeps the pairs in a join table whose two
    columns reference each model's single-field id."""
    sides = relation.fields
    if any(f.model.is_view for f in sides):
        for field_ in sides:
            ctx.error(
                _validation_error("Implicit many-to-many relations are not supported for views."),
                field_.span,
            )
    for field_ in sides:
        target = ctx.models[field_.type_name]
        rel = field_.relation
        if target.primary_key is None or len(target.primary_key.columns) != 1:
            kind = field_.model.kind if field_.model.is_view else target.kind
            ctx.error(
                _field_error(
                    kind,
                    field_.model.name,
                    field_.name,
                    f"The relation field `{field_.name}` on {kind} `{field_.model.name}` "
                    f"references `{target.name}` which does not have an `@id` field. Models "
                    "without `@id` cannot be part of a many to many relation. Use an explicit "
                    "intermediate Model to represent this relationship.",
                ),
                field_.span,
            )
        for setting in (rel.on_delete, rel.on_update):
            if setting is not None:
                ctx.error(
                    _validation_error(
                        "Referential actions on implicit many-to-many relations are not supported"
                    ),
                    setting[1],
                )
        if rel.references is not None:
            ctx.error(
                *_relation_error(
                    field_,
                    "Implicit many-to-many relation should not have references argument defined. "
                    "Either remove it, or change the relation to one-to-many.",
                )
            )


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
        generators=tuple(ctx.generators),
        warnings=_warnings(ctx),
    )


def _warnings(ctx: _Context) -> tuple[str, ...]:
    rendered = [render(d) for d in ctx.diag.warnings]
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
        uniques=tuple(_build_index(i) for i in model.indexes if i.kind == "unique"),
        indexes=tuple(_build_index(i) for i in model.indexes if i.kind != "unique"),
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


def _build_index(index: _Index) -> ir.Index:
    kind = "fulltext" if index.kind == "fulltext" else None
    if index.algorithm is not None:
        kind = index.algorithm.lower()
    return ir.Index(
        columns=tuple(_build_column(c) for c in index.columns),
        unique=index.kind == "unique",
        db_name=index.db_name,
        name=index.name,
        kind=kind,
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
