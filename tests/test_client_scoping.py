"""Multi-tenant scoping and soft delete, on the video-machine seed schema, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import strata
from backends import Backend, for_provider
from client_support import placeholder

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "video_machine.prisma"


@pytest.fixture
def db(backend: Backend) -> Iterator[strata.Database]:
    with backend.seed("video_machine") as database:
        for user in ("alice", "bob"):
            database.user.create(data={"id": user, "email": f"{user}@x.io"})
            for n in range(2):
                project = database.project.create(
                    data={
                        "id": f"{user}-p{n}",
                        "userId": user,
                        "title": f"{user} {n}",
                        "config": {},
                    }
                )
                database.scene.create(
                    data={"projectId": project.id, "position": 0, "text": "once upon a time"}
                )
        yield database


def test_scoped_reads_see_only_the_tenant(db: strata.Database) -> None:
    alice = db.scoped_(userId="alice")
    assert {p.id for p in alice.project.find_many()} == {"alice-p0", "alice-p1"}
    assert alice.project.count() == 2
    assert alice.project.find_unique(where={"id": "bob-p0"}) is None
    assert alice.project.find_first(where={"title": {"contains": "bob"}}) is None
    assert alice.project.aggregate(count=True) == {"_count": 2}
    # A model without userId is scoped through its parent project.
    assert {s.projectId for s in alice.scene.find_many()} == {"alice-p0", "alice-p1"}
    # Relations loaded through include are scoped too.
    (user,) = alice.user.find_many(include={"projects": True})
    assert {p.id for p in user.projects or []} == {"alice-p0", "alice-p1"}


def test_scoped_writes_cannot_touch_another_tenant(db: strata.Database) -> None:
    alice = db.scoped_(userId="alice")
    with pytest.raises(strata.RecordNotFoundError):
        alice.project.update(where={"id": "bob-p0"}, data={"title": "mine now"})
    with pytest.raises(strata.RecordNotFoundError):
        alice.project.delete(where={"id": "bob-p1"})
    assert alice.project.update_many(where={}, data={"title": "renamed"}) == {"count": 2}
    assert alice.scene.delete_many() == {"count": 2}
    with pytest.raises(strata.ValidationError, match="scoped to userId='alice'"):
        alice.project.update(where={"id": "alice-p0"}, data={"userId": "bob"})
    with pytest.raises(strata.RecordNotFoundError):
        alice.scene.create(data={"projectId": "bob-p0", "position": 5, "text": "sneaky"})
    # Bob's rows are exactly as they were.
    assert {p.title for p in db.project.find_many(where={"userId": "bob"})} == {"bob 0", "bob 1"}
    assert db.scene.count(where={"project": {"is": {"userId": "bob"}}}) == 2


def test_scoped_creates_are_stamped(db: strata.Database) -> None:
    alice = db.scoped_(userId="alice")
    created = alice.project.create(data={"title": "new", "config": {"style": "noir"}})
    assert created.userId == "alice"
    assert alice.project.create_many(data=[{"title": "a", "config": {}}]) == {"count": 1}
    assert db.project.count(where={"userId": "alice"}) == 4
    with pytest.raises(strata.ValidationError, match="cannot write 'bob'"):
        alice.project.create(data={"title": "x", "config": {}, "userId": "bob"})
    assert db.project.count() == 6


def test_scoping_by_an_unknown_field_is_refused(db: strata.Database) -> None:
    with pytest.raises(strata.ValidationError, match="tenantId"):
        db.scoped_(tenantId="x")


def test_soft_delete_marks_and_hides(db: strata.Database, backend: Backend) -> None:
    deleted = db.project.delete(where={"id": "alice-p0"})
    assert deleted.deletedAt is not None
    assert db.project.find_unique(where={"id": "alice-p0"}) is None
    assert db.project.count() == 3
    # The row is still there, and visible on request.
    (row,) = db.query_raw_(
        f'SELECT "deletedAt" FROM "projects" WHERE "id" = {placeholder(backend)}', "alice-p0"
    )
    assert row["deletedAt"] is not None
    assert db.with_deleted_().project.find_unique(where={"id": "alice-p0"}) is not None
    assert db.with_deleted_().project.count() == 4
    # Deleting it again finds nothing to delete.
    with pytest.raises(strata.RecordNotFoundError):
        db.project.delete(where={"id": "alice-p0"})
    assert db.project.delete_many(where={"userId": "bob"}) == {"count": 2}
    assert db.project.count() == 1
    # Scenes are not soft-deleting: their delete is a real one.
    assert db.scene.delete_many(where={"projectId": "alice-p1"}) == {"count": 1}
    assert db.query_raw_('SELECT count(*) AS n FROM "scenes"') == [{"n": 3}]


def test_soft_delete_needs_an_optional_datetime_field(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(
        'datasource db {\n  provider = "sqlite"\n}\n\n'
        "/// @strata.softDelete\nmodel Note {\n  id Int @id\n}\n"
    )
    with (
        strata.connect(tmp_path / "n.db", schema=schema) as db,
        pytest.raises(strata.ValidationError, match="deletedAt DateTime"),
    ):
        db.model_("Note")


# -- the tenant's own row ------------------------------------------------------------------


def test_a_scoped_view_confines_the_tenants_own_user_row(db: strata.Database) -> None:
    alice = db.scoped_(userId="alice")
    assert [u.id for u in alice.user.find_many()] == ["alice"]
    assert alice.user.count() == 1
    assert alice.user.aggregate(count=True) == {"_count": 1}
    assert alice.user.find_unique(where={"id": "bob"}) is None
    assert alice.user.find_unique(where={"email": "bob@x.io"}) is None
    assert alice.project.find_many(where={"user": {"is": {"email": "bob@x.io"}}}) == []
    with pytest.raises(strata.RecordNotFoundError):
        alice.user.update(where={"id": "bob"}, data={"name": "mallory"})
    with pytest.raises(strata.RecordNotFoundError):
        alice.user.delete(where={"id": "bob"})
    assert alice.user.update_many(data={"name": "Alice"}) == {"count": 1}
    assert alice.user.delete_many(where={"email": "bob@x.io"}) == {"count": 0}
    # No other User can be created through the view, nor her row renamed away.
    with pytest.raises(strata.ValidationError, match=r"User\.id: .* cannot write 'carol'"):
        alice.user.create(data={"id": "carol", "email": "carol@x.io"})
    with pytest.raises(strata.ValidationError, match="cannot write 'carol'"):
        alice.user.upsert(where={"id": "carol"}, create={"id": "carol"}, update={})
    with pytest.raises(strata.ValidationError, match="cannot change it to 'alice2'"):
        alice.user.update(where={"id": "alice"}, data={"id": "alice2"})
    with pytest.raises(strata.ValidationError, match="cannot write 'carol'"):
        alice.user.create_many(data=[{"id": "carol"}])
    # Bob's row is as it was; hers changed.
    assert {u.id: u.name for u in db.user.find_many()} == {"alice": "Alice", "bob": None}


def test_the_tenant_model_comes_from_the_relation_not_its_name(backend: Backend) -> None:
    schema = (
        'datasource db {\n  provider = "sqlite"\n}\n\n'
        "model Member {\n  handle String @id\n  notes Note[]\n}\n\n"
        "model Note {\n  id Int @id\n  ownerId String\n"
        "  owner Member @relation(fields: [ownerId], references: [handle])\n}\n"
    )
    with backend.connect(schema) as db:
        for handle in ("m1", "m2"):
            db.member.create(data={"handle": handle})
        view = db.scoped_(ownerId="m1")
        assert [m.handle for m in view.member.find_many()] == ["m1"]
        with pytest.raises(strata.RecordNotFoundError):
            view.member.delete(where={"handle": "m2"})
        with pytest.raises(strata.ValidationError, match=r"Member\.handle"):
            view.member.create(data={"handle": "m3"})
        assert db.member.count() == 2


def test_a_scoped_view_has_transactions(db: strata.Database) -> None:
    alice = db.scoped_(userId="alice")
    with alice.transaction_() as tx:
        assert tx is alice
        assert db.in_transaction_
        tx.project.create(data={"id": "alice-p2", "title": "new", "config": {}})
        assert tx.project.count() == 3  # its own write, and only alice's rows
    assert not db.in_transaction_
    assert db.project.count(where={"userId": "alice"}) == 3
    # An exception rolls the block back; a nested block is a savepoint.
    with pytest.raises(RuntimeError), alice.transaction_() as tx:
        tx.project.update_many(data={"title": "gone"})
        raise RuntimeError
    with alice.transaction_() as tx:
        tx.project.update(where={"id": "alice-p0"}, data={"title": "kept"})
        with pytest.raises(strata.RecordNotFoundError), tx.transaction_():
            tx.project.update(where={"id": "alice-p1"}, data={"title": "undone"})
            tx.project.update(where={"id": "bob-p0"}, data={"title": "not hers"})
    assert not db.in_transaction_
    assert {p.id: p.title for p in db.project.find_many()} == {
        "alice-p0": "kept",
        "alice-p1": "alice 1",
        "alice-p2": "new",
        "bob-p0": "bob 0",
        "bob-p1": "bob 1",
    }


def test_async_scoped_views(backend: Backend) -> None:
    from strata.aio import connect_async

    schema = backend.folder / "video.prisma"
    schema.write_text(for_provider(SCHEMA.read_text(), backend.provider))

    async def main() -> None:
        async with await connect_async(backend.url, schema=schema) as adb:
            await adb.migrate_.push()
            for user in ("alice", "bob"):
                await adb.user.create(data={"id": user, "email": f"{user}@x.io"})
            alice = adb.scoped_(userId="alice")
            assert [u.id for u in await alice.user.find_many()] == ["alice"]
            async with alice.transaction_() as tx:
                await tx.project.create(data={"id": "p", "title": "t", "config": {}})
                assert await tx.project.count() == 1
            with pytest.raises(RuntimeError):
                async with alice.transaction_() as tx:
                    await tx.project.delete(where={"id": "p"})
                    raise RuntimeError
            assert [p.userId for p in await adb.project.find_many()] == ["alice"]
            assert await adb.with_deleted_().project.count() == 1

    asyncio.run(main())
