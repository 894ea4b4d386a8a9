"""PostgreSQL: strata against psycopg 3 and the PostgreSQL tools people use, on one
throwaway server this suite starts for the run (tests/postgres.py's, with its durability
off), each comparison in the same run against the same server.

Ratios, as issue 15 lists them (above 1: strata faster):

* ``find_unique`` by id against psycopg 3 running the same SELECT (prepared): 0.7;
* the same against SQLAlchemy 2's ORM on psycopg 3, ``session.get`` on an open session whose
  identity map was expired (so every get runs its SELECT): 2x;
* ``create_many`` of 20k rows against psycopg 3 ``executemany`` in pipeline mode, in one
  transaction: 1.0x;
* a worker loop over 4k no-op jobs against procrastinate and pgqueuer, each with its own
  worker and defaults (pgqueuer in its drain mode, so that it stops when the queue is empty;
  procrastinate with ``wait=False``): 2x the faster;
* claim 64 + complete 64 with 4 processes against the same SQL through psycopg 3: 1.0;
* a rate-limit hit against the same upsert through psycopg 3 (the statement the dialect
  writes, with the same parameters): 1.0x; reported beside it, a minimal fixed-window upsert
  through psycopg 3 and ``limits`` with its Redis storage on a local ``redis-server``;
* metrics ingest of 1M rows against psycopg 3 ``COPY``: 1.0.

Two engine-level ratios are reported too: a SELECT by primary key through ``query_raw_``,
and ``execute_many_raw_``, each against psycopg 3 doing the same. The absolute figures
(jobs/s, hits/s, rows/s, p99 latency with 4 processes) are printed with the rest.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import queue
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import metrics as metrics_bench
import queue_bench
import ratelimit as ratelimit_bench
import strata
from _harness import Benchmark, Side, Suite, limits_redis, rate_limit_statements
from strata.dialects.postgresql import PostgresDialect

# The tests' throwaway server (tests/postgres.py), imported rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from postgres import PostgresServer, find_bindir

USERS = 2_000
SELECT = 'SELECT "id", "email", "name" FROM "User" WHERE "id" = '
INSERT_USER = 'INSERT INTO "User" ("id", "email", "name") VALUES '
USER_SCHEMA = """datasource db {
  provider = "postgresql"
}

