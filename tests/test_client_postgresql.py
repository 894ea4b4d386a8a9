"""The typed client on PostgreSQL, where the database differs from SQLite on purpose: exact
NUMERIC, timestamp precision, native enums and arrays, jsonb, ILIKE, the one-statement
upsert under concurrency, raw SQL with ``$n`` parameters, and bad input. What must behave the
same on both databases is in the conformance tests (tests/test_client_*.py)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

import strata

SCHEMA = """
datasource db {
  provider = "postgresql"
}

enum Size {
  SMALL  @map("small")
  MEDIUM
  LARGE  @map("large")
}

model Item {
  id       Int        @id @default(autoincrement())
  code     String     @unique @db.VarChar(5)
  name     String     @default("")
  amount   Decimal?
  price    Decimal?   @db.Decimal(10, 2)
  counter  Int        @default(0)
  at       DateTime?
  exact    DateTime?  @db.Timestamptz(6)
  day      DateTime?  @db.Date
  clock    DateTime?  @db.Time(3)
  zoned    DateTime?  @db.Timetz(3)
  size     Size?
  sizes    Size[]
  tags     String[]
  amounts  Decimal[]
  doc      Json?
  blob     Bytes?
  big      BigInt?
  ref      String?    @db.Uuid
}
"""


@pytest.fixture
def db(pg_url: str, tmp_path: Path) -> Iterator[strata.Database]:
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA)
    with strata.connect(pg_url, schema=schema) as database:
        database.migrate_.push()
        yield database


class Traced:
    """The statements a database runs from now on, with their parameters."""

    def __init__(self, db: strata.Database) -> None:
        self.seen: list[tuple[str, tuple[object, ...]]] = []
        db.set_tracer_(lambda sql, params: self.seen.append((sql, tuple(params))))

    def take(self) -> list[tuple[str, tuple[object, ...]]]:
        taken, self.seen[:] = list(self.seen), []
        return taken


def column_type(db: strata.Database, column: str) -> str:
    ((name,),) = db.query_raw_(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = '\"Item\"'::regclass AND attname = $1",
        column,
        as_tuples=True,
    )
    return str(name)


# -- Decimal is NUMERIC: exact both ways -----------------------------------------------------


def test_numeric_round_trips_exactly(db: strata.Database) -> None:
    assert column_type(db, "amount") == "numeric(65,30)"
    amounts = [
        Decimal("0.1"),
        Decimal("12345678901234567890.123456789012345678901234567890"),  # 50 digits
        Decimal("-0.000000000000000000000000000001"),
        Decimal("99999999999999999999999999999999999"),  # 35 whole digits: the most
        Decimal("1E+2"),
    ]
    for n, amount in enumerate(amounts):
        created = db.item.create(data={"code": f"c{n}", "amount": amount})
        assert created.amount == amount
        assert isinstance(created.amount, Decimal)
    stored = [i.amount for i in db.item.find_many(order_by={"id": "asc"})]
    assert stored == amounts
    # Filters compare exactly: no double in between.
    assert db.item.count({"amount": {"gt": Decimal("12345678901234567890.12345678901234567")}}) == 2
    # Sums and averages are exact too.
    total = db.item.aggregate(sum={"amount": True})["_sum"]["amount"]
    with localcontext(Context(prec=100)):
        assert total == sum(amounts, Decimal(0))


def test_numeric_digits_the_column_cannot_keep_are_refused(db: strata.Database) -> None:
    with pytest.raises(strata.ValidationError, match=r"Item\.amount: .*30 after it"):
        db.item.create(data={"code": "a", "amount": Decimal("1." + "1" * 31)})
    with pytest.raises(strata.ValidationError, match=r"Item\.price: .*8 digits before"):
        db.item.create(data={"code": "a", "price": Decimal("123456789")})
    with pytest.raises(strata.ValidationError, match=r"Item\.price: .*2 after it"):
        db.item.create(data={"code": "a", "price": Decimal("1.005")})
    assert db.item.create(data={"code": "a", "price": Decimal("12345678.90")}).price == Decimal(
        "12345678.90"
    )
    assert db.item.count() == 1


def test_decimal_arithmetic_is_exact_and_locks_the_rows(db: strata.Database) -> None:
    item = db.item.create(data={"code": "a", "amount": Decimal("0.1")})
    updated = db.item.update(where={"id": item.id}, data={"amount": {"increment": Decimal("0.2")}})
    assert updated.amount == Decimal("0.3")
    with pytest.raises(strata.ValidationError, match="endless digits"):
        db.item.update(where={"id": item.id}, data={"amount": {"divide": 7}})
    assert not db.in_transaction_

    # Concurrent increments from four threads (each its own connection): none is lost,
    # since each read of the current value is FOR UPDATE.
    def add(times: int) -> None:
        for _ in range(times):
            db.item.update(where={"id": item.id}, data={"amount": {"increment": Decimal("0.01")}})

    threads = [threading.Thread(target=add, args=(25,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.item.find_unique_or_raise(where={"id": item.id}).amount == Decimal("1.3")


# -- DateTime is timestamp(3) ----------------------------------------------------------------


def test_timestamps_are_utc_and_cut_to_the_columns_precision(db: strata.Database) -> None:
    assert column_type(db, "at") == "timestamp(3) without time zone"
    moment = datetime(2026, 11, 22, 11, 30, 0, 123999, tzinfo=timezone(timedelta(hours=2)))
    created = db.item.create(data={"code": "a", "at": moment, "exact": moment, "day": moment})
    # timestamp(3): cut (not rounded) to milliseconds by the client, as on SQLite, and
    # stored as UTC wall-clock time.
    assert created.at == datetime(2026, 11, 22, 9, 30, 0, 123000, tzinfo=UTC)
    assert created.at.tzinfo is UTC
    ((stored, exact, day),) = db.query_raw_(
        'SELECT "at", "exact", "day" FROM "Item"', as_tuples=True
    )
    assert stored == datetime(2026, 11, 22, 9, 30, 0, 123000)  # naive: UTC
    # timestamptz(6) keeps the microseconds; a date keeps the UTC day.
    assert exact == created.exact == datetime(2026, 11, 22, 9, 30, 0, 123999, tzinfo=UTC)
    assert day == date(2026, 11, 22)
    assert created.day == datetime(2026, 11, 22, tzinfo=UTC)
    # Comparisons bind the same way: the stored instant is found.
    assert db.item.count({"at": datetime(2026, 11, 22, 9, 30, 0, 123456, tzinfo=UTC)}) == 1
    assert db.item.count({"at": {"gt": moment}}) == 0
    # Raw SQL gets PostgreSQL's own rule, which rounds: .123999 becomes .124.
    db.execute_raw_(
        'UPDATE "Item" SET "at" = $1::timestamp', datetime(2026, 11, 22, 9, 30, 0, 123999)
    )
    ((rounded,),) = db.query_raw_('SELECT "at" FROM "Item"', as_tuples=True)
    assert rounded.microsecond == 124000


def test_times_of_day_are_utc_on_the_first_day_of_1970(db: strata.Database) -> None:
    moment = datetime(2026, 11, 22, 11, 30, 0, 123999, tzinfo=timezone(timedelta(hours=2)))
    created = db.item.create(data={"code": "a", "clock": moment, "zoned": moment})
    # Prisma's reading of a time column: that time, UTC, on 1970-01-01.
    expected = datetime(1970, 1, 1, 9, 30, 0, 123000, tzinfo=UTC)
    assert created.clock == created.zoned == expected
    assert db.item.find_unique_or_raise(where={"code": "a"}).zoned == expected
    # A timetz written elsewhere with another offset reads as its UTC time.
    db.execute_raw_('UPDATE "Item" SET "zoned" = $1::timetz', "01:00:00+02")
    assert db.item.find_unique_or_raise(where={"code": "a"}).zoned == datetime(
        1970, 1, 1, 23, 0, tzinfo=UTC
    )


def test_naive_datetimes_are_refused_and_there_is_no_form_to_detect(db: strata.Database) -> None:
    with pytest.raises(strata.ValidationError, match="aware datetime"):
        db.item.create(data={"code": "a", "at": datetime(2026, 1, 1)})
    traced = Traced(db)
    db.item.find_many(where={"at": {"lt": datetime.now(UTC)}})
    assert len(traced.take()) == 1  # no detection statement before it
    with pytest.raises(strata.ConfigurationError, match="nothing to rewrite"):
        from strata.client.datetime_rewrite import rewrite

        rewrite(db.client_, "Item", "at", "iso8601")


# -- native enums and arrays -----------------------------------------------------------------


def test_enums_are_native(db: strata.Database) -> None:
    assert column_type(db, "size") == '"Size"'
    assert column_type(db, "sizes") == '"Size"[]'
    size = db.client_.classes.enums["Size"]
    db.item.create(data={"code": "a", "size": "LARGE", "sizes": ["SMALL", size.MEDIUM]})
    db.item.create(data={"code": "b", "size": size.SMALL})
    assert db.query_raw_('SELECT "size"::text AS s FROM "Item" ORDER BY 1', as_tuples=True) == [
        ("large",),
        ("small",),
    ]
    assert [i.code for i in db.item.find_many(where={"size": {"in": ["LARGE"]}})] == ["a"]
    assert [i.code for i in db.item.find_many(where={"sizes": {"has": "MEDIUM"}})] == ["a"]
    (item,) = db.item.find_many(where={"sizes": {"has_every": ["SMALL", "MEDIUM"]}})
    assert item.sizes == [size.SMALL, size.MEDIUM]
    # The server's enum refuses what is no value of it, even through raw SQL.
    with pytest.raises(strata.DatabaseError, match="invalid input value for enum"):
        db.execute_raw_('UPDATE "Item" SET "size" = $1', "huge")
    assert not db.in_transaction_


def test_lists_are_native_arrays(db: strata.Database) -> None:
    assert column_type(db, "tags") == "text[]"
    assert column_type(db, "amounts") == "numeric(65,30)[]"
    db.item.create(data={"code": "a", "tags": ["x", "y,z", '"q"'], "amounts": [Decimal("0.1")]})
    db.item.create(data={"code": "b", "tags": [], "amounts": [Decimal("0.10"), Decimal("2")]})
    ((tags,),) = db.query_raw_('SELECT "tags" FROM "Item" WHERE "code" = $1', "a", as_tuples=True)
    assert tags == ["x", "y,z", '"q"']
    # Numbers compare by value: 0.10 is 0.1.
    assert db.item.count({"amounts": {"has": Decimal("0.1")}}) == 2
    assert db.item.count({"amounts": {"has_some": [Decimal(2), Decimal(3)]}}) == 1
    assert db.item.count({"tags": {"is_empty": True}}) == 1
    db.item.update(where={"code": "b"}, data={"tags": {"push": ["n", "m"]}})
    assert db.item.find_unique_or_raise(where={"code": "b"}).tags == ["n", "m"]


def test_array_contains_compares_elements_not_jsonb_containment(db: strata.Database) -> None:
    # jsonb's @> would find [{"a": 1}] inside [{"a": 1, "b": 2}]; Prisma's array_contains
    # wants equal elements, as on SQLite.
    db.item.create(data={"code": "a", "doc": [{"a": 1, "b": 2}, [1, 2]]})
    assert db.item.count({"doc": {"array_contains": [{"a": 1}]}}) == 0
    assert db.item.count({"doc": {"array_contains": [{"b": 2, "a": 1}]}}) == 1
    assert db.item.count({"doc": {"array_contains": [[1]]}}) == 0
    assert db.item.count({"doc": {"array_contains": [1, 2]}}) == 0  # elements, not nested
    assert db.item.count({"doc": {"array_ends_with": [1, 2.0]}}) == 1
    # A scalar is no one-element array, though jsonb's -> 0 would read it as one.
    db.item.create(data={"code": "b", "doc": 5})
    assert db.item.count({"doc": {"path": [0], "equals": 5}}) == 0
    assert db.item.count({"doc": {"path": [0], "equals": None}}) == 1


def test_insensitive_filters_use_ilike_with_wildcards_escaped(db: strata.Database) -> None:
    for code, name in (("a", "50% Off_Sale"), ("b", "50X Off-Sale"), ("c", "back\\slash")):
        db.item.create(data={"code": code, "name": name})
    traced = Traced(db)
    found = db.item.find_many(where={"name": {"contains": "% off_", "mode": "insensitive"}})
    assert [i.code for i in found] == ["a"]
    ((sql, params),) = traced.take()
    assert "ILIKE" in sql
    assert params[0] == "%\\% off\\_%"
    assert db.item.count({"name": {"starts_with": "BACK\\", "mode": "insensitive"}}) == 1
    assert db.item.count({"name": {"equals": "50% OFF_SALE", "mode": "insensitive"}}) == 1
    assert db.item.count({"name": {"contains": "off"}}) == 0  # case-sensitive by default


# -- the upsert ------------------------------------------------------------------------------


def upsert_many(url: str, schema: str, worker: int, keys: int, start: Any, field: str) -> None:
    """One process upserting the same new keys as its siblings, all starting together, so
    that each key's first upserts race."""
    with strata.connect(url, schema=schema) as db:
        db.item.count()  # the client is built, and a connection open, before the start
        start.wait()
        for key in range(keys):
            db.item.upsert(
                where={"code": f"k{key}"},
                create={"code": f"k{key}", field: 1, "name": f"w{worker}"},
                update={field: {"increment": 1}},
            )


