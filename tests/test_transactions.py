"""Transactions: isolation levels, nested blocks as savepoints, ``timeout=``, and the retry
helper (`Engine.run_transaction_`), on both databases through the ``backend`` fixture.

PostgreSQL's serialization failures and deadlocks are produced for real by transactions on
two threads (each thread's transaction has a connection of its own there), which SQLite,
one writer at a time, cannot produce: those tests are PostgreSQL's only.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import strata
from backends import Backend
from strata.aio import AsyncDatabase, connect_async
from strata.errors import (
    SerializationError,
    TransactionError,
    TransactionTimeoutError,
)

TABLE = 'CREATE TABLE "acct" ("id" INTEGER PRIMARY KEY, "v" INTEGER NOT NULL)'


def _db(backend: Backend) -> strata.Database:
    db = backend.connect()
    db.execute_raw_(TABLE)
    db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (1, 0), (2, 0)')
    return db


def _p(backend: Backend, n: int) -> str:
    """The n-th placeholder in this database's raw SQL."""
    return f"${n}" if backend.is_postgres else "?"


def _count(db: strata.Database) -> int:
    return int(db.query_raw_('SELECT count(*) AS n FROM "acct"')[0]["n"])


@pytest.mark.parametrize("level", ["read_committed", "repeatable_read", "serializable"])
def test_each_isolation_level_is_accepted(backend: Backend, level: str) -> None:
    db = _db(backend)
    with db.transaction_(isolation=level):  # type: ignore[arg-type]
        db.execute_raw_('UPDATE "acct" SET "v" = 1 WHERE "id" = 1')
        if backend.is_postgres:
            shown = db.query_raw_("SHOW transaction_isolation")[0]["transaction_isolation"]
            assert shown == level.replace("_", " ")
    assert db.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')[0]["v"] == 1


def test_prisma_and_sql_spellings_of_a_level_are_accepted(backend: Backend) -> None:
    db = _db(backend)
    for name in ("RepeatableRead", "REPEATABLE READ"):
        with db.transaction_(isolation=name):  # type: ignore[arg-type]
            if backend.is_postgres:
                shown = db.query_raw_("SHOW transaction_isolation")[0]["transaction_isolation"]
                assert shown == "repeatable read"


