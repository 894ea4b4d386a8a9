"""`strata.dialects.base.MetricsDialect` for PostgreSQL: the statements of metrics
(aggregation, rollups, retention), of the Arrow export and of the health checks, and the
Arrow type each column is exported as.

The rows are read by the core and decoded from the server's binary results
(rust/metrics/pg.rs, rust/arrow_export/pg.rs). A rollup reads its source through a cursor
and writes its buckets between fetches, a batch per statement: the batch is one JSON
parameter, an array of rows, turned into the rollup table's row type by
``json_populate_record``, so one statement serves any batch size without a limit on
parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from strata.dialects.base import MetricsSourceSql, RollupSql
from strata.dialects.postgresql.bulk import bulk_insert

if TYPE_CHECKING:
    from strata.schema import ir


__all__ = [
    "CURSOR",
    "FETCH_ROWS",
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

#: Rows per transaction of an ingest unless the caller says otherwise. A COPY takes no lock
#: that other writers wait on, so the chunk only bounds what a failure rolls back; each
#: chunk ends with the server idle while the next one starts (about 5% at 10,000 rows).
ingest_chunk_rows = 100_000
#: The cursor a rollup reads its source through; it lives in the rollup's transaction.
CURSOR = "strata_rollup_source"
#: Rows per fetch of that cursor: the buckets they close are written before the next one.
FETCH_ROWS = 10_000
#: The widest decimal Arrow's decimal128 holds.
_DECIMAL128_DIGITS = 38


def source_sql(table: str, series: str, time: str, values: Sequence[str]) -> MetricsSourceSql:
    # The ORDER BY is the (series, time) index's order, so the server reads the index
    # instead of sorting.
    columns = ", ".join(f"t0.{column}" for column in (series, time, *values))
    return {
        "head": f"SELECT {columns} FROM {table} AS t0 WHERE t0.{time} IS NOT NULL AND (",
        "tail": f") ORDER BY t0.{series}, t0.{time}",
        "all_rows": "TRUE",
        "since": f"t0.{time} >= $1",
    }


def rollup_sql(table: str, series: str, bucket: str, columns: Sequence[str]) -> RollupSql:
    targets = [series, bucket, *columns]
    names = ", ".join(_literal(_unquote(column)) for column in targets)
    texts = ", ".join(f"e.v->>{index}" for index in range(len(targets)))
    picked = ", ".join(f"r.{column}" for column in targets)
    insert = (
        f"INSERT INTO {table} ({', '.join(targets)}) SELECT {picked} "
        "FROM json_array_elements($1::json) WITH ORDINALITY AS e(v, n), "
        f"json_populate_record(NULL::{table}, json_object(ARRAY[{names}], ARRAY[{texts}])) AS r "
        "ORDER BY e.n"
    )
    return {
        # Conflicts with itself and with writes, not with reads: concurrent rollups into
        # the table wait for each other, and each then sees the other's watermark.
        "lock": f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE",
        "watermark": watermark_sql(table, bucket),
        "delete_from": f"DELETE FROM {table} WHERE {bucket} >= $1",
        "insert_json": insert,
        "declare": f"DECLARE {CURSOR} NO SCROLL CURSOR FOR ",
        "fetch": f"FETCH FORWARD {FETCH_ROWS} FROM {CURSOR}",
        "close": f"CLOSE {CURSOR}",
    }


def watermark_sql(table: str, bucket: str) -> str:
    return f"SELECT max({bucket}) FROM {table}"


def retain_batch_sql(table: str, time: str) -> str:
    # Bounded batches by row address (a TID scan), so no transaction holds many row locks
    # or runs long.
    return (
        f"DELETE FROM {table} WHERE ctid = ANY (ARRAY("
        f"SELECT ctid FROM {table} WHERE {time} < $1 LIMIT $2))"
    )


def export_sql(table: str, columns: Sequence[str], condition: str) -> str:
    selected = ", ".join(f"t0.{column}" for column in columns)
    return f"SELECT {selected} FROM {table} AS t0 WHERE {condition}"


def ping_sql() -> str:
    return "SELECT 1"


def row_count_sql(table: str) -> str:
    return f"SELECT count(*) FROM {table}"


_KINDS = {
    "Int": "int64",
    "BigInt": "int64",
    "Float": "float64",
    "Boolean": "bool",
    "Bytes": "binary",
}


def export_kind(field: ir.ScalarField) -> str:
    """Exact where Arrow can be: ``numeric(p, s)`` up to 38 digits is ``decimal128(p,s)``;
    a wider one, and Prisma's default Decimal (``numeric(65,30)``), is a float, as on
    SQLite (Arrow's decimal256 is not read by DuckDB). A timestamp of up to 3 fractional
    digits (Prisma's default ``timestamp(3)``) is milliseconds, a finer one microseconds;
    ``@db.Time`` is its text. Lists (native arrays) are JSON text, as SQLite stores them,
    and enums their names."""
    if field.list or field.is_enum:
        return "utf8"
    native, arguments = field.native_type or ("", ())
    if field.type == "Decimal":
        if native == "Decimal" and len(arguments) == 2:
            precision, scale = (int(a) for a in arguments)
            if precision <= _DECIMAL128_DIGITS:
                return f"decimal128({precision},{scale})"
        return "float64"
    if field.type == "DateTime":
        if native in ("Time", "Timetz"):
            return "utf8"
        if native in ("Timestamp", "Timestamptz"):
            digits = int(arguments[0]) if arguments else 6
            return "timestamp" if digits <= 3 else "timestamp_us"
        return "timestamp"
    return _KINDS.get(field.type, "utf8")


def _unquote(identifier: str) -> str:
    if identifier.startswith('"') and identifier.endswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