@pytest.mark.parametrize(
    "field",
    [
        "counter",  # one INSERT ... ON CONFLICT statement
        "amount",  # Decimal arithmetic: read, then write, once more after a lost race
    ],
)
def test_concurrent_upserts_of_one_key_make_one_row(
    db: strata.Database, tmp_path: Path, field: str
) -> None:
    traced = Traced(db)
    db.item.upsert(where={"code": "x"}, create={"code": "x"}, update={field: {"increment": 1}})
    native = any("ON CONFLICT" in sql for sql, _ in traced.take())
    assert native == (field == "counter")
    context = multiprocessing.get_context("spawn")
    schema = str(tmp_path / "schema.prisma")
    start = context.Barrier(4)
    processes = [
        context.Process(target=upsert_many, args=(db.url_, schema, n, 300, start, field))
        for n in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]  # no unique error anywhere
    rows = db.item.find_many(where={"code": {"starts_with": "k"}})
    assert sorted(r.code for r in rows) == sorted(f"k{n}" for n in range(300))
    # Every upsert counted exactly once: one create and three increments per key.
    assert {getattr(r, field) for r in rows} == {4}


def test_upserts_the_statement_cannot_express_take_the_other_path(db: strata.Database) -> None:
    db.item.create(data={"code": "a", "amount": Decimal("1.5")})
    traced = Traced(db)
    # Decimal arithmetic is computed exactly outside SQL: read, then write.
    updated = db.item.upsert(
        where={"code": "a"}, create={"code": "a"}, update={"amount": {"increment": 1}}
    )
    assert updated.amount == Decimal("2.5")
    assert not any("ON CONFLICT" in sql for sql, _ in traced.take())
    # A create that names another key than where's is no upsert of that key.
    created = db.item.upsert(where={"code": "b"}, create={"code": "c"}, update={})
    assert created.code == "c"
    assert not any("ON CONFLICT" in sql for sql, _ in traced.take())


