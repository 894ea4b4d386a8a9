"""The web helper, through FastAPI's (Starlette's) test client, and on a live event loop
through httpx's ASGI transport.

SQLite only: the middleware sees nothing but the limiter's decisions, which
tests/test_ratelimit.py and tests/test_ratelimit_postgres.py prove on both databases."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import strata
from strata.aio import AsyncDatabase, connect_async
from strata.web import RateLimitMiddleware
from test_ratelimit import SCHEMA, SECOND, T0, limiter, open_schema


@pytest.fixture
def app(tmp_path: Path) -> Any:
    db = open_schema(tmp_path / "web.db")
    rl = limiter(db)
    rl.set_clock(T0 + 50 * SECOND)
    app = FastAPI()
    app.add_middleware(
        RateLimitMiddleware,
        limiter=rl,
        key=lambda request: (
            None
            if request.url.path == "/health"
            else (request.headers.get("x-user", "anonymous"), request.url.path)
        ),
        limit=2,
        window=60,
    )

    @app.get("/media")
    def media() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    app.state.db = db
    yield app
    db.close_()


def test_the_third_request_in_a_window_gets_429_with_retry_after(app: FastAPI) -> None:
    client = TestClient(app)
    first = client.get("/media", headers={"x-user": "ada"})
    assert first.status_code == 200
    assert first.json() == {"ok": "yes"}
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    reset = str((T0 + 60 * SECOND) // SECOND)
    assert first.headers["x-ratelimit-reset"] == reset
    assert "retry-after" not in first.headers
    assert client.get("/media", headers={"x-user": "ada"}).headers["x-ratelimit-remaining"] == "0"
    refused = client.get("/media", headers={"x-user": "ada"})
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too Many Requests"}
    assert refused.headers["retry-after"] == "10"  # the window ends 10 s after T0 + 50 s
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == reset
    # Another user, and a path the key function leaves out, are not affected.
    assert client.get("/media", headers={"x-user": "bob"}).status_code == 200
    assert all(client.get("/health").status_code == 200 for _ in range(5))
    counts = app.state.db.query_raw_('SELECT "key", "requestCount" FROM "Hit" ORDER BY "key"')
    assert counts == [{"key": "ada", "requestCount": 2}, {"key": "bob", "requestCount": 1}]


def test_the_readme_fastapi_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's rate-limiting example, run as printed against the MediaNest schema."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("## Rate limiting", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 10
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "schema.prisma").write_text(
        (Path(__file__).resolve().parents[1] / "schema" / "medianest.prisma").read_text()
    )
    monkeypatch.chdir(tmp_path)
    setup = strata.connect("file:./dev.db", schema="schema/schema.prisma")
    setup.migrate_.push()
    setup.user.create(data={"id": "user-42", "plexId": "p", "plexUsername": "u"})
    setup.system_config.create(
        data={"key": "rate_limit.api.default", "value": {"limit": 3, "window": 60}}
    )
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    client = TestClient(namespace["app"])
    codes = [
        client.get("/api/media", headers={"x-user-id": "user-42"}).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    namespace["db"].close_()
    setup.close_()


# -- the event loop never waits for the write lock ------------------------------------------


async def limited_app(tmp_path: Path, limit: int) -> tuple[FastAPI, AsyncDatabase, asyncio.Event]:
    """An async app on one database: ``POST /slow`` holds an async transaction open across
    an ``await`` (0.3 s) and sets the returned event once it holds the write lock; every
    request is limited per ``x-user`` and path."""
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA)
    # A busy timeout far above the hold, so that only a blocked loop can run out of it.
    adb = await connect_async(tmp_path / "web.db", schema=schema, busy_timeout=2.0)
    await adb.migrate_.push()
    app = FastAPI()
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter(adb.sync_),
        key=lambda request: (request.headers["x-user"], request.url.path),
        limit=limit,
        window=60,
    )
    holding = asyncio.Event()

    @app.post("/slow")
    async def slow() -> dict[str, str]:
        async with adb.transaction_() as tx:
            await tx.execute_raw_('INSERT INTO "Bucket" ("key", "tat") VALUES (?, ?)', "in tx", 1)
            holding.set()
            await asyncio.sleep(0.3)
        return {"ok": "slow"}

    @app.get("/media")
    async def media() -> dict[str, str]:
        return {"ok": "yes"}

    return app, adb, holding


def test_a_hit_waits_off_the_loop_while_an_async_transaction_holds_the_lock(
    tmp_path: Path,
) -> None:
    """A hit used to run on the loop's thread: waiting there for the lock an async
    transaction held stopped the loop, so the transaction could never finish, and the
    request failed with BusyError once the busy timeout ran out."""

    async def main() -> tuple[list[int], int, float, list[dict[str, Any]]]:
        app, adb, holding = await limited_app(tmp_path, limit=5)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            slow = asyncio.create_task(client.post("/slow", headers={"x-user": "ada"}))
            await asyncio.wait_for(holding.wait(), 10)
            ticking = asyncio.create_task(ticker())
            started = time.perf_counter()
            fast = await client.get("/media", headers={"x-user": "bob"})
            waited = time.perf_counter() - started
            ticking.cancel()
            statuses = [fast.status_code, (await slow).status_code]
        counts = await adb.query_raw_('SELECT "key", "requestCount" FROM "Hit" ORDER BY "key"')
        await adb.close_()
        return statuses, ticks, waited, counts

    statuses, ticks, waited, counts = asyncio.run(main())
    assert statuses == [200, 200]
    assert waited < 2.0  # it waited for the transaction, not for the busy timeout
    assert ticks >= 5  # and the loop kept running meanwhile
    assert counts == [{"key": "ada", "requestCount": 1}, {"key": "bob", "requestCount": 1}]


def test_a_cached_denial_is_answered_at_once_while_the_lock_is_held(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], float, bool]:
        app, adb, holding = await limited_app(tmp_path, limit=1)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"x-user": "ada"}
            statuses = [(await client.get("/media", headers=headers)).status_code]
            statuses.append((await client.get("/media", headers=headers)).status_code)
            slow = asyncio.create_task(client.post("/slow", headers={"x-user": "bob"}))
            await asyncio.wait_for(holding.wait(), 10)
            started = time.perf_counter()
            statuses.append((await client.get("/media", headers=headers)).status_code)
            answered = time.perf_counter() - started
            still_holding = not slow.done()
            statuses.append((await slow).status_code)
        await adb.close_()
        return statuses, answered, still_holding

    statuses, answered, still_holding = asyncio.run(main())
    assert statuses == [200, 429, 429, 200]
    # The third request was refused from the cache while the transaction still held the
    # lock: it never waited for SQLite.
    assert still_holding
    assert answered < 0.25


def test_cached_denial_never_waits_for_the_write_lock(tmp_path: Path) -> None:
    db = open_schema(tmp_path / "cache.db", busy_timeout=2.0)
    rl = limiter(db)
    assert rl.cached_denial("ada", "/media", limit=1, window=60) is None
    assert rl.hit("ada", "/media", limit=1, window=60).allowed
    assert rl.cached_denial("ada", "/media", limit=1, window=60) is None  # not denied yet
    denied = rl.hit("ada", "/media", limit=1, window=60)
    assert not denied.allowed
    entered, leave = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with db.transaction_():
            db.execute_raw_('INSERT INTO "Bucket" ("key", "tat") VALUES (?, ?)', "in tx", 1)
            entered.set()
            leave.wait(5)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert entered.wait(5)
        started = time.perf_counter()
        assert rl.cached_denial("ada", "/media", limit=1, window=60) == denied
        assert rl.cached_denial("bob", "/media", limit=1, window=60) is None
        assert time.perf_counter() - started < 0.1
    finally:
        leave.set()
        holder.join()
    # Asking counted nothing.
    assert db.query_raw_('SELECT "requestCount" FROM "Hit"') == [{"requestCount": 1}]
    db.close_()
