"""Json filters as in Prisma Client (path, equals, not, string_*, array_*), checked against
a plain-Python reference over random documents with hostile keys, NUL and non-ASCII text, on
SQLite (the core's strata_json_match) and PostgreSQL (jsonb expressions). jsonb holds no
U+0000, so on PostgreSQL the documents have none (and one test shows the clear refusal)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from decimal import Decimal
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

model Doc {
  id   Int   @id
  data Json
  opt  Json?
}
"""

#: Characters that break naive JSON paths or SQL: quotes, path syntax, NUL, escapes.
HOSTILE = ['"', "'", ".", "[", "]", "$", "\\", "\x00", "\n", "é", "😀", "*", " ", "0", "1", "a"]


@pytest.fixture
def db(backend: Backend) -> strata.Database:
    return backend.connect(SCHEMA)


def ids(db: strata.Database, where: dict[str, Any]) -> list[int]:
    return sorted(record.id for record in db.doc.find_many(where=where))


# -- the reference ---------------------------------------------------------------------------

MISSING = object()


def json_equal(a: Any, b: Any, decimal: bool = False) -> bool:
    """JSON equality: objects whatever their key order, numbers by value, booleans apart.
    Numbers compare as binary values (an int with a float exactly, as Python does and the
    core on SQLite), or with ``decimal`` as the decimals their JSON text spells (jsonb's
    numeric: 3.602879701896397e+16 is 36028797018963970 there)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return Decimal(repr(a)) == Decimal(repr(b)) if decimal else a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            json_equal(x, y, decimal) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k], decimal) for k in a)
    if a is None or b is None:
        return a is b
    return type(a) is type(b) and a == b


def decimal_index(step: str | int) -> int | None:
    if isinstance(step, int):
        return step
    canonical = step.isascii() and step.isdigit() and (step == "0" or not step.startswith("0"))
    return int(step) if canonical else None


def at(document: Any, path: list[str | int]) -> Any:
    node = document
    for step in path:
        if isinstance(node, dict) and isinstance(step, str):
            node = node.get(step, MISSING)
        elif isinstance(node, list) and (index := decimal_index(step)) is not None:
            node = node[index] if index < len(node) else MISSING
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node


def apply(node: Any, operator: str, operand: Any, decimal: bool = False) -> bool | None:
    """One operator at the node the path reached; None is SQL's unknown."""
    if operator == "equals" and operand is None:
        return node is MISSING or node is None
    if node is MISSING:
        return None
    if operator == "equals":
        return json_equal(node, operand, decimal)
    if operator.startswith("string_"):
        if not isinstance(node, str):
            return False
        return {
            "string_contains": operand in node,
            "string_starts_with": node.startswith(operand),
            "string_ends_with": node.endswith(operand),
        }[operator]
    if not isinstance(node, list):
        return False
    if operator == "array_contains":
        wanted = operand if isinstance(operand, list) else [operand]
        return all(any(json_equal(item, want, decimal) for item in node) for want in wanted)
    if operator == "array_starts_with":
        return bool(node) and json_equal(node[0], operand, decimal)
    return bool(node) and json_equal(node[-1], operand, decimal)  # array_ends_with


def reference(document: Any, where: dict[str, Any], decimal: bool = False) -> bool:
    path = where.get("path", [])
    node = at(document, path)
    answers = []
    for operator, operand in where.items():
        if operator == "path":
            continue
        if operator == "not":
            answer = apply(node, "equals", operand, decimal)
            answers.append(None if answer is None else not answer)
        else:
            answers.append(apply(node, operator, operand, decimal))
    return all(answer is True for answer in answers)


# -- random documents and filters ------------------------------------------------------------


def strategies(hostile: list[str]) -> tuple[st.SearchStrategy[str], st.SearchStrategy[Any]]:
    """Keys and documents made of ``hostile`` characters."""
    keys = st.text(alphabet=st.sampled_from(hostile), max_size=4) | st.sampled_from(
        ["0", "1", "10"]
    )
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**63 - 1)
        | st.sampled_from([0, 1, -1, 2])
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from([0.0, 1.0, 0.5, -0.0])
        | st.text(alphabet=st.sampled_from(hostile), max_size=6)
    )
    documents = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )
    return keys, documents


STRATEGIES = {
    "sqlite": strategies(HOSTILE),
    "postgresql": strategies([c for c in HOSTILE if c != "\x00"]),
}


def reordered(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: reordered(v, rng) for k, v in items}
    if isinstance(value, list):
        return [reordered(v, rng) for v in value]
    return value


