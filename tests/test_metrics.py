"""Metric ingest, aggregation, rollups and retention, against plain-Python references, on
SQLite and PostgreSQL (the `backend` fixture); the tests of SQLite's stored forms say so."""

from __future__ import annotations

import math
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import strata
from backends import Backend, for_provider
from metrics_support import as_utc, needs_bulk_writer, needs_client, write_samples
from postgres import fresh_database
from strata.errors import ValidationError
from strata.metrics import Metrics, parse_every

SCHEMA = """datasource db {
  provider = "sqlite"
}

enum Level {
  info
  warn @map("warning")
}

model Sample {
  id    Int      @id @default(autoincrement())
  host  String
  at    DateTime
  cpu   Float?
  mem   Int?
  level Level    @default(info)

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
  mem_count Int
  mem_sum   Float?
  mem_min   Float?
  mem_max   Float?

  @@unique([host, bucket])
}

model SampleHourly {
  id        Int      @id @default(autoincrement())
  host      String
  bucket    DateTime
  cpu_count Int
  cpu_sum   Float?
  cpu_min   Float?
  cpu_max   Float?

  @@unique([host, bucket])
}

model Partial {
  id     Int      @id @default(autoincrement())
  host   String
  bucket DateTime
  cpu_count Int
}
"""

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
STATS = ["count", "sum", "avg", "min", "max", "p50", "p95", "p99"]


def open_db(directory: Path, datetime_format: str = "iso8601") -> strata.Database:
    schema = directory / "schema.prisma"
    schema.write_text(SCHEMA)
    db = strata.connect(directory / "metrics.db", schema=schema, datetime_format=datetime_format)
    db.migrate_.push()
    return db


@pytest.fixture
def db(backend: Backend) -> strata.Database:
    database = backend.connect(SCHEMA)
    needs_client(database)
    return database


@pytest.fixture
def samples(db: strata.Database) -> Metrics:
    return db.metrics_("Sample", series="host", time="at")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[strata.Database]:
    """For the tests of what SQLite stores (text or integer DateTimes, its storage classes)."""
    database = open_db(tmp_path)
    yield database
    database.close_()


@pytest.fixture
def sqlite_samples(sqlite_db: strata.Database) -> Metrics:
    return sqlite_db.metrics_("Sample", series="host", time="at")


@pytest.fixture(scope="module", params=["iso8601", "unixepoch-ms", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[strata.Database, Metrics]]:
    """One database per SQLite DateTime format and one on PostgreSQL for the property
    tests, emptied per example."""
    folder = tmp_path_factory.mktemp("metrics")
    if request.param != "postgresql":
        database = open_db(folder, request.param)
        yield database, database.metrics_("Sample", series="host", time="at")
        database.close_()
        return
    with fresh_database(request.getfixturevalue("pg_server"), "metrics_shared") as url:
        schema = folder / "schema.prisma"
        schema.write_text(for_provider(SCHEMA, "postgresql"))
        database = strata.connect(url, schema=schema)
        try:
            database.migrate_.push()
            needs_client(database)
            yield database, database.metrics_("Sample", series="host", time="at")
        finally:
            database.close_()


# -- a plain-Python reference ----------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def reference(
    rows: list[dict[str, Any]], every: timedelta, values: list[str], stats: list[str]
) -> list[dict[str, Any]]:
    width = every // timedelta(milliseconds=1)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        ms = (row["at"] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
        groups.setdefault((row["host"], ms - ms % width), []).append(row)
    out = []
    for (host, start), members in sorted(groups.items()):
        result: dict[str, Any] = {
            "host": host,
            "bucket": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=start),
        }
        for value in values:
            present = [m[value] for m in members if m.get(value) is not None]
            for stat in stats:
                key = f"{value}_{stat}"
                if stat == "count":
                    result[key] = len(present)
                elif not present:
                    result[key] = None
                elif stat == "sum":
                    result[key] = sum(present)
                elif stat == "avg":
                    result[key] = sum(present) / len(present)
                elif stat == "min":
                    result[key] = min(present)
                elif stat == "max":
                    result[key] = max(present)
                else:
                    result[key] = quantile(present, int(stat[1:]) / 100)
        out.append(result)
    return out


