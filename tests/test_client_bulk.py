"""create_many through the core's bulk path: every row once, all or nothing, and exactly the
values and errors that single-row ``create`` gives.

On both databases (the ``backend`` fixture), but for the tests of SQLite's stored forms;
tests/test_bulk_postgres.py covers PostgreSQL's statements and COPY below the client."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strata
from backends import Backend
from strata import _core
from strata.client.bulk import BulkWriter
from test_ratelimit import needs_client

SCHEMA = """datasource db {
  provider = "sqlite"
}

enum Tier {
  FREE
  PRO    @map("professional")
}

model Item {
  id    Int    @id @default(autoincrement())
  sku   String @unique
  qty   Int    @default(0)
}

model Everything {
  id        String    @id @default(cuid())
  name      String
  small     Int       @default(7)
  big       BigInt?
  ratio     Float?
  flag      Boolean   @default(false)
  price     Decimal?
  meta      Json?
  blob      Bytes?
  tier      Tier      @default(FREE)
  tags      String[]
  at        DateTime?
  createdAt DateTime  @default(now())
  updatedAt DateTime  @updatedAt
}
"""

PER_STATEMENT = _core.BULK_ROWS_PER_STATEMENT


@pytest.fixture
def db(backend: Backend) -> Any:
    needs_client(backend)
    return backend.connect(SCHEMA)


def stored(db: Any, table: str) -> list[tuple[Any, ...]]:
    """The raw stored rows, without the columns whose values differ by design (ids and
    timestamps generated per call)."""
    columns = "name, small, big, ratio, flag, price, meta, blob, tier, tags, at"
    return db.query_raw_(f'SELECT {columns} FROM "{table}" ORDER BY name', as_tuples=True)


@pytest.mark.parametrize("count", [0, 1, PER_STATEMENT, 2 * PER_STATEMENT + 37])
def test_every_row_is_inserted_once(db: Any, count: int) -> None:
    data = [{"sku": f"s{n}", "qty": n} for n in range(count)]
    assert db.item.create_many(data=data) == {"count": count}
    rows = db.item.find_many(order_by={"qty": "asc"})
    assert [(r.sku, r.qty) for r in rows] == [(f"s{n}", n) for n in range(count)]


def test_a_bad_row_anywhere_writes_nothing(db: Any) -> None:
    data = [{"sku": f"s{n}"} for n in range(250)]
    data[240] = {"sku": "s3"}  # a duplicate in the remainder, after two full statements
    with pytest.raises(strata.UniqueConstraintError):
        db.item.create_many(data=data)
    assert db.item.count() == 0
    assert not db.in_transaction_
    assert db.item.create_many(data=data, skip_duplicates=True) == {"count": 249}


def test_rows_may_give_different_fields(db: Any) -> None:
    data = [{"sku": "a", "qty": 5}, {"sku": "b"}, {"sku": "c"}, {"sku": "d", "qty": 1}]
    assert db.item.create_many(data=data) == {"count": 4}
    rows = db.item.find_many(order_by={"sku": "asc"})
    # A row that leaves qty out gets the database default, in the original order.
    assert [(r.id, r.sku, r.qty) for r in rows] == [
        (1, "a", 5),
        (2, "b", 0),
        (3, "c", 0),
        (4, "d", 1),
    ]


def test_inside_a_transaction_it_joins_it(db: Any) -> None:
    with pytest.raises(RuntimeError), db.transaction_():
        db.item.create_many(data=[{"sku": "x"}])
        assert db.item.count() == 1
        raise RuntimeError("roll back")
    assert db.item.count() == 0


def test_a_failure_caught_inside_a_transaction_leaves_none_of_its_rows(db: Any) -> None:
    # SQLite's bulk statements keep the rows written before a failing one (INSERT OR FAIL,
    # which spares the statement journal); the savepoint around the call must undo them
    # even when the caller catches the error and commits the rest.
    data = [{"sku": f"s{n}"} for n in range(PER_STATEMENT)]
    data[PER_STATEMENT // 2] = {"sku": "s3"}  # half-way through the first statement
    with db.transaction_():
        db.item.create(data={"sku": "kept"})
        with pytest.raises(strata.UniqueConstraintError):
            db.item.create_many(data=data)
        db.item.create(data={"sku": "also kept"})
    assert sorted(r.sku for r in db.item.find_many()) == ["also kept", "kept"]


def test_client_defaults_are_filled_per_row(db: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    db.everything.create_many(data=[{"name": "a"}, {"name": "b", "tier": "PRO"}])
    a, b = db.everything.find_many(order_by={"name": "asc"})
    assert a.id != b.id
    assert len(a.id) == 25
    assert a.id.startswith("c")
    assert (a.small, a.flag, a.tags, a.tier.value) == (7, False, [], "FREE")
    assert b.tier.name == "PRO"
    assert a.createdAt == a.updatedAt == b.createdAt  # one timestamp per call
    assert before <= a.createdAt <= datetime.now(UTC)


VALUES = {
    "name": "n",
    "small": -(2**31),
    "big": 2**63 - 1,
    "ratio": float("inf"),
    "flag": True,
    "price": Decimal("12.50"),
    "meta": {"a": [1, None, "ü"]},
    "blob": b"\x00\xff",
    "tier": "PRO",
    "tags": ["x", "y"],
    "at": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
}


@pytest.mark.parametrize("datetime_format", ["iso8601", "unixepoch-ms"])
def test_bulk_and_single_create_store_the_same_bytes(tmp_path: Path, datetime_format: str) -> None:
    """SQLite only: the stored DateTime forms are SQLite's."""
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA)
    db = strata.connect(tmp_path / "same.db", schema=schema, datetime_format=datetime_format)
    db.migrate_.push()
    variants = [
        VALUES,
        {**VALUES, "name": "m", "at": datetime(2026, 11, 22, 9, 30, 1, 123456, tzinfo=UTC)},
        # Not the UTC singleton: the core defers to the Python encoder, which converts.
        {
            **VALUES,
            "name": "o",
            "at": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=5))),
        },
        # An enum member rather than its name, and every default.
        {"name": "p", "tier": db.client_.classes.enums["Tier"].PRO},
        {"name": "q"},
    ]
    for item in variants:
        db.everything.create(data=item)
    single = stored(db, "Everything")
    db.everything.delete_many()
    db.everything.create_many(data=variants)
    assert stored(db, "Everything") == single
    db.close_()


