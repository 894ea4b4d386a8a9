"""include / select loading related records one query per level, many-to-many relations,
relation filters, and repositories inside transactions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import Backend
from strata.client.relations import CHUNK
from support import Traced

SEEDS = Path(__file__).resolve().parent.parent / "schema"

BLOG = """
datasource db {
  provider = "sqlite"
}

model Author {
  id      Int       @id @default(autoincrement())
  name    String
  posts   Post[]
  profile Profile?
}

model Profile {
  id       Int    @id @default(autoincrement())
  bio      String
  authorId Int    @unique
  author   Author @relation(fields: [authorId], references: [id])
}

model Post {
  id       Int    @id @default(autoincrement())
  title    String
  authorId Int?
  author   Author? @relation(fields: [authorId], references: [id])
  tags     Tag[]
}

model Tag {
  id    Int    @id @default(autoincrement())
  label String @unique
  posts Post[]
}
"""


@pytest.fixture
def blog(backend: Backend) -> Iterator[strata.Database]:
    db = backend.connect(BLOG)
    tags = {label: db.tag.create(data={"label": label}) for label in ("python", "sql", "rust")}
    for n, name in enumerate(["ann", "ben", "cat"]):
        author = db.author.create(
            data={"name": name, "profile": {"create": {"bio": f"I am {name}"}}}
        )
        for p in range(n + 1):
            labels = ["python", "sql", "rust"][: p + 1]
            db.post.create(
                data={
                    "title": f"{name}-{p}",
                    "author": {"connect": {"id": author.id}},
                    "tags": {"connect": [{"label": label} for label in labels]},
                }
            )
    db.post.create(data={"title": "orphan", "tags": {"connect": [{"id": tags["rust"].id}]}})
    yield db
    db.close_()


@pytest.fixture
def video(backend: Backend) -> Iterator[strata.Database]:
    db = backend.seed("video_machine")
    for u in range(3):
        user = db.user.create(data={"email": f"u{u}@x.io"})
        for p in range(2):
            project = db.project.create(data={"title": f"p{u}{p}", "config": {}, "userId": user.id})
            for s in range(3):
                scene = db.scene.create(
                    data={"projectId": project.id, "position": s, "text": f"s{s}"}
                )
                db.asset.create(
                    data={
                        "userId": user.id,
                        "projectId": project.id,
                        "sceneId": scene.id,
                        "type": "IMAGE",
                        "url": f"{u}/{p}/{s}.png",
                        "mimeType": "image/png",
                    }
                )
    yield db
    db.close_()


# -- one query per level ---------------------------------------------------------------------


def test_include_one_level_is_two_queries(blog: strata.Database) -> None:
    traced = Traced(blog)
    authors = blog.author.find_many(include={"posts": True}, order_by={"name": "asc"})
    assert len(traced.take()) == 2
    assert [[p.title for p in a.posts] for a in authors] == [
        ["ann-0"],
        ["ben-0", "ben-1"],
        ["cat-0", "cat-1", "cat-2"],
    ]
    assert all(p.author is None for a in authors for p in a.posts)  # not included


def test_include_three_levels_is_four_queries(video: strata.Database) -> None:
    traced = Traced(video)
    users = video.user.find_many(
        include={
            "projects": {
                "order_by": {"title": "asc"},
                "include": {
                    "scenes": {"order_by": {"position": "desc"}, "include": {"assets": True}}
                },
            }
        },
        order_by={"email": "asc"},
    )
    assert len(traced.take()) == 4
    assert [p.title for p in users[1].projects] == ["p10", "p11"]
    assert [s.position for s in users[1].projects[0].scenes] == [2, 1, 0]
    assert [a.url for a in users[2].projects[1].scenes[0].assets] == ["2/1/2.png"]


def test_select_nested_returns_dicts_with_only_the_selected_fields(video: strata.Database) -> None:
    traced = Traced(video)
    users = video.user.find_many(
        select={
            "email": True,
            "projects": {"select": {"title": True, "scenes": {"select": {"text": True}}}},
        },
        where={"email": "u0@x.io"},
    )
    assert len(traced.take()) == 3
    assert users == [
        {
            "email": "u0@x.io",
            "projects": [
                {"title": "p00", "scenes": [{"text": "s0"}, {"text": "s1"}, {"text": "s2"}]},
                {"title": "p01", "scenes": [{"text": "s0"}, {"text": "s1"}, {"text": "s2"}]},
            ],
        }
    ]
    one = video.scene.find_first(select={"text": True, "project": {"select": {"title": True}}})
    assert one == {"text": "s0", "project": {"title": "p00"}}


def test_include_to_one_both_directions(blog: strata.Database) -> None:
    traced = Traced(blog)
    posts = blog.post.find_many(include={"author": {"include": {"profile": True}}})
    assert len(traced.take()) == 3
    by_title = {p.title: p for p in posts}
    assert by_title["ben-1"].author.profile.bio == "I am ben"
    assert by_title["orphan"].author is None
    ann = blog.author.find_unique(where={"id": 1}, include={"profile": True, "posts": True})
    assert ann.profile.authorId == ann.id
    assert len(ann.posts) == 1


def test_include_take_skip_and_where_apply_per_parent(blog: strata.Database) -> None:
    authors = blog.author.find_many(
        include={"posts": {"order_by": {"title": "desc"}, "take": 1, "skip": 1}},
        order_by={"name": "asc"},
    )
    assert [[p.title for p in a.posts] for a in authors] == [[], ["ben-0"], ["cat-1"]]
    filtered = blog.author.find_many(
        include={"posts": {"where": {"title": {"ends_with": "-0"}}}}, order_by={"name": "asc"}
    )
    assert [[p.title for p in a.posts] for a in filtered] == [["ann-0"], ["ben-0"], ["cat-0"]]


def test_many_to_many_include_in_one_query(blog: strata.Database) -> None:
    traced = Traced(blog)
    posts = blog.post.find_many(
        include={"tags": {"order_by": {"label": "asc"}}}, order_by={"title": "asc"}
    )
    assert len(traced.take()) == 2
    labels = {p.title: [t.label for t in p.tags] for p in posts}
    assert labels["cat-2"] == ["python", "rust", "sql"]
    assert labels["orphan"] == ["rust"]
    tags = blog.tag.find_many(include={"posts": True}, order_by={"label": "asc"})
    assert [len(t.posts) for t in tags] == [6, 2, 3]  # python, rust, sql


def test_many_to_many_nested_writes(blog: strata.Database) -> None:
    post = blog.post.create(
        data={"title": "new", "tags": {"create": [{"label": "go"}], "connect": [{"label": "sql"}]}},
        include={"tags": {"order_by": {"label": "asc"}}},
    )
    assert [t.label for t in post.tags] == ["go", "sql"]
    post = blog.post.update(
        where={"id": post.id},
        data={"tags": {"disconnect": [{"label": "go"}]}},
        include={"tags": True},
    )
    assert [t.label for t in post.tags] == ["sql"]
    post = blog.post.update(
        where={"id": post.id},
        data={"tags": {"set": [{"label": "python"}, {"label": "rust"}]}},
        include={"tags": {"order_by": {"label": "asc"}}},
    )
    assert [t.label for t in post.tags] == ["python", "rust"]
    post = blog.post.update(
        where={"id": post.id},
        data={
            "tags": {
                "connect_or_create": [
                    {"where": {"label": "python"}, "create": {"label": "python"}},
                    {"where": {"label": "zig"}, "create": {"label": "zig"}},
                ]
            }
        },
        include={"tags": {"order_by": {"label": "asc"}}},
    )
    assert [t.label for t in post.tags] == ["python", "rust", "zig"]


def test_relation_loading_is_chunked_under_the_variable_limit(blog: strata.Database) -> None:
    count = CHUNK * 2 + 10
    with blog.transaction_():
        for n in range(count):
            blog.author.create(data={"name": f"bulk{n}"})
    traced = Traced(blog)
    authors = blog.author.find_many(include={"posts": True})
    queries = traced.take()
    assert len(queries) == 1 + 3  # the authors, then three chunks of keys
    assert len(authors) == count + 3


# -- relation filters ------------------------------------------------------------------------


def test_relation_filters(blog: strata.Database) -> None:
    def names(where: dict[str, Any]) -> list[str]:
        return sorted(a.name for a in blog.author.find_many(where))

    assert names({"posts": {"some": {"title": {"ends_with": "-2"}}}}) == ["cat"]
    assert names({"posts": {"every": {"title": {"starts_with": "ann"}}}}) == ["ann"]
    assert names({"posts": {"none": {"title": {"contains": "-1"}}}}) == ["ann"]
    assert names({"posts": {"some": {"tags": {"some": {"label": "rust"}}}}}) == ["cat"]
    assert names({"profile": {"is": {"bio": {"contains": "ben"}}}}) == ["ben"]
    assert names({"profile": {"is_not": {"bio": {"contains": "ben"}}}}) == ["ann", "cat"]

    def titles(where: dict[str, Any]) -> list[str]:
        return sorted(p.title for p in blog.post.find_many(where))

    assert titles({"author": None}) == ["orphan"]
    assert titles({"author": {"is_not": None}, "title": {"contains": "-2"}}) == ["cat-2"]
    assert titles({"tags": {"every": {"label": "rust"}}}) == ["orphan"]
    assert titles({"tags": {"none": {}}}) == []
    with pytest.raises(strata.ValidationError, match="some takes a where dict"):
        titles({"tags": {"some": None}})


def test_include_and_select_arguments_are_checked(blog: strata.Database) -> None:
    traced = Traced(blog)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"include": {"nope": True}}, "Author has no relation 'nope'"),
        ({"include": {"name": True}}, "Author has no relation 'name'"),
        ({"select": {"name": "yes"}}, "select takes True/False"),
        ({"include": {"posts": True}, "select": {"name": True}}, "not both"),
        ({"include": {"profile": {"take": 1}}}, "a to-one relation takes only include/select"),
        ({"include": {"posts": {"take": -1}}}, "take in an include takes an int >= 0"),
    ]
    for arguments, message in cases:
        with pytest.raises(strata.ValidationError, match=message):
            blog.author.find_many(**arguments)
    assert traced.take() == []


# -- transactions ----------------------------------------------------------------------------


def test_repositories_inside_a_transaction(blog: strata.Database) -> None:
    with blog.transaction_() as tx:
        author = tx.author.create(data={"name": "tx"})
        tx.post.create(data={"title": "in tx", "authorId": author.id})
        assert tx.in_transaction_
    assert blog.post.count({"author": {"name": "tx"}}) == 1


def test_rollback_on_exception_leaves_nothing(blog: strata.Database) -> None:
    before = blog.author.count()
    with pytest.raises(RuntimeError), blog.transaction_() as tx:
        tx.author.create(data={"name": "doomed", "posts": {"create": [{"title": "doomed"}]}})
        raise RuntimeError("abort")
    assert blog.author.count() == before
    assert blog.post.count({"title": "doomed"}) == 0


def test_nested_transaction_is_a_savepoint(blog: strata.Database) -> None:
    with blog.transaction_() as tx:
        tx.tag.create(data={"label": "kept"})
        with pytest.raises(strata.UniqueConstraintError), tx.transaction_() as inner:
            inner.tag.create(data={"label": "lost"})
            inner.tag.create(data={"label": "kept"})  # fails: the savepoint rolls back
    labels = {t.label for t in blog.tag.find_many()}
    assert "kept" in labels
    assert "lost" not in labels


def test_a_failed_nested_write_inside_a_transaction_only_undoes_itself(
    blog: strata.Database,
) -> None:
    with blog.transaction_() as tx:
        tx.tag.create(data={"label": "first"})
        with pytest.raises(strata.RecordNotFoundError):
            tx.post.create(data={"title": "bad", "tags": {"connect": [{"label": "missing"}]}})
    assert blog.tag.count({"label": "first"}) == 1
    assert blog.post.count({"title": "bad"}) == 0
