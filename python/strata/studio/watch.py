"""The studio's live views: queues, rate limiters and metrics, through their own APIs.

A queue's figures are `strata.queue.Queue.stats` plus reads through the client (the jobs
in each state, completions per minute); its actions are the queue's own (``cancel``,
``release``) or, for a retry, a client update that only a failed job matches. The busiest
keys of a rate limiter and a metric's chart read the models they count in, through the
client and `strata.metrics.Metrics.aggregate`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from strata.errors import ConfigurationError, RecordNotFoundError, StrataError, ValidationError
from strata.metrics import STATS, Metrics
from strata.queue import Claim, Queue
from strata.studio.data import NotFound, meta_of, record_json, to_json

if TYPE_CHECKING:
    from strata.database import Database
    from strata.studio.bindings import Bindings

__all__ = ["BUCKETS", "Watch"]

#: The bucket widths a chart offers.
BUCKETS = {"10s": 10, "1m": 60, "5m": 300, "1h": 3600}
#: Minutes of completions shown as a queue's throughput.
THROUGHPUT_MINUTES = 10
#: Jobs listed per state on a queue's card.
LISTED = 8
#: Fields a queue binding may rename (`strata.queue.Queue`'s ``fields=``) that the studio reads.
_DEFAULT_FIELDS = {
    "lease_expires_at": "leaseExpiresAt",
    "lease_token": "leaseToken",
    "worker_id": "workerId",
    "attempts": "attempts",
    "finished_at": "completedAt",
}
_QUEUE_ACTIONS = ("retry", "cancel", "release")


class Watch:
    """The bindings of one studio, bound to its database on first use."""

    def __init__(self, db: Database, bindings: Bindings) -> None:
        self._db = db
        self._bindings = bindings
        self._queues: dict[str, Queue] = {}
        self._metrics: dict[str, Metrics] = {}

    def overview(self) -> dict[str, Any]:
        b = self._bindings
        return {
            "queues": [{"name": n, "model": s["model"]} for n, s in b.queues.items()],
            "rateLimiters": [{"name": n, "model": s["model"]} for n, s in b.rate_limiters.items()],
            "metrics": [
                {"name": n, "model": s["model"], "values": list(self._metric(n).values)}
                for n, s in b.metrics.items()
            ],
            "stats": list(STATS),
            "buckets": list(BUCKETS),
        }

    def check(self) -> None:
        """Bind everything now, so that a wrong binding stops the studio at its start,
        with the binding's name and what is wrong with it."""
        binders: list[tuple[str, Callable[[str], object]]] = [
            ("queue", self._queue),
            ("rate limiter", self._limiter),
            ("metrics binding", self._metric),
        ]
        for (what, bind), specs in zip(binders, self._specs(), strict=True):
            for name, spec in specs.items():
                try:
                    bind(name)
                except KeyError as error:
                    raise ConfigurationError(
                        f"{what} {name!r} on {spec['model']}: it needs {error}"
                    ) from None
                except (TypeError, StrataError) as error:
                    raise ConfigurationError(
                        f"{what} {name!r} on {spec['model']}: {error}"
                    ) from None

    def _specs(self) -> list[dict[str, dict[str, Any]]]:
        b = self._bindings
        return [b.queues, b.rate_limiters, b.metrics]

    # -- queues -------------------------------------------------------------------------------

    def _spec(self, kind: str, name: str) -> dict[str, Any]:
        specs: dict[str, dict[str, Any]] = getattr(self._bindings, kind)
        if name not in specs:
            what = kind.replace("_", " ").rstrip("s")
            known = ", ".join(specs) or "none"
            raise NotFound(f"no {what} called {name!r} is watched (watched: {known})")
        return specs[name]

    def _queue(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            arguments = dict(self._spec("queues", name))
            model = arguments.pop("model")
            if "lease" in arguments:
                arguments["lease"] = float(arguments["lease"])
            with warnings.catch_warnings():
                # The missing-index advice is for the code that claims, not for a viewer.
                warnings.simplefilter("ignore")
                queue = self._queues[name] = Queue(self._db.client_, model, **arguments)
        return queue

    def _field(self, name: str, role: str) -> str:
        return str(self._spec("queues", name).get("fields", {}).get(role, _DEFAULT_FIELDS[role]))

    def queue(self, name: str) -> dict[str, Any]:
        """A queue's counts per state, its oldest waiting job, expired leases, completions
        per minute over the last minutes, and the first jobs in each state."""
        queue = self._queue(name)
        spec = self._spec("queues", name)
        meta = meta_of(self._db, queue.model)
        repository = self._db.model_(queue.model)
        stats = queue.stats()
        states = {s: spec[s] for s in ("ready", "claimed", "failed", "done") if s in spec}
        order = spec.get("order_by")
        jobs = {
            state: [
                record_json(meta, r)
                for r in repository.find_many(
                    where, order_by=order if state == "ready" else None, take=LISTED
                )
            ]
            for state, where in states.items()
            if state != "done"
        }
        return {
            "name": name,
            "model": queue.model,
            "key": list(meta.record_key),
            "counts": stats.counts,
            "delayed": stats.delayed,
            "expiredLeases": stats.expired_leases,
            "oldestReadySeconds": None
            if stats.oldest_ready_age is None
            else stats.oldest_ready_age.total_seconds(),
            "oldestReady": jobs["ready"][0] if jobs.get("ready") else None,
            "throughput": self._throughput(name, queue, states["done"]),
            "jobs": jobs,
            "actions": [a for a in _QUEUE_ACTIONS if a != "cancel" or "cancelled" in spec],
        }

    def _throughput(self, name: str, queue: Queue, done: Any) -> list[dict[str, Any]]:
        finished = self._field(name, "finished_at")
        if finished not in meta_of(self._db, queue.model).scalars:
            return []
        now = queue.now().replace(second=0, microsecond=0)
        repository = self._db.model_(queue.model)
        minutes = []
        for back in range(THROUGHPUT_MINUTES - 1, -1, -1):
            start = now - timedelta(minutes=back)
            window = {"gte": start, "lt": start + timedelta(minutes=1)}
            minutes.append(
                {"minute": to_json(start), "done": repository.count({**done, finished: window})}
            )
        return minutes

    def act(self, name: str, action: str, key: Any) -> dict[str, Any]:
        """``retry`` a failed job (ready again, attempts from zero), ``cancel`` a ready or
        claimed one, ``release`` a claimed one (ready again at once, its worker's lease
        lost). Returns the job as it is afterwards."""
        queue = self._queue(name)
        spec = self._spec("queues", name)
        if action not in _QUEUE_ACTIONS:
            raise NotFound(f"no queue action {action!r} (actions: {', '.join(_QUEUE_ACTIONS)})")
        meta = meta_of(self._db, queue.model)
        (id_field,) = meta.primary_key
        if not isinstance(key, dict) or id_field not in key:
            raise ValidationError(
                f"{queue.model}: name the job as {{{id_field!r}: ...}}",
                model=queue.model,
                expected=f"an object with {id_field}",
            )
        from strata.studio.data import coerce

        job_id = coerce(meta, id_field, key[id_field])
        repository = self._db.model_(queue.model)
        if action == "cancel":
            if not queue.cancel(job_id):
                raise _not_in_state(queue.model, job_id, "ready or claimed")
        elif action == "retry":
            data = {
                **spec["ready"],
                self._field(name, "lease_expires_at"): None,
                self._field(name, "attempts"): 0,
            }
            with self._db.transaction_():
                try:
                    repository.update({id_field: job_id, **spec["failed"]}, data)
                except RecordNotFoundError:
                    repository.find_unique_or_raise({id_field: job_id})
                    raise _not_in_state(queue.model, job_id, "failed") from None
        else:
            job = repository.find_first({id_field: job_id, **spec["claimed"]})
            if job is None:
                repository.find_unique_or_raise({id_field: job_id})
                raise _not_in_state(queue.model, job_id, "claimed")
            token = getattr(job, self._field(name, "lease_token"))
            worker = getattr(job, self._field(name, "worker_id")) or ""
            queue.release(Claim(job, token, job_id, worker))
        return record_json(meta, repository.find_unique_or_raise({id_field: job_id}))

    # -- rate limiters ------------------------------------------------------------------------

    def _limiter(self, name: str) -> dict[str, Any]:
        spec = self._spec("rate_limiters", name)
        meta = meta_of(self._db, spec["model"])
        keys = spec.get("key")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not keys:
            raise ValidationError(
                f'rate limiter {name!r}: key names the key fields, such as key = ["userId"]',
                model=meta.name,
                expected="a list of field names",
            )
        fields = [*keys, *(spec[r] for r in ("count", "window_start", "tat") if r in spec)]
        for field in fields:
            meta.scalar(field)
        if ("tat" in spec) == ("count" in spec or "window_start" in spec):
            raise ValidationError(
                f"rate limiter {name!r}: give count and window_start, or tat",
                model=meta.name,
                expected="count and window_start, or tat",
            )
        return {**spec, "key": keys}

    def rate_limiter(self, name: str) -> dict[str, Any]:
        """The busiest keys: in the latest window for a windowed limiter, by the furthest
        theoretical arrival time for gcra."""
        spec = self._limiter(name)
        repository = self._db.model_(spec["model"])
        busiest: list[dict[str, Any]] = []
        window = None
        if "tat" in spec:
            found = repository.find_many(order_by={spec["tat"]: "desc"}, take=10)
            busiest = [
                {"key": [getattr(r, k) for k in spec["key"]], "tat": getattr(r, spec["tat"])}
                for r in found
            ]
        else:
            start = spec["window_start"]
            latest = repository.find_first(order_by={start: "desc"})
            if latest is not None:
                window = getattr(latest, start)
                found = repository.find_many(
                    {start: window}, order_by={spec["count"]: "desc"}, take=10
                )
                busiest = [
                    {
                        "key": [getattr(r, k) for k in spec["key"]],
                        "count": getattr(r, spec["count"]),
                    }
                    for r in found
                ]
        return {
            "name": name,
            "model": spec["model"],
            "keyFields": spec["key"],
            "window": to_json(window),
            "busiest": to_json(busiest),
        }

    # -- metrics ------------------------------------------------------------------------------

    def _metric(self, name: str) -> Metrics:
        metric = self._metrics.get(name)
        if metric is None:
            spec = self._spec("metrics", name)
            metric = self._metrics[name] = self._db.metrics_(
                spec["model"], series=spec["series"], time=spec["time"]
            )
        return metric

    def metric(
        self,
        name: str,
        *,
        value: str | None = None,
        stat: str = "avg",
        every: str = "1m",
        buckets: int = 60,
        series: str | None = None,
    ) -> dict[str, Any]:
        """One value's statistic per series and bucket, over the ``buckets`` buckets that
        end with the latest sample (the data's own clock: samples may be replayed or
        simulated, as the demo's are)."""
        metric = self._metric(name)
        spec = self._spec("metrics", name)
        if every not in BUCKETS:
            raise ValidationError(
                f"every is one of {', '.join(BUCKETS)}, got {every!r}", expected="a bucket width"
            )
        if not 1 <= buckets <= 1000:
            raise ValidationError(f"buckets is 1 to 1000, got {buckets}", expected="1 to 1000")
        chosen = value or metric.values[0]
        latest = self._db.model_(spec["model"]).find_first(order_by={spec["time"]: "desc"})
        lines: dict[str, list[list[Any]]] = {}
        if latest is not None:
            width = timedelta(seconds=BUCKETS[every])
            until = getattr(latest, spec["time"]) + width
            rows = metric.aggregate(
                width,
                [chosen],
                [stat],
                since=until - width * buckets,
                until=until,
                series=series or None,
            )
            column = f"{chosen}_{stat}"
            for row in rows:
                line = lines.setdefault(str(row[spec["series"]]), [])
                line.append([to_json(row["bucket"]), to_json(row[column])])
        return {
            "name": name,
            "model": spec["model"],
            "value": chosen,
            "stat": stat,
            "every": every,
            "series": lines,
        }


def _not_in_state(model: str, job_id: Any, state: str) -> ValidationError:
    return ValidationError(
        f"{model} {job_id!r} is not {state}, so it was left as it is",
        model=model,
        expected=f"a {state} job",
    )
