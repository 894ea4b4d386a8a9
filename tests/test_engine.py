"""Raw SQL, values and transactions through the core."""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pytest

import strata
from strata import _core

T = TypeVar("T")

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


# -- waiting for a reader ----------------------------------------------------------------


def finishes_within(seconds: float, call: Callable[[], T]) -> T:
    """``call()`` on another thread; fails the test instead of hanging it when the call
    has not returned after ``seconds``."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("value", call()))
        except BaseException as exc:
            outcome.append(("error", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"still waiting after {seconds} s")
    kind, result = outcome[0]
    if kind == "error":
        raise result
    return result  # type: ignore[no-any-return]


# A read-only statement that keeps a reader busy for seconds on this machine.
SLOW_READ = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000) "
    "SELECT count(*) AS n FROM c"
)


def test_unread_arrow_streams_hold_no_pooled_reader(
    open_db: Callable[..., strata.Database],
) -> None:
    """A stream DuckDB (or anyone) leaves half-read keeps its producer waiting for the
    consumer. It reads on a connection of its own, so the pool stays free for queries."""
    db = open_db(readers=2)
    db.execute_script_("CREATE TABLE t (x INTEGER)")
    db.execute_many_raw_("INSERT INTO t VALUES (?)", ((i,) for i in range(300_000)))
    stream = _core.ArrowStream.query(db, "SELECT x FROM t", (), [("x", "int64")])
    # More batches than the stream buffers: each producer is left blocked mid-query.
    readers = [pa.RecordBatchReader.from_stream(stream) for _ in range(2)]
    for reader in readers:
        assert reader.read_next_batch().num_rows > 0
    rows = finishes_within(5, lambda: db.query_raw_("SELECT count(*) AS n FROM t"))
    assert rows == [{"n": 300_000}]
    assert sum(len(r.read_all()) for r in readers) == 2 * 300_000 - 2 * 65_536


def test_an_unread_stream_of_an_in_memory_database_makes_reads_wait_boundedly() -> None:
    """An in-memory database has one connection, which a stream holds until it is read:
    other reads give up after the busy timeout instead of waiting forever."""
    with strata.connect(":memory:", busy_timeout=0.2) as db:
        db.execute_script_("CREATE TABLE t (x INTEGER)")
        db.execute_many_raw_("INSERT INTO t VALUES (?)", ((i,) for i in range(300_000)))
        stream = _core.ArrowStream.query(db, "SELECT x FROM t", (), [("x", "int64")])
        reader = pa.RecordBatchReader.from_stream(stream)
        reader.read_next_batch()
        with pytest.raises(strata.BusyError, match="in-memory"):
            finishes_within(5, lambda: db.query_raw_("SELECT 1"))
        assert len(reader.read_all()) == 300_000 - 65_536
        assert db.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 300_000}]


def test_a_read_gives_up_when_every_reader_stays_busy(
    open_db: Callable[..., strata.Database],
) -> None:
    db = open_db(readers=1, busy_timeout=0.2)
    started = threading.Event()
    db.set_tracer_(lambda sql, params: started.set() if sql == SLOW_READ else None)
    slow = threading.Thread(target=lambda: db.query_raw_(SLOW_READ))
    slow.start()
    try:
        started.wait(5)
        time.sleep(0.1)  # the slow read has its reader by now
        began = time.monotonic()
        with pytest.raises(strata.BusyError) as raised:
            finishes_within(10, lambda: db.query_raw_("SELECT 1"))
        waited = time.monotonic() - began
    finally:
        slow.join(60)
    assert 0.15 < waited < 2.0
    message = str(raised.value)
    assert "every pooled reader connection (1) was in use" in message
    assert "0 Arrow stream(s)" in message
    assert "readers=" in message
    assert raised.value.retryable
    assert db.query_raw_("SELECT 1 AS one") == [{"one": 1}]  # the reader is back


# -- fork() --------------------------------------------------------------------------------


def run_in_child(work: Callable[[], str]) -> str:
    """Fork; run ``work`` in the child and return what it reported (or its error)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and never return into pytest
        try:
            os.close(read_end)
            try:
                report = work()
            except BaseException as exc:
                report = f"child failed: {type(exc).__name__}: {exc}"
            os.write(write_end, report.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the child did not finish")
        time.sleep(0.01)
    with os.fdopen(read_end, "rb") as reader:
        return reader.read().decode()


def refused_in_child(db: strata.Database) -> str:
    """Use the inherited handle every way, then drop it; name what each call raised."""
    outcomes = []
    for call in (
        lambda: db.execute_raw_("INSERT INTO t VALUES ('child')"),
        lambda: db.query_raw_("SELECT count(*) FROM t"),
        lambda: db.transaction_().__enter__(),
    ):
        try:
            call()
            outcomes.append("ran")
        except strata.StrataError as exc:
            outcomes.append(type(exc).__name__)
    try:
        db.execute_raw_("SELECT 1")
    except strata.ForkedHandleError as exc:
        outcomes.append(str(exc))
    db.close_()  # leaves the parent's connections alone
    return "\n".join(outcomes)


@pytest.mark.slow
def test_a_handle_used_after_fork_refuses_and_leaves_the_parent_intact(
    open_db: Callable[..., strata.Database], db_path: Path
) -> None:
    db = open_db()
    db.execute_script_("CREATE TABLE t (who TEXT); INSERT INTO t VALUES ('parent');")
    with db.transaction_():
        db.execute_raw_("INSERT INTO t VALUES ('parent, in the transaction')")

        def child() -> str:
            report = refused_in_child(db)
            gc.collect()
            # A connection of the child's own reads what the parent committed. (It cannot
            # write until the child exits: SQLite's lock bookkeeping, copied by fork, says
            # the parent's write lock is held. Fork outside transactions.)
            with strata.connect(db_path) as fresh:
                seen = fresh.query_raw_("SELECT who FROM t", as_tuples=True)
            return f"{report}\nfresh read: {seen}"

        report = run_in_child(child).split("\n")
        assert report[:3] == ["ForkedHandleError"] * 3
        assert "used in process" in report[3]
        assert "Call strata.connect() in the child" in report[3]
        assert report[4] == "fresh read: [('parent',)]"
        # The parent still holds its write lock: another connection cannot write.
        other = open_db(busy_timeout=0.1)
        with pytest.raises(strata.BusyError):
            other.execute_raw_("INSERT INTO t VALUES ('other')")
        db.execute_raw_("INSERT INTO t VALUES ('parent, after the fork')")
    assert db.query_raw_("SELECT who FROM t ORDER BY rowid", as_tuples=True) == [
        ("parent",),
        ("parent, in the transaction",),
        ("parent, after the fork",),
    ]
    assert db.query_raw_("PRAGMA integrity_check", as_tuples=True) == [("ok",)]


def use_inherited_then_connect(db: strata.Database, path: str, results: Any) -> None:
    """A multiprocessing worker started with 'fork', handed the parent's handle."""
    results.put(refused_in_child(db))
    with strata.connect(path) as own:
        own.execute_raw_("INSERT INTO t VALUES ('child, on its own connection')")
    results.put("wrote")


@pytest.mark.slow
def test_multiprocessing_fork_workers_must_connect_after_the_fork(
    open_db: Callable[..., strata.Database], db_path: Path
) -> None:
    db = open_db()
    db.execute_script_("CREATE TABLE t (who TEXT); INSERT INTO t VALUES ('parent');")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    worker = context.Process(target=use_inherited_then_connect, args=(db, str(db_path), results))
    worker.start()
    worker.join(30)
    assert worker.exitcode == 0
    report = results.get(timeout=5).split("\n")
    assert report[:3] == ["ForkedHandleError"] * 3
    assert results.get(timeout=5) == "wrote"
    db.execute_raw_("INSERT INTO t VALUES ('parent, after the worker')")
    assert db.query_raw_("SELECT who FROM t ORDER BY rowid", as_tuples=True) == [
        ("parent",),
        ("child, on its own connection",),
        ("parent, after the worker",),
    ]
    assert db.query_raw_("PRAGMA integrity_check", as_tuples=True) == [("ok",)]


# -- Ctrl-C ----------------------------------------------------------------------------------

# Runs in a subprocess: a transaction writes a row, then a statement that would take hours.
# Python's SIGINT handler is set explicitly, since a process started in the background
# inherits SIGINT ignored.
CTRL_C_SCRIPT = """
import signal, sys, time
import strata

signal.signal(signal.SIGINT, signal.default_int_handler)
forever = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) "
)
statements = {
    "read": lambda db: db.query_raw_(forever + "SELECT count(*) FROM c"),
    "write": lambda db: db.execute_raw_("INSERT INTO t " + forever + "SELECT x FROM c"),
}
db = strata.connect(sys.argv[1])
db.execute_script_("CREATE TABLE t (x INTEGER)")
try:
    with db.transaction_():
        db.execute_raw_("INSERT INTO t VALUES (-1)")
        print("started", flush=True)
        statements[sys.argv[2]](db)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
print("in transaction:", db.in_transaction_, flush=True)
db.execute_raw_("INSERT INTO t VALUES (1)")
print("rows:", db.query_raw_("SELECT x FROM t", as_tuples=True), flush=True)
db.close_()
"""


class Lines:
    """A child's stdout, one line at a time, each wait bounded."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()

    def next(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout).strip()
        except queue.Empty:
            pytest.fail(f"no output for {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("statement", ["read", "write"])
def test_ctrl_c_stops_a_long_statement_and_rolls_back(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "app.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(path), statement],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(child)
        assert lines.next(30) == "started"
        time.sleep(0.3)  # well into the statement
        pressed = time.monotonic()
        child.send_signal(signal.SIGINT)
        word, at = lines.next(10).split()
        # The target is about 100 ms (a check every 50 ms of a running statement); the
        # bound is generous for a loaded machine.
        assert word == "interrupted"
        assert float(at) - pressed < 1.0
        assert lines.next(10) == "in transaction: False"
        # The transaction's row is gone, and the handle works afterwards.
        assert lines.next(10) == "rows: [(1,)]"
        assert child.wait(10) == 0
    finally:
        child.kill()
        child.wait()
    with strata.connect(path) as reopened:
        assert reopened.query_raw_("SELECT x FROM t", as_tuples=True) == [(1,)]


@pytest.mark.slow
def test_an_applications_own_sigint_handler_lets_the_statement_finish(tmp_path: Path) -> None:
    """Only Python's default handler is pre-empted; a handler of the application's own
    (like the queue's graceful stop) runs when the statement returns, as before."""
    script = (
        "import signal, strata\n"
        "pressed = []\n"
        "signal.signal(signal.SIGINT, lambda *_: pressed.append(1))\n"
        "db = strata.connect(':memory:')\n"
        "print('started', flush=True)\n"
        f"db.query_raw_({SLOW_READ!r})\n"
        "print('finished', pressed, flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        lines = Lines(child)
        assert lines.next(30) == "started"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        assert lines.next(60) == "finished [1]"
        assert child.wait(10) == 0
    finally:
        child.kill()
        child.wait()
