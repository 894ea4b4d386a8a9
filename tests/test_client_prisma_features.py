"""Prisma Client features: ``omit``, ``create_many_and_return``, ``update_many_and_return``,
batches of deferred operations (``$transaction([...])``), ``order_by`` a relation's
``_count``, and query events that carry their duration (``$on("query", ...)``)."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.synchronize
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import Backend
from client_support import placeholder
from strata import deferred
from strata.events import QueryEvent

SCHEMA = """
datasource db {
  provider = "sqlite"
}

model Account {
  id    Int    @id @default(autoincrement())
  name  String @unique
  users User[]
}

model User {
  id        Int      @id @default(autoincrement())
  email     String   @unique
  password  String
  name      String?
  accountId Int?
  account   Account? @relation(fields: [accountId], references: [id])
  posts     Post[]
  groups    Group[]
}

/// @strata.softDelete
model Post {
  id        Int       @id @default(autoincrement())
  title     String    @unique
  body      String    @default("")
  views     Int       @default(0)
  authorId  Int
  author    User      @relation(fields: [authorId], references: [id])
  tags      Tag[]
  deletedAt DateTime?
}

model Tag {
  id    Int    @id @default(autoincrement())
  label String @unique
  posts Post[]
}

model Group {
  id    Int    @id @default(autoincrement())
  name  String @unique
  users User[]
}
"""

#: Visible posts per user in the fixture (ann has a fourth, soft-deleted one).
POSTS = {"ann": 3, "ben": 1, "cat": 2, "dan": 0}


@pytest.fixture
def db(backend: Backend) -> Iterator[strata.Database]:
    with backend.connect(SCHEMA) as database:
        acme = database.account.create(data={"name": "acme"})
        other = database.account.create(data={"name": "other"})
        accounts = {"ann": acme.id, "ben": acme.id, "cat": other.id, "dan": None}
        for label in ("python", "sql", "rust"):
            database.tag.create(data={"label": label})
        for name in ("admins", "editors"):
            database.group.create(data={"name": name})
        for name, count in POSTS.items():
            user = database.user.create(
                data={
                    "email": f"{name}@x.io",
                    "password": f"secret-{name}",
                    "name": name,
                    "accountId": accounts[name],
                }
            )
            for n in range(count + (1 if name == "ann" else 0)):
                tags = ["python", "sql"][: 1 + (n == 0 and name == "cat")]
                database.post.create(
                    data={
                        "title": f"{name}-{n}",
                        "body": "long text " * 10,
                        "author": {"connect": {"id": user.id}},
                        "tags": {"connect": [{"label": t} for t in tags]},
                    }
                )
        database.post.delete(where={"title": "ann-3"})  # soft-deleted: stamped, not removed
        database.user.update(
            where={"email": "ann@x.io"},
            data={"groups": {"connect": [{"name": "admins"}, {"name": "editors"}]}},
        )
        database.user.update(
            where={"email": "ben@x.io"}, data={"groups": {"connect": [{"name": "editors"}]}}
        )
        yield database


def user_id(db: strata.Database, name: str) -> int:
    return int(db.user.find_unique_or_raise(where={"email": f"{name}@x.io"}).id)


# -- omit ------------------------------------------------------------------------------------


def test_omit_leaves_fields_out_of_every_read(db: strata.Database) -> None:
    ann = user_id(db, "ann")
    hidden = {"password": True}
    expected = {"id": ann, "email": "ann@x.io", "name": "ann", "accountId": 1}
    # The plain lookup is cached after its first use; omit must not take that path.
    assert db.user.find_unique(where={"id": ann}) is not None
    assert db.user.find_unique(where={"id": ann}, omit=hidden) == expected
    assert db.user.find_unique_or_raise(where={"id": ann}, omit=hidden) == expected
    assert db.user.find_first(where={"name": "ann"}, omit=hidden) == expected
    assert db.user.find_first_or_raise(where={"name": "ann"}, omit=hidden) == expected
    found = db.user.find_many(order_by={"id": "asc"}, omit={"password": True, "name": True})
    assert [sorted(record) for record in found] == [["accountId", "email", "id"]] * 4
    # False keeps the field: the record is every field, still as a dict.
    kept = db.user.find_unique(where={"id": ann}, omit={"password": False})
    assert kept == {**expected, "password": "secret-ann"}


def test_omit_on_writes_shapes_the_returned_record(db: strata.Database) -> None:
    hidden = {"password": True}
    created = db.user.create(data={"email": "eve@x.io", "password": "pw"}, omit=hidden)
    assert created == {"id": created["id"], "email": "eve@x.io", "name": None, "accountId": None}
    updated = db.user.update(where={"id": created["id"]}, data={"name": "eve"}, omit=hidden)
    assert updated["name"] == "eve"
    assert "password" not in updated
    for email in ("eve@x.io", "fay@x.io"):  # the update branch, then the create branch
        upserted = db.user.upsert(
            where={"email": email},
            create={"email": email, "password": "pw"},
            update={"name": "again"},
            omit=hidden,
        )
        assert upserted["email"] == email
        assert "password" not in upserted
    deleted = db.user.delete(where={"email": "fay@x.io"}, omit=hidden)
    assert deleted["email"] == "fay@x.io"
    assert "password" not in deleted
    assert db.user.find_unique(where={"email": "fay@x.io"}) is None
    # A soft delete returns the stamped record, shaped the same way.
    post = db.post.find_first_or_raise(where={"title": "ben-0"})
    stamped = db.post.delete(where={"id": post.id}, omit={"body": True, "views": True})
    assert stamped["deletedAt"] is not None
    assert "body" not in stamped


def test_omit_nests_in_include_and_select(db: strata.Database) -> None:
    ben = user_id(db, "ben")
    record = db.user.find_unique_or_raise(
        where={"id": ben},
        include={"posts": {"omit": {"body": True}}, "account": True, "_count": True},
        omit={"password": True},
    )
    assert "password" not in record
    assert record["account"].name == "acme"
    assert record["_count"] == {"posts": 1, "groups": 1}
    (post,) = record["posts"]
    assert post == {
        "id": post["id"],
        "title": "ben-0",
        "views": 0,
        "authorId": ben,
        "deletedAt": None,
    }
    # Omitting a relation's key still loads the relation through it.
    selected = db.user.find_unique_or_raise(
        where={"id": ben},
        select={"email": True, "posts": {"omit": {"body": True, "authorId": True}}},
    )
    assert sorted(selected["posts"][0]) == ["deletedAt", "id", "title", "views"]
    # A to-one relation takes omit too.
    (with_author,) = db.post.find_many(
        where={"title": "ben-0"}, include={"author": {"omit": {"password": True}}}
    )
    assert with_author.author == {"id": ben, "email": "ben@x.io", "name": "ben", "accountId": 1}
    loose = db.post.find_many(
        where={"title": "ben-0"}, omit={"authorId": True}, include={"author": True}
    )
    assert loose[0]["author"].id == ben
    assert "authorId" not in loose[0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"select": {"email": True}, "omit": {"password": True}}, "select or omit, not both"),
        ({"omit": {"pasword": True}}, "User has no field 'pasword'"),
        ({"omit": {"posts": True}}, "omit takes scalar fields"),
        ({"omit": {"password": "yes"}}, "omit takes True/False"),
        ({"omit": ["password"]}, "omit takes a dict"),
        (
            {"include": {"posts": {"select": {"id": True}, "omit": {"body": True}}}},
            "Post: use select or omit, not both",
        ),
        ({"include": {"posts": {"omit": {"nope": True}}}}, "Post has no field 'nope'"),
    ],
)
def test_omit_refuses_bad_input(
    db: strata.Database, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(strata.ValidationError, match=message):
        db.user.find_many(**arguments)


def test_a_bad_omit_on_a_write_writes_nothing(db: strata.Database) -> None:
    before = db.user.count()
    with pytest.raises(strata.ValidationError, match="no field 'pasword'"):
        db.user.create(data={"email": "eve@x.io", "password": "pw"}, omit={"pasword": True})
    with pytest.raises(strata.ValidationError, match="select or omit"):
        db.user.update(
            where={"email": "ann@x.io"},
            data={"name": "changed"},
            select={"id": True},
            omit={"password": True},
        )
    assert db.user.count() == before
    assert db.user.find_unique_or_raise(where={"email": "ann@x.io"}).name == "ann"
    assert not db.in_transaction_


# -- create_many_and_return ------------------------------------------------------------------


def test_create_many_and_return_gives_the_records_in_order(db: strata.Database) -> None:
    rows = [
        {"email": "u1@x.io", "password": "a"},
        # An explicit id below the largest: only RETURNING finds it, a rowid range would not.
        {"id": -5, "email": "u2@x.io", "password": "b", "name": "two"},
        {"email": "u3@x.io", "password": "c", "accountId": 2},
    ]
    created = db.user.create_many_and_return(rows)
    assert [u.email for u in created] == ["u1@x.io", "u2@x.io", "u3@x.io"]
    assert created[1].id == -5
    assert created[1].name == "two"
    assert created[0].name is None
    assert created[2].accountId == 2
    for user in created:
        assert db.user.find_unique_or_raise(where={"id": user.id}) == user
    # Defaults the database applies come back too.
    (post,) = db.post.create_many_and_return([{"title": "t", "authorId": created[0].id}])
    assert (post.body, post.views, post.deletedAt) == ("", 0, None)


def test_create_many_and_return_shapes_and_skips_duplicates(db: strata.Database) -> None:
    created = db.user.create_many_and_return(
        [
            {"email": "ann@x.io", "password": "dup"},  # exists: skipped, not returned
            {"email": "new@x.io", "password": "pw", "accountId": 1},
            {"email": "new@x.io", "password": "dup again"},
        ],
        skip_duplicates=True,
        include={"account": True},
        omit={"password": True},
    )
    assert len(created) == 1
    assert created[0]["email"] == "new@x.io"
    assert created[0]["account"].name == "acme"
    assert "password" not in created[0]
    selected = db.tag.create_many_and_return([{"label": "go"}], select={"label": True})
    assert selected == [{"label": "go"}]
    assert db.tag.create_many_and_return([]) == []


def test_create_many_and_return_errors_as_create_many_and_writes_nothing(
    db: strata.Database,
) -> None:
    before = db.user.count()
    with pytest.raises(strata.ValidationError, match="row 1") as bad:
        db.user.create_many_and_return(
            [{"email": "a1@x.io", "password": "p"}, {"email": "a2@x.io", "password": 5}]
        )
    assert bad.value.row == 1
    with pytest.raises(strata.ValidationError, match="row 0") as missing:
        db.user.create_many_and_return([{"email": "a3@x.io"}])
    assert missing.value.row == 0
    with pytest.raises(strata.UniqueConstraintError) as duplicate:
        db.user.create_many_and_return(
            [{"email": "a4@x.io", "password": "p"}, {"email": "ann@x.io", "password": "p"}]
        )
    assert duplicate.value.model == "User"
    assert duplicate.value.fields == ["email"]
    with pytest.raises(strata.ValidationError, match="takes a list of dicts"):
        db.user.create_many_and_return({"email": "a5@x.io", "password": "p"})  # type: ignore[arg-type]
    with pytest.raises(strata.ValidationError, match="no field 'pasword'"):
        db.user.create_many_and_return(
            [{"email": "a6@x.io", "password": "p"}], omit={"pasword": True}
        )
    assert db.user.count() == before
    assert not db.in_transaction_


def test_create_many_and_return_in_a_scoped_view_and_a_rolled_back_transaction(
    db: strata.Database,
) -> None:
    acme = db.scoped_(accountId=1)
    (created,) = acme.user.create_many_and_return([{"email": "s@x.io", "password": "p"}])
    assert created.accountId == 1
    with pytest.raises(strata.ValidationError, match="scoped to accountId=1"):
        acme.user.create_many_and_return([{"email": "t@x.io", "password": "p", "accountId": 2}])
    with pytest.raises(RuntimeError), db.transaction_():
        returned = db.user.create_many_and_return([{"email": "gone@x.io", "password": "p"}])
        assert returned[0].email == "gone@x.io"
        raise RuntimeError("roll back")
    assert db.user.find_unique(where={"email": "gone@x.io"}) is None


def insert_users_until(url: str, stop: multiprocessing.synchronize.Event) -> None:
    """Another process writing users as fast as it can, with its own connections."""
    values = "$1, $2" if url.startswith("postgresql") else "?, ?"
    with strata.connect(url) as other:
        n = 0
        while not stop.is_set():
            other.execute_raw_(
                f'INSERT INTO "User" ("email", "password") VALUES ({values})', f"w{n}@other.io", "p"
            )
            n += 1


def test_create_many_and_return_is_exact_beside_a_concurrent_writer(db: strata.Database) -> None:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    writer = context.Process(target=insert_users_until, args=(db.url_, stop))
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while db.user.count(where={"email": {"ends_with": "@other.io"}}) < 10:
            assert time.monotonic() < deadline, "the other writer never wrote"
            time.sleep(0.01)
        for batch in range(15):
            rows = [{"email": f"b{batch}-{i}@mine.io", "password": "p"} for i in range(40)]
            created = db.user.create_many_and_return(rows, omit={"password": True})
            assert [u["email"] for u in created] == [r["email"] for r in rows]
            stored = {
                u.id: u.email
                for u in db.user.find_many(where={"id": {"in": [u["id"] for u in created]}})
            }
            assert stored == {u["id"]: u["email"] for u in created}
    finally:
        stop.set()
        writer.join(30)
    assert writer.exitcode == 0
    assert db.user.count(where={"email": {"ends_with": "@other.io"}}) > 10


# -- update_many_and_return ------------------------------------------------------------------


def test_update_many_and_return_gives_the_updated_records(db: strata.Database) -> None:
    ann = user_id(db, "ann")
    updated = db.post.update_many_and_return(
        where={"authorId": ann}, data={"views": {"increment": 5}}
    )
    # The soft-deleted post is neither updated nor returned.
    assert [p.title for p in updated] == ["ann-0", "ann-1", "ann-2"]
    assert {p.views for p in updated} == {5}
    assert db.with_deleted_().post.find_first_or_raise(where={"title": "ann-3"}).views == 0
    shaped = db.post.update_many_and_return(
        where={"title": {"in": ["ben-0", "cat-0"]}},
        data={"body": "short"},
        include={"author": {"select": {"name": True}}, "_count": True},
        omit={"authorId": True},
    )
    assert [(p["title"], p["body"], p["author"], p["_count"]) for p in shaped] == [
        ("ben-0", "short", {"name": "ben"}, {"tags": 1}),
        ("cat-0", "short", {"name": "cat"}, {"tags": 2}),
    ]
    assert db.post.update_many_and_return(where={"title": "nobody"}, data={"views": 1}) == []
    # No data: the matching records, unchanged.
    same = db.user.update_many_and_return(where={"name": "dan"}, data={}, select={"name": True})
    assert same == [{"name": "dan"}]


def test_update_many_and_return_respects_the_scope(db: strata.Database) -> None:
    acme = db.scoped_(accountId=1)
    renamed = acme.user.update_many_and_return(data={"name": "acme person"})
    assert sorted(u.email for u in renamed) == ["ann@x.io", "ben@x.io"]
    assert db.user.find_unique_or_raise(where={"email": "cat@x.io"}).name == "cat"
    # Posts are scoped through their author.
    posts = acme.post.update_many_and_return(data={"views": 1})
    assert sorted(p.title for p in posts) == ["ann-0", "ann-1", "ann-2", "ben-0"]
    with pytest.raises(strata.ValidationError, match="scoped to accountId=1"):
        acme.user.update_many_and_return(data={"accountId": 2})


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ({"posts": {"create": {"title": "x"}}}, strata.ValidationError, "takes scalar fields only"),
        ({"nmae": "x"}, strata.ValidationError, "no field 'nmae'"),
        (["name"], strata.ValidationError, "takes a dict of data, got list"),
        ({"name": {"increment": 1}}, strata.ValidationError, "unknown update operation"),
        # Every row would get the same email: the second violates the unique index.
        ({"email": "same@x.io"}, strata.UniqueConstraintError, "email"),
    ],
)
def test_update_many_and_return_refuses_bad_input_and_changes_nothing(
    db: strata.Database, data: Any, error: type[Exception], message: str
) -> None:
    before = db.user.find_many(order_by={"id": "asc"})
    with pytest.raises(error, match=message):
        db.user.update_many_and_return(where={"accountId": 1}, data=data)
    assert db.user.find_many(order_by={"id": "asc"}) == before
    assert not db.in_transaction_


# -- batches ---------------------------------------------------------------------------------


def test_batch_runs_deferred_operations_in_one_transaction(
    db: strata.Database, backend: Backend
) -> None:
    ann = user_id(db, "ann")
    user, post, changed, rows, count = db.batch_(
        [
            deferred.user.create(data={"email": "eve@x.io", "password": "pw"}),
            deferred.post.update(where={"title": "ann-0"}, data={"views": 9}),
            deferred.execute_raw_(
                f'UPDATE "Tag" SET "label" = upper("label") WHERE "label" = {placeholder(backend)}',
                "go",
            ),
            deferred.query_raw_('SELECT count(*) AS n FROM "User"'),
            deferred.model_("Post").count(where={"authorId": ann}),
        ]
    )
    assert user.email == "eve@x.io"
    assert post.views == 9
    assert (changed, rows, count) == (0, [{"n": 5}], 3)
    assert repr(deferred.user.find_many(take=2)) == "deferred.user.find_many(take=2)"
    assert db.batch_([]) == []


def test_a_failing_batch_rolls_everything_back(db: strata.Database) -> None:
    events: list[QueryEvent] = []
    db.on_("query", events.append)
    with pytest.raises(strata.UniqueConstraintError):
        db.batch_(
            [
                deferred.user.create(data={"email": "eve@x.io", "password": "pw"}),
                deferred.post.update(where={"title": "ann-0"}, data={"views": 9}),
                deferred.user.create(data={"email": "ann@x.io", "password": "dup"}),
                deferred.tag.delete_many(),
            ]
        )
    assert db.user.find_unique(where={"email": "eve@x.io"}) is None
    assert db.post.find_first_or_raise(where={"title": "ann-0"}).views == 0
    assert db.tag.count() == 3
    assert not db.in_transaction_
    # The last operation never ran.
    assert not any(e.query.startswith('DELETE FROM "Tag"') for e in events)


def test_batch_refuses_what_is_not_a_deferred_operation_before_running_any(
    db: strata.Database,
) -> None:
    eager = db.tag.create(data={"label": "eager"})  # runs at once, as any call does
    with pytest.raises(strata.ValidationError, match=r"batch item 1 is Tag.*runs at once"):
        db.batch_([deferred.tag.create(data={"label": "first"}), eager])
    with pytest.raises(strata.ValidationError, match="no model 'tga'"):
        db.batch_([deferred.tag.create(data={"label": "first"}), deferred.tga.count()])
    with pytest.raises(strata.ValidationError, match="no model 'Tga'"):
        db.batch_([deferred.tag.create(data={"label": "first"}), deferred.model_("Tga").count()])
    with pytest.raises(strata.ValidationError, match="a list of deferred operations"):
        db.batch_(deferred.tag.count())  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="no method 'craete'"):
        deferred.tag.craete(data={})
    with pytest.raises(AttributeError, match="no method '_read'"):
        deferred.tag._read(None)
    assert db.tag.find_unique(where={"label": "first"}) is None


def test_batch_in_a_view_and_inside_a_transaction(db: strata.Database) -> None:
    acme = db.scoped_(accountId=1)
    created, names = acme.batch_(
        [
            deferred.user.create(data={"email": "in@x.io", "password": "p"}),
            deferred.user.find_many(order_by={"email": "asc"}, select={"email": True}),
        ]
    )
    assert created.accountId == 1
    assert names == [{"email": "ann@x.io"}, {"email": "ben@x.io"}, {"email": "in@x.io"}]
    with db.transaction_():
        db.tag.create(data={"label": "outer"})
        with pytest.raises(strata.UniqueConstraintError):
            db.batch_(
                [
                    deferred.tag.create(data={"label": "inner"}),
                    deferred.tag.create(data={"label": "outer"}),
                ]
            )
    # The batch was a savepoint: its rows are gone, the outer block's row stays.
    assert db.tag.find_unique(where={"label": "outer"}) is not None
    assert db.tag.find_unique(where={"label": "inner"}) is None


# -- order_by a relation's _count ------------------------------------------------------------


def test_order_by_a_relation_count(db: strata.Database) -> None:
    by_posts = db.user.find_many(order_by={"posts": {"_count": "desc"}})
    # Soft-deleted posts are not counted: ann has 3, not 4.
    assert [u.name for u in by_posts] == ["ann", "cat", "ben", "dan"]
    ascending = db.user.find_many(order_by=[{"posts": {"_count": "asc"}}, {"name": "desc"}])
    assert [u.name for u in ascending] == ["dan", "ben", "cat", "ann"]
    with_deleted = db.with_deleted_().user.find_many(order_by={"posts": {"_count": "desc"}}, take=1)
    assert with_deleted[0].name == "ann"
    # Implicit many-to-many relations, both ways.
    tags = db.tag.find_many(order_by=[{"posts": {"_count": "desc"}}, {"label": "asc"}])
    assert [t.label for t in tags] == ["python", "sql", "rust"]
    groups = db.user.find_many(order_by=[{"groups": {"_count": "desc"}}, {"name": "asc"}], take=2)
    assert [u.name for u in groups] == ["ann", "ben"]
    # Inside an include, and combined with a where on the related rows.
    acme = db.account.find_unique_or_raise(
        where={"name": "acme"}, include={"users": {"order_by": {"posts": {"_count": "asc"}}}}
    )
    assert [u.name for u in acme.users or []] == ["ben", "ann"]
    # A negative take counts from the end of the same order.
    assert [u.name for u in db.user.find_many(order_by={"posts": {"_count": "desc"}}, take=-2)] == [
        "ben",
        "dan",
    ]


def test_cursor_pagination_over_a_relation_count(db: strata.Database) -> None:
    for n in range(6):
        db.user.create(data={"email": f"p{n}@x.io", "password": "p", "name": f"p{n}"})
    order = [{"posts": {"_count": "desc"}}, {"name": "asc"}]
    everyone = [u.name for u in db.user.find_many(order_by=order)]
    pages: list[str] = []
    cursor = None
    while True:
        page = db.user.find_many(order_by=order, take=3, skip=1 if cursor else 0, cursor=cursor)
        if not page:
            break
        pages += [u.name for u in page]
        cursor = {"id": page[-1].id}
    assert pages == everyone
    assert everyone[:3] == ["ann", "cat", "ben"]
    # Backwards from a cursor, in the same order.
    cat = db.user.find_unique_or_raise(where={"email": "cat@x.io"})
    before = db.user.find_many(order_by=order, cursor={"id": cat.id}, take=-2)
    assert [u.name for u in before] == ["ann", "cat"]


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        ({"posts": {"_count": "up"}}, "_count order must be 'asc' or 'desc'"),
        ({"posts": {"_count": {"sort": "desc"}}}, "_count order must be 'asc' or 'desc'"),
        ({"account": {"_count": "asc"}}, "Account has no field '_count'"),
        ({"posts": {"title": "asc"}}, "or {'_count': 'asc' | 'desc'} of a list relation"),
        ({"posts": {"_count": "asc", "title": "asc"}}, "of a list relation"),
    ],
)
def test_order_by_a_relation_count_refuses_bad_input(
    db: strata.Database, order_by: Any, message: str
) -> None:
    with pytest.raises(strata.ValidationError, match=message):
        db.user.find_many(order_by=order_by)


# -- query events ----------------------------------------------------------------------------

SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) "
    "SELECT count(*) AS n FROM c"
)


def test_query_events_carry_sql_params_and_duration(db: strata.Database, backend: Backend) -> None:
    first, second = placeholder(backend, 1), placeholder(backend, 2)
    events: list[QueryEvent] = []
    unsubscribe = db.on_("query", events.append)
    started = datetime.now(UTC)
    db.user.find_unique(where={"email": "ann@x.io"})
    db.user.update_many(where={"name": "dan"}, data={"name": "dan"})
    db.tag.create_many([{"label": "a"}, {"label": "b"}])
    db.execute_raw_(f'UPDATE "Tag" SET "label" = {first} WHERE "label" = {second}', "c", "b")
    db.execute_many_raw_(f'DELETE FROM "Tag" WHERE "label" = {first}', [("a",), ("c",)])
    db.execute_script_("SELECT 1; SELECT 2")
    targets = [e.target for e in events]
    assert targets == [
        "query_raw",
        "execute_raw",
        "bulk_insert",
        "execute_raw",
        "execute_many_raw",
        "execute_script",
    ]
    lookup = events[0]
    assert lookup.query.startswith("SELECT")
    assert lookup.params[0] == "ann@x.io"
    bulk_head = "INSERT INTO" if backend.is_postgres else "INSERT OR FAIL INTO"
    assert events[2].query.startswith(f'{bulk_head} "Tag"')
    assert events[3].params == ("c", "b")
    for event in events:
        assert event.error is None
        assert timedelta(0) <= event.duration < timedelta(seconds=5)
        assert event.duration_ms == event.duration / timedelta(milliseconds=1)
        assert started - timedelta(seconds=1) <= event.timestamp <= datetime.now(UTC)
    unsubscribe()
    unsubscribe()  # a second call does nothing
    db.tag.count()
    assert len(events) == 6


def test_query_durations_are_measured(db: strata.Database) -> None:
    events: list[QueryEvent] = []
    db.on_("query", events.append)
    db.query_raw_("SELECT 1")
    clock = time.perf_counter()
    assert db.query_raw_(SLOW) == [{"n": 400000}]
    wall = time.perf_counter() - clock
    trivial, slow = events
    assert slow.query == SLOW
    assert slow.duration >= timedelta(milliseconds=10)
    assert slow.duration <= timedelta(seconds=wall)
    assert slow.duration > 5 * trivial.duration


def test_a_failing_statement_is_reported_and_still_raises(db: strata.Database) -> None:
    events: list[QueryEvent] = []
    db.on_("query", events.append)
    with pytest.raises(strata.SqlError, match=r'no such table|relation "missing" does not exist'):
        db.query_raw_("SELECT * FROM missing")
    with pytest.raises(strata.UniqueConstraintError):
        db.tag.create(data={"label": "python"})
    assert [type(e.error) for e in events] == [strata.SqlError, strata.UniqueConstraintError]


def test_a_failing_subscriber_is_logged_and_changes_nothing(
    db: strata.Database, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(event: QueryEvent) -> None:
        raise RuntimeError("subscriber bug")

    db.on_("query", broken)
    db.on_("query", lambda e: seen.append(e.query))
    with caplog.at_level(logging.ERROR, logger="strata"):
        tag = db.tag.create(data={"label": "kept"})
    assert db.tag.find_unique(where={"label": "kept"}) == tag
    assert len(seen) == 2  # the other subscriber still got both statements
    assert "a query event subscriber" in caplog.text
    assert "subscriber bug" in caplog.text


def test_query_events_refuse_bad_subscriptions(db: strata.Database) -> None:
    with pytest.raises(strata.ValidationError, match="unknown event 'qurey'"):
        db.on_("qurey", print)
    with pytest.raises(strata.ValidationError, match="takes a callable"):
        db.on_("query", "print")  # type: ignore[arg-type]


def test_statements_are_logged_when_the_query_logger_is_enabled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="strata.query")
    with strata.connect(tmp_path / "logged.db") as logged:
        logged.query_raw_("SELECT ? AS answer", 42)
    (record,) = [r for r in caplog.records if r.name == "strata.query"]
    assert record.levelno == logging.DEBUG
    assert "ms SELECT ? AS answer (42,)" in record.getMessage()
    caplog.clear()
    caplog.set_level(logging.INFO, logger="strata.query")
    with strata.connect(tmp_path / "quiet.db") as quiet:
        quiet.query_raw_("SELECT 1")
    assert not [r for r in caplog.records if r.name == "strata.query"]


def test_a_subscribed_handle_that_is_dropped_is_released(tmp_path: Path) -> None:
    """The core holds the listener; it must not keep the handle (and its files) alive."""
    dropped = strata.connect(tmp_path / "dropped.db")
    dropped.on_("query", lambda event: None)
    dropped.query_raw_("SELECT 1")
    handle = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert handle() is None
