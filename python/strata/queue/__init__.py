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

Optional fields are used when the model has them: ``error``/``errorMessage`` (a failure's
text), ``progress`` and ``logs`` (`Queue.progress`), ``startedAt`` and ``completedAt``
(stamped on claim and on completion; `Queue.purge` needs the latter), and ``uniqueKey``
(`Queue.enqueue`'s deduplication). ``fields=`` renames any of them.

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
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from strata import _core
from strata.client.codecs import describe_value, parse_datetime
from strata.client.datetimes import compared_column, single_form
from strata.dialects.sqlite.datetimes import form_condition
from strata.errors import (
    ConstraintError,
    JobCancelledError,
    LeaseLostError,
    StrataError,
    ValidationError,
    ValueTooLongError,
    WorkerError,
)

if TYPE_CHECKING:
    from strata.client.meta import ModelMeta
    from strata.database import Database

__all__ = ["WORKER", "Claim", "Queue", "QueueStats", "default_backoff"]


class _Worker:
    def __repr__(self) -> str:
        return "strata.WORKER"


#: In ``claimed=``, stands for the claiming worker's id: ``{"providerId": WORKER}``.
WORKER: Any = _Worker()

#: The lease bookkeeping fields: role, default name, and the schema line to add.
_LEASE_FIELDS = {
    "lease_expires_at": ("leaseExpiresAt", "DateTime?"),
    "lease_token": ("leaseToken", "Int       @default(0)"),
    "worker_id": ("workerId", "String?"),
    "attempts": ("attempts", "Int       @default(0)"),
}
#: Optional fields: role, the names tried by default, and the accepted types.
_OPTIONAL_FIELDS = {
    "error": (("error", "errorMessage", "lastError"), ("String",)),
    "progress": (("progress",), ("Int", "Float")),
    "logs": (("logs",), ("String",)),
    "started_at": (("startedAt",), ("DateTime",)),
    "finished_at": (("completedAt", "finishedAt"), ("DateTime",)),
    "unique_key": (("uniqueKey",), ("String",)),
}
_STATES = ("ready", "claimed", "done", "failed", "cancelled")
MAX_CLAIM = 10_000
#: Rows deleted per transaction by `Queue.purge`: short enough that workers waiting for
#: the write lock are not held up noticeably.
PURGE_BATCH = 1_000
#: `Queue.run` retries a transient database error after this many seconds, doubling up
#: to `RETRY_CAP`; each wait is scaled by a random factor from 0.5 to 1 (jitter), so that
#: workers which met the same lock do not retry in step.
RETRY_FIRST = 0.05
RETRY_CAP = 2.0
#: Consecutive retries logged at INFO; later ones at WARNING, as the outage persists.
_QUIET_RETRIES = 4

#: Failures, retries and worker deaths of `Queue.run`.
_log = logging.getLogger("strata.queue")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed job: the record as claimed, and the fencing token that the calls which
    settle it must present."""

    record: Any
    token: int
    id: Any
    worker: str

    @property
    def attempt(self) -> int:
        """1 for the first claim of the job, 2 for its first retry..."""
        return int(getattr(self.record, "attempts", 0))


@dataclass(frozen=True, slots=True)
class QueueStats:
    #: Jobs in each state the binding names (``ready`` counts delayed jobs too).
    counts: dict[str, int]
    #: Ready jobs whose ``run_at`` or retry backoff has not come yet.
    delayed: int
    #: Claimed jobs whose lease ran out: their worker is presumed dead.
    expired_leases: int
    #: How long the oldest claimable job has waited, when the model has a creation time.
    oldest_ready_age: timedelta | None


def default_backoff(attempt: int) -> timedelta:
    """Exponential: 1 s after the first attempt, doubling, at most 10 minutes."""
    return timedelta(seconds=min(600, 2 ** max(0, attempt - 1)))


class Queue:
    """A queue over one model. Build it with `strata.Database.queue_`."""

    def __init__(
        self,
        db: Database,
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
        client = db.client_
        if model not in client.metas:
            raise ValidationError(
                f"the schema has no model {model!r} (its models: {', '.join(client.metas)})",
                model=model,
                expected="a model of the schema",
            )
        meta = client.metas[model]
        self._db = db
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
        self._fields = self._bind_fields(fields or {})
        if len(meta.primary_key) != 1:
            raise ValidationError(
                f"{model}: a queue's model needs a single-field @id",
                model=model,
                expected="a single-field @id",
            )
        self._id = meta.primary_key[0]
        states = {
            "ready": ready,
            "claimed": claimed,
            "done": done,
            "failed": failed,
            "cancelled": cancelled,
        }
        self._states = {name: dict(s) for name, s in states.items() if s is not None}
        self._constants: dict[str, Any] = {":max_attempts": max_attempts}
        self._conditions: dict[str, str] = {}
        self._sets: dict[str, dict[str, str]] = {}
        #: Per state, the stored values each of its fields may hold (WORKER fields aside).
        self._accepts: dict[str, dict[str, list[Any]]] = {}
        for name, state in self._states.items():
            self._bind_state(name, state)
        self._check_states_apart()
        self._order = self._bind_order(order_by)
        # Without order_by, claims take jobs in insertion order: the table's rowid (the id
        # itself for an Int @id). The claim returns the rowid last so that the core can
        # sort by it, and `claim` drops it again.
        claim_order = [(meta.columns.index(field), descending) for field, descending in self._order]
        self._rowid_returned = not claim_order
        self._forms = self._bind_datetimes()
        #: Fields a job's data may not set: the lease bookkeeping and the state fields.
        self._reserved = frozenset(
            [*(self._fields[role] for role in _LEASE_FIELDS), *self._states["ready"]]
        )
        self._settle_sql: dict[Any, str] = {}
        self._core = _core.Queue(
            db,
            recover=self._recover_sql(),
            claim=self._claim_sql(),
            why=self._why_sql(),
            heartbeat=self._fenced(f"{self._col('lease_expires_at')} = :expires"),
            constants=self._constants,
            datetime_format=self._forms[self._fields["lease_expires_at"]],
            order=claim_order or [(len(meta.columns), False)],
            # Expired leases are looked for at most this often (see rust/queue.rs).
            recover_every=min(1.0, self.lease / 4),
        )
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

    # -- binding ---------------------------------------------------------------------------

    def _bind_fields(self, names: Mapping[str, str]) -> dict[str, str]:
        meta = self._meta
        unknown = set(names) - set(_LEASE_FIELDS) - set(_OPTIONAL_FIELDS)
        if unknown:
            roles = ", ".join([*_LEASE_FIELDS, *_OPTIONAL_FIELDS])
            raise ValidationError(
                f"fields= names unknown roles {sorted(unknown)} (roles: {roles})",
                model=meta.name,
                expected="known roles",
            )
        bound: dict[str, str] = {}
        missing = []
        expected_types = {
            "lease_expires_at": "DateTime",
            "lease_token": "Int",
            "worker_id": "String",
            "attempts": "Int",
        }
        for role, (default, line) in _LEASE_FIELDS.items():
            name = names.get(role, default)
            field = meta.scalars.get(name)
            if field is None:
                missing.append(f"  {name:<15}{line}")
            elif field.type != expected_types[role] or field.list:
                raise ValidationError(
                    f"{meta.name}.{name} keeps the queue's {role} and must be "
                    f"{line.split()[0]}, not {field.type}{'[]' if field.list else ''}",
                    model=meta.name,
                    field=name,
                    expected=line.split()[0],
                )
            else:
                bound[role] = name
        if missing:
            lines = "\n".join(missing)
            raise ValidationError(
                f"{meta.name} lacks the fields a queue keeps its leases in. Add them to "
                f"model {meta.name} in the schema, then migrate:\n\n{lines}\n",
                model=meta.name,
                expected="the queue's lease fields",
            )
        for role, (defaults, types) in _OPTIONAL_FIELDS.items():
            candidates = (names[role],) if role in names else defaults
            for name in candidates:
                field = meta.scalars.get(name)
                if field is not None and field.type in types and not field.list:
                    bound[role] = name
                    break
            else:
                if role in names:
                    raise meta.unknown_field(names[role])
        return bound

    def _bind_state(self, name: str, state: dict[str, Any]) -> None:
        meta = self._meta
        if not state:
            raise ValidationError(
                f"{meta.name}: the {name} state needs at least one field value",
                model=meta.name,
                expected="a dict of field values",
            )
        conditions, sets, accepts = [], {}, {}
        for index, (field, value) in enumerate(state.items()):
            if field not in meta.scalars:
                raise meta.unknown_field(field)
            if field in {self._fields[role] for role in _LEASE_FIELDS}:
                raise ValidationError(
                    f"{meta.name}.{field} is queue bookkeeping and cannot be part of a state",
                    model=meta.name,
                    field=field,
                    expected="a field of the job itself",
                )
            column = meta.column(field)
            if value is WORKER:
                if name != "claimed" or meta.scalars[field].type != "String":
                    raise ValidationError(
                        f"{meta.name}.{field}: WORKER is for String fields of the claimed state",
                        model=meta.name,
                        field=field,
                        expected="a value",
                    )
                sets[field] = ":worker"
                continue
            # One parameter per value; the first is what entering the state writes.
            parameters = []
            for position, item in enumerate(self._state_values(name, field, value)):
                parameter = f":{name}_{index}" + (f"_{position}" if position else "")
                self._constants[parameter] = meta.codecs[field].to_sql(item)
                parameters.append(parameter)
            sets[field] = parameters[0]
            accepts[field] = [self._constants[p] for p in parameters]
            conditions.append(_one_of(column, parameters, accepts[field]))
        self._conditions[name] = " AND ".join(conditions) or "1"
        self._sets[name] = sets
        self._accepts[name] = accepts

    def _state_values(self, state: str, field: str, value: Any) -> list[Any]:
        """The values ``state`` allows ``field``: one, or for the claimed state a list
        given as ``{"in": [first, ...]}``."""
        model = self._meta.name
        if not (isinstance(value, Mapping) and set(value) == {"in"}):
            return [value]
        values = value["in"]
        if state != "claimed":
            raise ValidationError(
                f"{model}: {state}={{{field!r}: {{'in': ...}}}}: only the claimed state may "
                f"list several values; {state} names one value per field",
                model=model,
                field=field,
                expected="one value",
            )
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ValidationError(
                f"{model}: claimed={{{field!r}: {{'in': {values!r}}}}} must list at least one "
                "value (the first is what a claim writes)",
                model=model,
                field=field,
                expected="a non-empty list of values",
            )
        if any(item is WORKER for item in values):
            raise ValidationError(
                f"{model}: claimed={{{field!r}: {{'in': [...]}}}}: WORKER stands alone, "
                "not in a list",
                model=model,
                field=field,
                expected="values",
            )
        return list(values)

    def _check_states_apart(self) -> None:
        """No row may be in the claimed state and in another at once: a claimed job that
        also looked ready would be claimed again, one that also looked done would be
        cancelled, fenced and recovered as if it still ran."""
        model = self._meta.name
        claimed = self._accepts["claimed"]
        for other in ("ready", "done", "failed", "cancelled"):
            if other not in self._accepts:
                continue
            accepted = self._accepts[other]
            shared = claimed.keys() & accepted.keys()
            if any(not _intersect(claimed[f], accepted[f]) for f in shared):
                continue  # some field tells the two states apart
            binding = f"claimed={self._states['claimed']!r}, {other}={self._states[other]!r}"
            if other == "ready":
                message = "ready and claimed must differ, or claimed jobs would be claimed again"
            else:
                message = (
                    f"the claimed and {other} states overlap: a {other} job would look claimed"
                )
            raise ValidationError(
                f"{model}: {message} ({binding})",
                model=model,
                expected=f"claimed and {other} states that no job can be in at once",
            )

    def _bind_order(
        self, order_by: Sequence[Mapping[str, str]] | Mapping[str, str] | None
    ) -> list[tuple[str, bool]]:
        meta = self._meta
        items = [order_by] if isinstance(order_by, Mapping) else list(order_by or [])
        order = []
        for item in items:
            for field, direction in item.items():
                if field not in meta.scalars:
                    raise meta.unknown_field(field)
                if direction not in ("asc", "desc"):
                    raise ValidationError(
                        f"{meta.name}.{field}: order must be 'asc' or 'desc', got {direction!r}",
                        model=meta.name,
                        field=field,
                        expected="'asc' or 'desc'",
                    )
                order.append((field, direction == "desc"))
        # Ties keep index order, which for equal keys is insertion order.
        return order

    def _bind_datetimes(self) -> dict[str, str]:
        """The stored form of each DateTime column the queue's SQL compares or stamps: the
        lease, the start and finish times and DateTime order fields. Claims compare them
        as stored, so a column holding mixed forms is refused (`MixedDateTimeError`)."""
        meta = self._meta
        roles = ("lease_expires_at", "started_at", "finished_at")
        fields = [self._fields[role] for role in roles if role in self._fields]
        fields += [f for f, _ in self._order if meta.scalars[f].type == "DateTime"]
        operation = f"the queue on {meta.name}"
        return {field: single_form(meta, field, operation) for field in dict.fromkeys(fields)}

    def _lease_passed(self) -> str:
        """``lease <= :now``, true only for a lease stored in the lease column's form. A
        process that bound the queue while the column was empty, with another
        ``datetime_format``, writes leases in another form; such a lease is never taken
        for expired or due here (across forms, SQL would call an integer lease expired
        against any text time), so its job is never handed out twice."""
        lease = self._col("lease_expires_at")
        form = self._forms[self._fields["lease_expires_at"]]
        return f"({lease} <= :now AND {form_condition(lease, form)})"

    def _stamp(self, role: str) -> str:
        """The parameter the core binds to the current time in the form of ``role``'s
        column (rust/queue.rs: ``:now_iso8601``, ``:now_unixepoch_ms``...)."""
        return ":now_" + self._forms[self._fields[role]].replace("-", "_")

    # -- SQL -------------------------------------------------------------------------------

    def _col(self, role: str) -> str:
        return self._meta.column(self._fields[role])

    def _assign(self, state: str) -> list[str]:
        return [f"{self._meta.column(f)} = {p}" for f, p in self._sets[state].items()]

    def _claim_sql(self) -> str:
        lease, token = self._col("lease_expires_at"), self._col("lease_token")
        worker, attempts = self._col("worker_id"), self._col("attempts")
        sets = [
            *self._assign("claimed"),
            f"{token} = {token} + 1",
            f"{worker} = :worker",
            f"{lease} = :expires",
            f"{attempts} = {attempts} + 1",
        ]
        if "started_at" in self._fields:
            sets.append(f"{self._col('started_at')} = {self._stamp('started_at')}")
        returning = self._returning() + (", rowid" if self._rowid_returned else "")
        return (
            f"UPDATE {self._meta.table_sql} SET {', '.join(sets)} WHERE rowid IN "
            f"({self._ready_sql()}) RETURNING {returning}"
        )

    def _ready_sql(self) -> str:
        """The due ready jobs, in order: the part of the claim that must use an index."""
        lease = self._col("lease_expires_at")
        order = (
            ", ".join(
                f"{self._meta.column(field)} {'DESC' if descending else 'ASC'}"
                for field, descending in self._order
            )
            or "rowid"
        )
        return (
            f"SELECT rowid FROM {self._meta.table_sql} WHERE {self._conditions['ready']} "
            f"AND ({lease} IS NULL OR {self._lease_passed()}) ORDER BY {order} LIMIT :limit"
        )

    def _retry_or_fail(self, exhausted: str) -> list[str]:
        """Assignments that move a claimed job to the failed state when ``exhausted`` (an
        SQL condition) holds, else back to the ready state, claimable from ``:retry_at``."""
        meta = self._meta
        failed, ready = self._sets["failed"], self._sets["ready"]
        assignments = []
        for field in dict.fromkeys([*failed, *ready]):
            column = meta.column(field)
            assignments.append(
                f"{column} = CASE WHEN {exhausted} THEN {failed.get(field, column)} "
                f"ELSE {ready.get(field, column)} END"
            )
        lease = self._col("lease_expires_at")
        assignments.append(f"{lease} = CASE WHEN {exhausted} THEN NULL ELSE :retry_at END")
        if "finished_at" in self._fields:
            finished = self._col("finished_at")
            stamp = self._stamp("finished_at")
            assignments.append(
                f"{finished} = CASE WHEN {exhausted} THEN {stamp} ELSE {finished} END"
            )
        return assignments

    def _recover_sql(self) -> str:
        """Claimed jobs whose lease ran out: ready again, or failed after their last
        attempt (the error says why)."""
        attempts = self._col("attempts")
        exhausted = f"{attempts} >= :max_attempts"
        sets = self._retry_or_fail(exhausted)
        if "error" in self._fields:
            self._constants[":presumed_dead"] = (
                f"the lease expired on each of its {self.max_attempts} attempts; "
                "its workers were presumed dead"
            )
            error = self._col("error")
            sets.append(f"{error} = CASE WHEN {exhausted} THEN :presumed_dead ELSE {error} END")
        return (
            f"UPDATE {self._meta.table_sql} SET {', '.join(sets)} WHERE "
            f"{self._conditions['claimed']} AND {self._lease_passed()}"
        )

    def _why_sql(self) -> str:
        cancelled = self._conditions.get("cancelled", "0")
        return (
            f"SELECT CASE WHEN {cancelled} THEN 1 ELSE 0 END FROM {self._meta.table_sql} "
            f"WHERE {self._meta.column(self._id)} = :id"
        )

    def _returning(self) -> str:
        return ", ".join(self._meta.column(n) for n in self._meta.columns)

    def _fenced(self, assignments: str, returning: str | None = None) -> str:
        """An UPDATE that applies only while the claim's token is current."""
        meta = self._meta
        return (
            f"UPDATE {meta.table_sql} SET {assignments} WHERE {meta.column(self._id)} = :id "
            f"AND {self._col('lease_token')} = :token AND {self._conditions['claimed']} "
            f"RETURNING {returning or self._col('lease_expires_at')}"
        )

    def _data_sets(self, data: Mapping[str, Any], params: dict[str, Any]) -> list[str]:
        meta = self._meta
        sets = []
        bookkeeping = {self._fields[r] for r in _LEASE_FIELDS}
        for index, (field, value) in enumerate(data.items()):
            if field not in meta.scalars:
                raise meta.unknown_field(field)
            if field in bookkeeping:
                raise ValidationError(
                    f"{meta.name}.{field} is queue bookkeeping; the queue sets it",
                    model=meta.name,
                    field=field,
                    expected="a field of the job itself",
                )
            params[f":data_{index}"] = meta.codecs[field].to_sql(value)
            sets.append(f"{meta.column(field)} = :data_{index}")
        return sets

    # -- claiming and settling -------------------------------------------------------------

    def claim(self, worker: str, limit: int = 1) -> list[Claim]:
        """Claim up to ``limit`` jobs for ``worker``, in the queue's order: ready jobs that
        are due, and jobs whose lease expired. One call into the core, one transaction."""
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
        rows = self._core.claim(worker, limit, self.lease)
        if self._rowid_returned:
            return [self._claim(row[:-1], worker) for row in rows]
        return [self._claim(row, worker) for row in rows]

    def _claim(self, row: tuple[Any, ...], worker: str) -> Claim:
        record = self._meta.full_reader.record(row)
        fields = self._fields
        return Claim(
            record=record,
            token=getattr(record, fields["lease_token"]),
            id=getattr(record, self._id),
            worker=worker,
        )

    def _settle(
        self,
        claim: Claim,
        key: Any,
        build: Callable[[], str],
        params: dict[str, Any] | None = None,
        *,
        delay: float = 0.0,
        record: bool = True,
    ) -> Any:
        if not isinstance(claim, Claim):
            raise ValidationError(
                f"expected a Claim from claim(), got {describe_value(claim)}",
                model=self.model,
                expected="a Claim",
            )
        sql = self._settle_sql.get(key)
        if sql is None:
            sql = self._settle_sql[key] = build()
        id_value = self._meta.codecs[self._id].to_sql(claim.id)
        row = self._core.settle(
            sql, id_value, claim.token, lease=self.lease, delay=delay, params=params
        )
        return self._meta.full_reader.record(row) if record else row

    def complete(self, claim: Claim, data: Mapping[str, Any] | None = None) -> Any:
        """Move the job to the done state, writing ``data`` too; returns the record.
        `LeaseLostError` if the claim is stale, and then nothing changes."""
        data = dict(data or {})
        params: dict[str, Any] = {}
        sets = self._data_sets(data, params)  # validates before any SQL runs
        return self._settle(
            claim, ("complete", tuple(data)), lambda: self._complete_sql(sets), params
        )

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
        sets = self._data_sets(data, params)
        key = ("complete", tuple(data))
        sql = self._settle_sql.get(key)
        if sql is None:
            sql = self._settle_sql[key] = self._complete_sql(sets)
        to_sql = self._meta.codecs[self._id].to_sql
        rows = self._core.settle_many(
            sql, [(to_sql(c.id), c.token) for c in claims], lease=self.lease, params=params
        )
        return [claim for claim, row in zip(claims, rows, strict=True) if row is None]

    def _complete_sql(self, data_sets: list[str]) -> str:
        assignments = [*self._assign("done"), f"{self._col('lease_expires_at')} = NULL"]
        if "finished_at" in self._fields:
            assignments.append(f"{self._col('finished_at')} = {self._stamp('finished_at')}")
        return self._fenced(", ".join([*assignments, *data_sets]), self._returning())

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
        delay = (
            self.backoff(claim.attempt).total_seconds()
            if retry_in is None
            else _seconds(retry_in, "retry_in", allow_zero=True)
        )
        params: dict[str, Any] = {":final": int(final)}
        if error is not None and "error" in self._fields:
            params[":error"] = self._error_text(error)

        def build() -> str:
            exhausted = f"({self._col('attempts')} >= :max_attempts OR :final)"
            assignments = self._retry_or_fail(exhausted)
            if ":error" in params:
                assignments.append(f"{self._col('error')} = :error")
            return self._fenced(", ".join(assignments), self._returning())

        return self._settle(claim, ("fail", ":error" in params), build, params, delay=delay)

    def _error_text(self, error: str | BaseException) -> str:
        """The stored text of a failure. A str is the caller's text, checked like any value
        of the field (a lone surrogate is refused). An exception's text is a description:
        a lone surrogate in it (an OSError naming a file that is not UTF-8) is written as a
        ``\\udcff`` escape, because refusing it would leave the failure unrecorded."""
        if isinstance(error, str):
            return str(self._meta.codecs[self._fields["error"]].to_sql(error))
        return _error_text(error)

    def release(self, claim: Claim) -> Any:
        """Give the job back unfinished (a worker shutting down): ready again at once, and
        this attempt does not count."""

        def build() -> str:
            attempts = self._col("attempts")
            assignments = [
                *self._assign("ready"),
                f"{self._col('lease_expires_at')} = NULL",
                f"{attempts} = {attempts} - 1",
            ]
            return self._fenced(", ".join(assignments), self._returning())

        return self._settle(claim, "release", build)

    def heartbeat(self, claim: Claim) -> None:
        """Extend the claim's lease by the queue's lease. `JobCancelledError` when the job
        was cancelled (stop working on it), `LeaseLostError` when the lease was lost."""
        self._settle(
            claim,
            "heartbeat",
            lambda: self._fenced(f"{self._col('lease_expires_at')} = :expires"),
            record=False,
        )

    def progress(self, claim: Claim, pct: float, logs: str | None = None) -> None:
        """Record progress (and append ``logs`` to the logs field), extending the lease.
        Raises like `heartbeat` when the job was cancelled or the lease lost."""
        if "progress" not in self._fields:
            raise _missing_optional(self._meta, "progress", "progress Int @default(0)")
        if logs is not None and "logs" not in self._fields:
            raise _missing_optional(self._meta, "logs", "logs String?")
        progress_type = self._meta.scalars[self._fields["progress"]].type
        value = self._meta.codecs[self._fields["progress"]].to_sql(
            round(pct) if progress_type == "Int" and isinstance(pct, float) else pct
        )
        params: dict[str, Any] = {":progress": value}
        if logs is not None:
            params[":logs"] = logs

        def build() -> str:
            assignments = [
                f"{self._col('progress')} = :progress",
                f"{self._col('lease_expires_at')} = :expires",
            ]
            if logs is not None:
                column = self._col("logs")
                assignments.append(f"{column} = coalesce({column}, '') || :logs")
            return self._fenced(", ".join(assignments))

        self._settle(claim, ("progress", logs is not None), build, params, record=False)

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
        self._check_stays_claimed(data)
        params: dict[str, Any] = {}
        sets = [f"{self._col('lease_expires_at')} = :expires", *self._data_sets(data, params)]
        return self._settle(
            claim,
            ("mark", tuple(data)),
            lambda: self._fenced(", ".join(sets), self._returning()),
            params,
        )

    def _check_stays_claimed(self, data: Mapping[str, Any]) -> None:
        meta = self._meta
        accepts = self._accepts["claimed"]
        for field, value in data.items():
            if self._sets["claimed"].get(field) == ":worker":
                raise ValidationError(
                    f"{meta.name}.{field} holds the claiming worker; the queue sets it",
                    model=meta.name,
                    field=field,
                    expected="a field the claimed state does not set",
                )
            if field in accepts and not _intersect(
                [meta.codecs[field].to_sql(value)], accepts[field]
            ):
                given = self._states["claimed"][field]
                allowed = list(given["in"]) if isinstance(given, Mapping) else [given]
                raise ValidationError(
                    f"{meta.name}.{field}: mark() keeps a job in its claimed states, and "
                    f"{value!r} is not one of {allowed!r}; complete(), fail() and "
                    "release() move a job out of them",
                    model=meta.name,
                    field=field,
                    expected=f"one of {allowed!r}",
                )

    @contextlib.contextmanager
    def working(self, claim: Claim, every: float | None = None) -> Iterator[_core.Heartbeat]:
        """Keep the claim's lease alive from a Rust thread while the block runs, whatever
        the block does with the GIL. The yielded heartbeat's ``state`` turns to
        ``"cancelled"`` or ``"lost"`` if the job is cancelled or the lease lost."""
        interval = self.lease / 3 if every is None else _seconds(every, "every")
        id_value = self._meta.codecs[self._id].to_sql(claim.id)
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
        if unique_key is None:
            record = self._db.model_(self.model).create(data=row)
        else:
            row[self._unique_field()] = unique_key
            with self._db.transaction_():
                existing = self._active_with_keys([unique_key])
                if existing:
                    return self._db.model_(self.model).find_unique_or_raise(
                        where={self._id: existing[unique_key]}
                    )
                record = self._db.model_(self.model).create(data=row)
        self._core.notify()
        return record

    def enqueue_many(
        self,
        data: Sequence[Mapping[str, Any]],
        *,
        run_at: datetime | timedelta | None = None,
    ) -> int:
        """Create many ready jobs through the core's bulk insert, in one transaction;
        returns how many were created. Rows that give the unique-key field are skipped when
        a ready or claimed job (or an earlier row) has the same key."""
        reserved = self._reserved
        for index, item in enumerate(data):
            if not isinstance(item, Mapping) or not reserved.isdisjoint(item):
                self._check_job_data(item, index)
        defaults = dict(self._states["ready"])
        if run_at is not None:
            defaults[self._fields["lease_expires_at"]] = self._time(run_at)
        key_field = self._fields.get("unique_key")
        rows: Sequence[Mapping[str, Any]] = data
        with self._db.transaction_():
            if key_field is not None and any(key_field in row for row in rows):
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
            writer = self._db.client_.bulk_writer(self._meta)
            with self._db.client_.naming_constraints():
                count = writer.insert_rows(rows, defaults=defaults)
        self._core.notify()
        return count

    def _new_row(
        self, data: Mapping[str, Any], run_at: datetime | timedelta | None
    ) -> dict[str, Any]:
        self._check_job_data(data)
        row = {**data, **self._states["ready"]}
        if run_at is not None:
            row[self._fields["lease_expires_at"]] = self._time(run_at)
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
        clash = sorted(self._reserved.intersection(data))
        if clash:
            raise ValidationError(
                f"{where}{self.model}.{clash[0]} is set by the queue (bookkeeping or state)",
                model=self.model,
                field=clash[0],
                expected="a field of the job itself",
            )

    def _unique_field(self) -> str:
        if "unique_key" not in self._fields:
            raise _missing_optional(self._meta, "unique_key", "uniqueKey String?")
        return self._fields["unique_key"]

    def _active_with_keys(self, keys: Sequence[str]) -> dict[str, Any]:
        """Ready or claimed jobs holding any of ``keys``: key to id."""
        if not keys:
            return {}
        column = self._meta.column(self._unique_field())
        found: dict[str, Any] = {}
        # Bounded batches: SQLite limits the bound parameters of one statement.
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            params: dict[str, Any] = {f":key_{i}": key for i, key in enumerate(batch)}
            rows = self._core.run(
                f"SELECT {column}, {self._meta.column(self._id)} FROM {self._meta.table_sql} "
                f"WHERE {column} IN ({', '.join(params)}) AND (({self._conditions['ready']}) "
                f"OR ({self._conditions['claimed']}))",
                params,
            )
            found.update(dict(rows))
        return found

    # -- waiting and working ---------------------------------------------------------------

    def wait_and_claim(
        self, worker: str, *, limit: int = 1, timeout: float | None = None
    ) -> list[Claim]:
        """Claim, or wait until a job may be claimable and claim then; [] after
        ``timeout`` seconds. Waiting polls `PRAGMA data_version` on a reader, which changes
        when any process commits, and never touches the write lock; delayed jobs and
        expired leases are rechecked at least every half second."""
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
        """Work jobs until stopped: each thread claims one job at a time and calls
        ``handler(claim)`` inside `working`, so the lease is renewed while it runs.

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
        claimable; the job in hand is finished first. Returns the number of jobs
        handled."""
        stop = stop or threading.Event()
        handled = [0] * concurrency
        deaths: list[tuple[str, BaseException]] = []
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())

        def loop(index: int) -> None:
            name = worker if concurrency == 1 else f"{worker}/{index}"
            try:
                while not stop.is_set():
                    claims = self._retrying(
                        lambda: self.wait_and_claim(name, timeout=0.5),
                        f"worker {name}: claim",
                        stop,
                    )
                    if claims is None:
                        return  # stopped while waiting to retry
                    if not claims:
                        if exit_when_idle:
                            return
                        continue
                    self._handle(handler, claims[0], stop)
                    handled[index] += 1
            except BaseException as error:  # a fault of the loop, not of a job
                _log.error(
                    "queue %s: worker %s died; stopping the other workers",
                    self.model,
                    name,
                    exc_info=error,
                )
                deaths.append((name, error))
                stop.set()

        try:
            threads = [
                threading.Thread(target=loop, args=(i,), name=f"strata-worker-{i}")
                for i in range(concurrency)
            ]
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.2)
        finally:
            for signum, handler_before in previous.items():
                signal.signal(signum, handler_before)
        if deaths:
            name, error = deaths[0]
            raise WorkerError(
                f"queue {self.model}: worker {name} died of {_error_text(error)}; "
                "the other workers were stopped",
                worker=name,
            ) from error
        return sum(handled)

    def _handle(
        self,
        handler: Callable[[Claim], Mapping[str, Any] | None],
        claim: Claim,
        stop: threading.Event,
    ) -> None:
        """Run the handler on one claim and record the outcome (see `run`). The whole of
        it, retries included, runs inside `working`, so the lease stays renewed."""
        with self.working(claim):
            try:
                result = handler(claim)
            except LeaseLostError as lost:
                self._log_lost(claim, lost)
                return
            except Exception as error:  # the handler's failure is the job's, not the loop's
                self._record_failure(claim, error, stop)
                return
            if result is not None and not isinstance(result, Mapping):
                bad_return = ValidationError(
                    f"the handler returned {describe_value(result)}; it must return a "
                    "mapping of fields to write on completion, or None",
                    model=self.model,
                    expected="a mapping or None",
                )
                self._record_failure(claim, bad_return, stop)
                return
            try:
                self._retrying(
                    lambda: self.complete(claim, result),
                    f"complete job {claim.id}",
                    stop,
                    holding=True,
                )
            except LeaseLostError as lost:
                self._log_lost(claim, lost)
            except (ValidationError, ValueTooLongError, ConstraintError) as error:
                # The result cannot be stored (nothing was written): the job failed.
                self._record_failure(claim, error, stop)

    def _record_failure(self, claim: Claim, error: BaseException, stop: threading.Event) -> None:
        _log.warning(
            "queue %s: job %s failed on attempt %d of %d: %s",
            self.model,
            claim.id,
            claim.attempt,
            self.max_attempts,
            _error_text(error),
            exc_info=error,
        )
        try:
            self._retrying(
                lambda: self.fail(claim, error),
                f"record the failure of job {claim.id}",
                stop,
                holding=True,
            )
        except LeaseLostError as lost:
            self._log_lost(claim, lost)

    def _log_lost(self, claim: Claim, lost: LeaseLostError) -> None:
        if isinstance(lost, JobCancelledError):
            _log.info("queue %s: job %s was cancelled while it ran", self.model, claim.id)
        else:
            _log.warning(
                "queue %s: job %s was dropped, its outcome unrecorded: %s",
                self.model,
                claim.id,
                lost,
            )

    def _retrying(
        self,
        call: Callable[[], _T],
        what: str,
        stop: threading.Event,
        *,
        holding: bool = False,
    ) -> _T | None:
        """``call()``, retried while it fails with a transient database error. Returns
        None when it gave up because ``stop`` was set: at once for a call that holds
        nothing (a claim), after one more lease for one that settles a claim in hand
        (``holding``), whose job lease recovery then gives to another worker."""
        retries = 0
        deadline: float | None = None
        while True:
            try:
                return call()
            except StrataError as error:
                if not error.retryable:
                    raise
                retries += 1
                delay = min(RETRY_CAP, RETRY_FIRST * 2 ** (retries - 1))
                delay *= random.uniform(0.5, 1.0)  # so that workers do not retry in step
                _log.log(
                    logging.INFO if retries <= _QUIET_RETRIES else logging.WARNING,
                    "queue %s: %s failed (%s); retry %d in %.2f s",
                    self.model,
                    what,
                    _error_text(error),
                    retries,
                    delay,
                )
                if stop.is_set() or stop.wait(delay):
                    if not holding:
                        return None
                    deadline = deadline or time.monotonic() + self.lease
                    if time.monotonic() >= deadline:
                        _log.warning(
                            "queue %s: stopping; gave up on %s, lease recovery will "
                            "hand the job to another worker",
                            self.model,
                            what,
                        )
                        return None
                    time.sleep(delay)

    # -- inspection and cleanup ------------------------------------------------------------

    def cancel(self, id: Any) -> bool:
        """Cancel a ready or running job; True if it was cancelled, False if it had already
        finished. A running job's worker learns of it at its next heartbeat or progress
        call (`JobCancelledError`). `strata.RecordNotFoundError` if there is no such job."""
        if "cancelled" not in self._states:
            raise ValidationError(
                f"{self.model}: this queue has no cancelled state; pass cancelled={{...}}",
                model=self.model,
                expected="a cancelled state",
            )
        meta = self._meta
        token = self._col("lease_token")
        sets = [
            *self._assign("cancelled"),
            f"{token} = {token} + 1",
            f"{self._col('lease_expires_at')} = NULL",
        ]
        rows = self._core.run(
            f"UPDATE {meta.table_sql} SET {', '.join(sets)} WHERE {meta.column(self._id)} = :id "
            f"AND (({self._conditions['ready']}) OR ({self._conditions['claimed']})) "
            f"RETURNING {meta.column(self._id)}",
            {":id": meta.codecs[self._id].to_sql(id)},
        )
        if rows:
            return True
        self._db.model_(self.model).find_unique_or_raise(where={self._id: id})
        return False

    def stats(self) -> QueueStats:
        """Jobs per state, delayed jobs, expired leases and the oldest claimable job's age."""
        table, lease = self._meta.table_sql, self._col("lease_expires_at")
        ready, claimed = self._conditions["ready"], self._conditions["claimed"]
        counts = [
            f"(SELECT count(*) FROM {table} WHERE {condition})"
            for condition in self._conditions.values()
        ]
        created = self._created_field()
        oldest = (
            f"(SELECT min({compared_column(self._meta, created, self._meta.column(created))}) "
            f"FROM {table} WHERE {ready} "
            f"AND ({lease} IS NULL OR {self._lease_passed()}))"
            if created
            else "NULL"
        )
        (row,) = self._core.run(
            f"SELECT {', '.join(counts)}, "
            f"(SELECT count(*) FROM {table} WHERE {ready} AND {lease} > :now), "
            f"(SELECT count(*) FROM {table} WHERE {claimed} AND {self._lease_passed()}), "
            f"{oldest}",
            write=False,
        )
        *state_counts, delayed, expired, first = row
        age = None if first is None else self.now() - parse_datetime(first)
        return QueueStats(
            counts=dict(zip(self._conditions, state_counts, strict=True)),
            delayed=delayed,
            expired_leases=expired,
            oldest_ready_age=age,
        )

    def purge(self, completed_before: datetime | timedelta, *, include_failed: bool = False) -> int:
        """Delete finished jobs whose completion time is before ``completed_before`` (a
        time, or an age), in batches of `PURGE_BATCH`, each its own transaction so that
        workers are never held up for long. Returns how many were deleted."""
        if "finished_at" not in self._fields:
            raise _missing_optional(self._meta, "finished_at", "completedAt DateTime?")
        if self._db.in_transaction_:
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
        states = [self._conditions["done"]]
        if include_failed:
            states.append(self._conditions["failed"])
        table = self._meta.table_sql
        finished = self._col("finished_at")
        sql = (
            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE "
            f"({' OR '.join(f'({s})' for s in states)}) AND {finished} < :cutoff "
            f"LIMIT {PURGE_BATCH}) RETURNING 1"
        )
        params = {":cutoff": self._meta.codecs[self._fields["finished_at"]].to_sql(cutoff)}
        total = 0
        while True:
            deleted = len(self._core.run(sql, params))
            total += deleted
            if deleted < PURGE_BATCH:
                return total

    def index_advice(self) -> str | None:
        """The ``@@index`` line the claim needs to find ready jobs in order without sorting
        them all, or None when the schema already has a suitable index."""
        plan = self._core.run(f"EXPLAIN QUERY PLAN {self._ready_sql()}", write=False)
        details = " ".join(str(row[-1]) for row in plan)
        if "USE TEMP B-TREE" not in details:
            return None
        fields = [f for f in self._states["ready"] if self._states["ready"][f] is not None]
        for field, descending in self._order:
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

    def _created_field(self) -> str | None:
        for name, field in self._meta.scalars.items():
            if (
                field.type == "DateTime"
                and field.default is not None
                and field.default.kind == "now"
            ):
                return name
        return None


