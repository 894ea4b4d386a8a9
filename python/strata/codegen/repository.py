"""The generated repositories and clients: ``Client(db)`` and ``AsyncClient(adb)``.

Both are written from one list of methods, so the async repository has every method of
the sync one with the same parameters, returning the same types awaited. Records come back
as what they are at run time: the generated model class, a ``<Model>Partial`` TypedDict
with ``select=`` (only the selected keys), a ``dict`` with ``omit=``.
"""

from __future__ import annotations

from dataclasses import dataclass

from strata.schema import ir

__all__ = ["client_classes", "repository_classes"]


@dataclass(frozen=True)
class _Method:
    """One repository method: ``parameters`` after ``self`` (``{n}`` is the model),
    ``arguments`` forwarded to the runtime repository, ``returns`` with ``{r}`` standing
    for the record type when ``shaped`` (records follow ``select``/``omit``)."""

    name: str
    parameters: str
    arguments: str
    returns: str
    shaped: bool = True


_FIND_WHERE = (
    "where: {n}WhereInput | None = None, *, "
    "order_by: {n}OrderByInput | list[{n}OrderByInput] | None = None, skip: int | None = None"
)
_FIRST = (
    _FIND_WHERE + ", cursor: {n}WhereUniqueInput | None = None, "
    "distinct: list[{n}ScalarFieldName] | None = None, include: {n}Include | None = None"
)
_FIRST_ARGS = (
    "where=where, order_by=order_by, skip=skip, cursor=cursor, distinct=distinct, include=include"
)
_AGGREGATES = (
    "count: bool | {n}CountAggregateInput | None = None, "
    "avg: {n}NumericAggregateInput | None = None, sum: {n}NumericAggregateInput | None = None, "
    "min: {n}MinMaxAggregateInput | None = None, max: {n}MinMaxAggregateInput | None = None"
)
_AGGREGATE_ARGS = "count=count, avg=avg, sum=sum, min=min, max=max"

_METHODS = (
    _Method(
        "find_unique",
        "where: {n}WhereUniqueInput, *, include: {n}Include | None = None",
        "where=where, include=include",
        "{r} | None",
    ),
    _Method(
        "find_unique_or_raise",
        "where: {n}WhereUniqueInput, *, include: {n}Include | None = None",
        "where=where, include=include",
        "{r}",
    ),
    _Method("find_first", _FIRST, _FIRST_ARGS, "{r} | None"),
    _Method("find_first_or_raise", _FIRST, _FIRST_ARGS, "{r}"),
    _Method(
        "find_many",
        _FIRST.replace(", cursor", ", take: int | None = None, cursor"),
        _FIRST_ARGS.replace(", cursor", ", take=take, cursor"),
        "list[{r}]",
    ),
    _Method(
        "create",
        "data: {n}CreateInput, *, include: {n}Include | None = None",
        "data=data, include=include",
        "{r}",
    ),
    _Method(
        "create_many_and_return",
        "data: list[{n}CreateInput], *, skip_duplicates: bool = False, "
        "include: {n}Include | None = None",
        "data=data, skip_duplicates=skip_duplicates, include=include",
        "list[{r}]",
    ),
    _Method(
        "update",
        "where: {n}WhereUniqueInput, data: {n}UpdateInput, *, include: {n}Include | None = None",
        "where=where, data=data, include=include",
        "{r}",
    ),
    _Method(
        "update_many_and_return",
        "where: {n}WhereInput | None = None, *, data: {n}UpdateInput, "
        "include: {n}Include | None = None",
        "where=where, data=data, include=include",
        "list[{r}]",
    ),
    _Method(
        "upsert",
        "where: {n}WhereUniqueInput, create: {n}CreateInput, update: {n}UpdateInput, *, "
        "include: {n}Include | None = None",
        "where=where, create=create, update=update, include=include",
        "{r}",
    ),
    _Method(
        "delete",
        "where: {n}WhereUniqueInput, *, include: {n}Include | None = None",
        "where=where, include=include",
        "{r}",
    ),
    _Method(
        "hard_delete",
        "where: {n}WhereUniqueInput, *, include: {n}Include | None = None",
        "where=where, include=include",
        "{r}",
    ),
    _Method("count", "where: {n}WhereInput | None = None", "where=where", "int", False),
    _Method(
        "aggregate",
        "where: {n}WhereInput | None = None, *, " + _AGGREGATES,
        "where=where, " + _AGGREGATE_ARGS,
        "{n}AggregateResult",
        False,
    ),
    _Method(
        "group_by",
        "by: list[{n}ScalarFieldName], *, where: {n}WhereInput | None = None, "
        "having: dict[str, Any] | None = None, "
        "order_by: dict[str, Any] | list[dict[str, Any]] | None = None, "
        "skip: int | None = None, take: int | None = None, " + _AGGREGATES,
        "by, where=where, having=having, order_by=order_by, skip=skip, take=take, "
        + _AGGREGATE_ARGS,
        "list[{n}GroupByResult]",
        False,
    ),
    _Method(
        "paginate",
        "page: int = 1, per_page: int = 20, *, where: {n}WhereInput | None = None, "
        "order_by: {n}OrderByInput | list[{n}OrderByInput] | None = None, "
        "include: {n}Include | None = None",
        "page, per_page, where=where, order_by=order_by, include=include",
        "Page[{n}]",
        False,
    ),
    _Method(
        "create_many",
        "data: list[{n}CreateInput], *, skip_duplicates: bool = False",
        "data=data, skip_duplicates=skip_duplicates",
        "dict[str, int]",
        False,
    ),
    _Method(
        "update_many",
        "where: {n}WhereInput | None = None, *, data: {n}UpdateInput",
        "where=where, data=data",
        "dict[str, int]",
        False,
    ),
    _Method(
        "delete_many",
        "where: {n}WhereInput | None = None",
        "where=where",
        "dict[str, int]",
        False,
    ),
    _Method(
        "hard_delete_many",
        "where: {n}WhereInput | None = None",
        "where=where",
        "dict[str, int]",
        False,
    ),
)


