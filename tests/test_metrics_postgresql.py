"""Metrics and the Arrow export on PostgreSQL, at the core's level: the statements of the
PostgreSQL metrics dialect run by `strata._core.Aggregator` and `strata._core.ArrowStream`
on a real server, checked against the server's own answers and exact references.

These need no client part (rows are written with plain SQL through the engine), so they
test the core's decoding of PostgreSQL's binary results on their own; the features'
behaviour on both databases is in tests/test_metrics.py and tests/test_analytics.py.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

import strata
from metrics_support import needs_client
from strata._core import Aggregator, ArrowStream
from strata.cli import main
from strata.dialects.postgresql import metrics as pg_metrics
from strata.schema import load_schema

SCHEMA = """datasource db {
  provider = "postgresql"
}

enum Level {
  info
  warn @map("warning")
}

model Sample {
  id   Int      @id @default(autoincrement())
  host String
  at   DateTime
  cpu  Float?
  mem  Int?

  @@index([host, at])
}

model SampleRollup {
  id        Int      @id @default(autoincrement())
  host      String
  bucket    DateTime
  cpu_count Int
  cpu_sum   Float?
  cpu_min   Float?
  cpu_max   Float?

  @@unique([host, bucket])
}

model Typed {
  id      BigInt   @id
  price   Decimal  @db.Decimal(24, 8)
  wide    Decimal?
  at      DateTime @db.Timestamptz(3)
  fine    DateTime @db.Timestamp(6)
  plain   DateTime
  day     DateTime @db.Date
  meta    Json
  level   Level
  ok      Boolean
  blob    Bytes
  tags    String[]
  ratio   Float
  label   String   @db.VarChar(20)
}
"""

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATS = ["count", "sum", "avg", "min", "max", "p50", "p95", "p99"]


@pytest.fixture
def db(pg_url: str, tmp_path: Path) -> Iterator[strata.Database]:
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA)
    database = strata.connect(pg_url, schema=schema)
    database.migrate_.push()
    yield database
    database.close_()


def field(name: str, model: str = "Typed") -> Any:
    schema = load_schema(SCHEMA)
    return next(m for m in schema.models if m.name == model).field(name)


def insert_samples(db: strata.Database, rows: list[tuple[str, datetime, Any, Any]]) -> None:
    db.execute_many_raw_('INSERT INTO "Sample" (host, at, cpu, mem) VALUES ($1, $2, $3, $4)', rows)


def aggregator(db: strata.Database, values: list[tuple[str, bool]]) -> Aggregator:
    source = pg_metrics.source_sql('"Sample"', '"host"', '"at"', [f'"{v}"' for v, _ in values])
    inputs = [("raw", [f'"{v}"'], integer) for v, integer in values]
    return Aggregator(db, '"Sample"', '"at"', source, inputs, "native", "utf8")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_percentiles_are_exact(db: strata.Database) -> None:
    chance = random.Random(15)
    rows = []
    for host in ("a", "b", "c"):
        for step in range(900):
            value = None if step % 97 == 0 else chance.uniform(-1e3, 1e3)
            at = T0 + timedelta(seconds=step * 7, milliseconds=chance.randrange(1000))
            rows.append((host, at, value, chance.randrange(-1000, 1000)))
    insert_samples(db, rows)
    got = aggregator(db, [("cpu", False), ("mem", True)]).aggregate(
        600_000,
        [(index, stat) for index in range(2) for stat in STATS],
        [f"{name}_{stat}" for name in ("cpu", "mem") for stat in STATS],
        "host",
        "TRUE",
        (),
    )
    groups: dict[tuple[str, int], list[tuple[Any, Any]]] = {}
    for host, at, cpu, mem in rows:
        ms = (at - EPOCH) // timedelta(milliseconds=1)
        groups.setdefault((host, ms - ms % 600_000), []).append((cpu, mem))
    assert [(r["host"], r["bucket"]) for r in got] == [
        (host, EPOCH + timedelta(milliseconds=start)) for host, start in sorted(groups)
    ]
    for row in got:
        ms = (row["bucket"] - EPOCH) // timedelta(milliseconds=1)
        members = groups[(row["host"], ms)]
        for index, name in enumerate(("cpu", "mem")):
            present = [m[index] for m in members if m[index] is not None]
            assert row[f"{name}_count"] == len(present)
            for stat, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                assert row[f"{name}_{stat}"] == quantile(present, q), (name, stat)
            assert row[f"{name}_min"] == min(present)
            assert row[f"{name}_max"] == max(present)
        assert row["mem_sum"] == sum(m[1] for m in members)
        assert isinstance(row["mem_sum"], int)
    # The server's own percentile_cont interpolates the same way, to the last bit.
    server = db.query_raw_(
        "SELECT host, floor(extract(epoch FROM at) * 1000 / 600000)::bigint, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY mem) "
        'FROM "Sample" GROUP BY 1, 2 ORDER BY 1, 2',
        as_tuples=True,
    )
    assert [(r["cpu_p95"], r["mem_p99"]) for r in got] == [(a, b) for _, _, a, b in server]


def test_filters_use_postgresql_placeholders(db: strata.Database) -> None:
    insert_samples(
        db,
        [("a", T0 + timedelta(minutes=m), float(m), m) for m in range(10)]
        + [("b", T0 + timedelta(minutes=m), float(-m), -m) for m in range(10)],
    )
    got = aggregator(db, [("cpu", False)]).aggregate(
        3_600_000,
        [(0, "count"), (0, "sum")],
        ["cpu_count", "cpu_sum"],
        "host",
        "t0.at >= $1 AND t0.host = $2",
        (T0 + timedelta(minutes=4), "a"),
    )
    assert got == [{"host": "a", "bucket": T0, "cpu_count": 6, "cpu_sum": 39.0}]


def test_aggregate_as_arrow(db: strata.Database) -> None:
    insert_samples(db, [("a", T0 + timedelta(seconds=s), float(s), s) for s in range(120)])
    stream = aggregator(db, [("cpu", False), ("mem", True)]).aggregate(
        60_000,
        [(0, "avg"), (1, "sum")],
        ["cpu_avg", "mem_sum"],
        "host",
        "TRUE",
        (),
        arrow=True,
    )
    table = pa.table(stream)
    assert table.schema.field("bucket").type == pa.timestamp("ms", tz="UTC")
    assert table.to_pydict() == {
        "host": ["a", "a"],
        "bucket": [T0, T0 + timedelta(minutes=1)],
        "cpu_avg": [29.5, 89.5],
        "mem_sum": [sum(range(60)), sum(range(60, 120))],
    }


def rollup_target() -> dict[str, Any]:
    columns = [f'"cpu_{stat}"' for stat in ("count", "sum", "min", "max")]
    return dict(pg_metrics.rollup_sql('"SampleRollup"', '"host"', '"bucket"', columns))


def rolled(db: strata.Database) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in db.query_raw_(
            'SELECT host, bucket, cpu_count, cpu_sum, cpu_min, cpu_max FROM "SampleRollup" '
            "ORDER BY host, bucket",
            as_tuples=True,
        )
    ]


def test_rollups_rewrite_from_the_watermark_through_a_cursor(db: strata.Database) -> None:
    outputs = [(0, stat) for stat in ("count", "sum", "min", "max")]
    insert_samples(db, [("a", T0, 1.0, None), ("a", T0 + timedelta(seconds=70), 2.0, None)])
    agg = aggregator(db, [("cpu", False)])
    assert agg.rollup(60_000, outputs, rollup_target(), "native") == 2
    insert_samples(
        db,
        [
            ("a", T0 + timedelta(seconds=80), 4.0, None),
            ("a", T0 + timedelta(seconds=130), 8.0, None),
            # Before the watermark: picked up only with a lookback.
            ("a", T0 + timedelta(seconds=5), 16.0, None),
        ],
    )
    assert agg.rollup(60_000, outputs, rollup_target(), "native") == 2
    naive = T0.replace(tzinfo=None)
    assert rolled(db) == [
        ("a", naive, 1, 1.0, 1.0, 1.0),
        ("a", naive + timedelta(minutes=1), 2, 6.0, 2.0, 4.0),
        ("a", naive + timedelta(minutes=2), 1, 8.0, 8.0, 8.0),
    ]
    assert agg.rollup(60_000, outputs, rollup_target(), "native", lookback_ms=180_000) == 3
    assert rolled(db)[0] == ("a", naive, 2, 17.0, 1.0, 16.0)
    # The rollup's transaction is over: the cursor is closed and nothing is held.
    assert not db.in_transaction_


def test_a_rollup_of_many_buckets_writes_them_all(db: strata.Database) -> None:
    # More rows than one cursor fetch and more buckets than one insert statement.
    db.execute_raw_(
        'INSERT INTO "Sample" (host, at, cpu) SELECT '
        "'h' || (g % 3), timestamp '2026-11-22 09:00' + g * interval '1 second', g "
        "FROM generate_series(0, 29999) AS g"
    )
    outputs = [(0, stat) for stat in ("count", "sum", "min", "max")]
    written = aggregator(db, [("cpu", False)]).rollup(1000, outputs, rollup_target(), "native")
    assert written == 30_000
    ((count, total),) = db.query_raw_(
        'SELECT sum(cpu_count), sum(cpu_sum) FROM "SampleRollup"', as_tuples=True
    )
    assert (count, total) == (30_000, sum(range(30_000)))


def test_a_failed_rollup_writes_nothing(db: strata.Database) -> None:
    insert_samples(db, [("a", T0, 1.0, None)])
    target = rollup_target()
    target["insert_json"] = target["insert_json"].replace('"cpu_max"', '"no_such_column"', 1)
    with pytest.raises(strata.StrataError):
        aggregator(db, [("cpu", False)]).rollup(
            60_000, [(0, s) for s in ("count", "sum", "min", "max")], target, "native"
        )
    assert rolled(db) == []
    assert not db.in_transaction_


def test_retention_deletes_in_bounded_batches(db: strata.Database) -> None:
    insert_samples(db, [("a", T0 + timedelta(seconds=s), 1.0, None) for s in range(25)])
    sql = pg_metrics.retain_batch_sql('"Sample"', '"at"')
    cutoff = T0 + timedelta(seconds=20)
    assert db.execute_raw_(sql, cutoff, 8) == 8
    assert db.execute_raw_(sql, cutoff, 8) == 8
    assert db.execute_raw_(sql, cutoff, 8) == 4
    assert db.execute_raw_(sql, cutoff, 8) == 0
    ((left,),) = db.query_raw_(pg_metrics.row_count_sql('"Sample"'), as_tuples=True)
    assert left == 5


TYPED = [
    "id",
    "price",
    "wide",
    "at",
    "fine",
    "plain",
    "day",
    "meta",
    "level",
    "ok",
    "blob",
    "tags",
    "ratio",
    "label",
]


def typed_stream(db: strata.Database, condition: str = "TRUE") -> ArrowStream:
    columns = [f'"{name}"' for name in TYPED]
    sql = pg_metrics.export_sql('"Typed"', columns, condition)
    kinds = [(name, pg_metrics.export_kind(field(name))) for name in TYPED]
    return ArrowStream.query(db, sql, (), kinds)


def test_arrow_types_and_values_are_exact(db: strata.Database) -> None:
    db.execute_raw_(
        'INSERT INTO "Typed" VALUES (9007199254740993, 12345678901234.12345678, '
        "123.456, '2026-11-22 09:30:00.123+00', '2026-11-22 09:30:00.123456', "
        "'1969-12-31 23:59:59.999', '2026-11-22', '{\"b\": [1, 2.5], \"a\": null}', "
        "'warning', true, '\\x00ff10', ARRAY['x', 'y \"q\"'], 0.1, 'label')"
    )
    db.execute_raw_(
        'INSERT INTO "Typed" VALUES (-1, -0.00000001, NULL, '
        "'1970-01-01 00:00:00+00', '1970-01-01 00:00:00', '2000-01-01 00:00:00', "
        "'1970-01-01', 'null', 'info', false, '', '{}', '-0'::float8, '')"
    )
    table = pa.table(typed_stream(db))
    assert dict(zip(table.schema.names, table.schema.types, strict=True)) == {
        "id": pa.int64(),
        "price": pa.decimal128(24, 8),
        "wide": pa.float64(),
        "at": pa.timestamp("ms", tz="UTC"),
        "fine": pa.timestamp("us", tz="UTC"),
        "plain": pa.timestamp("ms", tz="UTC"),
        "day": pa.timestamp("ms", tz="UTC"),
        "meta": pa.string(),
        "level": pa.string(),
        "ok": pa.bool_(),
        "blob": pa.binary(),
        "tags": pa.string(),
        "ratio": pa.float64(),
        "label": pa.string(),
    }
    assert table.to_pylist()[0] == {
        "id": 9007199254740993,
        "price": Decimal("12345678901234.12345678"),
        "wide": 123.456,
        "at": datetime(2026, 11, 22, 9, 30, 0, 123000, tzinfo=UTC),
        "fine": datetime(2026, 11, 22, 9, 30, 0, 123456, tzinfo=UTC),
        "plain": datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        "day": datetime(2026, 11, 22, tzinfo=UTC),
        "meta": '{"a": null, "b": [1, 2.5]}',
        "level": "warning",
        "ok": True,
        "blob": b"\x00\xff\x10",
        "tags": '["x","y \\"q\\""]',
        "ratio": 0.1,
        "label": "label",
    }
    second = table.to_pylist()[1]
    assert second["price"] == Decimal("-0.00000001")
    assert second["wide"] is None
    assert second["meta"] == "null"
    assert second["tags"] == "[]"
    assert second["blob"] == b""
    assert math.copysign(1.0, second["ratio"]) == -1.0


def test_a_value_the_arrow_type_cannot_hold_is_an_error(db: strata.Database) -> None:
    sql = 'SELECT 12345.678::numeric AS "n"'
    with pytest.raises(Exception, match=r"12345\.678 does not fit decimal128\(6, 2\)"):
        pa.table(ArrowStream.query(db, sql, (), [("n", "decimal128(6,2)")]))
    with pytest.raises(Exception, match="cannot be exported as"):
        pa.table(ArrowStream.query(db, "SELECT 'x'::text", (), [("n", "int64")]))


def test_a_large_export_streams_in_batches(db: strata.Database) -> None:
    rows = 300_000
    db.execute_raw_(
        'INSERT INTO "Sample" (host, at, cpu, mem) SELECT '
        "'h' || (g % 7), timestamp '2026-11-22' + g * interval '1 millisecond', g * 0.5, g "
        f"FROM generate_series(1, {rows}) AS g"
    )
    sql = pg_metrics.export_sql('"Sample"', ['"host"', '"at"', '"cpu"', '"mem"'], "TRUE")
    kinds = [("host", "utf8"), ("at", "timestamp"), ("cpu", "float64"), ("mem", "int64")]
    reader = pa.RecordBatchReader.from_stream(ArrowStream.query(db, sql, (), kinds))
    sizes = []
    total = 0
    for batch in reader:
        sizes.append(batch.num_rows)
        total += sum(batch.column("mem").to_pylist())
    assert sum(sizes) == rows
    assert max(sizes) <= 65_536
    assert len(sizes) >= rows // 65_536
    assert total == rows * (rows + 1) // 2


def test_an_abandoned_stream_closes_its_own_connection(db: strata.Database) -> None:
    db.execute_raw_(
        'INSERT INTO "Sample" (host, at, cpu) SELECT '
        "'h', timestamp '2026-11-22' + g * interval '1 second', g "
        "FROM generate_series(1, 200000) AS g"
    )
    count = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    ((before,),) = db.query_raw_(count, as_tuples=True)
    sql = pg_metrics.export_sql('"Sample"', ['"cpu"'], "TRUE")
    reader = pa.RecordBatchReader.from_stream(ArrowStream.query(db, sql, (), [("cpu", "float64")]))
    first = reader.read_next_batch()
    assert first.num_rows == 65_536
    ((during,),) = db.query_raw_(count, as_tuples=True)
    assert during == before + 1  # a connection of its own, not a pooled one
    reader.close()
    del reader
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while datetime.now(UTC) < deadline:
        ((after,),) = db.query_raw_(count, as_tuples=True)
        if after == before:
            break
    assert after == before


def test_export_kinds_follow_the_native_types() -> None:
    kind = pg_metrics.export_kind
    assert kind(field("price")) == "decimal128(24,8)"
    assert kind(field("wide")) == "float64"
    assert kind(field("fine")) == "timestamp_us"
    assert kind(field("at")) == "timestamp"
    assert kind(field("level")) == "utf8"
    assert kind(field("tags")) == "utf8"


def test_duckdb_reads_the_stream_and_sees_its_errors(db: strata.Database) -> None:
    insert_samples(db, [("a", T0 + timedelta(seconds=s), s * 0.25, s) for s in range(1000)])
    sql = pg_metrics.export_sql('"Sample"', ['"host"', '"at"', '"cpu"', '"mem"'], "TRUE")
    kinds = [("host", "utf8"), ("at", "timestamp"), ("cpu", "float64"), ("mem", "int64")]
    duck = duckdb.connect()
    try:
        duck.register("samples", ArrowStream.query(db, sql, (), kinds))
        got = duck.execute('SELECT count(*), sum(mem), max(cpu), min("at") FROM samples').fetchall()
        assert got == [(1000, sum(range(1000)), 999 * 0.25, T0)]
        # A view over the stream answers again, seeing a later commit.
        insert_samples(db, [("b", T0, 1.0, 1)])
        assert duck.execute("SELECT count(*) FROM samples").fetchall() == [(1001,)]
        bad = ArrowStream.query(db, 'SELECT "host" FROM "Sample"', (), [("host", "int64")])
        duck.register("bad", bad)
        with pytest.raises(duckdb.Error, match="cannot be exported as Int64"):
            duck.execute("SELECT * FROM bad").fetchall()
    finally:
        duck.close()


ROLLER = """
import sys
import strata
from strata._core import Aggregator
from strata.dialects.postgresql import metrics as m

