"""Relation counts (``_count`` in include and select): one extra query per level, wheres,
and the client's implicit filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import strata
from backends import Backend
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
  authorId Int    @unique
  author   Author @relation(fields: [authorId], references: [id])
}

/// @strata.softDelete
model Post {
  id        Int       @id @default(autoincrement())
  title     String
  published Boolean   @default(false)
  authorId  Int?
  author    Author?   @relation(fields: [authorId], references: [id])
  tags      Tag[]
  deletedAt DateTime?
}

model Tag {
  id    Int    @id @default(autoincrement())
  label String @unique
  posts Post[]
}
"""


@pytest.fixture
def blog(backend: Backend) -> Iterator[strata.Database]:
    with backend.connect(BLOG) as db:
        for label in ("python", "sql", "rust"):
            db.tag.create(data={"label": label})
        # ann: 0 posts, ben: 1, cat: 2; post n has n+1 tags; every other post published.
        for n, name in enumerate(["ann", "ben", "cat"]):
            author = db.author.create(data={"name": name, "profile": {"create": {}}})
            for p in range(n):
                db.post.create(
                    data={
                        "title": f"{name}-{p}",
                        "published": p % 2 == 0,
                        "author": {"connect": {"id": author.id}},
                        "tags": {"connect": [{"label": t} for t in ["python", "sql"][: p + 1]]},
                    }
                )
        yield db


def test_include_count_of_every_list_relation_is_one_more_query(blog: strata.Database) -> None:
    traced = Traced(blog)
    authors = blog.author.find_many(include={"_count": True}, order_by={"name": "asc"})
    assert len(traced.take()) == 2
    # Only list relations are counted (profile is to-one).
    assert [a._count for a in authors] == [{"posts": 0}, {"posts": 1}, {"posts": 2}]
    # The counts are extra data on the instance: not a field, not dumped.
    assert "_count" not in authors[0].model_dump()
    assert "_count={'posts': 0}" in repr(authors[0])
    tags = blog.tag.find_many(include={"_count": True}, order_by={"label": "asc"})
    assert {t.label: t._count["posts"] for t in tags} == {"python": 3, "rust": 0, "sql": 1}


def test_count_select_with_a_where_and_inside_select(blog: strata.Database) -> None:
    traced = Traced(blog)
    rows = blog.author.find_many(
        select={
            "name": True,
            "_count": {"select": {"posts": {"where": {"published": True}}}},
        },
        order_by={"name": "asc"},
    )
    assert len(traced.take()) == 2
    assert rows == [
        {"name": "ann", "_count": {"posts": 0}},
        {"name": "ben", "_count": {"posts": 1}},
        {"name": "cat", "_count": {"posts": 1}},
    ]
    # A where reaching through a relation of the counted rows.
    rows = blog.author.find_many(
        select={
            "name": True,
            "_count": {"select": {"posts": {"where": {"tags": {"some": {"label": "sql"}}}}}},
        },
        where={"name": "cat"},
    )
    assert rows == [{"name": "cat", "_count": {"posts": 1}}]
    # False leaves a relation out; nothing left means no _count at all.
    (ann,) = blog.author.find_many(
        select={"name": True, "_count": {"select": {"posts": False}}}, where={"name": "ann"}
    )
    assert ann == {"name": "ann"}


def test_counts_on_nested_levels_take_one_query_per_level(blog: strata.Database) -> None:
    traced = Traced(blog)
    authors = blog.author.find_many(
        include={"_count": True, "posts": {"include": {"_count": True}, "order_by": {"id": "asc"}}},
        order_by={"name": "asc"},
    )
    # authors, their counts, posts, the posts' counts.
    assert len(traced.take()) == 4
    cat = authors[2]
    assert cat._count == {"posts": 2}
    assert [p._count for p in cat.posts or []] == [{"tags": 1}, {"tags": 2}]
    # A to-one include's record carries counts too.
    post = blog.post.find_first(
        where={"title": "cat-1"}, include={"author": {"include": {"_count": True}}}
    )
    assert post is not None
    assert post.author is not None
    assert post.author._count == {"posts": 2}
    # No records: no count query.
    traced.take()
    assert blog.author.find_many(where={"name": "nobody"}, include={"_count": True}) == []
    assert len(traced.take()) == 1


def test_counts_skip_soft_deleted_rows(blog: strata.Database) -> None:
    blog.post.delete(where={"id": blog.post.find_first_or_raise(where={"title": "cat-0"}).id})
    cat = blog.author.find_first_or_raise(where={"name": "cat"}, include={"_count": True})
    assert cat._count == {"posts": 1}
    everything = blog.with_deleted_().author.find_first_or_raise(
        where={"name": "cat"}, include={"_count": True}
    )
    assert everything._count == {"posts": 2}
    python = blog.tag.find_unique_or_raise(where={"label": "python"}, include={"_count": True})
    assert python._count == {"posts": 2}


def test_counts_respect_a_scoped_view(backend: Backend) -> None:
    with backend.seed("video_machine") as db:
        for user, projects in (("alice", 2), ("bob", 3)):
            db.user.create(data={"id": user, "email": f"{user}@x.io"})
            for n in range(projects):
                db.project.create(
                    data={"id": f"{user}-{n}", "userId": user, "title": "t", "config": {}}
                )
        counts = {u.id: u._count["projects"] for u in db.user.find_many(include={"_count": True})}
        assert counts == {"alice": 2, "bob": 3}
        alice = db.scoped_(userId="alice")
        counts = {
            u.id: u._count
            for u in alice.user.find_many(include={"_count": {"select": {"projects": True}}})
        }
        # Her view holds her own user row only, and counts her projects.
        assert counts == {"alice": {"projects": 2}}


def test_writes_return_counts(blog: strata.Database) -> None:
    author = blog.author.create(
        data={"name": "dee", "posts": {"create": [{"title": "a"}, {"title": "b"}]}},
        include={"_count": True},
    )
    assert author._count == {"posts": 2}
    updated = blog.author.update(
        where={"id": author.id},
        data={"posts": {"create": {"title": "c"}}},
        select={"id": True, "_count": {"select": {"posts": True}}},
    )
    assert updated == {"id": author.id, "_count": {"posts": 3}}


@pytest.mark.parametrize(
    ("include", "message"),
    [
        ({"_count": {"select": {"profile": True}}}, r"Author\.profile: _count counts list"),
        ({"_count": {"select": {"nope": True}}}, r"Author\.nope: _count counts list"),
        ({"_count": "yes"}, r"Author: _count takes True or"),
        ({"profile": {"include": {"_count": True}}}, r"Profile: _count counts list relations"),
        ({"_count": {"posts": True}}, r"Author: _count takes True or"),
        ({"_count": {"select": {"posts": {"take": 1}}}}, r"Author\.posts: _count takes True"),
        ({"_count": {"select": {"posts": {"where": {"nope": 1}}}}}, r"Post has no field 'nope'"),
    ],
)
def test_bad_counts_are_refused(
    blog: strata.Database, include: dict[str, object], message: str
) -> None:
    traced = Traced(blog)
    with pytest.raises(strata.ValidationError, match=message):
        blog.author.find_many(include=include)
    assert traced.take() == []
