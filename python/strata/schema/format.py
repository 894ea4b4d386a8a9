"""Print a syntax tree as canonical schema text, laid out the way ``prisma format`` does it.

The layout follows Prisma's formatter (prisma-engines, ``psl/schema-ast/src/reformat.rs``):

* two-space indentation, and one blank line between top-level blocks;
* inside a block, consecutive lines form a table whose columns are aligned: a field's name,
  type and attributes; an enum value and its attributes; a property's name and ``= value``.
  Only a blank line starts a new table: comment lines sit inside it without columns. The
  last column of a line is never padded, and a trailing comment follows it after one space;
* blank lines inside a block collapse to one, and vanish at its start and end;
* ``@@`` attributes come after the fields, after one blank line, each with the comments
  directly above it, and with no blank lines among them;
* a ``/* */`` comment is printed in Prisma's ``/** ... */`` shape, one `` * `` line per line.

Two differences are deliberate. Attributes keep their written order, where Prisma sorts them
(``@id``, ``@unique``, ``@default``, ...): sorting would make ``parse(format_schema(tree))``
differ from ``tree``. And columns are measured in characters, where Prisma counts UTF-8 bytes
and so misaligns non-ASCII names.

For every tree `parse` returns, ``parse(format_schema(tree)) == tree``. A tree built in code
round-trips too, with one exception that has no text form: inside a block, a ``///`` comment
(a `Comment` whose text starts with ``/``) as the last comment above an item that has no
documentation reads back as that item's documentation, as it does in Prisma.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from strata.schema.parser import parse
from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Attribute,
    Block,
    Comment,
    ConfigBlock,
    EnumBlock,
    Expression,
    FieldType,
    Identifier,
    NumberValue,
    SchemaFile,
    StringValue,
)

__all__ = ["format_schema", "format_text"]

_INDENT = "  "

# How a string literal writes the characters that cannot appear as themselves. The other
# control characters, DEL, and lone surrogates (which UTF-8 cannot encode) become \uXXXX.
_STRING_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def format_text(text: str, path: str = "schema.prisma") -> str:
    """Parse schema text and print it canonically. Raises `SchemaError` on a syntax error."""
    return format_schema(parse(text, path))


def format_schema(tree: SchemaFile) -> str:
    """The canonical text of a schema: see the module docstring for the layout.

    Lines end as the parsed text's first line does (``\r\n`` or ``\n``), as in Prisma.
    """
    out = _Lines()
    for block in tree.blocks:
        out.blank()
        _leading(out, block.comments, block.documentation, block.blank_line_before)
        _block(out, block)
    _end_comments(out, tree.end_comments)
    first_line_end = tree.text.find("\n")
    crlf = first_line_end > 0 and tree.text[first_line_end - 1] == "\r"
    return out.text("\r\n" if crlf else "\n")


# --- Output -----------------------------------------------------------------------------


class _Sink(Protocol):
    """Where comment lines and blank lines go: the top level, or a block's table."""

    def blank(self) -> None: ...

    def comment(self, line: str) -> None: ...


class _Lines:
    """Top-level lines. Blank lines collapse to one, and never lead the file."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pending_blank = False

    def blank(self) -> None:
        self.pending_blank = bool(self.lines)

    def add(self, line: str) -> None:
        if self.pending_blank:
            self.lines.append("")
            self.pending_blank = False
        self.lines.append(line)

    def comment(self, line: str) -> None:
        self.add(line)

    def text(self, newline: str) -> str:
        return "".join(line + newline for line in self.lines)


class _Table:
    """A block's body: groups of rows separated by one blank line. Within a group, the
    columns of every row line up; a row's suffix (a trailing comment, or the whole text of
    a comment line) follows its last column and takes no part in the alignment."""

    def __init__(self) -> None:
        self.groups: list[list[tuple[list[str], str | None]]] = [[]]

    def blank(self) -> None:
        # A blank line at the start of the body, or after another, prints nothing.
        if self.groups[-1]:
            self.groups.append([])

    def row(self, columns: list[str], suffix: str | None = None) -> None:
        while columns and not columns[-1]:
            columns.pop()
        self.groups[-1].append((columns, suffix))

    def comment(self, line: str) -> None:
        self.row([], line)

    def render(self, indent: str) -> list[str]:
        lines: list[str] = []
        for group in [g for g in self.groups if g]:
            if lines:
                lines.append("")
            widths: dict[int, int] = {}
            for columns, _ in group:
                for index, column in enumerate(columns):
                    widths[index] = max(widths.get(index, 0), len(column))
            for columns, suffix in group:
                padded = [column.ljust(widths[i]) for i, column in enumerate(columns[:-1])]
                text = " ".join([*padded, *columns[-1:]])
                if suffix is not None:
                    text = f"{text} {suffix}" if text else suffix
                lines.append(indent + text)
        return lines


# --- Comments -----------------------------------------------------------------------------


def _line_comment(text: str) -> str:
    """A `//` comment from its kept text (see `Comment`): the dropped space comes back,
    except before a `/`, so ``"/ x"`` prints as ``/// x`` and ``" / x"`` as ``// / x``."""
    if not text:
        return "//"
    if text.startswith(("/", " /")):
        return "//" + text
    return "// " + text


