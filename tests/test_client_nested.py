"""Nested writes on related records: update, update_many, upsert, delete, delete_many and
create_many inside create/update, in the parent's transaction, touching only the parent's
own related records as the client sees them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
  bio      String
  authorId Int    @unique
  author   Author @relation(fields: [authorId], references: [id], onDelete: Cascade)
}

model Post {
  id       Int     @id @default(autoincrement())
  title    String
  slug     String  @unique
  views    Int     @default(0)
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
    with backend.connect(BLOG) as db:
        for name in ("ann", "ben"):
            db.author.create(
                data={
                    "id": 1 if name == "ann" else 2,
                    "name": name,
                    "profile": {"create": {"bio": f"I am {name}"}},
                    "posts": {
                        "create": [
                            {
                                "title": f"{name} {n}",
                                "slug": f"{name}-{n}",
                                "tags": {
                                    "connect_or_create": {
                                        "where": {"label": f"t{n}"},
                                        "create": {"label": f"t{n}"},
                                    }
                                },
                            }
                            for n in range(2)
                        ]
                    },
                }
            )
        if backend.is_postgres:
            # Explicit ids leave a serial's sequence behind, on PostgreSQL as with Prisma.
            db.query_raw_("""SELECT setval('"Author_id_seq"', 2)""")
        yield db


def snapshot(db: strata.Database) -> dict[str, Any]:
    """Every row of every table, to show that nothing changed."""
    return {
        table: db.query_raw_(f'SELECT * FROM "{table}" ORDER BY 1, 2')
        for table in ("Author", "Profile", "Post", "Tag", "_PostToTag")
    }


def titles(db: strata.Database, author: int) -> list[str]:
    posts = db.post.find_many(where={"authorId": author}, order_by={"slug": "asc"})
    return [p.title for p in posts]


# -- list relations --------------------------------------------------------------------------


def test_update_and_update_many_through_a_list_relation(blog: strata.Database) -> None:
    author = blog.author.update(
        where={"id": 1},
        data={
            "name": "ann b.",
            "posts": {
                "update": [
                    {
                        "where": {"slug": "ann-0"},
                        "data": {"title": "first", "views": {"increment": 2}},
                    }
                ],
                "update_many": {"where": {"title": {"contains": " "}}, "data": {"views": 7}},
            },
        },
        include={"posts": {"order_by": {"slug": "asc"}}},
    )
    assert author.name == "ann b."
    assert [(p.title, p.views) for p in author.posts] == [("first", 2), ("ann 1", 7)]
    # ben's titles match the filter too, but his posts are not ann's.
    assert {p.views for p in blog.post.find_many(where={"authorId": 2})} == {0}
    # update_many with no where touches every related record, and only those.
    blog.author.update(
        where={"id": 2}, data={"posts": {"update_many": {"where": {}, "data": {"views": 1}}}}
    )
    assert [p.views for p in blog.post.find_many(order_by={"slug": "asc"})] == [2, 7, 1, 1]


def test_a_nested_update_of_someone_elses_record_rolls_everything_back(
    blog: strata.Database,
) -> None:
    before = snapshot(blog)
    with pytest.raises(strata.RecordNotFoundError) as raised:
        blog.author.update(
            where={"id": 1},
            data={
                "name": "changed",
                "posts": {
                    "create": {"title": "new", "slug": "new"},
                    "update": {"where": {"slug": "ben-0"}, "data": {"title": "stolen"}},
                },
            },
        )
    assert raised.value.model == "Post"
    assert snapshot(blog) == before
    with pytest.raises(strata.RecordNotFoundError):
        blog.author.update(where={"id": 1}, data={"posts": {"delete": {"slug": "ben-1"}}})
    with pytest.raises(strata.RecordNotFoundError):
        blog.author.update(where={"id": 1}, data={"posts": {"delete": [{"slug": "nope"}]}})
    assert snapshot(blog) == before


def test_delete_and_delete_many_through_a_list_relation(blog: strata.Database) -> None:
    blog.author.update(where={"id": 1}, data={"posts": {"delete": {"slug": "ann-0"}}})
    assert titles(blog, 1) == ["ann 1"]
    blog.post.create(data={"title": "ann 2", "slug": "ann-2", "author": {"connect": {"id": 1}}})
    blog.author.update(
        where={"id": 1}, data={"posts": {"delete_many": [{"slug": "ann-2"}, {"views": 99}]}}
    )
    assert titles(blog, 1) == ["ann 1"]
    blog.author.update(where={"id": 1}, data={"posts": {"delete_many": {}}})
    assert titles(blog, 1) == []
    assert titles(blog, 2) == ["ben 0", "ben 1"]


def test_upsert_through_a_list_relation(blog: strata.Database) -> None:
    blog.author.update(
        where={"id": 1},
        data={
            "posts": {
                "upsert": [
                    {
                        "where": {"slug": "ann-0"},
                        "update": {"title": "updated"},
                        "create": {"title": "x", "slug": "x"},
                    },
                    {
                        "where": {"slug": "ann-9"},
                        "update": {"title": "y"},
                        "create": {"title": "created", "slug": "ann-9"},
                    },
                ]
            }
        },
    )
    assert titles(blog, 1) == ["updated", "ann 1", "created"]
    # A record that exists but is someone else's is not updated: the create then conflicts.
    with pytest.raises(strata.UniqueConstraintError):
        blog.author.update(
            where={"id": 1},
            data={
                "posts": {
                    "upsert": {
                        "where": {"slug": "ben-0"},
                        "update": {"title": "stolen"},
                        "create": {"title": "mine", "slug": "ben-0"},
                    }
                }
            },
        )
    assert titles(blog, 2) == ["ben 0", "ben 1"]


def test_create_many_inside_create_and_update(blog: strata.Database) -> None:
    traced = Traced(blog)
    author = blog.author.create(
        data={
            "name": "cat",
            "posts": {
                "create_many": {"data": [{"title": f"c{n}", "slug": f"c-{n}"} for n in range(3)]}
            },
        }
    )
    # BEGIN, the author, one INSERT for all the posts, COMMIT (savepoints aside).
    inserts = [s for s in traced.take() if s.startswith("INSERT")]
    assert len(inserts) == 2
    assert titles(blog, author.id) == ["c0", "c1", "c2"]
    blog.author.update(
        where={"id": author.id},
        data={
            "posts": {
                "create_many": {
                    "data": [{"title": "dup", "slug": "c-0"}, {"title": "c3", "slug": "c-3"}],
                    "skip_duplicates": True,
                }
            }
        },
    )
    assert titles(blog, author.id) == ["c0", "c1", "c2", "c3"]


def test_a_failing_create_many_rolls_back_the_parent(blog: strata.Database) -> None:
    before = snapshot(blog)
    with pytest.raises(strata.UniqueConstraintError):
        blog.author.create(
            data={
                "name": "dee",
                "posts": {"create_many": {"data": [{"title": "a", "slug": "ann-0"}]}},
            }
        )
    with pytest.raises(strata.ValidationError, match=r"Post\.title"):
        blog.author.create(
            data={"name": "dee", "posts": {"create_many": {"data": [{"title": 5, "slug": "z"}]}}}
        )
    assert snapshot(blog) == before


# -- many-to-many ----------------------------------------------------------------------------


def test_nested_writes_through_a_many_to_many_relation(blog: strata.Database) -> None:
    post = blog.post.update(
        where={"slug": "ann-0"},
        data={
            "tags": {
                "update": {"where": {"label": "t0"}, "data": {"label": "zero"}},
                "upsert": {
                    "where": {"label": "t5"},
                    "update": {"label": "never"},
                    "create": {"label": "five"},
                },
            }
        },
        include={"tags": {"order_by": {"label": "asc"}}},
    )
    assert [t.label for t in post.tags] == ["five", "zero"]
    # t1 exists, but is not one of this post's tags.
    with pytest.raises(strata.RecordNotFoundError):
        blog.post.update(where={"slug": "ann-0"}, data={"tags": {"delete": {"label": "t1"}}})
    blog.post.update(where={"slug": "ann-0"}, data={"tags": {"delete": {"label": "five"}}})
    assert blog.tag.find_unique(where={"label": "five"}) is None
    blog.post.update(
        where={"slug": "ann-0"},
        data={"tags": {"update_many": {"where": {}, "data": {"label": "z"}}}},
    )
    assert blog.tag.find_unique(where={"label": "z"}) is not None
    blog.post.update(where={"slug": "ann-0"}, data={"tags": {"delete_many": {}}})
    assert {t.label for t in blog.tag.find_many()} == {"t1"}
    assert blog.post.find_unique_or_raise(where={"slug": "ben-1"}, include={"tags": True}).tags


# -- to-one relations ------------------------------------------------------------------------


def test_to_one_relation_held_by_the_related_record(blog: strata.Database) -> None:
    author = blog.author.update(
        where={"id": 1},
        data={"profile": {"update": {"bio": "new bio"}}},
        include={"profile": True},
    )
    assert author.profile is not None
    assert author.profile.bio == "new bio"
    blog.author.update(where={"id": 1}, data={"profile": {"delete": True}})
    assert blog.profile.find_unique(where={"authorId": 1}) is None
    with pytest.raises(strata.RecordNotFoundError):
        blog.author.update(where={"id": 1}, data={"profile": {"update": {"bio": "x"}}})
    with pytest.raises(strata.RecordNotFoundError):
        blog.author.update(where={"id": 1}, data={"profile": {"delete": True}})
    upserted = blog.author.update(
        where={"id": 1},
        data={"profile": {"upsert": {"create": {"bio": "created"}, "update": {"bio": "no"}}}},
        include={"profile": True},
    )
    assert upserted.profile is not None
    assert upserted.profile.bio == "created"
    upserted = blog.author.update(
        where={"id": 1},
        data={"profile": {"upsert": {"create": {"bio": "no"}, "update": {"bio": "updated"}}}},
        include={"profile": True},
    )
    assert upserted.profile is not None
    assert upserted.profile.bio == "updated"
    assert blog.profile.find_unique_or_raise(where={"authorId": 2}).bio == "I am ben"


def test_to_one_relation_held_by_this_record(blog: strata.Database) -> None:
    post = blog.post.update(
        where={"slug": "ann-0"},
        data={"title": "t", "author": {"update": {"name": "ann 2"}}},
        include={"author": True},
    )
    assert post.author is not None
    assert post.author.name == "ann 2"
    orphan = blog.post.create(data={"title": "orphan", "slug": "orphan"})
    with pytest.raises(strata.RecordNotFoundError):
        blog.post.update(where={"id": orphan.id}, data={"author": {"update": {"name": "x"}}})
    adopted = blog.post.update(
        where={"id": orphan.id},
        data={"author": {"upsert": {"create": {"name": "new"}, "update": {"name": "no"}}}},
        include={"author": True},
    )
    assert adopted.author is not None
    assert adopted.author.name == "new"
    again = blog.post.update(
        where={"id": orphan.id},
        data={"author": {"upsert": {"create": {"name": "no"}, "update": {"name": "renamed"}}}},
        include={"author": True},
    )
    assert again.author is not None
    assert again.author.id == adopted.author.id
    assert again.author.name == "renamed"
    # delete: the author goes, and this post no longer points at it.
    deleted = blog.post.update(where={"id": orphan.id}, data={"author": {"delete": True}})
    assert deleted.authorId is None
    assert blog.author.find_unique(where={"id": adopted.author.id}) is None
    with pytest.raises(strata.RecordNotFoundError):
        blog.post.update(where={"id": orphan.id}, data={"author": {"delete": True}})


# -- the client's view -----------------------------------------------------------------------


@pytest.fixture
def video(backend: Backend) -> Iterator[strata.Database]:
    with backend.seed("video_machine") as db:
        for user in ("alice", "bob"):
            db.user.create(data={"id": user, "email": f"{user}@x.io"})
            for n in range(2):
                db.project.create(
                    data={"id": f"{user}-{n}", "userId": user, "title": "t", "config": {}}
                )
        yield db


def test_nested_writes_respect_scope_and_soft_delete(video: strata.Database) -> None:
    # Project is soft-deleting: a nested delete marks it.
    video.user.update(where={"id": "alice"}, data={"projects": {"delete": {"id": "alice-0"}}})
    assert video.project.find_unique(where={"id": "alice-0"}) is None
    hidden = video.with_deleted_().project.find_unique_or_raise(where={"id": "alice-0"})
    assert hidden.deletedAt is not None
    # A soft-deleted record is not there for a nested update or delete.
    with pytest.raises(strata.RecordNotFoundError):
        video.user.update(
            where={"id": "alice"},
            data={"projects": {"update": {"where": {"id": "alice-0"}, "data": {"title": "x"}}}},
        )
    assert video.user.update(
        where={"id": "alice"},
        data={"projects": {"update_many": {"where": {}, "data": {"title": "seen"}}}},
        include={"projects": True},
    ).projects == [video.project.find_unique_or_raise(where={"id": "alice-1"})]
    assert video.with_deleted_().project.find_unique_or_raise(where={"id": "alice-0"}).title == "t"
    # Alice's view has no user row of bob's to start from, and her own row's nested
    # writes reach none of his projects.
    alice = video.scoped_(userId="alice")
    for data in (
        {"projects": {"update_many": {"where": {}, "data": {"title": "hers"}}}},
        {"projects": {"delete_many": {}}},
    ):
        with pytest.raises(strata.RecordNotFoundError):
            alice.user.update(where={"id": "bob"}, data=data)
    with pytest.raises(strata.RecordNotFoundError):
        alice.user.update(
            where={"id": "alice"},
            data={"projects": {"update": {"where": {"id": "bob-0"}, "data": {"title": "x"}}}},
        )
    assert {p.title for p in video.project.find_many(where={"userId": "bob"})} == {"t"}


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        ("author", {"posts": {"update": {"data": {"title": "x"}}}}, r"Author\.posts: update takes"),
        ("author", {"posts": {"update": [{"where": {"id": 1}}]}}, r"Author\.posts: update takes"),
        ("author", {"posts": {"delete": True}}, r"Author\.posts: delete takes"),
        ("author", {"posts": {"upsert": {"where": {"id": 1}}}}, r"Author\.posts: upsert takes"),
        ("author", {"posts": {"update_many": {"data": {}}}}, r"Author\.posts: update_many takes"),
        ("author", {"posts": {"create_many": [{"title": "x"}]}}, r"create_many takes"),
        ("author", {"posts": {"create_many": {"data": [1]}}}, r"create_many takes"),
        ("author", {"posts": {"frobnicate": {}}}, r"Author\.posts: a relation takes"),
        ("author", {"profile": {"delete": {"id": 1}}}, r"Author\.profile: delete takes True"),
        ("author", {"profile": {"update_many": {}}}, r"update_many is for list relations"),
        ("author", {"profile": {"create_many": {"data": []}}}, r"create_many is for list"),
        ("post", {"tags": {"create_many": {"data": []}}}, r"not for many-to-many"),
        ("post", {"author": {"update": {"name": "x"}, "connect": {"id": 2}}}, r"one nested op"),
        ("profile", {"author": {"delete": True}}, r"Profile\.author: is required"),
    ],
)
def test_bad_nested_writes_are_refused_before_sql(
    blog: strata.Database, model: str, data: dict[str, Any], message: str
) -> None:
    before = snapshot(blog)
    where = {"author": {"id": 1}, "post": {"slug": "ann-0"}, "profile": {"authorId": 1}}[model]
    traced = Traced(blog)
    with pytest.raises(strata.ValidationError, match=message) as raised:
        blog.model_(model.capitalize()).update(where=where, data=data)
    assert raised.value.model == model.capitalize()
    assert raised.value.field == next(iter(data))
    assert traced.take() == []
    assert snapshot(blog) == before


def test_bad_data_deeper_down_rolls_back(blog: strata.Database) -> None:
    before = snapshot(blog)
    with pytest.raises(strata.ValidationError, match=r"Post has no field 'nope'"):
        blog.author.update(
            where={"id": 1},
            data={
                "name": "changed",
                "posts": {"update": {"where": {"slug": "ann-0"}, "data": {"nope": 1}}},
            },
        )
    with pytest.raises(strata.ValidationError, match=r"Post\.views"):
        blog.author.update(
            where={"id": 1},
            data={
                "name": "changed",
                "posts": {"update_many": {"where": {}, "data": {"views": {"push": 1}}}},
            },
        )
    assert snapshot(blog) == before
