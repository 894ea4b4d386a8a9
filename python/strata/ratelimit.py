"""Rate limiting on a model of the schema, counted exactly across processes by the Rust core.

``db.rate_limiter_(...)`` binds a limiter to a model; `bind` checks the model against the
schema, has the dialect write the statements for it (`strata.dialects.base.RateLimitDialect`)
and hands the core a spec holding them (docs/ARCHITECTURE.md, decisions 3 and 4).
Each ``hit`` is then one call into Rust: one write transaction, one conditional upsert.

Two stored shapes:

* **windows** (``algorithm="fixed"`` or ``"sliding"``): a row per key and window, like
  MediaNest's ``RateLimit`` (``count=`` an Int field, ``window_start=`` a DateTime field,
  ``@@unique([key..., windowStart])``);
* **gcra** (``algorithm="gcra"``, a token bucket): a row per key holding the theoretical
  arrival time in integer nanoseconds (``tat=`` a BigInt field, ``@@unique([key...])``).

When the model lacks something, the error prints the schema lines to add.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from strata._compat import UTC
from strata._core import Decision
from strata._core import RateLimiter as CoreRateLimiter
from strata.client.datetimes import DateTimeCodec, single_form
from strata.errors import ValidationError
from strata.schema import ir

if TYPE_CHECKING:
    from strata._core import RateLimiterSpec
    from strata.client import Client
    from strata.client.meta import ModelMeta

__all__ = ["Decision", "RateLimiter", "bind"]

# `Decision`, the core's class re-exported here, is the result of `RateLimiter.hit` and
# `RateLimiter.peek`: ``allowed``, ``count``, ``remaining``, ``limit``, ``reset_at`` (an aware
# UTC datetime), ``reset_at_ns`` and ``retry_after`` (seconds). Truthy when allowed. A Rust
# class, so that a denial answered from the cache costs no Python object construction.

#: The key field types a limiter accepts, and how the core converts key values for them.
_KEY_TYPES: dict[str, Literal["text", "int32", "int64"]] = {
    "String": "text",
    "Int": "int32",
    "BigInt": "int64",
}


class RateLimiter(CoreRateLimiter):
    """A rate limiter bound to one model; made by ``db.rate_limiter_(...)``.

    ``hit(*key, limit=, window=, cost=1, algorithm=None, rule=None)`` counts a hit and
    returns a `Decision`; ``peek`` answers the same without counting; ``cached_denial``
    (same arguments) returns the denial ``hit`` would answer from its cache, or None, and
    never touches the database, so it is safe on an event loop's thread; ``reset(*key)``
    clears a key; ``cleanup(older_than=)`` deletes old rows in bounded batches. Key values
    come in the order of ``key=``; ``window`` is in seconds; ``rule`` names a SystemConfig
    row whose JSON value is ``{"limit": 100, "window": 60}``.
    """

    model: str
    key: tuple[str, ...]

    def cleanup(self, *, older_than: float | timedelta, batch: int = 1000) -> int:
        """Delete windows that started more than ``older_than`` ago (seconds or a
        timedelta), ``batch`` rows per transaction. Keep at least two windows' worth for
        sliding windows, which read the previous window. Returns the number deleted."""
        if isinstance(older_than, timedelta):
            older_than = older_than.total_seconds()
        return super().cleanup(older_than=older_than, batch=batch)

    def set_clock(self, at: datetime | int | None) -> None:
        """Fix the limiter's clock (an aware datetime, or nanoseconds since the epoch), or
        return to the system clock with None. For tests."""
        if isinstance(at, datetime):
            if at.tzinfo is None:
                raise ValidationError("set_clock needs an aware datetime", expected="tzinfo")
            delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
            at = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        super().set_clock(at)

    def __repr__(self) -> str:
        return f"<strata.RateLimiter on {self.model} by ({', '.join(self.key)})>"


def bind(
    client: Client,
    model: str,
    *,
    key: Sequence[str],
    count: str | None = None,
    window_start: str | None = None,
    tat: str | None = None,
    config: str | None = "SystemConfig",
) -> RateLimiter:
    """A `RateLimiter` on ``model``, keyed by the fields ``key``. Give ``count`` and
    ``window_start`` for fixed and sliding windows, or ``tat`` for gcra. ``config`` is the
    model that ``rule=`` reads (a unique String ``key`` and a Json ``value``). The client's
    dialect writes the statements."""
    if isinstance(key, str):
        key = [key]
    key = tuple(key)
    if not key or len(set(key)) != len(key):
        raise ValidationError(
            "key= must name one or more distinct fields", expected="a list of field names"
        )
    windowed = count is not None or window_start is not None
    if windowed == (tat is not None) or (windowed and (count is None or window_start is None)):
        raise ValidationError(
            "give count= and window_start= (fixed and sliding windows), or tat= (gcra)",
            model=model,
        )
    meta = client.metas.get(model)
    wanted = _template(model, key, count, window_start, tat)
    if meta is None:
        raise ValidationError(
            f"the schema has no model {model!r} to keep rate limits in; add it:\n\n{wanted}",
            model=model,
            expected="a model of the schema",
        )
    stored = {count: ("Int", "BigInt"), window_start: ("DateTime",), tat: ("BigInt",)}
    expected_types = {name: _KEY_TYPES.keys() for name in key} | {
        name: types for name, types in stored.items() if name is not None
    }
    for name, types in expected_types.items():
        field = meta.scalars.get(name)
        if field is None or field.list or field.type not in types:
            line = _field_line(name, next(iter(types)), in_key=name in key)
            what = "has no field" if field is None else "needs a different type for"
            raise ValidationError(
                f"{model} {what} {name!r}; the rate limiter needs:\n\n  {line}\n\n"
                f"The whole model it expects:\n\n{wanted}",
                model=model,
                field=name,
                expected=" or ".join(types),
            )
    unique = key + ((window_start,) if window_start is not None else ())
    conflict = _unique_columns(meta, unique)
    if conflict is None:
        raise ValidationError(
            f"{model} needs a unique constraint on ({', '.join(unique)}), so that one "
            f"conflict-handling upsert counts each hit; add this line to the model:\n\n"
            f"  @@unique([{', '.join(unique)}])",
            model=model,
            expected="a unique constraint on the key"
            + (" and window start" if tat is None else ""),
        )
    # On a server the statement stamps times with the server's clock, in the column's own
    # type; only SQLite needs each DateTime's stored form, to write it from the process.
    server_clock = client.dialect.provider != "sqlite"
    id_column, id_factory, created, updated = _filled_fields(
        meta, set(expected_types), forms=not server_clock
    )
    # The hit reads the newest windows with ORDER BY and finds its window's row by
    # equality, so the window start must have one stored form; each DateTime the limiter
    # writes is written in its own column's form.
    window_format = (
        client.datetime_format
        if window_start is None or server_clock
        else single_form(meta, window_start, "the rate limiter")
    )
    keys = [meta.column(name) for name in key]
    stamped_created = [column for column, _ in created]
    stamped_updated = [column for column, _ in updated]
    config_columns = _config_columns(client.metas, config)
    if tat is None:
        assert count is not None
        assert window_start is not None
        statements = client.dialect.ratelimit.window_statements(
            meta.table_sql,
            keys,
            conflict,
            count=meta.column(count),
            window_start=meta.column(window_start),
            id=id_column,
            created=stamped_created,
            updated=stamped_updated,
            config=config_columns,
            count_optional=meta.scalars[count].optional,
        )
    else:
        statements = client.dialect.ratelimit.gcra_statements(
            meta.table_sql,
            keys,
            conflict,
            tat=meta.column(tat),
            id=id_column,
            created=stamped_created,
            updated=stamped_updated,
            config=config_columns,
            tat_optional=meta.scalars[tat].optional,
        )
    spec: RateLimiterSpec = {
        "key_types": [_KEY_TYPES[meta.scalars[name].type] for name in key],
        "shape": "gcra" if tat is not None else "window",
        "client_ids": id_column is not None,
        "stamps": [form for _, form in (*created, *updated) if form],
        "datetime_format": window_format,
        "statements": statements,
    }
    limiter = RateLimiter(client.db, spec, id_factory)
    limiter.model = model
    limiter.key = key
    return limiter


def _unique_columns(meta: ModelMeta, fields: tuple[str, ...]) -> list[str] | None:
    """The quoted columns of the unique constraint on exactly ``fields`` (in the
    constraint's order, as ``ON CONFLICT`` names it), or None."""
    candidates = [*meta.model.uniques]
    if meta.model.primary_key is not None:
        candidates.append(ir.Index(columns=meta.model.primary_key.columns, unique=True, db_name=""))
    for index in candidates:
        if {c.field for c in index.columns} == set(fields) and len(index.columns) == len(fields):
            return [meta.column(c.field) for c in index.columns]
    return None


def _filled_fields(
    meta: ModelMeta, bound: set[str], *, forms: bool = True
) -> tuple[str | None, Callable[[], object] | None, list[_Stamped], list[_Stamped]]:
    """The model's other fields: which the limiter fills on insert (a client-generated id,
    ``@default(now())`` and ``@updatedAt`` times, each with the stored form its column
    holds, unless not ``forms``), and a refusal for required fields it cannot fill."""
    id_column: str | None = None
    id_factory: Callable[[], object] | None = None
    created: list[_Stamped] = []
    updated: list[_Stamped] = []
    for name, field in meta.scalars.items():
        if name in bound:
            continue
        default = field.default
        if field.updated_at:
            updated.append(_stamped(meta, name, forms))
        elif default is not None and default.kind == "now":
            created.append(_stamped(meta, name, forms))
        elif name in meta.generated and meta.primary_key == (name,):
            id_column, id_factory = meta.column(name), meta.generated[name]
        elif field.optional or (default is not None and name not in meta.generated):
            continue  # NULL, or the database's own default (a literal, autoincrement)
        else:
            raise ValidationError(
                f"{meta.name}.{name} is required and has no default, so the rate limiter "
                f"cannot fill it; make it optional or give it a @default",
                model=meta.name,
                field=name,
                expected="an optional field or one with a @default",
            )
    return id_column, id_factory, created, updated


#: A column the limiter stamps with the time: (quoted column, stored form).
_Stamped = tuple[str, str]


def _stamped(meta: ModelMeta, name: str, forms: bool = True) -> _Stamped:
    """A stamped column and the form to write in: the column's detected form (written, not
    compared, so a mixed column takes its most common form)."""
    if not forms:
        return meta.column(name), ""
    codec = meta.codecs[name]
    assert isinstance(codec, DateTimeCodec), name  # now() and @updatedAt are DateTimes
    return meta.column(name), codec.storage.write_format


def _config_columns(metas: dict[str, ModelMeta], name: str | None) -> tuple[str, str, str] | None:
    """Where ``rule=`` reads limits, (table, key, value) quoted, when the schema has a
    config model of that name with a unique String ``key`` and a Json ``value``."""
    meta = metas.get(name) if name is not None else None
    if meta is None:
        return None
    key, value = meta.scalars.get("key"), meta.scalars.get("value")
    if key is None or value is None or key.type != "String" or value.type != "Json":
        return None
    if _unique_columns(meta, ("key",)) is None:
        return None
    return meta.table_sql, meta.column("key"), meta.column("value")


def _field_line(name: str, type_name: str, *, in_key: bool) -> str:
    return f"{name} {type_name}" + ("" if in_key or type_name != "Int" else " @default(0)")


def _template(
    model: str,
    key: tuple[str, ...],
    count: str | None,
    window_start: str | None,
    tat: str | None,
) -> str:
    """The model the limiter expects, as schema text to paste."""
    fields = [("id", "String @id @default(uuid())")]
    fields += [(name, "String") for name in key]
    if tat is not None:
        fields.append((tat, "BigInt // theoretical arrival time, ns since the Unix epoch"))
        unique = key
        extra = ""
    else:
        fields.append((count or "count", "Int @default(0)"))
        fields.append((window_start or "windowStart", "DateTime"))
        unique = (*key, window_start or "windowStart")
        extra = f"\n  @@index([{window_start or 'windowStart'}])"
    width = max(len(name) for name, _ in fields)
    lines = [f"  {name:<{width}} {kind}" for name, kind in fields]
    return (
        f"model {model} {{\n"
        + "\n".join(lines)
        + f"\n\n  @@unique([{', '.join(unique)}]){extra}\n}}"
    )
