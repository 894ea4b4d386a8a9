"""Prisma's grading of PostgreSQL column type changes (its PostgreSQL differ's
``column_type_change``: SafeCast, RiskyCast, NotCastable, or no change), pair by pair. The
scripts these grades produce are in tests/test_ddl_postgresql.py."""

from __future__ import annotations

from strata.dialects.postgresql.casts import type_change
from strata.schema.sql import Column


def test_cast_grades_per_pair_of_types() -> None:
    """Prisma's grading (its PostgreSQL ``column_type_change``), pair by pair, including the
    length thresholds for numbers written as text."""

    def grade(old: str, new: str) -> str | None:
        return type_change(Column("c", old, False), Column("c", new, False))

    cases = {
        ("INTEGER", "SMALLINT"): "risky",
        ("SMALLINT", "INTEGER"): "safe",
        ("INTEGER", "VARCHAR(10)"): "risky",  # ten digits and a sign need 11
        ("INTEGER", "VARCHAR(11)"): "safe",
        ("INTEGER", "CHAR"): "risky",  # CHAR without length holds one character
        ("INTEGER", "DECIMAL(10,2)"): "risky",
        ("INTEGER", "DECIMAL(12,2)"): "safe",
        ("DECIMAL(65,30)", "DOUBLE PRECISION"): "risky",
        ("DECIMAL(4,2)", "DECIMAL(4,0)"): "risky",
        ("DECIMAL(4,0)", "DECIMAL(6,2)"): "safe",
        ("DECIMAL(9,0)", "INTEGER"): "safe",
        ("DECIMAL(10,0)", "INTEGER"): "risky",
        ("DOUBLE PRECISION", "REAL"): "risky",
        ("REAL", "DOUBLE PRECISION"): "safe",
        ("VARCHAR(20)", "VARCHAR(10)"): "risky",
        ("VARCHAR(10)", "VARCHAR(20)"): "safe",
        ("VARCHAR(10)", "TEXT"): "safe",
        ("TEXT", "CHAR(3)"): "risky",
        ("BOOLEAN", "CHAR(5)"): "safe",
        ("BOOLEAN", "CHAR(4)"): "risky",
        ("BOOLEAN", "INTEGER"): "not_castable",
        ("TIMESTAMP(3)", "TIMESTAMP(6)"): "safe",
        ("TIMESTAMP(3)", "TIMESTAMP"): None,
        ("TIMESTAMP(3)", "DATE"): "safe",
        ("DATE", "TIME"): "not_castable",
        ("TIME(3)", "TIMETZ(3)"): "safe",
        ("JSONB", "JSON"): "safe",
        ("JSONB", "VARCHAR(100)"): "risky",
        ("JSONB", "INTEGER"): "not_castable",
        ("UUID", "CHAR(36)"): "safe",
        ("UUID", "CHAR(30)"): "not_castable",
        ("BYTEA", "VARCHAR(10)"): "risky",
        ("TEXT[]", "TEXT"): "safe",
        ("TEXT[]", "VARCHAR(5)"): "risky",
        ("TEXT[]", "INTEGER"): "not_castable",
        ("INTEGER[]", "BIGINT[]"): "safe",
        ("circle", "TEXT"): "risky",  # Unsupported types are cast at the user's risk
    }
    assert {pair: grade(*pair) for pair in cases} == cases


def test_enums_have_no_cast_but_to_themselves() -> None:
    """Prisma grades enums first: to or from any other type, or another enum, no cast."""
    role = Column("c", '"Role"', False, enum="Role")
    kind = Column("c", '"Kind"', False, enum="Kind")
    text = Column("c", "TEXT", False)
    assert type_change(role, text) == "not_castable"
    assert type_change(text, role) == "not_castable"
    assert type_change(role, kind) == "not_castable"
    assert type_change(role, role) is None
