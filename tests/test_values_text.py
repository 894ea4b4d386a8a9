"""Text is stored as given, and times are stored only when they can be read back (issue 12,
item 3).

A lone surrogate (what ``os.fsdecode`` makes of a file name byte that is not UTF-8) has no
UTF-8 form. SQLite holds text as UTF-8, so strata used to store U+FFFD in its place and the
original was lost; now every path refuses it with `strata.ValidationError`, as Python's
``sqlite3`` refuses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import strata
from support import bind, job

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"

#: A file name whose first byte is not UTF-8, as Python's os functions hand it over.
NAME = os.fsdecode(b"\xff.txt")

SAMPLE = """
datasource db {
  provider = "sqlite"
}

model Note {
  id    Int      @id @default(autoincrement())
  title String
  body  Json?
  tags  String[]
  at    DateTime?
}

model Sample {
  id   Int      @id @default(autoincrement())
  host String
  at   DateTime
  cpu  Float?

  @@index([host, at])
}
"""


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[strata.Database]:
    schema = tmp_path / "schema.prisma"
    schema.write_text(SAMPLE)
    with strata.connect(tmp_path / "sample.db", schema=schema) as db:
        db.migrate_.push()
        yield db


@pytest.fixture
def render(tmp_path: Path) -> Iterator[strata.Database]:
    with strata.connect(tmp_path / "render.db", schema=SCHEMAS / "render_manager.prisma") as db:
        db.migrate_.push()
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
        yield db


def rows(db: strata.Database, table: str) -> list[dict[str, Any]]:
    return db.query_raw_(f'SELECT * FROM "{table}" ORDER BY rowid')


def refused(field: str | None = None) -> Any:
    """Expect the lone-surrogate ValidationError (a ValueError too), naming ``field``."""
    return pytest.raises(strata.ValidationError, match="lone surrogate")


# -- the client ------------------------------------------------------------------------------


def test_python_sqlite3_refuses_it_too(tmp_path: Path) -> None:
    import sqlite3

    connection = sqlite3.connect(tmp_path / "plain.db")
    with pytest.raises(UnicodeEncodeError):
        connection.execute("SELECT ?", (NAME,))
    connection.close()


def test_a_string_field_refuses_a_lone_surrogate(sample: strata.Database) -> None:
    with refused() as caught:
        sample.note.create(data={"title": NAME})
    assert (caught.value.model, caught.value.field) == ("Note", "title")
    assert "'\\udcff' at index 0" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    note = sample.note.create(data={"title": "ok"})
    with refused():
        sample.note.update(where={"id": note.id}, data={"title": {"set": NAME}})
    with refused():
        sample.note.update_many(data={"title": NAME})
    with refused():
        sample.note.upsert(where={"id": 99}, create={"title": NAME}, update={})
    with refused():
        sample.note.find_many(where={"title": {"contains": NAME}})
    assert [r["title"] for r in rows(sample, "Note")] == ["ok"]
    # Other text outside the BMP, NUL and lone-looking escapes are ordinary text.
    for text in ("\U0001f600 ok", "a\x00b", "\\udcff", "é"):
        created = sample.note.create(data={"title": text})
        assert sample.note.find_unique_or_raise(where={"id": created.id}).title == text


@pytest.mark.parametrize(
    "body",
    [
        NAME,
        {"file": NAME},
        {NAME: 1},
        [1, {"deep": [NAME]}],
    ],
)
def test_json_values_and_keys_refuse_it_at_any_depth(sample: strata.Database, body: Any) -> None:
    with refused() as caught:
        sample.note.create(data={"title": "t", "body": body})
    assert caught.value.field == "body"
    assert rows(sample, "Note") == []


def test_list_elements_refuse_it(sample: strata.Database) -> None:
    with refused() as caught:
        sample.note.create(data={"title": "t", "tags": ["ok", NAME]})
    assert caught.value.field == "tags"
    note = sample.note.create(data={"title": "t", "tags": ["ok"]})
    with refused():
        sample.note.update(where={"id": note.id}, data={"tags": {"push": NAME}})
    with refused():
        sample.note.find_many(where={"tags": {"has": NAME}})
    assert sample.note.find_unique_or_raise(where={"id": note.id}).tags == ["ok"]


def test_bulk_insert_refuses_it_with_the_row_and_writes_nothing(sample: strata.Database) -> None:
    good = {"title": "fine"}
    with refused() as caught:
        sample.note.create_many([good, good, {"title": NAME}, good])
    assert (caught.value.row, caught.value.field) == (2, "title")
    with refused() as caught:
        sample.note.create_many([good, {"title": "t", "body": {"k": NAME}}])
    assert (caught.value.row, caught.value.field) == (1, "body")
    assert rows(sample, "Note") == []


def test_metrics_ingest_refuses_it_with_the_row(sample: strata.Database) -> None:
    metrics = sample.metrics_("Sample", series="host", time="at")
    at = datetime(2026, 11, 22, tzinfo=UTC)
    with refused() as caught:
        metrics.ingest([{"host": "a", "at": at}, {"host": NAME, "at": at, "cpu": 1.0}])
    assert (caught.value.row, caught.value.field) == (1, "host")
    with refused() as caught:
        metrics.ingest({"host": ["a", "b", NAME], "at": [at, at, at]})
    assert caught.value.row == 2
    assert rows(sample, "Sample") == []


def test_raw_sql_parameters_refuse_it(sample: strata.Database) -> None:
    for call in (
        lambda: sample.execute_raw_('INSERT INTO "Note" ("title") VALUES (?)', NAME),
        lambda: sample.query_raw_("SELECT ?, ?", "ok", NAME),
        lambda: sample.execute_many_raw_(
            'INSERT INTO "Note" ("title") VALUES (?)', [("ok",), (NAME,)]
        ),
    ):
        with pytest.raises(strata.ValidationError, match="lone surrogate") as caught:
            call()
        assert isinstance(caught.value, ValueError)  # as sqlite3's UnicodeEncodeError is
    with pytest.raises(strata.ValidationError, match="parameter 2 holds a lone surrogate"):
        sample.query_raw_("SELECT ?, ?", "ok", NAME)
    assert rows(sample, "Note") == []
    assert not sample.in_transaction_


# -- the queue and the rate limiter -----------------------------------------------------------


def test_the_queue_refuses_it_in_data_and_error_text(render: strata.Database) -> None:
    queue = bind(render)
    with refused():
        queue.enqueue(job(projectPath=NAME))
    with refused() as caught:
        queue.enqueue_many([job(), job(nexrenderConfig={"file": NAME})])
    assert caught.value.row == 1
    assert render.job.count() == 0
    queue.enqueue(job())
    (claim,) = queue.claim("w")
    with refused():
        queue.complete(claim, {"outputPath": NAME})
    with refused():
        queue.fail(claim, f"cannot open {NAME}")
    unchanged = render.job.find_unique_or_raise(where={"id": claim.id})
    assert (unchanged.status.name, unchanged.attempts, unchanged.error) == ("RENDERING", 1, None)
    # An exception's text is a description, not data: it is kept, with the surrogate
    # escaped, so the failure is still recorded.
    failed = queue.fail(claim, RuntimeError(f"cannot open {NAME}"))
    assert failed.error == "RuntimeError: cannot open \\udcff.txt"


def test_rate_limiter_keys_refuse_it(render: strata.Database) -> None:
    limiter = render.rate_limiter_(
        "RateLimit",
        key=["clientName", "endpoint"],
        count="requestCount",
        window_start="windowStart",
    )
    with pytest.raises(strata.ValidationError, match="valid Unicode text"):
        limiter.hit(NAME, "/jobs", limit=5, window=60)
    assert rows(render, "RateLimit") == []


# -- list filters and NUL -------------------------------------------------------------------


def test_list_filters_match_strings_holding_nul_exactly(sample: strata.Database) -> None:
    for title, tags in (("nul", ["a\x00b"]), ("plain", ["a"]), ("both", ["a", "a\x00c"])):
        sample.note.create(data={"title": title, "tags": tags})

    def titles(where: dict[str, Any]) -> list[str]:
        return [
            n.title for n in sample.note.find_many(where={"tags": where}, order_by={"id": "asc"})
        ]

    assert titles({"has": "a"}) == ["plain", "both"]
    assert titles({"has": "a\x00b"}) == ["nul"]
    assert titles({"has": "a\x00"}) == []
    assert titles({"has_some": ["a\x00b", "zz"]}) == ["nul"]
    assert titles({"has_some": ["a\x00c"]}) == ["both"]
    assert titles({"has_every": ["a\x00b"]}) == ["nul"]
    assert titles({"has_every": ["a"]}) == ["plain", "both"]
    assert titles({"has_every": ["a", "a\x00c"]}) == ["both"]
    assert titles({"has_every": []}) == ["nul", "plain", "both"]


# -- times that could not be read back ------------------------------------------------------

LAST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


def test_a_lease_ending_after_9999_is_refused_when_the_queue_is_bound(
    render: strata.Database,
) -> None:
    with pytest.raises(strata.ValidationError, match="9999-12-31"):
        bind(render, lease=timedelta(days=365 * 8000))
    with pytest.raises(strata.ValidationError, match="9999-12-31"):
        bind(render, lease=1e15)


@pytest.mark.parametrize("datetime_format", ["iso8601", "unixepoch-ms"])
def test_a_delayed_enqueue_past_9999_is_refused(tmp_path: Path, datetime_format: str) -> None:
    with strata.connect(
        tmp_path / "r.db",
        schema=SCHEMAS / "render_manager.prisma",
        datetime_format=datetime_format,
    ) as db:
        db.migrate_.push()
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
        queue = bind(db)
        for run_at in (timedelta(days=365 * 8000), timedelta(days=-365 * 3000)):
            with pytest.raises(strata.ValidationError, match="years 1 to 9999"):
                queue.enqueue(job(), run_at=run_at)
            with pytest.raises(strata.ValidationError, match="years 1 to 9999"):
                queue.enqueue_many([job()], run_at=run_at)
        assert db.job.count() == 0
        # The last time a DateTime holds is fine, and reads back.
        record = queue.enqueue(job(), run_at=LAST)
        assert db.job.find_unique_or_raise(where={"id": record.id}).leaseExpiresAt == LAST


def test_a_retry_backoff_past_9999_is_refused_and_changes_nothing(render: strata.Database) -> None:
    queue = bind(render, backoff=lambda attempt: timedelta(days=365 * 8000))
    queue.enqueue(job())
    (claim,) = queue.claim("w")
    before = render.job.find_unique_or_raise(where={"id": claim.id})
    with pytest.raises(strata.ValidationError, match="9999-12-31"):
        queue.fail(claim, "boom")
    with pytest.raises(strata.ValidationError, match="9999-12-31"):
        queue.fail(claim, "boom", retry_in=timedelta(days=365 * 8000))
    assert render.job.find_unique_or_raise(where={"id": claim.id}) == before
    assert queue.fail(claim, "boom", retry_in=5).status.name == "QUEUED"


def test_claims_and_heartbeats_near_9999_are_refused_before_writing(
    render: strata.Database,
) -> None:
    queue = bind(render)
    queue.enqueue(job())
    queue.enqueue(job())
    # Move the queue's clock to two minutes before the end of year 9999.
    queue.advance_clock((LAST - timedelta(minutes=2) - queue.now()).total_seconds())
    (claim,) = queue.claim("w")  # the lease ends a minute before the end: fine
    assert render.job.find_unique_or_raise(where={"id": claim.id}).leaseExpiresAt < LAST
    queue.advance_clock(90)  # now the lease would end after it
    before = render.job.find_unique_or_raise(where={"id": claim.id})
    with pytest.raises(strata.ValidationError, match="9999-12-31"):
        queue.heartbeat(claim)
    with pytest.raises(strata.ValidationError, match="9999-12-31"):
        queue.progress(claim, 50)
    with pytest.raises(strata.ValidationError, match="9999-12-31"), queue.working(claim):
        pass
    with pytest.raises(strata.ValidationError, match="9999-12-31"):
        queue.claim("w")
    assert render.job.find_unique_or_raise(where={"id": claim.id}) == before
    assert render.job.count({"status": "QUEUED"}) == 1


def test_a_rate_limit_window_ending_past_the_clock_range_is_refused(
    render: strata.Database,
) -> None:
    limiter = render.rate_limiter_(
        "RateLimit",
        key=["clientName", "endpoint"],
        count="requestCount",
        window_start="windowStart",
    )
    limiter.set_clock(datetime(2262, 4, 1, tzinfo=UTC))
    with pytest.raises(strata.ValidationError, match="2262-04-11"):
        limiter.hit("c", "/jobs", limit=5, window=365 * 86400)
    assert rows(render, "RateLimit") == []
    decision = limiter.hit("c", "/jobs", limit=5, window=60)
    assert decision.reset_at == datetime(2262, 4, 1, 0, 1, tzinfo=UTC)
    (stored,) = render.rate_limit.find_many()
    assert stored.windowStart == datetime(2262, 4, 1, tzinfo=UTC)
