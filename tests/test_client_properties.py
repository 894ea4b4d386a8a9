"""Properties of the client's filters, checked with Hypothesis against a plain-Python
reference: random rows, random ``where`` trees, and hostile strings everywhere.

The reference follows SQL's three-valued logic as the client documents it: a comparison
with NULL is unknown (None here), NOT of unknown is unknown, and a row matches only when
its condition is true. "Insensitive" folds ASCII letters only, as SQLite without ICU does
and PostgreSQL in the C locale the tests' server runs in. Each property runs on both
backends.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strata
from backends import Backend

SCHEMA = """
datasource db {
  provider = "sqlite"
}

model Item {
  id    Int     @id @default(autoincrement())
  name  String?
  score Int?
}
"""

HOSTILE = [
    '\'; DROP TABLE "Item"; --',
    '" OR 1=1 --',
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "\\%",
    "%_\\",
    "a%b_c\\d",
    "''",
    '""',
    "Robert'); DELETE FROM Item; --",
    "\u00e9\u4e2d\U0001f600",
    "x' ESCAPE 'x",
    "?",
    "?1 :name @p $x",
]

# Text SQLite stores as it is given: no NUL (it ends C strings) and no lone surrogates.
CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.one_of(
    st.text(alphabet=st.sampled_from("aAbB%_\\'\" é"), max_size=6),
    st.text(alphabet=CHARACTERS, max_size=6),
    st.sampled_from(HOSTILE),
)
SCORES = st.integers(min_value=-5, max_value=5)

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


Truth = bool | None

_OPERATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": operator.eq,
    "not": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "in": lambda value, items: value in items,
    "not_in": lambda value, items: value not in items,
    "contains": lambda value, part: part in value,
    "starts_with": lambda value, part: value.startswith(part),
    "ends_with": lambda value, part: value.endswith(part),
}


def _not(value: Truth) -> Truth:
    return None if value is None else not value


def _and(values: list[Truth]) -> Truth:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _or(values: list[Truth]) -> Truth:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def field_matches(value: Any, filters: Any) -> Truth:
    """The reference for one field's filter (a value, None, or an operator dict)."""
    if not isinstance(filters, dict):
        return value is None if filters is None else (None if value is None else value == filters)
    insensitive = filters.get("mode") == "insensitive"

    def norm(v: Any) -> Any:
        return fold(v) if insensitive and isinstance(v, str) else v

    results: list[Truth] = []
    for name, operand in filters.items():
        if name == "mode":
            continue
        if name == "not" and isinstance(operand, dict):
            results.append(_not(field_matches(value, operand)))
        elif name == "not" and operand is None:
            results.append(value is not None)
        elif name in ("equals", "not") and operand is None:
            results.append(value is None)
        elif name == "in" and not operand:
            results.append(False)
        elif name == "not_in" and not operand:
            results.append(True)
        elif value is None:
            results.append(None)
        else:
            if name in ("in", "not_in"):
                operand = [norm(item) for item in operand]
            results.append(_OPERATIONS[name](norm(value), norm(operand)))
    return _and(results)


def row_matches(row: dict[str, Any], where: dict[str, Any]) -> Truth:
    results: list[Truth] = []
    for key, value in where.items():
        if key == "AND":
            items = value if isinstance(value, list) else [value]
            results.append(_and([row_matches(row, item) for item in items]))
        elif key == "OR":
            results.append(_or([row_matches(row, item) for item in value]))
        elif key == "NOT":
            items = value if isinstance(value, list) else [value]
            results.append(_and([_not(row_matches(row, item)) for item in items]))
        else:
            results.append(field_matches(row[key], value))
    return _and(results)


# -- strategies ------------------------------------------------------------------------------


