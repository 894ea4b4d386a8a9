"""The asyncio face: the same calls, awaited, with real concurrency, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

import strata
from backends import SEEDS, Backend
from client_support import placeholder
from strata.aio import connect_async


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_awaitable_raw_sql(backend: Backend) -> None:
    value = placeholder(backend)

    async def main() -> list[dict[str, object]]:
        async with await connect_async(backend.url) as adb:
            await adb.execute_raw_("CREATE TABLE t (a INTEGER)")
            await adb.execute_many_raw_(
                f"INSERT INTO t VALUES ({value})", [(n,) for n in range(100)]
            )
            if not backend.is_postgres:
                assert adb.path_ == backend.url
            results = await asyncio.gather(
                *(
                    adb.query_raw_(f"SELECT count(*) AS n FROM t WHERE a >= {value}", k)
                    for k in range(10)
                )
            )
            return [r[0] for r in results]

    assert run(main()) == [{"n": 100 - k} for k in range(10)]


def test_the_loop_stays_responsive_during_a_long_query(backend: Backend) -> None:
    async def main() -> tuple[int, float]:
        async with await connect_async(backend.url) as adb:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.005)
                    ticks += 1

            task = asyncio.create_task(ticker())
            started = time.perf_counter()
            await adb.query_raw_(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)"
                " SELECT count(*) FROM c"
            )
            elapsed = time.perf_counter() - started
            task.cancel()
            return ticks, elapsed

    ticks, elapsed = run(main())  # type: ignore[misc]
    assert elapsed > 0.05
    assert ticks >= 3  # the loop kept running while the database worked


def test_async_transaction_commits_and_rolls_back(backend: Backend) -> None:
    async def main() -> None:
        async with await connect_async(backend.url) as adb:
            await adb.execute_raw_("CREATE TABLE t (a INTEGER)")
            async with adb.transaction_() as tx:
                await tx.execute_raw_("INSERT INTO t VALUES (1)")
                # The transaction's own reads see its write; other tasks' reads do not.
                assert await tx.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 1}]
                assert await adb.query_raw_("SELECT count(*) AS n FROM t") == [{"n": 0}]
            with pytest.raises(ZeroDivisionError):
                async with adb.transaction_() as tx:
                    await tx.execute_raw_("INSERT INTO t VALUES (2)")
                    _ = 1 / 0
            assert await adb.query_raw_("SELECT a FROM t", as_tuples=True) == [(1,)]

    run(main())


def test_errors_surface_from_awaits(backend: Backend) -> None:
    async def main() -> None:
        adb = await connect_async(backend.url)
        with pytest.raises(strata.SqlError):
            await adb.query_raw_("SELEC 1")
        await adb.close_()
        with pytest.raises(strata.ClosedError):
            await adb.query_raw_("SELECT 1")

    run(main())


def test_repositories_are_awaitable(backend: Backend) -> None:
    suffix = ".postgresql.prisma" if backend.is_postgres else ".prisma"
    schema = SEEDS / f"music_api{suffix}"

    async def main() -> None:
        async with await connect_async(backend.url, schema=schema) as adb:
            await adb.migrate_.push()
            created = await adb.api_key.create(data={"key": "k1", "name": "ci"})
            assert created.key == "k1"
            async with adb.transaction_() as tx:
                await tx.api_key.create(data={"key": "k2", "name": "ci"})
            keys = await adb.api_key.find_many(order_by={"key": "asc"})
            assert [k.key for k in keys] == ["k1", "k2"]
            assert await adb.api_key.count() == 2

    run(main())
