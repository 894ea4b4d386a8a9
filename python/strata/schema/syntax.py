"""The syntax tree of a Prisma schema file: what the parser produces and the formatter prints.

This layer records what was written, not what it means: an attribute is a name and its
arguments, whatever the name. `strata.schema.validate` checks the tree and turns it into the
resolved IR (`strata.schema.ir`). Keeping the two apart is what lets `strata format` print
any parseable file, valid or not, and lets ``parse(format(tree)) == tree`` hold.

Positions (`Span`) and blank lines are excluded from equality, so two trees that differ
only in layout compare equal. Comments take part in it: they are what the user wrote, and
``strata format`` must give them back.

Comments live where the formatter needs them. ``documentation`` holds the ``///`` lines
directly above an item; ``comment`` the ``//`` comment at the end of the item's line;
``comments`` the other comments above it (free ``//`` lines, ``/* ... */`` blocks, and
``///`` lines that document nothing); ``end_comments`` those after a block's last item, or
after a file's last block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Argument",
    "ArrayValue",
    "Attribute",
    "Block",
    "Comment",
    "ConfigBlock",
    "ConfigProperty",
    "EnumBlock",
    "EnumValue",
    "Expression",
    "Field",
    "FieldType",
    "FunctionCall",
    "Identifier",
    "ModelBlock",
    "NumberValue",
    "SchemaFile",
    "Span",
    "StringValue",
]


_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class Span:
    """Where something is in its file: 1-based line and column, and the character offsets
    ``start`` (inclusive) and ``end`` (exclusive) into the text."""

    line: int
    column: int
    start: int
    end: int


NO_SPAN = Span(0, 0, 0, 0)
#: The span of a node built in code rather than parsed. Spans never take part in equality.


@dataclass(frozen=True)
class Comment:
    """A comment on lines of its own, kept so that formatting never deletes it.

    For a ``//`` line, ``text`` is what follows the slashes minus one leading space, the
    same convention as `Field.comment`; a ``///`` line that documents nothing (one
    separated from the next item by a blank line) keeps its third slash, as ``"/ text"``.
    For a ``/* ... */`` block (``block`` is True), ``text`` holds its lines with the
    leading ``*`` gutter and surrounding whitespace stripped and blank lines dropped,
    joined with newlines: the formatter prints the block in Prisma's ``/** * */`` shape.
    """

    text: str
    block: bool = False
    #: Whether a blank line separated the comment from what came before it. Layout only.
    blank_line_before: bool = field(default=False, compare=False, repr=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


# --- Expressions: the values attributes and config properties take -----------------------


@dataclass(frozen=True)
class StringValue:
    """A string literal, with escapes already decoded."""

    value: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class NumberValue:
    """A numeric literal, kept as written (``"1"``, ``"-2.5"``) so formatting preserves it."""

    text: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)

    @property
    def is_integer(self) -> bool:
        return _INTEGER.fullmatch(self.text) is not None


@dataclass(frozen=True)
class Identifier:
    """A bare or dotted name: ``Cascade``, ``true``, ``db.VarChar``, ``Role.ADMIN``."""

    name: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class ArrayValue:
    items: tuple[Expression, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class FunctionCall:
    """``now()``, ``env("DATABASE_URL")``, ``sort: Desc`` inside ``id(sort: Desc)``, ..."""

    name: str
    arguments: tuple[Argument, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


Expression = StringValue | NumberValue | Identifier | ArrayValue | FunctionCall


@dataclass(frozen=True)
class Argument:
    """A positional (``name is None``) or named argument."""

    name: str | None
    value: Expression
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Attribute:
    """``@id``, ``@default(now())``, ``@db.VarChar(255)``, ``@@index([a, b], map: "x")``.

    ``name`` excludes the ``@``/``@@`` prefix; ``block`` is True for ``@@`` attributes.
    ``arguments`` is None when the attribute was written without parentheses, and an empty
    tuple for ``@attr()``. The comment fields only apply to ``@@`` attributes, which stand on
    lines of their own.
    """

    name: str
    arguments: tuple[Argument, ...] | None
    block: bool = False
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    documentation: str | None = field(default=None, kw_only=True)
    comment: str | None = field(default=None, kw_only=True)
    comments: tuple[Comment, ...] = field(default=(), kw_only=True)
    blank_line_before: bool = field(default=False, compare=False, repr=False, kw_only=True)


# --- Fields and blocks ---------------------------------------------------------------------


@dataclass(frozen=True)
class FieldType:
    """``String``, ``Int?``, ``Post[]``, ``Unsupported("circle")``.

    ``unsupported`` holds the string inside ``Unsupported(...)``; ``name`` is then
    ``"Unsupported"``.
    """

    name: str
    optional: bool = False
    list: bool = False
    unsupported: str | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    attributes: tuple[Attribute, ...] = ()
    #: The ``///`` comment lines above the field, joined with newlines, without the slashes.
    documentation: str | None = None
    #: A trailing ``//`` comment on the same line, kept so ``strata format`` does not drop it.
    #: One leading space is dropped; a trailing ``///`` comment is kept as ``"/ text"``.
    comment: str | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    comments: tuple[Comment, ...] = field(default=(), kw_only=True)
    #: Whether a blank line separated the item (with its documentation) from what came
    #: before it. Layout only: the formatter keeps one blank line there.
    blank_line_before: bool = field(default=False, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class EnumValue:
    name: str
    attributes: tuple[Attribute, ...] = ()
    documentation: str | None = None
    comment: str | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    comments: tuple[Comment, ...] = field(default=(), kw_only=True)
    blank_line_before: bool = field(default=False, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class ModelBlock:
    """A ``model``, ``view`` or ``type`` (composite type) block; all three hold fields."""

    kind: Literal["model", "view", "type"]
    name: str
    fields: tuple[Field, ...]
    attributes: tuple[Attribute, ...] = ()
    documentation: str | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    comments: tuple[Comment, ...] = field(default=(), kw_only=True)
    blank_line_before: bool = field(default=False, compare=False, repr=False, kw_only=True)
    #: A comment after the opening ``{``.
    comment: str | None = field(default=None, kw_only=True)
    end_comments: tuple[Comment, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True)
class EnumBlock:
    name: str
    values: tuple[EnumValue, ...]
    attributes: tuple[Attribute, ...] = ()
    documentation: str | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    comments: tuple[Comment, ...] = field(default=(), kw_only=True)
    blank_line_before: bool = field(default=False, compare=False, repr=False, kw_only=True)
    #: A comment after the opening ``{``.
    comment: str | None = field(default=None, kw_only=True)
    end_comments: tuple[Comment, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True)
class ConfigProperty:
    """``provider = "sqlite"`` inside a datasource or generator."""

    name: str
    value: Expression
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    documentation: str | None = field(default=None, kw_only=True)
    comment: str | None = field(default=None, kw_only=True)
    comments: tuple[Comment, ...] = field(default=(), kw_only=True)
    blank_line_before: bool = field(default=False, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class ConfigBlock:
    """A ``datasource`` or ``generator`` block."""

    kind: Literal["datasource", "generator"]
    name: str
    properties: tuple[ConfigProperty, ...]
    documentation: str | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    comments: tuple[Comment, ...] = field(default=(), kw_only=True)
    blank_line_before: bool = field(default=False, compare=False, repr=False, kw_only=True)
    #: A comment after the opening ``{``.
    comment: str | None = field(default=None, kw_only=True)
    end_comments: tuple[Comment, ...] = field(default=(), kw_only=True)

    def get(self, name: str) -> Expression | None:
        for prop in self.properties:
            if prop.name == name:
                return prop.value
        return None


Block = ModelBlock | EnumBlock | ConfigBlock


@dataclass(frozen=True)
class SchemaFile:
    """A parsed file: its blocks in source order, plus the text and name for diagnostics."""

    blocks: tuple[Block, ...]
    path: str = field(default="schema.prisma", compare=False)
    text: str = field(default="", compare=False, repr=False)
    #: Comments after the last block.
    end_comments: tuple[Comment, ...] = field(default=(), kw_only=True)

    def models(self) -> list[ModelBlock]:
        return [b for b in self.blocks if isinstance(b, ModelBlock) and b.kind == "model"]

    def views(self) -> list[ModelBlock]:
        return [b for b in self.blocks if isinstance(b, ModelBlock) and b.kind == "view"]

    def composite_types(self) -> list[ModelBlock]:
        return [b for b in self.blocks if isinstance(b, ModelBlock) and b.kind == "type"]

    def enums(self) -> list[EnumBlock]:
        return [b for b in self.blocks if isinstance(b, EnumBlock)]

    def datasources(self) -> list[ConfigBlock]:
        return [b for b in self.blocks if isinstance(b, ConfigBlock) and b.kind == "datasource"]

    def generators(self) -> list[ConfigBlock]:
        return [b for b in self.blocks if isinstance(b, ConfigBlock) and b.kind == "generator"]
