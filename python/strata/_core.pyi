# Type stub for the compiled extension (rust/). `make stubtest` checks it against the build.
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, TypedDict, final, overload

from typing_extensions import disjoint_base

__all__ = [
    "BULK_ROWS_PER_STATEMENT",
    "Aggregator",
    "ArrowStream",
    "BulkInsert",
    "Engine",
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

@disjoint_base
class Engine:
    def __new__(cls, path: str, *, busy_timeout: float = 5.0, readers: int = 4) -> Engine: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def in_transaction(self) -> bool: ...
    def execute_raw(self, sql: str, *params: SqlValue) -> int: ...
    @overload
    def query_raw(
        self, sql: str, *params: SqlValue, as_tuples: Literal[False] = False
    ) -> list[dict[str, Any]]: ...
    @overload
    def query_raw(
        self, sql: str, *params: SqlValue, as_tuples: Literal[True]
    ) -> list[tuple[Any, ...]]: ...
    @overload
    def query_raw(
        self, sql: str, *params: SqlValue, as_tuples: bool
    ) -> list[dict[str, Any]] | list[tuple[Any, ...]]: ...
    def execute_many_raw(self, sql: str, rows: Iterable[Sequence[SqlValue]]) -> int: ...
    def execute_script(self, sql: str) -> None: ...
    def transaction(self) -> Transaction: ...
    def set_tracer(self, tracer: Callable[[str, Any], object] | None) -> None: ...
    def settings(self) -> Settings: ...
    def close(self) -> None: ...

@final
class Transaction:
    def __enter__(self) -> Any: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        _exc_value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> bool: ...

# (field, quoted column, fast-path kind, its options, nullable, missing rule, to_sql)
BulkColumn = tuple[str, str, str, Any, bool, Any, Callable[[Any], Any]]

@final
class BulkInsert:
    def __new__(
        cls,
        db: Engine,
        model: str,
        table: str,
        columns: list[BulkColumn],
        unknown_field: Callable[[str], BaseException],
    ) -> BulkInsert: ...
    def insert_rows(
        self,
        rows: Iterable[Any],
        *,
        now: SqlValue = None,
        skip_duplicates: bool = False,
        atomic: bool = True,
        chunk_rows: int = 4096,
    ) -> int: ...
    def insert_columns(
        self,
        columns: dict[str, Any],
        *,
        now: SqlValue = None,
        skip_duplicates: bool = False,
        atomic: bool = True,
        chunk_rows: int = 4096,
    ) -> int: ...

# ("raw", [column], integer) or ("partial", [count, sum, min, max], integer)
AggregateInput = tuple[str, list[str], bool]

@final
class Aggregator:
    def __new__(
        cls,
        db: Engine,
        table: str,
        series: str,
        time: str,
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
        target_table: str,
        target_series: str,
        target_bucket: str,
        target_columns: list[str],
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
    table: str,
    columns: list[str],
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
