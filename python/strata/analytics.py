"""DuckDB over the schema's tables, fed by Arrow streams from the core.

DuckDB never opens the live SQLite file: its sqlite extension carries a second copy of
SQLite, and two copies in one process can lose committed data (docs/ARCHITECTURE.md,
decision 1). Instead each table becomes a `strata._core.ArrowStream`: an object whose
``__arrow_c_stream__`` runs ``SELECT`` on a read-only connection of the core's own (never
a pooled reader, so a scan DuckDB leaves half-read blocks no query) and hands the rows over
as Arrow batches of at most 64k rows or 64 MiB. It starts a new stream on every call, so a
DuckDB view registered over it answers any number of queries, each seeing the latest
commit. A failure while reading (a value the column's type cannot hold, a closed handle)
raises in DuckDB; it never shortens the result.

Columns and filters named in ``tables`` are pushed down into that ``SELECT``: only those
columns are read, and the ``where`` (the client's filter syntax, compiled with bound
values) runs in SQLite, where an index can serve it.

Ready-made queries for the seed systems' logs and metrics are in `QUERIES`; each runs from
Python (`run_query`) and from the command line (``strata analytics --query NAME``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import duckdb

from strata import _core
from strata.errors import ValidationError
from strata.metrics import arrow_kind

if TYPE_CHECKING:
    from strata.client.meta import ModelMeta
    from strata.database import Database

__all__ = [
    "QUERIES",
    "ReadyQuery",
    "TableSpec",
    "connect_duckdb",
    "export_parquet",
    "run_query",
    "table_stream",
]


class TableSpec(TypedDict, total=False):
    """What to export of one model: its fields (default: all) and a client filter."""

    columns: Sequence[str]
    where: Mapping[str, Any]


def table_stream(
    db: Database,
    model: str,
    columns: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
) -> _core.ArrowStream:
    """An Arrow stream of one model's rows: ``columns`` (field names; default every
    scalar field) under their database column names, filtered by ``where``."""
    meta = _meta(db, model)
    fields = list(meta.scalars) if columns is None else list(columns)
    for name in fields:
        meta.scalar(name)  # raises ValidationError naming the field
    builder = db.client_.sql()
    condition = builder.where(meta, "t0", where)
    selected = ", ".join(f"t0.{meta.column(name)}" for name in fields)
    sql = f"SELECT {selected} FROM {meta.table_sql} AS t0 WHERE {condition}"
    kinds = [(meta.scalars[name].column, arrow_kind(meta.scalars[name])) for name in fields]
    return _core.ArrowStream.query(db, sql, tuple(builder.params), kinds)


def connect_duckdb(
    db: Database,
    tables: Sequence[str] | Mapping[str, TableSpec] | None = None,
    *,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (a new in-memory one unless ``connection`` is given) with a
    view per table: named after the table (``request_logs``), and also after the model
    (``RequestLog``) when that name is free. ``tables`` limits the views to some models
    (by model or table name) or maps each to a `TableSpec` pushed down into its export."""
    specs = _specs(db, tables)
    duck = connection if connection is not None else duckdb.connect()
    # DuckDB shows TIMESTAMPTZ values in the session's zone; UTC is what the data means.
    duck.execute("SET TimeZone = 'UTC'")
    taken = {meta.model.table.lower() for meta, _ in specs}
    for meta, spec in specs:
        stream = table_stream(db, meta.name, spec.get("columns"), spec.get("where"))
        duck.register(meta.model.table, stream)
        if meta.name.lower() not in taken:
            taken.add(meta.name.lower())
            duck.register(meta.name, stream)
    return duck


def _meta(db: Database, name: str) -> ModelMeta:
    client = db.client_
    meta = client.metas.get(name)
    if meta is None:
        meta = next((m for m in client.metas.values() if m.model.table == name), None)
    if meta is None:
        raise ValidationError(
            f"the schema has no model or table {name!r} (models: {', '.join(client.metas)})",
            model=name,
            expected="a model or table of the schema",
        )
    return meta


def _specs(
    db: Database, tables: Sequence[str] | Mapping[str, TableSpec] | None
) -> list[tuple[ModelMeta, TableSpec]]:
    if tables is None:
        return [(meta, TableSpec()) for meta in db.client_.metas.values()]
    if isinstance(tables, str):
        tables = [tables]
    if isinstance(tables, Mapping):
        return [(_meta(db, name), spec) for name, spec in tables.items()]
    return [(_meta(db, name), TableSpec()) for name in tables]


