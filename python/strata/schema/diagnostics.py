"""Diagnostics: collecting the problems in a schema file, each a `strata.errors.Diagnostic`
located by line and column and shown with a caret.

Parsing and validation collect every problem in a file before raising, so a user fixes
them in one pass: `Diagnostics.raise_if_errors()` raises one `SchemaError` holding all of
them.

Whatever the file, the report stays small. An excerpt shows at most `EXCERPT_WIDTH`
characters of its line (a window around the column, ``...`` marking the cuts), a message
at most `MESSAGE_LIMIT` characters (messages quote names and values from the file), and
at most `DIAGNOSTIC_LIMIT` errors are kept: the rest are counted, and the `SchemaError`
says how many were left out. A megabyte-long line full of mistakes gives a report of a few
kilobytes, not one copy of the line per mistake.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from strata.errors import Diagnostic, SchemaError
from strata.schema.syntax import Span

__all__ = ["DIAGNOSTIC_LIMIT", "EXCERPT_WIDTH", "MESSAGE_LIMIT", "Diagnostics"]

#: The most characters of a source line an excerpt shows.
EXCERPT_WIDTH = 120
#: The most characters of a diagnostic's message.
MESSAGE_LIMIT = 500
#: The most diagnostics of each severity kept for one file; the others are only counted.
DIAGNOSTIC_LIMIT = 100

_CUT = "..."
_NEWLINE = re.compile("\n")


def _shorten(message: str) -> str:
    """``message``, or its start and end around a note of how much was left out."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    keep = MESSAGE_LIMIT // 2
    left_out = len(message) - 2 * keep
    return f"{message[:keep]} {_CUT}({left_out} characters left out){_CUT} {message[-keep:]}"


def _window(line: str, index: int) -> tuple[str, int | None]:
    """The part of ``line`` an excerpt shows for the 0-based ``index``: the whole line when
    it is short enough, else `EXCERPT_WIDTH` characters around the index with ``...`` at
    each cut. Returns the text and the index's 1-based column in it (None: the whole line)."""
    if len(line) <= EXCERPT_WIDTH:
        return line, None
    # A third of the window before the column: what leads up to a mistake matters less
    # than the mistake and what follows it.
    start = max(0, min(index - EXCERPT_WIDTH // 3, len(line) - EXCERPT_WIDTH))
    end = start + EXCERPT_WIDTH
    prefix = _CUT if start > 0 else ""
    suffix = _CUT if end < len(line) else ""
    return prefix + line[start:end] + suffix, index - start + len(prefix) + 1


@dataclass
class Diagnostics:
    """Collects the problems found in one file, up to `DIAGNOSTIC_LIMIT` of each severity."""

    path: str
    text: str
    items: list[Diagnostic] = field(default_factory=list)
    #: How many diagnostics of each severity were reported, kept or not.
    counts: Counter[str] = field(default_factory=Counter)
    #: Every line an error was reported on, kept or not.
    error_lines: set[int] = field(default_factory=set)
    #: Lines whose diagnostics are dropped unseen and uncounted: see `silence`.
    silenced_lines: frozenset[int] = frozenset()
    _line_starts: list[int] | None = field(default=None, repr=False)

    def error(self, message: str, span: Span) -> None:
        self._add(message, span, "error")

    def warning(self, message: str, span: Span) -> None:
        self._add(message, span, "warning")

    def silence(self, lines: set[int]) -> None:
        """Drop what is reported from now on about these lines (lines whose first problem
        makes whatever is said about them next noise)."""
        self.silenced_lines = frozenset(lines)

    def _add(self, message: str, span: Span, severity: Literal["error", "warning"]) -> None:
        if span.line in self.silenced_lines:
            return
        self.counts[severity] += 1
        if severity == "error":
            self.error_lines.add(span.line)
        if self.counts[severity] > DIAGNOSTIC_LIMIT:
            return
        source_line, index = self._source_line(span)
        # An underline stops at the end of the line, even for a span covering a block.
        length = max(1, min(span.end - span.start, len(source_line) - index))
        excerpt, excerpt_column = _window(source_line, index)
        self.items.append(
            Diagnostic(
                _shorten(message),
                self.path,
                span.line,
                span.column,
                length,
                severity,
                excerpt,
                excerpt_column,
            )
        )

    def _source_line(self, span: Span) -> tuple[str, int]:
        """The line holding ``span.start``, without its line ending, and the start's index in
        it; ``("", 0)`` for a span that is not in the text (a node built in code)."""
        if span.line <= 0 or span.start > len(self.text):
            return "", 0
        if self._line_starts is None:
            self._line_starts = [0, *(m.end() for m in _NEWLINE.finditer(self.text))]
        line_start = self._line_starts[bisect.bisect_right(self._line_starts, span.start) - 1]
        line_end = self.text.find("\n", line_start)
        line = self.text[line_start : len(self.text) if line_end < 0 else line_end]
        return line.removesuffix("\r"), span.start - line_start

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    @property
    def error_count(self) -> int:
        """How many errors were reported, including those not kept."""
        return self.counts["error"]

    @property
    def omitted_warnings(self) -> int:
        return self.counts["warning"] - len(self.warnings)

    def schema_error(self) -> SchemaError:
        """The errors, in file order, as one exception."""
        ordered = sorted(self.errors, key=lambda d: (d.line, d.column))
        return SchemaError(ordered, omitted=self.error_count - len(ordered))

    def raise_if_errors(self) -> None:
        if self.error_count:
            raise self.schema_error()
