"""The studio's SQL box: DuckDB over the analytics views (`strata.Database.analytics_`).

DuckDB reads the tables through Arrow streams from the core, so a query cannot change the
database; it could still read and write files on the machine that serves the studio, so
each connection is confined to a temporary folder of its own (where a download is
written) before it runs the query.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from strata.database import Database
from strata.dialects import duckdb as duck_sql
from strata.errors import ValidationError
from strata.studio.data import to_json

__all__ = ["MEDIA_TYPES", "SHOWN", "download", "run"]

#: Download formats and their media types.
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
#: Rows shown on the page; the downloads hold them all.
SHOWN = 1000


def _checked(sql: Any) -> str:
    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError("the query is empty: write one", expected="SQL text")
    # A trailing semicolon would end the subquery a download wraps the query in.
    return sql.strip().rstrip(";")


def _execute(db: Database, sql: str, folder: str, copy_to: str | None = None) -> Any:
    # Importing strata.analytics first raises MissingExtraError (one line naming the pip
    # command) where DuckDB is not installed.
    import duckdb

    import strata.analytics  # noqa: F401

    duck = db.analytics_()
    try:
        for statement in duck_sql.confine(folder):
            duck.execute(statement)
        if copy_to is None:
            result = duck.execute(sql)
            columns = [d[0] for d in result.description or ()]
            return columns, result.fetchmany(SHOWN + 1) if columns else []
        duck.execute(sql, [copy_to])
        return None
    except duckdb.Error as error:
        raise ValidationError(f"DuckDB: {error}", expected="a valid DuckDB query") from None
    finally:
        duck.close()


def run(db: Database, sql: Any) -> dict[str, Any]:
    """The query's columns and its first `SHOWN` rows as JSON values."""
    with tempfile.TemporaryDirectory(prefix="strata-studio-") as folder:
        columns, rows = _execute(db, _checked(sql), folder)
    return {
        "columns": columns,
        "rows": [[to_json(v) for v in row] for row in rows[:SHOWN]],
        "truncated": len(rows) > SHOWN,
    }


def download(db: Database, sql: Any, format: str) -> tuple[bytes, str]:
    """The whole result as a file in ``format`` (csv or parquet), and its media type."""
    if format not in MEDIA_TYPES:
        raise ValidationError(
            f"the download format is csv or parquet, got {format!r}", expected="csv or parquet"
        )
    with tempfile.TemporaryDirectory(prefix="strata-studio-") as folder:
        path = Path(folder) / f"result.{format}"
        _execute(db, duck_sql.copy_query(_checked(sql), format), folder + "/", str(path))
        return path.read_bytes(), MEDIA_TYPES[format]
