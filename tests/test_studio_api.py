"""The studio's JSON API (`strata.studio.app`) through Starlette's test client, on a SQLite
file and on a PostgreSQL server alike (the conformance ``backend``): browsing by keyset,
filters, edits through the client, the queue, rate limiter and metrics views, the SQL box,
and bad input, which gets a clear JSON error and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

import strata
from backends import Backend
from strata._compat import UTC
from strata.demo import METRICS, QUEUES, RATE_LIMITER
from strata.studio.app import COOKIE, Settings, create_app
from strata.studio.bindings import Bindings

JOBS = 30
#: Where the tests reach the studio: a loopback name, as its Host check asks.
LOCAL = "http://127.0.0.1:5555"


def _bindings() -> Bindings:
    bindings = Bindings()
    bindings.add("queues", {"render": {"model": "Job", **QUEUES["render"]}}, "test")
    bindings.add("rate_limiters", {"RateLimit": RATE_LIMITER}, "test")
    bindings.add("metrics", {"NodeMetric": METRICS}, "test")
    return bindings


def _job(user: str, number: int, **fields: Any) -> dict[str, Any]:
    return {
        "userId": user,
        "projectPath": f"/projects/{number:03d}.aep",
        "source": "bravo",
        "macUsername": "alice",
        "fileTimestamp": datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=number),
        "nexrenderConfig": {"template": {"composition": f"main-{number}"}},
        "priority": number % 3,
        "status": "QUEUED",
        **fields,
    }


@pytest.fixture
def db(backend: Backend) -> strata.Database:
    db = backend.seed("render_manager")
    user = db.user.create({"email": "alice@studio.example", "name": "Alice"})
    db.job.create_many([_job(user.id, n) for n in range(JOBS)])
    return db


@pytest.fixture
def api(db: strata.Database) -> Iterator[TestClient]:
    with TestClient(create_app(db, _bindings()), base_url=LOCAL) as client:
        yield client


def _page(api: TestClient, model: str, **params: Any) -> dict[str, Any]:
    encoded = {k: v if isinstance(v, str | int) else json.dumps(v) for k, v in params.items()}
    response = api.get(f"/api/models/{model}/rows", params=encoded)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _error(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind, error
    return error  # type: ignore[no-any-return]


# -- browsing -----------------------------------------------------------------------------------


def test_models_come_with_their_row_counts(api: TestClient) -> None:
    models = {m["name"]: m["count"] for m in api.get("/api/models").json()["models"]}
    assert models["Job"] == JOBS
    assert models["User"] == 1
    assert models["RateLimit"] == 0


def test_a_model_describes_its_fields_key_and_relations(api: TestClient) -> None:
    job = api.get("/api/models/Job").json()
    assert job["key"] == ["id"]
    fields = {f["name"]: f for f in job["fields"]}
    assert fields["status"]["enum"][:2] == ["PENDING", "VALIDATING"]
    assert fields["nexrenderConfig"]["type"] == "Json"
    assert fields["id"]["generated"]
    assert not fields["projectPath"]["generated"]
    (user,) = job["relations"]
    assert user == {
        "name": "user",
        "model": "User",
        "many": False,
        "fields": ["userId"],
        "references": ["id"],
    }
    (jobs,) = api.get("/api/models/User").json()["relations"]
    assert jobs["many"]
    assert jobs["fields"] == ["id"]
    assert jobs["references"] == ["userId"]


def test_pages_follow_the_keyset_both_ways_in_any_order(api: TestClient) -> None:
    order = {"sort": "priority", "direction": "desc", "take": 7}
    seen: list[str] = []
    page = _page(api, "Job", **order)
    assert not page["hasPrevious"]
    pages = [page]
    while page["hasNext"]:
        page = _page(api, "Job", **order, after=page["keys"][-1])
        assert page["hasPrevious"]
        pages.append(page)
    for each in pages:
        seen += [row["id"] for row in each["rows"]]
    assert len(seen) == len(set(seen)) == JOBS
    priorities = [row["priority"] for each in pages for row in each["rows"]]
    assert priorities == sorted(priorities, reverse=True)
    # Back from the last page: the page before it, row for row.
    back = _page(api, "Job", **order, before=pages[-1]["keys"][0])
    assert back["rows"] == pages[-2]["rows"]


def test_values_come_out_as_json(api: TestClient) -> None:
    (row,) = _page(api, "Job", take=1, sort="projectPath")["rows"]
    assert row["fileTimestamp"] == "2026-12-01T00:00:00Z"  # UTC, ISO 8601
    assert row["nexrenderConfig"] == {"template": {"composition": "main-0"}}
    assert row["completedAt"] is None


def test_filters_take_the_clients_where_operators(api: TestClient) -> None:
    where = {
        "priority": {"in": ["1", "2"]},  # text from a form's input is coerced per field
        "fileTimestamp": {"gte": "2026-12-01T10:00:00Z"},
        "projectPath": {"contains": "/projects/0"},
    }
    rows = _page(api, "Job", where=where, take=100)["rows"]
    expected = [n for n in range(10, JOBS) if n % 3 and n < 100]
    assert sorted(r["projectPath"] for r in rows) == [f"/projects/{n:03d}.aep" for n in expected]
    either = {"OR": [{"priority": 0}, {"status": {"equals": "FAILED"}}]}
    assert {r["priority"] for r in _page(api, "Job", where=either, take=100)["rows"]} == {0}


def test_a_relation_filter_finds_the_related_rows(api: TestClient, db: strata.Database) -> None:
    (user,) = db.user.find_many()
    rows = _page(api, "Job", where={"userId": user.id}, take=100)["rows"]
    assert len(rows) == JOBS
    (found,) = _page(api, "User", where={"id": user.id})["rows"]
    assert found["email"] == "alice@studio.example"


# -- editing ------------------------------------------------------------------------------------


def test_create_update_and_delete_go_through_the_client(
    api: TestClient, db: strata.Database
) -> None:
    created = api.post(
        "/api/models/User/rows",
        json={"data": {"email": "bob@studio.example", "macUsernames": ["bob"]}},
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["role"] == "USER"
    assert user["id"]
    stamped = user["updatedAt"]
    key = {"id": user["id"]}
    updated = api.patch("/api/models/User/rows", json={"key": key, "data": {"name": "Bob"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Bob"
    assert updated.json()["updatedAt"] >= stamped  # @updatedAt set by the client
    assert db.user.find_unique({"id": user["id"]}).name == "Bob"
    one = api.get("/api/models/User/row", params={"key": json.dumps(key)})
    assert one.json() == updated.json()
    job = _page(api, "Job", take=1)["keys"][0]
    changed = api.patch(
        "/api/models/Job/rows", json={"key": job, "data": {"priority": "9", "logs": None}}
    )
    assert changed.json()["priority"] == 9
    deleted = api.delete("/api/models/User/rows", params={"key": json.dumps(key)})
    assert deleted.status_code == 200
    assert deleted.json()["email"] == "bob@studio.example"
    assert db.user.find_unique({"id": user["id"]}) is None


def test_a_unique_violation_is_named_and_nothing_is_written(
    api: TestClient, db: strata.Database
) -> None:
    response = api.post("/api/models/User/rows", json={"data": {"email": "alice@studio.example"}})
    error = _error(response, 409, "UniqueConstraintError")
    assert error["fields"] == ["email"]
    assert error["code"] == "P2002"
    assert db.user.count() == 1


def test_a_missing_parent_is_a_foreign_key_error(api: TestClient, db: strata.Database) -> None:
    data = json.loads(json.dumps(_job("no-such-user", 99), default=str))
    response = api.post("/api/models/Job/rows", json={"data": data})
    error = _error(response, 409, "ForeignKeyError")
    assert error["code"] == "P2003"
    assert db.job.count() == JOBS


def test_a_wrong_value_is_reported_on_its_field(api: TestClient, db: strata.Database) -> None:
    key = _page(api, "Job", take=1)["keys"][0]
    for data, field in (
        ({"priority": "high"}, "priority"),
        ({"fileTimestamp": "yesterday"}, "fileTimestamp"),
        ({"status": "SLEEPING"}, "status"),
        ({"noSuchField": 1}, "noSuchField"),
    ):
        response = api.patch("/api/models/Job/rows", json={"key": key, "data": data})
        assert _error(response, 400, "ValidationError")["field"] == field, data
    assert db.job.count(where={"priority": {"gt": 2}}) == 0


def test_bad_requests_get_clear_json_errors(api: TestClient, db: strata.Database) -> None:
    assert (
        "its models: User, Job"
        in _error(api.get("/api/models/Jobs/rows"), 404, "NotFound")["message"]
    )
    malformed = api.get("/api/models/Job/rows", params={"where": "{status: QUEUED"})
    assert "where is not valid JSON" in _error(malformed, 400, "ValidationError")["message"]
    unknown = api.get("/api/models/Job/rows", params={"where": '{"status": {"like": "Q%"}}'})
    assert "unknown filter operator" in _error(unknown, 400, "ValidationError")["message"]
    assert _error(api.get("/api/models/Job/rows?take=0"), 400, "ValidationError")
    assert _error(api.get("/api/models/Job/rows?sort=nope"), 400, "ValidationError")
    no_body = api.post(
        "/api/models/User/rows", content=b"[1", headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in _error(no_body, 400, "ValidationError")["message"]
    missing = api.patch(
        "/api/models/User/rows", json={"key": {"id": "nobody"}, "data": {"name": "x"}}
    )
    assert _error(missing, 404, "RecordNotFoundError")["code"] == "P2025"
    assert _error(api.get("/api/nothing"), 404, "NotFound")
    assert _error(api.put("/api/models/User/rows", json={}), 405, "MethodNotAllowed")
    assert db.user.count() == 1


def test_read_only_refuses_every_write(db: strata.Database) -> None:
    app = create_app(db, _bindings(), Settings(read_only=True))
    with TestClient(app, base_url=LOCAL) as api:
        key = _page(api, "Job", take=1)["keys"][0]
        for response in (
            api.post("/api/models/User/rows", json={"data": {"email": "c@studio.example"}}),
            api.patch("/api/models/Job/rows", json={"key": key, "data": {"priority": 5}}),
            api.delete("/api/models/Job/rows", params={"key": json.dumps(key)}),
            api.post("/api/queues/render/cancel", json={"key": key}),
        ):
            assert "--read-only" in _error(response, 403, "ReadOnly")["message"]
        assert 'data-read-only="true"' in api.get("/models/Job").text
    assert db.user.count() == 1
    assert db.job.count(where={"status": "QUEUED", "priority": {"lt": 3}}) == JOBS


# -- watching -----------------------------------------------------------------------------------


def test_a_queue_shows_its_states_and_its_actions_change_jobs(
    api: TestClient, db: strata.Database
) -> None:
    queue = db.queue_("Job", **QUEUES["render"])
    first, second, third = queue.claim("render-1", limit=3)
    queue.complete(first)
    queue.fail(second, "out of memory", final=True)
    shown = api.get("/api/queues/render").json()
    assert shown["counts"] == {
        "ready": JOBS - 3,
        "claimed": 1,
        "done": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert shown["oldestReady"]["priority"] == 2  # the next claim's job, in claim order
    assert sum(m["done"] for m in shown["throughput"]) == 1
    assert [j["id"] for j in shown["jobs"]["failed"]] == [second.id]

    def act(action: str, job: Any) -> Any:
        return api.post(f"/api/queues/render/{action}", json={"key": {"id": job}})

    # A job not in the state an action needs is left alone.
    assert "is not failed" in _error(act("retry", first.id), 400, "ValidationError")["message"]
    assert "is not claimed" in _error(act("release", second.id), 400, "ValidationError")["message"]
    assert db.job.find_unique({"id": first.id}).status == "COMPLETED"
    assert act("retry", second.id).status_code == 200
    retried = db.job.find_unique({"id": second.id}).model_dump()
    assert (retried["status"], retried["attempts"]) == ("QUEUED", 0)
    released = act("release", third.id).json()
    assert released["status"] == "QUEUED"
    assert act("cancel", third.id).json()["status"] == "CANCELLED"
    assert (
        "is not ready or claimed"
        in _error(act("cancel", first.id), 400, "ValidationError")["message"]
    )
    assert _error(act("explode", first.id), 404, "NotFound")
    assert _error(api.get("/api/queues/nope"), 404, "NotFound")
    counts = api.get("/api/queues/render").json()["counts"]
    assert counts == {"ready": JOBS - 2, "claimed": 0, "done": 1, "failed": 0, "cancelled": 1}


def test_a_rate_limiter_shows_its_busiest_keys(api: TestClient, db: strata.Database) -> None:
    limiter = db.rate_limiter_("RateLimit", **RATE_LIMITER)  # type: ignore[arg-type]
    for client, hits in (("bravo", 5), ("plugin", 9), ("cli", 2)):
        for _ in range(hits):
            limiter.hit(client, "/api/jobs", limit=100, window=60)
    shown = api.get("/api/rate-limiters/RateLimit").json()
    assert shown["keyFields"] == ["clientName", "endpoint"]
    assert [(b["key"][0], b["count"]) for b in shown["busiest"]] == [
        ("plugin", 9),
        ("bravo", 5),
        ("cli", 2),
    ]


def test_a_metric_chart_is_the_cores_aggregation(api: TestClient, db: strata.Database) -> None:
    start = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    samples = [
        {
            "node": node,
            "timestamp": start + timedelta(seconds=s),
            "gpuUsage": float(s % 60 + (10 if node == "b" else 0)),
            "gpuTemp": 60.0,
            "cpuUsage": 5.0,
        }
        for node in ("a", "b")
        for s in range(180)
    ]
    db.metrics_("NodeMetric", **METRICS).ingest(samples)
    chart = api.get("/api/metrics/NodeMetric", params={"stat": "max", "every": "1m"}).json()
    assert chart["value"] == "gpuUsage"
    assert chart["series"]["a"] == [[f"2026-11-22T08:0{m}:00Z", 59.0] for m in range(3)]
    assert [v for _, v in chart["series"]["b"]] == [69.0, 69.0, 69.0]
    one = api.get("/api/metrics/NodeMetric", params={"series": "b", "value": "gpuTemp"}).json()
    assert list(one["series"]) == ["b"]
    bad = api.get("/api/metrics/NodeMetric", params={"stat": "median"})
    assert "unknown statistic" in _error(bad, 400, "ValidationError")["message"]
    assert _error(api.get("/api/metrics/NodeMetric?every=7m"), 400, "ValidationError")


def test_the_watch_overview_lists_the_bindings(api: TestClient) -> None:
    watched = api.get("/api/watch").json()
    assert [q["name"] for q in watched["queues"]] == ["render"]
    assert watched["metrics"][0]["values"] == ["gpuUsage", "gpuTemp", "cpuUsage"]
    page = api.get("/watch").text
    assert 'data-queue="render"' in page
    assert 'data-metric="NodeMetric"' in page


# -- the SQL box ----------------------------------------------------------------------------------


def test_sql_runs_in_duckdb_and_downloads(api: TestClient) -> None:
    pytest.importorskip("duckdb")
    sql = 'SELECT priority, count(*) AS jobs FROM "Job" GROUP BY priority ORDER BY priority'
    result = api.post("/api/query", json={"sql": sql}).json()
    assert result == {"columns": ["priority", "jobs"], "rows": [[0, 10], [1, 10], [2, 10]],
                      "truncated": False}  # fmt: skip
    csv = api.get("/api/query/download", params={"sql": sql + ";", "format": "csv"})
    assert csv.status_code == 200, csv.text
    assert csv.text.splitlines() == ["priority,jobs", "0,10", "1,10", "2,10"]
    assert csv.headers["content-disposition"] == 'attachment; filename="query.csv"'
    parquet = api.get("/api/query/download", params={"sql": sql, "format": "parquet"})
    assert parquet.content[:4] == b"PAR1"


def test_sql_cannot_reach_the_file_system_and_errors_are_json(api: TestClient) -> None:
    pytest.importorskip("duckdb")
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "COPY \"Job\" TO '/tmp/leak.csv'"):
        response = api.post("/api/query", json={"sql": sql})
        assert "disabled by configuration" in _error(response, 400, "ValidationError")["message"]
    assert "DuckDB" in _error(api.post("/api/query", json={"sql": "SELEC 1"}), 400,
                              "ValidationError")["message"]  # fmt: skip
    assert _error(api.post("/api/query", json={"sql": " "}), 400, "ValidationError")
    bad = api.get("/api/query/download", params={"sql": "SELECT 1", "format": "xlsx"})
    assert _error(bad, 400, "ValidationError")


# -- the guard ------------------------------------------------------------------------------------


def test_a_token_guards_every_request_when_set(db: strata.Database) -> None:
    app = create_app(db, _bindings(), Settings(token="s3cret", loopback=False))
    with TestClient(app, base_url="http://studio.lan:5555") as api:
        assert _error(api.get("/api/models"), 401, "Unauthorized")
        assert _error(api.get("/api/queues/render"), 401, "Unauthorized")
        assert api.get("/").status_code == 401
        assert api.get("/?token=wrong").status_code == 401
        assert api.get("/api/models", headers={"authorization": "Bearer s3cret"}).status_code == 200
        opened = api.get("/?token=s3cret")
        assert opened.status_code == 200
        assert f"{COOKIE}=s3cret" in opened.headers["set-cookie"]
        assert "HttpOnly" in opened.headers["set-cookie"]
        # The cookie now carries it: the page's own requests need nothing more.
        assert api.get("/api/models").status_code == 200


def test_the_loopback_studio_answers_loopback_names_only(api: TestClient) -> None:
    rebound = api.get("/api/models", headers={"host": "attacker.example:5555"})
    assert "loopback only" in _error(rebound, 400, "Forbidden")["message"]
    assert api.get("/api/models", headers={"host": "127.0.0.1:5555"}).status_code == 200
    assert api.get("/api/models", headers={"host": "localhost:5555"}).status_code == 200


def test_writes_from_another_origin_or_not_json_are_refused(
    api: TestClient, db: strata.Database
) -> None:
    data = {"data": {"email": "eve@studio.example"}}
    other = api.post(
        "/api/models/User/rows", json=data, headers={"origin": "http://attacker.example"}
    )
    assert _error(other, 403, "Forbidden")
    form = api.post("/api/models/User/rows", data={"email": "eve@studio.example"})
    assert _error(form, 415, "UnsupportedMediaType")
    assert db.user.count() == 1


def test_pages_render_escaped(api: TestClient) -> None:
    for path in ("/", "/models/Job", "/watch", "/query"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert '<script src="/static/studio.js" defer></script>' in response.text
    missing = api.get("/models/<img src=x onerror=alert(1)>")
    assert missing.status_code == 404
    assert "<img" not in missing.text
    assert "&lt;img src=x" in missing.text
    assert api.get("/static/studio.css").headers["content-type"].startswith("text/css")


# -- soft delete --------------------------------------------------------------------------------


def test_a_delete_on_a_soft_deleting_model_marks_the_row(backend: Backend) -> None:
    db = backend.seed("video_machine")
    user = db.user.create({"email": "ana@studio.example", "name": "Ana"})
    with TestClient(create_app(db), base_url=LOCAL) as api:
        assert api.get("/api/models/Project").json()["softDelete"] == "deletedAt"
        created = api.post(
            "/api/models/Project/rows",
            json={"data": {"userId": user.id, "title": "Trailer", "config": {"voice": "warm"}}},
        )
        assert created.status_code == 201, created.text
        project = created.json()
        assert project["status"] == "DRAFT"
        assert project["deletedAt"] is None
        key = json.dumps({"id": project["id"]})
        deleted = api.delete("/api/models/Project/rows", params={"key": key})
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["deletedAt"] is not None
        # Gone from the pages and the counts, as from the client's reads; kept in the table.
        assert _page(api, "Project")["rows"] == []
        counts = {m["name"]: m["count"] for m in api.get("/api/models").json()["models"]}
        assert counts["Project"] == 0
        assert _error(api.get("/api/models/Project/row", params={"key": key}), 404,
                      "RecordNotFoundError")  # fmt: skip
    assert db.with_deleted_().project.count() == 1


# -- every type -----------------------------------------------------------------------------------

KINDS = """
datasource db {
  provider = "sqlite"
  url      = "file:./kinds.db"
}

