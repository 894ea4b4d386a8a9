"""Every repository operation against the seed schemas, on a SQLite file and on PostgreSQL
(the conformance fixture `backend`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import Backend
from strata.client import Page, defaults

SEEDS = Path(__file__).resolve().parent.parent / "schema"

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CUID = re.compile(r"^c[0-9a-z]{24}$")

Seed = Callable[[str], strata.Database]


@pytest.fixture
def seed(backend: Backend) -> Seed:
    """Opens a fresh database holding one of the seed schemas' tables, on each backend (a
    seed without a PostgreSQL twin is given PostgreSQL's provider)."""

    def open_seed(name: str) -> strata.Database:
        if backend.is_postgres and not (SEEDS / f"{name}.postgresql.prisma").exists():
            return backend.connect(SEEDS / f"{name}.prisma")
        return backend.seed(name)

    return open_seed


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def statements(db: strata.Database) -> list[str]:
    """Records every statement the database runs from now on."""
    seen: list[str] = []
    db.set_tracer_(lambda sql, params: seen.append(sql))
    return seen


# -- repositories ----------------------------------------------------------------------------


def test_repositories_are_named_in_snake_case(seed: Seed) -> None:
    db = seed("medianest")
    assert db.media_request is db.model_("MediaRequest")
    assert db.you_tube_download is db.model_("YouTubeDownload")
    assert db.service_status_history is db.model_("ServiceStatusHistory")
    with pytest.raises(AttributeError, match="no model"):
        _ = db.no_such_model
    with pytest.raises(strata.ValidationError, match="no model 'Nope'"):
        db.model_("Nope")


def test_a_model_named_like_a_method_is_reached_through_model(seed: Seed) -> None:
    db = seed("gpu_marketplace")
    user = db.user.create(data={"qubicAddress": "Q1"})
    payments = db.model_("Transaction")
    payment = payments.create(data={"userId": user.id, "type": "PAYMENT", "amount": Decimal("9.5")})
    assert payment.amount == Decimal("9.5")
    assert callable(db.transaction_)


# -- create and defaults ---------------------------------------------------------------------


def test_create_applies_client_and_database_defaults(seed: Seed) -> None:
    db = seed("medianest")
    before = datetime.now(UTC) - timedelta(seconds=1)
    user = db.user.create(data={"plexId": "p1", "plexUsername": "alice"})
    assert UUID4.match(user.id)
    assert user.role == "user"  # database defaults, read back
    assert user.status == "active"
    assert before <= user.createdAt <= datetime.now(UTC)
    assert user.email is None
    assert user.mediaRequests is None
    service = db.service.create(data={"name": "plex", "displayName": "Plex"})
    assert service.id == 1  # autoincrement, @default(true)
    assert service.enabled is True


def test_cuid_defaults(seed: Seed) -> None:
    db = seed("render_manager")
    ids = [db.user.create(data={"email": f"u{n}@x.io"}).id for n in range(20)]
    assert all(CUID.match(i) for i in ids), ids
    assert len(set(ids)) == 20
    assert db.api_token.create(data={"token": "t", "clientName": "bravo"}).id[0] == "c"
    config = db.system_config.create(data={})
    assert config.id == "system"
    assert config.version == "1.0.0"


