"""DuckDB over the core's Arrow export: the same answers as the database, without a second
SQLite, on SQLite and PostgreSQL (the `backend` fixture); SQLite-only tests say why."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import strata
from backends import SEEDS, Backend
from metrics_support import needs_client, write_samples
from strata import _core
from strata.analytics import QUERIES, run_query, table_stream
from strata.cli import main
from strata.errors import ValidationError

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def seed_db(directory: Path, name: str) -> strata.Database:
    schema = directory / "schema.prisma"
    shutil.copyfile(SCHEMAS / f"{name}.prisma", schema)
    db = strata.connect(directory / "app.db", schema=schema)
    db.migrate_.push()
    return db


@pytest.fixture
def music(backend: Backend) -> strata.Database:
    db = backend.seed("music_api")
    needs_client(db)
    return db


@pytest.fixture
def sqlite_music(tmp_path: Path) -> Iterator[strata.Database]:
    db = seed_db(tmp_path, "music_api")
    yield db
    db.close_()


def seeded(backend: Backend, name: str) -> strata.Database:
    """Seed ``name`` with its foreign keys off: the tests write child rows alone."""
    db = backend.seed(name)
    needs_client(db)
    if backend.is_postgres:
        db.execute_script_(
            "DO $$ DECLARE r record; BEGIN FOR r IN SELECT conrelid::regclass AS t, conname "
            "FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = current_schema()::regnamespace "
            "LOOP EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname); "
            "END LOOP; END $$"
        )
    else:
        db.execute_script_("PRAGMA foreign_keys = OFF")
    return db


def request_logs(count: int) -> dict[str, list[Any]]:
    paths = ["/tracks", "/albums", "/search", "/users/me"]
    return {
        "id": [str(uuid.uuid4()) for _ in range(count)],
        "method": ["GET" if i % 4 else "POST" for i in range(count)],
        "path": [paths[i % 4] for i in range(count)],
        "statusCode": [(200, 201, 404, 500, 503)[i * 7 % 5] for i in range(count)],
        "duration": [(i * 7919) % 1000 - (50 if i % 13 == 0 else 0) for i in range(count)],
        "ip": [f"10.0.0.{i % 250}" for i in range(count)],
        "userAgent": [None if i % 3 == 0 else "curl/8" for i in range(count)],
        "createdAt": [T0 + timedelta(seconds=i) for i in range(count)],
    }


def ingest_logs(db: strata.Database, count: int) -> None:
    write_samples(db.metrics_("RequestLog", series="path", time="createdAt"), request_logs(count))


# The same SQL, run by the database (through the core) and by DuckDB (over the export).
COMPARABLE = [
    "SELECT count(*), sum(duration), min(duration), max(duration) FROM request_logs",
    "SELECT path, count(*), sum(duration), min(duration), max(duration), avg(duration) "
    "FROM request_logs GROUP BY path ORDER BY path",
    'SELECT "statusCode", count("userAgent"), count(*) FROM request_logs '
    'WHERE duration > 100 GROUP BY "statusCode" ORDER BY "statusCode"',
    "SELECT method, path, count(*) FROM request_logs WHERE path LIKE '/u%' "
    "GROUP BY method, path ORDER BY method, path",
    "SELECT count(DISTINCT ip), max(path) FROM request_logs",
]


@pytest.mark.parametrize("sql", COMPARABLE)
def test_duckdb_answers_as_sqlite_does(music: strata.Database, sql: str) -> None:
    ingest_logs(music, 2000)
    # PostgreSQL's avg() of integers is numeric, DuckDB's a double.
    expected = [
        tuple(float(v) if isinstance(v, Decimal) else v for v in row)
        for row in music.query_raw_(sql, as_tuples=True)
    ]
    duck = music.analytics_()
    try:
        actual = duck.execute(sql).fetchall()
    finally:
        duck.close()
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got == pytest.approx(want)


@given(
    durations=st.lists(st.integers(-1000, 100_000) | st.none(), max_size=80),
    threshold=st.integers(-1000, 100_000),
)
def test_duckdb_matches_sqlite_on_random_data(
    tmp_path_factory: pytest.TempPathFactory, durations: list[int | None], threshold: int
) -> None:
    # SQLite only: the core's export of raw SQL; PostgreSQL's is test_metrics_postgresql.py's.
    db = strata.connect(tmp_path_factory.mktemp("duck") / "t.db")
    try:
        db.execute_script_(
            'CREATE TABLE "t" ("g" INTEGER, "v" INTEGER, "x" REAL); CREATE TABLE "u" ("id" INTEGER)'
        )
        db.execute_many_raw_(
            'INSERT INTO "t" VALUES (?, ?, ?)',
            [(i % 3, v, None if v is None else v / 7) for i, v in enumerate(durations)],
        )
        stream = _core.ArrowStream.query(
            db,
            'SELECT "g", "v", "x" FROM "t"',
            (),
            [("g", "int64"), ("v", "int64"), ("x", "float64")],
        )
        duck = duckdb.connect()
        duck.register("t", stream)
        sql = (
            "SELECT g, count(v), sum(v), min(v), max(v), avg(x) FROM t "
            f"WHERE v IS NULL OR v > {threshold} GROUP BY g ORDER BY g"
        )
        got = duck.execute(sql).fetchall()
        duck.close()
        want = db.query_raw_(sql, as_tuples=True)
        assert [tuple(pytest.approx(v) for v in row) for row in want] == got
    finally:
        db.close_()


def test_views_are_requeryable_and_see_new_commits(music: strata.Database) -> None:
    ingest_logs(music, 10)
    duck = music.analytics_(["RequestLog"])
    try:
        assert duck.execute("SELECT count(*) FROM request_logs").fetchall() == [(10,)]
        assert duck.execute("SELECT count(*) FROM RequestLog").fetchall() == [(10,)]
        ingest_logs(music, 5)
        assert duck.execute("SELECT count(*) FROM request_logs").fetchall() == [(15,)]
        assert duck.execute("SELECT min(createdAt) FROM request_logs").fetchall() == [(T0,)]
    finally:
        duck.close()


def test_columns_and_filters_are_pushed_into_the_export(music: strata.Database) -> None:
    ingest_logs(music, 400)
    statements: list[str] = []
    music.set_tracer_(lambda sql, params: statements.append(sql))
    stream = table_stream(
        music.client_, "RequestLog", ["path", "duration"], {"statusCode": {"gte": 500}}
    )
    table = pa.table(stream)
    assert table.column_names == ["path", "duration"]
    expected = music.query_raw_('SELECT count(*) AS n FROM request_logs WHERE "statusCode" >= 500')
    assert table.num_rows == expected[0]["n"]
    duck = music.analytics_({"RequestLog": {"columns": ["path"], "where": {"path": "/search"}}})
    try:
        assert duck.execute("SELECT DISTINCT path FROM request_logs").fetchall() == [("/search",)]
        columns = duck.execute("DESCRIBE request_logs").fetchall()
        assert [c[0] for c in columns] == ["path"]
    finally:
        duck.close()
    with pytest.raises(ValidationError, match="has no field 'nope'"):
        table_stream(music.client_, "RequestLog", ["nope"])
    with pytest.raises(ValidationError, match="no model or table 'Nope'"):
        music.analytics_(["Nope"])


def test_duckdb_never_opens_the_sqlite_file(sqlite_music: strata.Database) -> None:
    music = sqlite_music
    ingest_logs(music, 10)
    duck = music.analytics_()
    try:
        duck.execute("SELECT count(*) FROM request_logs").fetchall()
        paths = [row[0] for row in duck.execute("SELECT path FROM duckdb_databases()").fetchall()]
        assert not any(p and p.endswith("app.db") for p in paths)
        extensions = duck.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
        assert ("sqlite_scanner",) not in extensions
    finally:
        duck.close()
    assert len(_core.loaded_sqlite_copies()) == 1


def test_streams_work_without_pyarrow(tmp_path: Path) -> None:
    """DuckDB reads the core's capsule directly: pyarrow is a test dependency only. (On
    SQLite: the capsule is the same whichever database fills it.)"""
    script = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"
        "import strata\n"
        f"db = strata.connect({str(tmp_path / 't.db')!r})\n"
        "db.execute_script_('CREATE TABLE t (x INTEGER)')\n"
        "db.execute_many_raw_('INSERT INTO t VALUES (?)', [(i,) for i in range(100000)])\n"
        "import duckdb\n"
        "duck = duckdb.connect()\n"
        "duck.register('t', strata._core.ArrowStream.query(db, 'SELECT x FROM t', (), "
        "[('x', 'int64')]))\n"
        "print(duck.execute('SELECT sum(x) FROM t').fetchall())\n"
        "print(duck.execute('SELECT count(*) FROM t').fetchall())\n"
        "duck.close()\n"
        "assert 'pyarrow' not in sys.modules or sys.modules['pyarrow'] is None\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[(4999950000,)]", "[(100000,)]"]


def test_an_abandoned_scan_stops_the_query_and_frees_the_reader(music: strata.Database) -> None:
    ingest_logs(music, 200_000 // 100)
    duck = music.analytics_(["RequestLog"])
    try:
        for _ in range(20):  # more scans than the reader pool holds connections
            assert len(duck.execute("SELECT * FROM request_logs LIMIT 3").fetchall()) == 3
    finally:
        duck.close()


def test_errors_in_a_stream_reach_duckdb(tmp_path: Path) -> None:
    # SQLite only: a column holding another storage class; PostgreSQL's columns are typed.
    db = strata.connect(tmp_path / "t.db")
    try:
        db.execute_script_("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('not a number')")
        duck = duckdb.connect()
        duck.register("t", _core.ArrowStream.query(db, "SELECT x FROM t", (), [("x", "int64")]))
        with pytest.raises(duckdb.Error, match="cannot be exported"):
            duck.execute("SELECT * FROM t").fetchall()
        duck.close()
    finally:
        db.close_()


DOCUMENTS = """datasource db {
  provider = "sqlite"
}

