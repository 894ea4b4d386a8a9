"""The Prisma schema: parsing, formatting, validation and the resolved IR.

`load_schema` and `load_schema_file` are the usual way in: they parse and validate, and
raise `strata.SchemaError` listing every problem, or return the resolved `ir.Schema`.
"""

from __future__ import annotations

import os
from pathlib import Path

from strata.schema import ir
from strata.schema.parser import parse
from strata.schema.validate import validate

__all__ = ["ir", "load_schema", "load_schema_file"]


def load_schema(text: str, path: str = "schema.prisma") -> ir.Schema:
    """Parse and validate schema text; ``path`` only names the file in error messages."""
    return validate(parse(text, path))


def load_schema_file(path: str | os.PathLike[str]) -> ir.Schema:
    file = Path(path)
    return load_schema(file.read_text(encoding="utf-8"), str(file))
