"""Bad input gets a clear StrataError and loses nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import strata


def assert_intact(path: Path, expected_rows: int) -> None:
    """The file passes SQLite's integrity check and holds exactly the committed rows.

    Read with Python's sqlite3 on purpose: an independent reader of the same library.
    """
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (expected_rows,)
    finally:
        conn.close()


@pytest.fixture
def seeded(db: strata.Database) -> strata.Database:
    db.execute_script_(
        """
        CREATE TABLE "User" ("id" INTEGER PRIMARY KEY, "email" TEXT NOT NULL UNIQUE,
                             "age" INTEGER CHECK ("age" >= 0));
        CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "title" TEXT NOT NULL,
                             "authorId" INTEGER NOT NULL REFERENCES "User" ("id"));
        CREATE TABLE t (a);
        INSERT INTO "User" ("id", "email") VALUES (1, 'a@x.io');
        INSERT INTO "Post" ("title", "authorId") VALUES ('hello', 1);
        INSERT INTO t VALUES (1);
        """
    )
    return db


# Constraint errors, the same on both databases: tests/test_errors_backends.py.


def test_foreign_key_probe_leaves_the_transaction_as_it_was(seeded: strata.Database) -> None:
    with seeded.transaction_():
        seeded.execute_raw_('INSERT INTO "User" ("id", "email") VALUES (2, ?)', "b@x.io")
        with pytest.raises(strata.ForeignKeyError):
            seeded.execute_raw_('INSERT INTO "Post" ("title", "authorId") VALUES (?, ?)', "x", 99)
        assert seeded.in_transaction_
    assert seeded.query_raw_('SELECT count(*) AS n FROM "User"') == [{"n": 2}]
    assert seeded.query_raw_('SELECT count(*) AS n FROM "Post"') == [{"n": 1}]


@pytest.mark.parametrize(
    ("sql", "params", "error", "message"),
    [
        ("SELECT ?", (), strata.ParameterError, "1 parameter placeholder.*0 value"),
        ("SELECT ?", (1, 2), strata.ParameterError, "1 parameter placeholder.*2 value"),
        (
            "SELECT ?",
            ({1, 2},),
            strata.ParameterTypeError,
            "parameter 1 has unsupported type 'set'",
        ),
        ("SELECT ?, ?", (1, {}), strata.ParameterTypeError, "parameter 2 .* 'dict'"),
        ("SELECT ?", (2**63,), strata.ParameterError, "parameter 1 does not fit"),
        ("SELEC 1", (), strata.SqlError, 'near "SELEC": syntax error'),
        ("SELECT * FROM missing", (), strata.SqlError, "no such table: missing"),
        ("SELECT 1; SELECT 2", (), strata.SqlError, "execute_script"),
    ],
)
def test_bad_statements(
    seeded: strata.Database, sql: str, params: tuple[object, ...], error: type, message: str
) -> None:
    for call in (seeded.execute_raw_, seeded.query_raw_):
        with pytest.raises(error, match=message):
            call(sql, *params)
        assert not seeded.in_transaction_


def test_parameter_errors_subclass_builtin_errors() -> None:
    assert issubclass(strata.ParameterError, ValueError)
    assert issubclass(strata.ParameterTypeError, TypeError)
    assert issubclass(strata.ConfigurationError, ValueError)


def test_sql_error_carries_the_statement(seeded: strata.Database) -> None:
    with pytest.raises(strata.SqlError) as caught:
        seeded.query_raw_("SELECT nope FROM t")
    assert caught.value.sql == "SELECT nope FROM t"


def test_a_failed_statement_inside_a_transaction_keeps_earlier_work(
    seeded: strata.Database, db_path: Path
) -> None:
    with seeded.transaction_():
        seeded.execute_raw_("INSERT INTO t VALUES (2)")
        with pytest.raises(strata.SqlError):
            seeded.execute_raw_("INSERT INTO nowhere VALUES (3)")
    seeded.close_()
    assert_intact(db_path, 2)


def test_errors_leave_no_transaction_open(seeded: strata.Database, db_path: Path) -> None:
    bad_calls: list[Callable[[], object]] = [
        lambda: seeded.execute_raw_('INSERT INTO "User" ("email") VALUES (?)', "a@x.io"),
        lambda: seeded.execute_raw_("SELECT ?", {1}),
        lambda: seeded.execute_raw_("SELEC"),
        lambda: seeded.execute_many_raw_("INSERT INTO t VALUES (?)", [(5,), (6, 7)]),
    ]
    for call in bad_calls:
        with pytest.raises(strata.StrataError):
            call()
        assert not seeded.in_transaction_
    # Another connection can take the write lock at once: nothing is held open.
    other = sqlite3.connect(db_path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    seeded.close_()
    assert_intact(db_path, 1)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(strata.OpenError, match=r"directory .*/nope' does not exist") as caught:
        strata.connect(tmp_path / "nope" / "x.db")
    assert caught.value.path == str(tmp_path / "nope" / "x.db")
    assert not (tmp_path / "nope").exists()


def test_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(strata.OpenError, match="is a directory"):
        strata.connect(tmp_path)


def test_not_a_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(strata.OpenError, match="not a SQLite database"):
        strata.connect(path)
    assert path.read_bytes() == content


def test_unreadable_file() -> None:
    """Permission checks do not apply to root, so the attempt runs as an unprivileged user."""
    folder = tempfile.mkdtemp(prefix="strata-perm-")
    try:
        os.chmod(folder, 0o755)
        path = Path(folder) / "secret.db"
        with strata.connect(path) as db:
            db.execute_raw_("CREATE TABLE t (a)")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.chmod(path, 0o000)
        script = (
            "import os, strata\n"
            + ("os.setgid(65534); os.setuid(65534)\n" if os.geteuid() == 0 else "")
            + "try:\n"
            f"    strata.connect({str(path)!r})\n"
            "except strata.OpenError as e:\n"
            "    print(type(e).__name__, e)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "OpenError" in result.stdout
        assert "permission denied" in result.stdout
    finally:
        subprocess.run(["rm", "-rf", folder], check=False)


# -- foreign keys blocking a delete, in queue claims and in rate-limit hits -----------------

BLOCKING_SCHEMA = """
datasource db {
  provider = "sqlite"
}