# -- raw SQL and bad input -------------------------------------------------------------------


def test_raw_sql_takes_dollar_parameters(db: strata.Database) -> None:
    db.item.create(data={"code": "a", "amount": Decimal("2.50"), "tags": ["x"]})
    rows = db.query_raw_(
        'SELECT "code", "amount" * $1 AS twice, $2::text[] AS given FROM "Item" '
        'WHERE "code" = $3 AND $4 = ANY("tags")',
        2,
        ["p", "q"],
        "a",
        "x",
    )
    assert rows == [{"code": "a", "twice": Decimal("5.00"), "given": ["p", "q"]}]
    assert db.execute_raw_('UPDATE "Item" SET "name" = $1 WHERE "code" = $2', "n", "a") == 1
    with pytest.raises(strata.SqlError):
        db.query_raw_('SELECT * FROM "Item" WHERE "code" = ?', "a")  # SQLite's style


def test_bad_input_is_a_clear_error_and_leaves_no_transaction(db: strata.Database) -> None:
    db.item.create(data={"code": "a"})
    # Refused by the codec before any SQL.
    with pytest.raises(strata.ValidationError, match=r"Item\.counter: expected an int"):
        db.item.update(where={"code": "a"}, data={"counter": "three"})
    with pytest.raises(strata.ValidationError, match=r"Item\.name: expected a str without NUL"):
        db.item.create(data={"code": "b", "name": "a\x00b"})
    with pytest.raises(strata.ValueTooLongError) as too_long:
        db.item.create(data={"code": "toolong"})
    assert too_long.value.code == "P2000"
    # Refused by the server: a wrong type in raw SQL, an error inside a transaction.
    with pytest.raises(strata.DatabaseError, match="invalid input syntax for type integer"):
        db.query_raw_("SELECT $1::int AS n", "three")
    with pytest.raises(strata.UniqueConstraintError), db.transaction_():
        db.item.create(data={"code": "c"})
        db.item.create(data={"code": "a"})
    assert not db.in_transaction_
    # Nothing half-written, and the connection is fine for the next statement.
    assert sorted(i.code for i in db.item.find_many()) == ["a"]
    assert db.query_raw_("SELECT 1 AS one") == [{"one": 1}]


