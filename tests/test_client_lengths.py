"""@db.VarChar(n) limits, enforced by the client as Prisma's P2000 (SQLite does not).

The schema is a PostgreSQL one (only PostgreSQL has ``@db.VarChar``); its tables are made on
SQLite with SQLite's DDL, since the migrator refuses a schema for another database."""

from __future__ import annotations

from pathlib import Path

import pytest

import strata
from strata.dialects.sqlite.ddl import SqliteDdl
from strata.migrate.diff import diff
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema
from strata.schema.sql import SqlSchema

SCHEMA = """datasource db {
  provider = "postgresql"
}

model Tag {
  id   Int    @id @default(autoincrement())
  code String @db.VarChar(5)
  name String @db.Text
}
"""


def test_value_too_long_is_p2000_and_writes_nothing(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA)
    with strata.connect(tmp_path / "t.db", schema=schema) as db:
        ddl = SqliteDdl()
        db.execute_script_(
            ddl.render_script(diff(SqlSchema(), calculate(load_schema(SCHEMA), ddl)))
        )
        db.tag.create(data={"code": "abcde", "name": "x" * 1000})
        with pytest.raises(strata.ValueTooLongError) as caught:
            db.tag.create(data={"code": "abcdef", "name": "y"})
        assert caught.value.code == "P2000"
        assert (caught.value.model, caught.value.field, caught.value.limit) == ("Tag", "code", 5)
        with pytest.raises(strata.ValueTooLongError) as caught:
            db.tag.create_many(data=[{"code": "ok", "name": "a"}, {"code": "toolong", "name": "b"}])
        assert caught.value.row == 1  # type: ignore[attr-defined]
        with pytest.raises(strata.ValueTooLongError):
            db.tag.update(where={"id": 1}, data={"code": "sixsix"})
        assert db.tag.count() == 1
        assert db.tag.find_unique(where={"id": 1}).code == "abcde"  # type: ignore[union-attr]
