"""The bulk writer on PostgreSQL (issue 15): multi-row inserts with numbered parameters in
statements under PostgreSQL's 65,535-parameter limit, and binary ``COPY`` for metric ingest,
each all or nothing, with errors that name the row.

PostgreSQL only, and below the client: the writer (`strata._core.BulkInsert`) is given the
PostgreSQL dialect's pieces (`strata.dialects.postgresql.bulk`) and a column description of
the kind `strata.client.bulk.BulkWriter` builds, so these tests prove the core's path
whatever the client's PostgreSQL codecs are. tests/test_client_bulk.py runs ``create_many``
through the client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from strata import _core
from strata.dialects.postgresql.bulk import bulk_insert
from strata.engine import Engine
from strata.errors import ConstraintError, StrataError, UniqueConstraintError, ValidationError

TABLE = """
CREATE TABLE "Sample" (
  id       serial PRIMARY KEY,
  series   text NOT NULL,
  at       timestamp(3) NOT NULL,
  value    double precision,
  count    integer CHECK (count >= 0),
  big      bigint,
  price    numeric(14, 4),
  meta     jsonb,
  flag     boolean NOT NULL DEFAULT false,
  day      date,
  ref      uuid,
  payload  bytea,
  note     varchar(8) DEFAULT 'none',
  UNIQUE (series, at)
)
"""

FIELDS = [
    "series",
    "at",
    "value",
    "count",
    "big",
    "price",
    "meta",
    "flag",
    "day",
    "ref",
    "payload",
    "note",
]


def refuse(field: str, expected: str, convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A field encoder like the client's codecs: converts or raises the field's error."""

    def encode(value: Any) -> Any:
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError) as error:
            raise ValidationError(
                f"Sample.{field}: {error}", model="Sample", field=field, expected=expected
            ) from None

    return encode


def _int32(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise ValueError(f"expected a 32-bit int, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return value


COLUMNS: list[Any] = [
    ("series", "text", None, False, "required", refuse("series", "str", _text)),
    ("at", "datetime-iso8601", None, False, "required", refuse("at", "datetime", str)),
    ("value", "float", None, True, "omit", refuse("value", "float", float)),
    ("count", "int", (-(2**31), 2**31 - 1), True, "omit", refuse("count", "int", _int32)),
    ("big", "int", (-(2**63), 2**63 - 1), True, "omit", refuse("big", "int", int)),
    ("price", "python", None, True, "omit", refuse("price", "Decimal", str)),
    ("meta", "python", None, True, "omit", refuse("meta", "JSON", json.dumps)),
    ("flag", "bool", None, False, "omit", refuse("flag", "bool", bool)),
    ("day", "python", None, True, "omit", refuse("day", "date", date.isoformat)),
    ("ref", "text", None, True, "omit", refuse("ref", "uuid", _text)),
    ("payload", "bytes", None, True, "omit", refuse("payload", "bytes", bytes)),
    ("note", "text", 8, True, "omit", refuse("note", "str of at most 8", _text)),
]


def unknown(name: str) -> ValidationError:
    return ValidationError(f"Sample has no field {name!r}", model="Sample", field=name)


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    opened = Engine(pg_url)
    opened.execute_script_(TABLE)
    yield opened
    opened.close_()


def writer(engine: Engine) -> _core.BulkInsert:
    insert = bulk_insert('"Sample"', [f'"{name}"' for name in FIELDS])
    return _core.BulkInsert(engine, "Sample", insert, COLUMNS, unknown)


def count(engine: Engine) -> int:
    (row,) = engine.query_raw_('SELECT count(*) AS n FROM "Sample"')
    return int(row["n"])


T0 = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def sample(i: int) -> dict[str, Any]:
    return {
        "series": f"s{i % 3}",
        "at": datetime.fromtimestamp(T0.timestamp() + i, UTC),
        "value": i / 4,
        "count": i,
        "big": 2**40 + i,
        "price": Decimal(f"{i}.125"),
        "meta": {"i": i, "tags": ["a", "b"]},
        "flag": i % 2 == 0,
        "day": date(2026, 11, 22),
        "ref": f"00000000-0000-4000-8000-{i:012d}",
        "payload": bytes([i % 256, 0, 255]),
        "note": f"n{i}",
    }


def read_back(engine: Engine) -> list[dict[str, Any]]:
    return engine.query_raw_(
        "SELECT series, at, value, count, big, price, meta, flag, day, ref::text AS ref, "
        'payload, note FROM "Sample" ORDER BY id'
    )


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "insert"])
def test_every_type_round_trips(engine: Engine, copy: bool) -> None:
    rows = [sample(i) for i in range(5)]
    assert writer(engine).insert_rows(rows, copy=copy, atomic=False) == 5
    got = read_back(engine)
    for given, stored in zip(rows, got, strict=True):
        assert stored["at"].replace(tzinfo=UTC) == given["at"]
        assert stored["price"] == given["price"]
        assert stored["meta"] == given["meta"]
        assert stored["ref"] == given["ref"]
        assert bytes(stored["payload"]) == given["payload"]
        for name in ("series", "value", "count", "big", "flag", "day", "note"):
            assert stored[name] == given[name], name


