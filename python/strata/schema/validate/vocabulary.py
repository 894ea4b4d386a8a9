"""What Prisma knows about each provider, and the words its messages use.

The native types, index algorithms and operator classes of each database, referential actions,
reserved names, preview features and the prefixes of Prisma's error messages. It is plain data
and a few string helpers, kept apart so that every phase can import it and it imports none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from strata.schema import ir
from strata.schema.syntax import Attribute

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
OPERATOR_CLASSES = frozenset(
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