def test_id_generators_follow_prisma_formats() -> None:
    assert CUID.match(defaults.cuid())
    two = defaults.cuid2()
    assert re.fullmatch(r"[a-z][0-9a-z]{23}", two)
    assert len(defaults.cuid2(10)) == 10
    assert UUID4.match(defaults.uuid4())
    seven = defaults.uuid7()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", seven
    )
    millis = int(seven.replace("-", "")[:12], 16)
    assert abs(millis / 1000 - datetime.now(UTC).timestamp()) < 5
    assert re.fullmatch(r"[A-Za-z0-9_-]{21}", defaults.nanoid())
    assert len(defaults.nanoid(8)) == 8
    ulid = defaults.ulid()
    assert re.fullmatch(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", ulid)
    # ulids and uuid7s sort by time.
    assert defaults.ulid()[:10] >= ulid[:10]


def test_create_refuses_missing_required_fields_before_any_sql(seed: Seed) -> None:
    db = seed("medianest")
    seen = statements(db)
    with pytest.raises(strata.ValidationError, match=r"User\.plexUsername: is required"):
        db.user.create(data={"plexId": "p1"})
    assert seen == []
    assert db.user.count() == 0


# -- reads -----------------------------------------------------------------------------------


@pytest.fixture
def medianest(seed: Seed) -> strata.Database:
    db = seed("medianest")
    alice = db.user.create(data={"plexId": "p-alice", "plexUsername": "alice", "email": "a@x.io"})
    bob = db.user.create(data={"plexId": "p-bob", "plexUsername": "bob", "role": "admin"})
    for n, (title, status) in enumerate(
        [("Dune", "pending"), ("Alien", "approved"), ("Heat", "available"), ("Ran", "failed")]
    ):
        db.media_request.create(
            data={
                "userId": alice.id if n % 2 == 0 else bob.id,
                "title": title,
                "mediaType": "movie",
                "status": status,
                "createdAt": at(n + 1),
                "requestData": {"n": n},
            }
        )
    return db


def test_find_unique_by_id_unique_field_and_compound_key(medianest: strata.Database) -> None:
    db = medianest
    alice = db.user.find_unique(where={"plexId": "p-alice"})
    assert alice.plexUsername == "alice"
    assert db.user.find_unique(where={"id": alice.id}) == alice
    assert db.user.find_unique(where={"id": "missing"}) is None
    # Extra filters narrow a unique lookup.
    assert db.user.find_unique(where={"id": alice.id, "role": "admin"}) is None
    narrowed = {"id": alice.id, "plexUsername": {"starts_with": "a"}}
    assert db.user.find_unique(where=narrowed) == alice
    limit = db.rate_limit.create(
        data={"userId": alice.id, "endpoint": "/api", "windowStart": at(1)}
    )
    fields = {"userId": alice.id, "endpoint": "/api", "windowStart": at(1)}
    key = {"userId_endpoint_windowStart": fields}
    assert db.rate_limit.find_unique(where=key) == limit
    with pytest.raises(strata.ValidationError, match="unique criterion"):
        db.user.find_unique(where={"email": "a@x.io"})  # email is not unique
    with pytest.raises(strata.ValidationError, match="unique criterion"):
        db.rate_limit.find_unique(where={"userId": alice.id})
    with pytest.raises(strata.RecordNotFoundError) as caught:
        db.user.find_unique_or_raise(where={"id": "missing"})
    assert caught.value.code == "P2025"
    assert caught.value.model == "User"


def test_find_many_order_skip_take_and_negative_take(medianest: strata.Database) -> None:
    db = medianest
    titles = [r.title for r in db.media_request.find_many(order_by={"title": "asc"})]
    assert titles == ["Alien", "Dune", "Heat", "Ran"]
    page = db.media_request.find_many(order_by={"createdAt": "desc"}, skip=1, take=2)
    assert [r.title for r in page] == ["Heat", "Alien"]
    last_two = db.media_request.find_many(order_by={"createdAt": "asc"}, take=-2)
    assert [r.title for r in last_two] == ["Heat", "Ran"]
    by_user_then_title = db.media_request.find_many(
        order_by=[{"user": {"plexUsername": "desc"}}, {"title": "asc"}]
    )
    assert [r.title for r in by_user_then_title] == ["Alien", "Ran", "Dune", "Heat"]
    assert db.media_request.find_first(order_by={"title": "desc"}).title == "Ran"
    assert db.media_request.find_first({"title": "None"}) is None
    with pytest.raises(strata.RecordNotFoundError):
        db.media_request.find_first_or_raise({"title": "None"})


def test_find_many_cursor_and_distinct(medianest: strata.Database) -> None:
    db = medianest
    ordered = db.media_request.find_many(order_by={"createdAt": "asc"})
    after = db.media_request.find_many(
        cursor={"id": ordered[1].id}, order_by={"createdAt": "asc"}, take=2
    )
    assert [r.title for r in after] == ["Alien", "Heat"]
    before = db.media_request.find_many(
        cursor={"id": ordered[2].id}, order_by={"createdAt": "asc"}, take=-2
    )
    assert [r.title for r in before] == ["Alien", "Heat"]
    firsts = db.media_request.find_many(distinct=["userId"], order_by={"createdAt": "asc"})
    assert [r.title for r in firsts] == ["Dune", "Alien"]


def test_where_operators(medianest: strata.Database) -> None:
    db = medianest

    def titles(where: dict[str, Any]) -> list[str]:
        return sorted(r.title for r in db.media_request.find_many(where))

    assert titles({"status": "pending"}) == ["Dune"]
    assert titles({"status": {"not": "pending"}}) == ["Alien", "Heat", "Ran"]
    assert titles({"status": {"in": ["approved", "failed"]}}) == ["Alien", "Ran"]
    assert titles({"status": {"not_in": ["approved", "failed"]}}) == ["Dune", "Heat"]
    assert titles({"status": {"in": []}}) == []
    assert titles({"createdAt": {"gt": at(2)}}) == ["Heat", "Ran"]
    assert titles({"createdAt": {"gte": at(2), "lt": at(4)}}) == ["Alien", "Heat"]
    assert titles({"createdAt": {"lte": at(1)}}) == ["Dune"]
    assert titles({"title": {"contains": "ea"}}) == ["Heat"]
    assert titles({"title": {"contains": "EA"}}) == []
    assert titles({"title": {"contains": "EA", "mode": "insensitive"}}) == ["Heat"]
    assert titles({"title": {"starts_with": "d", "mode": "insensitive"}}) == ["Dune"]
    assert titles({"title": {"ends_with": "n"}}) == ["Alien", "Ran"]
    assert titles({"title": {"equals": "dune", "mode": "insensitive"}}) == ["Dune"]
    assert titles({"title": {"not": {"contains": "a"}}}) == ["Alien", "Dune"]
    assert titles({"OR": [{"title": "Dune"}, {"status": "failed"}]}) == ["Dune", "Ran"]
    assert titles({"AND": [{"title": {"contains": "a"}}, {"status": {"not": "failed"}}]}) == [
        "Heat"
    ]
    assert titles({"NOT": {"title": "Dune"}}) == ["Alien", "Heat", "Ran"]
    assert titles({"NOT": [{"title": "Dune"}, {"title": "Ran"}]}) == ["Alien", "Heat"]
    assert titles({"OR": []}) == []
    assert titles({"completedAt": None}) == ["Alien", "Dune", "Heat", "Ran"]
    assert titles({"completedAt": {"not": None}}) == []
    assert titles({"user": {"plexUsername": "bob"}}) == ["Alien", "Ran"]
    assert titles({"user": {"is": {"role": "admin"}}}) == ["Alien", "Ran"]
    assert titles({"user": {"is_not": {"role": "admin"}}}) == ["Dune", "Heat"]


def test_bad_where_arguments_raise_before_any_sql(medianest: strata.Database) -> None:
    db = medianest
    seen = statements(db)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"nope": 1}, "MediaRequest has no field 'nope'"),
        ({"title": {"like": "x"}}, "unknown filter operator"),
        ({"status": "unknown"}, "MediaRequest.status: expected a RequestStatus"),
        ({"title": 5}, "MediaRequest.title: expected a str"),
        ({"title": {"in": "abc"}}, "in takes a list"),
        ({"requestData": {"lt": 1}}, "unknown Json filter operator(s) ['lt']"),
        ({"createdAt": {"contains": "x"}}, "contains is only for String fields"),
        ({"status": {"equals": "pending", "mode": "insensitive"}}, "insensitive"),
        ({"user": {"is": "bob"}}, "User: where must be a dict"),
        ({"user": {"some": {}}}, "User has no field 'some'"),
        ({"OR": "x"}, "OR takes a dict or a list"),
    ]
    for where, message in cases:
        with pytest.raises(strata.ValidationError, match=re.escape(message)):
            db.media_request.find_many(where)
    with pytest.raises(strata.ValidationError, match="order must be"):
        db.media_request.find_many(order_by={"title": "up"})
    with pytest.raises(strata.ValidationError, match="take takes an int"):
        db.media_request.find_many(take="3")  # type: ignore[arg-type]
    assert seen == []