def test_read_committed_is_postgresql_default(backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("SQLite has one level, serializable; nothing to show")
    db = _db(backend)
    with db.transaction_():
        shown = db.query_raw_("SHOW transaction_isolation")[0]["transaction_isolation"]
    assert shown == "read committed"


def test_an_unknown_level_or_timeout_is_refused_before_anything_runs(backend: Backend) -> None:
    db = _db(backend)
    with pytest.raises(TransactionError, match='unknown isolation level "snapshot"'):
        db.transaction_(isolation="snapshot")  # type: ignore[arg-type]
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(TransactionError, match="timeout must be a positive number"):
            db.transaction_(timeout=bad)
    assert not db.in_transaction_


def test_nested_blocks_are_savepoints(backend: Backend) -> None:
    db = _db(backend)
    with db.transaction_():
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
        with pytest.raises(RuntimeError), db.transaction_():
            db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (4, 0)')
            raise RuntimeError("undo the inner block only")
        with db.transaction_():
            db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (5, 0)')
            with db.transaction_():
                db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (6, 0)')
    ids = [r["id"] for r in db.query_raw_('SELECT "id" FROM "acct" ORDER BY "id"')]
    assert ids == [1, 2, 3, 5, 6]


def test_a_failed_statement_in_a_savepoint_leaves_the_outer_block_usable(
    backend: Backend,
) -> None:
    db = _db(backend)
    with db.transaction_():
        with pytest.raises(strata.errors.UniqueConstraintError), db.transaction_():
            db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (1, 0)')
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (7, 0)')
    assert _count(db) == 3


def test_a_nested_block_cannot_have_its_own_timeout(backend: Backend) -> None:
    db = _db(backend)
    with db.transaction_():
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
        with (
            pytest.raises(TransactionError, match="give timeout= to the outermost"),
            db.transaction_(timeout=5),
        ):
            pass
        assert db.in_transaction_
    assert _count(db) == 3


def test_a_nested_block_may_repeat_the_outer_level_but_not_change_it(backend: Backend) -> None:
    db = _db(backend)
    with db.transaction_(isolation="serializable"):
        with db.transaction_(isolation="serializable"):
            db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
        if backend.is_postgres:
            with (
                pytest.raises(TransactionError, match="outer transaction, which is serializable"),
                db.transaction_(isolation="read_committed"),
            ):
                pass
        else:
            # SQLite runs every block serializable, which is what any level asks and more.
            with db.transaction_(isolation="read_committed"):
                pass
    assert _count(db) == 3


def test_a_block_past_its_timeout_is_rolled_back_at_commit(backend: Backend) -> None:
    db = _db(backend)
    with (
        pytest.raises(TransactionTimeoutError, match=r"timeout of 0\.200 s") as raised,
        db.transaction_(timeout=0.2),
    ):
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
        time.sleep(0.4)
    assert raised.value.code == "P2028"
    assert not db.in_transaction_
    assert _count(db) == 2
    # The handle goes on: a block within its timeout commits.
    with db.transaction_(timeout=5):
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
    assert _count(db) == 3


def test_postgresql_stops_a_long_statement_at_the_timeout(backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("SQLite checks the timeout when the block ends (see transaction_)")
    db = _db(backend)
    started = time.monotonic()
    with pytest.raises(TransactionTimeoutError), db.transaction_(timeout=0.3):
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
        db.query_raw_("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 3
    assert not db.in_transaction_
    assert _count(db) == 2


def test_postgresql_stops_a_late_statement_at_the_deadline_not_a_timeout_later(
    backend: Backend,
) -> None:
    if not backend.is_postgres:
        pytest.skip("SQLite checks the timeout when the block ends (see transaction_)")
    db = _db(backend)
    started = time.monotonic()
    with pytest.raises(TransactionTimeoutError), db.transaction_(timeout=1.0):
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
        time.sleep(0.6)
        # Started with 0.4 s left: stopped then, not a whole timeout after it started.
        db.query_raw_("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 1.4
    assert _count(db) == 2


def test_postgresql_refuses_statements_after_the_deadline(backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("SQLite checks the timeout when the block ends (see transaction_)")
    db = _db(backend)
    # Caught inside the block, the timeout still rolls the block back when it ends.
    with pytest.raises(TransactionTimeoutError), db.transaction_(timeout=0.2):
        db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')
        time.sleep(0.3)
        with pytest.raises(TransactionTimeoutError):
            db.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (4, 0)')
        with pytest.raises(TransactionTimeoutError):
            db.query_raw_("SELECT 1 AS one")
    assert not db.in_transaction_
    assert _count(db) == 2
    assert db.pool_stats_() is not None


def test_run_transaction_returns_the_result_and_retries_serialization_failures(
    backend: Backend,
) -> None:
    db = _db(backend)
    attempts: list[int] = []

    def work(tx: strata.Database) -> int:
        attempts.append(1)
        tx.execute_raw_(f'UPDATE "acct" SET "v" = "v" + 1 WHERE "id" = {_p(backend, 1)}', 1)
        if len(attempts) < 3:
            raise SerializationError("raised by the test")
        return int(tx.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')[0]["v"])

    # Each failed attempt was rolled back, so the value moved once.
    assert db.run_transaction_(work, isolation="serializable", retries=2, backoff=0.001) == 1
    assert len(attempts) == 3
    attempts.clear()
    with pytest.raises(SerializationError):
        db.run_transaction_(work, retries=1, backoff=0.001)
    assert len(attempts) == 2
    with db.transaction_(), pytest.raises(TransactionError, match="whole transaction"):
        db.run_transaction_(work)
    with pytest.raises(TransactionError, match="retries must be 0 or more"):
        db.run_transaction_(work, retries=-1)


def test_run_transaction_does_not_retry_other_errors(backend: Backend) -> None:
    db = _db(backend)
    calls: list[int] = []

    def work(tx: strata.Database) -> None:
        calls.append(1)
        tx.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (1, 0)')

    with pytest.raises(strata.errors.UniqueConstraintError):
        db.run_transaction_(work, retries=5)
    assert calls == [1]


def test_async_transactions_take_the_same_options(backend: Backend) -> None:
    db = _db(backend)
    db.close_()

    async def main() -> list[Any]:
        adb: AsyncDatabase = await connect_async(backend.url)
        try:
            async with adb.transaction_(isolation="repeatable_read", timeout=5) as tx:
                await tx.execute_raw_('INSERT INTO "acct" ("id", "v") VALUES (3, 0)')

            async def work(tx: Any) -> int:
                await tx.execute_raw_('UPDATE "acct" SET "v" = 9 WHERE "id" = 3')
                return 9

            result = await adb.run_transaction_(work, isolation="serializable")
            rows = await adb.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 3')
            return [result, rows[0]["v"]]
        finally:
            await adb.close_()

    assert asyncio.run(main()) == [9, 9]


# -- PostgreSQL only: concurrent transactions on two threads, which SQLite serialises.


def _pg(backend: Backend) -> strata.Database:
    if not backend.is_postgres:
        pytest.skip("SQLite runs one writer at a time: transactions never conflict")
    return _db(backend)


def _in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_a_concurrent_update_under_serializable_raises_serialization_error(
    backend: Backend,
) -> None:
    db = _pg(backend)

    def other_writer() -> None:
        # Another thread, so another connection: it commits before the first one writes.
        db.execute_raw_('UPDATE "acct" SET "v" = 100 WHERE "id" = 1')

    with pytest.raises(SerializationError) as raised, db.transaction_(isolation="serializable"):
        db.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')
        _in_thread(other_writer).join()
        db.execute_raw_('UPDATE "acct" SET "v" = "v" + 1 WHERE "id" = 1')
    assert raised.value.code == "P2034"
    assert raised.value.retryable
    assert not db.in_transaction_
    assert db.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')[0]["v"] == 100


def test_write_skew_under_serializable_fails_one_of_two_transactions(backend: Backend) -> None:
    """Each reads both rows and writes the one the other did not: no row conflict, yet no
    serial order explains both; PostgreSQL's SSI fails one with 40001."""
    db = _pg(backend)
    both_read = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def worker(row: int) -> None:
        try:
            with db.transaction_(isolation="serializable"):
                db.query_raw_('SELECT sum("v") AS s FROM "acct"')
                both_read.wait()
                db.execute_raw_(f'UPDATE "acct" SET "v" = "v" + 1 WHERE "id" = {row}')
            outcomes.append("committed")
        except SerializationError:
            outcomes.append("serialization")

    threads = [_in_thread(lambda r=row: worker(r)) for row in (1, 2)]
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["committed", "serialization"]


def test_a_deadlock_raises_serialization_error(backend: Backend) -> None:
    db = _pg(backend)
    both_locked = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def worker(first: int, second: int) -> None:
        try:
            with db.transaction_():
                db.execute_raw_(f'UPDATE "acct" SET "v" = 1 WHERE "id" = {first}')
                both_locked.wait()
                db.execute_raw_(f'UPDATE "acct" SET "v" = 2 WHERE "id" = {second}')
            outcomes.append("committed")
        except SerializationError as error:
            outcomes.append("deadlock" if "deadlock" in str(error) else str(error))

    threads = [_in_thread(lambda: worker(1, 2)), _in_thread(lambda: worker(2, 1))]
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["committed", "deadlock"]


def test_run_transaction_succeeds_after_a_real_serialization_failure(backend: Backend) -> None:
    db = _pg(backend)
    attempts: list[int] = []

    def interfering() -> None:
        db.execute_raw_('UPDATE "acct" SET "v" = "v" + 10 WHERE "id" = 1')

    def work(tx: strata.Database) -> int:
        attempts.append(1)
        value = int(tx.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')[0]["v"])
        if len(attempts) == 1:
            _in_thread(interfering).join()
        tx.execute_raw_('UPDATE "acct" SET "v" = $1 WHERE "id" = 1', value + 1)
        return value + 1

    assert db.run_transaction_(work, isolation="serializable", retries=3) == 11
    assert len(attempts) == 2
    assert db.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')[0]["v"] == 11


def test_contended_serializable_increments_all_land_with_retries(backend: Backend) -> None:
    """Four threads increment one counter through read-then-write serializable transactions:
    many fail with 40001 and are retried, and no increment is lost or doubled."""
    db = _pg(backend)
    per_thread = 15

    def increment(tx: strata.Database) -> None:
        value = int(tx.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')[0]["v"])
        tx.execute_raw_('UPDATE "acct" SET "v" = $1 WHERE "id" = 1', value + 1)

    def worker() -> None:
        for _ in range(per_thread):
            db.run_transaction_(increment, isolation="serializable", retries=100, backoff=0.002)

    threads = [_in_thread(worker) for _ in range(4)]
    for thread in threads:
        thread.join()
    assert db.query_raw_('SELECT "v" FROM "acct" WHERE "id" = 1')[0]["v"] == 4 * per_thread
