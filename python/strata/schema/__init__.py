"""The Prisma schema: parsing, formatting, validation and the resolved IR.

`load_schema` and `load_schema_file` are the usual way in: they parse and validate, and
raise `strata.SchemaError` listing every problem, or return the resolved `ir.Schema`.
"""

from __future__ import annotations

import os

from strata.schema import ir
from strata.schema.parser import parse, read_schema_text
from strata.schema.validate import validate

__all__ = ["ir", "load_schema", "load_schema_file"]


def load_schema(text: str, path: str = "schema.prisma") -> ir.Schema:
    """Parse and validate schema text; ``path`` only names the file in error messages."""
    return validate(parse(text, path))


def load_schema_file(path: str | os.PathLike[str]) -> ir.Schema:
    """`load_schema` on a file, which must be UTF-8 (see `parser.read_schema_text`)."""
    return load_schema(read_schema_text(path), str(path))