def test_copy_takes_columns_and_leaves_defaults_to_the_server(engine: Engine) -> None:
    columns = {
        "series": ["a", "b", "c"],
        "at": [T0, T0, T0],
        "value": [1.5, float("inf"), None],
        "price": [Decimal("-0.0001"), Decimal("1e6"), None],
    }
    assert writer(engine).insert_columns(columns, copy=True, atomic=False) == 3
    got = engine.query_raw_('SELECT value, price, flag, note FROM "Sample" ORDER BY id')
    assert [row["value"] for row in got] == [1.5, float("inf"), None]
    assert [row["price"] for row in got] == [Decimal("-0.0001"), Decimal("1000000.0000"), None]
    assert {row["flag"] for row in got} == {False}
    assert {row["note"] for row in got} == {"none"}


def test_a_bad_value_in_the_middle_names_its_row_and_writes_nothing(engine: Engine) -> None:
    rows = [sample(i) for i in range(10)]
    rows[6]["count"] = "seven"
    with pytest.raises(ValidationError) as caught:
        writer(engine).insert_rows(rows, copy=True)
    assert caught.value.row == 6  # type: ignore[attr-defined]
    assert str(caught.value).startswith("row 6: Sample.count")
    assert count(engine) == 0


def test_a_value_the_column_refuses_names_its_row_and_writes_nothing(engine: Engine) -> None:
    rows = [sample(i) for i in range(10)]
    rows[4]["price"] = "a lot"  # through the encoder as text, refused by the COPY encoder
    with pytest.raises(StrataError, match=r"row 4: a numeric column: expected a decimal"):
        writer(engine).insert_rows(rows, copy=True)
    assert count(engine) == 0


def test_a_row_the_server_refuses_is_named_and_nothing_is_written(engine: Engine) -> None:
    rows = [sample(i) for i in range(10)]
    rows[7]["count"] = -1  # the CHECK constraint refuses it on the server, mid-COPY
    with pytest.raises(ConstraintError, match=r"row 7: new row"):
        writer(engine).insert_rows(rows, copy=True)
    assert count(engine) == 0


def test_non_atomic_ingest_commits_chunks_before_a_failure(engine: Engine) -> None:
    rows = [sample(i) for i in range(10)]
    rows[7]["count"] = -1
    with pytest.raises(ConstraintError) as caught:
        writer(engine).insert_rows(rows, copy=True, atomic=False, chunk_rows=5)
    assert caught.value.committed == 5  # type: ignore[attr-defined]
    assert count(engine) == 5
    assert not engine.in_transaction_


def test_create_many_splits_statements_under_the_parameter_limit(engine: Engine) -> None:
    """12 columns x 6000 rows is 72,000 parameters in one chunk: two statements, one
    transaction."""
    rows = [sample(i) for i in range(6000)]
    assert writer(engine).insert_rows(rows, chunk_rows=6000) == 6000
    assert count(engine) == 6000
    (last,) = engine.query_raw_('SELECT count, note FROM "Sample" ORDER BY id DESC LIMIT 1')
    assert last == {"count": 5999, "note": "n5999"}