def paths_in(value: Any, prefix: list[str | int]) -> Iterator[list[str | int]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_in(item, [*prefix, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            # Indices as ints, and sometimes as Prisma's decimal strings.
            step: str | int = str(index) if index % 2 else index
            yield from paths_in(item, [*prefix, step])


@st.composite
def filters(
    draw: st.DrawFn,
    docs: list[Any],
    keys: st.SearchStrategy[str],
    hostile: list[str],
    documents: st.SearchStrategy[Any],
) -> dict[str, Any]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    source = draw(st.sampled_from(docs))
    candidates = list(paths_in(source, []))
    path = draw(st.sampled_from(candidates) | st.lists(keys | st.integers(0, 3), max_size=3))
    node = at(source, path)
    operator = draw(
        st.sampled_from(
            [
                "equals",
                "not",
                "string_contains",
                "string_starts_with",
                "string_ends_with",
                "array_contains",
                "array_starts_with",
                "array_ends_with",
            ]
        )
    )
    if operator.startswith("string_"):
        if isinstance(node, str) and node and draw(st.booleans()):
            start = draw(st.integers(0, len(node)))
            operand: Any = node[start : draw(st.integers(start, len(node)))]
        else:
            operand = draw(st.text(alphabet=st.sampled_from(hostile), max_size=3))
    elif operator.startswith("array_") and isinstance(node, list) and node and draw(st.booleans()):
        picked = draw(st.lists(st.sampled_from(node), max_size=3))
        operand = picked if operator == "array_contains" else picked[0] if picked else node[0]
        operand = reordered(operand, rng)
    elif node is not MISSING and draw(st.booleans()):
        operand = reordered(node, rng)
    else:
        operand = draw(documents)
    where: dict[str, Any] = {operator: operand}
    if path or draw(st.booleans()):
        where = {"path": path, **where}
    return where


reuses_db = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@reuses_db
@given(data=st.data())
def test_filters_agree_with_the_python_reference(
    backend: Backend, db: strata.Database, data: st.DataObject
) -> None:
    keys, documents = STRATEGIES[backend.provider]
    hostile = [c for c in HOSTILE if c != "\x00"] if backend.is_postgres else HOSTILE
    docs = data.draw(st.lists(documents, min_size=1, max_size=6))
    db.doc.delete_many()
    for i, doc in enumerate(docs):
        db.doc.create(data={"id": i, "data": doc, "opt": doc})
    # Compare with the documents as the client reads them back (a whole 1.0 reads as 1).
    # The required column stores None as a JSON null; the optional one as SQL NULL, where
    # nothing is: every filter but equals None is unknown there, as for other fields.
    records = db.doc.find_many()
    stored = {record.id: record.data for record in records}
    stored_opt = {record.id: MISSING if record.opt is None else record.opt for record in records}
    for _ in range(5):
        where = data.draw(filters(docs, keys, hostile, documents))
        decimal = backend.is_postgres
        expected = sorted(i for i, doc in stored.items() if reference(doc, where, decimal))
        assert ids(db, {"data": where}) == expected, where
        expected = sorted(i for i, doc in stored_opt.items() if reference(doc, where, decimal))
        assert ids(db, {"opt": where}) == expected, where


# -- examples --------------------------------------------------------------------------------


def test_equals_ignores_object_key_order(db: strata.Database) -> None:
    db.doc.create(data={"id": 1, "data": {"style": "noir", "size": {"w": 1920, "h": 1080}}})
    db.doc.create(data={"id": 2, "data": {"style": "noir"}})
    assert ids(db, {"data": {"equals": {"size": {"h": 1080, "w": 1920}, "style": "noir"}}}) == [1]
    assert ids(db, {"data": {"equals": {"size": {"h": 1080.0, "w": 1920}, "style": "noir"}}}) == [1]
    assert ids(db, {"data": {"equals": {"size": {"h": 1080}, "style": "noir"}}}) == []
    assert ids(db, {"data": {"not": {"style": "noir"}}}) == [1]
    assert db.doc.count(where={"data": {"path": ["size"], "equals": {"h": 1080, "w": 1920}}}) == 1


def test_path_filters(db: strata.Database) -> None:
    db.doc.create(data={"id": 1, "data": {"pets": [{"name": "Rex"}, {"name": "Tom"}], "n": 3}})
    db.doc.create(data={"id": 2, "data": {"pets": [], "n": None}})
    db.doc.create(data={"id": 3, "data": {"n": "3"}})
    assert ids(db, {"data": {"path": ["pets", 1, "name"], "equals": "Tom"}}) == [1]
    assert ids(db, {"data": {"path": ["pets", "0", "name"], "string_starts_with": "R"}}) == [1]
    assert ids(db, {"data": {"path": ["pets"], "array_contains": {"name": "Tom"}}}) == [1]
    assert ids(db, {"data": {"path": ["pets"], "array_ends_with": {"name": "Tom"}}}) == [1]
    # A JSON number is not a string, nor a string a number.
    assert ids(db, {"data": {"path": ["n"], "equals": 3}}) == [1]
    assert ids(db, {"data": {"path": ["n"], "string_contains": "3"}}) == [3]
    # None: a JSON null and a missing key alike; not None: a value is there.
    assert ids(db, {"data": {"path": ["n"], "equals": None}}) == [2]
    assert ids(db, {"data": {"path": ["pets"], "equals": None}}) == [3]
    assert ids(db, {"data": {"path": ["pets"], "not": None}}) == [1, 2]
    # not: a value that differs; where the path leads nowhere it is unknown.
    assert ids(db, {"data": {"path": ["pets"], "not": []}}) == [1]


def test_hostile_keys_are_keys(backend: Backend, db: strata.Database) -> None:
    hostile = ['a"b', "a.b", "a[0]", "$", "$.a", "'); DROP TABLE Doc; --", "k\x00ey", "\\", ""]
    if backend.is_postgres:
        hostile[6] = "k\\u0000ey"  # jsonb holds no U+0000; the escape's text is a key
    db.doc.create(data={"id": 1, "data": {key: index for index, key in enumerate(hostile)}})
    db.doc.create(data={"id": 2, "data": {"a": {"b": 1}, "k": 1}})
    for index, key in enumerate(hostile):
        assert ids(db, {"data": {"path": [key], "equals": index}}) == [1], key
    assert ids(db, {"data": {"path": ["a.b"], "equals": 1}}) == [1]
    assert ids(db, {"data": {"path": ["a", "b"], "equals": 1}}) == [2]
    assert ids(db, {"data": {"path": ["k"], "equals": 1}}) == [2]  # not "k\x00ey"
    assert db.doc.count() == 2


def test_nul_and_unicode_in_strings_compare_exactly(backend: Backend, db: strata.Database) -> None:
    if backend.is_postgres:
        with pytest.raises(strata.ValidationError, match=r"Doc\.data: expected"):
            db.doc.create(data={"id": 1, "data": {"s": "ab\x00cd"}})
        assert db.doc.count() == 0
        pytest.skip("SQLite only: jsonb holds no U+0000, refused above with the field's name")
    db.doc.create(data={"id": 1, "data": {"s": "ab\x00cd", "u": "é😀"}})
    db.doc.create(data={"id": 2, "data": {"s": "ab", "u": "e"}})
    assert ids(db, {"data": {"path": ["s"], "equals": "ab"}}) == [2]
    assert ids(db, {"data": {"path": ["s"], "equals": "ab\x00cd"}}) == [1]
    assert ids(db, {"data": {"path": ["s"], "string_ends_with": "\x00cd"}}) == [1]
    assert ids(db, {"data": {"path": ["s"], "string_contains": "b"}}) == [1, 2]
    assert ids(db, {"data": {"path": ["u"], "string_starts_with": "é"}}) == [1]


def test_documents_written_by_other_clients(backend: Backend, db: strata.Database) -> None:
    # Escaped non-ASCII, escaped slashes, whitespace and a repeated key (the last wins,
    # as in JavaScript and Python): what Prisma and raw SQL may leave in the column.
    db.execute_raw_(
        f'INSERT INTO "Doc" ("id", "data") VALUES (1, {"$1" if backend.is_postgres else "?"})',
        '{ "caf\\u00e9" : "a\\/b", "n": 1, "n": 2, "q": "\\ud83d\\ude00" }',
    )
    assert ids(db, {"data": {"path": ["café"], "equals": "a/b"}}) == [1]
    assert ids(db, {"data": {"path": ["n"], "equals": 2}}) == [1]
    assert ids(db, {"data": {"path": ["q"], "equals": "😀"}}) == [1]
    assert ids(db, {"data": {"equals": {"q": "😀", "n": 2, "café": "a/b"}}}) == [1]


def test_bad_filters_are_refused_before_any_sql(db: strata.Database) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"path": ["a"]}, "needs a filter"),
        ({"path": "$.a", "equals": 1}, "path takes a list"),
        ({"path": [-1], "equals": 1}, "path takes a list"),
        ({"path": [True], "equals": 1}, "path takes a list"),
        ({"string_contains": 3}, "takes a str"),
        ({"equals": float("nan")}, "JSON-serialisable"),
        ({"equals": {1, 2}}, "JSON-serialisable"),
        ({"gt": 1}, "unknown Json filter operator"),
    ]
    for where, message in bad:
        with pytest.raises(strata.ValidationError, match=message):
            db.doc.find_many(where={"data": where})


def test_a_malformed_stored_document_is_an_error_not_a_silent_miss(
    backend: Backend, db: strata.Database
) -> None:
    if backend.is_postgres:
        pytest.skip("SQLite only: a jsonb column refuses malformed text when it is written")
    db.execute_raw_('INSERT INTO "Doc" ("id", "data") VALUES (1, ?)', "{not json")
    with pytest.raises(strata.DatabaseError, match="not valid JSON"):
        db.doc.find_many(where={"data": {"path": ["a"], "equals": 1}})


def test_json_operands_are_bound_values(backend: Backend, db: strata.Database) -> None:
    seen: list[tuple[str, Any]] = []
    db.set_tracer_(lambda sql, params: seen.append((sql, params)))
    db.doc.find_many(where={"data": {"path": ['")--', "x"], "equals": {"y": "'"}}})
    db.set_tracer_(None)
    ((sql, params),) = seen
    assert '")--' not in sql
    assert "'\"" not in sql
    if backend.is_postgres:  # each key and the value are parameters of their own
        assert '")--' in params
        assert json.loads(params[-1]) == {"y": "'"}
    else:  # one parameter: the core's test as JSON
        assert json.loads(params[0]) == [['")--', "x"], "equals", {"y": "'"}]