def _is_doc_style(comment: Comment) -> bool:
    return not comment.block and comment.text.startswith("/")


def _comment(sink: _Sink, comment: Comment) -> None:
    if not comment.block:
        sink.comment(_line_comment(comment.text))
        return
    sink.comment("/**")
    for line in comment.text.split("\n") if comment.text else ():
        sink.comment(f" * {line}")
    sink.comment(" */")


def _leading(
    sink: _Sink,
    comments: Sequence[Comment],
    documentation: str | None,
    blank_line_before: bool,
    *,
    keep_blank_lines: bool = True,
) -> None:
    """What goes above an item: its comments, then its documentation right above it."""
    separate = False
    for comment in comments:
        if separate or (keep_blank_lines and comment.blank_line_before):
            sink.blank()
        _comment(sink, comment)
        # A `///` line that documents nothing must not touch the run of comment lines right
        # above the item, or it would read back as the item's documentation.
        separate = _is_doc_style(comment)
    if separate or (keep_blank_lines and blank_line_before):
        sink.blank()
    if documentation is not None:
        for line in documentation.split("\n"):
            sink.comment(f"/// {line}" if line else "///")


def _end_comments(sink: _Sink, comments: Sequence[Comment]) -> None:
    for comment in comments:
        if comment.blank_line_before:
            sink.blank()
        _comment(sink, comment)


# --- Blocks -------------------------------------------------------------------------------


def _block(out: _Lines, block: Block) -> None:
    keyword = "enum" if isinstance(block, EnumBlock) else block.kind
    header = f"{keyword} {block.name} {{"
    if block.comment is not None:
        header += " " + _line_comment(block.comment)
    out.add(header)
    table = _Table()
    if isinstance(block, ConfigBlock):
        for prop in block.properties:
            _leading(table, prop.comments, prop.documentation, prop.blank_line_before)
            table.row([prop.name, "= " + _expression(prop.value)], _suffix(prop.comment))
    elif isinstance(block, EnumBlock):
        for value in block.values:
            _leading(table, value.comments, value.documentation, value.blank_line_before)
            table.row([value.name, _attributes(value.attributes)], _suffix(value.comment))
        _block_attributes(table, block.attributes)
    else:
        for item in block.fields:
            _leading(table, item.comments, item.documentation, item.blank_line_before)
            columns = [item.name, _field_type(item.type), _attributes(item.attributes)]
            table.row(columns, _suffix(item.comment))
        _block_attributes(table, block.attributes)
    _end_comments(table, block.end_comments)
    for line in table.render(_INDENT):
        out.add(line)
    out.add("}")


def _block_attributes(table: _Table, attributes: Sequence[Attribute]) -> None:
    """The `@@` attributes, after the fields and one blank line. Comments directly above an
    attribute go with it; like Prisma, no blank line is kept among the attributes."""
    for index, attribute in enumerate(attributes):
        comments = attribute.comments
        if index == 0:
            if attribute.blank_line_before and comments:
                # Comments a blank line away from the first attribute stay above that blank
                # line, with the fields, as Prisma leaves them.
                _leading(table, comments, None, False)
                comments = ()
            table.blank()
        _leading(table, comments, attribute.documentation, False, keep_blank_lines=False)
        table.row([_attribute(attribute)], _suffix(attribute.comment))


def _suffix(comment: str | None) -> str | None:
    return None if comment is None else _line_comment(comment)


# --- Types, attributes and expressions ----------------------------------------------------


def _field_type(field_type: FieldType) -> str:
    if field_type.unsupported is not None:
        text = f"Unsupported({_string(field_type.unsupported)})"
    else:
        text = field_type.name
    return text + ("[]" if field_type.list else "") + ("?" if field_type.optional else "")


def _attributes(attributes: Sequence[Attribute]) -> str:
    return " ".join(_attribute(attribute) for attribute in attributes)


def _attribute(attribute: Attribute) -> str:
    prefix = "@@" if attribute.block else "@"
    arguments = "" if attribute.arguments is None else _arguments(attribute.arguments)
    return prefix + attribute.name + arguments


def _arguments(arguments: Sequence[Argument]) -> str:
    parts = (
        _expression(arg.value) if arg.name is None else f"{arg.name}: {_expression(arg.value)}"
        for arg in arguments
    )
    return "(" + ", ".join(parts) + ")"


def _expression(value: Expression) -> str:
    if isinstance(value, StringValue):
        return _string(value.value)
    if isinstance(value, NumberValue):
        return value.text
    if isinstance(value, Identifier):
        return value.name
    if isinstance(value, ArrayValue):
        return "[" + ", ".join(_expression(item) for item in value.items) + "]"
    return value.name + _arguments(value.arguments)


def _string(value: str) -> str:
    """A string literal: JSON's escapes, so any string survives a round trip."""
    out = ['"']
    for char in value:
        if char in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[char])
        elif char < " " or char == "\x7f" or "\ud800" <= char <= "\udfff":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
