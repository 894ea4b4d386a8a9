"""Schema processing and table redefinition, against SQLite doing the plain work.

* A 100-model schema: parse, validate and render its DDL with strata, against SQLite
  creating those tables in memory (sqlite3 module). Informational: it says what fraction of
  a first migration is spent in Python before SQLite sees any SQL.
* Redefining a large table (a dropped column, so SQLite's ALTER cannot do it): strata's
  whole redefinition as ``migrate deploy`` runs it (foreign keys off, transaction, new
  table, row copy in ranges with progress reporting, drop, rename, indexes, foreign-key
  check), against a bare ``INSERT INTO new SELECT * FROM old`` of the same rows.
  Target: at least 0.8 of the bare copy's speed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import strata
from _harness import Benchmark, Side, Suite
from strata.dialects.sqlite.ddl import SqliteDdl
from strata.migrate.diff import diff
from strata.migrate.runner import apply_script
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema
from strata.schema.sql import SqlSchema

# --- 1. a 100-model schema -------------------------------------------------------------------


def hundred_models() -> str:
    """100 models in chains of relations, each with an enum field, indexes and defaults."""
    parts = ['datasource db {\n  provider = "sqlite"\n}\n', "enum State {\n  OPEN\n  CLOSED\n}\n"]
    for n in range(100):
        parent = (
            "  parentId Int?\n"
            f"  parent   Model{n - 1}? @relation(fields: [parentId], references: [id])\n"
        )
        child = f"  children Model{n + 1}[]\n" if n < 99 else ""
        parts.append(
            f"model Model{n} {{\n"
            "  id        Int      @id @default(autoincrement())\n"
            "  name      String   @unique\n"
            "  state     State    @default(OPEN)\n"
            "  score     Float    @default(0)\n"
            "  createdAt DateTime @default(now())\n"
            "  updatedAt DateTime @updatedAt\n"
            + (parent if n else "")
            + child
            + "\n  @@index([state, createdAt])\n}\n"
        )
    return "\n".join(parts)


@contextmanager
def _schema_processing(tmp: Path) -> Iterator[tuple[Side, Side]]:
    text = hundred_models()
    dialect = SqliteDdl()
    ddl = dialect.render_script(diff(SqlSchema(), calculate(load_schema(text), dialect)))

    def with_strata(n: int) -> None:
        for _ in range(n):
            dialect.render_script(diff(SqlSchema(), calculate(load_schema(text), dialect)))

    def with_sqlite3(n: int) -> None:
        for _ in range(n):
            conn = sqlite3.connect(":memory:")
            conn.executescript(ddl)
            conn.close()

    yield Side(with_strata), Side(with_sqlite3)


# --- 2. redefining a large table -------------------------------------------------------------

OLD_TABLE = """CREATE TABLE "Gadget" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "weight" REAL NOT NULL,
    "legacyCode" TEXT
)"""

REDEFINITION = """-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Gadget" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "weight" REAL NOT NULL
);
INSERT INTO "new_Gadget" ("id", "name", "weight") SELECT "id", "name", "weight" FROM "Gadget";
DROP TABLE "Gadget";
ALTER TABLE "new_Gadget" RENAME TO "Gadget";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
"""

FILL = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
    "INSERT INTO \"Gadget\" SELECT i, 'gadget-' || i, i * 0.5, 'L' || i FROM n"
)


def _redefinition(rows: int) -> Callable[[Path], AbstractContextManager[tuple[Side, Side]]]:
    @contextmanager
    def setup(tmp: Path) -> Iterator[tuple[Side, Side]]:
        db = strata.connect(tmp / "strata.db")
        conn = sqlite3.connect(tmp / "sqlite3.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")

        def reset_strata() -> None:
            db.execute_script_('DROP TABLE IF EXISTS "Gadget"; ' + OLD_TABLE)
            db.execute_raw_(FILL.format(rows=rows))
            db.execute_raw_("PRAGMA wal_checkpoint(TRUNCATE)")

        def reset_sqlite3() -> None:
            conn.executescript(
                'DROP TABLE IF EXISTS "Gadget"; DROP TABLE IF EXISTS "new_Gadget"; ' + OLD_TABLE
            )
            conn.execute(FILL.format(rows=rows))
            conn.execute(OLD_TABLE.replace('"Gadget"', '"new_Gadget"'))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        def ignore_progress(table: str, copied: int, total: int) -> None:
            pass  # the CLI draws a bar here; the copy runs in ranges either way

        def with_strata(n: int) -> None:
            apply_script(db, REDEFINITION, progress=ignore_progress)

        def with_sqlite3(n: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute('INSERT INTO "new_Gadget" SELECT * FROM "Gadget"')
            conn.execute("COMMIT")

        try:
            yield Side(with_strata, reset_strata), Side(with_sqlite3, reset_sqlite3)
        finally:
            db.close_()
            conn.close()

    return setup


def benchmarks(quick: bool) -> list[Benchmark]:
    rows = 200_000 if quick else 1_000_000
    return [
        Benchmark(
            name="parse_validate_ddl_100_models",
            label="100-model schema: parse+validate+DDL vs CREATE",
            unit="schema",
            size=3 if quick else 10,
            rounds=7 if quick else 15,
            setup=_schema_processing,
            target=None,
        ),
        Benchmark(
            name="redefine_table",
            label=f"redefine a {rows:,}-row table vs bare copy",
            unit="table",
            size=1,
            rounds=5 if quick else 7,
            setup=_redefinition(rows),
            target=0.8,
        ),
    ]


SUITE = Suite(name="migrate", baseline="SQLite alone", benchmarks=benchmarks)
