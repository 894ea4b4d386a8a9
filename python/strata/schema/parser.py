"""A parser for the Prisma Schema Language, as Prisma 5 to 7 accept it.

The language is line-oriented: a field, an enum value or a config property ends at the end
of its line, except inside brackets and parentheses, where newlines are whitespace. So the
lexer emits NEWLINE tokens only at bracket depth zero, and the parser reads one line at a
time inside a block. When a line is malformed the parser records a diagnostic and resumes
at the next line, and after an unknown top-level item at the next top-level keyword: one
run reports every syntax error in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from strata.schema.diagnostics import Diagnostics
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
    Span,
    StringValue,
)

__all__ = ["parse", "parse_file"]

_Item = TypeVar("_Item")

TokenKind = Literal[
    "ident", "string", "number", "punct", "newline", "doc", "comment", "eof", "error"
]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    span: Span


# Identifiers may use any Unicode letter or digit (Prisma accepts `lööps`); `-` is allowed
# after the first character, as in generator names. Validation rejects a leading digit.
_IDENT = re.compile(r"[^\W][\w-]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_PUNCT = "{}()[],:=?@."
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Lexer:
    def __init__(self, text: str, diagnostics: Diagnostics) -> None:
        self.text = text
        self.diagnostics = diagnostics
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.depth = 0  # bracket/parenthesis nesting; newlines inside are whitespace

    def span(self, start: int, end: int | None = None) -> Span:
        return Span(self.line, start - self.line_start + 1, start, self.pos if end is None else end)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            start = self.pos
            if ch == "\n":
                if self.depth == 0:
                    out.append(Token("newline", "\n", self.span(start, start + 1)))
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif ch in " \t\r\ufeff":
                self.pos += 1
            elif text.startswith("///", start):
                end = self._line_end()
                out.append(Token("doc", text[start + 3 : end], self.span(start, end)))
                self.pos = end
            elif text.startswith("//", start):
                end = self._line_end()
                out.append(Token("comment", text[start + 2 : end], self.span(start, end)))
                self.pos = end
            elif text.startswith("/*", start):
                self._block_comment(out)
            elif ch == '"':
                out.append(self._string())
            elif ch.isdigit() or (
                ch == "-" and start + 1 < len(text) and text[start + 1].isdigit()
            ):
                match = _NUMBER.match(text, start)
                assert match is not None
                self.pos = match.end()
                out.append(Token("number", match.group(), self.span(start)))
            elif match := _IDENT.match(text, start):
                self.pos = match.end()
                out.append(Token("ident", match.group(), self.span(start)))
            elif ch in _PUNCT:
                if ch in "([":
                    self.depth += 1
                elif ch in ")]":
                    self.depth = max(0, self.depth - 1)
                elif ch in "{}":
                    # A brace always ends any bracket left open, so one missing `)` cannot
                    # swallow the rest of the file.
                    self.depth = 0
                self.pos += 1
                out.append(Token("punct", ch, self.span(start)))
            else:
                self.pos += 1
                out.append(Token("error", ch, self.span(start)))
        out.append(Token("newline", "\n", self.span(self.pos, self.pos)))
        out.append(Token("eof", "", self.span(self.pos, self.pos)))
        return out

    def _line_end(self) -> int:
        end = self.text.find("\n", self.pos)
        return len(self.text) if end < 0 else end

    def _block_comment(self, out: list[Token]) -> None:
        start = self.pos
        end = self.text.find("*/", start + 2)
        if end < 0:
            self.diagnostics.error(
                "This block comment is never closed with */.", self.span(start, start + 2)
            )
            end = len(self.text)
        else:
            end += 2
        newlines = self.text.count("\n", start, end)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", start, end) + 1
            if self.depth == 0:
                out.append(Token("newline", "\n", Span(self.line, 1, end, end)))
        self.pos = end

    def _string(self) -> Token:
        text = self.text
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while True:
            if self.pos >= len(text) or text[self.pos] == "\n":
                self.diagnostics.error(
                    "This string is never closed with a quote.", self.span(start)
                )
                break
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                break
            if ch == "\\" and self.pos + 1 < len(text):
                escape = text[self.pos + 1]
                if escape == "u" and re.fullmatch(
                    r"[0-9a-fA-F]{4}", text[self.pos + 2 : self.pos + 6]
                ):
                    chars.append(chr(int(text[self.pos + 2 : self.pos + 6], 16)))
                    self.pos += 6
                    continue
                if escape in _ESCAPES:
                    chars.append(_ESCAPES[escape])
                    self.pos += 2
                    continue
                self.diagnostics.error(
                    f"Unknown escape sequence \\{escape} in a string.",
                    self.span(self.pos, self.pos + 2),
                )
                self.pos += 2
                continue
            chars.append(ch)
            self.pos += 1
        return Token("string", "".join(chars), self.span(start))


class _SyntaxProblem(Exception):
    """Raised inside a line's parse; the caller records it and skips to the next line."""

    def __init__(self, message: str, span: Span) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