def _method(method: _Method, n: str, is_async: bool) -> str:
    define = "async def" if is_async else "def"
    call = "await " if is_async else ""
    parameters = method.parameters.format(n=n)
    if not method.shaped:
        returns = method.returns.format(n=n)
        return (
            f"\n    {define} {method.name}(self, {parameters}) -> {returns}:\n"
            f"        return cast({returns!r}, {call}self._repository.{method.name}("
            f"{method.arguments}))\n"
        )
    star = "" if "*" in parameters else "*, "
    as_model = method.returns.format(r=n)
    as_partial = method.returns.format(r=f"{n}Partial")
    as_dict = method.returns.format(r="dict[str, Any]")
    either = f"{as_model} | {as_partial} | {as_dict}"
    head = f"    @overload\n    {define} {method.name}(self, {parameters}, {star}"
    return (
        f"\n{head}select: None = None, omit: None = None) -> {as_model}: ...\n"
        f"{head}select: {n}Select, omit: None = None) -> {as_partial}: ...\n"
        f"{head}select: None = None, omit: {n}Omit) -> {as_dict}: ...\n"
        f"    {define} {method.name}(self, {parameters}, {star}"
        f"select: {n}Select | None = None, omit: {n}Omit | None = None) -> {either}:\n"
        f"        return cast({either!r}, {call}self._repository.{method.name}("
        f"{method.arguments}, select=select, omit=omit))\n"
    )


def repository_classes(model: ir.Model) -> str:
    """``<Model>Repository`` and ``Async<Model>Repository``."""
    n = model.name
    out = []
    for is_async in (False, True):
        prefix = "Async" if is_async else ""
        kind = "awaitable methods" if is_async else "methods"
        body = "".join(_method(method, n, is_async) for method in _METHODS)
        out.append(
            f'''

class {prefix}{n}Repository:
    """Typed access to `{n}` with {kind} forwarding to the runtime repository: records
    are `{n}`, `{n}Partial` with ``select`` (the selected keys), dicts with ``omit``."""

    def __init__(self, repository: Any) -> None:
        self._repository = repository
{body}'''
        )
    return "".join(out)


def client_classes(schema: ir.Schema, models: list[ir.Model]) -> str:
    """``CLASSES``, ``Client`` and ``AsyncClient``."""
    from strata.client.meta import snake_case

    sync = "".join(
        f"""
    @property
    def {snake_case(m.name)}(self) -> {m.name}Repository:
        return {m.name}Repository(self.db_.model_({m.name!r}))
"""
        for m in models
    )
    # The async handle proxies a repository reached as an attribute (a method such as
    # `model_` would become a coroutine function).
    awaitable = "".join(
        f"""
    @property
    def {snake_case(m.name)}(self) -> Async{m.name}Repository:
        return Async{m.name}Repository(getattr(self.db_, {snake_case(m.name)!r}))
"""
        for m in models
    )
    classes = ", ".join(f"{m.name!r}: {m.name}" for m in models)
    enums = ", ".join(f"{e.name!r}: {e.name}" for e in schema.enums)
    return f'''

CLASSES = ModelClasses(models={{{classes}}}, enums={{{enums}}})


class Client:
    """Typed repositories over a database opened with this schema: ``Client(db).user``."""

    def __init__(self, db: strata.Database) -> None:
        self.db_ = db
        db.use_model_classes_(CLASSES)
{sync}

class AsyncClient:
    """Typed awaitable repositories over `strata.connect_async`'s handle:
    ``await AsyncClient(adb).user.find_many()``."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.db_ = db
        db.sync_.use_model_classes_(CLASSES)
{awaitable}'''
