"""The binding of a queue to its model: which fields keep the lease, what each state
writes and matches, the claim order and the stored form of each DateTime column, all
checked once when the queue is built; and the SQL statements built from them, which the
core compiles (rust/queue.rs). Apart from the facade so that what a queue is bound to,
and the SQL that follows from it, can be read and changed without the API around it. The
SQL text itself is the dialect's (its `strata.dialects.base.QueueDialect` part, handed in):
this module says what goes into each statement, the dialect how it is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from strata.client.datetimes import compared_column, single_form
from strata.client.where import order_entries, scalar_sort
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.meta import ModelMeta
    from strata.dialects.base import QueueDialect


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


class _Binding:
    """What a `strata.queue.Queue` is bound to, checked: its fields by role, its states
    (the SQL condition each is matched by, the parameters entering it writes), its claim
    order, and the stored form of each DateTime column its SQL compares; and the SQL
    statements built from them."""

    def __init__(
        self,
        sql: QueueDialect,
        meta: ModelMeta,
        states: Mapping[str, Mapping[str, Any] | None],
        order_by: Sequence[Mapping[str, str]] | Mapping[str, str] | None,
        fields: Mapping[str, str],
        max_attempts: int,
    ) -> None:
        model = meta.name
        self.sql = sql
        self.meta = meta
        self.max_attempts = max_attempts
        self.fields = self._bind_fields(fields)
        if len(meta.primary_key) != 1:
            raise ValidationError(
                f"{model}: a queue's model needs a single-field @id",
                model=model,
                expected="a single-field @id",
            )
        self.id = meta.primary_key[0]
        self.states = {name: dict(s) for name, s in states.items() if s is not None}
        self.constants: dict[str, Any] = {":max_attempts": max_attempts}
        self.conditions: dict[str, str] = {}
        self.sets: dict[str, dict[str, str]] = {}
        #: Per state, the stored values each of its fields may hold (WORKER fields aside).
        self.accepts: dict[str, dict[str, list[Any]]] = {}
        for name, state in self.states.items():
            self._bind_state(name, state)
        self._check_states_apart()
        self.order = self._bind_order(order_by)
        # Without order_by, claims take jobs in insertion order: the table's rowid (the id
        # itself for an Int @id), or the primary key where there is no rowid. On SQLite
        # the claim returns the rowid last so that the core can sort by it, and `claim`
        # drops it again; a dialect whose claim returns its rows in order needs neither.
        in_order = sql.claims_in_order
        self.claim_order = (
            []
            if in_order
            else [(meta.columns.index(field), descending) for field, descending in self.order]
        )
        self.rowid_returned = not in_order and not self.claim_order
        self.forms = self._bind_datetimes()
        #: Fields a job's data may not set: the lease bookkeeping and the state fields.
        self.reserved = frozenset(
            [*(self.fields[role] for role in _LEASE_FIELDS), *self.states["ready"]]
        )

    # -- binding ---------------------------------------------------------------------------

    def _bind_fields(self, names: Mapping[str, str]) -> dict[str, str]:
        meta = self.meta
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
        meta = self.meta
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
            if field in {self.fields[role] for role in _LEASE_FIELDS}:
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
                self.constants[parameter] = meta.codecs[field].to_sql(item)
                parameters.append(parameter)
            sets[field] = parameters[0]
            accepts[field] = [self.constants[p] for p in parameters]
            conditions.append(_one_of(self.sql, column, parameters, accepts[field]))
        self.conditions[name] = self.sql.all_of(conditions)
        self.sets[name] = sets
        self.accepts[name] = accepts

    def _state_values(self, state: str, field: str, value: Any) -> list[Any]:
        """The values ``state`` allows ``field``: one, or for the claimed state a list
        given as ``{"in": [first, ...]}``."""
        model = self.meta.name
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
        model = self.meta.name
        claimed = self.accepts["claimed"]
        for other in ("ready", "done", "failed", "cancelled"):
            if other not in self.accepts:
                continue
            accepted = self.accepts[other]
            shared = claimed.keys() & accepted.keys()
            if any(not _intersect(claimed[f], accepted[f]) for f in shared):
                continue  # some field tells the two states apart
            binding = f"claimed={self.states['claimed']!r}, {other}={self.states[other]!r}"
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
        meta = self.meta
        order = []
        for field, direction in order_entries(meta, order_by):
            sort, nulls = scalar_sort(meta, field, direction)
            if nulls is not None:
                # The claim's ORDER BY must match an index to stay fast, so the queue
                # takes NULLs where the database's indexes keep them (SQLite: first;
                # PostgreSQL: last in ascending order).
                raise ValidationError(
                    f"{meta.name}.{field}: a queue's order_by takes 'asc' or 'desc' without "
                    "nulls (NULLs sort as the database's index keeps them)",
                    model=meta.name,
                    field=field,
                    expected="'asc' | 'desc'",
                )
            order.append((field, sort == "desc"))
        # Ties keep index order, which for equal keys is insertion order.
        return order

    def _bind_datetimes(self) -> dict[str, str]:
        """The stored form of each DateTime column the queue's SQL compares or stamps: the
        lease, the start and finish times and DateTime order fields. Claims compare them
        as stored, so a column holding mixed forms is refused (`MixedDateTimeError`)."""
        meta = self.meta
        roles = ("lease_expires_at", "started_at", "finished_at")
        fields = [self.fields[role] for role in roles if role in self.fields]
        fields += [f for f, _ in self.order if meta.scalars[f].type == "DateTime"]
        operation = f"the queue on {meta.name}"
        return {field: single_form(meta, field, operation) for field in dict.fromkeys(fields)}

    def lease_passed(self) -> str:
        """``lease <= :now``, true only for a lease stored in the lease column's form. A
        process that bound the queue while the column was empty, with another
        ``datetime_format``, writes leases in another form; such a lease is never taken
        for expired or due here (across forms, SQL would call an integer lease expired
        against any text time), so its job is never handed out twice."""
        lease = self.col("lease_expires_at")
        form = self.forms[self.fields["lease_expires_at"]]
        return self.sql.lease_passed(lease, form)

    def stamp(self, role: str) -> str:
        """The parameter the core binds to the current time in the form of ``role``'s
        column (rust/queue.rs: ``:now_iso8601``, ``:now_unixepoch_ms``...)."""
        return ":now_" + self.forms[self.fields[role]].replace("-", "_")

    # -- SQL -------------------------------------------------------------------------------

    def col(self, role: str) -> str:
        return self.meta.column(self.fields[role])

    def assign(self, state: str) -> list[str]:
        return [self.sql.assignment(self.meta.column(f), p) for f, p in self.sets[state].items()]

    def claim_sql(self) -> str:
        lease, token = self.col("lease_expires_at"), self.col("lease_token")
        worker, attempts = self.col("worker_id"), self.col("attempts")
        sets = [
            *self.assign("claimed"),
            self.sql.bumped(token, 1),
            self.sql.assignment(worker, ":worker"),
            self.sql.lease_extended(lease),
            self.sql.bumped(attempts, 1),
        ]
        if "started_at" in self.fields:
            sets.append(self.sql.assignment(self.col("started_at"), self.stamp("started_at")))
        return self.sql.claim_sql(
            self.meta.table_sql,
            sets,
            self.ready_sql(),
            self.returning(),
            rowid=self.rowid_returned,
            id_column=self.meta.column(self.id),
            order=self.order_sql(),
        )

    def order_sql(self) -> list[tuple[str, bool]]:
        """The claim order as (column, descending): the queue's, else, where the claim
        orders its rows itself (no rowid to fall back on), the primary key."""
        order = [(self.meta.column(field), descending) for field, descending in self.order]
        if not order and self.sql.claims_in_order:
            order = [(self.meta.column(self.id), False)]
        return order

    def core_order(self) -> list[tuple[int, bool]]:
        """How the core sorts claimed rows: (returned column, descending); the rowid
        `claim_sql` appends when the queue has no order; nothing when the claim returns
        its rows in order."""
        if self.sql.claims_in_order:
            return []
        return self.claim_order or [(len(self.meta.columns), False)]

    def ready_sql(self) -> str:
        """The due ready jobs, in order: the part of the claim that must use an index."""
        return self.sql.ready_sql(
            self.meta.table_sql,
            self.conditions["ready"],
            self.col("lease_expires_at"),
            self.lease_passed(),
            self.order_sql(),
            id_column=self.meta.column(self.id),
        )

    def retry_or_fail(self, exhausted: str) -> list[str]:
        """Assignments that move a claimed job to the failed state when ``exhausted`` (an
        SQL condition) holds, else back to the ready state, claimable from ``:retry_at``."""
        meta = self.meta
        failed, ready = self.sets["failed"], self.sets["ready"]
        fields = []
        for field in dict.fromkeys([*failed, *ready]):
            column = meta.column(field)
            fields.append((column, failed.get(field, column), ready.get(field, column)))
        finished = (
            (self.col("finished_at"), self.stamp("finished_at"))
            if "finished_at" in self.fields
            else None
        )
        return self.sql.retry_or_fail(exhausted, fields, self.col("lease_expires_at"), finished)

    def recover_sql(self) -> str:
        """Claimed jobs whose lease ran out: ready again, or failed after their last
        attempt (the error says why)."""
        exhausted = self.sql.exhausted(self.col("attempts"), final=False)
        sets = self.retry_or_fail(exhausted)
        if "error" in self.fields:
            self.constants[":presumed_dead"] = (
                f"the lease expired on each of its {self.max_attempts} attempts; "
                "its workers were presumed dead"
            )
            error = self.col("error")
            sets.append(self.sql.when(error, exhausted, ":presumed_dead", error))
        return self.sql.recover_sql(
            self.meta.table_sql,
            sets,
            self.conditions["claimed"],
            self.lease_passed(),
            id_column=self.meta.column(self.id),
        )

    def why_sql(self) -> str:
        return self.sql.why_sql(
            self.meta.table_sql, self.meta.column(self.id), self.conditions.get("cancelled")
        )

    def returning(self) -> str:
        return self.sql.column_list(self.meta.column(n) for n in self.meta.columns)

    def fenced(self, assignments: list[str], returning: str | None = None) -> str:
        """A write that applies only while the claim's token is current."""
        meta = self.meta
        return self.sql.fenced_sql(
            meta.table_sql,
            assignments,
            meta.column(self.id),
            self.col("lease_token"),
            self.conditions["claimed"],
            returning or self.col("lease_expires_at"),
        )

    def data_sets(self, data: Mapping[str, Any], params: dict[str, Any]) -> list[str]:
        meta = self.meta
        sets = []
        bookkeeping = {self.fields[r] for r in _LEASE_FIELDS}
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
            sets.append(self.sql.assignment(meta.column(field), f":data_{index}"))
        return sets

    # -- settling, cancelling, inspecting -------------------------------------------------

    def heartbeat_sql(self) -> str:
        return self.fenced([self.sql.lease_extended(self.col("lease_expires_at"))])

    def changes_sql(self) -> str | None:
        return self.sql.changes_sql()

    def listen_sql(self) -> str | None:
        return self.sql.listen_sql(self.meta.model.table)

    def notify_sql(self) -> str | None:
        return self.sql.notify_sql(self.meta.model.table)

    def unique_lock_sql(self) -> str | None:
        return self.sql.unique_lock_sql(self.meta.model.table)

    def complete_sql(self, data_sets: list[str]) -> str:
        assignments = [*self.assign("done"), self.sql.cleared(self.col("lease_expires_at"))]
        if "finished_at" in self.fields:
            assignments.append(
                self.sql.assignment(self.col("finished_at"), self.stamp("finished_at"))
            )
        return self.fenced([*assignments, *data_sets], self.returning())

    def complete_many_sql(self, data_sets: list[str]) -> str | None:
        """`complete_sql` for the claims in ``:ids``/``:tokens`` in one statement, returning
        each completed job's id; None where the dialect settles claim by claim."""
        meta = self.meta
        assignments = [*self.assign("done"), self.sql.cleared(self.col("lease_expires_at"))]
        if "finished_at" in self.fields:
            assignments.append(
                self.sql.assignment(self.col("finished_at"), self.stamp("finished_at"))
            )
        return self.sql.fenced_many_sql(
            meta.table_sql,
            [*assignments, *data_sets],
            meta.column(self.id),
            self.col("lease_token"),
            self.conditions["claimed"],
            meta.column(self.id),
        )

    def fail_sql(self, with_error: bool) -> str:
        exhausted = self.sql.exhausted(self.col("attempts"), final=True)
        assignments = self.retry_or_fail(exhausted)
        if with_error:
            assignments.append(self.sql.assignment(self.col("error"), ":error"))
        return self.fenced(assignments, self.returning())

    def release_sql(self) -> str:
        assignments = [
            *self.assign("ready"),
            self.sql.cleared(self.col("lease_expires_at")),
            self.sql.bumped(self.col("attempts"), -1),
        ]
        return self.fenced(assignments, self.returning())

    def progress_sql(self, with_logs: bool) -> str:
        assignments = [
            self.sql.assignment(self.col("progress"), ":progress"),
            self.sql.lease_extended(self.col("lease_expires_at")),
        ]
        if with_logs:
            assignments.append(self.sql.appended(self.col("logs"), ":logs"))
        return self.fenced(assignments)

    def mark_sql(self, data_sets: list[str]) -> str:
        sets = [self.sql.lease_extended(self.col("lease_expires_at")), *data_sets]
        return self.fenced(sets, self.returning())

    def active_with_keys_sql(self, key_field: str, parameters: Iterable[str]) -> str:
        """Ready or claimed jobs whose ``key_field`` holds one of ``parameters``: each
        one's key and id."""
        return self.sql.active_with_keys_sql(
            self.meta.table_sql,
            self.meta.column(key_field),
            self.meta.column(self.id),
            parameters,
            self.conditions["ready"],
            self.conditions["claimed"],
        )

    def cancel_sql(self) -> str:
        meta = self.meta
        sets = [
            *self.assign("cancelled"),
            self.sql.bumped(self.col("lease_token"), 1),
            self.sql.cleared(self.col("lease_expires_at")),
        ]
        return self.sql.cancel_sql(
            meta.table_sql,
            sets,
            meta.column(self.id),
            self.conditions["ready"],
            self.conditions["claimed"],
        )

    def stats_sql(self) -> str:
        """One row: the count of each state in `conditions`' order, then the delayed
        jobs, the expired leases, and the oldest claimable job's creation time (NULL
        when the model has no creation time)."""
        created = self._created_field()
        return self.sql.stats_sql(
            self.meta.table_sql,
            self.conditions.values(),
            self.conditions["ready"],
            self.conditions["claimed"],
            self.col("lease_expires_at"),
            self.lease_passed(),
            compared_column(self.meta, created, self.meta.column(created)) if created else None,
        )

    def purge_sql(self, include_failed: bool, batch: int) -> str:
        """Delete up to ``batch`` finished jobs completed before ``:cutoff``."""
        states = [self.conditions["done"]]
        if include_failed:
            states.append(self.conditions["failed"])
        return self.sql.purge_sql(
            self.meta.table_sql,
            states,
            self.col("finished_at"),
            batch,
            id_column=self.meta.column(self.id),
        )

    def ready_plan_sql(self) -> str:
        return self.sql.plan_sql(self.ready_sql())

    # -- checks ----------------------------------------------------------------------------

    def check_stays_claimed(self, data: Mapping[str, Any]) -> None:
        meta = self.meta
        accepts = self.accepts["claimed"]
        for field, value in data.items():
            if self.sets["claimed"].get(field) == ":worker":
                raise ValidationError(
                    f"{meta.name}.{field} holds the claiming worker; the queue sets it",
                    model=meta.name,
                    field=field,
                    expected="a field the claimed state does not set",
                )
            if field in accepts and not _intersect(
                [meta.codecs[field].to_sql(value)], accepts[field]
            ):
                given = self.states["claimed"][field]
                allowed = list(given["in"]) if isinstance(given, Mapping) else [given]
                raise ValidationError(
                    f"{meta.name}.{field}: mark() keeps a job in its claimed states, and "
                    f"{value!r} is not one of {allowed!r}; complete(), fail() and "
                    "release() move a job out of them",
                    model=meta.name,
                    field=field,
                    expected=f"one of {allowed!r}",
                )

    def _created_field(self) -> str | None:
        for name, field in self.meta.scalars.items():
            if (
                field.type == "DateTime"
                and field.default is not None
                and field.default.kind == "now"
            ):
                return name
        return None


def _one_of(sql: QueueDialect, column: str, parameters: list[str], values: list[Any]) -> str:
    """The condition that ``column`` holds one of ``values`` (bound as ``parameters``)."""
    named = [p for p, value in zip(parameters, values, strict=True) if value is not None]
    return sql.one_of(column, named, null=None in values)


def _intersect(a: list[Any], b: list[Any]) -> bool:
    return any(x == y for x in a for y in b)