def test_find_unique_reuses_its_statement(db: strata.Database) -> None:
    item = db.item.create(data={"code": "a", "big": 2**62})
    db.item.find_unique(where={"id": item.id})  # the first call builds the statement
    traced = Traced(db)
    for _ in range(3):
        assert db.item.find_unique(where={"id": item.id}) == item
    statements = traced.take()
    assert len({sql for sql, _ in statements}) == 1
    assert all("$1" in sql for sql, _ in statements)


def test_bytes_and_bigint(db: strata.Database) -> None:
    blob = bytes(range(256))
    created = db.item.create(data={"code": "a", "blob": blob, "big": -(2**63)})
    assert db.item.find_unique_or_raise(where={"id": created.id}).blob == blob
    assert column_type(db, "blob") == "bytea"
    assert db.item.count({"big": {"lt": -(2**62)}}) == 1


def test_other_native_types_take_the_same_filters(db: strata.Database) -> None:
    ref = "0b6f1c8e-3d2a-4e5f-9a7b-1c2d3e4f5a6b"
    db.item.create(data={"code": "a", "ref": ref, "big": 2**62})
    db.item.create(data={"code": "b", "big": 2**62})
    assert db.item.count({"ref": {"starts_with": "0B6F", "mode": "insensitive"}}) == 1
    assert db.item.count({"ref": {"contains": "3d2a"}}) == 1
    assert db.item.count({"ref": ref}) == 1
    # A BIGINT sum is a NUMERIC on the server, an int here, as Prisma's BigInt.
    total = db.item.aggregate(sum={"big": True})["_sum"]["big"]
    assert total == 2**63
    assert type(total) is int


def test_datetime_format_is_sqlites_choice(pg_url: str) -> None:
    with pytest.raises(strata.ConfigurationError, match="own timestamp type"):
        strata.connect(pg_url, datetime_format="unixepoch-ms")