def _seconds(value: Any, name: str, *, allow_zero: bool = False) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
        raise ValidationError(
            f"{name} must be a timedelta or seconds, got {describe_value(value)}",
            expected="a timedelta",
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValidationError(
            f"{name} must be {'at least' if allow_zero else 'more than'} zero, got {value!r}",
            expected="a positive duration",
        )
    return float(seconds)


def _error_text(error: BaseException) -> str:
    """An exception as stored and logged: ``ValueError: corrupt frame``. Lone surrogates
    (a file name from ``os.fsdecode``) are escaped, since text must be valid UTF-8."""
    text = f"{type(error).__name__}: {error}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _one_of(column: str, parameters: list[str], values: list[Any]) -> str:
    """The condition that ``column`` holds one of ``values`` (bound as ``parameters``)."""
    named = [p for p, value in zip(parameters, values, strict=True) if value is not None]
    tests = [f"{column} IS NULL"] if None in values else []
    if len(named) == 1:
        tests.append(f"{column} = {named[0]}")
    elif named:
        tests.append(f"{column} IN ({', '.join(named)})")
    return tests[0] if len(tests) == 1 else f"({' OR '.join(tests)})"


def _intersect(a: list[Any], b: list[Any]) -> bool:
    return any(x == y for x in a for y in b)


def _missing_optional(meta: ModelMeta, role: str, line: str) -> ValidationError:
    return ValidationError(
        f"{meta.name} has no {role.replace('_', ' ')} field for this call. Add it to model "
        f"{meta.name} in the schema, then migrate (or name yours with fields={{{role!r}: ...}}):"
        f"\n\n  {line}\n",
        model=meta.name,
        expected=line,
    )
