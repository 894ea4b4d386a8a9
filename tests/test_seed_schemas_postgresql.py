"""The four seed systems that run on PostgreSQL in their own documents, in their own dialect.

`schema/<name>.postgresql.prisma` is the PostgreSQL form of the system whose SQLite form is
`schema/<name>.prisma`. The two describe the same models and fields, so application code
written against one runs on the other; they differ only in native types and the datasource.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from strata.cli import main
from strata.codegen import generate_module
from strata.schema import ir, load_schema, load_schema_file
from support import needs_shared, shared_folder

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"
SEEDS = shared_folder("seeds")

#: The systems whose documents run on PostgreSQL, by the stem of their SQLite form, with the
#: document. The render manager's document runs on SQLite; its PostgreSQL form is the demo's
#: (`strata demo --url`), for a farm that outgrows one host, and is checked with the others.
POSTGRESQL_SEEDS = {
    "gpu_marketplace": "gpu-marketplace-database.md",
    "medianest": "medianest-database.md",
    "music_api": "musicez-database.md",
    "video_machine": "epic-auto-video-machine-database.md",
}
POSTGRESQL_FORMS = {*POSTGRESQL_SEEDS, "render_manager"}

#: Deliberate differences between the two forms beyond native types, with their reasons.
#: Both forms declare the same models, enums, fields, defaults, relations and indexes.
DATASOURCE_DIFFERENCES = {
    "video_machine": (
        'directUrl = env("DIRECT_URL")',
        "the document's Neon database takes migrations over a direct connection while the "
        "application may go through Neon's pooler; a SQLite file has no pooler",
    ),
}


def postgresql_form(name: str) -> Path:
    return SCHEMAS / f"{name}.postgresql.prisma"


def without_native_types(schema: ir.Schema) -> ir.Schema:
    """``schema`` with every ``@db.*`` attribute dropped and the provider set to SQLite."""
    models = tuple(
        dataclasses.replace(
            model,
            fields=tuple(
                dataclasses.replace(f, native_type=None) if isinstance(f, ir.ScalarField) else f
                for f in model.fields
            ),
        )
        for model in schema.models
    )
    return dataclasses.replace(schema, provider="sqlite", models=models)


def native_types(schema: ir.Schema) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    return {
        (model.name, f.name): f.native_type
        for model in schema.models
        for f in model.scalar_fields
        if f.native_type is not None
    }


def document_block(document: str, language: str) -> str:
    """The first fenced ``language`` block of a seed document."""
    text = (SEEDS / document).read_text(encoding="utf-8")
    found = re.search(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert found, f"{document} prints no {language} block"
    return found.group(1)


def test_each_seed_that_runs_on_postgresql_has_a_postgresql_form() -> None:
    forms = sorted(
        p.name.removesuffix(".postgresql.prisma") for p in SCHEMAS.glob("*.postgresql.prisma")
    )
    assert forms == sorted(POSTGRESQL_FORMS)


@pytest.mark.parametrize("name", sorted(POSTGRESQL_FORMS))
def test_the_postgresql_form_validates_without_warnings(name: str) -> None:
    schema = load_schema_file(postgresql_form(name))
    assert schema.provider == "postgresql"
    assert schema.url == "env:DATABASE_URL"
    assert schema.warnings == ()


@pytest.mark.parametrize("name", sorted(POSTGRESQL_FORMS))
def test_the_two_forms_differ_only_in_native_types(name: str) -> None:
    postgresql = load_schema_file(postgresql_form(name))
    sqlite = load_schema_file(SCHEMAS / f"{name}.prisma")
    assert sqlite.provider == "sqlite"
    assert native_types(sqlite) == {}
    # Same models, fields, enums, defaults, relations, keys and index names.
    assert without_native_types(postgresql) == sqlite
    # So the typed client module generated from either is the same, line for line.
    assert generate_module(postgresql, "schema.prisma") == generate_module(sqlite, "schema.prisma")


@pytest.mark.parametrize("name", sorted(POSTGRESQL_SEEDS))
def test_the_datasources_differ_only_as_listed(name: str) -> None:
    datasource = re.compile(r"^datasource db \{\n(.*?)^\}", re.MULTILINE | re.DOTALL)

    def lines(path: Path) -> set[str]:
        found = datasource.search(path.read_text(encoding="utf-8"))
        assert found
        return {" ".join(line.replace("=", " = ").split()) for line in found.group(1).splitlines()}

    postgresql, sqlite = lines(postgresql_form(name)), lines(SCHEMAS / f"{name}.prisma")
    listed = {DATASOURCE_DIFFERENCES[name][0]} if name in DATASOURCE_DIFFERENCES else set()
    assert postgresql - sqlite == {'provider = "postgresql"'} | listed
    assert sqlite - postgresql == {'provider = "sqlite"'}


@needs_shared(SEEDS)
@pytest.mark.parametrize("name", ["medianest", "music_api"])
def test_a_document_that_prints_its_schema_is_followed_exactly(name: str) -> None:
    """MediaNest and musicez print their Prisma schemas: the PostgreSQL form means exactly
    what the document's schema means, native types included."""
    printed = load_schema(document_block(POSTGRESQL_SEEDS[name], "prisma"))
    assert load_schema_file(postgresql_form(name)) == printed


def test_the_gpu_marketplace_keeps_one_type_per_kind_of_value() -> None:
    """Money is NUMERIC(24, 8) everywhere, every time is timestamptz(3), and the Qubic
    identities are 60 characters: one column type per kind of value, so sums and comparisons
    across tables never mix precisions."""
    schema = load_schema_file(postgresql_form("gpu_marketplace"))
    for model in schema.models:
        for f in model.scalar_fields:
            if f.type == "Decimal":
                assert f.native_type == ("Decimal", ("24", "8")), (model.name, f.name)
            if f.type == "DateTime":
                assert f.native_type == ("Timestamptz", ("3",)), (model.name, f.name)
    qubic = {(m, f): t for (m, f), t in native_types(schema).items() if t[0] == "VarChar"}
    assert qubic == {
        ("User", "qubicAddress"): ("VarChar", ("60",)),
        ("Transaction", "qubicTxHash"): ("VarChar", ("60",)),
    }


def test_the_video_machine_keeps_nextauths_token_columns_as_text() -> None:
    schema = load_schema_file(postgresql_form("video_machine"))
    assert native_types(schema) == {
        ("Account", "refresh_token"): ("Text", ()),
        ("Account", "access_token"): ("Text", ()),
        ("Account", "id_token"): ("Text", ()),
    }


@needs_shared(SEEDS)
def test_music_api_creates_the_tables_of_the_documents_migration() -> None:
    """musicez prints its initial migration, as Prisma wrote it; the document's last statement
    inserts a first health-check row, which is data, not schema. The document's Prisma
    predates Prisma 7, which opens every PostgreSQL script with ``CREATE SCHEMA IF NOT
    EXISTS "public"`` (as ../shared/prisma-ddl shows); the rest is the same text."""
    migration = document_block("musicez-database.md", "sql")
    ddl, _, data = migration.partition("-- Insert initial health check record\n")
    assert data.startswith('INSERT INTO "system_health"')
    result = CliRunner().invoke(
        main,
        [
            "migrate",
            "diff",
            "--from-empty",
            "--to-schema",
            str(postgresql_form("music_api")),
            "--script",
        ],
    )
    assert result.exit_code == 0, result.output
    prisma_7_opening = '-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "public";\n\n'
    assert result.output.startswith(prisma_7_opening)
    assert result.output.removeprefix(prisma_7_opening).rstrip() == ddl.rstrip()