model Author {
  id    Int    @id
  posts Post[]
  notes Note[]
}

model Post {
  id       Int    @id
  authorId Int
  author   Author @relation(fields: [authorId], references: [id], onDelete: Restrict)
}

model Note {
  id       Int    @id
  authorId Int
  author   Author @relation(fields: [authorId], references: [id], onDelete: NoAction)
}
"""


@pytest.fixture
def blocking(tmp_path: Path) -> Iterator[strata.Database]:
    schema = tmp_path / "schema.prisma"
    schema.write_text(BLOCKING_SCHEMA)
    with strata.connect(tmp_path / "blocking.db", schema=schema) as db:
        db.migrate_.push()
        db.author.create_many(data=[{"id": 1}, {"id": 2}, {"id": 3}])
        db.post.create(data={"id": 1, "authorId": 1})
        db.note.create(data={"id": 1, "authorId": 2})
        yield db


def assert_untouched(db: strata.Database) -> None:
    """Nothing changed, and nothing holds the write lock."""
    assert not db.in_transaction_
    other = sqlite3.connect(db.path_, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        assert other.execute('SELECT count(*) FROM "Author"').fetchone() == (3,)
        assert other.execute('SELECT count(*) FROM "Post"').fetchone() == (1,)
        assert other.execute('SELECT count(*) FROM "Note"').fetchone() == (1,)
    finally:
        other.close()


@pytest.mark.parametrize(
    ("author", "table"), [(1, "Post"), (2, "Note")], ids=["restrict", "no-action"]
)
def test_a_delete_blocked_by_a_relation_names_it(
    blocking: strata.Database, author: int, table: str
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: blocking.author.delete(where={"id": author}),
        lambda: blocking.author.delete(where={"id": author}, include={"posts": True}),
        lambda: blocking.author.delete_many(where={"id": {"in": [author, 3]}}),
        lambda: blocking.author.hard_delete(where={"id": author}),
        lambda: blocking.execute_raw_('DELETE FROM "Author" WHERE "id" = ?', author),
    ]
    for call in calls:
        with pytest.raises(strata.ForeignKeyError) as caught:
            call()
        error = caught.value
        assert (error.code, error.table, error.columns) == ("P2003", table, ["authorId"])
        assert (error.referenced_table, error.referenced_columns) == ("Author", ["id"])
        assert f"{table}.(authorId) referencing Author.(id)" in str(error)
        assert_untouched(blocking)
    # Through a repository, the error names the model and fields too.
    with pytest.raises(strata.ForeignKeyError) as caught:
        blocking.author.delete(where={"id": author})
    assert (caught.value.model, caught.value.fields) == (table, ["authorId"])


def test_a_blocked_delete_inside_a_transaction_keeps_earlier_work(
    blocking: strata.Database,
) -> None:
    with blocking.transaction_():
        blocking.author.delete(where={"id": 3})
        with pytest.raises(strata.ForeignKeyError):
            blocking.author.delete(where={"id": 1})
        assert blocking.in_transaction_
    assert [a.id for a in blocking.author.find_many()] == [1, 2]


def test_a_queue_claim_that_breaks_a_foreign_key_names_it(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(
        'datasource db {\n  provider = "sqlite"\n}\n\n'
        "model Worker {\n  id   String @id\n  jobs Job[]\n}\n\n"
        "model Job {\n"
        "  id             Int       @id @default(autoincrement())\n"
        '  status         String    @default("QUEUED")\n'
        "  leaseExpiresAt DateTime?\n"
        "  leaseToken     Int       @default(0)\n"
        "  workerId       String?\n"
        "  attempts       Int       @default(0)\n"
        "  worker         Worker?   @relation(fields: [workerId], references: [id])\n"
        "  @@index([status])\n"
        "}\n"
    )
    with strata.connect(tmp_path / "queue.db", schema=schema) as db:
        db.migrate_.push()
        queue = db.queue_(
            "Job",
            ready={"status": "QUEUED"},
            claimed={"status": "RUNNING"},
            done={"status": "DONE"},
            failed={"status": "FAILED"},
            order_by=[{"id": "asc"}],
            lease=timedelta(seconds=30),
        )
        queue.enqueue({})
        # The worker id is stored in workerId, which must name a Worker row.
        with pytest.raises(strata.ForeignKeyError) as caught:
            queue.claim("ghost")
        error = caught.value
        assert (error.code, error.table, error.columns) == ("P2003", "Job", ["workerId"])
        assert (error.referenced_table, error.referenced_columns) == ("Worker", ["id"])
        assert not db.in_transaction_
        (job,) = db.job.find_many()
        assert (job.status, job.leaseToken, job.attempts, job.workerId) == ("QUEUED", 0, 0, None)
        db.worker.create(data={"id": "w1"})
        (claim,) = queue.claim("w1")
        assert claim.record.workerId == "w1"


def test_a_rate_limit_hit_that_breaks_a_foreign_key_names_it(tmp_path: Path) -> None:
    schema = Path(__file__).resolve().parents[1] / "schema" / "medianest.prisma"
    with strata.connect(tmp_path / "medianest.db", schema=schema) as db:
        db.migrate_.push()
        limiter = db.rate_limiter_(
            "RateLimit",
            key=["userId", "endpoint"],
            count="requestCount",
            window_start="windowStart",
        )
        # userId references users.id, and there is no user "nobody".
        with pytest.raises(strata.ForeignKeyError) as caught:
            limiter.hit("nobody", "/api", limit=5, window=60)
        error = caught.value
        assert (error.code, error.table, error.columns) == ("P2003", "rate_limits", ["userId"])
        assert (error.referenced_table, error.referenced_columns) == ("users", ["id"])
        assert not db.in_transaction_
        assert db.rate_limit.count() == 0
