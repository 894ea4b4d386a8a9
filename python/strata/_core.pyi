# Type stub for the compiled extension (rust/). `make stubtest` checks it against the build.
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, TypedDict, final, overload
from uuid import UUID

from typing_extensions import disjoint_base

# What the dialect writes and the core runs (`strata.dialects.base` documents each).
from strata.dialects.base import BulkInsertSql, MetricsSourceSql, RateLimitStatements, RollupSql

__all__ = [
    "BULK_ROWS_PER_STATEMENT",
    "Aggregator",
    "ArrowStream",
    "Beater",
    "BulkInsert",
    "Decision",
    "Engine",
    "Heartbeat",
    "Queue",
    "RateLimiter",
    "Transaction",
    "__version__",
    "ingest_ceiling",
    "loaded_sqlite_copies",
    "sqlite_library",
]

__version__: str
BULK_ROWS_PER_STATEMENT: int

# A value SQLite can bind: NULL, INTEGER (64-bit), REAL, TEXT or BLOB.
SqlValue = None | bool | int | float | str | bytes | bytearray
# What PostgreSQL binds besides: numbers, times and ids by their text, JSON, arrays.
Param = (
    SqlValue
    | memoryview
    | Decimal
    | date
    | time
    | UUID
    | dict[str, Any]
    | list[Any]
    | tuple[Any, ...]
)

class LibraryInfo(TypedDict):
    version: str
    source_id: str
    path: str | None
    libversion_address: int
    compile_options: list[str]

class Settings(TypedDict):
    journal_mode: str
    synchronous: str
    foreign_keys: bool
    busy_timeout: float
    readers: int

class PostgresSettings(TypedDict):
    provider: Literal["postgresql"]
    schema: str
    busy_timeout: float
    readers: int

@disjoint_base
class Engine:
    def __new__(
        cls, path: str, *, busy_timeout: float = 5.0, readers: int | None = None
    ) -> Engine: ...
    @property
    def path_(self) -> str: ...
    @property
    def closed_(self) -> bool: ...
    @property
    def in_transaction_(self) -> bool: ...
    def execute_raw_(self, sql: str, *params: Param) -> int: ...
    @overload
    def query_raw_(
        self, sql: str, *params: Param, as_tuples: Literal[False] = False
    ) -> list[dict[str, Any]]: ...
    @overload
    def query_raw_(
        self, sql: str, *params: Param, as_tuples: Literal[True]
    ) -> list[tuple[Any, ...]]: ...
    @overload
    def query_raw_(
        self, sql: str, *params: Param, as_tuples: bool
    ) -> list[dict[str, Any]] | list[tuple[Any, ...]]: ...
    def execute_many_raw_(self, sql: str, rows: Iterable[Sequence[Param]]) -> int: ...
    def execute_script_(self, sql: str) -> None: ...
    def transaction_(
        self,
        *,
        isolation: Literal["read_committed", "repeatable_read", "serializable"] | None = None,
        timeout: float | None = None,
    ) -> Transaction: ...
    def pool_stats_(self) -> dict[str, int] | None: ...
    def set_tracer_(self, tracer: Callable[[str, Any], object] | None) -> None: ...
    def set_query_listener_(
        self,
        listener: Callable[[str, str, Any, float, float, BaseException | None], object] | None,
    ) -> None: ...
    def set_log_hook_(
        self,
        hook: Callable[[str, str, str, float, Any], object] | None,
        slow: float | None = None,
    ) -> None: ...
    def settings_(self) -> Settings | PostgresSettings: ...
    def close_(self) -> None: ...

@final
class Transaction:
    def __enter__(self) -> Any: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        _exc_value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> bool: ...

# (field, fast-path kind, options, nullable, missing-value rule, to_sql)
BulkColumn = tuple[str, str, Any, bool, Any, Callable[[Any], Any]]

