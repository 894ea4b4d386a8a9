"""The bulk writer's SQL on PostgreSQL (`strata.dialects.base.BulkInsertSql`): the pieces of
multi-row inserts for ``create_many``, and of binary ``COPY`` for metric ingest.

The metrics part of the PostgreSQL dialect re-exports `bulk_insert` as its own (the protocol
puts it in `strata.dialects.base.MetricsDialect`). Each row tuple marks its parameters with
a bare ``$``; the core numbers them across the statement (``($1, $2), ($3, $4)``) and keeps
each statement under PostgreSQL's 65,535 parameters (rust/bulk_pg.rs).
"""

from __future__ import annotations

from collections.abc import Sequence

from strata.dialects.base import BulkInsertSql

__all__ = ["bulk_insert"]


def bulk_insert(table: str, columns: Sequence[str], key: Sequence[str] = ()) -> BulkInsertSql:
    return {
        "head": f"INSERT INTO {table} (",
        "columns": list(columns),
        "column_separator": ", ",
        "values": ") VALUES ",
        "row_tuples": ["(" + ", ".join("$" * width) + ")" for width in range(len(columns) + 1)],
        "row_separator": ", ",
        "skip_duplicates": " ON CONFLICT DO NOTHING",
        # No rowid here: new rows are found again by their primary key, when it is one
        # column (the core refuses a call asking for them otherwise).
        "returning_rowid": f" RETURNING {key[0]}" if len(key) == 1 else "",
        "default_values": f"INSERT INTO {table} DEFAULT VALUES",
        "copy_head": f"COPY {table} (",
        "copy_tail": ") FROM STDIN (FORMAT binary)",
    }