model Document {
  id   Int    @id
  body String
}

model Reading {
  id    Int @id
  value Int
}
"""

MIB = 1 << 20


def documents_db(directory: Path) -> strata.Database:
    schema = directory / "schema.prisma"
    schema.write_text(DOCUMENTS)
    db = strata.connect(directory / "app.db", schema=schema)
    db.migrate_.push()
    return db


@pytest.mark.slow
def test_gigabytes_of_text_arrive_whole(tmp_path: Path) -> None:
    """SQLite only (2 GiB on disk). 2,100 rows of 1 MiB text: more than one Arrow string
    array's 32-bit offsets reach. The export cuts batches by bytes too, so DuckDB sees every
    row. (It used to see none: building the first batch panicked the export thread, and the
    stream ended as if the table were empty.)"""
    rows = 2100
    db = documents_db(tmp_path)
    try:
        for start in range(0, rows, 100):  # built by SQLite: Python never holds 2 GiB
            db.execute_raw_(
                'INSERT INTO "Document" (id, body) WITH RECURSIVE n(i) AS '
                "(SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i, "
                "printf('%08d', i) || replace(hex(zeroblob(?)), '0', char(65 + i % 26)) FROM n",
                start,
                start + 99,
                (MIB - 8) // 2,
            )
        duck = db.analytics_(["Document"])
        try:
            found = duck.execute(
                "SELECT count(*), sum(strlen(body)), "
                "md5(string_agg(md5(body), ',' ORDER BY id)) FROM Document"
            ).fetchone()
        finally:
            duck.close()
    finally:
        db.close_()
        for file in tmp_path.glob("app.db*"):
            file.unlink()  # 2 GiB: do not leave it for pytest's kept temporary directories
    digests = (
        hashlib.md5((f"{i:08d}" + chr(65 + i % 26) * (MIB - 8)).encode()).hexdigest()
        for i in range(rows)
    )
    checksum = hashlib.md5(",".join(digests).encode()).hexdigest()
    assert found == (rows, rows * MIB, checksum)


def test_a_failure_after_the_first_batches_raises_instead_of_ending_short(
    tmp_path: Path,
) -> None:
    # SQLite only: a value another client wrote that the column's type cannot hold.
    db = documents_db(tmp_path)
    try:
        db.execute_many_raw_(
            'INSERT INTO "Reading" (id, value) VALUES (?, ?)', ((i, i) for i in range(100_000))
        )
        # Written by another client, after the first full batch: no Int can hold it.
        db.execute_raw_("INSERT INTO \"Reading\" (id, value) VALUES (100000, 'n/a')")
        duck = db.analytics_(["Reading"])
        try:
            with pytest.raises(duckdb.Error, match="cannot be exported as Int64"):
                duck.execute("SELECT count(*) FROM Reading").fetchall()
        finally:
            duck.close()
    finally:
        db.close_()


def test_closing_the_handle_ends_a_stream_with_an_error(backend: Backend) -> None:
    db = backend.connect(DOCUMENTS)
    needs_client(db)
    if backend.is_postgres:
        db.execute_raw_(
            'INSERT INTO "Reading" (id, value) SELECT g, g FROM generate_series(0, 299999) AS g'
        )
    else:
        db.execute_many_raw_(
            'INSERT INTO "Reading" (id, value) VALUES (?, ?)', ((i, i) for i in range(300_000))
        )
    reader = pa.RecordBatchReader.from_stream(table_stream(db.client_, "Reading"))
    assert reader.read_next_batch().num_rows == 65_536
    db.close_()
    with pytest.raises(pa.ArrowException, match="closed"):
        reader.read_all()


# -- ready-made queries -----------------------------------------------------------------


def test_request_latency_percentiles(music: strata.Database) -> None:
    logs = request_logs(1000)
    write_samples(music.metrics_("RequestLog", series="path", time="createdAt"), logs)
    columns, rows = run_query(music.client_, "request-latency")
    assert columns == ["path", "requests", "p50", "p95", "p99"]
    for path, requests, p50, p95, p99 in rows:
        durations = [d for p, d in zip(logs["path"], logs["duration"], strict=True) if p == path]
        assert requests == len(durations)
        assert [p50, p95, p99] == pytest.approx(list(np.percentile(durations, [50, 95, 99])))
    _, by_status = run_query(music.client_, "request-latency-by-status")
    assert [row[0] for row in by_status] == ["2xx", "4xx", "5xx"]
    assert sum(row[1] for row in by_status) == 1000


def test_error_rate_per_service_per_hour(backend: Backend) -> None:
    db = seeded(backend, "medianest")  # services are not the point here
    try:
        statuses = ["up", "up", "down", "degraded"]
        history = db.metrics_("ServiceStatusHistory", series="serviceId", time="checkedAt")
        write_samples(
            history,
            {
                "id": [str(uuid.uuid4()) for _ in range(8)],
                "serviceId": [1] * 8,
                "status": statuses * 2,
                "checkedAt": [T0 + timedelta(minutes=20 * i) for i in range(8)],
            },
        )
        columns, rows = run_query(db.client_, "error-rate")
        assert columns == ["serviceId", "hour", "checks", "error_rate", "degraded_rate"]
        assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
            (T0, 3, pytest.approx(1 / 3), 0.0),
            (T0 + timedelta(hours=1), 3, 0.0, pytest.approx(1 / 3)),
            (T0 + timedelta(hours=2), 2, 0.5, 0.5),
        ]
    finally:
        db.close_()


def test_gpu_utilisation_agrees_with_the_core(backend: Backend) -> None:
    db = seeded(backend, "gpu_marketplace")  # providers are not the point here
    try:
        metrics = db.metrics_("ProviderMetric", series="providerId", time="timestamp")
        count = 600
        write_samples(
            metrics,
            {
                "id": [f"m{i}" for i in range(count)],
                "providerId": [f"p{i % 4}" for i in range(count)],
                "cpuUsage": [1.0] * count,
                "ramUsage": [2.0] * count,
                "gpuUsage": [float(i * 37 % 100) for i in range(count)],
                "gpuTemperature": [60.0] * count,
                "gpuMemoryUsedMb": [1024] * count,
                "timestamp": [T0 + timedelta(seconds=7 * i) for i in range(count)],
            },
        )
        _, rows = run_query(db.client_, "gpu-utilisation")
        core = metrics.aggregate("5m", values=["gpuUsage"], stats=["count", "avg", "max", "p95"])
        assert [(r[0], r[1], r[2]) for r in rows] == [
            (c["providerId"], c["bucket"], c["gpuUsage_count"]) for c in core
        ]
        for row, c in zip(rows, core, strict=True):
            assert row[3:] == pytest.approx(
                (c["gpuUsage_avg"], c["gpuUsage_max"], c["gpuUsage_p95"])
            )
        # The seed declares a rollup model for its metrics.
        minutes = metrics.aggregate("1m", values=["gpuUsage"], stats=["count"])
        assert metrics.rollup(into="ProviderMetricRollup", every="1m") == len(minutes)
        rolled = db.query_raw_('SELECT sum("gpuUsage_count") AS n FROM "ProviderMetricRollup"')
        assert rolled == [{"n": count}]
    finally:
        db.close_()


def test_every_ready_query_is_described() -> None:
    assert set(QUERIES) == {
        "request-latency",
        "request-latency-by-status",
        "error-rate",
        "gpu-utilisation",
    }


# -- the command line ---------------------------------------------------------------------


def test_cli_analytics_and_parquet_export(
    backend: Backend, music: strata.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_logs(music, 300)
    if backend.is_postgres:
        monkeypatch.setenv("DATABASE_URL", backend.url)
        schema = str(SEEDS / "music_api.postgresql.prisma")
    else:
        monkeypatch.setenv("DATABASE_URL", f"file:{backend.url}")
        schema = str(SEEDS / "music_api.prisma")
    runner = CliRunner()
    result = runner.invoke(
        main, ["analytics", "SELECT count(*) AS n FROM request_logs", "--schema", schema]
    )
    assert result.exit_code == 0, result.output
    assert "300" in result.output
    result = runner.invoke(main, ["analytics", "--query", "request-latency", "--schema", schema])
    assert result.exit_code == 0, result.output
    assert "/search" in result.output
    assert "p95" in result.output
    result = runner.invoke(main, ["analytics", "SELECT nonsense FROM nowhere", "--schema", schema])
    assert result.exit_code == 1
    assert "nowhere" in result.output

    out = tmp_path / "parquet"
    result = runner.invoke(main, ["export", "parquet", str(out), "--schema", schema])
    assert result.exit_code == 0, result.output
    exported = sorted(p.name for p in out.iterdir())
    assert "request_logs.parquet" in exported
    duck = duckdb.connect()
    try:
        counted = duck.execute(
            "SELECT count(*), sum(duration) FROM read_parquet(?)",
            [str(out / "request_logs.parquet")],
        ).fetchall()
    finally:
        duck.close()
    assert counted == music.query_raw_(
        "SELECT count(*), sum(duration) FROM request_logs", as_tuples=True
    )
    result = runner.invoke(
        main, ["export", "parquet", str(tmp_path / "one"), "-t", "RequestLog", "--schema", schema]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["request_logs.parquet"]
