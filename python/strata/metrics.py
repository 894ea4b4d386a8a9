"""Metrics on any model with a series, a time and numeric values: bulk ingest, aggregation,
rollups and retention.

``db.metrics_("ProviderMetric", series="providerId", time="timestamp")`` checks the binding
against the schema once. After that:

* `Metrics.ingest` writes columnar data (a dict of equal-length sequences, numpy arrays,
  Arrow objects), a list of dicts, or an iterator of such chunks of any size, through the
  client's bulk writer (`strata.client.bulk`): values are converted and checked in the core
  by the same codecs as ``create``, and each chunk commits on its own.
* `Metrics.aggregate` buckets the rows per series in the core (rust/metrics.rs), which
  streams them in ``(series, time)`` order, the order of the index such a model declares.
* `Metrics.rollup` keeps a rollup model (declared in the schema: strata creates no table
  of its own) up to date from its watermark, and `Metrics.retain` deletes raw rows that
  are both old and rolled up.

The time column (and a rollup's ``bucket``) is compared in SQL in the stored form it holds
(detected when bound, see `strata.client.datetimes`): one holding mixed forms is refused with
`strata.MixedDateTimeError`, which names the command that rewrites it into one form.

Statistics: ``count`` (non-NULL values), ``sum``, ``avg``, ``min``, ``max`` and the
percentiles ``p50``, ``p95`` and ``p99``. All are exact: a percentile interpolates
linearly between the two nearest ranks of the bucket's values, as DuckDB's
``quantile_cont`` and numpy's default do. Buckets are aligned on the Unix epoch (UTC), so
``"1d"`` buckets start at midnight UTC; only buckets holding at least one row appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from strata._compat import UTC
from strata._core import Aggregator, ArrowStream
from strata.client.datetimes import single_form
from strata.dialects.values import describe_value, parse_datetime
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client import Client
    from strata.client.bulk import BulkWriter
    from strata.client.meta import ModelMeta
    from strata.dialects.base import RollupSql

__all__ = ["STATS", "Metrics", "parse_every"]

#: The statistics `Metrics.aggregate` computes, in the order they are documented.
STATS = ("count", "sum", "avg", "min", "max", "p50", "p95", "p99")
#: What a rollup model stores per value: these merge exactly into coarser buckets.
ROLLUP_STATS = ("count", "sum", "min", "max")
_NUMERIC = {"Int": True, "BigInt": True, "Float": False}
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"\s*(\d+)\s*(ms|s|m|h|d|w)\s*")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_every(every: object, *, model: str | None = None) -> int:
    """A bucket width in milliseconds, from ``"30s"``, ``"1m"``, ``"5m"``, ``"1h"``,
    ``"1d"``, ``"1w"``, ``"250ms"`` or a `timedelta`."""
    if isinstance(every, timedelta):
        ms, rest = divmod(every, timedelta(milliseconds=1))
        if ms > 0 and not rest:
            return int(ms)
    elif isinstance(every, str):
        match = _DURATION.fullmatch(every)
        if match and int(match[1]) > 0:
            return int(match[1]) * _UNITS_MS[match[2]]
    raise ValidationError(
        f"every must be a positive duration such as '30s', '1m', '5m', '1h', '1d' or a "
        f"timedelta of whole milliseconds, got {describe_value(every)}",
        model=model,
        field="every",
        expected="a duration: '30s', '1m', '5m', '1h', '1d' or a timedelta",
    )


@dataclass(frozen=True)
class _Value:
    """A value the model can aggregate: a numeric field of raw samples, or in a rollup
    model the ``<name>_count``/``_sum``/``_min``/``_max`` fields of one rolled-up value."""

    name: str
    integer: bool
    #: The fields holding it: one for raw samples, four for a rollup's partials.
    fields: tuple[str, ...]

    @property
    def partial(self) -> bool:
        return len(self.fields) == 4


class Metrics:
    """One model bound as a metric series. Build it with `Database.metrics_`; the client's
    dialect writes its statements (`strata.dialects.base.MetricsDialect`)."""

    def __init__(self, client: Client, model: str, *, series: str, time: str) -> None:
        meta = client.meta(model)
        self._client = client
        self._db = client.db
        self._sql = client.dialect.metrics
        self._meta = meta
        self.model = meta.name
        self.series = series
        self.time = time
        self._check_field(series, "series", lambda f: not f.list and f.type not in _UNORDERED)
        self._check_field(time, "time", lambda f: f.type == "DateTime" and not f.list)
        #: The time column's stored form: aggregation, rollups and retention compare it in
        #: SQL, so a column holding mixed forms is refused here.
        self._time_format = single_form(meta, time, f"metrics on {meta.name}")
        self._values = _values_of(meta, exclude={series, time})
        #: The rollups this binding keeps (`rollup`), which `retain` must not outrun.
        self._rollups: dict[str, _Rollup] = {}
        #: The core's aggregators, one per choice of values, each with its statement.
        self._aggregators: dict[tuple[str, ...], Aggregator] = {}

    @property
    def _writer(self) -> BulkWriter:
        # Built on first ingest: a binding that only aggregates needs no bulk writer.
        return self._client.bulk_writer(self._meta)

    @property
    def values(self) -> tuple[str, ...]:
        """The names `aggregate` accepts in ``values``."""
        return tuple(self._values)

    def _check_field(self, name: str, role: str, accept: Any) -> None:
        field = self._meta.scalars.get(name)
        if field is None:
            raise self._meta.unknown_field(name)
        if not accept(field):
            expected = "a DateTime field" if role == "time" else "a scalar field"
            raise ValidationError(
                f"{self.model}.{name} cannot be the {role} of a metric series: it is "
                f"{field.type}{'[]' if field.list else ''}, and the {role} must be {expected}",
                model=self.model,
                field=name,
                expected=expected,
            )

    # -- ingest ------------------------------------------------------------------------------

    def ingest(self, data: Any, *, chunk_rows: int | None = None) -> int:
        """Insert samples and return how many rows were written.

        ``data`` is one of:

        * a dict of equal-length sequences keyed by field name: lists, tuples, numpy arrays
          (``datetime64`` arrays are read as UTC), anything with ``len`` and indexing;
        * an Arrow object (``__arrow_c_stream__`` or ``__arrow_c_array__``: a pyarrow
          Table, RecordBatch or RecordBatchReader, a polars DataFrame, a pandas DataFrame,
          a DuckDB relation...), its columns named after the fields. The core reads it
          through the Arrow C data interface: no pyarrow is needed, and no Python object
          is made per value. Strings (dictionary-encoded or not), integers, floats,
          booleans, binaries and timestamps of any unit are read; a timestamp column must
          carry a time zone (any: Arrow stores the instant in UTC);
        * a list (or tuple) of dicts, one per row;
        * any other iterable, such as a generator: its items are chunks of the kinds
          above, written one after another, so a stream of any size is ingested in
          bounded memory.

        Every ``chunk_rows`` rows of columns or rows commit in a transaction of their own
        (by default 10,000 on SQLite, whose write lock other writers wait on, and 100,000
        on PostgreSQL); an Arrow object is written in one transaction, so a bad value or a
        stream that fails part-way writes none of it (a generator of Arrow objects commits
        each on its own). A bad value raises `ValidationError` naming the field and
        ``row``, the row's index in the whole ingest; ``committed`` on the error tells how
        many rows were written before the failing chunk, which was rolled back alone.
        """
        if chunk_rows is None:
            chunk_rows = self._sql.ingest_chunk_rows
        if isinstance(data, Mapping) or _is_arrow(data) or isinstance(data, list | tuple):
            return self._ingest_chunks(iter([data]), chunk_rows)
        if isinstance(data, Iterable) and not isinstance(data, str | bytes):
            return self._ingest_chunks(iter(data), chunk_rows)
        raise ValidationError(
            f"{self.model}: ingest takes a dict of columns, a list of dicts, an Arrow object "
            f"or an iterable of those, got {describe_value(data)}",
            model=self.model,
            expected="columns, rows, an Arrow object or an iterable of chunks",
        )

    def _ingest_chunks(self, chunks: Iterator[Any], chunk_rows: int) -> int:
        written = 0
        offset = 0  # rows given before the current piece, for error row numbers
        for chunk in chunks:
            try:
                if _is_arrow(chunk):
                    # The core reads it through the Arrow C data interface, in one
                    # transaction: a bad value or a stream failing part-way writes none of it.
                    rows = self._writer.insert_arrow(chunk, chunk_rows=chunk_rows, copy=True)
                    written += rows
                    offset += rows
                    continue
                for piece, size in self._pieces(chunk):
                    if isinstance(piece, dict):
                        written += self._writer.insert_columns(
                            piece, atomic=False, chunk_rows=chunk_rows, copy=True
                        )
                    else:
                        written += self._writer.insert_rows(
                            piece, atomic=False, chunk_rows=chunk_rows, copy=True
                        )
                    offset += size
            except ValidationError as error:
                raise _shifted(error, offset, written) from None
            except Exception as error:
                # Constraint failures and the like: earlier chunks' rows still count.
                committed = getattr(error, "committed", None) or 0
                error.committed = written + committed  # type: ignore[attr-defined]
                raise
        return written

    def _pieces(self, chunk: Any) -> Iterator[tuple[dict[str, Any] | list[Any], int]]:
        """A chunk as what the bulk writer takes: dicts of lists, or lists of row dicts,
        each with its row count."""
        if isinstance(chunk, Mapping):
            columns = self._columns(chunk)
            yield columns, _length(columns)
        elif isinstance(chunk, list | tuple):
            yield list(chunk), len(chunk)
        else:
            raise ValidationError(
                f"{self.model}: each chunk must be a dict of columns, a list of dicts or an "
                f"Arrow object, got {describe_value(chunk)}",
                model=self.model,
                expected="a dict of columns, a list of dicts or an Arrow object",
            )

    def _columns(self, chunk: Mapping[str, Any]) -> dict[str, Any]:
        """Columns as sequences the core indexes, checked for equal length here so that
        the error can name the short column and the first row it lacks."""
        scalars = self._meta.scalars
        columns = {
            name: _plain(values, name in scalars and scalars[name].type in ("Int", "BigInt"))
            for name, values in chunk.items()
        }
        lengths = {name: _sized(self.model, name, values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            longest = max(lengths, key=lengths.__getitem__)
            shortest = min(lengths, key=lengths.__getitem__)
            row = lengths[shortest]
            raise ValidationError(
                f"row {row}: {self.model}.{shortest} has {lengths[shortest]} values "
                f"but {longest} has {lengths[longest]}; every column must have the same length",
                model=self.model,
                field=shortest,
                expected="columns of equal length",
                row=row,
            )
        return columns

    # -- aggregation -------------------------------------------------------------------------

    @overload
    def aggregate(
        self,
        every: str | timedelta,
        values: Sequence[str] | None = None,
        stats: Sequence[str] = ...,
        *,
        where: Mapping[str, Any] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        series: Any = None,
        format: Literal["rows"] = "rows",
    ) -> list[dict[str, Any]]: ...
    @overload
    def aggregate(
        self,
        every: str | timedelta,
        values: Sequence[str] | None = None,
        stats: Sequence[str] = ...,
        *,
        where: Mapping[str, Any] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        series: Any = None,
        format: Literal["arrow"],
    ) -> ArrowStream: ...
    def aggregate(
        self,
        every: str | timedelta,
        values: Sequence[str] | None = None,
        stats: Sequence[str] = ("count", "avg", "min", "max"),
        *,
        where: Mapping[str, Any] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        series: Any = None,
        format: Literal["rows", "arrow"] = "rows",
    ) -> list[dict[str, Any]] | ArrowStream:
        """Statistics per series and bucket of ``every``, in (series, bucket) order.

        Each row is a dict: the series field under its own name, ``bucket`` (the bucket's
        start, an aware UTC datetime) and ``<value>_<stat>`` for each requested pair, e.g.
        ``gpuUsage_avg``. ``values`` defaults to every numeric field. ``where`` is a
        client filter (``{"gpuUsage": {"gt": 0}}``), ``since``/``until`` bound the time
        (``since <= time < until``) and ``series`` keeps one series or a list of them.
        ``format="arrow"`` returns an Arrow stream (`strata._core.ArrowStream`) instead.
        """
        every_ms = parse_every(every, model=self.model)
        chosen = self._chosen_values(values)
        for stat in stats:
            if stat not in STATS:
                raise ValidationError(
                    f"{self.model}: unknown statistic {stat!r} (statistics: {', '.join(STATS)})",
                    model=self.model,
                    field="stats",
                    expected=f"one of {', '.join(STATS)}",
                )
        if not stats:
            raise ValidationError(
                f"{self.model}: stats must name at least one statistic",
                model=self.model,
                field="stats",
                expected=f"one or more of {', '.join(STATS)}",
            )
        outputs = [(index, stat) for index in range(len(chosen)) for stat in stats]
        names = [f"{chosen[index].name}_{stat}" for index, stat in outputs]
        condition, params = self._condition(where, since, until, series)
        result = self._aggregator(chosen).aggregate(
            every_ms,
            outputs,
            names,
            self.series,
            condition,
            tuple(params),
            arrow=format == "arrow",
        )
        if format == "arrow":
            assert isinstance(result, ArrowStream)
            return result
        assert isinstance(result, list)
        decode = self._meta.codecs[self.series].from_sql
        if decode is not None:
            for row in result:
                if row[self.series] is not None:
                    row[self.series] = decode(row[self.series])
        return result

    def _chosen_values(self, values: Sequence[str] | None) -> list[_Value]:
        if values is None:
            if not self._values:
                raise ValidationError(
                    f"{self.model} has no numeric field to aggregate",
                    model=self.model,
                    expected="an Int, BigInt or Float field",
                )
            return list(self._values.values())
        if isinstance(values, str):
            values = [values]
        chosen = []
        for name in values:
            value = self._values.get(name)
            if value is None:
                raise ValidationError(
                    f"{self.model} has no value {name!r} to aggregate "
                    f"(values: {', '.join(self._values) or 'none'})",
                    model=self.model,
                    field=name,
                    expected=f"one of {', '.join(self._values)}",
                )
            chosen.append(value)
        return chosen

    def _aggregator(self, values: Sequence[_Value]) -> Aggregator:
        chosen = tuple(value.name for value in values)
        aggregator = self._aggregators.get(chosen)
        if aggregator is None:
            aggregator = self._aggregators[chosen] = self._new_aggregator(values)
        return aggregator

    def _new_aggregator(self, values: Sequence[_Value]) -> Aggregator:
        meta = self._meta
        inputs = [
            (
                "partial" if value.partial else "raw",
                [meta.column(field) for field in value.fields],
                value.integer,
            )
            for value in values
        ]
        time = meta.column(self.time)
        source = self._sql.source_sql(
            meta.table_sql,
            meta.column(self.series),
            time,
            [column for _, columns, _ in inputs for column in columns],
        )
        return Aggregator(
            self._db,
            meta.table_sql,
            time,
            source,
            inputs,
            self._time_format,
            self._sql.export_kind(meta.scalars[self.series]),
        )

    def _condition(
        self,
        where: Mapping[str, Any] | None,
        since: datetime | None,
        until: datetime | None,
        series: Any,
    ) -> tuple[str, list[Any]]:
        builder = self._client.sql()
        parts = [builder.where(self._meta, "t0", where)]
        time_column = f"t0.{self._meta.column(self.time)}"
        time_codec = self._meta.codecs[self.time]
        if since is not None:
            parts.append(f"{time_column} >= {builder.bind(time_codec.to_sql_element(since))}")
        if until is not None:
            parts.append(f"{time_column} < {builder.bind(time_codec.to_sql_element(until))}")
        if series is not None:
            chosen = list(series) if isinstance(series, list | tuple | set) else [series]
            codec = self._meta.codecs[self.series]
            marks = ", ".join(builder.bind(codec.to_sql_element(s)) for s in chosen)
            parts.append(f"t0.{self._meta.column(self.series)} IN ({marks})")
        return " AND ".join(f"({part})" for part in parts), builder.params

    # -- rollups and retention ---------------------------------------------------------------

    def rollup(
        self, into: str, every: str | timedelta, *, lookback: timedelta | None = None
    ) -> int:
        """Bring the rollup model ``into`` up to date with buckets of ``every``, and keep
        it in mind for `retain`. Returns the number of buckets written.

        The rollup model is declared in the schema. It has the series field, ``bucket
        DateTime`` and for each value it keeps ``<value>_count Int`` and ``<value>_sum``,
        ``_min``, ``_max`` (optional Floats); when the model or a field is missing, the
        error prints the lines to add. A rollup model is itself a metric model, so
        ``db.metrics_("ProviderMetricRollup", series="providerId", time="bucket")`` can
        roll it up again (1m, then 1h) and aggregate it (percentiles aside).

        The watermark is the latest bucket the rollup holds: that bucket and later ones
        are computed again from the source, in one write transaction. Samples older than
        the watermark that arrive late are picked up only within ``lookback``.
        """
        every_ms = parse_every(every, model=self.model)
        lookback_ms = 0 if lookback is None else parse_every(lookback, model=self.model)
        rollup = self._rollups.get(into)
        if rollup is None or rollup.every_ms != every_ms or rollup.lookback_ms != lookback_ms:
            rollup = self._rollups[into] = self._bind_rollup(into, every_ms, lookback_ms)
        values = [self._values[name] for name in rollup.values]
        outputs = [(index, stat) for index in range(len(values)) for stat in ROLLUP_STATS]
        return self._aggregator(values).rollup(
            every_ms,
            outputs,
            rollup.statements,
            rollup.bucket_format,
            lookback_ms=lookback_ms,
        )

    def _bind_rollup(self, into: str, every_ms: int, lookback_ms: int) -> _Rollup:
        target = self._client.metas.get(into)
        wanted = self._rollup_fields()
        if target is None:
            raise ValidationError(
                f"the schema has no rollup model {into!r}; declare it:\n\n"
                + self._rollup_model_text(into),
                model=into,
                expected="a rollup model in the schema",
            )
        values = [
            name
            for name in self._values
            if any(f"{name}_{stat}" in target.scalars for stat in ROLLUP_STATS)
        ]
        missing = [
            line
            for name, line in wanted
            if name not in target.scalars
            and (name in (self.series, "bucket") or name.rsplit("_", 1)[0] in values)
        ]
        if not values:
            missing = [line for _, line in wanted if _ not in target.scalars]
        if missing:
            raise ValidationError(
                f"rollup model {into} lacks fields that {self.model} rollups need; add:\n\n"
                + "\n".join(missing),
                model=into,
                expected="the rollup fields",
            )
        # The watermark is max(bucket), and buckets from it on are deleted by comparison.
        bucket_format = single_form(target, "bucket", f"the rollup into {into}")
        columns = [target.column(f"{name}_{stat}") for name in values for stat in ROLLUP_STATS]
        statements = self._sql.rollup_sql(
            target.table_sql, target.column(self.series), target.column("bucket"), columns
        )
        return _Rollup(target, tuple(values), every_ms, lookback_ms, bucket_format, statements)

    def _rollup_fields(self) -> list[tuple[str, str]]:
        """(field, schema line) for everything a rollup of this model holds."""
        series = self._meta.scalars[self.series]
        optional = "?" if series.optional else ""
        lines = [
            (self.series, f"  {self.series} {series.type}{optional}"),
            ("bucket", "  bucket DateTime"),
        ]
        for value in self._values.values():
            lines.append((f"{value.name}_count", f"  {value.name}_count Int"))
            for stat in ("sum", "min", "max"):
                lines.append((f"{value.name}_{stat}", f"  {value.name}_{stat} Float?"))
        return lines

    def _rollup_model_text(self, name: str) -> str:
        lines = [line for _, line in self._rollup_fields()]
        return "\n".join(
            [
                f"model {name} {{",
                "  id Int @id @default(autoincrement())",
                *lines,
                "",
                f"  @@unique([{self.series}, bucket])",
                "}",
            ]
        )

    def watermark(self, into: str) -> datetime | None:
        """The latest bucket the rollup model ``into`` holds, or None when it is empty."""
        target = self._client.meta(into)
        single_form(target, "bucket", f"the watermark of {into}")
        rows = self._db.query_raw_(
            self._sql.watermark_sql(target.table_sql, target.column("bucket")), as_tuples=True
        )
        latest = rows[0][0]
        if isinstance(latest, datetime):  # a typed column (PostgreSQL): naive means UTC
            return latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest
        return None if latest is None else parse_datetime(latest)

    def retain(
        self,
        raw: timedelta,
        *,
        now: datetime | None = None,
        batch_rows: int = 10_000,
    ) -> int:
        """Delete rows older than ``raw`` (a timedelta before ``now``, by default the
        current time), ``batch_rows`` per transaction so the write lock is never held
        long. Returns the number of rows deleted.

        Rows that a rollup kept by this binding (see `rollup`) has not finished with are
        never deleted: the horizon stops at the start of the earliest rollup's watermark
        bucket (less its lookback), which the next `rollup` reads again.
        """
        if not isinstance(raw, timedelta) or raw < timedelta(0):
            raise ValidationError(
                f"{self.model}: raw must be a non-negative timedelta, got {describe_value(raw)}",
                model=self.model,
                field="raw",
                expected="a timedelta",
            )
        horizon = (now or datetime.now(UTC)) - raw
        for into, rollup in self._rollups.items():
            latest = self.watermark(into)
            if latest is None:
                return 0  # nothing is rolled up yet
            start = (latest - _EPOCH) // timedelta(milliseconds=1) - rollup.lookback_ms
            start -= start % rollup.every_ms
            horizon = min(horizon, _EPOCH + timedelta(milliseconds=start))
        meta = self._meta
        cutoff = meta.codecs[self.time].to_sql_element(horizon)
        sql = self._sql.retain_batch_sql(meta.table_sql, meta.column(self.time))
        deleted = 0
        while True:
            changed = self._db.execute_raw_(sql, cutoff, batch_rows)
            deleted += changed
            if changed < batch_rows:
                return deleted

    def __repr__(self) -> str:
        return f"<strata.Metrics {self.model} series={self.series} time={self.time}>"


@dataclass(frozen=True)
class _Rollup:
    meta: ModelMeta
    values: tuple[str, ...]
    every_ms: int
    lookback_ms: int
    #: The stored form of the rollup model's bucket column.
    bucket_format: str
    #: Where the core writes the rollup, as the dialect spells it.
    statements: RollupSql


#: Types without an order or identity that a series could be grouped by.
_UNORDERED = frozenset({"Json", "Bytes"})


def _values_of(meta: ModelMeta, exclude: set[str]) -> dict[str, _Value]:
    """The values of a model: rollup groups (``x_count``, ``x_sum``, ``x_min``, ``x_max``)
    first, then every other numeric field that is not part of the key."""
    scalars = meta.scalars
    values: dict[str, _Value] = {}
    taken: set[str] = set(exclude) | set(meta.primary_key)
    for name in scalars:
        if not name.endswith("_count"):
            continue
        base = name.removesuffix("_count")
        group = tuple(f"{base}_{stat}" for stat in ROLLUP_STATS)
        if all(f in scalars and scalars[f].type in _NUMERIC for f in group):
            integer = all(_NUMERIC[scalars[f].type] for f in group[1:])
            values[base] = _Value(base, integer, group)
            taken.update(group)
    for name, field in scalars.items():
        if name not in taken and field.type in _NUMERIC and not field.list:
            values[name] = _Value(name, _NUMERIC[field.type], (name,))
    return values


def _is_arrow(data: object) -> bool:
    return hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__")


def _plain(values: Any, integer: bool) -> Any:
    """numpy and pandas columns as lists of Python values the core converts; datetime64
    (which has no time zone) is read as UTC, numpy's own convention.

    An integer column with a gap arrives as a float array (numpy has no integer NaN):
    for an ``integer`` field its whole numbers become ints again, and a NaN is left for
    the field's codec to refuse, naming its row."""
    dtype = getattr(values, "dtype", None)
    if dtype is None or not hasattr(values, "tolist"):
        return values
    kind = getattr(dtype, "kind", None)
    if kind == "M":
        millis = values.astype("datetime64[ms]").astype("int64").tolist()
        nat = -(2**63)
        return [None if ms == nat else _EPOCH + timedelta(milliseconds=ms) for ms in millis]
    plain = values.tolist()
    if kind == "f" and integer:
        return [int(v) if v.is_integer() else v for v in plain]
    return plain


def _sized(model: str, name: str, values: Any) -> int:
    try:
        return len(values)
    except TypeError:
        raise ValidationError(
            f"{model}.{name}: a column must be a sequence of values, got {describe_value(values)}",
            model=model,
            field=name,
            expected="a list, tuple or array of values",
        ) from None


def _length(columns: Mapping[str, Any]) -> int:
    return next((len(values) for values in columns.values()), 0)


def _shifted(error: ValidationError, offset: int, committed: int) -> ValidationError:
    """The error of one piece, with its row counted from the start of the whole ingest
    and ``committed`` counting every earlier piece too."""
    row = error.row
    if row is not None and offset:
        body = str(error).removeprefix(f"row {row}: ")
        error.row = row + offset
        error.args = (f"row {row + offset}: {body}",)
    error.committed = committed + (error.committed or 0)
    return error
