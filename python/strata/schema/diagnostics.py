"""Diagnostics: a problem in a schema file, located by line and column, shown with a caret.

Parsing and validation collect every problem in a file before raising, so a user fixes
them in one pass: `Diagnostics.raise_if_errors()` raises one `SchemaError` holding all of
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from strata.errors import SchemaError
from strata.schema.syntax import Span

__all__ = ["Diagnostic", "Diagnostics", "render"]


@dataclass(frozen=True)
class Diagnostic:
    message: str
    path: str
    line: int
    column: int
    #: How many characters the caret underline covers (at least one).
    length: int = 1
    severity: Literal["error", "warning"] = "error"
    #: The source line the diagnostic points at, for the excerpt.
    source_line: str = ""

    def __str__(self) -> str:
        return render(self)


def render(diagnostic: Diagnostic) -> str:
    """``path:line:column: error: message`` followed by a gutter excerpt with carets."""
    header = (
        f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}: "
        f"{diagnostic.severity}: {diagnostic.message}"
    )
    if not diagnostic.source_line:
        return header
    number = str(diagnostic.line)
    gutter = " " * len(number)
    text = diagnostic.source_line.rstrip("\n").expandtabs(4)
    available = max(1, len(text) - diagnostic.column + 1)
    carets = "^" * max(1, min(diagnostic.length, available))
    return (
        f"{header}\n{gutter} |\n{number} | {text}\n"
        f"{gutter} | {' ' * (diagnostic.column - 1)}{carets}"
    )


@dataclass
class Diagnostics:
    """Collects the problems found in one file."""

    path: str
    text: str
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: Span) -> None:
        self._add(message, span, "error")

    def warning(self, message: str, span: Span) -> None:
        self._add(message, span, "warning")

    def _add(self, message: str, span: Span, severity: Literal["error", "warning"]) -> None:
        lines = self.text.splitlines()
        source_line = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        # An underline stops at the end of the line, even for a span covering a block.
        length = max(1, min(span.end - span.start, len(source_line) - span.column + 1))
        self.items.append(
            Diagnostic(
                message,
                self.path,
                span.line,
                span.column,
                length,
                severity,
                source_line,
            )
        )

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            ordered = sorted(self.errors, key=lambda d: (d.line, d.column))
            raise SchemaError(ordered)
