"""The web helper, through FastAPI's (Starlette's) test client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import strata
from strata.web import RateLimitMiddleware
from test_ratelimit import SECOND, T0, limiter, open_schema


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
