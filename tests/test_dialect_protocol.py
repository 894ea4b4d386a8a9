"""The dialect protocol's second implementer, as a sketch: a PostgreSQL-named dialect built
only from the protocol, proving that the migrator, the client, the queue, the rate limiter
and metrics reach the database through the dialect they are handed and the engine, and
through nothing else.

The sketch answers every call with the SQLite dialect's answer (the engine under the test is
SQLite) and records the call and every string it returned. The layers are put together by
hand, without the `strata.Database` facade, each given the sketch. Every statement the
engine reports running (``on_("query")``) must then be text the sketch produced; the
statements the core runs itself (claims, hits, aggregation) are handed to it when a feature
is bound, and the sketch must have been asked for them. With tests/test_architecture.py
(no SQL text outside `strata.dialects`, no layer naming a concrete dialect) that leaves no
other way to the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from strata import ratelimit
from strata.client import Client
from strata.dialects.base import Dialect
from strata.dialects.sqlite import SqliteDialect
from strata.engine import Engine
from strata.events import QueryEvent
from strata.metrics import Metrics
from strata.migrate.commands import Migrator
from strata.queue import Queue
from strata.schema import load_schema_file
from support import job

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "render_manager.prisma"

#: The parts of a dialect, as the protocol lists them.
PARTS = sorted(
    name
    for name, member in vars(Dialect).items()
    if isinstance(member, property) and name != "provider"
)


def _strings(value: object) -> Iterator[str]:
    """Every string in a returned value: statements come back alone, in lists, tuples,
    dicts (a spec of statements) and small records."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            yield from _strings(getattr(value, name))


class _RecordedPart:
    """One part of another dialect, every call recorded with what it returned."""

    def __init__(self, part: object, name: str, sketch: SketchPostgresDialect) -> None:
        self._part = part
        self._name = name
        self._sketch = sketch

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._part, attribute)
        if not callable(value) or isinstance(value, type):
            return value

        def recorded(*args: Any, **kwargs: Any) -> Any:
            # A part may run statements itself on the engine it is given (introspection):
            # those are the dialect's too.
            self._sketch.inside += 1
            try:
                result = value(*args, **kwargs)
            finally:
                self._sketch.inside -= 1
            if isinstance(result, Iterator):  # a generator of statements: read it once here
                result = list(result)
            self._sketch.calls.append((self._name, attribute))
            self._sketch.produced.update(_strings(result))
            return result

        return recorded


class SketchPostgresDialect:
    """A dialect made only of the protocol's parts (see the module docstring)."""

    provider = "postgresql"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.produced: set[str] = set()
        self.inside = 0
        answers = SqliteDialect()
        for part in PARTS:
            setattr(self, part, _RecordedPart(getattr(answers, part), part, self))

    def asked(self, part: str) -> set[str]:
        return {name for called_part, name in self.calls if called_part == part}


@pytest.fixture
def sketch() -> SketchPostgresDialect:
    return SketchPostgresDialect()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine.open_(tmp_path / "render.db") as opened:
        yield opened


@pytest.fixture
def ran(engine: Engine, sketch: SketchPostgresDialect) -> list[tuple[str, str]]:
    """The statements the engine reports running outside a call into the sketch, with the
    entry point that ran each."""
    statements: list[tuple[str, str]] = []

    def seen(event: QueryEvent) -> None:
        if not sketch.inside:
            statements.append((event.query, event.target))

    engine.on_("query", seen)
    return statements


@pytest.fixture
def client(engine: Engine, sketch: SketchPostgresDialect, ran: list[tuple[str, str]]) -> Client:
    Migrator(engine, SCHEMA, dialect=sketch).push()  # type: ignore[arg-type]
    built = Client(engine, load_schema_file(SCHEMA), sketch)  # type: ignore[arg-type]
    built.repository("User").create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    return built


def _made_of(sql: str, pieces: set[str]) -> bool:
    """Whether ``sql`` is a concatenation of ``pieces``: the core assembles a bulk insert
    from the pieces its dialect gave (`strata.dialects.base.BulkInsertSql`)."""
    reachable = [True] + [False] * len(sql)
    for start in range(len(sql)):
        if reachable[start]:
            for piece in pieces:
                if piece and sql.startswith(piece, start):
                    reachable[start + len(piece)] = True
    return reachable[len(sql)]


def _only_from(sketch: SketchPostgresDialect, ran: list[tuple[str, str]]) -> None:
    foreign = [
        sql
        for sql, target in ran
        if sql not in sketch.produced
        and not (target == "bulk_insert" and _made_of(sql, sketch.produced))
    ]
    assert ran
    assert foreign == []


def test_the_sketch_implements_every_part_of_the_protocol(sketch: SketchPostgresDialect) -> None:
    assert {"codecs", "ddl", "query", "queue", "ratelimit", "metrics"} <= set(PARTS)
    for part in PARTS:
        assert isinstance(getattr(sketch, part), _RecordedPart)