_TOP_LEVEL = ("model", "view", "type", "enum", "datasource", "generator")


class _Parser:
    def __init__(self, tokens: list[Token], diagnostics: Diagnostics) -> None:
        self.tokens = tokens
        self.index = 0
        self.diagnostics = diagnostics

    # -- token helpers ----------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def at(self, kind: TokenKind, text: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (text is None or token.text == text)

    def accept(self, kind: TokenKind, text: str | None = None) -> Token | None:
        return self.advance() if self.at(kind, text) else None

    def expect(self, kind: TokenKind, text: str | None, what: str) -> Token:
        token = self.accept(kind, text)
        if token is None:
            raise _SyntaxProblem(
                f"Expected {what}, found {self.describe(self.current)}.", self.current.span
            )
        return token

    @staticmethod
    def describe(token: Token) -> str:
        if token.kind == "newline":
            return "the end of the line"
        if token.kind == "eof":
            return "the end of the file"
        if token.kind == "string":
            return f'"{token.text}"'
        return f"`{token.text}`"

    def skip_line(self) -> None:
        """Skip to just after the next NEWLINE (or to a closing brace, left in place)."""
        while not self.at("eof") and not self.at("newline") and not self.at("punct", "}"):
            self.advance()
        self.accept("newline")

    def skip_blank_and_comments(self) -> None:
        while self.at("newline") or self.at("comment"):
            self.advance()

    def take_docs(self) -> str | None:
        """Doc comments (and plain comments between them) before the next item."""
        docs: list[str] = []
        while self.at("newline") or self.at("comment") or self.at("doc"):
            token = self.advance()
            if token.kind == "doc":
                docs.append(token.text.removeprefix(" "))
        return "\n".join(docs) if docs else None

    def trailing_comment(self) -> str | None:
        """A comment at the end of an item's line. A trailing `///` is kept as a comment
        whose text starts with `/`, so formatting writes it back unchanged."""
        token = self.accept("comment") or self.accept("doc")
        if token is None:
            return None
        return ("/" + token.text if token.kind == "doc" else token.text).removeprefix(" ")

    def end_of_line(self, what: str) -> None:
        if self.at("punct", "}"):
            return
        if not self.at("newline") and not self.at("eof"):
            raise _SyntaxProblem(
                f"Unexpected {self.describe(self.current)} after {what}; "
                "each item goes on its own line.",
                self.current.span,
            )
        self.accept("newline")

    # -- top level --------------------------------------------------------------------------

    def schema(self) -> list[Block]:
        blocks: list[Block] = []
        while True:
            documentation = self.take_docs()
            if self.at("eof"):
                return blocks
            token = self.current
            if token.kind == "ident" and token.text in _TOP_LEVEL:
                block = self.block(documentation)
                if block is not None:
                    blocks.append(block)
            else:
                self.diagnostics.error(
                    "This line is invalid. It does not start with any known Prisma schema "
                    "keyword (model, enum, view, type, datasource, generator).",
                    token.span,
                )
                self.recover_top_level()

    def recover_top_level(self) -> None:
        """Skip to the next line that starts with a top-level keyword."""
        while not self.at("eof"):
            token = self.advance()
            if token.kind == "newline":
                nxt = self.current
                if nxt.kind == "ident" and nxt.text in _TOP_LEVEL and nxt.span.column == 1:
                    return

    def block(self, documentation: str | None) -> Block | None:
        keyword = self.advance()
        name = self.accept("ident")
        if name is None:
            self.diagnostics.error(
                f"A {keyword.text} block needs a name: `{keyword.text} Name {{`.", self.current.span
            )
            self.recover_top_level()
            return None
        if keyword.text == "type" and self.at("punct", "="):
            self.diagnostics.error(
                "Type aliases (`type Name = ...`) are not supported; Prisma removed them.",
                keyword.span,
            )
            self.recover_top_level()
            return None
        if not self.accept("punct", "{"):
            self.diagnostics.error(
                f"Expected `{{` to open the {keyword.text} `{name.text}`, found "
                f"{self.describe(self.current)}.",
                self.current.span,
            )
            self.recover_top_level()
            return None
        self.trailing_comment()
        self.accept("newline")
        start = keyword.span
        if keyword.text in ("datasource", "generator"):
            kind_cfg: Literal["datasource", "generator"] = (
                "datasource" if keyword.text == "datasource" else "generator"
            )
            properties = self.block_body(self.config_property, keyword.text, name.text)
            return ConfigBlock(
                kind_cfg, name.text, tuple(properties), documentation, self.span_from(start)
            )
        if keyword.text == "enum":
            values: list[EnumValue] = []
            attributes: list[Attribute] = []
            for line in self.block_body(self.enum_line, "enum", name.text):
                if isinstance(line, Attribute):
                    attributes.append(line)
                else:
                    values.append(line)
            return EnumBlock(
                name.text, tuple(values), tuple(attributes), documentation, self.span_from(start)
            )
        kind: Literal["model", "view", "type"] = (
            "model" if keyword.text == "model" else "view" if keyword.text == "view" else "type"
        )
        fields: list[Field] = []
        block_attributes: list[Attribute] = []
        for item in self.block_body(self.model_line, keyword.text, name.text):
            if isinstance(item, Attribute):
                block_attributes.append(item)
            else:
                fields.append(item)
        return ModelBlock(
            kind,
            name.text,
            tuple(fields),
            tuple(block_attributes),
            documentation,
            self.span_from(start),
        )

    def span_from(self, start: Span) -> Span:
        end = self.tokens[self.index - 1].span.end if self.index else start.end
        return Span(start.line, start.column, start.start, end)

    def block_body(
        self, parse_line: Callable[[str | None], _Item], kind: str, name: str
    ) -> list[_Item]:
        items: list[_Item] = []
        while True:
            documentation = self.take_docs()
            if self.accept("punct", "}"):
                self.trailing_comment()
                if not (self.at("newline") or self.at("eof")):
                    self.diagnostics.error(
                        f"Unexpected {self.describe(self.current)} after the closing `}}`.",
                        self.current.span,
                    )
                    self.skip_line()
                return items
            if self.at("eof") or (
                self.current.kind == "ident"
                and self.current.text in _TOP_LEVEL
                and self.current.span.column == 1
                and self.tokens[self.index + 1].kind == "ident"
            ):
                self.diagnostics.error(
                    f"The {kind} `{name}` is never closed: a `}}` is missing.",
                    self.current.span,
                )
                return items
            try:
                items.append(parse_line(documentation))
            except _SyntaxProblem as problem:
                self.diagnostics.error(problem.message, problem.span)
                self.skip_line()

    # -- lines inside blocks ----------------------------------------------------------------

    def config_property(self, documentation: str | None) -> ConfigProperty:
        name = self.expect("ident", None, "a property name")
        if not self.accept("punct", "="):
            raise _SyntaxProblem(
                f"Expected `=` after `{name.text}`: properties are written `{name.text} = value`.",
                self.current.span,
            )
        if self.at("newline") or self.at("punct", "}"):
            raise _SyntaxProblem(f"The property `{name.text}` has no value.", self.current.span)
        value = self.expression()
        self.trailing_comment()
        self.end_of_line("a property")
        return ConfigProperty(
            name.text,
            value,
            Span(name.span.line, name.span.column, name.span.start, value.span.end),
        )

    def enum_line(self, documentation: str | None) -> EnumValue | Attribute:
        if self.at("punct", "@"):
            attribute = self.attribute()
            if not attribute.block:
                raise _SyntaxProblem("Enum-level attributes start with `@@`.", attribute.span)
            self.trailing_comment()
            self.end_of_line("an attribute")
            return attribute
        name = self.expect("ident", None, "an enum value")
        attributes = self.field_attributes()
        comment = self.trailing_comment()
        self.end_of_line("an enum value")
        return EnumValue(name.text, tuple(attributes), documentation, comment, name.span)

    def model_line(self, documentation: str | None) -> Field | Attribute:
        if self.at("punct", "@"):
            attribute = self.attribute()
            if not attribute.block:
                raise _SyntaxProblem(
                    "Field attributes must follow a field; model-level attributes start with `@@`.",
                    attribute.span,
                )
            self.trailing_comment()
            self.end_of_line("an attribute")
            return attribute
        name = self.expect("ident", None, "a field name")
        if self.current.kind in ("newline", "comment", "doc") or self.at("punct", "}"):
            raise _SyntaxProblem(
                f"The field `{name.text}` has no type: write it as `{name.text} Type`.",
                name.span,
            )
        if self.at("punct", ":") or self.at("punct", "="):
            raise _SyntaxProblem(
                f"Unexpected `{self.current.text}`: a field is written `{name.text} Type`, without "
                "a colon or equals sign.",
                self.current.span,
            )
        field_type = self.field_type()
        attributes = self.field_attributes()
        comment = self.trailing_comment()
        self.end_of_line("a field")
        span = Span(
            name.span.line, name.span.column, name.span.start, self.tokens[self.index - 1].span.end
        )
        return Field(name.text, field_type, tuple(attributes), documentation, comment, span)

    def field_type(self) -> FieldType:
        name = self.expect("ident", None, "a type")
        unsupported = None
        if name.text == "Unsupported" and self.accept("punct", "("):
            literal = self.expect("string", None, 'a string, as in Unsupported("circle")')
            self.expect("punct", ")", "`)`")
            unsupported = literal.text
        optional = list_ = False
        if self.accept("punct", "["):
            self.expect("punct", "]", "`]` to close the list type")
            list_ = True
        if self.at("punct", "?"):
            question = self.advance()
            if list_:
                raise _SyntaxProblem(
                    "Optional lists are not supported: a list field is written `Type[]`, "
                    "never `Type[]?`.",
                    question.span,
                )
            optional = True
            if self.at("punct", "["):
                raise _SyntaxProblem(
                    "Optional lists are not supported: write `Type[]` instead of `Type?[]`.",
                    self.current.span,
                )
        end = self.tokens[self.index - 1].span.end
        span = Span(name.span.line, name.span.column, name.span.start, end)
        return FieldType(name.text, optional, list_, unsupported, span)

    def field_attributes(self) -> list[Attribute]:
        attributes = []
        while self.at("punct", "@"):
            attribute = self.attribute()
            if attribute.block:
                raise _SyntaxProblem(
                    "Model-level attributes (`@@`) go on their own line, not after a field.",
                    attribute.span,
                )
            attributes.append(attribute)
        line_ends = ("newline", "comment", "doc", "eof")
        if not (self.current.kind in line_ends or self.at("punct", "}")):
            raise _SyntaxProblem(
                f"Unexpected {self.describe(self.current)}: attributes start with `@`.",
                self.current.span,
            )
        return attributes

    def attribute(self) -> Attribute:
        at = self.advance()
        block = self.accept("punct", "@") is not None
        first = self.accept("ident")
        if first is None:
            raise _SyntaxProblem("Expected an attribute name after `@`.", self.current.span)
        name = first.text
        while self.at("punct", ".") and self.tokens[self.index + 1].kind == "ident":
            self.advance()
            name += "." + self.advance().text
        arguments = self.arguments() if self.at("punct", "(") else None
        end = self.tokens[self.index - 1].span.end
        return Attribute(
            name, arguments, block, Span(at.span.line, at.span.column, at.span.start, end)
        )

    def arguments(self) -> tuple[Argument, ...]:
        opening = self.expect("punct", "(", "`(`")
        arguments: list[Argument] = []
        while not self.accept("punct", ")"):
            if self.at("newline") or self.at("eof") or self.at("punct", "}"):
                raise _SyntaxProblem("This `(` is never closed with `)`.", opening.span)
            start = self.current.span
            name = None
            if (
                self.current.kind == "ident"
                and self.tokens[self.index + 1].text == ":"
                and self.tokens[self.index + 1].kind == "punct"
            ):
                name = self.advance().text
                self.advance()
                if self.at("punct", ",") or self.at("punct", ")"):
                    raise _SyntaxProblem(f"The argument `{name}` has no value.", self.current.span)
            value = self.expression()
            arguments.append(
                Argument(name, value, Span(start.line, start.column, start.start, value.span.end))
            )
            if not self.accept("punct", ",") and not self.at("punct", ")"):
                if self.current.span.line != opening.span.line:
                    # Newlines inside parentheses are whitespace, so a missing `)` shows up
                    # as an unexpected token on a later line.
                    raise _SyntaxProblem("This `(` is never closed with `)`.", opening.span)
                raise _SyntaxProblem(
                    f"Expected `,` or `)` in the argument list, found "
                    f"{self.describe(self.current)}.",
                    self.current.span,
                )
        return tuple(arguments)

    def expression(self) -> Expression:
        token = self.current
        if token.kind == "string":
            self.advance()
            return StringValue(token.text, token.span)
        if token.kind == "number":
            self.advance()
            return NumberValue(token.text, token.span)
        if self.at("punct", "["):
            self.advance()
            items: list[Expression] = []
            while not self.accept("punct", "]"):
                if self.at("eof") or self.at("punct", "}") or self.at("newline"):
                    raise _SyntaxProblem("Expected `]` to close the list.", self.current.span)
                items.append(self.expression())
                if not self.accept("punct", ",") and not self.at("punct", "]"):
                    found = self.describe(self.current)
                    raise _SyntaxProblem(
                        f"Expected `,` or `]` in the list, found {found}.", self.current.span
                    )
            end = self.tokens[self.index - 1].span.end
            return ArrayValue(
                tuple(items), Span(token.span.line, token.span.column, token.span.start, end)
            )
        if token.kind == "ident":
            self.advance()
            name = token.text
            while self.at("punct", ".") and self.tokens[self.index + 1].kind == "ident":
                self.advance()
                name += "." + self.advance().text
            if self.at("punct", "("):
                arguments = self.arguments()
                end = self.tokens[self.index - 1].span.end
                return FunctionCall(
                    name, arguments, Span(token.span.line, token.span.column, token.span.start, end)
                )
            end = self.tokens[self.index - 1].span.end
            return Identifier(name, Span(token.span.line, token.span.column, token.span.start, end))
        raise _SyntaxProblem(f"Expected a value, found {self.describe(token)}.", token.span)


def parse(text: str, path: str = "schema.prisma") -> SchemaFile:
    """Parse schema text into a syntax tree. Raises `SchemaError` listing every syntax error."""
    diagnostics = Diagnostics(path, text)
    tokens = _Lexer(text, diagnostics).tokens()
    for token in tokens:
        if token.kind == "error":
            diagnostics.error(f"Unexpected character `{token.text}`.", token.span)
    parser = _Parser([t for t in tokens if t.kind != "error"], diagnostics)
    blocks = parser.schema()
    diagnostics.raise_if_errors()
    return SchemaFile(tuple(blocks), path, text)


def parse_file(path: str | Path) -> SchemaFile:
    file = Path(path)
    return parse(file.read_text(encoding="utf-8"), str(file))
