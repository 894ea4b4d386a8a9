"""`strata.dialects.base.MetricsDialect` for SQLite: the statements of metrics, of the bulk
writer behind ingest and ``create_many``, of the Arrow export and of the health checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from strata.dialects.base import BulkInsertSql, MetricsSourceSql, RollupSql

if TYPE_CHECKING:
    from strata.schema import ir

__all__ = [
    "bulk_insert",
    "export_kind",
    "export_sql",
    "ingest_chunk_rows",
    "ping_sql",
    "retain_batch_sql",
    "rollup_sql",
    "row_count_sql",
    "source_sql",
    "watermark_sql",
]

#: Rows per transaction of an ingest unless the caller says otherwise: large enough that a
#: commit's fsync is amortised, small enough that the write lock, which every other writer
#: waits on, is never held for long.
ingest_chunk_rows = 10_000


def source_sql(table: str, series: str, time: str, values: Sequence[str]) -> MetricsSourceSql:
    # The ORDER BY is the (series, time) index's order, so SQLite hands the rows out
    # without a sort, but with a table lookup per index entry; without it, a plain scan.
    columns = ", ".join(f"t0.{column}" for column in (series, time, *values))
    return {
        "head": f"SELECT {columns} FROM {table} AS t0 WHERE t0.{time} IS NOT NULL AND (",
        "tail": f") ORDER BY t0.{series}, t0.{time}",
        "all_rows": "1",
        "since": f"t0.{time} >= ?",
        "unordered_tail": ")",
    }


def rollup_sql(table: str, series: str, bucket: str, columns: Sequence[str]) -> RollupSql:
    return {
        "watermark": watermark_sql(table, bucket),
        "delete_from": f"DELETE FROM {table} WHERE {bucket} >= ?",
        "insert": bulk_insert(table, [series, bucket, *columns]),
    }


def bulk_insert(table: str, columns: Sequence[str], key: Sequence[str] = ()) -> BulkInsertSql:
    # SQLite finds new rows by rowid, whatever the key.
    #
    # OR FAIL: a statement that writes many rows and may abort (a NOT NULL or UNIQUE check)
    # makes SQLite copy every page it touches into a statement journal first, so that an
    # abort undoes only that statement. Rows that land all over an index (a metric table's
    # (series, time), two hundred series interleaved) touch a page per row, and the journal
    # spills to a temporary file: on such a table a hundred-row statement cost more than a
    # hundred one-row ones. FAIL keeps the rows a failing statement wrote before the
    # failure; the core runs every bulk insert inside `Engine::write`, whose transaction or
    # savepoint a failure rolls back whole, so none of them survive it.
    return {
        "head": f"INSERT OR FAIL INTO {table} (",
        "columns": list(columns),
        "column_separator": ", ",
        "values": ") VALUES ",
        "row_tuples": ["(" + ", ".join("?" * width) + ")" for width in range(len(columns) + 1)],
        "row_separator": ", ",
        "skip_duplicates": " ON CONFLICT DO NOTHING",
        "returning_rowid": " RETURNING rowid",
        "default_values": f"INSERT INTO {table} DEFAULT VALUES",
    }


def watermark_sql(table: str, bucket: str) -> str:
    return f"SELECT max({bucket}) FROM {table}"


def retain_batch_sql(table: str, time: str) -> str:
    # Bounded batches through the rowid, so that the write lock is never held long.
    return (
        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {time} < ? LIMIT ?)"
    )


def export_sql(table: str, columns: Sequence[str], condition: str) -> str:
    selected = ", ".join(f"t0.{column}" for column in columns)
    return f"SELECT {selected} FROM {table} AS t0 WHERE {condition}"


def ping_sql() -> str:
    return "SELECT 1"


def row_count_sql(table: str) -> str:
    return f"SELECT count(*) FROM {table}"


#: Arrow types by Prisma type. SQLite's Decimal has no declared precision, so it is a float.
_KINDS = {
    "Int": "int64",
    "BigInt": "int64",
    "Float": "float64",
    "Decimal": "float64",
    "Boolean": "bool",
    "DateTime": "timestamp",
    "Bytes": "binary",
}


def export_kind(field: ir.ScalarField) -> str:
    # Lists are stored as JSON text, enums as their names.
    if field.list or field.is_enum:
        return "utf8"
    return _KINDS.get(field.type, "utf8")