def test_count_aggregate_and_paginate(medianest: strata.Database) -> None:
    db = medianest
    assert db.media_request.count() == 4
    assert db.media_request.count({"status": "pending"}) == 1
    result = db.media_request.aggregate(
        count={"_all": True, "completedAt": True},
        min={"createdAt": True, "title": True},
        max={"createdAt": True},
    )
    assert result == {
        "_count": {"_all": 4, "completedAt": 0},
        "_min": {"createdAt": at(1), "title": "Alien"},
        "_max": {"createdAt": at(4)},
    }
    assert db.media_request.aggregate(count=True) == {"_count": 4}
    with pytest.raises(strata.ValidationError, match="_avg does not apply"):
        db.media_request.aggregate(avg={"title": True})
    page = db.media_request.paginate(page=2, per_page=3, order_by={"title": "asc"})
    assert isinstance(page, Page)
    assert [r.title for r in page.items] == ["Ran"]
    assert (page.page, page.per_page, page.total, page.total_pages) == (2, 3, 4, 2)
    with pytest.raises(strata.ValidationError, match="page"):
        db.media_request.paginate(page=0)


def test_aggregate_numbers_and_decimals(seed: Seed) -> None:
    db = seed("gpu_marketplace")
    user = db.user.create(data={"qubicAddress": "Q"})
    for n, price in enumerate(["1.25", "2.50", "3.00"]):
        db.provider.create(
            data={
                "workerId": f"w{n}",
                "userId": user.id,
                "type": "NATIVE",
                "gpuModel": "A100",
                "gpuVramGb": 40 * (n + 1),
                "pricePerHour": Decimal(price),
                "uptime": n * 10.0,
            }
        )
    result = db.provider.aggregate(
        avg={"gpuVramGb": True, "pricePerHour": True, "uptime": True},
        sum={"gpuVramGb": True, "pricePerHour": True, "uptime": True},
        min={"pricePerHour": True},
    )
    assert result["_avg"] == {
        "gpuVramGb": 80.0,
        "pricePerHour": Decimal("2.25"),
        "uptime": 10.0,
    }
    assert result["_sum"] == {"gpuVramGb": 240, "pricePerHour": Decimal("6.75"), "uptime": 30.0}
    assert result["_min"] == {"pricePerHour": Decimal("1.25")}
    assert db.provider.aggregate({"gpuModel": "none"}, sum={"gpuVramGb": True}) == {
        "_sum": {"gpuVramGb": None}
    }