model User {
  id    Int    @id
  email String @unique
  name  String
}
"""
BATCH = 64


def _postgresql(schema: str) -> str:
    return schema.replace('provider = "sqlite"', 'provider = "postgresql"')


# -- the server, and a database per benchmark ------------------------------------------------

_server: PostgresServer | None = None


def _the_server() -> PostgresServer:
    global _server
    if _server is None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are not installed (`make system-deps`)"
            )
        server = PostgresServer(bindir)
        server.start()
        atexit.register(server.stop)
        _server = server
    return _server


@contextmanager
def _database(hint: str) -> Iterator[str]:
    server = _the_server()
    name = server.create_database(hint)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@contextmanager
def _connected(url: str, schema: str, tmp: Path) -> Iterator[strata.Database]:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "schema.prisma"
    path.write_text(schema)
    db = strata.connect(url, schema=path)
    try:
        db.migrate_.push()
        yield db
    finally:
        db.close_()


# -- find_unique and the engine's SELECT by primary key ---------------------------------------


def _seed_users(conn: psycopg.Connection[Any]) -> None:
    with conn.cursor() as cur:
        cur.execute('TRUNCATE "User"')
        cur.execute(
            INSERT_USER.replace("VALUES ", "")
            + "SELECT g, 'user' || g || '@x.io', 'User ' || g FROM generate_series(1, %s) g",
            (USERS,),
        )


def _psycopg_select(conn: psycopg.Connection[Any]) -> Side:
    sql = SELECT + "%s"

    def run(n: int) -> None:
        with conn.cursor() as cur:
            for i in range(n):
                cur.execute(sql, (i % USERS + 1,), prepare=True)
                cur.fetchone()

    return Side(run)


def _users(client_side: Callable[[strata.Database], Side]) -> Callable[[Path], Any]:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with (
            _database("users") as url,
            _connected(url, USER_SCHEMA, tmp) as db,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            _seed_users(conn)
            yield client_side(db), _psycopg_select(conn)

    return setup


def _raw_select(db: strata.Database) -> Side:
    query, sql = db.query_raw_, SELECT + "$1"

    def run(n: int) -> None:
        for i in range(n):
            query(sql, i % USERS + 1, as_tuples=True)

    return Side(run)


def _find_unique(db: strata.Database) -> Side:
    find = db.user.find_unique

    def run(n: int) -> None:
        for i in range(n):
            find(where={"id": i % USERS + 1})

    return Side(run)


class _Base(DeclarativeBase):
    pass


class _User(_Base):
    """The same table as strata's User model, mapped for SQLAlchemy's ORM."""

    __tablename__ = "User"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    name: Mapped[str]


@contextmanager
def _vs_sqlalchemy(tmp: Path) -> Iterator[tuple[Side, Side]]:
    with (
        _database("sqlalchemy") as url,
        _connected(url, USER_SCHEMA, tmp) as db,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        _seed_users(conn)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        session = Session(engine)
        # Held, so the identity map (weak references) keeps every object; expired before
        # each sample, so that each get runs its SELECT as on a long-lived session.
        loaded = session.query(_User).all()

        def run(n: int) -> None:
            get = session.get
            for i in range(n):
                get(_User, i % USERS + 1)

        try:
            yield _find_unique(db), Side(run, session.expire_all)
        finally:
            del loaded
            session.close()
            engine.dispose()


# -- create_many and execute_many ------------------------------------------------------------


def _user_rows(n: int) -> list[tuple[int, str, str]]:
    return [(i, f"user{i}@x.io", f"User {i}") for i in range(1, n + 1)]


def _psycopg_pipeline(conn: psycopg.Connection[Any], rows: list[tuple[int, str, str]]) -> Side:
    sql = INSERT_USER + "(%s, %s, %s)"

    def run(_: int) -> None:
        with conn.transaction(), conn.pipeline(), conn.cursor() as cur:
            cur.executemany(sql, rows)

    return Side(run, lambda: conn.execute('TRUNCATE "User"'))


def _inserts(kind: str, size: int) -> Callable[[Path], Any]:
    rows = _user_rows(size)
    data = [{"id": i, "email": e, "name": n} for i, e, n in rows]

    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with (
            _database(kind) as url,
            _connected(url, USER_SCHEMA, tmp) as db,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            if kind == "client":

                def run(_: int) -> None:
                    db.user.create_many(data=data)

            else:
                sql = INSERT_USER + "($1, $2, $3)"

                def run(_: int) -> None:
                    db.execute_many_raw_(sql, rows)

            truncate = lambda: db.execute_raw_('TRUNCATE "User"')  # noqa: E731
            yield Side(run, truncate), _psycopg_pipeline(conn, rows)

    return setup


# -- the queue: a worker loop, and claims from 4 processes -----------------------------------

JOB_SCHEMA = _postgresql(queue_bench.SCHEMA)
FILL = (
    'INSERT INTO "Job" ("payload", "priority") '
    "SELECT 'render shot ' || g, g %% 5 FROM generate_series(1, %s) g"
)


def _fill_jobs(url: str, n: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('TRUNCATE "Job"')
        conn.execute(FILL, (n,))


def _psycopg_statements(url: str, schema: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The recovery, claim and complete_many statements strata's queue runs on this binding,
    in psycopg's placeholders, and the binding's constants."""
    db = strata.connect(url, schema=schema)
    try:
        binding = db.queue_("Job", **queue_bench.BINDING)._binding
        named = {
            "recover": binding.recover_sql(),
            "claim": binding.claim_sql(),
            "complete": binding.complete_many_sql([]),
        }
        constants = {name.lstrip(":"): value for name, value in binding.constants.items()}
    finally:
        db.close_()
    # :name -> %(name)s, leaving PostgreSQL's :: casts alone.
    placeholder = re.compile(r"(?<!:):([A-Za-z_]\w*)")
    return {
        key: placeholder.sub(r"%(\1)s", sql.replace("%", "%%")) for key, sql in named.items()
    }, constants


