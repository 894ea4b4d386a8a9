"""Metric ingest from Arrow objects, read by the core through the Arrow C data interface
(rust/py_bulk/arrow.rs), on SQLite and PostgreSQL (the `backend` fixture): the types the
metric model takes, what is refused before anything is written, and that neither pyarrow
nor DuckDB is imported to do it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import strata
from backends import Backend
from metrics_support import as_utc
from strata.errors import ValidationError
from strata.metrics import Metrics

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
  total BigInt?
  ok    Boolean?
  blob  Bytes?
  level Level    @default(info)

  @@index([host, at])
}
"""

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
AT = [T0, T0 + timedelta(seconds=1, microseconds=2500), T0 + timedelta(minutes=5)]


@pytest.fixture
def db(backend: Backend) -> strata.Database:
    return backend.connect(SCHEMA)


@pytest.fixture
def samples(db: strata.Database) -> Metrics:
    return db.metrics_("Sample", series="host", time="at")


def stored(db: strata.Database) -> list[tuple[Any, ...]]:
    rows = db.query_raw_(
        'SELECT "host", "at", "cpu", "mem", "total", "ok", "blob", "level" FROM "Sample" '
        'ORDER BY "id"',
        as_tuples=True,
    )
    return [
        (host, as_utc(at), cpu, mem, total, None if ok is None else bool(ok), blob, level)
        for host, at, cpu, mem, total, ok, blob, level in rows
    ]


def count(db: strata.Database) -> int:
    return int(db.query_raw_('SELECT count(*) AS n FROM "Sample"')[0]["n"])


MS = timedelta(milliseconds=1)
EXPECTED = [
    ("a", T0, 0.5, 1, 2**40, True, b"\x00\x01", "info"),
    ("b", AT[1] - timedelta(microseconds=500), None, None, None, None, None, "warning"),
    ("a", AT[2], -2.25, -3, -1, False, b"", "warning"),
]


def test_every_column_type_of_the_model_from_pyarrow(db: strata.Database, samples: Metrics) -> None:
    table = pa.table(
        {
            "host": pa.array(["a", "b", "a"]).dictionary_encode(),
            "at": pa.array(AT, pa.timestamp("us", tz="UTC")),
            "cpu": pa.array([0.5, None, -2.25], pa.float32()),
            "mem": pa.array([1, None, -3], pa.int8()),
            "total": pa.array([2**40, None, -1], pa.int64()),
            "ok": [True, None, False],
            "blob": pa.array([b"\x00\x01", None, b""], pa.large_binary()),
            "level": pa.array(["info", "warn", "warn"], pa.large_string()),
        }
    )
    assert samples.ingest(table) == 3
    assert stored(db) == EXPECTED


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "+05:30"])
def test_timestamps_of_any_unit_and_zone_are_the_same_instants(
    db: strata.Database, samples: Metrics, unit: str, zone: str
) -> None:
    instants = [
        T0 + timedelta(seconds=1, milliseconds=999),
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
    ]
    at = pa.array(instants, pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp(unit, tz="UTC"), safe=False
    )
    at = at.cast(pa.timestamp(unit, tz=zone))
    assert samples.ingest(pa.table({"host": ["x", "x"], "at": at})) == 2
    whole = instants[0].replace(microsecond=0) if unit == "s" else instants[0]
    assert [row[1] for row in stored(db)] == [whole, instants[1]]


def test_polars_frames_ingest(db: strata.Database, samples: Metrics) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {
            "host": pl.Series(["a", "b", "a"], dtype=pl.Categorical),
            "at": pl.Series(AT).dt.replace_time_zone("UTC"),
            "cpu": [0.5, None, -2.25],
            "mem": pl.Series([1, None, -3], dtype=pl.Int16),
            "total": pl.Series([2**40, None, -1], dtype=pl.Int64),
            "ok": [True, None, False],
            "blob": [b"\x00\x01", None, b""],
            "level": ["info", "warn", "warn"],
        }
    )
    assert samples.ingest(frame) == 3
    assert stored(db) == EXPECTED