def assert_same(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
            else:
                assert got[key] == value, key


sample_rows = st.lists(
    st.fixed_dictionaries(
        {
            "host": st.sampled_from(["a", "b", "c"]),
            # Seconds around T0, so buckets repeat, gap and hold single samples.
            "at": st.integers(-400, 400).map(lambda s: T0 + timedelta(seconds=s, milliseconds=s)),
            "cpu": st.none() | st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            "mem": st.none() | st.integers(-(2**31), 2**31 - 1),
        }
    ),
    max_size=60,
)


@given(
    rows=sample_rows,
    every=st.sampled_from([timedelta(seconds=1), timedelta(seconds=7), timedelta(minutes=1)]),
)
def test_aggregates_equal_a_python_reference(
    shared: tuple[strata.Database, Metrics], rows: list[dict[str, Any]], every: timedelta
) -> None:
    db, metrics = shared
    db.execute_raw_('DELETE FROM "Sample"')
    write_samples(metrics, rows)
    actual = metrics.aggregate(every=every, values=["cpu", "mem"], stats=STATS)
    assert_same(actual, reference(rows, every, ["cpu", "mem"], STATS))


@given(rows=sample_rows, since=st.integers(-400, 400), span=st.integers(0, 600))
def test_filters_equal_a_python_reference(
    shared: tuple[strata.Database, Metrics], rows: list[dict[str, Any]], since: int, span: int
) -> None:
    db, metrics = shared
    db.execute_raw_('DELETE FROM "Sample"')
    write_samples(metrics, rows)
    start, end = T0 + timedelta(seconds=since), T0 + timedelta(seconds=since + span)
    actual = metrics.aggregate(
        "1m",
        values=["cpu"],
        stats=["count", "sum", "max"],
        where={"cpu": {"gt": -5e5}},
        since=start,
        until=end,
        series=["a", "c"],
    )
    kept = [
        r
        for r in rows
        if r["cpu"] is not None
        and r["cpu"] > -5e5
        and start <= r["at"] < end
        and r["host"] in ("a", "c")
    ]
    assert_same(actual, reference(kept, timedelta(minutes=1), ["cpu"], ["count", "sum", "max"]))


def test_rows_have_the_documented_shape(samples: Metrics) -> None:
    write_samples(
        samples,
        {"host": ["h1", "h1"], "at": [T0, T0 + timedelta(seconds=30)], "cpu": [-1.5, 3.5]},
    )
    rows = samples.aggregate(every="1m", values=["cpu"], stats=["count", "avg", "max", "p95"])
    assert rows == [
        {
            "host": "h1",
            "bucket": T0,
            "cpu_count": 2,
            "cpu_avg": 1.0,
            "cpu_max": 3.5,
            "cpu_p95": pytest.approx(3.25),
        }
    ]
    assert rows[0]["bucket"].tzinfo is UTC


def test_integer_values_keep_integer_sums_and_extremes(samples: Metrics) -> None:
    write_samples(samples, {"host": ["h"] * 3, "at": [T0] * 3, "mem": [2**31 - 1, 2**31 - 1, -5]})
    (row,) = samples.aggregate("1h", values=["mem"], stats=["sum", "min", "max", "avg"])
    assert row["mem_sum"] == 2 * (2**31 - 1) - 5
    assert (row["mem_min"], row["mem_max"]) == (-5, 2**31 - 1)
    assert isinstance(row["mem_sum"], int)


def test_arrow_output_matches_rows(samples: Metrics) -> None:
    write_samples(samples, {"host": ["b", "a", "a"], "at": [T0, T0, T0], "cpu": [1.0, 2.0, None]})
    stream = samples.aggregate("1m", values=["cpu"], stats=["count", "avg"], format="arrow")
    table = pa.table(stream)
    assert table.column_names == ["host", "bucket", "cpu_count", "cpu_avg"]
    assert table.schema.field("bucket").type == pa.timestamp("ms", tz="UTC")
    rows = samples.aggregate("1m", values=["cpu"], stats=["count", "avg"])
    assert table.to_pylist() == rows
    # Re-callable: a second consumer gets the same rows.
    assert pa.table(stream).to_pylist() == rows


def test_every_accepts_durations() -> None:
    assert parse_every("30s") == 30_000
    assert parse_every("5m") == 300_000
    assert parse_every("1h") == 3_600_000
    assert parse_every("1d") == 86_400_000
    assert parse_every(timedelta(minutes=2)) == 120_000
    for bad in ("5", "1 minute", "0s", "-1m", 60, timedelta(0), timedelta(microseconds=5)):
        with pytest.raises(ValidationError) as caught:
            parse_every(bad)
        assert caught.value.field == "every"


def test_bad_aggregate_arguments_name_what_is_wrong(samples: Metrics) -> None:
    with pytest.raises(ValidationError, match="no value 'gpu'") as caught:
        samples.aggregate("1m", values=["gpu"])
    assert caught.value.field == "gpu"
    with pytest.raises(ValidationError, match="unknown statistic 'p90'"):
        samples.aggregate("1m", stats=["p90"])
    with pytest.raises(ValidationError, match="every"):
        samples.aggregate("soon")


def test_binding_checks_fields(db: strata.Database) -> None:
    with pytest.raises(ValidationError, match="has no field 'nope'"):
        db.metrics_("Sample", series="nope", time="at")
    with pytest.raises(ValidationError, match="must be a DateTime"):
        db.metrics_("Sample", series="host", time="cpu")
    with pytest.raises(ValidationError, match="no model 'Nope'"):
        db.metrics_("Nope", series="host", time="at")
    assert db.metrics_("Sample", series="host", time="at").values == ("cpu", "mem")


# -- ingest ------------------------------------------------------------------------------


# What ingest stores is SQLite's form here (ISO text); on PostgreSQL the columns are typed.


def stored(db: strata.Database) -> list[tuple[Any, ...]]:
    return db.query_raw_(
        'SELECT "host", "at", "cpu", "mem", "level" FROM "Sample" ORDER BY "id"', as_tuples=True
    )


def test_ingest_accepts_columns_rows_numpy_and_arrow(
    sqlite_db: strata.Database, sqlite_samples: Metrics
) -> None:
    db, samples = sqlite_db, sqlite_samples
    at = [T0, T0 + timedelta(seconds=1)]
    assert samples.ingest({"host": ["a", "a"], "at": at, "cpu": [1.0, None]}) == 2
    assert samples.ingest([{"host": "b", "at": T0, "mem": 7, "level": "warn"}]) == 1
    numpy_columns = {
        "host": np.array(["c", "c"]),
        "at": np.array(["2026-11-22T09:00:00", "2026-11-22T09:00:01"], dtype="datetime64[ms]"),
        "cpu": np.array([0.5, 1.5]),
        "mem": np.array([1, 2], dtype=np.int64),
    }
    assert samples.ingest(numpy_columns) == 2
    table = pa.table(
        {"host": ["d", "d"], "at": pa.array(at, pa.timestamp("us", tz="UTC")), "cpu": [2.0, 3.0]}
    )
    assert samples.ingest(table) == 2
    assert samples.ingest(table.to_batches()[0]) == 2  # __arrow_c_array__
    rows = stored(db)
    assert rows[0] == ("a", "2026-11-22T09:00:00.000+00:00", 1.0, None, "info")
    assert rows[2] == ("b", "2026-11-22T09:00:00.000+00:00", None, 7, "warning")
    assert rows[3] == ("c", "2026-11-22T09:00:00.000+00:00", 0.5, 1, "info")
    assert rows[5] == ("d", "2026-11-22T09:00:00.000+00:00", 2.0, None, "info")
    assert len(rows) == 9


def test_arrow_streams_ingest_without_pyarrow(
    sqlite_db: strata.Database, sqlite_samples: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, samples = sqlite_db, sqlite_samples
    table = pa.table({"host": ["x", "y"], "at": pa.array([T0, T0], pa.timestamp("ms", tz="UTC"))})
    stream = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    class Stream:
        def __arrow_c_stream__(self, requested_schema: object = None) -> object:
            return stream.__arrow_c_stream__(requested_schema)

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now fails
    assert samples.ingest(Stream()) == 2
    assert [r[:2] for r in stored(db)] == [
        ("x", "2026-11-22T09:00:00.000+00:00"),
        ("y", "2026-11-22T09:00:00.000+00:00"),
    ]


def test_a_generator_of_chunks_streams_and_commits_per_chunk(
    db: strata.Database, samples: Metrics
) -> None:
    needs_bulk_writer(db)

    def chunks() -> Iterator[Any]:
        for n in range(5):
            yield {"host": [f"h{n}"] * 100, "at": [T0] * 100, "mem": list(range(100))}
        yield [{"host": "late", "at": T0, "mem": 1}]

    assert samples.ingest(chunks(), chunk_rows=30) == 501
    assert db.query_raw_('SELECT count(*) AS n FROM "Sample"') == [{"n": 501}]


def test_a_failed_chunk_rolls_back_alone_and_reports_what_was_committed(
    db: strata.Database, samples: Metrics
) -> None:
    needs_bulk_writer(db)

    def chunks() -> Iterator[Any]:
        yield {"host": ["a"] * 50, "at": [T0] * 50}
        mem: list[Any] = list(range(50))
        mem[37] = "many"
        yield {"host": ["b"] * 50, "at": [T0] * 50, "mem": mem}

    with pytest.raises(ValidationError) as caught:
        samples.ingest(chunks(), chunk_rows=20)
    error = caught.value
    assert (error.row, error.field) == (87, "mem")
    assert str(error).startswith("row 87: Sample.mem")
    # The first chunk (50 rows) and the second's rows 0-19 committed; rows 20-39 did not.
    assert error.committed == 70
    assert db.query_raw_('SELECT count(*) AS n FROM "Sample"') == [{"n": 70}]


@pytest.mark.parametrize(
    ("data", "field", "row", "message"),
    [
        ({"host": ["a", "b"], "at": [T0]}, "at", 1, "has 1 values but host has 2"),
        ({"host": ["a", "b"], "at": [T0, T0], "mem": np.array([1.0, np.nan])}, "mem", 1, "nan"),
        ({"host": ["a"], "at": [T0], "mem": [1.5]}, "mem", 0, "int"),
        ({"host": ["a"], "at": [T0], "level": ["loud"]}, "level", 0, "Level member"),
        ([{"host": "a", "at": T0}, {"at": T0}], "host", 1, "is required"),
        ([{"host": "a", "at": T0}, {"host": None, "at": T0}], "host", 1, "expected a str"),
        ({"host": ["a"], "at": [datetime(2026, 1, 1)]}, "at", 0, "datetime"),
    ],
)
def test_bad_input_names_the_column_and_the_row(
    db: strata.Database, samples: Metrics, data: Any, field: str, row: int, message: str
) -> None:
    needs_bulk_writer(db)
    with pytest.raises(ValidationError, match=message) as caught:
        samples.ingest(data)
    assert (caught.value.field, caught.value.row) == (field, row)


def test_unknown_fields_and_inputs_are_refused(db: strata.Database, samples: Metrics) -> None:
    needs_bulk_writer(db)
    with pytest.raises(ValidationError, match="has no field 'gpu'"):
        samples.ingest({"host": ["a"], "at": [T0], "gpu": [1.0]})
    with pytest.raises(ValidationError, match="ingest takes"):
        samples.ingest(42)


# -- rollups and retention -----------------------------------------------------------------


def spread_rows(count: int, start: datetime, seconds: int) -> dict[str, list[Any]]:
    return {
        "host": [("a", "b", "c")[i % 3] for i in range(count)],
        "at": [start + timedelta(seconds=(i * seconds) // count) for i in range(count)],
        "cpu": [None if i % 11 == 0 else (i * 37 % 101) - 50.0 for i in range(count)],
        "mem": [i % 17 - 8 for i in range(count)],
    }


def rollup_rows(db: strata.Database, model: str, values: tuple[str, ...]) -> list[dict[str, Any]]:
    columns = ", ".join(f'"{v}_{s}"' for v in values for s in ("count", "sum", "min", "max"))
    rows = db.query_raw_(f'SELECT "host", "bucket", {columns} FROM "{model}" ORDER BY 1, 2')
    for row in rows:
        row["bucket"] = as_utc(row["bucket"])
    return rows


def raw_aggregate(metrics: Metrics, every: str, values: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = metrics.aggregate(every, values=list(values), stats=["count", "sum", "min", "max"])
    for row in rows:  # the rollup model stores sums and extremes as Float
        for key, value in row.items():
            if isinstance(value, int) and not key.endswith("_count"):
                row[key] = float(value)
    return rows


def test_a_rollup_after_ingest_equals_the_raw_aggregate(
    db: strata.Database, samples: Metrics
) -> None:
    write_samples(samples, spread_rows(3000, T0, 3 * 3600))
    assert samples.rollup(into="SampleRollup", every="1m") > 0
    assert rollup_rows(db, "SampleRollup", ("cpu", "mem")) == raw_aggregate(
        samples, "1m", ("cpu", "mem")
    )
    # Incremental: more samples, some in the watermark's bucket, then a rollup again.
    write_samples(samples, spread_rows(1000, T0 + timedelta(hours=3) - timedelta(seconds=20), 1800))
    samples.rollup(into="SampleRollup", every="1m")
    assert rollup_rows(db, "SampleRollup", ("cpu", "mem")) == raw_aggregate(
        samples, "1m", ("cpu", "mem")
    )
    # A rollup of the rollup (1m, then 1h) equals the hourly aggregate of the raw rows.
    minutes = db.metrics_("SampleRollup", series="host", time="bucket")
    assert minutes.values == ("cpu", "mem")
    minutes.rollup(into="SampleHourly", every="1h")
    assert rollup_rows(db, "SampleHourly", ("cpu",)) == raw_aggregate(samples, "1h", ("cpu",))
    # And aggregating the rollup merges its partials the same way.
    merged = minutes.aggregate("1h", values=["cpu"], stats=["count", "sum", "min", "max", "avg"])
    raw = samples.aggregate("1h", values=["cpu"], stats=["count", "sum", "min", "max", "avg"])
    assert_same(merged, raw)
    with pytest.raises(ValidationError, match="percentiles"):
        minutes.aggregate("1h", values=["cpu"], stats=["p95"])


def test_a_missing_rollup_model_is_printed(samples: Metrics) -> None:
    with pytest.raises(ValidationError) as caught:
        samples.rollup(into="SampleMinutely", every="1m")
    message = str(caught.value)
    assert "model SampleMinutely {" in message
    assert "  cpu_count Int" in message
    assert "  mem_max Float?" in message
    assert "@@unique([host, bucket])" in message
    with pytest.raises(ValidationError) as caught:
        samples.rollup(into="Partial", every="1m")
    assert "  cpu_sum Float?" in str(caught.value)
    assert "mem_count" not in str(caught.value)


@given(
    batches=st.lists(st.integers(1, 200), min_size=1, max_size=4),
    keep_minutes=st.integers(0, 120),
)
def test_retention_never_deletes_rows_not_yet_rolled_up(
    shared: tuple[strata.Database, Metrics], batches: list[int], keep_minutes: int
) -> None:
    db, _ = shared
    db.execute_raw_('DELETE FROM "Sample"')
    db.execute_raw_('DELETE FROM "SampleRollup"')
    metrics = db.metrics_("Sample", series="host", time="at")
    start = T0
    for number, count in enumerate(batches):
        write_samples(metrics, spread_rows(count, start, 1800))
        start += timedelta(minutes=30)
        if number == 0:
            metrics.rollup(into="SampleRollup", every="1m")
    # Later batches are not rolled up yet. Retention with any horizon must keep them.
    expected = raw_aggregate(metrics, "1m", ("cpu",))
    now = start + timedelta(minutes=1)
    metrics.retain(raw=timedelta(minutes=keep_minutes), now=now, batch_rows=50)
    metrics.rollup(into="SampleRollup", every="1m")
    assert rollup_rows(db, "SampleRollup", ("cpu",)) == expected


def test_retention_deletes_old_rolled_up_rows_in_batches(
    db: strata.Database, samples: Metrics
) -> None:
    write_samples(samples, spread_rows(600, T0, 3600))
    samples.rollup(into="SampleRollup", every="1m")
    watermark = samples.watermark("SampleRollup")
    assert watermark is not None
    deleted = samples.retain(raw=timedelta(0), now=T0 + timedelta(days=1), batch_rows=64)
    left = db.query_raw_('SELECT count(*) AS n, min("at") AS first FROM "Sample"')[0]
    assert deleted + left["n"] == 600
    assert left["n"] > 0  # the watermark's bucket stays for the next rollup
    assert as_utc(left["first"]) >= watermark
    # Without any rollup, the horizon alone decides.
    plain = db.metrics_("Sample", series="host", time="at")
    assert plain.retain(raw=timedelta(0), now=T0 + timedelta(days=1)) == left["n"]


# -- DateTime forms written by other clients (issue 12) --------------------------------------


def test_since_and_retention_on_integer_ms_written_by_another_client(tmp_path: Path) -> None:
    """SQLite only: DateTime forms of other clients. Prisma's native engine stores the sample
    time as integer milliseconds; a binding connected with the default iso8601 compares
    since=, until= and retention in that form."""
    open_db(tmp_path).close_()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    with sqlite3.connect(tmp_path / "metrics.db") as conn:
        conn.executemany(
            'INSERT INTO "Sample" (host, at, cpu) VALUES (?, ?, ?)',
            [
                ("a", (T0 + timedelta(minutes=m) - epoch) // timedelta(milliseconds=1), m)
                for m in range(10)
            ],
        )
    conn.close()
    db = open_db(tmp_path)
    samples = db.metrics_("Sample", series="host", time="at")
    rows_ = samples.aggregate(
        "1h",
        ["cpu"],
        ["count", "min", "max"],
        since=T0 + timedelta(minutes=3),
        until=T0 + timedelta(minutes=8),
    )
    assert rows_ == [{"host": "a", "bucket": T0, "cpu_count": 5, "cpu_min": 3.0, "cpu_max": 7.0}]
    samples.ingest([{"host": "a", "at": T0 + timedelta(minutes=10), "cpu": 10.0}])
    assert db.query_raw_('SELECT typeof(at) AS t FROM "Sample" WHERE cpu = 10') == [
        {"t": "integer"}
    ]
    assert samples.retain(timedelta(minutes=5), now=T0 + timedelta(minutes=10)) == 5
    assert [s.cpu for s in db.sample.find_many(order_by={"at": "asc"})] == [5, 6, 7, 8, 9, 10]
    db.close_()


def test_a_time_column_of_mixed_forms_is_refused_when_bound(tmp_path: Path) -> None:
    # SQLite only: a PostgreSQL timestamp column holds one form.
    open_db(tmp_path).close_()
    with sqlite3.connect(tmp_path / "metrics.db") as conn:
        conn.execute("""INSERT INTO "Sample" (host, at) VALUES ('a', 1795338000000)""")
        conn.execute("""INSERT INTO "Sample" (host, at) VALUES ('a', '2026-11-22 09:00:01')""")
    conn.close()
    db = open_db(tmp_path)
    with pytest.raises(strata.MixedDateTimeError, match=r"Sample\.at .*sqlite-datetime: 1"):
        db.metrics_("Sample", series="host", time="at")
    db.close_()
