"""create_many across its batch boundaries: every row once, and all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import strata
from strata.client import writes

SCHEMA = """datasource db {
  provider = "sqlite"
}

model Item {
  id    Int    @id @default(autoincrement())
  sku   String @unique
  qty   Int    @default(0)
}
"""


@pytest.fixture
def db(tmp_path: Path) -> strata.Database:
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA)
    database = strata.connect(tmp_path / "bulk.db", schema=schema)
    database.migrate.push()
    return database


@pytest.mark.parametrize("count", [0, 1, writes.ROWS_PER_INSERT, 2 * writes.ROWS_PER_INSERT + 37])
def test_every_row_is_inserted_once(db: strata.Database, count: int) -> None:
    data = [{"sku": f"s{n}", "qty": n} for n in range(count)]
    assert db.item.create_many(data=data) == {"count": count}
    rows = db.item.find_many(order_by={"qty": "asc"})
    assert [(r.sku, r.qty) for r in rows] == [(f"s{n}", n) for n in range(count)]
    db.close()


def test_a_bad_row_anywhere_writes_nothing(db: strata.Database) -> None:
    data = [{"sku": f"s{n}"} for n in range(250)]
    data[240] = {"sku": "s3"}  # a duplicate in the remainder, after two full batches
    with pytest.raises(strata.UniqueConstraintError):
        db.item.create_many(data=data)
    assert db.item.count() == 0
    assert db.item.create_many(data=data, skip_duplicates=True) == {"count": 249}
    db.close()