# -- group_by --------------------------------------------------------------------------------


def test_group_by_with_having_order_and_aggregates(seed: Seed) -> None:
    db = seed("music_api")
    rows = [
        ("GET", "/songs", 200, 10),
        ("GET", "/songs", 200, 30),
        ("GET", "/songs", 500, 50),
        ("POST", "/songs", 201, 100),
        ("GET", "/artists", 200, 5),
    ]
    for m, p, s, d in rows:
        db.request_log.create(
            data={"method": m, "path": p, "statusCode": s, "duration": d, "ip": "127.0.0.1"}
        )
    groups = db.request_log.group_by(
        ["method", "path"],
        count={"_all": True},
        avg={"duration": True},
        max={"statusCode": True},
        order_by={"path": "desc"},
    )
    assert groups == [
        {
            "method": "GET",
            "path": "/songs",
            "_count": {"_all": 3},
            "_avg": {"duration": 30.0},
            "_max": {"statusCode": 500},
        },
        {
            "method": "POST",
            "path": "/songs",
            "_count": {"_all": 1},
            "_avg": {"duration": 100.0},
            "_max": {"statusCode": 201},
        },
        {
            "method": "GET",
            "path": "/artists",
            "_count": {"_all": 1},
            "_avg": {"duration": 5.0},
            "_max": {"statusCode": 200},
        },
    ]
    slow = db.request_log.group_by(
        ["path"],
        having={"duration": {"_avg": {"gt": 20}}},
        sum={"duration": True},
        order_by={"_sum": {"duration": "asc"}},
    )
    assert slow == [{"path": "/songs", "_sum": {"duration": 190}}]
    filtered = db.request_log.group_by(
        ["statusCode"],
        where={"method": "GET"},
        having={"statusCode": {"lt": 500}},
        count=True,
        order_by={"_count": {"statusCode": "desc"}},
        take=1,
    )
    assert filtered == [{"statusCode": 200, "_count": 3}]
    with pytest.raises(strata.ValidationError, match="having filters"):
        db.request_log.group_by(["path"], having={"method": "GET"})
    with pytest.raises(strata.ValidationError, match="no field"):
        db.request_log.group_by(["nope"])