def test_bulk_and_single_create_read_back_the_same(db: Any) -> None:
    """On both databases: the core's own conversions (text, DateTime truncated to the
    millisecond, before the epoch, at another offset) give what ``create`` gives."""
    variants = [
        VALUES,
        {**VALUES, "name": "m", "at": datetime(2026, 11, 22, 9, 30, 1, 123999, tzinfo=UTC)},
        {
            **VALUES,
            "name": "o",
            "at": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=5))),
        },
        {"name": "é ü \u2603 " * 50, "tier": "FREE"},
        {"name": "q"},
    ]

    def read_back() -> list[tuple[Any, ...]]:
        rows = db.everything.find_many(order_by={"name": "asc"})
        return [(r.name, r.small, r.big, r.flag, r.price, r.tier, r.tags, r.at) for r in rows]

    for item in variants:
        db.everything.create(data=item)
    single = read_back()
    db.everything.delete_many()
    db.everything.create_many(data=variants)
    assert read_back() == single
    at = {row[0]: row[-1] for row in single}
    assert at["n"] == datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert at["m"] == datetime(2026, 11, 22, 9, 30, 1, 123000, tzinfo=UTC)


def test_a_nul_in_text_is_the_fields_error_where_the_database_refuses_it(
    db: Any, backend: Backend
) -> None:
    data = [{"name": f"r{n}"} for n in range(50)] + [{"name": "a\x00b"}]
    if not backend.is_postgres:
        assert db.everything.create_many(data=data) == {"count": 51}
        return
    with pytest.raises(strata.ValidationError) as caught:
        db.everything.create_many(data=data)
    assert caught.value.field == "name"
    assert caught.value.row == 50
    assert db.everything.count() == 0


