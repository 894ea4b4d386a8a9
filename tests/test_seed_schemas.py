"""The five seed systems' schemas validate, migrate from empty and evolve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import strata
from strata.dialects.sqlite.ddl import SqliteDdl
from strata.dialects.sqlite.introspect import introspect
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema_file

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"

# One realistic next change per system: (model, lines added to it, the step it needs).
EVOLUTIONS = {
    # Per-job retry limits arrive: a required column with a default, which SQLite's
    # ALTER TABLE cannot add, so the table is redefined.
    "render_manager": (
        "Job",
        "  retryLimit Int @default(3)\n  retryNote String?\n",
        "-- RedefineTables",
    ),
    "medianest": ("ActivityLog", "  durationMs Int?\n", "-- AlterTable"),
    "gpu_marketplace": ("ProviderMetric", "  powerWatts Float?\n", "-- AlterTable"),
    "music_api": ("RequestLog", "  apiKeyId String?\n", "-- AlterTable"),
    "video_machine": ("Project", "  archivedAt DateTime?\n", "-- AlterTable"),
}


@pytest.mark.parametrize("name", sorted(EVOLUTIONS))
def test_seed_schema_migrates_and_evolves(name: str, tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.prisma"
    shutil.copyfile(SCHEMAS / f"{name}.prisma", schema_file)
    with strata.connect(tmp_path / "app.db", schema=schema_file) as db:
        init = db.migrate_.dev("init")
        assert init.migration is not None
        assert db.migrate_.status().up_to_date

        model, lines, expected_step = EVOLUTIONS[name]
        text = schema_file.read_text()
        opening = f"model {model} {{\n"
        assert opening in text
        schema_file.write_text(text.replace(opening, opening + lines, 1))
        change = db.migrate_.dev("next")
        assert change.migration is not None
        assert expected_step in change.script

        # The database now holds exactly what the schema calls for.
        target = calculate(load_schema_file(schema_file), SqliteDdl())
        assert introspect(db).table(target.tables[0].name) == target.tables[0]
        assert db.migrate_.dev("nothing").migration is None


def test_render_manager_evolution_keeps_jobs(tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.prisma"
    shutil.copyfile(SCHEMAS / "render_manager.prisma", schema_file)
    with strata.connect(tmp_path / "app.db", schema=schema_file) as db:
        db.migrate_.dev("init")
        db.execute_raw_(
            'INSERT INTO "User" ("id", "email", "macUsernames", "updatedAt") VALUES (?, ?, ?, ?)',
            "u1",
            "a@x.io",
            '["alice"]',
            "2026-11-22 00:00:00",
        )
        db.execute_many_raw_(
            'INSERT INTO "Job" ("id", "userId", "projectPath", "source", "macUsername", '
            '"fileTimestamp", "nexrenderConfig", "priority") VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            [
                (f"j{n}", "u1", f"/p/{n}.aep", "bravo", "alice", "2026-11-22", "{}", n % 3)
                for n in range(500)
            ],
        )
        model, lines, _ = EVOLUTIONS["render_manager"]
        text = schema_file.read_text()
        schema_file.write_text(text.replace(f"model {model} {{\n", f"model {model} {{\n" + lines))
        db.migrate_.dev("retries")
        rows = db.query_raw_('SELECT count(*) AS n, sum("retryLimit") AS a FROM "Job"')
        assert rows == [{"n": 500, "a": 1500}]