# -- updates ---------------------------------------------------------------------------------


def test_update_values_and_atomic_operations(seed: Seed) -> None:
    db = seed("gpu_marketplace")
    user = db.user.create(data={"qubicAddress": "Q", "balance": Decimal("10")})
    provider = db.provider.create(
        data={
            "workerId": "w",
            "user": {"connect": {"id": user.id}},
            "type": "BROWSER",
            "gpuModel": "4090",
            "gpuVramGb": 24,
            "pricePerHour": Decimal("0.5"),
        }
    )
    updated = db.provider.update(
        where={"id": provider.id},
        data={
            "totalJobs": {"increment": 3},
            "gpuVramGb": {"multiply": 2},
            "uptime": {"set": 99.5},
            "isOnline": True,
            "lastHeartbeat": at(3),
        },
    )
    assert (updated.totalJobs, updated.gpuVramGb, updated.uptime) == (3, 48, 99.5)
    assert updated.isOnline is True
    assert updated.lastHeartbeat == at(3)
    assert updated.updatedAt >= provider.updatedAt
    again = db.provider.update(
        where={"workerId": "w"}, data={"totalJobs": {"decrement": 1}, "gpuVramGb": {"divide": 4}}
    )
    assert (again.totalJobs, again.gpuVramGb) == (2, 12)
    paid = db.user.update(where={"id": user.id}, data={"balance": {"increment": Decimal("2.5")}})
    assert paid.balance == Decimal("12.5")
    with pytest.raises(strata.ValidationError, match="unknown update operation 'push'"):
        db.provider.update(where={"id": provider.id}, data={"totalJobs": {"push": 1}})
    with pytest.raises(strata.ValidationError, match="unknown update operation 'increment'"):
        db.provider.update(where={"id": provider.id}, data={"gpuModel": {"increment": 1}})


def test_update_many_delete_and_delete_many(medianest: strata.Database) -> None:
    db = medianest
    changed = db.media_request.update_many(
        {"status": {"in": ["pending", "approved"]}}, data={"status": "available"}
    )
    assert changed == {"count": 2}
    assert db.media_request.count({"status": "available"}) == 3
    dune = db.media_request.find_first({"title": "Dune"})
    deleted = db.media_request.delete(where={"id": dune.id})
    assert deleted == dune
    assert db.media_request.delete_many({"title": {"in": ["Heat", "Ran"]}}) == {"count": 2}
    assert [r.title for r in db.media_request.find_many()] == ["Alien"]
    with pytest.raises(strata.RecordNotFoundError, match="MediaRequest"):
        db.media_request.delete(where={"id": dune.id})
    with pytest.raises(strata.RecordNotFoundError) as caught:
        db.media_request.update(where={"id": dune.id}, data={"title": "x"})
    assert caught.value.where == {"id": dune.id}


def test_upsert_creates_then_updates(seed: Seed) -> None:
    db = seed("medianest")
    user = db.user.create(data={"plexId": "p", "plexUsername": "u"})
    key = {"userId": user.id, "endpoint": "/api", "windowStart": at(1)}
    where = {"userId_endpoint_windowStart": key}
    first = db.rate_limit.upsert(
        where, create={**key, "requestCount": 1}, update={"requestCount": {"increment": 1}}
    )
    second = db.rate_limit.upsert(
        where, create={**key, "requestCount": 1}, update={"requestCount": {"increment": 1}}
    )
    assert (first.requestCount, second.requestCount) == (1, 2)
    assert first.id == second.id
    assert db.rate_limit.count() == 1


# -- create_many -----------------------------------------------------------------------------


