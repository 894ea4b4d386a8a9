"""A parser for the Prisma Schema Language, as Prisma 5 to 7 accept it.

The language is line-oriented: a field, an enum value or a config property ends at the end
of its line, except inside brackets and parentheses, where newlines are whitespace. So the
lexer (`strata.schema.lexer`) emits NEWLINE tokens only at bracket depth zero, and the
parser reads one line at a time inside a block. When a line is malformed the parser records
a diagnostic and resumes at the next line, and after an unknown top-level item at the next
top-level keyword: one run reports every syntax error in the file.

Every comment ends up in the tree, so that `strata format` never deletes one. Comment lines
above an item become its ``documentation`` (the ``///`` lines of the comment run directly
above it, as Prisma reads them) and its ``comments`` (everything else). A ``/* */`` or
``//`` comment that shares its line with code, or sits inside brackets, cannot keep its
place in a line-oriented layout, so its text joins the trailing comment of the item it
belongs to.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar

from strata.errors import ConfigurationError, SchemaError
from strata.schema.diagnostics import Diagnostics
from strata.schema.lexer import InlineComment, Lexer, Token, TokenKind, report_stray_characters
from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Attribute,
    Block,
    Comment,
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

__all__ = ["MAX_NESTING", "parse", "parse_file", "read_schema_text"]

_Item = TypeVar("_Item")


def _comment_text(token: Token) -> str:
    """The text kept for a `//` or `///` comment token; see `Comment` for the convention.

    One leading space is dropped, except where the text would then start with `/` and read
    back as a `///` comment: ``// / x`` keeps ``" / x"``, ``/// x`` gives ``"/ x"``.
    """
    if token.kind == "doc":
        return "/" + token.text
    text = token.text.removeprefix(" ")
    return token.text if text.startswith("/") else text


@dataclass(frozen=True)
class _CommentLine:
    """A comment on a line of its own, between two items."""

    token: Token
    #: Whether a blank line separates it from the line above.
    blank_before: bool

    def comment(self, blank_line_before: bool) -> Comment:
        token = self.token
        if token.kind == "block_comment":
            return Comment(token.text, True, blank_line_before, token.span)
        return Comment(_comment_text(token), False, blank_line_before, token.span)


@dataclass(frozen=True)
class _Leading:
    """What the lines above an item say about it."""

    comments: tuple[Comment, ...] = ()
    documentation: str | None = None
    blank_line_before: bool = False


class _SyntaxProblem(Exception):
    """Raised inside a line's parse; the caller records it and skips to the next line."""

    def __init__(self, message: str, span: Span) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


_TOP_LEVEL = ("model", "view", "type", "enum", "datasource", "generator")

#: How deeply lists and argument lists may nest in one value. Values are read (and later
#: validated, formatted and compared) recursively, so a deeper value is a syntax error
#: rather than a RecursionError. Real schemas nest two or three levels:
#: ``@@index([title(ops: raw("gin_trgm_ops"))])``.
MAX_NESTING = 64


