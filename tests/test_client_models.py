"""The typed client's model classes and codecs: every Prisma type to Python and back,
through a real SQLite file and a real PostgreSQL database (the stored forms differ: SQLite's
are checked here, PostgreSQL's native types in tests/test_client_postgresql.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic
import pytest

import strata
from backends import Backend
from strata.client import DATETIME_FORMATS, build_models
from strata.dialects.values import parse_datetime
from strata.schema import load_schema, load_schema_file

SEEDS = Path(__file__).resolve().parent.parent / "schema"

SAMPLE = """
datasource db {
  provider = "sqlite"
}

enum Size {
  SMALL @map("small")
  LARGE @map("large")
}

model Sample {
  id      Int       @id @default(autoincrement())
  name    String    @default("x")
  big     BigInt?
  data    Bytes?
  ratio   Float?
  flag    Boolean?
  amount  Decimal?
  at      DateTime?
  doc     Json?
  payload Json      @default("{}")
  size    Size?
  tags    String[]
  counts  Int[]
  small   Int?
}
"""


def sample_db(tmp_path: Path, **options: Any) -> strata.Database:
    schema = tmp_path / "schema.prisma"
    schema.write_text(SAMPLE)
    db = strata.connect(tmp_path / "sample.db", schema=schema, **options)
    db.migrate_.push()
    return db


@pytest.fixture
def db(backend: Backend) -> strata.Database:
    return backend.connect(SAMPLE)


def raw(db: strata.Database, column: str) -> list[Any]:
    return [row[0] for row in db.query_raw_(f'SELECT "{column}" FROM "Sample"', as_tuples=True)]


# -- classes ---------------------------------------------------------------------------------


def test_models_and_enums_are_built_from_the_schema() -> None:
    classes = build_models(load_schema_file(SEEDS / "render_manager.prisma"))
    user, job = classes.models["User"], classes.models["Job"]
    assert issubclass(user, pydantic.BaseModel)
    role = classes.enums["Role"]
    assert issubclass(role, StrEnum)
    assert role.ADMIN == "ADMIN"
    assert set(user.model_fields) >= {"id", "email", "name", "macUsernames", "jobs"}
    # Optional scalars and relations default to None; required scalars have no default.
    assert user.model_fields["name"].default is None
    assert user.model_fields["jobs"].default is None
    assert user.model_fields["email"].is_required()
    # Users can build and validate instances themselves; relations take model instances.
    now = datetime.now(UTC)
    built = user(
        id="c1",
        email="a@b.c",
        role="ADMIN",
        macUsernames=["x"],
        createdAt=now,
        updatedAt=now,
    )
    assert built.role is role.ADMIN
    assert built.jobs is None
    with pytest.raises(pydantic.ValidationError):
        user(
            id="c1",
            email="a@b.c",
            role="ADMIN",
            macUsernames=[],
            createdAt=now.replace(tzinfo=None),
            updatedAt=now,
        )
    assert "user" in job.model_fields


def test_records_from_queries_equal_validated_instances(db: strata.Database) -> None:
    created = db.sample.create(
        data={"big": 5, "at": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "size": "LARGE"}
    )
    found = db.sample.find_unique(where={"id": created.id})
    validated = db.sample.model.model_validate(found.model_dump())
    assert found == validated == created
    assert found.model_dump()["size"] == "LARGE"


# -- DateTime --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (1795339800000, datetime(2026, 11, 22, 9, 30, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("2026-11-22 09:30:00", datetime(2026, 11, 22, 9, 30, tzinfo=UTC)),
        ("2026-11-22 09:30:00.250", datetime(2026, 11, 22, 9, 30, 0, 250000, tzinfo=UTC)),
        ("2026-11-22T09:30:00.000+00:00", datetime(2026, 11, 22, 9, 30, tzinfo=UTC)),
        ("2026-11-22T09:30:00Z", datetime(2026, 11, 22, 9, 30, tzinfo=UTC)),
        ("2026-11-22T11:30:00.123+02:00", datetime(2026, 11, 22, 9, 30, 0, 123000, tzinfo=UTC)),
    ],
)
def test_datetime_reads_every_stored_format(
    tmp_path: Path, stored: Any, expected: datetime
) -> None:
    # SQLite only: its stored DateTime forms (a PostgreSQL timestamp has one).
    db = sample_db(tmp_path)
    db.execute_raw_(
        'INSERT INTO "Sample" ("at", "tags", "counts") VALUES (?, ?, ?)', stored, "[]", "[]"
    )
    (found,) = db.sample.find_many()
    assert found.at == expected
    assert found.at.tzinfo is UTC


def test_current_timestamp_default_reads_as_utc() -> None:
    assert parse_datetime("2026-11-22 09:30:00").utcoffset() == timedelta(0)


def test_datetime_writes_iso8601_by_default(backend: Backend, db: strata.Database) -> None:
    moment = datetime(2026, 11, 22, 11, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    created = db.sample.create(data={"at": moment})
    if backend.is_postgres:  # timestamp(3): UTC wall-clock time, cut to milliseconds
        assert raw(db, "at") == [datetime(2026, 11, 22, 9, 30, 0, 123000)]
    else:
        assert raw(db, "at") == ["2026-11-22T09:30:00.123+00:00"]
    # Milliseconds are kept, as in JavaScript's Date; the result is in UTC.
    assert created.at == datetime(2026, 11, 22, 9, 30, 0, 123000, tzinfo=UTC)
    assert set(DATETIME_FORMATS) == {"iso8601", "iso8601-z", "sqlite-datetime", "unixepoch-ms"}


def test_datetime_writes_unix_milliseconds_when_configured(tmp_path: Path) -> None:
    with sample_db(tmp_path, datetime_format="unixepoch-ms") as db:
        created = db.sample.create(data={"at": datetime(2026, 11, 22, 9, 30, tzinfo=UTC)})
        assert raw(db, "at") == [1795339800000]
        assert db.sample.find_unique(where={"id": created.id}).at == created.at
        # Comparisons bind the configured format too.
        assert db.sample.count({"at": {"gte": datetime(2026, 11, 22, tzinfo=UTC)}}) == 1


def test_unknown_datetime_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(strata.ConfigurationError, match="datetime_format"):
        strata.connect(tmp_path / "x.db", datetime_format="rfc2822")


def test_naive_datetimes_are_refused_and_nothing_is_written(db: strata.Database) -> None:
    with pytest.raises(strata.ValidationError) as caught:
        db.sample.create(data={"at": datetime(2026, 11, 22, 9, 30)})
    assert caught.value.model == "Sample"
    assert caught.value.field == "at"
    assert "aware datetime" in str(caught.value)
    assert db.sample.count() == 0


def test_now_and_updated_at_are_set_by_the_client(backend: Backend) -> None:
    with backend.seed("music_api") as db:
        before = datetime.now(UTC) - timedelta(seconds=1)
        key = db.api_key.create(data={"key": "k1", "name": "one"})
        assert before <= key.createdAt <= datetime.now(UTC)
        assert key.updatedAt == key.createdAt
        stored = db.query_raw_('SELECT "createdAt" FROM "api_keys"', as_tuples=True)[0][0]
        if backend.is_postgres:
            assert stored.tzinfo is None
            assert stored.microsecond % 1000 == 0
        else:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stored)
        updated = db.api_key.update(where={"key": "k1"}, data={"name": "renamed"})
        assert updated.updatedAt >= key.updatedAt
        assert updated.createdAt == key.createdAt


# -- Json, Decimal, BigInt, Bytes, Float, Boolean ------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        123,
        -1.5,
        "123",
        "text with \"quotes\" and 'apostrophes'",
        "",
        True,
        False,
        [1, "two", None, [3]],
        {"nested": {"list": [1, 2.5, {"deep": None}], "unicode": "é中"}},
        {},
        [],
        2**62,
    ],
)
def test_json_round_trips(db: strata.Database, value: Any) -> None:
    created = db.sample.create(data={"doc": value, "payload": value})
    found = db.sample.find_unique(where={"id": created.id})
    assert found.doc == value == created.doc
    assert found.payload == value


def test_json_null_in_optional_and_required_fields(backend: Backend, db: strata.Database) -> None:
    created = db.sample.create(data={"doc": None, "payload": None})
    assert created.doc is None
    assert created.payload is None
    # Optional: SQL NULL (Prisma's DbNull); required: the JSON null.
    stored = db.query_raw_(
        'SELECT "doc" IS NULL, "payload" IS NULL, "payload"::text FROM "Sample"'
        if backend.is_postgres
        else 'SELECT "doc" IS NULL, "payload" IS NULL, "payload" FROM "Sample"',
        as_tuples=True,
    )
    assert stored == [(1, 0, "null")]
    assert db.sample.find_many(where={"doc": None}) == [created]


def test_json_refuses_values_json_cannot_hold(db: strata.Database) -> None:
    with pytest.raises(strata.ValidationError, match=r"Sample\.doc"):
        db.sample.create(data={"doc": {"x": float("nan")}})
    with pytest.raises(strata.ValidationError):
        db.sample.create(data={"doc": {1, 2}})
    assert db.sample.count() == 0


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("0.1"),
        Decimal("-0.000001"),
        Decimal("100"),
        Decimal("9999999999999.99"),
        Decimal("123456789012345678"),  # whole: a 64-bit INTEGER
        Decimal("1.50"),
    ],
)
def test_decimal_keeps_its_value(db: strata.Database, amount: Decimal) -> None:
    created = db.sample.create(data={"amount": amount})
    found = db.sample.find_unique(where={"id": created.id})
    assert isinstance(found.amount, Decimal)
    assert found.amount == amount


def test_decimal_that_sqlite_would_round_is_refused(tmp_path: Path) -> None:
    # SQLite only: PostgreSQL's NUMERIC keeps them (tests/test_client_postgresql.py).
    db = sample_db(tmp_path)
    # DECIMAL has NUMERIC affinity: SQLite keeps 15 significant digits of a fraction.
    for amount in [Decimal("99999999999999.99"), Decimal("12345678901234567890.123456789")]:
        with pytest.raises(strata.ValidationError, match="15 significant digits"):
            db.sample.create(data={"amount": amount})
    assert db.sample.count() == 0


def test_decimal_accepts_ints_strings_and_floats_but_not_nan(db: strata.Database) -> None:
    for given, expected in [(5, Decimal(5)), ("1.25", Decimal("1.25")), (0.1, Decimal("0.1"))]:
        assert db.sample.create(data={"amount": given}).amount == expected
    for bad in [Decimal("NaN"), "abc", True, float("inf")]:
        with pytest.raises(strata.ValidationError, match="Decimal"):
            db.sample.create(data={"amount": bad})


def test_bigint_int_float_boolean_bytes(db: strata.Database) -> None:
    for big in (2**63 - 1, -(2**63)):
        assert (
            db.sample.find_unique(where={"id": db.sample.create(data={"big": big}).id}).big == big
        )
    with pytest.raises(strata.ValidationError, match="64-bit"):
        db.sample.create(data={"big": 2**63})
    # Int is 32-bit, as in Prisma and on PostgreSQL.
    with pytest.raises(strata.ValidationError, match="32-bit"):
        db.sample.create(data={"small": 2**31})
    with pytest.raises(strata.ValidationError):
        db.sample.create(data={"small": True})
    blob = bytes(range(256))
    created = db.sample.create(data={"data": blob, "ratio": 1, "flag": False})
    found = db.sample.find_unique(where={"id": created.id})
    assert found.data == blob
    assert found.ratio == 1.0
    assert isinstance(found.ratio, float)
    assert found.flag is False
    with pytest.raises(strata.ValidationError, match="NaN"):
        db.sample.create(data={"ratio": float("nan")})
    with pytest.raises(strata.ValidationError, match="bool"):
        db.sample.create(data={"flag": 1})


# -- enums and lists -------------------------------------------------------------------------


def test_enums_store_their_database_name_and_read_back_members(db: strata.Database) -> None:
    size = db.client_.classes.enums["Size"]
    created = db.sample.create(data={"size": size.LARGE})
    assert created.size is size.LARGE
    db.sample.create(data={"size": "SMALL"})
    assert raw(db, "size") == ["large", "small"]
    assert [s.size for s in db.sample.find_many(where={"size": "SMALL"})] == [size.SMALL]
    with pytest.raises(strata.ValidationError) as caught:
        db.sample.create(data={"size": "small"})  # the database name is not the value
    assert "SMALL, LARGE" in str(caught.value)


def test_scalar_lists_round_trip(db: strata.Database) -> None:
    created = db.sample.create(data={"tags": ["a", "b,c", 'quote"d', "é"], "counts": [1, -2]})
    found = db.sample.find_unique(where={"id": created.id})
    assert found.tags == ["a", "b,c", 'quote"d', "é"]
    assert found.counts == [1, -2]
    # A list left out is empty.
    assert db.sample.create(data={}).tags == []
    with pytest.raises(strata.ValidationError, match="list"):
        db.sample.create(data={"tags": "abc"})
    with pytest.raises(strata.ValidationError):
        db.sample.create(data={"counts": [1, "2"]})


def test_validation_errors_name_model_field_and_expectation(
    backend: Backend, db: strata.Database
) -> None:
    with pytest.raises(strata.ValidationError) as caught:
        db.sample.create(data={"name": 5})
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.model, error.field) == ("Sample", "name")
    # A server's text holds no U+0000, so PostgreSQL's codec says so.
    expected = "a str without NUL characters" if backend.is_postgres else "a str"
    assert error.expected == expected
    assert str(error) == f"Sample.name: expected {expected}, got int 5"
    with pytest.raises(strata.ValidationError, match="no field 'nope'"):
        db.sample.create(data={"nope": 1})


def test_sample_schema_is_valid() -> None:
    assert load_schema(SAMPLE).model("Sample").table == "Sample"