def test_create_many_binds_one_statement_and_skips_duplicates(seed: Seed, backend: Backend) -> None:
    db = seed("music_api")
    seen = statements(db)
    result = db.api_key.create_many([{"key": f"k{n}", "name": f"key {n}"} for n in range(50)])
    assert result == {"count": 50}
    # One INSERT; before it, on SQLite, the first use of the model's DateTime columns
    # detected their stored forms (strata.client.datetimes), one query each for these empty
    # columns. PostgreSQL's timestamp(3) has one native form: nothing to detect.
    detections = [sql for sql in seen if sql.startswith("SELECT CASE")]
    assert len(detections) == (0 if backend.is_postgres else 3)
    assert seen[len(detections) :] == [seen[-1]]
    # SQLite's bulk statements are INSERT OR FAIL (no statement journal; dialects/sqlite).
    head = "INSERT INTO" if backend.is_postgres else "INSERT OR FAIL INTO"
    assert seen[-1].startswith(f'{head} "api_keys"')
    keys = db.api_key.find_many(order_by={"key": "asc"})
    assert all(UUID4.match(k.id) for k in keys)
    assert len({k.id for k in keys}) == 50
    assert keys[0].updatedAt.tzinfo is UTC
    again = db.api_key.create_many(
        [{"key": "k1", "name": "dup"}, {"key": "new", "name": "new"}], skip_duplicates=True
    )
    assert again == {"count": 1}
    with pytest.raises(strata.UniqueConstraintError):
        db.api_key.create_many([{"key": "k2", "name": "dup"}])
    # Records giving different fields become one statement each, in one transaction.
    mixed = db.api_key.create_many(
        [{"key": "m1", "name": "a"}, {"key": "m2", "name": "b", "active": False}]
    )
    assert mixed == {"count": 2}
    assert db.api_key.find_unique(where={"key": "m2"}).active is False


def test_create_many_validates_every_row_before_writing(seed: Seed) -> None:
    db = seed("music_api")
    rows: list[dict[str, Any]] = [{"key": f"k{n}", "name": "x"} for n in range(10)]
    rows[7]["name"] = 7
    wrong = r"ApiKey\.name: expected a str( without NUL characters)?, got int 7"
    with pytest.raises(strata.ValidationError, match=wrong):
        db.api_key.create_many(rows)
    with pytest.raises(strata.ValidationError, match="no field 'nme'"):
        db.api_key.create_many([{"key": "a", "name": "x"}, {"key": "b", "nme": "x"}])
    with pytest.raises(strata.ValidationError, match="list of dicts"):
        db.api_key.create_many({"key": "a"})  # type: ignore[arg-type]
    assert db.api_key.count() == 0


# -- constraint errors -----------------------------------------------------------------------


def test_duplicate_create_raises_p2002_naming_model_and_field(seed: Seed) -> None:
    db = seed("medianest")
    db.user.create(data={"plexId": "same", "plexUsername": "a"})
    with pytest.raises(strata.UniqueConstraintError) as caught:
        db.user.create(data={"plexId": "same", "plexUsername": "b"})
    error = caught.value
    assert error.code == "P2002"
    assert (error.model, error.fields, error.table) == ("User", ["plexId"], "users")
    assert "User" in str(error)
    assert "plexId" in str(error)
    assert db.user.count() == 1


def test_missing_parent_raises_p2003(seed: Seed) -> None:
    db = seed("medianest")
    with pytest.raises(strata.ForeignKeyError) as caught:
        db.media_request.create(data={"userId": "nobody", "title": "t", "mediaType": "movie"})
    assert caught.value.code == "P2003"
    assert db.media_request.count() == 0


# -- nested writes ---------------------------------------------------------------------------


