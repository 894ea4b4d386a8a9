"""What the metrics and analytics conformance tests share: writing samples on either
database, and the parts of PostgreSQL's run time these tests stand on.

Metrics and analytics sit on the client (models, filters, value codecs) and ingest on its
bulk writer. On PostgreSQL those are other parts of the same work (the client's query and
codecs parts; the bulk writer's binary ``COPY``): a test that needs one which is not there
yet is skipped saying which, never run against SQLite's SQL. Samples are written by the
bulk writer when it exists, else by plain ``INSERT`` statements through the engine, so
aggregation, rollups, retention and the export are tested either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

import strata
from strata.dialects.values import parse_datetime
from strata.errors import ConfigurationError
from strata.metrics import Metrics

__all__ = ["as_utc", "has_bulk_writer", "needs_bulk_writer", "needs_client", "write_samples"]


def needs_client(db: strata.Database) -> None:
    """Skip on PostgreSQL while its client parts are not written (not on this branch)."""
    dialect = db.dialect_
    try:
        dialect.query  # noqa: B018 - the property raises while the part is missing
        dialect.codecs  # noqa: B018
    except ConfigurationError as missing:
        pytest.skip(f"needs PostgreSQL's client parts: {missing}")


def has_bulk_writer(db: strata.Database) -> bool:
    """Whether the database's dialect writes the bulk writer's statements (PostgreSQL's
    comes with strata.dialects.postgresql.bulk)."""
    try:
        db.dialect_.metrics.bulk_insert('"t"', ['"c"'])
    except ConfigurationError:
        return False
    return True


def needs_bulk_writer(db: strata.Database) -> None:
    """Skip on PostgreSQL while its bulk writer is not written (not on this branch)."""
    if not has_bulk_writer(db):
        pytest.skip("needs PostgreSQL's bulk writer (strata.dialects.postgresql.bulk)")


def as_utc(value: Any) -> datetime:
    """A DateTime read back by raw SQL, as an aware UTC datetime: SQLite's stored text or
    milliseconds, PostgreSQL's ``timestamp`` (naive, UTC) or ``timestamptz``."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return parse_datetime(value)


def write_samples(
    metrics: Metrics, data: Mapping[str, Sequence[Any]] | list[dict[str, Any]]
) -> int:
    """``metrics.ingest(data)``; on PostgreSQL without its bulk writer, the same rows by
    ``INSERT`` statements (a dict of columns or a list of row dicts, plain values)."""
    db = metrics._db
    if has_bulk_writer(db):
        return metrics.ingest(data)
    if isinstance(data, Mapping):
        names = list(data)
        width = len(next(iter(data.values()), []))
        rows = [{name: data[name][i] for name in names} for i in range(width)]
    else:
        rows = list(data)
    meta = metrics._meta
    written = 0
    with db.transaction_():
        for row in rows:
            names = list(row)
            columns = ", ".join(meta.column(name) for name in names)
            marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
            values = [_plain(meta, name, row[name]) for name in names]
            written += db.execute_raw_(
                f"INSERT INTO {meta.table_sql} ({columns}) VALUES ({marks})", *values
            )
    return written


def _plain(meta: Any, name: str, value: Any) -> Any:
    codec = meta.codecs[name]
    return value if value is None else codec.to_sql_element(value)