class _Parser:
    def __init__(
        self, tokens: list[Token], diagnostics: Diagnostics, inline: list[InlineComment]
    ) -> None:
        self.tokens = tokens
        self.index = 0
        self.diagnostics = diagnostics
        self.inline = inline  # in source order; `taken_inline` of them are attached
        self.taken_inline = 0
        self.nesting = 0  # how many lists and argument lists the current value is inside

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
        token = self.tokens[self.index]  # not self.current: this is the parser's hottest call
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

    # -- comments -----------------------------------------------------------------------------

    def gap(self) -> tuple[list[_CommentLine], bool]:
        """Consume the blank and comment lines before the next item (or closing brace).

        Returns the comment lines and whether a blank line follows the last of them. The
        previous item has consumed its own newline, so a newline seen here that does not end
        a comment line is a blank line.
        """
        lines: list[_CommentLine] = []
        blank = False
        in_comment_line = False
        while True:
            token = self.current
            if token.kind == "newline":
                blank = blank or not in_comment_line
                in_comment_line = False
            elif token.kind in ("comment", "doc", "block_comment"):
                lines.append(_CommentLine(token, blank))
                blank = False
                in_comment_line = True
            else:
                return lines, blank
            self.advance()

    @staticmethod
    def leading(lines: list[_CommentLine], blank_after: bool, *, top_level: bool) -> _Leading:
        """Sort the comment lines above an item into its documentation and other comments.

        Like Prisma, the item's documentation is the `///` lines of the last run of comment
        lines (runs are separated by blank lines) above it; at the top level only when no
        blank line separates that run from the block. Every other line is a `Comment`.
        """
        runs: list[list[_CommentLine]] = []
        for line in lines:
            if line.blank_before or not runs:
                runs.append([line])
            else:
                runs[-1].append(line)
        last = runs.pop() if runs and not (top_level and blank_after) else []
        comments = [line.comment(line.blank_before) for run in runs for line in run]
        docs = [line.token.text.removeprefix(" ") for line in last if line.token.kind == "doc"]
        others = [line for line in last if line.token.kind != "doc"]
        if not docs:
            comments += [line.comment(line.blank_before) for line in others]
            return _Leading(tuple(comments), None, blank_after)
        # The formatter prints the run's plain comments first and the documentation right
        # above the item, so the blank line that opened the run goes to its first line.
        run_blank = last[0].blank_before
        comments += [line.comment(run_blank and i == 0) for i, line in enumerate(others)]
        return _Leading(tuple(comments), "\n".join(docs), run_blank and not others)

    def trailing_comment(self) -> str | None:
        """A comment at the end of an item's line. A trailing `///` is kept as a comment
        whose text starts with `/`, so formatting writes it back unchanged."""
        token = self.accept("comment") or self.accept("doc")
        return None if token is None else _comment_text(token)

    def take_inline(self, limit: int | None = None) -> list[str]:
        """The inline comments before ``limit`` (by default, the end of the last consumed
        token) that no item has taken yet."""
        if limit is None:
            limit = self.tokens[self.index - 1].span.end if self.index else 0
        texts = []
        while (
            self.taken_inline < len(self.inline)
            and self.inline[self.taken_inline].span.start < limit
        ):
            texts.append(self.inline[self.taken_inline].text)
            self.taken_inline += 1
        return texts

    def line_comment(self, trailing: str | None) -> str | None:
        """An item's trailing comment, once its line is consumed: the inline comments on its
        lines (and above it) come first, so their text survives formatting."""
        texts = self.take_inline()
        if not texts:
            return trailing
        merged = " ".join([*texts, trailing] if trailing else texts)
        # Text starting with `/` would be printed as a `///` comment.
        return " " + merged if merged.startswith("/") else merged

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

    def schema(self) -> tuple[list[Block], tuple[Comment, ...]]:
        """The blocks, and the comments after the last one."""
        blocks: list[Block] = []
        while True:
            lines, blank_after = self.gap()
            if self.at("eof"):
                end = [line.comment(line.blank_before) for line in lines]
                end += [Comment(text) for text in self.take_inline(self.tokens[-1].span.end + 1)]
                return blocks, tuple(end)
            token = self.current
            if token.kind == "ident" and token.text in _TOP_LEVEL:
                block = self.block(self.leading(lines, blank_after, top_level=True))
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

    def block(self, leading: _Leading) -> Block | None:
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
        opening = self.accept("punct", "{")
        if opening is None:
            self.diagnostics.error(
                f"Expected `{{` to open the {keyword.text} `{name.text}`, found "
                f"{self.describe(self.current)}.",
                self.current.span,
            )
            self.recover_top_level()
            return None
        trailing = self.trailing_comment()
        self.accept("newline")
        comment = self.line_comment(trailing)
        start = keyword.span
        documentation = leading.documentation
        if keyword.text in ("datasource", "generator"):
            kind_cfg: Literal["datasource", "generator"] = (
                "datasource" if keyword.text == "datasource" else "generator"
            )
            properties, end = self.block_body(
                self.config_property, keyword.text, name.text, opening
            )
            return ConfigBlock(
                kind_cfg,
                name.text,
                tuple(properties),
                documentation,
                self.span_from(start),
                comments=leading.comments,
                blank_line_before=leading.blank_line_before,
                comment=comment,
                end_comments=end,
            )
        if keyword.text == "enum":
            values: list[EnumValue] = []
            attributes: list[Attribute] = []
            lines, end = self.block_body(self.enum_line, "enum", name.text, opening)
            for line in lines:
                if isinstance(line, Attribute):
                    attributes.append(line)
                else:
                    values.append(line)
            return EnumBlock(
                name.text,
                tuple(values),
                tuple(attributes),
                documentation,
                self.span_from(start),
                comments=leading.comments,
                blank_line_before=leading.blank_line_before,
                comment=comment,
                end_comments=end,
            )
        kind: Literal["model", "view", "type"] = (
            "model" if keyword.text == "model" else "view" if keyword.text == "view" else "type"
        )
        fields: list[Field] = []
        block_attributes: list[Attribute] = []
        items, end = self.block_body(self.model_line, keyword.text, name.text, opening)
        for item in items:
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
            comments=leading.comments,
            blank_line_before=leading.blank_line_before,
            comment=comment,
            end_comments=end,
        )

    def span_from(self, start: Span) -> Span:
        end = self.tokens[self.index - 1].span.end if self.index else start.end
        return Span(start.line, start.column, start.start, end)

    def block_body(
        self, parse_line: Callable[[_Leading], _Item], kind: str, name: str, opening: Token
    ) -> tuple[list[_Item], tuple[Comment, ...]]:
        """The block's items, and the comments after the last one (the closing line's
        comments included: the formatter prints them above the `}`)."""
        items: list[_Item] = []
        while True:
            lines, blank_after = self.gap()
            end = [line.comment(line.blank_before) for line in lines]
            if self.accept("punct", "}"):
                trailing = self.trailing_comment()
                if not (self.at("newline") or self.at("eof")):
                    self.diagnostics.error(
                        f"Unexpected {self.describe(self.current)} after the closing `}}`.",
                        self.current.span,
                    )
                    self.skip_line()
                else:
                    self.accept("newline")
                end += [Comment(text) for text in self.take_inline()]
                if trailing is not None:
                    end.append(Comment(trailing))
                return items, tuple(end)
            if self.at("eof"):
                # The end of the file has no line to show, so point at the opening brace.
                self.diagnostics.error(
                    f"The {kind} `{name}` is never closed: a `}}` is missing at the end of "
                    "the file.",
                    opening.span,
                )
                return items, tuple(end)
            if (
                self.current.kind == "ident"
                and self.current.text in _TOP_LEVEL
                and self.current.span.column == 1
                and self.tokens[self.index + 1].kind == "ident"
            ):
                self.diagnostics.error(
                    f"The {kind} `{name}` (line {opening.span.line}) is never closed: a `}}` "
                    f"is missing before this {self.current.text}.",
                    self.current.span,
                )
                return items, tuple(end)
            try:
                items.append(parse_line(self.leading(lines, blank_after, top_level=False)))
            except _SyntaxProblem as problem:
                self.diagnostics.error(problem.message, problem.span)
                self.skip_line()

    # -- lines inside blocks ----------------------------------------------------------------

    def config_property(self, leading: _Leading) -> ConfigProperty:
        name = self.expect("ident", None, "a property name")
        if not self.accept("punct", "="):
            raise _SyntaxProblem(
                f"Expected `=` after `{name.text}`: properties are written `{name.text} = value`.",
                self.current.span,
            )
        if self.at("newline") or self.at("punct", "}"):
            raise _SyntaxProblem(f"The property `{name.text}` has no value.", self.current.span)
        value = self.expression()
        trailing = self.trailing_comment()
        self.end_of_line("a property")
        return ConfigProperty(
            name.text,
            value,
            Span(name.span.line, name.span.column, name.span.start, value.span.end),
            documentation=leading.documentation,
            comment=self.line_comment(trailing),
            comments=leading.comments,
            blank_line_before=leading.blank_line_before,
        )

    def block_attribute_line(self, attribute: Attribute, leading: _Leading) -> Attribute:
        """The rest of a line that holds a `@@` attribute."""
        trailing = self.trailing_comment()
        self.end_of_line("an attribute")
        return replace(
            attribute,
            documentation=leading.documentation,
            comment=self.line_comment(trailing),
            comments=leading.comments,
            blank_line_before=leading.blank_line_before,
        )

    def enum_line(self, leading: _Leading) -> EnumValue | Attribute:
        if self.at("punct", "@"):
            attribute = self.attribute()
            if not attribute.block:
                raise _SyntaxProblem("Enum-level attributes start with `@@`.", attribute.span)
            return self.block_attribute_line(attribute, leading)
        name = self.expect("ident", None, "an enum value")
        attributes = self.field_attributes()
        trailing = self.trailing_comment()
        self.end_of_line("an enum value")
        return EnumValue(
            name.text,
            tuple(attributes),
            leading.documentation,
            self.line_comment(trailing),
            name.span,
            comments=leading.comments,
            blank_line_before=leading.blank_line_before,
        )

    def model_line(self, leading: _Leading) -> Field | Attribute:
        if self.at("punct", "@"):
            attribute = self.attribute()
            if not attribute.block:
                raise _SyntaxProblem(
                    "Field attributes must follow a field; model-level attributes start with `@@`.",
                    attribute.span,
                )
            return self.block_attribute_line(attribute, leading)
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
        trailing = self.trailing_comment()
        self.end_of_line("a field")
        span = Span(
            name.span.line, name.span.column, name.span.start, self.tokens[self.index - 1].span.end
        )
        return Field(
            name.text,
            field_type,
            tuple(attributes),
            leading.documentation,
            self.line_comment(trailing),
            span,
            comments=leading.comments,
            blank_line_before=leading.blank_line_before,
        )

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

    def enter(self, opening: Token) -> None:
        """Count one more level of nesting; the caller calls `leave` when it is done, also
        when it raises (a syntax problem abandons the line, not the parse)."""
        if self.nesting >= MAX_NESTING:
            raise _SyntaxProblem(
                f"Lists and parentheses nest more than {MAX_NESTING} levels deep here.",
                opening.span,
            )
        self.nesting += 1

    def leave(self) -> None:
        self.nesting -= 1

    def arguments(self) -> tuple[Argument, ...]:
        opening = self.expect("punct", "(", "`(`")
        self.enter(opening)
        try:
            return self.argument_list(opening)
        finally:
            self.leave()

    def argument_list(self, opening: Token) -> tuple[Argument, ...]:
        """The arguments after ``opening``, up to and including the closing `)`."""
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
            self.enter(token)
            try:
                items = self.list_items()
            finally:
                self.leave()
            end = self.tokens[self.index - 1].span.end
            return ArrayValue(
                items, Span(token.span.line, token.span.column, token.span.start, end)
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

    def list_items(self) -> tuple[Expression, ...]:
        """The items of a list whose `[` was just read, up to and including the `]`."""
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
        return tuple(items)


def parse(text: str, path: str = "schema.prisma") -> SchemaFile:
    """Parse schema text into a syntax tree. Raises `SchemaError` listing every syntax error."""
    diagnostics = Diagnostics(path, text)
    lexer = Lexer(text, diagnostics)
    tokens = lexer.tokens()
    report_stray_characters(tokens, diagnostics)
    # A lexical error (a stray character, an unclosed string) derails the parse of its line,
    # and whatever the parser says about that line next is noise: one error per line.
    diagnostics.silence(diagnostics.error_lines)
    parser = _Parser([t for t in tokens if t.kind != "error"], diagnostics, lexer.inline_comments)
    blocks, end_comments = parser.schema()
    diagnostics.raise_if_errors()
    return SchemaFile(tuple(blocks), path, text, end_comments=end_comments)


def parse_file(path: str | os.PathLike[str]) -> SchemaFile:
    return parse(read_schema_text(path), str(path))


def read_schema_text(path: str | os.PathLike[str]) -> str:
    """The text of a schema file, which is UTF-8 (with or without a byte order mark), as
    Prisma requires. Raises `SchemaError` at the first byte that is not UTF-8 (its line,
    column and byte offset), and `ConfigurationError` when the file cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the schema file {path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Not chained: the SchemaError says everything the UnicodeDecodeError did.
        raise _undecodable(data, exc.start, str(path)) from None


def _undecodable(data: bytes, offset: int, path: str) -> SchemaError:
    """The error for a file whose first byte that is not UTF-8 is at ``offset``. Its excerpt
    shows the line with each undecodable sequence as U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    # Everything before the first bad byte decodes, so its length is the bad byte's index.
    index = len(data[:offset].decode("utf-8"))
    line_start = text.rfind("\n", 0, index) + 1
    span = Span(text.count("\n", 0, index) + 1, index - line_start + 1, index, index + 1)
    diagnostics = Diagnostics(path, text)
    diagnostics.error(
        f"The file is not valid UTF-8: byte 0x{data[offset]:02X} at byte offset {offset} "
        "cannot be decoded. Schema files are UTF-8; convert this one (from Latin-1, for "
        "example: `iconv -f latin1 -t utf-8`).",
        span,
    )
    return diagnostics.schema_error()