def test_pandas_frames_and_duckdb_relations_ingest(db: strata.Database, samples: Metrics) -> None:
    pd = pytest.importorskip("pandas")
    duckdb = pytest.importorskip("duckdb")
    frame = pd.DataFrame(
        {
            "host": ["p", "p"],
            "at": pd.to_datetime(["2026-11-22T09:00:00", "2026-11-22T09:00:01"]).tz_localize("UTC"),
            "mem": [1, None],  # a float column holding NaN, as pandas makes it
            "level": pd.Categorical(["warn", "info"]),
        }
    )
    assert samples.ingest(frame) == 2
    relation = duckdb.sql("SELECT 'q' AS host, TIMESTAMPTZ '2026-11-22 09:00:00+00' AS at")
    assert samples.ingest(relation) == 1
    assert [(r[0], r[1], r[3], r[7]) for r in stored(db)] == [
        ("p", T0, 1, "warning"),
        ("p", T0 + timedelta(seconds=1), None, "info"),
        ("q", T0, None, "info"),
    ]


def test_record_batches_arrays_and_readers(db: strata.Database, samples: Metrics) -> None:
    table = pa.table({"host": ["r", "s"], "at": pa.array(AT[:2], pa.timestamp("ms", tz="UTC"))})

    class OnlyArray:  # what a producer offering __arrow_c_array__ alone looks like
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __arrow_c_array__(self, requested_schema: object = None) -> object:
            return self.inner.__arrow_c_array__(requested_schema)

    batch = table.to_batches()[0]
    assert samples.ingest(OnlyArray(batch)) == 2
    assert (
        samples.ingest(
            OnlyArray(
                pa.StructArray.from_arrays(
                    [pa.array(["t"]), pa.array(AT[:1], pa.timestamp("s", tz="UTC"))],
                    names=["host", "at"],
                )
            )
        )
        == 1
    )
    reader = pa.RecordBatchReader.from_batches(table.schema, [batch, batch.slice(1)])
    assert samples.ingest(reader, chunk_rows=2) == 3
    assert [row[0] for row in stored(db)] == ["r", "s", "t", "r", "s", "s"]
    with pytest.raises(ValidationError, match="one column, not a table"):
        samples.ingest(OnlyArray(pa.array([1, 2])))


def test_integers_from_whole_floats_and_uint64(db: strata.Database, samples: Metrics) -> None:
    table = pa.table(
        {
            "host": ["f", "f"],
            "at": pa.array(AT[:2], pa.timestamp("ms", tz="UTC")),
            "mem": pa.array([2.0, None], pa.float64()),  # pandas' int column with a gap
            "total": pa.array([7, 2**63 - 1], pa.uint64()),
            "cpu": pa.array([3, 4], pa.uint16()),
        }
    )
    assert samples.ingest(table) == 2
    assert [(r[2], r[3], r[4]) for r in stored(db)] == [(3.0, 2, 7), (4.0, None, 2**63 - 1)]


def ts(values: list[Any], unit: str = "ms", tz: str | None = "UTC") -> pa.Array:
    return pa.array(values, pa.timestamp(unit, tz=tz))


BAD_SCHEMAS = [
    # (columns, field, message): refused from the schema, before any row is read.
    ({"at": ts(AT[:1])}, "host", "is required, and the Arrow data has no such column"),
    ({"host": [1], "at": ts(AT[:1])}, "host", "an Arrow string column"),
    ({"host": ["a"], "at": ["2026-11-22T09:00:00Z"]}, "at", "timestamp with a time zone"),
    ({"host": ["a"], "at": ts([datetime(2026, 1, 1)], tz=None)}, "at", "refused rather than"),
    ({"host": ["a"], "at": ts(AT[:1]), "gpu": [1.0]}, "gpu", "has no field 'gpu'"),
    ({"host": ["a"], "at": ts(AT[:1]), "mem": ["1"]}, "mem", "an Arrow integer column"),
    ({"host": ["a"], "at": ts(AT[:1]), "ok": [1]}, "ok", "an Arrow boolean column"),
    ({"host": ["a"], "at": pa.array([1], pa.int64()).dictionary_encode()}, "at", "dictionary"),
]


