"""Properties of the engine, checked against plain-Python models."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strata

sql_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata.Database]:
    path: Path = tmp_path_factory.mktemp("props") / "props.db"
    with strata.connect(path) as db:
        db.execute_raw_("CREATE TABLE kv (k INTEGER PRIMARY KEY, v)")
        yield db


@given(values=st.lists(sql_values, max_size=8))
def test_values_round_trip_through_a_table(
    shared_db: strata.Database, values: list[object]
) -> None:
    shared_db.execute_raw_("DELETE FROM kv")
    shared_db.execute_many_raw_("INSERT INTO kv VALUES (?, ?)", enumerate(values))
    stored = [v for _, v in shared_db.query_raw_("SELECT k, v FROM kv ORDER BY k", as_tuples=True)]
    assert len(stored) == len(values)
    for got, want in zip(stored, values, strict=True):
        if isinstance(want, float) and math.isinf(want):
            assert got == want
        else:
            assert got == want
            assert type(got) is type(want)


# A program is a list of steps; each step writes a value, then either commits its block
# or raises out of it. Nested lists are nested transaction blocks.
Step = tuple[int, bool, list["Step"]]
steps: st.SearchStrategy[list[Step]] = st.recursive(
    st.just([]),
    lambda inner: st.lists(st.tuples(st.integers(0, 999), st.booleans(), inner), max_size=3),
    max_leaves=12,
)


class Abort(Exception):
    pass


def run_blocks(db: strata.Database, program: list[Step], model: list[int]) -> None:
    for value, commit, children in program:
        snapshot = list(model)
        try:
            with db.transaction_():
                db.execute_raw_("INSERT INTO log VALUES (?)", value)
                model.append(value)
                run_blocks(db, children, model)
                if not commit:
                    raise Abort
        except Abort:
            model[:] = snapshot


@given(program=steps)
def test_nested_transactions_match_a_model(
    tmp_path_factory: pytest.TempPathFactory, program: list[Step]
) -> None:
    path = tmp_path_factory.mktemp("nested") / "nested.db"
    with strata.connect(path) as db:
        db.execute_raw_("CREATE TABLE log (v INTEGER)")
        model: list[int] = []
        run_blocks(db, program, model)
        assert not db.in_transaction_
        stored = [v for (v,) in db.query_raw_("SELECT v FROM log ORDER BY rowid", as_tuples=True)]
        assert stored == model