model Reading {
  id      BigInt   @id
  amount  Decimal
  blob    Bytes?
  ok      Boolean  @default(false)
  at      DateTime
  tags    String[]
  extra   Json?
}
"""


def test_every_type_goes_through_json_and_back(backend: Backend) -> None:
    db = backend.connect(KINDS)
    big = 2**62 + 1
    data = {
        "id": str(big),
        "amount": "1234.5678",
        "blob": "AAEC/w==",
        "ok": "true",
        "at": "2026-12-04T16:30:00+01:00",
        "tags": ["a", "b"],
        "extra": {"nested": [1, None, "x"]},
    }
    with TestClient(create_app(db), base_url=LOCAL) as api:
        created = api.post("/api/models/Reading/rows", json={"data": data})
        assert created.status_code == 201, created.text
        expected = {**data, "ok": True, "at": "2026-12-04T15:30:00Z"}
        # Decimal text as the database gives it (PostgreSQL's decimal(65,30) pads it).
        assert Decimal(created.json().pop("amount")) == Decimal(expected.pop("amount"))
        (row,) = _page(api, "Reading")["rows"]
        assert {k: v for k, v in row.items() if k != "amount"} == expected
        assert {k: v for k, v in created.json().items() if k != "amount"} == expected
        same = _page(api, "Reading", where={"id": str(big), "at": {"gte": "2026-12-04T15:30:00Z"}})
        assert same["keys"] == [{"id": str(big)}]
        bad = api.patch(
            "/api/models/Reading/rows", json={"key": {"id": str(big)}, "data": {"blob": "%%"}}
        )
        assert _error(bad, 400, "ValidationError")["field"] == "blob"
    (stored,) = db.reading.find_many()
    assert stored.id == big
    assert stored.amount == Decimal("1234.5678")
    assert stored.blob == b"\x00\x01\x02\xff"