def export_parquet(
    db: Database,
    directory: str | Path,
    tables: Sequence[str] | None = None,
    *,
    progress: Callable[[str, int], object] | None = None,
) -> list[Path]:
    """Write one Parquet file per table (``<table>.parquet``) into ``directory``, for
    analysts who run DuckDB (or anything else) outside the application. ``progress`` is
    called with each table's name and row count once it is written."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    duck = connect_duckdb(db, tables)
    try:
        for meta, _ in _specs(db, tables):
            table = meta.model.table
            path = target / f"{table}.parquet"
            duck.execute(f"COPY (SELECT * FROM {_quote(table)}) TO ? (FORMAT parquet)", [str(path)])
            if progress is not None:
                counted = duck.execute("SELECT count(*) FROM read_parquet(?)", [str(path)])
                row = counted.fetchone()
                progress(table, 0 if row is None else int(row[0]))
            written.append(path)
    finally:
        duck.close()
    return written


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- ready-made queries ------------------------------------------------------------------


@dataclass(frozen=True)
class ReadyQuery:
    """A query over one seed model, run in DuckDB with only the fields it reads exported."""

    name: str
    description: str
    model: str
    fields: tuple[str, ...]
    #: DuckDB SQL over the view named ``{table}``.
    sql: str


QUERIES: dict[str, ReadyQuery] = {
    query.name: query
    for query in (
        ReadyQuery(
            "request-latency",
            "p50 / p95 / p99 request duration (ms) by path (music API RequestLog)",
            "RequestLog",
            ("path", "duration"),
            "SELECT path, count(*) AS requests, "
            "quantile_cont(duration, 0.5) AS p50, quantile_cont(duration, 0.95) AS p95, "
            "quantile_cont(duration, 0.99) AS p99 "
            "FROM {table} GROUP BY path ORDER BY p95 DESC, path",
        ),
        ReadyQuery(
            "request-latency-by-status",
            "p50 / p95 / p99 request duration (ms) by status class: 2xx, 4xx, 5xx ...",
            "RequestLog",
            ("statusCode", "duration"),
            "SELECT (statusCode // 100)::VARCHAR || 'xx' AS status_class, "
            "count(*) AS requests, quantile_cont(duration, 0.5) AS p50, "
            "quantile_cont(duration, 0.95) AS p95, quantile_cont(duration, 0.99) AS p99 "
            "FROM {table} GROUP BY status_class ORDER BY status_class",
        ),
        ReadyQuery(
            "error-rate",
            "share of checks per service and hour that found it down, or degraded "
            "(MediaNest ServiceStatusHistory)",
            "ServiceStatusHistory",
            ("serviceId", "status", "checkedAt"),
            "SELECT serviceId, date_trunc('hour', checkedAt) AS hour, count(*) AS checks, "
            "avg(CASE WHEN status = 'down' THEN 1 ELSE 0 END) AS error_rate, "
            "avg(CASE WHEN status = 'degraded' THEN 1 ELSE 0 END) AS degraded_rate "
            "FROM {table} GROUP BY serviceId, hour ORDER BY serviceId, hour",
        ),
        ReadyQuery(
            "gpu-utilisation",
            "GPU utilisation (%) per provider per 5 minutes (GPU marketplace ProviderMetric)",
            "ProviderMetric",
            ("providerId", "gpuUsage", "timestamp"),
            "SELECT providerId, time_bucket(INTERVAL 5 MINUTES, timestamp) AS bucket, "
            "count(gpuUsage) AS samples, avg(gpuUsage) AS gpu_avg, max(gpuUsage) AS gpu_max, "
            "quantile_cont(gpuUsage, 0.95) AS gpu_p95 "
            "FROM {table} GROUP BY providerId, bucket ORDER BY providerId, bucket",
        ),
    )
}


def run_query(db: Database, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run the ready-made query ``name`` (see `QUERIES`): its column names and rows."""
    query = QUERIES.get(name)
    if query is None:
        raise ValidationError(
            f"no ready-made query {name!r} (queries: {', '.join(QUERIES)})",
            field="query",
            expected=f"one of {', '.join(QUERIES)}",
        )
    meta = _meta(db, query.model)
    duck = connect_duckdb(db, {query.model: {"columns": query.fields}})
    try:
        result = duck.execute(query.sql.format(table=_quote(meta.model.table)))
        columns = [d[0] for d in result.description or ()]
        return columns, result.fetchall()
    finally:
        duck.close()