@final
class BulkInsert:
    def __new__(
        cls,
        db: Engine,
        model: str,
        insert: BulkInsertSql,
        columns: list[BulkColumn],
        unknown_field: Callable[[str], BaseException],
    ) -> BulkInsert: ...
    def insert_rows(
        self,
        rows: Iterable[Any],
        *,
        now: SqlValue = None,
        defaults: dict[str, Any] | None = None,
        skip_duplicates: bool = False,
        atomic: bool = True,
        chunk_rows: int = 4096,
        rowids: list[Any] | None = None,
        copy: bool = False,
    ) -> int: ...
    def insert_columns(
        self,
        columns: dict[str, Any],
        *,
        now: SqlValue = None,
        defaults: dict[str, Any] | None = None,
        skip_duplicates: bool = False,
        atomic: bool = True,
        chunk_rows: int = 4096,
        copy: bool = False,
    ) -> int: ...
    def insert_arrow(
        self,
        data: Any,
        *,
        now: SqlValue = None,
        defaults: dict[str, Any] | None = None,
        atomic: bool = True,
        chunk_rows: int = 4096,
        copy: bool = False,
    ) -> int: ...

@final
class Queue:
    def __new__(
        cls,
        db: Engine,
        *,
        recover: str,
        claim: str,
        why: str,
        heartbeat: str,
        changes: str | None,
        constants: dict[str, SqlValue],
        datetime_format: str,
        order: list[tuple[int, bool]],
        recover_every: float,
        listen: str | None = None,
    ) -> Queue: ...
    def claim(self, worker: str, limit: int, lease: float) -> list[tuple[Any, ...]]: ...
    def take_recovered(self) -> int: ...
    def settle(
        self,
        sql: str,
        id: SqlValue,
        token: int,
        *,
        lease: float = 0.0,
        delay: float = 0.0,
        params: dict[str, SqlValue] | None = None,
    ) -> tuple[Any, ...]: ...
    def settle_many(
        self,
        sql: str,
        claims: list[tuple[SqlValue, int]],
        *,
        lease: float = 0.0,
        params: dict[str, SqlValue] | None = None,
    ) -> list[tuple[Any, ...] | None]: ...
    def settle_and_claim(
        self,
        items: list[tuple[str, SqlValue, int, float, dict[str, SqlValue] | None]],
        claims: list[tuple[str, int]],
        *,
        lease: float,
        strict: bool,
        rows: bool = True,
    ) -> tuple[list[tuple[Any, ...] | bool | None], list[list[tuple[Any, ...]]]]: ...
    def beater(self, lease: float, every: float) -> Beater: ...
    def _native_loop(
        self,
        worker: str,
        batch: int,
        rounds: int,
        complete_sql: str,
        columns: tuple[int, int],
        lease: float,
    ) -> tuple[int, float]: ...
    def run(
        self, sql: str, params: dict[str, SqlValue] | None = None, *, write: bool = True
    ) -> list[tuple[Any, ...]]: ...
    def notify(self) -> None: ...
    def wait(self, timeout: float) -> bool: ...
    def now_ms(self) -> int: ...
    def shift_clock(self, seconds: float) -> None: ...
    def heartbeat(self, id: SqlValue, token: int, lease: float, every: float) -> Heartbeat: ...

@final
class Heartbeat:
    @property
    def state(self) -> str: ...
    def stop(self) -> str: ...

@final
class Beater:
    def hold(self, id: SqlValue, token: int, first: float) -> None: ...
    def release(self) -> str: ...
    @property
    def state(self) -> str: ...
    def stop(self) -> None: ...

# A key value of a rate limiter: str for a String field (an int becomes its decimal text),
# int for an Int or BigInt field.
KeyValue = str | int

class RateLimiterSpec(TypedDict):
    key_types: list[Literal["text", "int32", "int64"]]
    shape: Literal["window", "gcra"]
    #: Whether each new row takes an id from id_factory (the upsert's first parameter).
    client_ids: bool
    #: The stored DateTime forms of the columns a hit stamps with the time: created, then
    #: updated, in the upsert's parameter order.
    stamps: list[str]
    #: The window start column's stored form: "iso8601", "iso8601-z", "sqlite-datetime"
    #: or "unixepoch-ms" (`strata.client.datetimes`).
    datetime_format: str
    statements: RateLimitStatements

