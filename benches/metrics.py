"""Metric ingest, aggregation and the Arrow export, each against a peer in the same run.

The data is the GPU-marketplace shape: 200 series (providers), one sample per series per
second, five float values, with the ``(series, time)`` index such models declare. Every
side writes to or reads from its own file in the same temporary directory, with WAL and
``synchronous=NORMAL``.

* ingest (2M rows) through `Metrics.ingest` against Python ``sqlite3`` ``executemany`` of
  pre-encoded tuples, committing every 10,000 rows as ingest does by default: from Python
  objects (a dict of lists of str, datetime and float) 1.0x, from a pyarrow Table, read by
  the core through the Arrow C data interface, 1.5x; sqlite-utils ``insert_all`` on a
  stdlib ``sqlite3`` connection (5x); and the native ceiling, the same multi-row INSERTs
  from rows generated in Rust (``_core.ingest_ceiling``), no Python per row (at least 0.7
  of its speed);
* count/avg/min/max per series per minute over 5M rows through `Metrics.aggregate`,
  against SQLite's own ``GROUP BY`` on a computed bucket (1.5x) and against DuckDB over the
  core's Arrow export (1.0x);
* reading 5M rows into DuckDB through the export, against ``sqlite3`` ``fetchall`` (3x);
* a check, not a ratio: ingesting 10M rows from a generator of chunks keeps the peak RSS
  of a child process (its VmHWM) under 300 MB.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

import strata
from _harness import Benchmark, Check, Side, Suite, schema_ddl, sqlite3_peer
from strata.dialects.sqlite import SqliteDialect

SERIES = 200
VALUES = ("cpuUsage", "ramUsage", "gpuUsage", "gpuTemperature", "gpuPowerW")
START = datetime(2026, 11, 22, tzinfo=UTC)

SCHEMA = """datasource db {
  provider = "sqlite"
}

