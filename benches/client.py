"""The typed client against Python's sqlite3 and SQLAlchemy 2.0 doing the same work.

Both sides get the same tables, created from the same DDL (the script strata's migrations
emit for BENCH_SCHEMA), on their own files in WAL mode with ``synchronous=NORMAL``.

* ``find_unique`` by id returning a model, against sqlite3 returning a tuple: at most twice
  the time (ratio >= 0.5);
* ``find_unique`` by id, against SQLAlchemy ORM ``session.get`` with a fresh session per
  call: twice as fast;
* ``create_many`` of 100k rows, against SQLAlchemy Core ``insert()`` executemany: 3x;
* ``find_many`` of 10k rows with one include, against SQLAlchemy ``selectinload``: 2x.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, create_engine, event, insert, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)

import strata
from _harness import Benchmark, Side, Suite, schema_ddl

BENCH_SCHEMA = """datasource db {
  provider = "sqlite"
}

model Author {
  id    Int    @id @default(autoincrement())
  name  String
  email String @unique
  score Float  @default(0)
  posts Post[]
}

model Post {
  id       Int    @id @default(autoincrement())
  title    String
  views    Int    @default(0)
  authorId Int
  author   Author @relation(fields: [authorId], references: [id])

  @@index([authorId])
}
"""

AUTHORS = 1_000
POSTS_PER_AUTHOR = 10


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "Author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str] = mapped_column(unique=True)
    score: Mapped[float] = mapped_column(default=0)
    posts: Mapped[list[Post]] = relationship(back_populates="author")


class Post(Base):
    __tablename__ = "Post"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    views: Mapped[int] = mapped_column(default=0)
    authorId: Mapped[int] = mapped_column(ForeignKey("Author.id"))
    author: Mapped[Author] = relationship(back_populates="posts")


def _authors() -> list[tuple[int, str, str, float]]:
    return [(n, f"author {n}", f"a{n}@example.com", n * 0.5) for n in range(1, AUTHORS + 1)]


def _posts() -> list[tuple[str, int, int]]:
    return [(f"post {a}.{p}", p, a) for a in range(1, AUTHORS + 1) for p in range(POSTS_PER_AUTHOR)]


@contextmanager
def _strata(tmp: Path) -> Iterator[strata.Database]:
    schema = tmp / "schema.prisma"
    schema.write_text(BENCH_SCHEMA)
    db = strata.connect(tmp / "strata.db", schema=schema)
    try:
        db.migrate_.push()
        db.execute_many_raw_(
            'INSERT INTO "Author" ("id", "name", "email", "score") VALUES (?, ?, ?, ?)', _authors()
        )
        db.execute_many_raw_(
            'INSERT INTO "Post" ("title", "views", "authorId") VALUES (?, ?, ?)', _posts()
        )
        yield db
    finally:
        db.close_()


@contextmanager
def _sqlalchemy(tmp: Path, ddl: str) -> Iterator[Any]:
    """A SQLAlchemy engine on its own file, holding the same tables and rows."""
    path = tmp / "sqlalchemy.db"
    setup = sqlite3.connect(path)
    setup.executescript(ddl)
    setup.executemany('INSERT INTO "Author" VALUES (?, ?, ?, ?)', _authors())
    setup.executemany(
        'INSERT INTO "Post" ("title", "views", "authorId") VALUES (?, ?, ?)', _posts()
    )
    setup.commit()
    setup.close()
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    try:
        yield engine
    finally:
        engine.dispose()


def _keys(n: int) -> Iterator[int]:
    return (1 + (i * 7919) % AUTHORS for i in range(n))


# --- find_unique ---------------------------------------------------------------------------


@contextmanager
def _find_unique_vs_sqlite3(tmp: Path) -> Iterator[tuple[Side, Side]]:
    with _strata(tmp) as db:
        conn = sqlite3.connect(tmp / "sqlite3.db")
        conn.executescript(schema_ddl(db))
        conn.executemany('INSERT INTO "Author" VALUES (?, ?, ?, ?)', _authors())
        conn.commit()
        conn.execute("PRAGMA journal_mode = WAL")
        authors = db.model_("Author")
        query = 'SELECT "id", "name", "email", "score" FROM "Author" WHERE "id" = ?'

        def with_strata(n: int) -> None:
            for key in _keys(n):
                authors.find_unique(where={"id": key})

        def with_sqlite3(n: int) -> None:
            for key in _keys(n):
                conn.execute(query, (key,)).fetchone()

        try:
            yield Side(with_strata), Side(with_sqlite3)
        finally:
            conn.close()


@contextmanager
def _find_unique_vs_sqlalchemy(tmp: Path) -> Iterator[tuple[Side, Side]]:
    with _strata(tmp) as db, _sqlalchemy(tmp, schema_ddl(db)) as engine:
        authors = db.model_("Author")

        def with_strata(n: int) -> None:
            for key in _keys(n):
                authors.find_unique(where={"id": key})

        def with_sqlalchemy(n: int) -> None:
            for key in _keys(n):
                with Session(engine) as session:
                    session.get(Author, key)

        yield Side(with_strata), Side(with_sqlalchemy)


# --- create_many ---------------------------------------------------------------------------


def _create_many(rows: int) -> Callable[[Path], AbstractContextManager[tuple[Side, Side]]]:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with _strata(tmp) as db, _sqlalchemy(tmp, schema_ddl(db)) as engine:
            posts = db.model_("Post")
            # The same list of dicts for both sides, built once, outside the timing.
            data = [
                {"title": f"new {i}", "views": i, "authorId": 1 + i % AUTHORS} for i in range(rows)
            ]

            def with_strata(n: int) -> None:
                posts.create_many(data=data)

            def with_sqlalchemy(n: int) -> None:
                with engine.begin() as connection:
                    connection.execute(insert(Post.__table__), data)

            def reset_strata() -> None:
                db.execute_raw_('DELETE FROM "Post" WHERE "title" LIKE ?', "new %")
                db.execute_raw_("PRAGMA wal_checkpoint(TRUNCATE)")

            def reset_sqlalchemy() -> None:
                # A checkpoint cannot run inside SQLAlchemy's implicit transaction; a plain
                # connection on the same file does the untimed cleanup.
                cleanup = sqlite3.connect(tmp / "sqlalchemy.db", isolation_level=None)
                cleanup.execute('DELETE FROM "Post" WHERE "title" LIKE \'new %\'')
                cleanup.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cleanup.close()

            yield Side(with_strata, reset_strata), Side(with_sqlalchemy, reset_sqlalchemy)

    return setup


# --- find_many with include ----------------------------------------------------------------


@contextmanager
def _find_many_include(tmp: Path) -> Iterator[tuple[Side, Side]]:
    with _strata(tmp) as db, _sqlalchemy(tmp, schema_ddl(db)) as engine:
        posts = db.model_("Post")
        rows = AUTHORS * POSTS_PER_AUTHOR

        def with_strata(n: int) -> None:
            for _ in range(n):
                found = posts.find_many(take=rows, include={"author": True})
                assert len(found) == rows

        def with_sqlalchemy(n: int) -> None:
            for _ in range(n):
                with Session(engine) as session:
                    found = session.scalars(
                        select(Post).options(selectinload(Post.author)).limit(rows)
                    ).all()
                    assert len(found) == rows

        yield Side(with_strata), Side(with_sqlalchemy)


def benchmarks(quick: bool) -> list[Benchmark]:
    rounds = 11 if quick else 31
    lookups = 1_000 if quick else 3_000
    new_rows = 20_000 if quick else 100_000
    return [
        Benchmark(
            name="find_unique_vs_sqlite3",
            label="find_unique by id -> model (vs sqlite3 tuple)",
            unit="call",
            size=lookups,
            rounds=rounds,
            setup=_find_unique_vs_sqlite3,
            target=0.5,
        ),
        Benchmark(
            name="find_unique_vs_sqlalchemy",
            label="find_unique by id (vs SQLAlchemy session.get)",
            unit="call",
            size=lookups,
            rounds=rounds,
            setup=_find_unique_vs_sqlalchemy,
            target=2.0,
        ),
        Benchmark(
            name="create_many",
            label=f"create_many {new_rows:,} rows (vs SQLAlchemy insert)",
            unit="row",
            size=new_rows,
            rounds=5 if quick else 9,
            setup=_create_many(new_rows),
            target=3.0,
        ),
        Benchmark(
            name="find_many_include",
            label="find_many 10k rows + include (vs selectinload)",
            unit="query",
            size=1,
            rounds=5 if quick else 11,
            setup=_find_many_include,
            target=2.0,
        ),
    ]


SUITE = Suite(name="client", baseline="peer", benchmarks=benchmarks)
