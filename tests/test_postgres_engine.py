"""The core's PostgreSQL engine on a real server (tests/postgres.py starts one per session):
values both ways, transactions, errors, broken connections, threads, ``?schema=``."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from strata.config import resolve
from strata.engine import Engine
from strata.errors import (
    ClosedError,
    ConfigurationError,
    ConnectionLostError,
    DatabaseError,
    ForeignKeyError,
    NullConstraintError,
    OpenError,
    ParameterError,
    PoolTimeoutError,
    SerializationError,
    SqlError,
    TransactionError,
    UniqueConstraintError,
    ValidationError,
)


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = Engine.open_(pg_url)
    yield engine
    engine.close_()


def one(engine: Engine, sql: str, *params: Any) -> Any:
    return engine.query_raw_(sql, *params, as_tuples=True)[0][0]


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("boolean", True),
        ("smallint", -32768),
        ("integer", 2_147_483_647),
        ("bigint", -(2**63)),
        ("real", 1.5),
        ("double precision", 0.1),
        ("numeric(20,4)", Decimal("-12345678.9012")),
        ("numeric", Decimal("0.000000000000000000001")),
        ("numeric", Decimal("123456789012345678901234567890")),
        ("text", 'héllo, "world" {}\\'),
        ("varchar(10)", "short"),
        ("bytea", b"\x00\x01\xfe\xff"),
        ("timestamptz(6)", datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
        ("timestamp(3)", datetime(1999, 12, 31, 23, 59, 59, 123000)),
        ("date", date(1970, 1, 1)),
        ("date", date(2000, 1, 1)),
        ("time", time(13, 14, 15, 161718)),
        ("jsonb", {"a": [1, 2.5, None, True], "b": {"c": "d"}}),
        ("json", [1, "two", {"three": 3}]),
        ("text[]", ["a", "b,c", 'quote"d', "back\\slash", None, ""]),
        ("integer[]", [1, None, 3]),
        ("timestamptz[]", [datetime(2020, 1, 1, tzinfo=UTC)]),
    ],
)
def test_every_value_type_round_trips(pg: Engine, column: str, value: Any) -> None:
    pg.execute_script_(f"CREATE TABLE v (x {column})")
    assert pg.execute_raw_("INSERT INTO v (x) VALUES ($1)", value) == 1
    assert one(pg, "SELECT x FROM v") == value
    # The value binds as a comparison operand too (json has no `=`: compare texts).
    assert one(pg, f"SELECT count(*) FROM v WHERE x::text = ($1::{column})::text", value) == 1


def test_null_round_trips_for_any_type(pg: Engine) -> None:
    pg.execute_script_("CREATE TABLE v (a int, b jsonb, c timestamptz, d text[])")
    pg.execute_raw_("INSERT INTO v VALUES ($1, $2, $3, $4)", None, None, None, None)
    assert pg.query_raw_("SELECT * FROM v") == [{"a": None, "b": None, "c": None, "d": None}]


def test_aware_datetimes_are_stored_as_utc_in_timestamp_columns(pg: Engine) -> None:
    """A `timestamp` column (Prisma's DateTime) holds UTC: an aware datetime is converted,
    not stripped of its offset."""
    pg.execute_script_("CREATE TABLE v (plain timestamp(3), zoned timestamptz(3))")
    berlin = datetime(2024, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    pg.execute_raw_("INSERT INTO v VALUES ($1, $2)", berlin, berlin)
    plain, zoned = pg.query_raw_("SELECT plain, zoned FROM v", as_tuples=True)[0]
    assert plain == datetime(2024, 6, 1, 12, 0)
    assert zoned == datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert zoned.tzinfo is UTC or zoned.utcoffset() == timedelta(0)
    # Naive datetimes mean UTC, as the session's time zone is UTC.
    assert one(pg, "SELECT $1::timestamptz", datetime(2024, 1, 1, 8)) == datetime(
        2024, 1, 1, 8, tzinfo=UTC
    )


def test_other_parameter_forms(pg: Engine) -> None:
    assert one(pg, "SELECT $1::uuid", uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert one(pg, "SELECT $1::numeric", 2**70) == Decimal(2**70)
    assert one(pg, "SELECT $1::numeric", 0.25) == Decimal("0.25")
    assert one(pg, "SELECT $1::float8", float("inf")) == float("inf")
    assert one(pg, "SELECT $1::int[]", (1, 2)) == [1, 2]
    assert one(pg, "SELECT $1::bytea", bytearray(b"ab")) == b"ab"
    assert one(pg, "SELECT $1::text", "x") == "x"
    pg.execute_script_("CREATE EXTENSION citext")
    assert one(pg, "SELECT $1::citext = 'ABC'", "abc") is True
    assert one(pg, "SELECT 'Mixed'::citext") == "Mixed"
    with pytest.raises(ParameterError):
        one(pg, "SELECT $1::text", {1, 2})


def test_enums_domains_and_results_as_dicts(pg: Engine) -> None:
    pg.execute_script_(
        """
        CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
        CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
        CREATE TABLE u (id serial PRIMARY KEY, role "Role" NOT NULL, roles "Role"[], n positive);
        """
    )
    pg.execute_raw_(
        "INSERT INTO u (role, roles, n) VALUES ($1, $2, $3)", "ADMIN", ["USER", "ADMIN"], 7
    )
    assert pg.query_raw_("SELECT role, roles, n FROM u") == [
        {"role": "ADMIN", "roles": ["USER", "ADMIN"], "n": 7}
    ]


def test_an_unreadable_type_is_a_clear_error(pg: Engine) -> None:
    with pytest.raises(SqlError, match="cannot read values of type interval") as caught:
        pg.query_raw_("SELECT interval '1 day' AS span")
    assert caught.value.sql == "SELECT interval '1 day' AS span"
    assert one(pg, "SELECT (interval '1 day')::text") == "1 day"


def test_execute_many_and_rowcounts(pg: Engine) -> None:
    pg.execute_script_("CREATE TABLE v (id int PRIMARY KEY, name text)")
    rows = [(i, f"n{i}") for i in range(10)]
    assert pg.execute_many_raw_("INSERT INTO v VALUES ($1, $2)", rows) == 10
    assert pg.execute_raw_("UPDATE v SET name = upper(name) WHERE id < $1", 4) == 4
    assert one(pg, "SELECT string_agg(name, ',' ORDER BY id) FROM v WHERE id < 3") == "N0,N1,N2"
    # A failing row rolls the whole batch back.
    with pytest.raises(UniqueConstraintError):
        pg.execute_many_raw_("INSERT INTO v VALUES ($1, $2)", [(100, "a"), (1, "dup")])
    assert one(pg, "SELECT count(*) FROM v") == 10


# -- transactions ----------------------------------------------------------------------------


def test_transactions_commit_and_roll_back(pg: Engine) -> None:
    pg.execute_script_("CREATE TABLE v (id int PRIMARY KEY)")
    with pg.transaction_() as tx:
        assert pg.in_transaction_
        tx.execute_raw_("INSERT INTO v VALUES (1)")
        # Another connection does not see it before the commit (read committed).
        with Engine.open_(pg.path_) as other:
            assert one(other, "SELECT count(*) FROM v") == 0
    assert not pg.in_transaction_
    assert one(pg, "SELECT count(*) FROM v") == 1
    with pytest.raises(RuntimeError), pg.transaction_():
        pg.execute_raw_("INSERT INTO v VALUES (2)")
        raise RuntimeError("undo")
    assert one(pg, "SELECT array_agg(id) FROM v") == [1]
    assert one(pg, "SHOW transaction_isolation") == "read committed"


def test_nested_transactions_are_savepoints(pg: Engine) -> None:
    pg.execute_script_("CREATE TABLE v (id int PRIMARY KEY)")
    with pg.transaction_():
        pg.execute_raw_("INSERT INTO v VALUES (1)")
        with pytest.raises(RuntimeError), pg.transaction_():
            pg.execute_raw_("INSERT INTO v VALUES (2)")
            raise RuntimeError("inner only")
        with pg.transaction_():
            pg.execute_raw_("INSERT INTO v VALUES (3)")
    assert one(pg, "SELECT array_agg(id ORDER BY id) FROM v") == [1, 3]


def test_a_failed_statement_aborts_the_block_and_is_not_committed(pg: Engine) -> None:
    """PostgreSQL aborts a transaction in which a statement failed, and its COMMIT then
    rolls back without an error; the engine says so instead."""
    pg.execute_script_("CREATE TABLE v (id int PRIMARY KEY)")
    with pytest.raises(TransactionError, match="nothing in it was committed"), pg.transaction_():
        pg.execute_raw_("INSERT INTO v VALUES (1)")
        with pytest.raises(UniqueConstraintError):
            pg.execute_raw_("INSERT INTO v VALUES (1)")
        with pytest.raises(TransactionError, match="aborted"):
            pg.execute_raw_("INSERT INTO v VALUES (2)")
    assert one(pg, "SELECT count(*) FROM v") == 0
    # A failure inside a savepoint that is rolled back leaves the outer block usable.
    with pg.transaction_():
        pg.execute_raw_("INSERT INTO v VALUES (5)")
        with pytest.raises(UniqueConstraintError), pg.transaction_():
            pg.execute_raw_("INSERT INTO v VALUES (5)")
        pg.execute_raw_("INSERT INTO v VALUES (6)")
    assert one(pg, "SELECT array_agg(id ORDER BY id) FROM v") == [5, 6]


def test_raw_transaction_control_is_refused(pg: Engine) -> None:
    with pytest.raises(TransactionError):
        pg.execute_raw_("BEGIN")
    with pytest.raises(TransactionError, match="left a transaction open"):
        pg.execute_script_("BEGIN; SELECT 1")
    assert not pg.in_transaction_
    pg.execute_script_("BEGIN; CREATE TABLE w (id int); COMMIT")
    assert one(pg, "SELECT count(*) FROM w") == 0


# -- errors ----------------------------------------------------------------------------------


@pytest.fixture
def related(pg: Engine) -> Engine:
    pg.execute_script_(
        """
        CREATE TABLE "User" (id serial PRIMARY KEY, email text NOT NULL UNIQUE);
        CREATE TABLE "Post" (
            id serial PRIMARY KEY,
            "authorId" integer NOT NULL REFERENCES "User"(id)
        );
        """
    )
    pg.execute_raw_('INSERT INTO "User" (email) VALUES ($1)', "a@x")
    return pg


def test_unique_violation_is_p2002(related: Engine) -> None:
    with pytest.raises(UniqueConstraintError) as caught:
        related.execute_raw_('INSERT INTO "User" (email) VALUES ($1)', "a@x")
    assert caught.value.code == "P2002"
    assert caught.value.table == "User"
    assert caught.value.columns == ["email"]


def test_foreign_key_violation_is_p2003(related: Engine) -> None:
    with pytest.raises(ForeignKeyError) as caught:
        related.execute_raw_('INSERT INTO "Post" ("authorId") VALUES ($1)', 999)
    assert caught.value.code == "P2003"
    assert caught.value.table == "Post"
    assert caught.value.columns == ["authorId"]


def test_not_null_violation_is_p2011(related: Engine) -> None:
    with pytest.raises(NullConstraintError) as caught:
        related.execute_raw_('INSERT INTO "User" (email) VALUES ($1)', None)
    assert caught.value.code == "P2011"
    assert (caught.value.table, caught.value.columns) == ("User", ["email"])


def test_syntax_and_name_errors_carry_the_sql(pg: Engine) -> None:
    with pytest.raises(SqlError, match="syntax error") as caught:
        pg.query_raw_("SELEC 1")
    assert caught.value.sql == "SELEC 1"
    with pytest.raises(SqlError, match='relation "nowhere" does not exist'):
        pg.query_raw_("SELECT * FROM nowhere")
    with pytest.raises(SqlError):
        pg.execute_raw_("SELECT 1; SELECT 2")


def test_wrong_parameters(pg: Engine) -> None:
    with pytest.raises(ParameterError, match="1 parameter placeholder"):
        pg.query_raw_("SELECT $1::int")
    with pytest.raises(DatabaseError, match="invalid input syntax") as caught:
        pg.query_raw_("SELECT $1::int", "seven")
    assert caught.value.sqlstate == "22P02"


def test_serialization_failures_are_retryable(pg_url: str) -> None:
    """Two serializable transactions that each read what the other writes: one of them
    fails with SQLSTATE 40001."""
    setup = Engine.open_(pg_url)
    setup.execute_script_(
        "CREATE TABLE v (id int PRIMARY KEY, n int); INSERT INTO v VALUES (1, 0), (2, 0)"
    )
    setup.close_()
    with pytest.raises(SerializationError) as caught:
        _write_skew(pg_url)
    assert caught.value.retryable
    assert caught.value.code == "P2034"


def _write_skew(url: str) -> None:
    """Provoke 40001 with two sessions whose statements interleave."""
    a, b = Engine.open_(url, readers=1), Engine.open_(url, readers=1)
    try:
        barrier = threading.Barrier(2, timeout=10)
        errors: list[BaseException] = []

        def session(engine: Engine, row: int) -> None:
            try:
                with engine.transaction_():
                    engine.execute_raw_("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                    engine.query_raw_("SELECT sum(n) FROM v")
                    barrier.wait()
                    engine.execute_raw_("UPDATE v SET n = n + 1 WHERE id = $1", row)
                    barrier.wait()
            except BaseException as exc:  # handed to the test thread
                errors.append(exc)

        threads = [threading.Thread(target=session, args=(e, r)) for e, r in ((a, 1), (b, 2))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        failures = [e for e in errors if isinstance(e, SerializationError)]
        if failures:
            raise failures[0]
        raise AssertionError(f"no serialization failure: {errors!r}")
    finally:
        a.close_()
        b.close_()


# -- connections -----------------------------------------------------------------------------


def test_a_killed_connection_is_a_clear_error_and_the_next_call_reconnects(pg_url: str) -> None:
    engine = Engine.open_(pg_url, readers=1)
    killer = Engine.open_(pg_url)
    try:
        pid = one(engine, "SELECT pg_backend_pid()")
        assert one(killer, "SELECT pg_terminate_backend($1)", pid) is True
        for _ in range(200):  # the backend exits a moment after the signal
            if not one(killer, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
                break
            threading.Event().wait(0.01)
        with pytest.raises(
            ConnectionLostError, match="connection to the PostgreSQL server was lost"
        ):
            engine.query_raw_("SELECT 1")
        assert one(engine, "SELECT 2") == 2
        assert one(engine, "SELECT pg_backend_pid()") != pid
    finally:
        engine.close_()
        killer.close_()


def test_an_unreachable_server_is_an_open_error_without_the_password(pg_server: Any) -> None:
    with pytest.raises(OpenError) as caught:
        Engine.open_("postgresql://postgres:secret@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "secret" not in str(caught.value)
    assert caught.value.path == "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
    with pytest.raises(OpenError, match='database "absent" does not exist'):
        Engine.open_(pg_server.url("absent"))


def test_path_hides_the_password(pg_url: str) -> None:
    with_password = pg_url.replace("postgres@", "postgres:hunter2@")
    engine = Engine.open_(with_password)
    try:
        assert engine.path_ == pg_url
        assert "hunter2" not in repr(engine)
    finally:
        engine.close_()


def test_threads_share_the_engine(pg_url: str) -> None:
    engine = Engine.open_(pg_url + "?connection_limit=3")
    engine.execute_script_("CREATE TABLE v (thread int, n int)")
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(20):
                with engine.transaction_():
                    engine.execute_raw_("INSERT INTO v VALUES ($1, $2)", index, n)
                    assert engine.in_transaction_
                assert one(engine, "SELECT count(*) FROM v WHERE thread = $1", index) == n + 1
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert one(engine, "SELECT count(*) FROM v") == 120
    engine.close_()


def test_an_exhausted_pool_times_out(pg_url: str) -> None:
    engine = Engine.open_(pg_url + "?connection_limit=1&pool_timeout=0.2")
    held = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with engine.transaction_():
            held.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(PoolTimeoutError, match="connection_limit") as caught:
            engine.query_raw_("SELECT 1")
        assert caught.value.retryable
    finally:
        done.set()
        holder.join(10)
        engine.close_()


def test_schema_parameter_sets_the_search_path(pg_url: str) -> None:
    setup = Engine.open_(pg_url)
    setup.execute_script_('CREATE SCHEMA "my app"; CREATE TABLE "my app".thing (id int)')
    setup.close_()
    engine = Engine.open_(pg_url + "?schema=my%20app")
    try:
        assert one(engine, "SELECT current_schema()") == "my app"
        engine.execute_raw_("INSERT INTO thing VALUES (1)")
        assert one(engine, 'SELECT count(*) FROM "my app".thing') == 1
        assert engine.settings_()["readers"] >= 1
    finally:
        engine.close_()


def test_cached_statements_survive_ddl(pg: Engine) -> None:
    pg.execute_script_("CREATE TABLE v (a int)")
    pg.execute_raw_("INSERT INTO v VALUES (1)")
    assert pg.query_raw_("SELECT * FROM v") == [{"a": 1}]
    pg.execute_script_("ALTER TABLE v ADD COLUMN b text DEFAULT 'x'")
    assert pg.query_raw_("SELECT * FROM v") == [{"a": 1, "b": "x"}]


def test_closed_engine_refuses_calls(pg_url: str) -> None:
    engine = Engine.open_(pg_url)
    engine.close_()
    engine.close_()
    assert engine.closed_
    with pytest.raises(ClosedError):
        engine.query_raw_("SELECT 1")


def test_the_core_queue_binds_named_parameters_by_number(pg: Engine) -> None:
    """The queue's statements name their parameters; on PostgreSQL the core renumbers them
    (a name used twice is one parameter; literals and casts are left alone)."""
    from strata._core import Queue

    q = Queue(
        pg, recover="", claim="", why="", heartbeat="", changes=None, constants={":one": 1},
        datetime_format="native", order=[], recover_every=1.0,
    )  # fmt: skip
    sql = "SELECT :one::int + :two::int, :one::int, ':one', :now::timestamp IS NOT NULL"
    assert q.run(sql, {":two": 2}) == [(3, 1, ":one", True)]
    with pytest.raises(ValidationError, match=":three, which nothing binds"):
        q.run("SELECT :three::int")


# -- URLs ------------------------------------------------------------------------------------


def test_resolve_accepts_prisma_postgres_urls() -> None:
    url = "postgresql://u:p@db.example:6543/app?schema=s&connection_limit=7&pool_timeout=3"
    target = resolve(url)
    assert (target.path, target.readers, target.busy_timeout) == (url, 7, 3.0)
    assert target.provider == "postgresql"
    assert resolve("postgres://u@h/app").provider == "postgresql"
    assert resolve(":memory:").provider == "sqlite"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:pw@h/app?foo=1", "unknown URL parameter 'foo'"),
        ("postgresql://u:pw@h/app?sslmode=allow", "sslmode='allow' is not one of"),
        ("postgresql://u:pw@h/app?connection_limit=0", "not a positive number"),
        ("postgresql://u:pw@h/app?pool_timeout=soon", "not a number of seconds"),
        ("postgresql://u:pw@h:port/app", "Port"),
        ("postgresql:///app", "names no host"),
    ],
)
def test_resolve_rejects_bad_postgres_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        resolve(url)
    assert "pw" not in str(caught.value)


def test_the_core_checks_urls_too() -> None:
    with pytest.raises(OpenError, match="client certificates are not supported"):
        Engine("postgresql://u@127.0.0.1/app?sslcert=client.pem")
    with pytest.raises(OpenError, match="unknown URL parameter"):
        Engine("postgresql://u@127.0.0.1/app?bogus=1")