def name_filters(texts: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    single = st.one_of(
        st.tuples(st.sampled_from(["equals", "not", "lt", "lte", "gt", "gte"]), texts),
        st.tuples(st.sampled_from(["contains", "starts_with", "ends_with"]), texts),
        st.tuples(st.sampled_from(["in", "not_in"]), st.lists(texts, max_size=3)),
        st.tuples(st.sampled_from(["equals", "not"]), st.none()),
    )
    operators = st.lists(single, min_size=1, max_size=2).map(dict)
    with_mode = st.tuples(operators, st.booleans()).map(
        lambda pair: {**pair[0], "mode": "insensitive"} if pair[1] else pair[0]
    )
    nested_not = operators.map(lambda inner: {"not": inner})
    return st.one_of(texts, st.none(), with_mode, nested_not)


def score_filters() -> st.SearchStrategy[Any]:
    single = st.one_of(
        st.tuples(st.sampled_from(["equals", "not", "lt", "lte", "gt", "gte"]), SCORES),
        st.tuples(st.sampled_from(["in", "not_in"]), st.lists(SCORES, max_size=3)),
    )
    return st.one_of(SCORES, st.none(), st.lists(single, min_size=1, max_size=2).map(dict))


def wheres(texts: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.one_of(
        name_filters(texts).map(lambda f: {"name": f}),
        score_filters().map(lambda f: {"score": f}),
        st.fixed_dictionaries({"name": name_filters(texts), "score": score_filters()}),
    )
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(lambda items: {"AND": items}),
            st.lists(children, max_size=3).map(lambda items: {"OR": items}),
            children.map(lambda item: {"NOT": item}),
            st.lists(children, min_size=1, max_size=2).map(lambda items: {"NOT": items}),
        ),
        max_leaves=6,
    )


ROWS = st.lists(
    st.fixed_dictionaries({"name": st.none() | TEXT, "score": st.none() | SCORES}),
    max_size=12,
)


@pytest.fixture
def items(backend: Backend) -> Callable[..., Any]:
    """A database with the Item table; ``fill(rows)`` replaces its rows."""
    db = backend.connect(SCHEMA)

    def fill(rows: list[dict[str, Any]]) -> strata.Database:
        with db.transaction_():
            db.item.delete_many()
            for row in rows:
                db.item.create(data=row)
        return db

    return fill


def _sortable(pair: tuple[str | None, int | None]) -> tuple[bool, str, bool, int]:
    name, score = pair
    return (name is not None, name or "", score is not None, score or 0)


# The fixture's database is emptied and refilled by every example.
reuses_fixture = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@reuses_fixture
@given(rows=ROWS, data=st.data())
def test_where_matches_the_python_reference(
    items: Callable[..., strata.Database], rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    db = items(rows)
    # Operands are drawn partly from the rows' own text, so that filters do match.
    names = [r["name"] for r in rows if r["name"]]
    pieces = [n[i:j] for n in names for i in range(len(n)) for j in (i + 1, len(n))]
    texts = st.one_of(TEXT, st.sampled_from(pieces)) if pieces else TEXT
    where = data.draw(wheres(texts), label="where")
    found = sorted(((r.name, r.score) for r in db.item.find_many(where)), key=_sortable)
    expected = sorted(
        ((r["name"], r["score"]) for r in rows if row_matches(r, where) is True), key=_sortable
    )
    assert found == expected
    assert db.item.count(where) == len(expected)


@reuses_fixture
@given(text=st.one_of(st.sampled_from(HOSTILE), TEXT))
def test_hostile_strings_round_trip_and_never_break_a_query(
    items: Callable[..., strata.Database], text: str
) -> None:
    db = items([{"name": text, "score": 1}, {"name": "plain", "score": 2}])
    assert [r.name for r in db.item.find_many({"name": text})] == [text]
    for string_filter in ("contains", "starts_with", "ends_with"):
        for mode in ("default", "insensitive"):
            where = {"name": {string_filter: text, "mode": mode}}
            names = {r.name for r in db.item.find_many(where)}
            assert text in names
            assert names <= {text, "plain"}
    assert db.item.count({"name": {"in": [text, "zzz"]}}) == 1
    assert db.item.count({"name": {"not_in": [text]}}) == 1
    assert db.item.count({"name": {"not": text}}) == (0 if text == "plain" else 1)
    assert db.item.count({"name": {"lte": text, "gte": text}}) == 1
    updated = db.item.update_many({"name": text}, data={"name": text + text})
    assert updated == {"count": 1}
    assert db.item.find_first({"name": text + text}).name == text + text
    created = db.item.create(data={"name": text})
    assert db.item.find_unique(where={"id": created.id}).name == text
    assert db.item.count() == 3  # the table is intact


@reuses_fixture
@given(text=TEXT)
def test_like_wildcards_in_values_match_only_themselves(
    items: Callable[..., strata.Database], text: str
) -> None:
    db = items(
        [{"name": "abc"}, {"name": "a%c"}, {"name": "a_c"}, {"name": "a\\c"}, {"name": text}]
    )
    for wildcard in ("%", "_", "\\"):
        needle = f"a{wildcard}c"
        where = {"name": {"contains": needle, "mode": "insensitive"}}
        found = {r.name for r in db.item.find_many(where)}
        assert found == {n for n in ("abc", "a%c", "a_c", "a\\c", text) if needle in fold(n)}