model Metric {
  id             Int      @id @default(autoincrement())
  providerId     String
  timestamp      DateTime
  cpuUsage       Float
  ramUsage       Float
  gpuUsage       Float
  gpuTemperature Float
  gpuPowerW      Float

  @@index([providerId, timestamp])
}
"""
TABLE = '"Metric"'
COLUMNS = ["providerId", "timestamp", *VALUES]
QUOTED = [f'"{c}"' for c in COLUMNS]
INSERT = f"INSERT INTO {TABLE} ({', '.join(QUOTED)}) VALUES ({', '.join('?' * len(COLUMNS))})"
CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"
#: Rows per transaction: ingest's default on SQLite, which the peers use too.
CHUNK = SqliteDialect().metrics.ingest_chunk_rows
#: The inserts the native ceiling writes: the bulk writer's, as the dialect spells them.
NATIVE_INSERT = SqliteDialect().metrics.bulk_insert(TABLE, QUOTED)


def _columns(rows: int) -> dict[str, list[Any]]:
    """The samples as columns: row i is series i % SERIES at second i // SERIES."""
    return {
        "providerId": [f"p{i % SERIES}" for i in range(rows)],
        "timestamp": [START + timedelta(seconds=i // SERIES) for i in range(rows)],
        **{
            name: [((i * 7 + k * 13) % 1000) / 10 for i in range(rows)]
            for k, name in enumerate(VALUES, start=2)
        },
    }


def _tuples(columns: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
    """The same rows as tuples with the timestamp already in strata's stored form: the
    peers get their fastest input, and do no conversion of their own."""
    stamps = [t.isoformat(timespec="milliseconds") for t in columns["timestamp"]]
    return list(zip(columns["providerId"], stamps, *(columns[v] for v in VALUES), strict=True))


@contextmanager
def _strata(path: Path) -> Iterator[strata.Database]:
    schema = path.parent / "schema.prisma"
    schema.write_text(SCHEMA)
    db = strata.connect(path, schema=schema)
    try:
        db.migrate_.push()
        yield db
    finally:
        db.close_()


def _clear_strata(db: strata.Database) -> None:
    db.execute_raw_(f"DELETE FROM {TABLE}")
    db.execute_raw_(CHECKPOINT)


def _clear_sqlite3(conn: sqlite3.Connection) -> None:
    conn.execute(f"DELETE FROM {TABLE}")
    conn.execute(CHECKPOINT)


# --- ingest --------------------------------------------------------------------------------


def _arrow_table(columns: dict[str, list[Any]]) -> Any:
    """The samples as a pyarrow Table (timestamps in microseconds, UTC), built before the
    timing: what a user holding Arrow data (polars, pandas, Parquet) hands ingest."""
    import pyarrow as pa

    return pa.table(
        {
            **columns,
            "providerId": pa.array(columns["providerId"]).dictionary_encode(),
            "timestamp": pa.array(columns["timestamp"], pa.timestamp("us", tz="UTC")),
        }
    )


def _ingest(peer: str, rows: int, *, arrow: bool = False) -> Any:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with _strata(tmp / "strata.db") as db:
            metrics = db.metrics_("Metric", series="providerId", time="timestamp")
            columns = _columns(rows)
            data = _arrow_table(columns) if arrow else columns

            def with_strata(n: int) -> None:
                assert metrics.ingest(data) == rows

            mine = Side(with_strata, lambda: _clear_strata(db))
            if peer == "ceiling":
                with _strata(tmp / "ceiling.db") as other:

                    def ceiling(n: int) -> None:
                        written = strata._core.ingest_ceiling(
                            other,
                            NATIVE_INSERT,
                            rows,
                            SERIES,
                            chunk_rows=CHUNK,
                            start_ms=int(START.timestamp() * 1000),
                            step_ms=1000,
                        )
                        assert written == rows

                    yield mine, Side(ceiling, lambda: _clear_strata(other))
                return
            conn = sqlite3_peer(tmp / f"{peer}.db", schema_ddl(db))
            tuples = _tuples(columns)
            try:
                if peer == "sqlite3":
                    # A commit per CHUNK rows, as ingest commits by default: the same
                    # transactions, so the same pages rewritten to the WAL on each side.
                    chunks = [tuples[i : i + CHUNK] for i in range(0, len(tuples), CHUNK)]

                    def executemany(n: int) -> None:
                        for chunk in chunks:
                            conn.execute("BEGIN")
                            conn.executemany(INSERT, chunk)
                            conn.execute("COMMIT")

                    yield mine, Side(executemany, lambda: _clear_sqlite3(conn))
                else:
                    # A stdlib connection handed in: sqlite-utils would otherwise prefer
                    # pysqlite3, a second SQLite copy (docs/ARCHITECTURE.md, decision 1).
                    utils = sqlite_utils.Database(conn)
                    dicts = [dict(zip(COLUMNS, row, strict=True)) for row in tuples]

                    def insert_all(n: int) -> None:
                        utils["Metric"].insert_all(dicts, batch_size=1000)

                    yield mine, Side(insert_all, lambda: _clear_sqlite3(conn))
            finally:
                conn.close()

    return setup


# --- aggregation and export ----------------------------------------------------------------


@contextmanager
def _filled(tmp: Path, rows: int) -> Iterator[strata.Database]:
    """A database holding `rows` samples, written by the native ingest (setup only)."""
    with _strata(tmp / "filled.db") as db:
        strata._core.ingest_ceiling(
            db,
            NATIVE_INSERT,
            rows,
            SERIES,
            chunk_rows=50_000,
            start_ms=int(START.timestamp() * 1000),
            step_ms=1000,
        )
        db.execute_raw_(CHECKPOINT)
        yield db


GROUP_BY = (
    'SELECT "providerId", strftime(\'%Y-%m-%dT%H:%M:00\', "timestamp") AS bucket, '
    'count("gpuUsage"), avg("gpuUsage"), min("gpuUsage"), max("gpuUsage") '
    f'FROM {TABLE} GROUP BY "providerId", bucket'
)
DUCK_GROUP_BY = (
    "SELECT providerId, time_bucket(INTERVAL 1 MINUTE, timestamp) AS bucket, "
    "count(gpuUsage), avg(gpuUsage), min(gpuUsage), max(gpuUsage) "
    "FROM Metric GROUP BY providerId, bucket"
)


def _aggregate(peer: str, rows: int) -> Any:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with _filled(tmp, rows) as db:
            metrics = db.metrics_("Metric", series="providerId", time="timestamp")
            buckets = SERIES * -(-(rows // SERIES) // 60)

            def with_strata(n: int) -> None:
                out = metrics.aggregate(
                    "1m", values=["gpuUsage"], stats=["count", "avg", "min", "max"]
                )
                assert len(out) == buckets

            if peer == "sqlite":
                conn = sqlite3.connect(db.path_)
                try:

                    def group_by(n: int) -> None:
                        assert len(conn.execute(GROUP_BY).fetchall()) == buckets

                    yield Side(with_strata), Side(group_by)
                finally:
                    conn.close()
            else:
                duck = db.analytics_(
                    {"Metric": {"columns": ["providerId", "timestamp", "gpuUsage"]}}
                )
                try:

                    def with_duckdb(n: int) -> None:
                        assert len(duck.execute(DUCK_GROUP_BY).fetchall()) == buckets

                    yield Side(with_strata), Side(with_duckdb)
                finally:
                    duck.close()

    return setup


def _export(rows: int) -> Any:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with _filled(tmp, rows) as db:
            duck = db.analytics_(["Metric"])
            conn = sqlite3.connect(db.path_)
            try:

                def into_duckdb(n: int) -> None:
                    duck.execute("CREATE OR REPLACE TABLE copied AS SELECT * FROM Metric")

                def fetchall(n: int) -> None:
                    assert len(conn.execute(f"SELECT * FROM {TABLE}").fetchall()) == rows

                yield Side(into_duckdb), Side(fetchall)
            finally:
                conn.close()
                duck.close()

    return setup


# --- bounded memory ----------------------------------------------------------------------

RSS_SCRIPT = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
import strata

directory, rows = Path(sys.argv[1]), int(sys.argv[2])
schema = directory / "schema.prisma"
schema.write_text(sys.argv[3])
db = strata.connect(directory / "rss.db", schema=schema)
db.migrate_.push()
start = datetime(2026, 11, 22, tzinfo=UTC)

def chunks(size=10_000):
    for first in range(0, rows, size):
        ids = range(first, min(rows, first + size))
        yield {
            "providerId": [f"p{i % 200}" for i in ids],
            "timestamp": [start + timedelta(seconds=i // 200) for i in ids],
            **{v: [i % 100 / 1.5 for i in ids] for v in sys.argv[4].split(",")},
        }

written = db.metrics_("Metric", series="providerId", time="timestamp").ingest(chunks())
assert written == rows, written
db.close_()
# VmHWM, the peak resident size of this process image. Not getrusage's ru_maxrss: Linux
# carries that over from the parent across the fork and exec that started this process.
status = Path("/proc/self/status").read_text()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def _peak_rss(quick: bool) -> list[Check]:
    import tempfile

    rows = 300_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp:
        result = subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT, tmp, str(rows), SCHEMA, ",".join(VALUES)],
            capture_output=True,
            text=True,
            check=True,
        )
    peak_mb = int(result.stdout.split()[-1]) / 1024  # VmHWM is in KiB
    return [
        Check(
            name="ingest_peak_rss",
            label=f"peak RSS ingesting {rows:,} rows from a chunk generator",
            value=peak_mb,
            unit="MB",
            limit=300.0,
        )
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    ingest_rows = 50_000 if quick else 2_000_000
    utils_rows = 20_000 if quick else 2_000_000
    scan_rows = 200_000 if quick else 5_000_000
    rounds = 3 if quick else 5
    return [
        Benchmark(
            name="ingest_vs_executemany",
            label=f"ingest {ingest_rows:,} rows, 200 series x 5 values (vs sqlite3 executemany)",
            unit="row",
            size=ingest_rows,
            rounds=rounds,
            setup=_ingest("sqlite3", ingest_rows),
            target=1.0,
        ),
        Benchmark(
            name="arrow_ingest_vs_executemany",
            label=f"ingest {ingest_rows:,} rows from a pyarrow Table (vs sqlite3 executemany)",
            unit="row",
            size=ingest_rows,
            rounds=rounds,
            setup=_ingest("sqlite3", ingest_rows, arrow=True),
            target=1.5,
        ),
        Benchmark(
            name="ingest_vs_sqlite_utils",
            label=f"the same, {utils_rows:,} rows (vs sqlite-utils insert_all)",
            unit="row",
            size=utils_rows,
            rounds=1 if quick else 3,
            setup=_ingest("sqlite_utils", utils_rows),
            target=5.0,
        ),
        Benchmark(
            name="ingest_vs_native_ceiling",
            label=f"the same, {ingest_rows:,} rows (vs rows generated in Rust)",
            unit="row",
            size=ingest_rows,
            rounds=rounds,
            setup=_ingest("ceiling", ingest_rows),
            target=0.7,
        ),
        Benchmark(
            name="aggregate_vs_group_by",
            label=f"count/avg/min/max per series per minute, {scan_rows:,} rows (vs GROUP BY)",
            unit="row",
            size=scan_rows,
            rounds=rounds,
            setup=_aggregate("sqlite", scan_rows),
            target=1.5,
        ),
        Benchmark(
            name="aggregate_vs_duckdb",
            label="the same aggregation (vs DuckDB over the Arrow export)",
            unit="row",
            size=scan_rows,
            rounds=rounds,
            setup=_aggregate("duckdb", scan_rows),
            target=1.0,
        ),
        Benchmark(
            name="export_vs_fetchall",
            label=f"{scan_rows:,} rows into DuckDB via the export (vs sqlite3 fetchall)",
            unit="row",
            size=scan_rows,
            rounds=rounds,
            setup=_export(scan_rows),
            target=3.0,
        ),
    ]


SUITE = Suite(name="metrics", baseline="peer", benchmarks=benchmarks, checks=_peak_rss)
