"""A job queue bound to a model of the user's schema: priority claims with leases and
fencing tokens, run by the Rust core (rust/queue.rs).

    q = db.queue_("Job",
                 ready={"status": "QUEUED"}, claimed={"status": "RENDERING"},
                 done={"status": "COMPLETED"}, failed={"status": "FAILED"},
                 order_by=[{"priority": "desc"}, {"submittedAt": "asc"}],
                 lease=timedelta(seconds=60), max_attempts=5)
    for claim in q.claim("node-7", limit=8):
        q.complete(claim, data={"outputPath": "/renders/a.mov"})

strata creates no table of its own (docs/ARCHITECTURE.md, decision 4): a job's state is the
model's own fields, and the lease is kept in four more, which the binding checks for and,
when they are missing, prints for the user to add:

* ``leaseExpiresAt DateTime?``: when a claimed job's lease runs out. On a ready job it is
  the time the job becomes claimable: a delayed enqueue (``run_at``) or a retry's backoff;
* ``leaseToken Int @default(0)``: the fencing token. Each claim adds one, and a call that
  names an older token changes nothing and raises `strata.LeaseLostError`;
* ``workerId String?``: who holds, or last held, the job;
* ``attempts Int @default(0)``: claims so far. A job whose worker keeps dying is failed
  once it reaches ``max_attempts``.

DateTime columns are written and compared in the stored form each one holds (detected from
its data when the queue is bound; see `strata.client.datetimes`), whatever ``datetime_format``
says. The claim compares the lease in SQL, so a lease, start, finish or order column that
holds more than one form is refused when the queue is bound (`strata.MixedDateTimeError`,
naming the rewrite command that fixes it).

Optional fields are used when the model has them: ``error``/``errorMessage``, ``progress``
and ``logs`` (`Queue.progress`), ``startedAt`` and ``completedAt`` (`Queue.purge` needs it)
and ``uniqueKey`` (`Queue.enqueue`'s deduplication). ``fields=`` renames any of them.

**States.** Each state maps fields to the values a job in it has. The claimed state may
give a field several values, ``{"in": [first, ...]}``: a claim writes the first, and a job
in any of them is claimed (fenced, leased, recovered when its lease runs out). `Queue.mark`
moves a job between them under its lease::

    q = db.queue_("Job", ready={"status": "PENDING"},
                 claimed={"status": {"in": ["ASSIGNED", "RUNNING"]}},
                 done={"status": "COMPLETED"}, failed={"status": "FAILED"})
    (claim,) = q.claim("rig-7")            # status ASSIGNED
    q.mark(claim, {"status": "RUNNING"})   # still claimed by rig-7, lease extended

No job may match the claimed state and another one at once (ready, done, failed,
cancelled); the binding refuses states that overlap. Without ``order_by``, jobs are claimed
in insertion order (the table's rowid, which is the id for an ``Int @id``).

**Workers.** `Queue.run` is the worker loop: a handler's exception or unusable result fails
that job (its text stored) and the loop goes on; transient database errors such as
`strata.BusyError` are retried with backoff while the job in hand keeps its lease; any other
fault stops every thread and raises `strata.WorkerError`. Failures are logged to the
``strata.queue`` logger.

This package is the facade (`Queue`, `QueueStats`, `default_backoff`); the binding and its
SQL are `strata.queue.binding`, `Queue.run`'s loop `strata.queue.worker`, and `Claim`
`strata.queue.common`. Every name is re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from strata._compat import UTC
from strata._core import Beater, Heartbeat
from strata._core import Queue as CoreQueue
from strata.dialects.values import describe_value
from strata.errors import ValidationError
from strata.queue.binding import WORKER, _Binding
from strata.queue.common import (
    Claim,
    QueueStats,
    _error_text,
    _missing_optional,
    _seconds,
    _stored_time,
    _UndoSettings,
    default_backoff,
)
from strata.queue.worker import RETRY_CAP as RETRY_CAP
from strata.queue.worker import RETRY_FIRST as RETRY_FIRST
from strata.queue.worker import _WorkerLoop

if TYPE_CHECKING:
    import threading

    from strata._core import SqlValue
    from strata.client import Client

__all__ = ["WORKER", "Claim", "Queue", "QueueStats", "default_backoff"]

#: A fenced write for the core: (sql, id, token, delay in seconds, params).
_Item = tuple[str, Any, int, float, "dict[str, Any] | None"]

MAX_CLAIM = 10_000
#: Rows deleted per transaction by `Queue.purge`: short enough that workers waiting for
#: the write lock are not held up noticeably.
PURGE_BATCH = 1_000

_log = logging.getLogger("strata.queue")


class Queue:
    """A queue over one model. Build it with `strata.Database.queue_`."""

    def __init__(
        self,
        client: Client,
        model: str,
        *,
        ready: Mapping[str, Any],
        claimed: Mapping[str, Any],
        done: Mapping[str, Any],
        failed: Mapping[str, Any],
        cancelled: Mapping[str, Any] | None = None,
        order_by: Sequence[Mapping[str, str]] | Mapping[str, str] | None = None,
        lease: timedelta | float = timedelta(seconds=60),
        max_attempts: int = 5,
        backoff: Callable[[int], timedelta] = default_backoff,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        if model not in client.metas:
            raise ValidationError(
                f"the schema has no model {model!r} (its models: {', '.join(client.metas)})",
                model=model,
                expected="a model of the schema",
            )
        meta = client.metas[model]
        self._client = client
        self._engine = client.db
        self._meta = meta
        self.model = model
        self.lease = _seconds(lease, "lease")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError(
                f"max_attempts must be an int of at least 1, got {describe_value(max_attempts)}",
                model=model,
                expected="an int >= 1",
            )
        self.max_attempts = max_attempts
        self.backoff = backoff
        states = {
            "ready": ready,
            "claimed": claimed,
            "done": done,
            "failed": failed,
            "cancelled": cancelled,
        }
        self._binding = binding = _Binding(
            client.dialect.queue, meta, states, order_by, fields or {}, max_attempts
        )
        self._settle_sql: dict[Any, str] = {}
        #: Statements settling many claims at once, or None where the core settles them
        #: one by one (`_Binding.complete_many_sql`).
        self._bulk_sql: dict[Any, str | None] = {}
        self._core = CoreQueue(
            client.db,
            recover=binding.recover_sql(),
            claim=binding.claim_sql(),
            why=binding.why_sql(),
            heartbeat=binding.heartbeat_sql(),
            changes=binding.changes_sql(),
            listen=binding.listen_sql(),
            constants=binding.constants,
            datetime_format=binding.forms[binding.fields["lease_expires_at"]],
            order=binding.core_order(),
            # Expired leases are looked for at most this often (see rust/queue.rs).
            recover_every=min(1.0, self.lease / 4),
        )
        #: Run in each enqueue's transaction to wake other processes' waiters on commit
        #: (PostgreSQL's NOTIFY); None where waiters see commits by themselves.
        self._notify_sql = binding.notify_sql()
        # Refused now rather than at the first claim (which checks it too): a lease ending
        # after 9999-12-31 would be stored as a time that cannot be read back.
        if self.lease > (datetime.max.replace(tzinfo=UTC) - self.now()).total_seconds():
            raise ValidationError(
                f"{model}: a lease of {lease!r} would end after 9999-12-31, the last time a "
                "DateTime can hold",
                model=model,
                expected="a shorter lease",
            )
        advice = self.index_advice()
        if advice is not None:
            warnings.warn(
                f"{model}: claims would sort the ready jobs on every call; add {advice} to "
                f"model {model} (strata doctor shows this too)",
                stacklevel=3,
            )

    # -- claiming and settling -------------------------------------------------------------

    def claim(self, worker: str, limit: int = 1) -> list[Claim]:
        """Claim up to ``limit`` jobs for ``worker``, in the queue's order: ready jobs that
        are due, and jobs whose lease expired. One call into the core, one transaction."""
        self._check_claim_args(worker, limit)
        return self._claims(self._core.claim(worker, limit, self.lease), worker)

    def _check_claim_args(self, worker: Any, limit: Any) -> None:
        if not isinstance(worker, str) or not worker:
            raise ValidationError(
                f"worker must be a non-empty str, got {describe_value(worker)}",
                model=self.model,
                expected="a worker id",
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_CLAIM:
            raise ValidationError(
                f"limit must be an int from 1 to {MAX_CLAIM}, got {describe_value(limit)}",
                model=self.model,
                expected=f"1 to {MAX_CLAIM}",
            )

    def _claims(self, rows: list[tuple[Any, ...]], worker: str) -> list[Claim]:
        if recovered := self._core.take_recovered():
            _log.warning(
                "queue %s: recovered %d job(s) whose lease expired (their worker is presumed "
                "dead): ready again, or failed after their last attempt",
                self.model,
                recovered,
            )
        if self._binding.rowid_returned:
            return [self._claim(row[:-1], worker) for row in rows]
        return [self._claim(row, worker) for row in rows]

    def _claim(self, row: tuple[Any, ...], worker: str) -> Claim:
        record = self._meta.full_reader.record(row)
        fields = self._binding.fields
        return Claim(
            record=record,
            token=getattr(record, fields["lease_token"]),
            id=getattr(record, self._binding.id),
            worker=worker,
        )

    def _item(
        self,
        claim: Claim,
        key: Any,
        build: Callable[[], str],
        params: dict[str, Any] | None = None,
        delay: float = 0.0,
    ) -> _Item:
        """The fenced write ``key`` (its SQL built once by ``build``) for ``claim``, as the
        core takes it: (sql, id, token, delay, params)."""
        self._check_claim(claim)
        sql = self._settle_sql.get(key)
        if sql is None:
            sql = self._settle_sql[key] = build()
        return (sql, self._sql_id(claim), claim.token, delay, params)

    def _check_claim(self, claim: Any) -> None:
        if not isinstance(claim, Claim):
            raise ValidationError(
                f"expected a Claim from claim(), got {describe_value(claim)}",
                model=self.model,
                expected="a Claim",
            )

    def _sql_id(self, claim: Claim) -> Any:
        return self._meta.codecs[self._binding.id].to_sql(claim.id)

    def _settle(self, item: _Item, *, record: bool = True) -> Any:
        """Write one outcome; `LeaseLostError` when its claim is stale."""
        sql, id_value, token, delay, params = item
        row = self._core.settle(sql, id_value, token, lease=self.lease, delay=delay, params=params)
        return self._meta.full_reader.record(row) if record else row

    def _complete_item(self, claim: Claim, data: Mapping[str, Any] | None) -> _Item:
        if not data:  # the worker loop's usual case, kept short
            return self._item(claim, ("complete", ()), self._complete_bare_sql)
        data = dict(data)
        params: dict[str, Any] = {}
        sets = self._binding.data_sets(data, params)  # validates before any SQL runs
        key = ("complete", tuple(data))
        return self._item(claim, key, lambda: self._binding.complete_sql(sets), params)

    def _complete_bare_sql(self) -> str:
        return self._binding.complete_sql([])

    def complete(self, claim: Claim, data: Mapping[str, Any] | None = None) -> Any:
        """Move the job to the done state, writing ``data`` too; returns the record.
        `LeaseLostError` if the claim is stale, and then nothing changes. The outcome is
        committed (durable) when this returns."""
        return self._settle(self._complete_item(claim, data))

    def complete_and_claim(
        self,
        claim: Claim | Sequence[Claim],
        data: Mapping[str, Any] | None = None,
        *,
        worker: str,
        limit: int = 1,
    ) -> list[Claim]:
        """`complete` ``claim`` (or each of a list of claims, with the same ``data``), then
        `claim` up to ``limit`` jobs for ``worker``, in one transaction and one commit: the
        loop of a hand-written worker at half the transactions. Returns the new claims ([]
        when none is due; it does not wait).

        All happen or none: if a claim is stale, `LeaseLostError` (or `JobCancelledError`)
        is raised, no job is completed and nothing is claimed; claim again with `claim`.
        The completions are durable when this returns."""
        batch: Sequence[Any] = claim if isinstance(claim, (list, tuple)) else [claim]
        items = [self._complete_item(each, data) for each in batch]  # each checked a Claim
        self._check_claim_args(worker, limit)
        _, (rows,) = self._core.settle_and_claim(
            items, [(worker, limit)], lease=self.lease, strict=True, rows=False
        )
        return self._claims(rows, worker)

    def _settle_and_claim(
        self, items: Sequence[_Item], claims: Sequence[tuple[str, int]]
    ) -> tuple[list[Any], list[list[Claim]]]:
        """Outcomes and claims for several workers in one transaction (`Queue.run`'s
        group commit): per item its row, or None where its claim was stale (that one
        changes nothing, the rest apply), else True; per (worker, limit) its claims."""
        rows, claimed = self._core.settle_and_claim(
            list(items), list(claims), lease=self.lease, strict=False, rows=False
        )
        return rows, [
            self._claims(found, worker) for found, (worker, _) in zip(claimed, claims, strict=True)
        ]

    def complete_many(
        self, claims: Sequence[Claim], data: Mapping[str, Any] | None = None
    ) -> list[Claim]:
        """`complete` for many claims in one call and one transaction (the same ``data``
        for each). A stale claim changes nothing and is returned; the rest complete."""
        for claim in claims:
            if not isinstance(claim, Claim):
                raise ValidationError(
                    f"expected Claims from claim(), got {describe_value(claim)}",
                    model=self.model,
                    expected="a Claim",
                )
        data = dict(data or {})
        params: dict[str, Any] = {}
        sets = self._binding.data_sets(data, params)
        to_sql = self._meta.codecs[self._binding.id].to_sql
        bulk_key = ("complete_many", tuple(data))
        if bulk_key not in self._bulk_sql:
            self._bulk_sql[bulk_key] = self._binding.complete_many_sql(sets)
        bulk = self._bulk_sql[bulk_key]
        ids = [to_sql(c.id) for c in claims]
        # One token per id in the statement's arrays: a job claimed twice in the list (a
        # stale claim beside the current one) is settled claim by claim.
        if bulk is not None and len(set(ids)) == len(ids):
            params.update({":ids": ids, ":tokens": [c.token for c in claims]})
            completed = {row[0] for row in self._core.run(bulk, params)}
            return [claim for claim, id in zip(claims, ids, strict=True) if id not in completed]
        key = ("complete", tuple(data))
        sql = self._settle_sql.get(key)
        if sql is None:
            sql = self._settle_sql[key] = self._binding.complete_sql(sets)
        rows = self._core.settle_many(
            sql,
            [(id, c.token) for id, c in zip(ids, claims, strict=True)],
            lease=self.lease,
            params=params,
        )
        return [claim for claim, row in zip(claims, rows, strict=True) if row is None]

    def fail(
        self,
        claim: Claim,
        error: str | BaseException | None = None,
        *,
        retry_in: timedelta | float | None = None,
        final: bool = False,
    ) -> Any:
        """Record a failed attempt. Until ``max_attempts`` (or with ``final``), the job goes
        back to ready, claimable again after ``retry_in`` (default: `default_backoff`).
        After that it moves to the failed state. The error's text is kept when the model has
        an error field. Returns the record."""
        return self._settle(self._fail_item(claim, error, retry_in=retry_in, final=final))

    def _fail_item(
        self,
        claim: Claim,
        error: str | BaseException | None,
        *,
        retry_in: timedelta | float | None = None,
        final: bool = False,
    ) -> _Item:
        self._check_claim(claim)  # before its attempt is read
        delay = (
            self.backoff(claim.attempt).total_seconds()
            if retry_in is None
            else _seconds(retry_in, "retry_in", allow_zero=True)
        )
        params: dict[str, Any] = {":final": int(final)}
        if error is not None and "error" in self._binding.fields:
            params[":error"] = self._error_text(error)
        with_error = ":error" in params
        build = lambda: self._binding.fail_sql(with_error)  # noqa: E731
        return self._item(claim, ("fail", with_error), build, params, delay)

    def _error_text(self, error: str | BaseException) -> str:
        """The stored text of a failure. A str is the caller's text, checked like any value
        of the field (a lone surrogate is refused). An exception's text is a description:
        a lone surrogate in it (an OSError naming a file that is not UTF-8) is written as a
        ``\\udcff`` escape, because refusing it would leave the failure unrecorded."""
        if isinstance(error, str):
            return str(self._meta.codecs[self._binding.fields["error"]].to_sql(error))
        return _error_text(error)

    def release(self, claim: Claim) -> Any:
        """Give the job back unfinished (a worker shutting down): ready again at once, and
        this attempt does not count."""
        return self._settle(self._release_item(claim))

    def _release_item(self, claim: Claim) -> _Item:
        return self._item(claim, "release", self._binding.release_sql)

    def _wait(self, timeout: float) -> bool:
        """Block until a job may have become claimable (see `wait_and_claim`)."""
        return self._core.wait(timeout)

    def heartbeat(self, claim: Claim) -> None:
        """Extend the claim's lease by the queue's lease. `JobCancelledError` when the job
        was cancelled (stop working on it), `LeaseLostError` when the lease was lost."""
        self._settle(self._item(claim, "heartbeat", self._binding.heartbeat_sql), record=False)

    def progress(self, claim: Claim, pct: float, logs: str | None = None) -> None:
        """Record progress (and append ``logs`` to the logs field), extending the lease.
        Raises like `heartbeat` when the job was cancelled or the lease lost."""
        if "progress" not in self._binding.fields:
            raise _missing_optional(self._meta, "progress", "progress Int @default(0)")
        if logs is not None and "logs" not in self._binding.fields:
            raise _missing_optional(self._meta, "logs", "logs String?")
        progress_type = self._meta.scalars[self._binding.fields["progress"]].type
        value = self._meta.codecs[self._binding.fields["progress"]].to_sql(
            round(pct) if progress_type == "Int" and isinstance(pct, float) else pct
        )
        params: dict[str, Any] = {":progress": value}
        if logs is not None:
            params[":logs"] = logs

        with_logs = logs is not None
        build = lambda: self._binding.progress_sql(with_logs)  # noqa: E731
        self._settle(self._item(claim, ("progress", with_logs), build, params), record=False)

    def mark(self, claim: Claim, data: Mapping[str, Any]) -> Any:
        """Write ``data`` to the job while the claim holds it, extending the lease as
        `heartbeat` does; returns the record. With several claimed states
        (``claimed={"status": {"in": ["ASSIGNED", "RUNNING"]}}``) this moves the job
        between them under its lease: ``q.mark(claim, {"status": "RUNNING"})``. A field of
        the claimed state may only take another of its claimed values (`complete`, `fail`,
        `release` and lease recovery move a job out). Raises like `heartbeat` when the job
        was cancelled or the lease lost, and then nothing changes."""
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{self.model}: mark() takes a dict of fields, got {describe_value(data)}",
                model=self.model,
                expected="a dict",
            )
        data = dict(data)
        self._binding.check_stays_claimed(data)
        params: dict[str, Any] = {}
        sets = self._binding.data_sets(data, params)
        return self._settle(
            self._item(claim, ("mark", tuple(data)), lambda: self._binding.mark_sql(sets), params)
        )

    def _beater(self) -> Beater:
        """A heartbeat for one thread of `run`, moved from claim to claim (`working`'s
        thread per claim would cost more than a short job)."""
        return self._core.beater(self.lease, self.lease / 3)

    @contextlib.contextmanager
    def working(self, claim: Claim, every: float | None = None) -> Iterator[Heartbeat]:
        """Keep the claim's lease alive from a Rust thread while the block runs, whatever
        the block does with the GIL. The yielded heartbeat's ``state`` turns to
        ``"cancelled"`` or ``"lost"`` if the job is cancelled or the lease lost."""
        interval = self.lease / 3 if every is None else _seconds(every, "every")
        id_value = self._meta.codecs[self._binding.id].to_sql(claim.id)
        beat = self._core.heartbeat(id_value, claim.token, self.lease, interval)
        try:
            yield beat
        finally:
            beat.stop()

    # -- enqueueing ------------------------------------------------------------------------

    def enqueue(
        self,
        data: Mapping[str, Any],
        *,
        run_at: datetime | timedelta | None = None,
        unique_key: str | None = None,
    ) -> Any:
        """Create a ready job from ``data`` (the model's fields; the ready state's values are
        added) and return its record. ``run_at`` (a time, or a delay) holds it back until
        then. With ``unique_key``, while a ready or claimed job has the same key, that job
        is returned instead and nothing is created."""
        row = self._new_row(data, run_at)
        repository = self._client.repository(self.model)
        if unique_key is None and self._notify_sql is None:
            record = repository.create(data=row)
        else:
            with self._engine.transaction_():
                if unique_key is not None:
                    row[self._unique_field()] = unique_key
                    self._lock_unique_keys()
                    existing = self._active_with_keys([unique_key])
                    if existing:
                        return repository.find_unique_or_raise(
                            where={self._binding.id: existing[unique_key]}
                        )
                record = repository.create(data=row)
                self._notify_on_commit()
        self._core.notify()
        return record

    def _notify_on_commit(self) -> None:
        """Within an enqueue's transaction: wake the listening workers when it commits."""
        if self._notify_sql is not None:
            self._core.run(self._notify_sql)

    def _lock_unique_keys(self) -> None:
        """Within an enqueue's transaction: hold other unique-key enqueues off until it ends,
        so that none inserts a key this one is about to (where the transaction's own lock
        does not already)."""
        sql = self._binding.unique_lock_sql()
        if sql is not None:
            self._core.run(sql)

    def enqueue_many(
        self,
        data: Sequence[Mapping[str, Any]],
        *,
        run_at: datetime | timedelta | None = None,
    ) -> int:
        """Create many ready jobs through the core's bulk insert in one transaction; returns
        how many. A row is skipped when a ready or claimed job, or an earlier row, has its key."""
        reserved = self._binding.reserved
        for index, item in enumerate(data):
            mapping = type(item) is dict or isinstance(item, Mapping)  # dict first: ABCs cost
            if not mapping or not reserved.isdisjoint(item):
                self._check_job_data(item, index)
        defaults = dict(self._binding.states["ready"])
        if run_at is not None:
            defaults[self._binding.fields["lease_expires_at"]] = self._time(run_at)
        key_field = self._binding.fields.get("unique_key")
        rows: Sequence[Mapping[str, Any]] = data
        with self._engine.transaction_():
            if key_field is not None and any(key_field in row for row in rows):
                self._lock_unique_keys()
                keys = [row[key_field] for row in rows if row.get(key_field) is not None]
                taken = set(self._active_with_keys(keys))
                kept = []
                for row in rows:
                    key = row.get(key_field)
                    if key is None or key not in taken:
                        kept.append(row)
                        if key is not None:
                            taken.add(key)
                rows = kept
            writer = self._client.bulk_writer(self._meta)
            with self._client.naming_constraints():
                count = writer.insert_rows(rows, defaults=defaults)
            if count:
                self._notify_on_commit()
        self._core.notify()
        return count

    def _new_row(
        self, data: Mapping[str, Any], run_at: datetime | timedelta | None
    ) -> dict[str, Any]:
        self._check_job_data(data)
        row = {**data, **self._binding.states["ready"]}
        if run_at is not None:
            row[self._binding.fields["lease_expires_at"]] = self._time(run_at)
        return row

    def _check_job_data(self, data: Any, row: int | None = None) -> None:
        """A job's data may not set the queue's bookkeeping or the state fields."""
        where = "" if row is None else f"row {row}: "
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{where}{self.model}: a job's data must be a dict, got {describe_value(data)}",
                model=self.model,
                expected="a dict",
            )
        clash = sorted(self._binding.reserved.intersection(data))
        if clash:
            raise ValidationError(
                f"{where}{self.model}.{clash[0]} is set by the queue (bookkeeping or state)",
                model=self.model,
                field=clash[0],
                expected="a field of the job itself",
            )

    def _unique_field(self) -> str:
        if "unique_key" not in self._binding.fields:
            raise _missing_optional(self._meta, "unique_key", "uniqueKey String?")
        return self._binding.fields["unique_key"]

    def _active_with_keys(self, keys: Sequence[str]) -> dict[str, Any]:
        """Ready or claimed jobs holding any of ``keys``: key to id."""
        if not keys:
            return {}
        key_field = self._unique_field()
        found: dict[str, Any] = {}
        # Bounded batches: SQLite limits the bound parameters of one statement.
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            params: dict[str, Any] = {f":key_{i}": key for i, key in enumerate(batch)}
            rows = self._core.run(self._binding.active_with_keys_sql(key_field, params), params)
            found.update(dict(rows))
        return found

    # -- waiting and working ---------------------------------------------------------------

    def wait_and_claim(
        self, worker: str, *, limit: int = 1, timeout: float | None = None
    ) -> list[Claim]:
        """Claim, or wait until a job may be claimable and claim then; [] after
        ``timeout`` seconds. Waiting polls `PRAGMA data_version` on a reader, which changes
        when any process commits, and never touches the write lock (SQLite), or listens for
        the notification every enqueue sends on commit, on a connection outside the pool
        (PostgreSQL); delayed jobs, expired leases and missed notifications are rechecked
        at least every half second."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            claims = self.claim(worker, limit)
            if claims:
                return claims
            remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if remaining <= 0:
                return []
            self._core.wait(remaining)

    def run(
        self,
        handler: Callable[[Claim], Mapping[str, Any] | None],
        *,
        worker: str,
        concurrency: int = 1,
        exit_when_idle: bool = False,
        stop: threading.Event | None = None,
    ) -> int:
        """Work jobs until stopped: each thread claims jobs and calls ``handler(claim)``
        on each, with the lease renewed while it runs (one heartbeat thread per worker
        thread, moved from claim to claim).

        * Transactions: a thread writes its finished jobs' outcomes with its next claim
          in one transaction, claims ahead while jobs are short (see
          `strata.queue.worker`: up to 32), and with ``concurrency`` > 1 the threads'
          outcomes and claims are group-committed. An outcome waits at most
          `GROUP_WINDOW` (2 ms) to share a transaction, so it is durable within a few ms of
          the handler's return (a crash in between re-runs the job after its lease, like
          any crash mid-job); `complete` called by hand is durable when it returns.

        * What the handler returns, a mapping of fields or None, is written with
          `complete`. An exception, a return value of any other type, or fields that
          cannot be written (an unknown field, a constraint) are the job's failure: it is
          recorded with `fail` (the text in the error field, when the model has one) and
          the thread goes on with the next job. A cancelled job or a lost lease is dropped.
        * Transient database errors (`strata.BusyError` when another process holds the
          write lock past the busy timeout, or any `strata.StrataError` whose
          ``retryable`` is true) are retried with exponential backoff from `RETRY_FIRST`
          to `RETRY_CAP` seconds, with jitter. A claim in hand keeps its lease meanwhile
          (its heartbeat runs on); once stopping, its result is retried for one more lease
          at most, then the job is left to lease recovery.
        * Any other error in the loop itself (a closed database, a failing ``backoff``)
          stops every thread, each finishing the job in hand, and `run` raises
          `strata.WorkerError` chained to that error. It never returns as if stopped.

        Failures are logged to the ``strata.queue`` logger: a job's failure at WARNING
        with its id and error, retries at INFO (WARNING once they persist), a lost lease
        at WARNING, a worker's death at ERROR with its traceback.

        Stops on SIGTERM or SIGINT (when called from the main thread), when ``stop`` is
        set (a worker's death sets it too), or, with ``exit_when_idle``, when nothing is
        claimable (it claims without waiting); the job in hand is finished first, and the
        jobs claimed ahead but not started are released (ready again at once, the attempt
        uncounted) in the transaction that writes the last outcomes. Returns the number
        of jobs handled."""
        return _WorkerLoop(self).run(
            handler,
            worker=worker,
            concurrency=concurrency,
            exit_when_idle=exit_when_idle,
            stop=stop,
        )

    # -- inspection and cleanup ------------------------------------------------------------

    def cancel(self, id: Any) -> bool:
        """Cancel a ready or running job; True if it was cancelled, False if it had already
        finished. A running job's worker learns of it at its next heartbeat or progress
        call (`JobCancelledError`). `strata.RecordNotFoundError` if there is no such job."""
        if "cancelled" not in self._binding.states:
            raise ValidationError(
                f"{self.model}: this queue has no cancelled state; pass cancelled={{...}}",
                model=self.model,
                expected="a cancelled state",
            )
        rows = self._core.run(
            self._binding.cancel_sql(), {":id": self._meta.codecs[self._binding.id].to_sql(id)}
        )
        if rows:
            return True
        self._client.repository(self.model).find_unique_or_raise(where={self._binding.id: id})
        return False

    def stats(self) -> QueueStats:
        """Jobs per state, delayed jobs, expired leases and the oldest claimable job's age."""
        (row,) = self._core.run(self._binding.stats_sql(), write=False)
        *state_counts, delayed, expired, first = row
        age = None if first is None else self.now() - _stored_time(first)
        return QueueStats(
            counts=dict(zip(self._binding.conditions, state_counts, strict=True)),
            delayed=delayed,
            expired_leases=expired,
            oldest_ready_age=age,
        )

    def purge(self, completed_before: datetime | timedelta, *, include_failed: bool = False) -> int:
        """Delete finished jobs whose completion time is before ``completed_before`` (a
        time, or an age), in batches of `PURGE_BATCH`, each its own transaction so that
        workers are never held up for long. Returns how many were deleted."""
        if "finished_at" not in self._binding.fields:
            raise _missing_optional(self._meta, "finished_at", "completedAt DateTime?")
        if self._engine.in_transaction_:
            raise ValidationError(
                "purge() commits batch by batch; call it outside a transaction",
                model=self.model,
                expected="no open transaction",
            )
        cutoff = (
            self.now() - completed_before
            if isinstance(completed_before, timedelta)
            else completed_before
        )
        sql = self._binding.purge_sql(include_failed, PURGE_BATCH)
        params = {":cutoff": self._meta.codecs[self._binding.fields["finished_at"]].to_sql(cutoff)}
        total = 0
        while True:
            deleted = len(self._core.run(sql, params))
            total += deleted
            if deleted < PURGE_BATCH:
                return total

    def index_advice(self) -> str | None:
        """The ``@@index`` line the claim needs to find ready jobs in order without sorting
        them all, or None when the schema already has a suitable index."""
        setup = self._binding.sql.plan_setup_sql()
        explain = self._binding.ready_plan_sql()
        limit: dict[str, SqlValue] = {":limit": 1}
        if setup:
            # Rolled back, so the settings end with it, even inside the caller's
            # transaction (a savepoint rolled back undoes them; one released would not).
            try:
                with self._engine.transaction_():
                    for sql in setup:
                        self._core.run(sql, write=False)
                    plan = self._core.run(explain, limit, write=False)
                    raise _UndoSettings
            except _UndoSettings:
                pass
        else:
            plan = self._core.run(explain, limit, write=False)
        if not self._binding.sql.plan_sorts(plan):
            return None
        ready = self._binding.states["ready"]
        fields = [f for f in ready if ready[f] is not None]
        for field, descending in self._binding.order:
            if field not in fields:
                fields.append(f"{field}(sort: Desc)" if descending else field)
        return f"@@index([{', '.join(fields)}])"

    def now(self) -> datetime:
        """The queue's clock: what leases, delays and ages are measured against."""
        return datetime.fromtimestamp(self._core.now_ms() / 1000, UTC)

    def advance_clock(self, seconds: float) -> None:
        """Move the queue's clock forward (or back, with a negative value): tests make
        leases expire and delays pass without sleeping. Only this process's queue object
        sees the shift."""
        self._core.shift_clock(seconds)

    def _time(self, value: datetime | timedelta, name: str = "run_at") -> datetime:
        """A time, or a delay from the queue's clock, as the time to store."""
        if isinstance(value, timedelta):
            try:
                return self.now() + value
            except OverflowError:
                raise ValidationError(
                    f"{name}: {value} from now is outside the years 1 to 9999 that a DateTime "
                    "can hold, so the stored time could not be read back; nothing was written",
                    model=self.model,
                    expected="a time within the years 1 to 9999",
                ) from None
        return value
