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

On PostgreSQL it is the same: the core runs the ``SELECT`` on a connection of its own,
outside the pool, and turns the server's binary rows into Arrow (``numeric(p, s)`` as an
exact decimal, timestamps in UTC; `strata.dialects.postgresql.metrics.export_kind`).
DuckDB's postgres extension is never loaded: it would download itself at run time.

Columns and filters named in ``tables`` are pushed down into that ``SELECT``: only those
columns are read, and the ``where`` (the client's filter syntax, compiled with bound
values) runs in the database, where an index can serve it.

Ready-made queries for the seed systems' logs and metrics are in `QUERIES`; each runs from
Python (`run_query`) and from the command line (``strata analytics --query NAME``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from strata._core import ArrowStream
from strata.dialects import duckdb as duck_sql
from strata.errors import MissingExtraError, ValidationError

# DuckDB (about half of a full install) comes with the `analytics` extra only.
try:
    import duckdb
except ImportError as error:
    MissingExtraError.reraise(
        error, "strata.analytics (DuckDB over the tables)", "duckdb", "analytics"
    )

if TYPE_CHECKING:
    from strata.client import Client
    from strata.client.meta import ModelMeta

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
    client: Client,
    model: str,
    columns: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
) -> ArrowStream:
    """An Arrow stream of one model's rows: ``columns`` (field names; default every
    scalar field) under their database column names, filtered by ``where``. The client's
    dialect writes the export's statement."""
    meta = _meta(client, model)
    fields = list(meta.scalars) if columns is None else list(columns)
    for name in fields:
        meta.scalar(name)  # raises ValidationError naming the field
    builder = client.sql()
    condition = builder.where(meta, "t0", where)
    sql = client.dialect.metrics.export_sql(
        meta.table_sql, [meta.column(name) for name in fields], condition
    )
    kind = client.dialect.metrics.export_kind
    kinds = [(meta.scalars[name].column, kind(meta.scalars[name])) for name in fields]
    return ArrowStream.query(client.db, sql, tuple(builder.params), kinds)


def connect_duckdb(
    client: Client,
    tables: Sequence[str] | Mapping[str, TableSpec] | None = None,
    *,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (a new in-memory one unless ``connection`` is given) with a
    view per table: named after the table (``request_logs``), and also after the model
    (``RequestLog``) when that name is free. ``tables`` limits the views to some models
    (by model or table name) or maps each to a `TableSpec` pushed down into its export."""
    specs = _specs(client, tables)
    duck = connection if connection is not None else duckdb.connect()
    # DuckDB shows TIMESTAMPTZ values in the session's zone; UTC is what the data means.
    duck.execute(duck_sql.UTC)
    taken = {meta.model.table.lower() for meta, _ in specs}
    for meta, spec in specs:
        stream = table_stream(client, meta.name, spec.get("columns"), spec.get("where"))
        duck.register(meta.model.table, stream)
        if meta.name.lower() not in taken:
            taken.add(meta.name.lower())
            duck.register(meta.name, stream)
    return duck


def _meta(client: Client, name: str) -> ModelMeta:
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
    client: Client, tables: Sequence[str] | Mapping[str, TableSpec] | None
) -> list[tuple[ModelMeta, TableSpec]]:
    if tables is None:
        return [(meta, TableSpec()) for meta in client.metas.values()]
    if isinstance(tables, str):
        tables = [tables]
    if isinstance(tables, Mapping):
        return [(_meta(client, name), spec) for name, spec in tables.items()]
    return [(_meta(client, name), TableSpec()) for name in tables]


def export_parquet(
    client: Client,
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
    duck = connect_duckdb(client, tables)
    try:
        for meta, _ in _specs(client, tables):
            table = meta.model.table
            path = target / f"{table}.parquet"
            duck.execute(duck_sql.copy_to_parquet(table), [str(path)])
            if progress is not None:
                counted = duck.execute(duck_sql.parquet_row_count(), [str(path)])
                row = counted.fetchone()
                progress(table, 0 if row is None else int(row[0]))
            written.append(path)
    finally:
        duck.close()
    return written


# -- ready-made queries ------------------------------------------------------------------


@dataclass(frozen=True)
class ReadyQuery:
    """A query over one seed model, run in DuckDB with only the fields it reads exported."""

    name: str
    description: str
    model: str
    fields: tuple[str, ...]
    #: DuckDB SQL over the view named ``{table}`` (`strata.dialects.duckdb`).
    sql: str


QUERIES: dict[str, ReadyQuery] = {
    query.name: query
    for query in (
        ReadyQuery(
            "request-latency",
            "p50 / p95 / p99 request duration (ms) by path (music API RequestLog)",
            "RequestLog",
            ("path", "duration"),
            duck_sql.REQUEST_LATENCY,
        ),
        ReadyQuery(
            "request-latency-by-status",
            "p50 / p95 / p99 request duration (ms) by status class: 2xx, 4xx, 5xx ...",
            "RequestLog",
            ("statusCode", "duration"),
            duck_sql.REQUEST_LATENCY_BY_STATUS,
        ),
        ReadyQuery(
            "error-rate",
            "share of checks per service and hour that found it down, or degraded "
            "(MediaNest ServiceStatusHistory)",
            "ServiceStatusHistory",
            ("serviceId", "status", "checkedAt"),
            duck_sql.ERROR_RATE,
        ),
        ReadyQuery(
            "gpu-utilisation",
            "GPU utilisation (%) per provider per 5 minutes (GPU marketplace ProviderMetric)",
            "ProviderMetric",
            ("providerId", "gpuUsage", "timestamp"),
            duck_sql.GPU_UTILISATION,
        ),
    )
}


def run_query(client: Client, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run the ready-made query ``name`` (see `QUERIES`): its column names and rows."""
    query = QUERIES.get(name)
    if query is None:
        raise ValidationError(
            f"no ready-made query {name!r} (queries: {', '.join(QUERIES)})",
            field="query",
            expected=f"one of {', '.join(QUERIES)}",
        )
    meta = _meta(client, query.model)
    duck = connect_duckdb(client, {query.model: {"columns": query.fields}})
    try:
        result = duck.execute(query.sql.format(table=duck_sql.quote(meta.model.table)))
        columns = [d[0] for d in result.description or ()]
        return columns, result.fetchall()
    finally:
        duck.close()