@final
class Decision:
    @property
    def allowed(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def limit(self) -> int: ...
    @property
    def reset_at(self) -> datetime: ...
    @property
    def reset_at_ns(self) -> int: ...
    @property
    def retry_after(self) -> float: ...
    def __bool__(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@disjoint_base
class RateLimiter:
    def __new__(
        cls,
        engine: Engine,
        spec: RateLimiterSpec | dict[str, Any],
        id_factory: Callable[[], object] | None = None,
    ) -> RateLimiter: ...
    def hit(
        self,
        *key: KeyValue,
        limit: int | None = None,
        window: float | None = None,
        cost: int | None = None,
        algorithm: Literal["fixed", "sliding", "gcra"] | None = None,
        rule: str | None = None,
    ) -> Decision: ...
    def cached_denial(
        self,
        *key: KeyValue,
        limit: int | None = None,
        window: float | None = None,
        cost: int | None = None,
        algorithm: Literal["fixed", "sliding", "gcra"] | None = None,
        rule: str | None = None,
    ) -> Decision | None: ...
    def peek(
        self,
        *key: KeyValue,
        limit: int | None = None,
        window: float | None = None,
        cost: int | None = None,
        algorithm: Literal["fixed", "sliding", "gcra"] | None = None,
        rule: str | None = None,
    ) -> Decision: ...
    def reset(self, *key: KeyValue) -> int: ...
    def cleanup(self, *, older_than: float, batch: int = 1000) -> int: ...
    def set_clock(self, ns: int | None) -> None: ...
    @property
    def clock(self) -> int | None: ...
    @property
    def upsert_sql(self) -> str: ...
    def _native_loop(
        self,
        *key: KeyValue,
        n: int,
        limit: int,
        window: float,
        algorithm: Literal["fixed", "sliding", "gcra"] | None = None,
    ) -> float: ...

# ("raw", [column], integer) or ("partial", [count, sum, min, max], integer)
AggregateInput = tuple[str, list[str], bool]

@final
class Aggregator:
    def __new__(
        cls,
        db: Engine,
        table: str,
        time: str,
        sql: MetricsSourceSql,
        inputs: list[AggregateInput],
        time_format: str,
        series_kind: str,
    ) -> Aggregator: ...
    @overload
    def aggregate(
        self,
        every_ms: int,
        outputs: list[tuple[int, str]],
        names: list[str],
        series_name: str,
        condition: str,
        params: tuple[SqlValue, ...],
        *,
        arrow: Literal[False] = False,
    ) -> list[dict[str, Any]]: ...
    @overload
    def aggregate(
        self,
        every_ms: int,
        outputs: list[tuple[int, str]],
        names: list[str],
        series_name: str,
        condition: str,
        params: tuple[SqlValue, ...],
        *,
        arrow: bool,
    ) -> list[dict[str, Any]] | ArrowStream: ...
    def rollup(
        self,
        every_ms: int,
        outputs: list[tuple[int, str]],
        target: RollupSql,
        target_format: str,
        *,
        lookback_ms: int = 0,
    ) -> int: ...

@final
class ArrowStream:
    @staticmethod
    def query(
        db: Engine, sql: str, params: tuple[SqlValue, ...], columns: list[tuple[str, str]]
    ) -> ArrowStream: ...
    @property
    def column_names(self) -> list[str]: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> Any: ...

def ingest_ceiling(
    db: Engine,
    insert: BulkInsertSql,
    rows: int,
    series: int,
    *,
    chunk_rows: int = 10_000,
    start_ms: int = 0,
    step_ms: int = 1000,
    time_format: str = "iso8601",
) -> int: ...
def sqlite_library() -> LibraryInfo: ...
def loaded_sqlite_copies() -> list[str]: ...