def test_nested_create_connect_and_connect_or_create(seed: Seed) -> None:
    db = seed("video_machine")
    user = db.user.create(
        data={
            "email": "v@x.io",
            "projects": {
                "create": [
                    {
                        "title": "Story",
                        "config": {"style": "noir"},
                        "scenes": {
                            "create": [{"position": 0, "text": "a"}, {"position": 1, "text": "b"}]
                        },
                    }
                ]
            },
        },
        include={"projects": {"include": {"scenes": True}}},
    )
    (project,) = user.projects
    assert project.userId == user.id
    assert project.config == {"style": "noir"}
    assert [s.text for s in project.scenes] == ["a", "b"]
    # The child holds the key: connect a parent, or create it on the way.
    job = db.job.create(
        data={
            "type": "SCENE_SPLIT",
            "config": {},
            "user": {"connect": {"email": "v@x.io"}},
            "project": {"connect": {"id": project.id}},
        },
        include={"project": True},
    )
    assert job.project.id == project.id
    assert job.userId == user.id
    preset = db.preset.create(
        data={
            "name": "default",
            "config": {},
            "user": {
                "connect_or_create": {
                    "where": {"email": "new@x.io"},
                    "create": {"email": "new@x.io"},
                }
            },
        },
        include={"user": True},
    )
    assert preset.user.email == "new@x.io"
    # The parent holds the key of nothing here: connect existing scenes to another project.
    other = db.project.create(
        data={"title": "Other", "config": {}, "user": {"connect": {"id": user.id}}}
    )
    moved = db.project.update(
        where={"id": other.id},
        data={
            "scenes": {
                "connect": [{"projectId_position": {"projectId": project.id, "position": 1}}]
            }
        },
        include={"scenes": True},
    )
    assert [s.text for s in moved.scenes] == ["b"]


def test_nested_write_failure_rolls_back_the_parent(seed: Seed) -> None:
    db = seed("video_machine")
    with pytest.raises(strata.RecordNotFoundError):
        db.project.create(
            data={
                "title": "x",
                "config": {},
                "user": {"create": {"email": "ghost@x.io"}},
                "jobs": {"connect": [{"id": "missing"}]},
            }
        )
    assert db.project.count() == 0
    assert db.user.count() == 0
    with pytest.raises(strata.ValidationError, match="set through"):
        db.project.create(
            data={"title": "x", "config": {}, "userId": "u", "user": {"connect": {"id": "u"}}}
        )


def test_nested_disconnect_and_set(seed: Seed) -> None:
    db = seed("video_machine")
    user = db.user.create(data={"email": "u@x.io"})
    project = db.project.create(data={"title": "p", "config": {}, "userId": user.id})
    job = db.job.create(
        data={"type": "VIDEO_RENDER", "config": {}, "userId": user.id, "projectId": project.id}
    )
    assets = [
        db.asset.create(
            data={
                "userId": user.id,
                "projectId": project.id,
                "jobId": job.id,
                "type": "IMAGE",
                "url": f"u{n}",
                "mimeType": "image/png",
            }
        )
        for n in range(3)
    ]
    kept = db.job.update(
        where={"id": job.id},
        data={"assets": {"disconnect": [{"id": assets[0].id}]}},
        include={"assets": {"order_by": {"url": "asc"}}},
    )
    assert [a.url for a in kept.assets] == ["u1", "u2"]
    replaced = db.job.update(
        where={"id": job.id},
        data={"assets": {"set": [{"id": assets[0].id}]}},
        include={"assets": True},
    )
    assert [a.url for a in replaced.assets] == ["u0"]
    assert db.asset.count({"jobId": None}) == 2
    # A to-one relation this record holds: disconnect clears the key.
    loose = db.asset.update(where={"id": assets[0].id}, data={"job": {"disconnect": True}})
    assert loose.jobId is None
    # Required relations cannot be disconnected.
    with pytest.raises(strata.ValidationError, match="cannot disconnect"):
        db.project.update(where={"id": project.id}, data={"jobs": {"disconnect": [{"id": job.id}]}})
    with pytest.raises(strata.ValidationError, match="is required and cannot be disconnected"):
        db.job.update(where={"id": job.id}, data={"project": {"disconnect": True}})


def test_nested_write_arguments_are_checked(seed: Seed) -> None:
    db = seed("render_manager")
    seen = statements(db)
    with pytest.raises(strata.ValidationError, match="nested operations"):
        db.user.create(data={"email": "x", "jobs": [{"projectPath": "p"}]})
    with pytest.raises(strata.ValidationError, match="nested operations"):
        db.user.create(data={"email": "x", "jobs": {"upsert": {}}})
    assert seen == []
