"""The studio's page of rows on a large table, against the client's own read of it.

A page (`strata.studio.data.rows`, what ``GET /api/models/{model}/rows`` answers) is a keyset
read: the client's ``find_many`` with ``cursor`` on the sort keys, one row more than shown
to tell whether another page follows, and each row turned into JSON values. It is compared
with ``find_many`` taking the same rows after the same cursor: the page should cost about
one indexed query, wherever it starts in the table (target: 0.8 of the plain read).

* by the key: pages from cursors spread over the whole table;
* by an indexed column: pages sorted by ``kind`` then the key.
* through HTTP (informational): the same page fetched from the ASGI app by Starlette's
  test client, JSON encoding and the request's round trip included.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import strata
from _harness import Benchmark, Side, Suite
from strata.studio import data

SCHEMA = """
datasource db {
  provider = "sqlite"
  url      = "file:./studio.db"
}

model Event {
  id    Int    @id @default(autoincrement())
  name  String
  kind  String
  score Float

  @@index([kind, id])
}
"""

FILL = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
    'INSERT INTO "Event" (id, name, kind, score) '
    "SELECT i, 'event-' || i, 'kind-' || (i % 20), i * 0.25 FROM n"
)
TAKE = 50


def _table(rows: int) -> Callable[[Path], AbstractContextManager[strata.Database]]:
    @contextmanager
    def opened(tmp: Path) -> Iterator[strata.Database]:
        schema = tmp / "schema.prisma"
        schema.write_text(SCHEMA)
        db = strata.connect(tmp / "studio.db", schema=schema)
        try:
            db.migrate_.push()
            db.execute_raw_(FILL.format(rows=rows))
            yield db
        finally:
            db.close_()

    return opened


def _cursors(rows: int, count: int = 64) -> list[int]:
    return [1 + (rows - TAKE - 1) * i // (count - 1) for i in range(count)]


def _by(rows: int, sort: str | None, http: bool = False) -> Callable[[Path], Any]:
    table = _table(rows)

    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        with table(tmp) as db:
            cursors = _cursors(rows)
            repository = db.event
            order = [{sort: "asc"}, {"id": "asc"}] if sort else [{"id": "asc"}]
            client = None
            if http:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from starlette.testclient import TestClient

                from strata.studio.app import create_app

                client = TestClient(create_app(db), base_url="http://127.0.0.1:5555")

            def page(n: int) -> None:
                for i in range(n):
                    after = {"id": cursors[i % len(cursors)]}
                    if client is None:
                        data.rows(db, "Event", sort=sort, take=TAKE, after=after)
                    else:
                        params = {"take": TAKE, "after": json.dumps(after), "sort": sort or ""}
                        client.get("/api/models/Event/rows", params=params).raise_for_status()

            def find_many(n: int) -> None:
                for i in range(n):
                    cursor = {"id": cursors[i % len(cursors)]}
                    repository.find_many(order_by=order, cursor=cursor, skip=1, take=TAKE)

            yield Side(page), Side(find_many)

    return setup


def benchmarks(quick: bool) -> list[Benchmark]:
    rows = 200_000 if quick else 1_000_000
    size, rounds = (50, 7) if quick else (200, 11)
    return [
        Benchmark(
            name="page_vs_find_many",
            label=f"page of {TAKE} by the key, {rows:,} rows, vs find_many",
            unit="page",
            size=size,
            rounds=rounds,
            setup=_by(rows, None),
            target=0.8,
        ),
        Benchmark(
            name="sorted_page_vs_find_many",
            label=f"page of {TAKE} by an indexed column vs find_many",
            unit="page",
            size=size,
            rounds=rounds,
            setup=_by(rows, "kind"),
            target=0.8,
        ),
        Benchmark(
            name="http_page_vs_find_many",
            label=f"page of {TAKE} over HTTP (test client) vs find_many",
            unit="page",
            size=size,
            rounds=rounds,
            setup=_by(rows, None, http=True),
            target=None,
        ),
    ]


SUITE = Suite(name="studio", baseline="the client's find_many", benchmarks=benchmarks)