@pytest.mark.parametrize(("columns", "field", "message"), BAD_SCHEMAS)
def test_a_bad_schema_is_refused_before_anything_is_written(
    db: strata.Database, samples: Metrics, columns: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        samples.ingest(pa.table(columns))
    assert caught.value.field == field
    assert count(db) == 0


BAD_VALUES = [
    # (columns of three rows, field, row, message): the third row is the bad one.
    ({"host": ["a", "b", None]}, "host", "expected a str"),
    ({"mem": pa.array([1, 2, 2**40])}, "mem", "int"),
    ({"mem": pa.array([1.0, 2.0, 2.5])}, "mem", "int"),
    ({"level": ["info", "warn", "loud"]}, "level", "Level member"),
    ({"cpu": pa.array([1.0, 2.0, float("nan")])}, "cpu", "nan"),
    ({"at": ts([0, 0, 253402300800], unit="s")}, "at", "outside the years 1 to 9999"),
]


@pytest.mark.parametrize(("columns", "field", "message"), BAD_VALUES)
def test_a_bad_value_names_its_row_and_writes_nothing(
    db: strata.Database, samples: Metrics, columns: dict[str, Any], field: str, message: str
) -> None:
    base: dict[str, Any] = {"host": ["a", "b", "c"], "at": ts(AT)}
    table = pa.table({**base, **columns})
    with pytest.raises(ValidationError, match=message) as caught:
        # Small chunks: the rows before the bad one were sent, and must be rolled back.
        samples.ingest(table, chunk_rows=1)
    assert (caught.value.field, caught.value.row) == (field, 2)
    assert count(db) == 0


def test_a_stream_that_fails_part_way_writes_nothing(db: strata.Database, samples: Metrics) -> None:
    schema = pa.schema([("host", pa.string()), ("at", pa.timestamp("ms", tz="UTC"))])

    def batches() -> Iterator[pa.RecordBatch]:
        for n in range(3):
            yield pa.record_batch([pa.array([f"h{n}"] * 10), ts([T0] * 10)], schema=schema)
        raise OSError("the disk went away")

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    with pytest.raises(ValidationError, match="the disk went away") as caught:
        samples.ingest(reader, chunk_rows=5)
    assert caught.value.row == 30
    assert count(db) == 0


def test_each_arrow_object_of_a_generator_commits_on_its_own(
    db: strata.Database, samples: Metrics
) -> None:
    def chunks() -> Iterator[Any]:
        yield pa.table({"host": ["a", "a"], "at": ts(AT[:2])})
        yield {"host": ["b"], "at": [T0]}
        yield pa.table({"host": ["c", None], "at": ts(AT[:2])})

    with pytest.raises(ValidationError) as caught:
        samples.ingest(chunks())
    assert (caught.value.row, caught.value.committed) == (4, 3)
    assert count(db) == 3


def test_an_empty_table_writes_nothing_and_defaults_fill_missing_columns(
    db: strata.Database, samples: Metrics
) -> None:
    empty = pa.table({"host": pa.array([], pa.string()), "at": ts([])})
    assert samples.ingest(empty) == 0
    assert samples.ingest(pa.table({"host": ["d"], "at": ts(AT[:1])})) == 1
    assert stored(db) == [("d", T0, None, None, None, None, None, "info")]


def test_no_pyarrow_or_duckdb_is_imported(tmp_path: Path) -> None:
    """In a process of its own, where importing pyarrow or duckdb fails: a polars frame (which
    exports Arrow by itself) is ingested all the same. SQLite alone: what is proven is what
    Python imports, which does not depend on the database."""
    pytest.importorskip("polars")
    (tmp_path / "schema.prisma").write_text(SCHEMA)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["pyarrow"] = None
        sys.modules["duckdb"] = None
        import polars as pl
        from datetime import datetime, UTC
        import strata

        db = strata.connect({str(tmp_path / "x.db")!r}, schema={str(tmp_path / "schema.prisma")!r})
        db.migrate_.push()
        frame = pl.DataFrame({{"host": ["a", "b"], "cpu": [1.0, 2.0],
                               "at": [datetime(2026, 1, 1, tzinfo=UTC)] * 2}})
        print(db.metrics_("Sample", series="host", time="at").ingest(frame))
        print(db.query_raw_('SELECT count(*) AS n FROM "Sample"'))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.split("\n")[:2] == ["2", "[{'n': 2}]"]