db = strata.connect(sys.argv[1])
source = m.source_sql('"Sample"', '"host"', '"at"', ['"cpu"'])
agg = Aggregator(db, '"Sample"', '"at"', source, [("raw", ['"cpu"'], False)], "native", "utf8")
columns = [f'"cpu_{s}"' for s in ("count", "sum", "min", "max")]
target = dict(m.rollup_sql('"SampleRollup"', '"host"', '"bucket"', columns))
if sys.argv[2] == "unlocked":
    target["lock"] = "SELECT 1"
for _ in range(5):
    agg.rollup(60_000, [(0, s) for s in ("count", "sum", "min", "max")], target, "native",
               lookback_ms=600_000)
db.close_()
"""


def start_rollers(url: str, mode: str) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", ROLLER, url, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]


def test_rollups_from_several_processes_run_one_after_another(
    db: strata.Database, pg_url: str
) -> None:
    db.execute_raw_(
        'INSERT INTO "Sample" (host, at, cpu) SELECT '
        "'h' || (g % 5), timestamp '2026-11-22 09:00' + g * interval '250 milliseconds', g % 97 "
        "FROM generate_series(0, 39999) AS g"
    )
    results = [p.communicate(timeout=120) for p in start_rollers(pg_url, "locked")]
    assert all(not err for _, err in results), results
    expected = aggregator(db, [("cpu", False)]).aggregate(
        60_000,
        [(0, s) for s in ("count", "sum", "min", "max")],
        [f"cpu_{s}" for s in ("count", "sum", "min", "max")],
        "host",
        "TRUE",
        (),
    )
    assert rolled(db) == [
        (
            r["host"],
            r["bucket"].replace(tzinfo=None),
            *(
                float(r[f"cpu_{s}"]) if s != "count" else r[f"cpu_{s}"]
                for s in ("count", "sum", "min", "max")
            ),
        )
        for r in expected
    ]


READER = """
import sys
import duckdb
import strata
from strata._core import ArrowStream