def _psycopg_claimer(url: str, schema: str, ready: Any, start: Any, results: Any) -> None:
    """One process: strata's own statements through psycopg, as strata runs them: a claim
    of 64 (after the recovery of expired leases, in one transaction, at most once a second)
    and one complete_many, until no job is left."""
    sql, constants = _psycopg_statements(url, schema)
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        worker = f"w{multiprocessing.current_process().pid}"
        latencies: list[int] = []
        done = 0
        recovered_at = 0.0
        ready.release()
        start.wait()
        while True:
            began = time.perf_counter_ns()
            now = datetime.now(UTC).replace(tzinfo=None)
            params = {
                **constants,
                "now": now,
                "expires": now + timedelta(seconds=300),
                "retry_at": now,
                "worker": worker,
                "limit": BATCH,
            }
            if time.monotonic() - recovered_at >= 1:
                with conn.transaction():
                    cur.execute(sql["recover"], params, prepare=True)
                    cur.execute(sql["claim"], params, prepare=True)
                    claimed = cur.fetchall()
                recovered_at = time.monotonic()
            else:
                cur.execute(sql["claim"], params, prepare=True)
                claimed = cur.fetchall()
            latencies.append(time.perf_counter_ns() - began)
            if not claimed:
                break
            token_at = [column.name for column in cur.description or ()].index("leaseToken")
            ids, tokens = [row[0] for row in claimed], [row[token_at] for row in claimed]
            cur.execute(sql["complete"], {**constants, "ids": ids, "tokens": tokens}, prepare=True)
            done += len(cur.fetchall())
        results.put((done, latencies))


def _strata_claimer(url: str, schema: str, ready: Any, start: Any, results: Any) -> None:
    """One process: the same through strata's queue, on connections of its own."""
    db = strata.connect(url, schema=schema)
    q = db.queue_("Job", **queue_bench.BINDING)
    worker = f"w{multiprocessing.current_process().pid}"
    latencies: list[int] = []
    done = 0
    ready.release()
    start.wait()
    while True:
        began = time.perf_counter_ns()
        claims = q.claim(worker, limit=BATCH)
        latencies.append(time.perf_counter_ns() - began)
        if not claims:
            break
        q.complete_many(claims)
        done += len(claims)
    db.close_()
    results.put((done, latencies))


