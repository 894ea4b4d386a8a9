"""The lexer of the Prisma Schema Language: text in, tokens out.

Newlines are tokens only at bracket depth zero (inside brackets and parentheses they are
whitespace), which is what lets the parser read a block one line at a time. Comments
become tokens when they stand on lines of their own; a comment that shares its line with
code, or sits inside brackets, is set aside as an `InlineComment` for the parser to attach
to the item it belongs to. Lexical errors (an unclosed string or block comment, an unknown
escape) are recorded as diagnostics; a character that starts no token becomes an
``error`` token, reported by `report_stray_characters`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from strata.schema.diagnostics import Diagnostics
from strata.schema.syntax import Span

__all__ = ["InlineComment", "Lexer", "Token", "TokenKind", "report_stray_characters"]

TokenKind = Literal[
    "ident",
    "string",
    "number",
    "punct",
    "newline",
    "doc",
    "comment",
    "block_comment",
    "eof",
    "error",
]


# Slots: a file has a token every few characters, and a large one has a great many.
@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    span: Span


# Identifiers may use any Unicode letter or digit (Prisma accepts `lööps`); `-` is allowed
# after the first character, as in generator names. Validation rejects a leading digit.
_IDENT = re.compile(r"[^\W][\w-]*")
# Numbers are ASCII, as in Prisma: `²` or `٣` is a digit to `str.isdigit` (and `٣` to
# `\d`), but starts a (misspelt) name here, which validation then reports.
_DIGITS = frozenset("0123456789")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PUNCT = "{}()[],:=?@."
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_BLANK = " \t\r\ufeff"
# Alignment makes runs of spaces the most common thing in a schema; skip them in one step.
_BLANK_RUN = re.compile(r"[ \t\r\ufeff]+")
# A string without escapes, the usual case, in one match.
_PLAIN_STRING = re.compile(r'"([^"\\\n]*)"')


def _block_comment_lines(inner: str) -> list[str]:
    """The lines of a ``/* ... */`` comment, the way Prisma's formatter normalises them: each
    line stripped, one leading ``*`` (the gutter) removed, blank lines dropped."""
    lines = []
    for raw in inner.split("\n"):
        line = raw.strip()
        line = line[1:].lstrip() if line.startswith("*") else line
        if line:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class InlineComment:
    """A comment that cannot keep a line of its own; the parser attaches its text to an item."""

    text: str
    span: Span


class Lexer:
    """Reads one file's text: `tokens` once, after which `inline_comments` holds the
    comments set aside, in source order."""

    def __init__(self, text: str, diagnostics: Diagnostics) -> None:
        self.text = text
        self.diagnostics = diagnostics
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.depth = 0  # bracket/parenthesis nesting; newlines inside are whitespace
        self.inline_comments: list[InlineComment] = []

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
            elif ch in _BLANK:
                blanks = _BLANK_RUN.match(text, start)
                assert blanks is not None
                self.pos = blanks.end()
            elif text.startswith("//", start):
                end = self._line_end()
                # Trailing whitespace (a CRLF file's `\r` included) is not part of a comment.
                content = text[start + 2 : end].rstrip()
                if self.depth:
                    # Inside brackets a newline is whitespace, so the comment is inline.
                    if content.lstrip("/").strip():
                        self.inline_comments.append(
                            InlineComment(content.lstrip("/").strip(), self.span(start, end))
                        )
                elif content.startswith("/"):
                    out.append(Token("doc", content[1:], self.span(start, end)))
                else:
                    out.append(Token("comment", content, self.span(start, end)))
                self.pos = end
            elif text.startswith("/*", start):
                self._block_comment(out)
            elif ch == '"':
                if plain := _PLAIN_STRING.match(text, start):
                    self.pos = plain.end()
                    out.append(Token("string", plain.group(1), self.span(start)))
                else:
                    out.append(self._string())
            elif match := (_NUMBER.match(text, start) if ch in _DIGITS or ch == "-" else None):
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
        text = self.text
        start = self.pos
        end = text.find("*/", start + 2)
        if end < 0:
            self.diagnostics.error(
                "This block comment is never closed with */.", self.span(start, start + 2)
            )
            inner, end = text[start + 2 :], len(text)
        else:
            inner, end = text[start + 2 : end], end + 2
        span = self.span(start, end)
        after = text.find("\n", end)
        # A comment alone on its lines is kept as a line of its own; one that shares a line
        # with code (or sits inside brackets) becomes inline, like a comment in brackets.
        standalone = (
            self.depth == 0
            and not text[self.line_start : start].strip(_BLANK)
            and not text[end : len(text) if after < 0 else after].strip(_BLANK)
        )
        lines = _block_comment_lines(inner)
        if standalone:
            out.append(Token("block_comment", "\n".join(lines), span))
        elif lines:
            self.inline_comments.append(InlineComment(" ".join(lines), span))
        newlines = text.count("\n", start, end)
        if newlines:
            self.line += newlines
            self.line_start = text.rfind("\n", start, end) + 1
            if self.depth == 0 and not standalone:
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
                if escape == "u" and _HEX4.fullmatch(text, self.pos + 2, self.pos + 6):
                    code = int(text[self.pos + 2 : self.pos + 6], 16)
                    self.pos += 6
                    # As in JSON, a character beyond the BMP is written as a surrogate pair.
                    if (
                        0xD800 <= code < 0xDC00
                        and text.startswith("\\u", self.pos)
                        and _HEX4.fullmatch(text, self.pos + 2, self.pos + 6)
                        and 0xDC00 <= (low := int(text[self.pos + 2 : self.pos + 6], 16)) < 0xE000
                    ):
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        self.pos += 6
                    chars.append(chr(code))
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


def report_stray_characters(tokens: list[Token], diagnostics: Diagnostics) -> None:
    """One diagnostic per run of adjacent characters that start no token (`$$$`)."""
    run: list[Token] = []
    for token in [*tokens, None]:
        if (
            token is not None
            and token.kind == "error"
            and (not run or run[-1].span.end == token.span.start)
        ):
            run.append(token)
            continue
        if run:
            chars = "".join(t.text for t in run)
            noun = "character" if len(run) == 1 else "characters"
            first = run[0].span
            diagnostics.error(
                f"Unexpected {noun} `{chars}`.",
                Span(first.line, first.column, first.start, run[-1].span.end),
            )
        run = [token] if token is not None and token.kind == "error" else []
