"""Multi-tenant scoping and soft delete, on the video-machine seed schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import strata

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "video_machine.prisma"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[strata.Database]:
    with strata.connect(tmp_path / "video.db", schema=SCHEMA) as database:
        database.migrate_.push()
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
    # Relations loaded through include are scoped too. (User itself has no userId
    # field, so the scope does not apply to its rows, only to what hangs off them.)
    users = {u.id: u for u in alice.user.find_many(include={"projects": True})}
    assert {p.id for p in users["alice"].projects or []} == {"alice-p0", "alice-p1"}
    assert users["bob"].projects == []


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


def test_soft_delete_marks_and_hides(db: strata.Database) -> None:
    deleted = db.project.delete(where={"id": "alice-p0"})
    assert deleted.deletedAt is not None
    assert db.project.find_unique(where={"id": "alice-p0"}) is None
    assert db.project.count() == 3
    # The row is still there, and visible on request.
    (row,) = db.query_raw_('SELECT "deletedAt" FROM "projects" WHERE "id" = ?', "alice-p0")
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
