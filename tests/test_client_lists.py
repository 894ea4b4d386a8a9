"""Scalar lists (JSON arrays on SQLite, native arrays on PostgreSQL): Prisma's list filters
and the push/set updates, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import Backend
from support import Traced

RENDER = Path(__file__).resolve().parent.parent / "schema" / "render_manager.prisma"

SAMPLE = """
datasource db {
  provider = "sqlite"
}

model Sample {
  id    Int        @id @default(autoincrement())
  names String[]
  sizes Int[]
  flags Boolean[]
  times DateTime[]
  notes Json[]
}
"""


@pytest.fixture
def render(backend: Backend) -> strata.Database:
    db = backend.connect(RENDER)
    for email, names in (
        ("a@x.io", ["ann", "al"]),
        ("b@x.io", ["ben"]),
        ("c@x.io", []),
        ("d@x.io", ["al", "ann", 'd\'o "q" ü']),
    ):
        db.user.create(data={"email": email, "macUsernames": names})
    return db


@pytest.fixture
def sample(backend: Backend) -> strata.Database:
    return backend.connect(SAMPLE)


def emails(db: strata.Database, where: dict[str, Any]) -> list[str]:
    return [u.email for u in db.user.find_many(where=where, order_by={"email": "asc"})]


def test_list_filters(render: strata.Database) -> None:
    assert emails(render, {"macUsernames": {"has": "al"}}) == ["a@x.io", "d@x.io"]
    assert emails(render, {"macUsernames": {"has": 'd\'o "q" ü'}}) == ["d@x.io"]
    assert emails(render, {"macUsernames": {"has": "a"}}) == []  # elements, not substrings
    assert emails(render, {"macUsernames": {"has_every": ["ann", "al"]}}) == ["a@x.io", "d@x.io"]
    assert emails(render, {"macUsernames": {"has_every": ["ann", "ben"]}}) == []
    assert len(emails(render, {"macUsernames": {"has_every": []}})) == 4
    assert emails(render, {"macUsernames": {"has_some": ["ben", "zed"]}}) == ["b@x.io"]
    assert emails(render, {"macUsernames": {"has_some": []}}) == []
    assert emails(render, {"macUsernames": {"is_empty": True}}) == ["c@x.io"]
    assert emails(render, {"macUsernames": {"is_empty": False}}) == ["a@x.io", "b@x.io", "d@x.io"]
    # equals is the whole list, in order.
    assert emails(render, {"macUsernames": {"equals": ["ann", "al"]}}) == ["a@x.io"]
    assert emails(render, {"macUsernames": {"equals": ["al", "ann"]}}) == []
    assert emails(render, {"macUsernames": ["ben"]}) == ["b@x.io"]
    assert emails(render, {"macUsernames": {"equals": []}}) == ["c@x.io"]
    # Several operators, and with NOT / relation filters around them.
    assert emails(render, {"macUsernames": {"has": "al", "has_some": ['d\'o "q" ü']}}) == ["d@x.io"]
    assert emails(render, {"NOT": {"macUsernames": {"has": "ann"}}}) == ["b@x.io", "c@x.io"]
    assert render.user.count(where={"macUsernames": {"has": "ann"}}) == 2


def test_list_filters_on_other_element_types(sample: strata.Database) -> None:
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    sample.sample.create(
        data={
            "names": ["x"],
            "sizes": [1, 2, 3],
            "flags": [True],
            "times": [noon],
            "notes": [{"a": 1}, "text", 2],
        }
    )
    sample.sample.create(data={"sizes": [4], "flags": [False, False]})

    def ids(where: dict[str, Any]) -> list[int]:
        return [s.id for s in sample.sample.find_many(where=where, order_by={"id": "asc"})]

    assert ids({"sizes": {"has": 2}}) == [1]
    assert ids({"sizes": {"has_some": [3, 4]}}) == [1, 2]
    assert ids({"sizes": {"has_every": [1, 3]}}) == [1]
    assert ids({"flags": {"has": True}}) == [1]
    assert ids({"flags": {"has": False}}) == [2]
    assert ids({"times": {"has": noon}}) == [1]
    assert ids({"notes": {"has": {"a": 1}}}) == [1]
    assert ids({"notes": {"has": "text"}}) == [1]
    assert ids({"notes": {"is_empty": True}}) == [2]


def test_push_and_set(render: strata.Database) -> None:
    user = render.user.find_unique_or_raise(where={"email": "b@x.io"})
    updated = render.user.update(where={"id": user.id}, data={"macUsernames": {"push": "bo"}})
    assert updated.macUsernames == ["ben", "bo"]
    updated = render.user.update(
        where={"id": user.id}, data={"macUsernames": {"push": ["x", 'y\'s "z"']}}
    )
    assert updated.macUsernames == ["ben", "bo", "x", 'y\'s "z"']
    updated = render.user.update(where={"id": user.id}, data={"macUsernames": {"push": []}})
    assert updated.macUsernames == ["ben", "bo", "x", 'y\'s "z"']
    # The pushed list is stored as the codec writes lists, so equals still finds it.
    assert emails(render, {"macUsernames": {"equals": ["ben", "bo", "x", 'y\'s "z"']}}) == [
        "b@x.io"
    ]
    updated = render.user.update(where={"id": user.id}, data={"macUsernames": {"set": ["only"]}})
    assert updated.macUsernames == ["only"]
    # Pushing onto an empty list, and onto many rows at once.
    assert render.user.update_many(
        where={"macUsernames": {"has_some": ["only", "ben"]}},
        data={"macUsernames": {"push": "new"}},
    ) == {"count": 1}
    empty = render.user.update(
        where={"email": "c@x.io"}, data={"macUsernames": {"push": ["first"]}}
    )
    assert empty.macUsernames == ["first"]
    assert render.user.find_unique_or_raise(where={"id": user.id}).macUsernames == ["only", "new"]


def test_push_other_element_types(sample: strata.Database) -> None:
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    row = sample.sample.create(data={})
    row = sample.sample.update(
        where={"id": row.id},
        data={
            "sizes": {"push": [1, 2]},
            "flags": {"push": True},
            "times": {"push": noon},
            "notes": {"push": [{"a": [1]}, None, "s"]},
        },
    )
    assert (row.sizes, row.flags, row.times, row.notes) == (
        [1, 2],
        [True],
        [noon],
        [{"a": [1]}, None, "s"],
    )
    assert sample.sample.find_unique_or_raise(where={"id": row.id}) == row


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"macUsernames": {"contains": "a"}}, "unknown list filter operator"),
        ({"macUsernames": {"has": 5}}, "macUsernames"),
        ({"macUsernames": {"has": None}}, "macUsernames"),
        ({"macUsernames": {"has_every": "ann"}}, "macUsernames"),
        ({"macUsernames": {"has_some": [1]}}, "macUsernames"),
        ({"macUsernames": {"is_empty": "yes"}}, "is_empty takes True or False"),
        ({"email": {"has": "a"}}, "unknown filter operator"),
    ],
)
def test_bad_list_filters_are_refused_before_sql(
    render: strata.Database, where: dict[str, Any], message: str
) -> None:
    traced = Traced(render)
    with pytest.raises(strata.ValidationError, match=message) as raised:
        render.user.find_many(where=where)
    assert raised.value.model == "User"
    assert raised.value.field in ("macUsernames", "email")
    assert traced.take() == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"macUsernames": {"push": 5}}, "macUsernames"),
        ({"macUsernames": {"push": [None]}}, "macUsernames"),
        ({"macUsernames": {"append": "x"}}, "unknown update operation 'append'"),
        ({"macUsernames": {"push": "x", "set": []}}, "takes one operation"),
        ({"email": {"push": "x"}}, "unknown update operation 'push'"),
    ],
)
def test_bad_list_updates_write_nothing(
    render: strata.Database, data: dict[str, Any], message: str
) -> None:
    before = [u.model_dump() for u in render.user.find_many(order_by={"email": "asc"})]
    traced = Traced(render)
    with pytest.raises(strata.ValidationError, match=message) as raised:
        render.user.update_many(where={}, data=data)
    assert (raised.value.model, raised.value.field) == ("User", next(iter(data)))
    assert traced.take() == []
    after = [u.model_dump() for u in render.user.find_many(order_by={"email": "asc"})]
    assert after == before