db = strata.connect(sys.argv[1])
stream = ArrowStream.query(db, 'SELECT "label" FROM "Typed"', (), [("label", "utf8")])
duck = duckdb.connect()
duck.register("t", stream)
print(duck.execute("SELECT count(*), sum(length(label)) FROM t").fetchall())
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) // 1024)
"""


def test_a_large_export_holds_a_few_batches_in_memory(db: strata.Database, pg_url: str) -> None:
    rows, width = 600_000, 320  # about 190 MB of text
    db.execute_raw_('ALTER TABLE "Typed" ALTER COLUMN label TYPE text')
    db.execute_raw_(
        'INSERT INTO "Typed" (id, price, at, fine, plain, day, meta, level, ok, blob, tags, '
        "ratio, label) SELECT g, 0, now(), now(), now(), now(), '{}', 'info', true, '', '{}', "
        f"0, rpad(g::text, {width}, 'x') FROM generate_series(1, {rows}) AS g"
    )
    result = subprocess.run(
        [sys.executable, "-c", READER, pg_url], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    counted, peak = result.stdout.split("\n")[:2]
    assert counted == f"[({rows}, {rows * width})]"
    assert int(peak) < 150, f"peak RSS {peak} MB while reading {rows * width >> 20} MB"


def test_parquet_export_keeps_decimals_and_timestamps(
    db: strata.Database, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only: native types (``@db.Decimal(24, 8)``, ``@db.Timestamp(6)``) that a
    SQLite schema cannot declare, through ``strata export parquet``."""
    needs_client(db)
    db.execute_raw_(
        'INSERT INTO "Typed" VALUES (1, 0.12345678, NULL, now(), '
        "'2026-11-22 09:30:00.654321', now(), now(), '[]', 'info', true, '', '{a}', 1, 'x')"
    )
    schema = tmp_path / "typed.prisma"
    schema.write_text(SCHEMA)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    out = tmp_path / "parquet"
    result = CliRunner().invoke(
        main, ["export", "parquet", str(out), "-t", "Typed", "--schema", str(schema)]
    )
    assert result.exit_code == 0, result.output
    duck = duckdb.connect()
    try:
        described = duck.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
            [str(out / "Typed.parquet")],
        ).fetchall()
        row = duck.execute(
            "SELECT price, fine, tags FROM read_parquet(?)", [str(out / "Typed.parquet")]
        ).fetchone()
    finally:
        duck.close()
    types = dict(described)
    assert types["price"] == "DECIMAL(24,8)"
    assert types["fine"] == "TIMESTAMP WITH TIME ZONE"
    assert row is not None
    assert row[0] == Decimal("0.12345678")
    assert row[1].replace(tzinfo=None) == datetime(2026, 11, 22, 9, 30, 0, 654321)
    assert row[2] == '["a"]'