def test_the_migrator_writes_and_reads_the_schema_through_the_dialect(
    engine: Engine, sketch: SketchPostgresDialect, ran: list[tuple[str, str]]
) -> None:
    migrator = Migrator(engine, SCHEMA, dialect=sketch)  # type: ignore[arg-type]
    migrator.push()
    assert "render_script" in sketch.asked("ddl")
    assert "introspect" in sketch.asked("introspection")
    assert {table.name for table in migrator.live().tables} >= {"Job", "User", "RateLimit"}
    _only_from(sketch, ran)


def test_the_client_runs_only_statements_the_dialect_wrote(
    client: Client, sketch: SketchPostgresDialect, ran: list[tuple[str, str]]
) -> None:
    users, jobs = client.repository("User"), client.repository("Job")
    created = jobs.create(data=job(priority=3))
    jobs.create_many(data=[job(priority=p) for p in (1, 2)])
    found = jobs.find_many(
        where={"priority": {"gte": 2}, "projectPath": {"contains": "A.AEP", "mode": "insensitive"}},
        order_by={"priority": "desc"},
        include={"user": True},
        take=5,
    )
    assert [j.priority for j in found] == [3, 2]
    assert found[0].user.email == "a@x.io"
    jobs.update(where={"id": created.id}, data={"priority": {"increment": 1}})
    assert jobs.count(where={"priority": 4}) == 1
    assert jobs.aggregate(max={"priority": True})["_max"]["priority"] == 4
    jobs.delete_many(where={"priority": 1})
    assert users.find_unique_or_raise(where={"id": "u1"}, include={"jobs": True}).jobs
    assert "build_codecs" in sketch.asked("codecs")
    assert {"query"} <= {part for part, _ in sketch.calls}
    _only_from(sketch, ran)


def test_the_queue_is_bound_with_statements_the_dialect_wrote(
    client: Client, sketch: SketchPostgresDialect, ran: list[tuple[str, str]]
) -> None:
    queue = Queue(
        client,
        "Job",
        ready={"status": "QUEUED"},
        claimed={"status": "RENDERING"},
        done={"status": "COMPLETED"},
        failed={"status": "FAILED"},
        order_by=[{"priority": "desc"}, {"submittedAt": "asc"}],
        lease=timedelta(seconds=30),
    )
    assert {"claim_sql", "recover_sql", "fenced_sql", "changes_sql"} <= sketch.asked("queue")
    queue.enqueue(job(priority=5))
    (claim,) = queue.claim("w1")
    queue.complete(claim)
    assert (
        client.repository("Job").find_unique_or_raise(where={"id": claim.id}).status == "COMPLETED"
    )
    _only_from(sketch, ran)


def test_the_rate_limiter_is_bound_with_statements_the_dialect_wrote(
    client: Client, sketch: SketchPostgresDialect
) -> None:
    limiter = ratelimit.bind(
        client,
        "RateLimit",
        key=["clientName", "endpoint"],
        count="requestCount",
        window_start="windowStart",
    )
    assert "window_statements" in sketch.asked("ratelimit")
    decisions = [limiter.hit("c", "/jobs", limit=2, window=60).allowed for _ in range(3)]
    assert decisions == [True, True, False]


def test_metrics_ingest_and_aggregate_with_statements_the_dialect_wrote(
    client: Client, sketch: SketchPostgresDialect, ran: list[tuple[str, str]]
) -> None:
    metrics = Metrics(client, "NodeMetric", series="node", time="timestamp")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    metrics.ingest(
        [
            {
                "node": "n1",
                "timestamp": start + timedelta(seconds=s),
                "gpuUsage": s,
                "gpuTemp": 60.0,
                "cpuUsage": 0.5,
            }
            for s in range(120)
        ]
    )
    rows = metrics.aggregate(every="1m", values=["gpuUsage"], stats=["count", "max"])
    assert [row["gpuUsage_count"] for row in rows] == [60, 60]
    assert "source_sql" in sketch.asked("metrics")
    _only_from(sketch, ran)


def test_a_statement_is_made_of_pieces_only_when_every_character_is() -> None:
    pieces = {"INSERT INTO t (a) VALUES ", "(?)", ", "}
    assert _made_of("INSERT INTO t (a) VALUES (?), (?)", pieces)
    assert not _made_of("INSERT INTO t (a) VALUES (?), (?) ON CONFLICT DO NOTHING", pieces)


def test_a_recorded_part_passes_values_through() -> None:
    sketch = SketchPostgresDialect()
    quote: Callable[[str], str] = sketch.ddl.quote  # type: ignore[attr-defined]
    assert quote('a"b') == '"a""b"'
    assert sketch.calls == [("ddl", "quote")]
    assert sketch.produced == {'"a""b"'}
