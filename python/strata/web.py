"""Rate limiting for ASGI web apps (FastAPI, Starlette): one middleware.

```python
app.add_middleware(
    RateLimitMiddleware,
    limiter=db.rate_limiter_("RateLimit", key=["userId", "endpoint"], ...),
    key=lambda request: (request.headers["x-user-id"], request.url.path),
    rule="rate_limit.api.default",
)
```

Every request that ``key`` returns a key for is counted with ``limiter.hit``. A denied one
gets ``429 Too Many Requests`` at once, with ``Retry-After``; every limited response carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (the Unix time,
in whole seconds, when the window ends). Starlette is imported only when a request arrives,
so importing this module needs no web framework.

The middleware never blocks the event loop. A hit is a write transaction, and it waits
for the write lock whenever someone else holds it: another process, or an async transaction
(`strata.aio`) that a request holds open across an ``await``. On the loop's thread that
wait would stop every other task, the transaction's own among them, until the hit failed
with `BusyError`. So the hit runs on a worker thread (``anyio.to_thread``), where it waits
while the loop carries on. Only a denial answered from the limiter's cache stays on the
loop: ``RateLimiter.cached_denial`` is a hash lookup that never touches SQLite, so a flood
of refused requests costs no thread hops.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from strata.ratelimit import Decision, RateLimiter

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["RateLimitMiddleware", "rate_limit_headers"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The response headers describing ``decision``."""
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        # Whole seconds, rounded up: a client that waits until then is not refused early.
        "X-RateLimit-Reset": str(-(-decision.reset_at_ns // 1_000_000_000)),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
    return headers


class RateLimitMiddleware:
    """ASGI middleware that rate-limits requests with a `RateLimiter`.

    ``key(request)`` returns the key values for ``limiter.hit`` (in the order of the
    limiter's ``key=``), or None to let the request through uncounted. The other keyword
    arguments are passed to ``hit``: ``limit`` and ``window`` (seconds), or ``rule``;
    ``cost`` and ``algorithm``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        key: Callable[[Request], Sequence[str | int] | None],
        limit: int | None = None,
        window: float | None = None,
        rule: str | None = None,
        cost: int = 1,
        algorithm: str | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.key = key
        self.options: dict[str, Any] = {"cost": cost, "algorithm": algorithm}
        if rule is not None:
            self.options["rule"] = rule
        else:
            self.options |= {"limit": limit, "window": window}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import anyio.to_thread
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        key = self.key(Request(scope, receive))
        if key is None:
            await self.app(scope, receive, send)
            return
        decision = self.limiter.cached_denial(*key, **self.options)
        if decision is None:
            hit = functools.partial(self.limiter.hit, *key, **self.options)
            decision = await anyio.to_thread.run_sync(hit)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            response = JSONResponse(
                {"detail": "Too Many Requests"}, status_code=429, headers=headers
            )
            await response(scope, receive, send)
            return
        encoded = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *encoded]
            await send(message)

        await self.app(scope, receive, send_with_headers)
