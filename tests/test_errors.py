"""Bad input gets a clear StrataError and loses nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
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


def test_unique_violation(seeded: strata.Database) -> None:
    with pytest.raises(strata.UniqueConstraintError) as caught:
        seeded.execute_raw_('INSERT INTO "User" ("email") VALUES (?)', "a@x.io")
    err = caught.value
    assert (err.table, err.columns, err.code) == ("User", ["email"], "P2002")
    assert str(err) == "Unique constraint failed on User.(email)"
    assert isinstance(err, strata.ConstraintError | strata.DatabaseError | strata.StrataError)


def test_primary_key_violation_is_a_unique_violation(seeded: strata.Database) -> None:
    with pytest.raises(strata.UniqueConstraintError) as caught:
        seeded.execute_raw_('INSERT INTO "User" ("id", "email") VALUES (1, ?)', "b@x.io")
    assert caught.value.columns == ["id"]


def test_foreign_key_violation_names_the_field(seeded: strata.Database) -> None:
    with pytest.raises(strata.ForeignKeyError) as caught:
        seeded.execute_raw_('INSERT INTO "Post" ("title", "authorId") VALUES (?, ?)', "x", 99)
    err = caught.value
    assert (err.table, err.columns, err.code) == ("Post", ["authorId"], "P2003")
    assert (err.referenced_table, err.referenced_columns) == ("User", ["id"])
    assert "Post.(authorId) referencing User.(id)" in str(err)


def test_deleting_a_referenced_parent_is_a_foreign_key_error(seeded: strata.Database) -> None:
    with pytest.raises(strata.ForeignKeyError) as caught, seeded.transaction_():
        seeded.execute_raw_('DELETE FROM "User" WHERE "id" = ?', 1)
    assert caught.value.table == "Post"
    assert seeded.query_raw_('SELECT count(*) AS n FROM "User"') == [{"n": 1}]


def test_foreign_key_probe_leaves_the_transaction_as_it_was(seeded: strata.Database) -> None:
    with seeded.transaction_():
        seeded.execute_raw_('INSERT INTO "User" ("id", "email") VALUES (2, ?)', "b@x.io")
        with pytest.raises(strata.ForeignKeyError):
            seeded.execute_raw_('INSERT INTO "Post" ("title", "authorId") VALUES (?, ?)', "x", 99)
        assert seeded.in_transaction_
    assert seeded.query_raw_('SELECT count(*) AS n FROM "User"') == [{"n": 2}]
    assert seeded.query_raw_('SELECT count(*) AS n FROM "Post"') == [{"n": 1}]


def test_null_violation(seeded: strata.Database) -> None:
    with pytest.raises(strata.NullConstraintError) as caught:
        seeded.execute_raw_('INSERT INTO "Post" ("title", "authorId") VALUES (NULL, 1)')
    assert (caught.value.table, caught.value.columns, caught.value.code) == (
        "Post",
        ["title"],
        "P2011",
    )


def test_check_violation(seeded: strata.Database) -> None:
    with pytest.raises(strata.CheckConstraintError):
        seeded.execute_raw_('INSERT INTO "User" ("email", "age") VALUES (?, ?)', "c@x.io", -1)


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
