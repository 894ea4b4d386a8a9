"""Soft delete on the video-machine seed schema: a create or upsert on a unique value held
by a soft-deleted row revives that row; hard_delete removes rows for good; deletes through
with_deleted() leave rows already deleted as they were."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import Backend

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "video_machine.prisma"


@pytest.fixture
def db(backend: Backend) -> Iterator[strata.Database]:
    with backend.seed("video_machine") as database:
        for user in ("alice", "bob"):
            database.user.create(
                data={"id": user, "email": f"{user}@x.io", "name": user.title(), "image": "i"}
            )
            for n in range(2):
                database.project.create(
                    data={"id": f"{user}-p{n}", "userId": user, "title": f"t{n}", "config": {}}
                )
            database.preset.create(data={"userId": user, "name": "default", "config": {"a": 1}})
        yield database


def raw(db: strata.Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """What the database holds, whatever the client's view: rows read with Python's sqlite3
    from a SQLite file, with raw SQL on PostgreSQL (``?`` is then ``$1``)."""
    if db.url_.startswith("postgresql"):
        return db.query_raw_(sql.replace("?", "$1"), *params, as_tuples=True)
    conn = sqlite3.connect(db.path_)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# -- revive ----------------------------------------------------------------------------------


def test_create_revives_the_soft_deleted_row_holding_its_unique_value(
    db: strata.Database,
) -> None:
    before = db.user.delete(where={"id": "alice"})
    assert before.deletedAt is not None
    statements: list[tuple[str, bool]] = []
    db.set_tracer_(lambda sql, params: statements.append((sql, db.in_transaction_)))
    revived = db.user.create(data={"email": "alice@x.io", "name": "Alice again"})
    db.set_tracer_(None)
    # The same row: its id (so her projects stay hers), creation time and the fields the
    # create leaves out; deletedAt cleared, the given fields written, updatedAt stamped.
    assert revived.id == "alice"
    assert revived.deletedAt is None
    assert revived.name == "Alice again"
    assert revived.image == "i"
    assert revived.createdAt == before.createdAt
    assert revived.updatedAt >= before.updatedAt
    assert db.user.find_unique_or_raise(where={"email": "alice@x.io"}) == revived
    assert raw(db, 'SELECT count(*) FROM "users" WHERE "email" = ?', "alice@x.io") == [(1,)]
    assert {p.id for p in db.project.find_many(where={"userId": "alice"})} == {
        "alice-p0",
        "alice-p1",
    }
    # The failed INSERT and the revival ran in one write transaction.
    assert [s.split()[0] for s, _ in statements] == ["INSERT", "UPDATE"]
    assert all(in_transaction for _, in_transaction in statements)
    assert not db.in_transaction_


def test_create_with_the_primary_key_revives_too(db: strata.Database) -> None:
    db.project.delete(where={"id": "alice-p0"})
    revived = db.project.create(
        data={"id": "alice-p0", "userId": "alice", "title": "back", "config": {"b": 2}},
        include={"scenes": True},
    )
    assert (revived.title, revived.config, revived.deletedAt) == ("back", {"b": 2}, None)
    assert revived.scenes == []
    assert db.project.count() == 4


def test_upsert_takes_the_create_branch_and_revives(db: strata.Database) -> None:
    db.preset.delete(where={"userId_name": {"userId": "alice", "name": "default"}})
    upserted = db.preset.upsert(
        where={"userId_name": {"userId": "alice", "name": "default"}},
        create={"userId": "alice", "name": "default", "config": {"a": 2}},
        update={"config": {"a": 3}},
    )
    # The deleted preset was not there for this view: its stale data gets no update.
    assert (upserted.config, upserted.deletedAt) == ({"a": 2}, None)
    assert raw(db, 'SELECT count(*) FROM "presets" WHERE "userId" = ?', "alice") == [(1,)]
    # A second upsert finds it live and updates it.
    again = db.preset.upsert(
        where={"userId_name": {"userId": "alice", "name": "default"}},
        create={"userId": "alice", "name": "default", "config": {"a": 2}},
        update={"config": {"a": 3}},
    )
    assert (again.id, again.config) == (upserted.id, {"a": 3})


def test_nested_creates_revive_too(db: strata.Database) -> None:
    db.project.delete(where={"id": "alice-p1"})
    db.user.update(
        where={"id": "alice"},
        data={"projects": {"create": {"id": "alice-p1", "title": "nested", "config": {}}}},
    )
    assert db.project.find_unique_or_raise(where={"id": "alice-p1"}).title == "nested"


def test_a_live_row_holding_the_value_still_conflicts(db: strata.Database) -> None:
    with pytest.raises(strata.UniqueConstraintError) as caught:
        db.user.create(data={"email": "bob@x.io"})
    assert (caught.value.model, caught.value.fields) == ("User", ["email"])
    assert not db.in_transaction_
    assert db.user.count() == 2


def test_a_revival_meeting_another_unique_value_fails_and_changes_nothing(
    db: strata.Database,
) -> None:
    db.user.delete(where={"id": "alice"})
    # Reviving alice's row with bob's live id would collide with bob.
    with pytest.raises(strata.UniqueConstraintError):
        db.user.create(data={"id": "bob", "email": "alice@x.io"})
    assert not db.in_transaction_
    assert raw(db, 'SELECT "id", "deletedAt" IS NOT NULL FROM "users" ORDER BY "id"') == [
        ("alice", 1),
        ("bob", 0),
    ]


def test_a_failed_transaction_undoes_a_revival(db: strata.Database) -> None:
    db.user.delete(where={"id": "alice"})
    with pytest.raises(RuntimeError), db.transaction_():
        db.user.create(data={"email": "alice@x.io"})
        raise RuntimeError
    assert db.user.find_unique(where={"email": "alice@x.io"}) is None
    assert raw(db, 'SELECT "deletedAt" IS NOT NULL FROM "users" WHERE "id" = ?', "alice") == [(1,)]


def test_a_scoped_view_revives_only_its_own_rows(db: strata.Database) -> None:
    db.project.delete(where={"id": "bob-p0"})
    alice = db.scoped_(userId="alice")
    with pytest.raises(strata.UniqueConstraintError):
        alice.project.create(data={"id": "bob-p0", "title": "mine now", "config": {}})
    bob = db.with_deleted_().project.find_unique_or_raise(where={"id": "bob-p0"})
    assert (bob.userId, bob.title) == ("bob", "t0")
    assert bob.deletedAt is not None


def test_with_deleted_sees_the_row_so_a_create_conflicts(db: strata.Database) -> None:
    db.user.delete(where={"id": "alice"})
    with pytest.raises(strata.UniqueConstraintError):
        db.with_deleted_().user.create(data={"email": "alice@x.io"})
    assert db.user.find_unique(where={"id": "alice"}) is None


# -- deleting for good -----------------------------------------------------------------------


def test_hard_delete_removes_a_soft_deleted_row(db: strata.Database) -> None:
    db.project.delete(where={"id": "alice-p0"})
    removed = db.project.hard_delete(where={"id": "alice-p0"})
    assert removed.id == "alice-p0"
    assert removed.deletedAt is not None
    assert raw(db, 'SELECT count(*) FROM "projects" WHERE "id" = ?', "alice-p0") == [(0,)]
    with pytest.raises(strata.RecordNotFoundError):
        db.project.hard_delete(where={"id": "alice-p0"})
    # A live row, through a with_deleted() view; the cascade removes its projects.
    db.with_deleted_().user.hard_delete(where={"id": "bob"})
    assert raw(db, 'SELECT count(*) FROM "projects" WHERE "userId" = ?', "bob") == [(0,)]
    assert not db.in_transaction_


def test_hard_delete_many_purges_old_deletions_within_the_scope(db: strata.Database) -> None:
    db.project.delete_many()
    db.project.create(data={"id": "fresh", "userId": "alice", "title": "x", "config": {}})
    alice = db.scoped_(userId="alice")
    assert alice.project.hard_delete_many(where={"deletedAt": {"not": None}}) == {"count": 2}
    with pytest.raises(strata.RecordNotFoundError):
        alice.project.hard_delete(where={"id": "bob-p0"})
    assert raw(db, 'SELECT "id" FROM "projects" ORDER BY "id"') == [
        ("bob-p0",),
        ("bob-p1",),
        ("fresh",),
    ]


# -- deletes through with_deleted() ----------------------------------------------------------


def test_with_deleted_deletes_keep_the_first_deletion_time(db: strata.Database) -> None:
    first = db.project.delete(where={"id": "alice-p0"})
    everything = db.with_deleted_()
    again = everything.project.delete(where={"id": "alice-p0"})
    assert (again.deletedAt, again.updatedAt) == (first.deletedAt, first.updatedAt)
    # delete_many marks the live rows only, and counts those.
    assert everything.project.delete_many(where={"userId": "alice"}) == {"count": 1}
    assert everything.project.find_unique_or_raise(where={"id": "alice-p0"}) == first
    # Nested deletes too.
    everything.user.update(
        where={"id": "alice"}, data={"projects": {"delete": [{"id": "alice-p0"}]}}
    )
    assert everything.project.find_unique_or_raise(where={"id": "alice-p0"}) == first
    with pytest.raises(strata.RecordNotFoundError):
        everything.project.delete(where={"id": "nobody"})
