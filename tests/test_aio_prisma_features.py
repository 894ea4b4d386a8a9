"""The Prisma Client features of `test_client_prisma_features`, through the async client:
``omit``, ``create_many_and_return``, ``update_many_and_return``, batches, ``order_by`` a
relation's ``_count`` and query events."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Awaitable, Callable

import pytest

import strata
from backends import Backend, for_provider
from strata import deferred
from strata.aio import AsyncDatabase, connect_async
from strata.events import QueryEvent

SCHEMA = """
datasource db {
  provider = "sqlite"
}

model User {
  id       Int    @id @default(autoincrement())
  email    String @unique
  password String
  posts    Post[]
}

model Post {
  id       Int    @id @default(autoincrement())
  title    String @unique
  views    Int    @default(0)
  authorId Int
  author   User   @relation(fields: [authorId], references: [id])
}
"""


def run_with(backend: Backend, test: Callable[[AsyncDatabase], Awaitable[None]]) -> None:
    """Run ``test`` on an async client over a fresh database (on ``backend``) with three
    users, who have 2, 0 and 1 posts."""
    schema = backend.folder / "schema.prisma"
    schema.write_text(for_provider(SCHEMA, backend.provider))

    async def main() -> None:
        async with await connect_async(backend.url, schema=schema) as adb:
            await adb.migrate_.push()
            for name, posts in (("ann", 2), ("ben", 0), ("cat", 1)):
                user = await adb.user.create(data={"email": f"{name}@x.io", "password": name})
                for n in range(posts):
                    await adb.post.create(data={"title": f"{name}-{n}", "authorId": user.id})
            await test(adb)

    asyncio.run(main())


def test_async_omit(backend: Backend) -> None:
    async def test(adb: AsyncDatabase) -> None:
        users = await adb.user.find_many(order_by={"id": "asc"}, omit={"password": True})
        assert users[0] == {"id": 1, "email": "ann@x.io"}
        created = await adb.user.create(
            data={"email": "eve@x.io", "password": "pw"}, omit={"password": True}
        )
        assert created == {"id": 4, "email": "eve@x.io"}
        with pytest.raises(strata.ValidationError, match="select or omit"):
            await adb.user.find_first(select={"id": True}, omit={"password": True})

    run_with(backend, test)


def test_async_create_and_update_many_and_return(backend: Backend) -> None:

    async def test(adb: AsyncDatabase) -> None:
        created = await adb.user.create_many_and_return(
            [{"email": "d@x.io", "password": "p"}, {"id": -1, "email": "e@x.io", "password": "p"}]
        )
        assert [(u.id, u.email) for u in created] == [(4, "d@x.io"), (-1, "e@x.io")]
        with pytest.raises(strata.ValidationError, match="row 1") as bad:
            await adb.user.create_many_and_return([{"email": "f@x.io", "password": "p"}, {}])
        assert bad.value.row == 1
        assert await adb.user.count() == 5
        updated = await adb.post.update_many_and_return(
            where={"title": {"starts_with": "ann"}},
            data={"views": {"increment": 2}},
            select={"title": True, "views": True},
        )
        assert updated == [{"title": "ann-0", "views": 2}, {"title": "ann-1", "views": 2}]
        with pytest.raises(strata.ValidationError, match="no field 'veiws'"):
            await adb.post.update_many_and_return(data={"veiws": 1})

    run_with(backend, test)


def test_async_batch(backend: Backend) -> None:
    async def test(adb: AsyncDatabase) -> None:
        user, count = await adb.batch_(
            [
                deferred.user.create(data={"email": "eve@x.io", "password": "pw"}),
                deferred.user.count(),
            ]
        )
        assert user.email == "eve@x.io"
        assert count == 4
        with pytest.raises(strata.UniqueConstraintError):
            await adb.batch_(
                [
                    deferred.post.update(where={"title": "ann-0"}, data={"views": 7}),
                    deferred.user.create(data={"email": "ann@x.io", "password": "dup"}),
                ]
            )
        assert (await adb.post.find_unique_or_raise(where={"title": "ann-0"})).views == 0
        # The async client's calls are coroutines, not deferred operations: refused, and
        # closed, so Python does not also warn that they were never awaited.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(strata.ValidationError, match="not a deferred operation"):
                await adb.batch_([adb.user.create(data={"email": "x@x.io", "password": "p"})])
        assert await adb.user.find_unique(where={"email": "x@x.io"}) is None
        async with adb.transaction_() as tx:
            (tag,) = await tx.batch_([deferred.user.delete(where={"email": "eve@x.io"})])
            assert tag.email == "eve@x.io"

    run_with(backend, test)


def test_async_order_by_relation_count(backend: Backend) -> None:
    async def test(adb: AsyncDatabase) -> None:
        users = await adb.user.find_many(order_by={"posts": {"_count": "desc"}})
        assert [u.email for u in users] == ["ann@x.io", "cat@x.io", "ben@x.io"]
        page = await adb.user.find_many(
            order_by={"posts": {"_count": "desc"}}, cursor={"email": "cat@x.io"}, take=5
        )
        assert [u.email for u in page] == ["cat@x.io", "ben@x.io"]
        with pytest.raises(strata.ValidationError, match="_count order"):
            await adb.user.find_many(order_by={"posts": {"_count": "most"}})

    run_with(backend, test)


def test_async_query_events(backend: Backend) -> None:
    async def test(adb: AsyncDatabase) -> None:
        plain: list[tuple[str, int]] = []
        awaited: list[str] = []
        loop_thread = threading.get_ident()

        async def on_loop(event: QueryEvent) -> None:
            assert threading.get_ident() == loop_thread
            awaited.append(event.query)

        stop_plain = adb.on_("query", lambda e: plain.append((e.query, threading.get_ident())))
        stop_awaited = adb.on_("query", on_loop)
        await adb.query_raw_(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
            "SELECT count(*) FROM c"
        )
        await adb.user.count()
        for _ in range(100):  # the coroutine subscriber runs on the loop, soon after
            if len(awaited) == 2:
                break
            await asyncio.sleep(0.01)
        assert [q for q, _ in plain] == awaited
        assert len(awaited) == 2
        # Plain callbacks run on the worker thread that ran the statement.
        assert all(thread != loop_thread for _, thread in plain)
        stop_plain()
        stop_awaited()
        await adb.user.count()
        assert len(plain) == 2
        with pytest.raises(strata.ValidationError, match="unknown event"):
            adb.on_("queries", print)

    run_with(backend, test)