class _Crew:
    """Four processes, started and connected before a sample (untimed), released at its
    start; each claims 64 and completes them until the queue is empty."""

    def __init__(self, url: str, schema: Path, target: Callable[..., None]) -> None:
        self.url, self.schema, self.target = url, str(schema), target
        self.context = multiprocessing.get_context("spawn")
        self.latencies: list[int] = []

    def prepare(self, size: int, processes: int = 4) -> None:
        _fill_jobs(self.url, size)
        self.ready, self.start = self.context.Semaphore(0), self.context.Event()
        self.results = self.context.Queue()
        args = (self.url, self.schema, self.ready, self.start, self.results)
        self.workers = [
            self.context.Process(target=self.target, args=args) for _ in range(processes)
        ]
        for worker in self.workers:
            worker.start()
        for _ in self.workers:
            self.ready.acquire()

    def run(self, size: int) -> None:
        self.start.set()
        outcomes = []
        while len(outcomes) < len(self.workers):
            try:
                outcomes.append(self.results.get(timeout=1))
            except queue.Empty:
                # A worker that died cannot report: stop waiting for it.
                dead = [w.exitcode for w in self.workers if w.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a claiming process died (exit code {dead[0]})") from None
        for worker in self.workers:
            worker.join()
        if sum(done for done, _ in outcomes) != size:
            raise AssertionError("jobs were lost or completed twice")
        self.latencies += [latency for _, part in outcomes for latency in part]

    def figures(self, size: int) -> tuple[float, float]:
        """Jobs per second of one sample, and the p99 claim latency in µs."""
        self.prepare(size)
        began = time.perf_counter()
        self.run(size)
        seconds = time.perf_counter() - began
        latencies = sorted(self.latencies)
        return size / seconds, latencies[int(len(latencies) * 0.99)] / 1e3


def _four_processes(size: int) -> Callable[[Path], Any]:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with _database("claims") as url, _connected(url, JOB_SCHEMA, tmp):
            sides = []
            for target in (_strata_claimer, _psycopg_claimer):
                crew = _Crew(url, tmp / "schema.prisma", target)
                sides.append(Side(crew.run, lambda crew=crew: crew.prepare(size)))
            yield sides[0], sides[1]

    return setup


class _Procrastinate:
    """procrastinate with its defaults: a no-op task, its schema installed once; ``fill``
    defers jobs (untimed), ``work`` runs its worker until the queue is empty."""

    def __init__(self, url: str) -> None:
        import procrastinate

        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

        @self.app.task(name="noop")
        def noop() -> None:
            return None

        self.task = noop
        with self.app.open():
            self.app.schema_manager.apply_schema()

    def fill(self, n: int) -> None:
        with self.app.open():
            self.task.batch_defer(*({} for _ in range(n)))

    def work(self, _: int) -> None:
        self.app.run_worker(wait=False)


class _PgQueuer:
    """pgqueuer with its defaults, on psycopg 3: a no-op entrypoint, its tables installed
    once; ``work`` runs a queue manager in its drain mode, which stops once the queue is
    empty (its default mode never does)."""

    def __init__(self, url: str) -> None:
        self.url = url
        asyncio.run(self._session(lambda queries: queries.install()))

    async def _session(self, use: Callable[[Any], Any]) -> None:
        from pgqueuer.db import PsycopgDriver
        from pgqueuer.queries import Queries

        connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        async with connection:
            await use(Queries(PsycopgDriver(connection)))

    def fill(self, n: int) -> None:
        asyncio.run(self._session(lambda q: q.enqueue(["noop"] * n, [None] * n, [0] * n)))

    def work(self, _: int) -> None:
        from pgqueuer.qm import QueueManager
        from pgqueuer.types import QueueExecutionMode

        async def drain(queries: Any) -> None:
            manager = QueueManager(queries)

            @manager.entrypoint("noop")
            async def noop(job: Any) -> None:
                return None

            await manager.run(mode=QueueExecutionMode.drain)

        asyncio.run(self._session(drain))


_PEERS: dict[str, Callable[[str], Any]] = {
    "procrastinate": _Procrastinate,
    "pgqueuer": _PgQueuer,
}


def _peer_jobs_per_s(peer: str, url: str, n: int) -> float:
    worker = _PEERS[peer](url)
    worker.fill(n)
    began = time.perf_counter()
    worker.work(n)
    return n / (time.perf_counter() - began)


def _strata_worker(size: int, peer: str) -> Callable[[Path], Any]:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with (
            _database("worker") as url,
            _connected(url, JOB_SCHEMA, tmp) as db,
            _database(peer) as peer_url,
        ):
            q = db.queue_("Job", **queue_bench.BINDING)
            jobs = queue_bench._jobs(size)

            def run(_: int) -> None:
                q.run(lambda claim: None, worker="w", exit_when_idle=True)

            def refill() -> None:
                db.execute_raw_('DELETE FROM "Job"')
                q.enqueue_many(jobs)

            other = _PEERS[peer](peer_url)
            yield Side(run, refill), Side(other.work, lambda: other.fill(size))

    return setup


# -- the rate limiter ------------------------------------------------------------------------

RATE_SCHEMA = _postgresql(ratelimit_bench.SCHEMA)
#: A fixed-window upsert with the window computed by the caller: less than strata's statement
#: does (the server's clock, the guard against a clock stepping back, the sliding window's
#: previous count, the snapshot for a denial's report); reported, not a target.
MINIMAL_UPSERT = (
    'INSERT INTO "RateLimit" ("id", "userId", "endpoint", "requestCount", "windowStart") '
    "VALUES (gen_random_uuid()::text, %s, %s, 1, %s) "
    'ON CONFLICT ("userId", "endpoint", "windowStart") DO UPDATE '
    'SET "requestCount" = "RateLimit"."requestCount" + 1 '
    'WHERE "RateLimit"."requestCount" < %s RETURNING "requestCount"'
)
WINDOW = datetime(2026, 11, 22, 9, 30)


def _strata_upsert() -> str:
    """The statement strata's limiter runs per hit on this schema, from the dialect, in
    psycopg's placeholders."""
    statements = rate_limit_statements(PostgresDialect())
    return re.sub(r"\$(\d+)", r"%(p\1)s", statements["upsert"].replace("%", "%%"))


def _psycopg_hits(conn: psycopg.Connection[Any], *, minimal: bool) -> Side:
    sql = MINIMAL_UPSERT if minimal else _strata_upsert()
    fixed = ("user-42", "/api/media", ratelimit_bench.NOW_NS, 1, ratelimit_bench.BIG)
    window_ns = 60 * 10**9

    def run(n: int) -> None:
        with conn.cursor() as cur:
            for _ in range(n):
                if minimal:
                    args: Any = ("user-42", "/api/media", WINDOW, ratelimit_bench.BIG)
                else:
                    # The same parameters the core binds: key, clock, cost, limit, window,
                    # sliding, a fresh id.
                    values = (*fixed, window_ns, False, str(uuid.uuid4()))
                    args = {f"p{i}": value for i, value in enumerate(values, 1)}
                cur.execute(sql, args, prepare=True)
                cur.fetchone()

    return Side(run, lambda: conn.execute('DELETE FROM "RateLimit"'))


def _vs_upsert(minimal: bool) -> Callable[[Path], Any]:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with (
            _database("ratelimit") as url,
            _connected(url, RATE_SCHEMA, tmp) as db,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            rl = ratelimit_bench._bind(db)
            hit = rl.hit

            def run(n: int) -> None:
                for _ in range(n):
                    hit("user-42", "/api/media", limit=ratelimit_bench.BIG, window=60)

            # The SQLite suite's reset also checkpoints the WAL, which a server does not need.
            reset = lambda: rl.reset("user-42", "/api/media")  # noqa: E731
            yield Side(run, reset), _psycopg_hits(conn, minimal=minimal)

    return setup


def _psycopg_hits_per_s(url: str, tmp: Path, n: int) -> float:
    with _connected(url, RATE_SCHEMA, tmp), psycopg.connect(url, autocommit=True) as conn:
        side = _psycopg_hits(conn, minimal=False)
        side.run(100)
        began = time.perf_counter()
        side.run(n)
        return n / (time.perf_counter() - began)


def _limits_redis_hits_per_s(n: int) -> float:
    with limits_redis("fixed", ratelimit_bench.BIG, ("user-42", "/api/media")) as side:
        side.run(100)
        began = time.perf_counter()
        side.run(n)
        return n / (time.perf_counter() - began)


# -- metrics ingest --------------------------------------------------------------------------

METRIC_SCHEMA = _postgresql(metrics_bench.SCHEMA)
COPY = (
    'COPY "Metric" ("providerId", "timestamp", '
    + ", ".join(f'"{v}"' for v in metrics_bench.VALUES)
    + ") FROM STDIN (FORMAT BINARY)"
)


def _metric_rows(n: int) -> tuple[dict[str, list[Any]], list[tuple[Any, ...]]]:
    columns = metrics_bench._columns(n)
    naive = [t.replace(tzinfo=None) for t in columns["timestamp"]]
    values = [columns[v] for v in metrics_bench.VALUES]
    return columns, list(zip(columns["providerId"], naive, *values, strict=True))


def _copy_side(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> Side:
    types = ["text", "timestamp", *["float8"] * len(metrics_bench.VALUES)]

    def run(_: int) -> None:
        with conn.cursor() as cur, cur.copy(COPY) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    return Side(run, lambda: conn.execute('TRUNCATE "Metric"'))


def _copy_rows_per_s(url: str, tmp: Path, n: int) -> float:
    _, rows = _metric_rows(n)
    with _connected(url, METRIC_SCHEMA, tmp), psycopg.connect(url, autocommit=True) as conn:
        side = _copy_side(conn, rows)
        side.reset()
        began = time.perf_counter()
        side.run(n)
        return n / (time.perf_counter() - began)


def _vs_copy(size: int) -> Callable[[Path], Any]:
    columns, rows = _metric_rows(size)

    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with (
            _database("metrics") as url,
            _connected(url, METRIC_SCHEMA, tmp) as db,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            m = db.metrics_("Metric", series="providerId", time="timestamp")
            mine = Side(lambda _: m.ingest(columns), lambda: db.execute_raw_('TRUNCATE "Metric"'))
            yield mine, _copy_side(conn, rows)

    return setup


# -- the suite -------------------------------------------------------------------------------


def _sizes(quick: bool) -> dict[str, int]:
    return {
        "select": 300 if quick else 2_000,
        "rounds": 5 if quick else 15,
        "insert": 2_000 if quick else 20_000,
        "jobs": 1_000 if quick else 4_000,
        "claims": 4_096 if quick else 20_480,
        "hits": 1_000 if quick else 10_000,
        "ingest": 100_000 if quick else 1_000_000,
    }


def benchmarks(quick: bool) -> list[Benchmark]:
    size = _sizes(quick)
    rounds = size["rounds"]
    found: list[Benchmark] = [
        Benchmark(
            name="engine_select_by_pk_vs_psycopg",
            label="query_raw_ SELECT by id (vs psycopg 3, prepared)",
            unit="call",
            size=size["select"],
            rounds=rounds,
            setup=_users(_raw_select),
            target=None,
        ),
        Benchmark(
            name="engine_execute_many_vs_psycopg_pipeline",
            label=f"execute_many_raw_ {size['insert']:,} rows (vs psycopg 3 pipeline executemany)",
            unit="row",
            size=size["insert"],
            rounds=max(3, rounds // 3),
            setup=_inserts("engine", size["insert"]),
            target=None,
        ),
    ]
    found += [
        Benchmark(
            name="find_unique_vs_psycopg",
            label="find_unique by id (vs psycopg 3, the same SELECT)",
            unit="call", size=size["select"], rounds=rounds,
            setup=_users(_find_unique), target=0.7,
        ),
        Benchmark(
            name="find_unique_vs_sqlalchemy",
            label="find_unique by id (vs SQLAlchemy 2 ORM session.get, expired)",
            unit="call", size=size["select"], rounds=rounds,
            setup=_vs_sqlalchemy, target=2.0,
        ),
        Benchmark(
            name="create_many_vs_psycopg_pipeline",
            label=f"create_many {size['insert']:,} rows (vs psycopg 3 pipeline executemany)",
            unit="row", size=size["insert"], rounds=max(3, rounds // 3),
            setup=_inserts("client", size["insert"]), target=1.0,
        ),
        Benchmark(
            name="worker_vs_procrastinate",
            label=f"worker loop, {size['jobs']:,} no-op jobs (vs procrastinate)",
            unit="job", size=size["jobs"], rounds=3,
            setup=_strata_worker(size["jobs"], "procrastinate"), target=2.0,
        ),
        Benchmark(
            name="worker_vs_pgqueuer",
            label=f"worker loop, {size['jobs']:,} no-op jobs (vs pgqueuer)",
            unit="job", size=size["jobs"], rounds=3,
            setup=_strata_worker(size["jobs"], "pgqueuer"), target=2.0,
        ),
        Benchmark(
            name="claim_complete_four_processes_vs_psycopg",
            label="claim 64 + complete 64, 4 processes (vs the same SQL through psycopg 3)",
            unit="job", size=size["claims"], rounds=3,
            setup=_four_processes(size["claims"]), target=1.0,
        ),
        Benchmark(
            name="ratelimit_hit_vs_psycopg",
            label="rate-limit hit (vs the same upsert through psycopg 3)",
            unit="hit", size=size["hits"], rounds=rounds,
            setup=_vs_upsert(minimal=False), target=1.0,
        ),
        Benchmark(
            name="ratelimit_hit_vs_minimal_upsert",
            label="rate-limit hit (vs a minimal fixed-window upsert, client's window)",
            unit="hit", size=size["hits"], rounds=rounds,
            setup=_vs_upsert(minimal=True), target=None,
        ),
        Benchmark(
            name="metrics_ingest_vs_copy",
            label=f"metrics ingest {size['ingest']:,} rows (vs psycopg 3 binary COPY)",
            unit="row", size=size["ingest"], rounds=3,
            setup=_vs_copy(size["ingest"]), target=1.0,
        ),
    ]  # fmt: skip
    return found


def extras(quick: bool) -> dict[str, float]:
    """The absolute figures: the baselines' and strata's."""
    size = _sizes(quick)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as folder:
        tmp = Path(folder)
        with _database("jobs") as url, _connected(url, JOB_SCHEMA, tmp / "jobs"):
            crews = {"psycopg": _psycopg_claimer, "strata": _strata_claimer}
            for name, target in crews.items():
                crew = _Crew(url, tmp / "jobs" / "schema.prisma", target)
                rate, p99 = crew.figures(size["claims"])
                figures[f"{name}_claim64_4proc_jobs_per_s"] = rate
                figures[f"{name}_claim64_4proc_p99_us"] = p99
        for peer in _PEERS:
            with _database(peer) as url:
                figures[f"{peer}_worker_jobs_per_s"] = _peer_jobs_per_s(peer, url, size["jobs"])
        with _database("upsert") as url:
            figures["psycopg_upsert_hits_per_s"] = _psycopg_hits_per_s(
                url, tmp / "rl", size["hits"]
            )
        figures["limits_redis_hits_per_s"] = _limits_redis_hits_per_s(size["hits"])
        with _database("copy") as url:
            figures["psycopg_copy_rows_per_s"] = _copy_rows_per_s(url, tmp / "copy", size["ingest"])
        figures |= _strata_queue_figures(tmp, size)
    return figures


def _strata_queue_figures(tmp: Path, size: dict[str, int]) -> dict[str, float]:
    """strata's worker loop and batched claims, with the same job counts as the peers."""
    with _database("strata_jobs") as url, _connected(url, JOB_SCHEMA, tmp / "strata") as db:
        q = db.queue_("Job", **queue_bench.BINDING)
        q.enqueue_many(queue_bench._jobs(size["jobs"]))
        began = time.perf_counter()
        q.run(lambda claim: None, worker="w", exit_when_idle=True)
        worker = size["jobs"] / (time.perf_counter() - began)
        q.enqueue_many(queue_bench._jobs(size["claims"]))
        began = time.perf_counter()
        while claims := q.claim("w", limit=BATCH):
            q.complete_many(claims)
        batched = size["claims"] / (time.perf_counter() - began)
    return {"strata_worker_jobs_per_s": worker, "strata_claim64_1proc_jobs_per_s": batched}


SUITE = Suite(name="postgres", baseline="peer", benchmarks=benchmarks, extras=extras)
