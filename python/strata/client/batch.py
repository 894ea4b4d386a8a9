"""Batches: several operations in one transaction, their results in a list.

Prisma Client's ``$transaction([prisma.user.create(...), prisma.post.update(...)])`` takes
queries that have not run yet. A Python call runs at once, so a batch takes *deferred*
operations instead, built with `deferred`, which records a call without making it::

    from strata import deferred

    user, post, changed = db.batch_([
        deferred.user.create(data={"email": "a@x.io"}),
        deferred.post.update(where={"id": 7}, data={"published": True}),
        deferred.execute_raw_('UPDATE "Stats" SET "posts" = "posts" + 1'),
    ])

``deferred.<model>`` names a repository as ``db.<model>`` does (``deferred.model_("User")``
by the schema's name), followed by any repository method and its arguments;
``deferred.query_raw_(...)`` and ``deferred.execute_raw_(...)`` defer raw SQL; as on
a database handle, the builder's own names end with an underscore and models own the
rest. A deferred operation is plain data, bound to no database, so the same list runs on
``db``, on a view (``db.scoped_(userId=u).batch_([...])``) or on the async client
(``await adb.batch_([...])``).

`run_batch` checks every item first (each is a deferred operation naming a model the
schema has), then runs them in order in one write transaction (a savepoint inside an open
one) and returns their results in order. Any error rolls back every operation of the batch
and propagates. An item that is not a deferred operation, such as ``db.user.create(...)``
(which has already run by the time the list is built) or an async client's coroutine, is a
`strata.ValidationError` before anything runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strata.client.repository import Repository
from strata.dialects.values import describe_value
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.client import Client

__all__ = ["Deferred", "DeferredCall", "deferred", "run_batch"]

#: The raw SQL methods a batch can run.
_RAW = frozenset({"query_raw_", "execute_raw_"})


@dataclass(frozen=True, eq=False)
class DeferredCall:
    """One operation recorded by `deferred`, to run later by `run_batch`."""

    #: ``db.<attribute>`` (``"media_request"``) or, with ``by_name``, the schema's model
    #: name (``"MediaRequest"``); None for raw SQL.
    model: str | None
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    by_name: bool = False

    def bind(self, client: Client) -> Callable[[], Any]:
        """The call on ``client``'s repositories (or its database, for raw SQL), ready to
        run; an unknown model is a `ValidationError` here."""
        if self.model is None:
            target: Any = client.db
        elif self.by_name:
            target = client.repository(self.model)
        else:
            target = client.attributes.get(self.model)
            if target is None:
                raise ValidationError(
                    f"{self!r}: the schema has no model {self.model!r} (repositories: "
                    f"{', '.join(client.attributes)})",
                    model=self.model,
                    expected="a model of the schema",
                )
        return functools.partial(getattr(target, self.method), *self.args, **self.kwargs)

    def __repr__(self) -> str:
        if self.model is None:
            owner = "deferred"
        elif self.by_name:
            owner = f"deferred.model_({self.model!r})"
        else:
            owner = f"deferred.{self.model}"
        arguments = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{owner}.{self.method}({', '.join(arguments)})"


class _DeferredRepository:
    """``deferred.user``: its methods record calls."""

    __slots__ = ("_by_name", "_model")

    def __init__(self, model: str, by_name: bool) -> None:
        self._model = model
        self._by_name = by_name

    def __getattr__(self, method: str) -> Callable[..., DeferredCall]:
        if method.startswith("_") or not inspect.isfunction(getattr(Repository, method, None)):
            methods = [n for n, v in vars(Repository).items() if _public_method(n, v)]
            raise AttributeError(
                f"a repository has no method {method!r} (methods: {', '.join(methods)})"
            )
        model, by_name = self._model, self._by_name

        def record(*args: Any, **kwargs: Any) -> DeferredCall:
            return DeferredCall(model, method, args, kwargs, by_name)

        return record


def _public_method(name: str, value: object) -> bool:
    return not name.startswith("_") and inspect.isfunction(value)


class Deferred:
    """Builds deferred operations: ``deferred.user.create(data=...)``,
    ``deferred.model_("User").delete(where=...)``, ``deferred.execute_raw_(sql, *params)``.
    See the module docstring."""

    __slots__ = ()

    def model_(self, name: str) -> _DeferredRepository:
        """The repository of the model called ``name`` in the schema."""
        return _DeferredRepository(name, by_name=True)

    def query_raw_(self, sql: str, *params: Any, as_tuples: bool = False) -> DeferredCall:
        return DeferredCall(None, "query_raw_", (sql, *params), {"as_tuples": as_tuples})

    def execute_raw_(self, sql: str, *params: Any) -> DeferredCall:
        return DeferredCall(None, "execute_raw_", (sql, *params))

    def __getattr__(self, name: str) -> _DeferredRepository:
        if name.startswith("_"):
            raise AttributeError(name)
        return _DeferredRepository(name, by_name=False)

    def __repr__(self) -> str:
        return "strata.deferred"


#: The builder of deferred operations, also exported as ``strata.deferred``.
deferred = Deferred()


def run_batch(client: Client, operations: Iterable[DeferredCall]) -> list[Any]:
    """Run deferred operations in order in one transaction; their results, in order."""
    if isinstance(operations, str | bytes | Mapping) or not isinstance(operations, Iterable):
        raise ValidationError(
            f"batch takes a list of deferred operations, got {describe_value(operations)}",
            expected="a list of strata.deferred operations",
        )
    items = list(operations)
    calls = []
    for index, item in enumerate(items):
        if not isinstance(item, DeferredCall):
            _close_coroutines(items)
            raise ValidationError(
                f"batch item {index} is {describe_value(item)}, not a deferred operation: "
                "build each with strata.deferred (deferred.user.create(data=...)); a call "
                "such as db.user.create(...) runs at once, outside the batch",
                expected="a strata.deferred operation",
            )
        calls.append(item.bind(client))
    if not calls:
        return []
    with client.db.transaction_():
        results = [call() for call in calls]
    return results


def _close_coroutines(items: list[Any]) -> None:
    """An async client's calls in the list are coroutines that will never be awaited:
    close them, so Python does not warn about them on top of the error."""
    for item in items:
        if inspect.iscoroutine(item):
            item.close()
