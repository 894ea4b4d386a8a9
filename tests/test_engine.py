"""Raw SQL, values and transactions through the core."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import strata

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def test_pragmas_in_force(db: strata.Database) -> None:
    settings = db.settings_()
    assert settings["journal_mode"] == "wal"
    assert settings["synchronous"] == "NORMAL"
    assert settings["foreign_keys"] is True
    assert settings["busy_timeout"] == 5.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0, 0),
        (I64_MAX, I64_MAX),
        (I64_MIN, I64_MIN),
        (1.5, 1.5),
        ("héllo ✓", "héllo ✓"),
        ("", ""),
        (b"\x00\xffbytes", b"\x00\xffbytes"),
        (bytearray(b"ba"), b"ba"),
        (True, 1),
        (False, 0),
    ],
)
def test_parameter_types_round_trip(db: strata.Database, value: object, expected: object) -> None:
    assert db.query_raw_("SELECT ? AS v", value) == [{"v": expected}]


def test_rows_as_dicts_or_tuples(db: strata.Database) -> None:
    db.execute_script_(
        "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y');"
    )
    assert db.query_raw_("SELECT a, b FROM t ORDER BY a") == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert db.query_raw_("SELECT a, b FROM t ORDER BY a", as_tuples=True) == [(1, "x"), (2, "y")]
    assert db.query_raw_("SELECT a FROM t WHERE a > ?", 5) == []


def test_execute_returns_changed_rows(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a INTEGER)")
    assert db.execute_raw_("INSERT INTO t VALUES (1), (2), (3)") == 3
    assert db.execute_raw_("UPDATE t SET a = a + 1 WHERE a >= ?", 2) == 2
    assert db.execute_raw_("SELECT * FROM t") == 0


def test_insert_returning_through_query(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    assert db.query_raw_("INSERT INTO t (name) VALUES (?) RETURNING id", "a") == [{"id": 1}]
    assert db.query_raw_("SELECT name FROM t") == [{"name": "a"}]


def test_execute_many_is_atomic(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a INTEGER PRIMARY KEY)")
    assert db.execute_many_raw_("INSERT INTO t VALUES (?)", ([n] for n in range(10_000))) == 10_000
    with pytest.raises(strata.UniqueConstraintError):
        db.execute_many_raw_("INSERT INTO t VALUES (?)", [(20_000,), (20_001,), (5,)])
    assert db.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 10_000}]
    assert not db.in_transaction_


def test_execute_many_rejects_a_bad_row_with_nothing_written(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a, b)")
    rows: list[object] = [(1, 2), (3, 4), (5,)]
    with pytest.raises(strata.ParameterError, match="2 parameter placeholder"):
        db.execute_many_raw_("INSERT INTO t VALUES (?, ?)", rows)
    with pytest.raises(strata.ParameterTypeError, match="str as a parameter row"):
        db.execute_many_raw_("INSERT INTO t VALUES (?, ?)", ["ab"])
    assert db.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 0}]


def test_execute_many_joins_an_open_transaction(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a INTEGER)")
    with pytest.raises(RuntimeError), db.transaction_():
        db.execute_many_raw_("INSERT INTO t VALUES (?)", [(1,), (2,)])
        raise RuntimeError
    assert db.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 0}]


def test_transaction_commits_and_rolls_back(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a INTEGER)")
    with db.transaction_() as tx:
        assert tx is db
        assert db.in_transaction_
        db.execute_raw_("INSERT INTO t VALUES (1)")
    assert not db.in_transaction_
    with pytest.raises(ZeroDivisionError), db.transaction_():
        db.execute_raw_("INSERT INTO t VALUES (2)")
        _ = 1 / 0
    assert db.query_raw_("SELECT a FROM t", as_tuples=True) == [(1,)]


def test_nested_blocks_are_savepoints(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a INTEGER)")
    with db.transaction_():
        db.execute_raw_("INSERT INTO t VALUES (1)")
        with pytest.raises(KeyError), db.transaction_():
            db.execute_raw_("INSERT INTO t VALUES (2)")
            with db.transaction_():
                db.execute_raw_("INSERT INTO t VALUES (3)")
            raise KeyError
        with db.transaction_():
            db.execute_raw_("INSERT INTO t VALUES (4)")
    assert db.query_raw_("SELECT a FROM t ORDER BY a", as_tuples=True) == [(1,), (4,)]


def test_reads_in_a_transaction_see_its_writes_and_others_do_not(
    db: strata.Database,
) -> None:
    db.execute_raw_("CREATE TABLE t (a INTEGER)")
    seen_elsewhere: list[object] = []
    with db.transaction_():
        db.execute_raw_("INSERT INTO t VALUES (1)")
        assert db.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 1}]
        reader = threading.Thread(
            target=lambda: seen_elsewhere.extend(db.query_raw_("SELECT count(*) AS n FROM t"))
        )
        reader.start()
        reader.join(5)
    assert seen_elsewhere == [{"n": 0}]


def test_other_threads_writes_wait_for_the_open_transaction(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE log (who TEXT)")
    entered = threading.Event()

    def other_writer() -> None:
        entered.wait()
        db.execute_raw_("INSERT INTO log VALUES ('other')")

    thread = threading.Thread(target=other_writer)
    thread.start()
    with db.transaction_():
        db.execute_raw_("INSERT INTO log VALUES ('first')")
        entered.set()
        time.sleep(0.2)
        db.execute_raw_("INSERT INTO log VALUES ('second')")
    thread.join(5)
    rows = db.query_raw_("SELECT who FROM log ORDER BY rowid", as_tuples=True)
    assert rows == [("first",), ("second",), ("other",)]


def test_waiting_for_another_threads_transaction_is_bounded(
    open_db: Callable[..., strata.Database],
) -> None:
    db = open_db(busy_timeout=0.2)
    db.execute_raw_("CREATE TABLE t (a INTEGER)")
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            db.execute_raw_("INSERT INTO t VALUES (2)")
        except strata.BusyError as exc:
            errors.append(exc)

    with db.transaction_():
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(5)
    assert len(errors) == 1
    assert "transaction on another thread" in str(errors[0])
    assert errors[0].retryable


def test_raw_transaction_control_is_refused(db: strata.Database) -> None:
    for sql in ("BEGIN", "  commit", "ROLLBACK", "savepoint x", "-- sneaky\nBEGIN IMMEDIATE"):
        with pytest.raises(strata.TransactionError, match=r"db\.transaction_\(\)"):
            db.execute_raw_(sql)
        assert not db.in_transaction_
    db.execute_raw_("CREATE TABLE ok (a)")  # the handle still works


def test_ending_a_transaction_on_another_thread_is_refused(db: strata.Database) -> None:
    block = db.transaction_()
    block.__enter__()
    failures: list[BaseException] = []

    def finish_elsewhere() -> None:
        try:
            block.__exit__(None, None, None)
        except strata.TransactionError as exc:
            failures.append(exc)

    thread = threading.Thread(target=finish_elsewhere)
    thread.start()
    thread.join(5)
    assert len(failures) == 1
    block.__exit__(None, None, None)
    assert not db.in_transaction_


def test_closed_handle_raises_clear_errors(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a)")
    db.close_()
    assert db.closed_
    calls: list[Callable[[], object]] = [
        lambda: db.execute_raw_("SELECT 1"),
        lambda: db.query_raw_("SELECT 1"),
        lambda: db.execute_many_raw_("INSERT INTO t VALUES (?)", [(1,)]),
        lambda: db.execute_script_("SELECT 1"),
        lambda: db.transaction_().__enter__(),
        db.settings_,
    ]
    for call in calls:
        with pytest.raises(strata.ClosedError, match="closed"):
            call()
    db.close_()  # closing twice is harmless


def test_close_rolls_back_an_open_transaction(
    open_db: Callable[..., strata.Database],
) -> None:
    db = open_db()
    db.execute_raw_("CREATE TABLE t (a)")
    db.transaction_().__enter__()
    db.execute_raw_("INSERT INTO t VALUES (1)")
    db.close_()
    again = open_db()
    assert again.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 0}]


def test_context_manager_closes(db_path: object) -> None:
    with strata.connect(db_path) as db:  # type: ignore[arg-type]
        db.execute_raw_("CREATE TABLE t (a)")
    assert db.closed_


def test_memory_database_keeps_one_private_connection() -> None:
    with strata.connect(":memory:") as db:
        db.execute_raw_("CREATE TABLE t (a)")
        db.execute_raw_("INSERT INTO t VALUES (1)")
        # Reads must see the writer's private database: there are no readers to route to.
        assert db.query_raw_("SELECT a FROM t", as_tuples=True) == [(1,)]
        assert db.settings_()["readers"] == 0


def test_many_threads_share_one_handle(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE counter (n INTEGER)")
    db.execute_raw_("INSERT INTO counter VALUES (0)")

    def work() -> None:
        for _ in range(200):
            with db.transaction_():
                (row,) = db.query_raw_("SELECT n FROM counter", as_tuples=True)
                db.execute_raw_("UPDATE counter SET n = ?", row[0] + 1)
            db.query_raw_("SELECT n FROM counter")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert db.query_raw_("SELECT n FROM counter", as_tuples=True) == [(1200,)]


def test_tracer_sees_every_statement(db: strata.Database) -> None:
    seen: list[tuple[str, object]] = []
    db.set_tracer_(lambda sql, params: seen.append((sql, params)))
    db.execute_script_("CREATE TABLE t (a)")
    db.execute_raw_("INSERT INTO t VALUES (?)", 1)
    db.execute_many_raw_("INSERT INTO t VALUES (?)", [(2,), (3,)])
    db.query_raw_("SELECT a FROM t WHERE a > ?", 1)
    db.set_tracer_(None)
    db.query_raw_("SELECT 1")
    assert [sql for sql, _ in seen] == [
        "CREATE TABLE t (a)",
        "INSERT INTO t VALUES (?)",
        "INSERT INTO t VALUES (?)",
        "SELECT a FROM t WHERE a > ?",
    ]
    assert seen[1][1] == (1,)
    assert seen[3][1] == (1,)


def test_a_failing_tracer_stops_the_statement(db: strata.Database) -> None:
    db.execute_raw_("CREATE TABLE t (a)")

    def refuse(sql: str, params: object) -> None:
        raise PermissionError(sql)

    db.set_tracer_(refuse)
    with pytest.raises(PermissionError):
        db.execute_raw_("INSERT INTO t VALUES (1)")
    db.set_tracer_(None)
    assert db.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 0}]