class Other(enum.StrEnum):
    PRO = "PRO"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("small", 2**31, "Everything.small: expected an int in the 32-bit range"),
        ("small", True, "Everything.small: expected an int"),
        ("ratio", float("nan"), "Everything.ratio: expected a float"),
        ("flag", 1, "Everything.flag: expected a bool"),
        ("tier", "GOLD", "Everything.tier: expected a Tier member"),
        ("tier", Other.PRO, "Everything.tier: expected a Tier member"),
        ("at", datetime(2026, 1, 1), "Everything.at: expected an aware datetime"),
        ("name", None, "Everything.name: expected a str"),
        ("price", Decimal("NaN"), "Everything.price: expected a finite Decimal"),
        ("meta", {1, 2}, "Everything.meta: expected a JSON-serialisable value"),
        ("blob", "text", "Everything.blob: expected bytes"),
    ],
)
def test_a_bad_value_names_the_row_and_field_and_writes_nothing(
    db: Any, field: str, value: Any, message: str
) -> None:
    data = [{"name": f"r{n}"} for n in range(300)]
    data[217] = {"name": "bad", field: value}
    with pytest.raises(strata.ValidationError) as caught:
        db.everything.create_many(data=data)
    assert str(caught.value).startswith(f"row 217: {message}")
    assert caught.value.row == 217
    assert caught.value.model == "Everything"
    assert caught.value.field == field
    assert db.everything.count() == 0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"name": "x", "nope": 1}, "Everything has no field 'nope'"),
        ({"small": 1}, "Everything.name: is required"),
        (["name", "x"], "Everything: each record must be a dict, got list"),
    ],
)
def test_shape_errors_name_the_row(db: Any, row: Any, message: str) -> None:
    with pytest.raises(strata.ValidationError) as caught:
        db.everything.create_many(data=[{"name": "ok"}, row])
    assert str(caught.value).startswith(f"row 1: {message}")
    assert db.everything.count() == 0


def test_hostile_strings_are_values_not_sql(db: Any, backend: Backend) -> None:
    hostile = ['\'); DROP TABLE "Item"; --', '"', "\x00nul", "x" * 10_000, "é" * 3]
    if backend.is_postgres:
        # PostgreSQL's text cannot hold NUL: the whole call is refused, nothing written.
        with pytest.raises(strata.StrataError):
            db.item.create_many(data=[{"sku": s} for s in hostile])
        assert db.item.count() == 0
        hostile.remove("\x00nul")
    db.item.create_many(data=[{"sku": s} for s in hostile])
    assert sorted(r.sku for r in db.item.find_many()) == sorted(hostile)


# -- the core's columnar and chunked entry points (metric ingest builds on them) ------------


def writer(db: Any, model: str) -> BulkWriter:
    return db.client_.bulk_writer(db.client_.metas[model])


def test_columns_insert_like_rows(db: Any) -> None:
    count = writer(db, "Item").insert_columns(
        {"sku": [f"s{n}" for n in range(250)], "qty": list(range(250))}
    )
    assert count == 250
    assert db.item.aggregate(sum={"qty": True})["_sum"]["qty"] == sum(range(250))


def test_ragged_columns_are_refused_before_writing(db: Any) -> None:
    with pytest.raises(strata.ValidationError, match="same length: sku has 3 values, qty has 2"):
        writer(db, "Item").insert_columns({"sku": ["a", "b", "c"], "qty": [1, 2]})
    with pytest.raises(strata.ValidationError, match="has no field 'bogus'"):
        writer(db, "Item").insert_columns({"sku": ["a"], "bogus": [1]})
    assert db.item.count() == 0


def test_unatomic_chunks_commit_alone_and_report_what_was_committed(db: Any) -> None:
    data = [{"sku": f"s{n}"} for n in range(1000)]
    data[730] = {"sku": "s10"}
    with pytest.raises(strata.UniqueConstraintError) as caught:
        writer(db, "Item").insert_rows(iter(data), atomic=False, chunk_rows=300)
    # Chunks [0, 300) and [300, 600) committed; the failing chunk [600, 900) did not.
    assert caught.value.committed == 600
    assert db.item.count() == 600
    assert not db.in_transaction_


@given(
    st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), max_size=40), st.integers(1, 7)
)
def test_any_chunking_inserts_the_same_rows(
    tmp_path_factory: Any, values: list[int], chunk: int
) -> None:
    """SQLite only: a database per hypothesis example."""
    path = tmp_path_factory.mktemp("chunks")
    schema = path / "schema.prisma"
    schema.write_text(SCHEMA)
    with strata.connect(path / "c.db", schema=schema) as db:
        db.migrate_.push()
        data = [{"sku": f"s{i}", "qty": v} for i, v in enumerate(values)]
        assert writer(db, "Item").insert_rows(data, chunk_rows=chunk, atomic=False) == len(values)
        assert [r.qty for r in db.item.find_many(order_by={"id": "asc"})] == values