def test_create_many_is_all_or_nothing_across_statements(engine: Engine) -> None:
    rows = [sample(i) for i in range(6000)]
    rows[5999] = dict(rows[0])  # a duplicate of (series, at) in the second statement
    with pytest.raises(UniqueConstraintError):
        writer(engine).insert_rows(rows, chunk_rows=6000)
    assert count(engine) == 0
    assert not engine.in_transaction_


def test_skip_duplicates_counts_only_new_rows(engine: Engine) -> None:
    bulk = writer(engine)
    assert bulk.insert_rows([sample(i) for i in range(3)]) == 3
    again = [sample(i) for i in range(5)]
    assert bulk.insert_rows(again, skip_duplicates=True) == 2
    assert count(engine) == 5
    with pytest.raises(ValidationError, match="COPY cannot skip duplicates"):
        bulk.insert_rows(again, skip_duplicates=True, copy=True)


def test_rows_without_a_given_column_take_the_server_defaults(engine: Engine) -> None:
    rows = [
        {"series": "a", "at": T0},
        {"series": "b", "at": T0, "note": "given"},
        {"series": "c", "at": T0},
    ]
    assert writer(engine).insert_rows(rows, copy=True) == 3
    got = engine.query_raw_('SELECT note FROM "Sample" ORDER BY id')
    assert [row["note"] for row in got] == ["none", "given", "none"]


def test_new_rows_are_found_again_by_their_primary_key(engine: Engine) -> None:
    insert = bulk_insert('"Sample"', [f'"{name}"' for name in FIELDS], ['"id"'])
    keyed = _core.BulkInsert(engine, "Sample", insert, COLUMNS, unknown)
    assert keyed.insert_rows([sample(i) for i in range(3)]) == 3
    ids: list[Any] = []
    again = [sample(i) for i in range(1, 6)]
    assert keyed.insert_rows(again, skip_duplicates=True, rowids=ids) == 3
    # The duplicates (samples 1 and 2) return none; the new rows' keys, in order.
    stored = engine.query_raw_('SELECT id FROM "Sample" ORDER BY id')
    assert ids == [row["id"] for row in stored[3:]]
    with pytest.raises(ValidationError, match="COPY returns no keys"):
        keyed.insert_rows([sample(9)], rowids=ids, copy=True)


def test_without_a_single_column_key_rows_are_not_read_back(engine: Engine) -> None:
    with pytest.raises(StrataError, match="single-column primary key"):
        writer(engine).insert_rows([sample(1)], rowids=[])
    assert count(engine) == 0


def test_a_text_over_its_length_is_refused_by_the_server(engine: Engine) -> None:
    rows = [sample(i) for i in range(3)]
    rows[1]["note"] = "x" * 8
    bad = {**sample(9), "note": 123}
    with pytest.raises(ValidationError, match=r"row 3: Sample\.note"):
        writer(engine).insert_rows([*rows, bad], copy=True)
    assert count(engine) == 0


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ("seven", ValidationError, r"^row 9000: Sample\.count"),
        (-1, ConstraintError, r"row 9000: new row"),
    ],
    ids=["converting", "on-the-server"],
)
def test_a_failure_after_batches_were_sent_leaves_nothing(
    engine: Engine, bad: Any, error: type[Exception], message: str
) -> None:
    """The COPY streams batches as they are converted: a failure late in the call aborts it
    and rolls the whole call back, and the connection serves the next call."""
    rows = [sample(i) for i in range(10_000)]
    rows[9000]["count"] = bad
    bulk = writer(engine)
    with pytest.raises(error, match=message):
        bulk.insert_rows(rows, copy=True, chunk_rows=20_000)
    assert count(engine) == 0
    assert not engine.in_transaction_
    assert bulk.insert_rows(rows[:100], copy=True) == 100
    assert count(engine) == 100


def test_copy_inside_a_transaction_joins_it(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.transaction_():
        assert writer(engine).insert_rows([sample(i) for i in range(10)], copy=True) == 10
        assert count(engine) == 10
        raise RuntimeError("roll back")
    assert count(engine) == 0
