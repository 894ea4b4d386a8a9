"""The studio's web application: the pages and the JSON API behind them (docs/studio.md).

The pages are Jinja2 templates (autoescaped) and one script, ``static/studio.js``, which is
a client of the JSON API like any other: everything the page shows or changes goes through
``/api/...``. Handlers are plain functions, which Starlette runs on its worker threads, so
a read or a write waiting for the database never stalls the event loop.

Every request passes `_Guard` first: the token when the studio has one (from the URL once,
then a cookie, or an ``Authorization: Bearer`` header), the Host header when it serves the
loopback only (a page elsewhere cannot reach it by a DNS name that resolves to 127.0.0.1),
and, for writes, a JSON body from the same origin (so a form on another site cannot post to
it).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from strata.errors import MissingExtraError

try:
    from jinja2 import Environment, PackageLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as error:
    MissingExtraError.reraise(error, "strata studio", error.name or "starlette", "studio")

from strata.dialects import duckdb as duck_sql
from strata.errors import (
    ConstraintError,
    RecordNotFoundError,
    StrataError,
    ValidationError,
)
from strata.studio import data, query
from strata.studio.bindings import Bindings
from strata.studio.watch import Watch

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from strata.database import Database

__all__ = ["COOKIE", "Settings", "create_app"]

#: The cookie that carries the token after the first page.
COOKIE = "strata_studio"
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class Settings:
    """How one studio serves: ``read_only`` refuses writes; ``token``, when set, is asked
    of every request; ``loopback`` accepts only loopback Host headers."""

    read_only: bool = False
    token: str | None = None
    loopback: bool = True


class _Refused(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def _error(status: int, kind: str, message: str, **details: Any) -> JSONResponse:
    body = {"type": kind, "message": message, **{k: v for k, v in details.items() if v}}
    return JSONResponse({"error": body}, status_code=status)


def _strata_error(error: StrataError) -> JSONResponse:
    """A strata error as the API reports it: its class, message, and the field(s) it is
    about, so that the page can show it next to the field."""
    status = 400
    if isinstance(error, data.NotFound | RecordNotFoundError):
        status = 404
    elif isinstance(error, ConstraintError):
        status = 409
    elif isinstance(error, MissingExtraError):
        status = 501
    field = getattr(error, "field", None)
    fields = getattr(error, "fields", None) or ([field] if field else None)
    return _error(
        status,
        type(error).__name__,
        str(error),
        field=field,
        fields=fields,
        code=getattr(error, "code", None),
    )


def _json_param(request: Request, name: str) -> Any:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"{name} is not valid JSON ({error.msg} at character {error.pos}): {text[:80]}",
            field=name,
            expected="JSON",
        ) from None


def _int_param(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValidationError(
            f"{name} is a whole number, got {text!r}", expected="an int"
        ) from None


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValidationError(f"the body is not valid JSON: {error}", expected="JSON") from None
    if not isinstance(body, dict):
        raise ValidationError("the body is a JSON object", expected="a JSON object")
    return body


def create_app(
    db: Database, bindings: Bindings | None = None, settings: Settings = Settings()
) -> Starlette:
    """The studio over ``db`` (opened with its schema), watching ``bindings``."""
    watch = Watch(db, bindings or Bindings())
    pages = Environment(
        loader=PackageLoader("strata.studio", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )

    def guarded(
        handler: Callable[..., Any], write: bool = False, status: int = 200
    ) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            try:
                if write and settings.read_only:
                    raise _Refused(
                        403,
                        "ReadOnly",
                        "the studio was started with --read-only; nothing was written",
                    )
                body = await _body(request) if request.method in ("POST", "PATCH") else {}
                result = await run_in_threadpool(handler, request, body)
            except _Refused as refused:
                return _error(refused.status, refused.kind, str(refused))
            except StrataError as error:
                return _strata_error(error)
            if isinstance(result, Response):
                return result
            return JSONResponse(result, status_code=status)

        return endpoint

    def page(template: str, **context: Any) -> Callable[[Request], Response]:
        def render(request: Request) -> Response:
            model = request.path_params.get("model")
            if model is not None and model not in db.client_.metas:
                return HTMLResponse(
                    pages.get_template("missing.html").render(
                        what=f"model {model}", models=list(db.client_.metas)
                    ),
                    status_code=404,
                )
            html = pages.get_template(template).render(
                models=list(db.client_.metas),
                model=model,
                read_only=settings.read_only,
                watched=watch.overview() if template == "watch.html" else None,
                **context,
            )
            return HTMLResponse(html)

        return render

    # -- the API ------------------------------------------------------------------------------

    def models(request: Request, body: dict[str, Any]) -> Any:
        return {"models": [{"name": n, "count": c} for n, c in data.counts(db).items()]}

    def model(request: Request, body: dict[str, Any]) -> Any:
        return data.describe(db, request.path_params["model"])

    def rows(request: Request, body: dict[str, Any]) -> Any:
        return data.rows(
            db,
            request.path_params["model"],
            where=_json_param(request, "where"),
            sort=request.query_params.get("sort") or None,
            direction=request.query_params.get("direction", "asc"),
            take=_int_param(request, "take", 50),
            after=_json_param(request, "after"),
            before=_json_param(request, "before"),
        )

    def row(request: Request, body: dict[str, Any]) -> Any:
        return data.one(db, request.path_params["model"], _json_param(request, "key"))

    def create(request: Request, body: dict[str, Any]) -> Any:
        return data.write(db, request.path_params["model"], "create", data=body.get("data"))

    def update(request: Request, body: dict[str, Any]) -> Any:
        return data.write(
            db, request.path_params["model"], "update", key=body.get("key"), data=body.get("data")
        )

    def delete(request: Request, body: dict[str, Any]) -> Any:
        return data.write(
            db, request.path_params["model"], "delete", key=_json_param(request, "key")
        )

    def watched(request: Request, body: dict[str, Any]) -> Any:
        return watch.overview()

    def queue(request: Request, body: dict[str, Any]) -> Any:
        return watch.queue(request.path_params["name"])

    def queue_action(request: Request, body: dict[str, Any]) -> Any:
        p = request.path_params
        return watch.act(p["name"], p["action"], body.get("key"))

    def rate_limiter(request: Request, body: dict[str, Any]) -> Any:
        return watch.rate_limiter(request.path_params["name"])

    def metric(request: Request, body: dict[str, Any]) -> Any:
        q = request.query_params
        return watch.metric(
            request.path_params["name"],
            value=q.get("value") or None,
            stat=q.get("stat", "avg"),
            every=q.get("every", "1m"),
            buckets=_int_param(request, "buckets", 60),
            series=q.get("series") or None,
        )

    def run_query(request: Request, body: dict[str, Any]) -> Any:
        return query.run(db, body.get("sql"))

    def download(request: Request, body: dict[str, Any]) -> Any:
        format = request.query_params.get("format", "csv")
        content, media_type = query.download(db, request.query_params.get("sql"), format)
        disposition = f'attachment; filename="query.{format}"'
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": disposition}
        )

    routes = [
        Route("/", page("index.html")),
        Route("/models/{model}", page("model.html")),
        Route("/watch", page("watch.html")),
        Route(
            "/query",
            page("query.html", sample=duck_sql.sample_query(next(iter(db.client_.metas), "table"))),
        ),
        Route("/api/models", guarded(models)),
        Route("/api/models/{model}", guarded(model)),
        Route("/api/models/{model}/rows", guarded(rows)),
        Route(
            "/api/models/{model}/rows", guarded(create, write=True, status=201), methods=["POST"]
        ),
        Route("/api/models/{model}/rows", guarded(update, write=True), methods=["PATCH"]),
        Route("/api/models/{model}/rows", guarded(delete, write=True), methods=["DELETE"]),
        Route("/api/models/{model}/row", guarded(row)),
        Route("/api/watch", guarded(watched)),
        Route("/api/queues/{name}", guarded(queue)),
        Route("/api/queues/{name}/{action}", guarded(queue_action, write=True), methods=["POST"]),
        Route("/api/rate-limiters/{name}", guarded(rate_limiter)),
        Route("/api/metrics/{name}", guarded(metric)),
        Route("/api/query", guarded(run_query), methods=["POST"]),
        Route("/api/query/download", guarded(download)),
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return _error(404, "NotFound", f"no API endpoint {request.method} {request.url.path}")
        return HTMLResponse("Not found", status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(
            405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}"
        )

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.add_middleware(_Guard, settings=settings)
    return app


class _Guard:
    """The checks every request passes (see the module's docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        token = self.settings.token
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if token is None or not given or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return

        # The token came in the URL: keep it in a cookie, so that the page's own requests
        # and links carry it without showing it again.
        async def send_with_cookie(message: Any) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        host = headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        api = scope["path"].startswith("/api/")
        if self.settings.loopback and hostname not in _LOOPBACK_HOSTS:
            return _error(
                400, "Forbidden", f"the studio serves the loopback only, not the host {host!r}"
            )
        token = self.settings.token
        if token is not None and not self._has_token(scope, headers, token):
            message = "this studio asks for its token: open the URL it printed"
            if api:
                return _error(401, "Unauthorized", message)
            return HTMLResponse(message, status_code=401)
        if scope["method"] in ("POST", "PATCH", "DELETE", "PUT"):
            origin = headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != host:
                return _error(
                    403, "Forbidden", f"a write from another origin ({origin}) was refused"
                )
            if scope["method"] != "DELETE" and not headers.get("content-type", "").startswith(
                "application/json"
            ):
                return _error(
                    415, "UnsupportedMediaType", "writes take a JSON body (application/json)"
                )
        return None

    @staticmethod
    def _has_token(scope: Scope, headers: dict[str, str], token: str) -> bool:
        candidates = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            candidates.append(authorization.removeprefix("Bearer "))
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                candidates.append(value)
        return any(hmac.compare_digest(c.encode(), token.encode()) for c in candidates)
