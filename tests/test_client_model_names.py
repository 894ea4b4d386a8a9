"""Every model is reachable at its snake_case name, whatever it is called: the handles'
own methods and attributes all end with an underscore (issue 12, item 4).

The schema here has one model named after each public member of `Database`, `ClientView`,
`AsyncDatabase` and the generated client, so a member added later without the underscore
makes this test fail. Names are the client's, not the database's: SQLite only."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import strata
from strata.aio import AsyncClientView, AsyncDatabase, connect_async
from strata.cli import main
from strata.client.meta import snake_case
from strata.database import ClientView


def _public_members(*classes: type) -> set[str]:
    return {name for cls in classes for name in dir(cls) if not name.startswith("_")}


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


#: One model per handle member, named so that its snake_case name is the member's name
#: without its underscore: ``transaction_`` gives a model ``Transaction``. ``Db`` stands for
#: the generated client's handle attribute, ``Owner`` lets views be scoped.
MEMBER_NAMES = sorted(
    name.removesuffix("_")
    for name in _public_members(strata.Database, ClientView, AsyncDatabase, AsyncClientView)
)
MODELS = [_camel(name) for name in MEMBER_NAMES] + ["Db"]


def _schema() -> str:
    blocks = [
        f"model {name} {{\n  id Int @id @default(autoincrement())\n  label String\n"
        f"  ownerId Int @default(0)\n}}\n"
        for name in MODELS
    ]
    return 'datasource db {\n  provider = "sqlite"\n}\n\n' + "\n".join(blocks)


@pytest.fixture
def schema_path(tmp_path: Path) -> Path:
    path = tmp_path / "schema.prisma"
    path.write_text(_schema(), encoding="utf-8")
    return path


def test_every_handle_member_ends_with_an_underscore() -> None:
    plain = {
        name
        for name in _public_members(strata.Database, ClientView, AsyncDatabase, AsyncClientView)
        if not name.endswith("_")
    }
    assert plain == set()
    assert {"transaction", "query_raw"} <= set(MEMBER_NAMES)


def test_each_model_named_after_a_method_is_its_repository(schema_path: Path) -> None:
    with strata.connect(schema_path.with_name("app.db"), schema=schema_path) as db:
        db.migrate_.push()
        for model in MODELS:
            repository = getattr(db, snake_case(model))
            created = repository.create(data={"label": model})
            assert repository.find_unique(where={"id": created.id}).label == model
        # The handle's own names still work beside the models of the same name.
        with db.transaction_():
            db.transaction.create(data={"label": "inside"})
        # Code written for the handle's method meets the model instead, and is told so.
        with pytest.raises(TypeError, match=r"model Transaction .* \(db\.transaction_\(\)\)"):
            db.transaction()
        assert db.query_raw_('SELECT count(*) AS n FROM "Transaction"') == [{"n": 2}]
        assert db.model_("Model").count() == 1


def test_views_reach_every_model_too(schema_path: Path) -> None:
    with strata.connect(schema_path.with_name("app.db"), schema=schema_path) as db:
        db.migrate_.push()
        db.scoped.create(data={"label": "mine", "ownerId": 7})
        db.scoped.create(data={"label": "theirs", "ownerId": 8})
        view = db.scoped_(ownerId=7)
        assert [row.label for row in view.scoped.find_many()] == ["mine"]
        assert view.with_deleted.count() == 0
        assert view.model_("Scoped").count() == 1


def test_the_async_handle_reaches_every_model(schema_path: Path) -> None:
    async def main() -> list[str]:
        url = schema_path.with_name("app.db")
        async with await connect_async(url, schema=schema_path) as adb:
            await adb.migrate_.push()
            labels = []
            for name in ("sync", "close", "transaction", "query_raw"):
                created = await getattr(adb, name).create(data={"label": name})
                labels.append(created.label)
            async with adb.transaction_() as tx:
                await tx.close.create(data={"label": "in a transaction"})
            assert await adb.close.count() == 2
            return labels

    assert asyncio.run(main()) == ["sync", "close", "transaction", "query_raw"]


def test_the_generated_client_reaches_every_model(schema_path: Path) -> None:
    output = schema_path.with_name("names_client.py")
    result = CliRunner().invoke(main, ["generate", "--schema", str(schema_path), "-o", str(output)])
    assert result.exit_code == 0, result.output
    sys.path.insert(0, str(output.parent))
    try:
        module = importlib.import_module("names_client")
        with strata.connect(schema_path.with_name("app.db"), schema=schema_path) as db:
            db.migrate_.push()
            client = module.Client(db)
            assert isinstance(client.transaction.create(data={"label": "t"}), module.Transaction)
            assert isinstance(client.db.create(data={"label": "d"}), module.Db)
            assert client.db_ is db
    finally:
        sys.path.remove(str(output.parent))
        sys.modules.pop("names_client", None)


def test_an_old_method_name_says_what_to_use(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(
        'datasource db {\n  provider = "sqlite"\n}\n\nmodel User {\n  id Int @id\n}\n'
    )
    with strata.connect(tmp_path / "app.db", schema=schema) as db:
        with pytest.raises(AttributeError, match="use 'transaction_'"):
            db.transaction()  # type: ignore[operator]
        with pytest.raises(AttributeError, match="no model called that"):
            _ = db.usr


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (["Close_"], "names ending with an underscore belong to the database handle"),
        (["UserRole", "User_Role"], "would both be reached as 'user_role'"),
    ],
)
def test_ambiguous_model_names_are_refused(tmp_path: Path, models: list[str], message: str) -> None:
    schema = tmp_path / "schema.prisma"
    blocks = "".join(f"model {name} {{\n  id Int @id\n}}\n" for name in models)
    schema.write_text(f'datasource db {{\n  provider = "sqlite"\n}}\n\n{blocks}')
    with (
        strata.connect(tmp_path / "app.db", schema=schema) as db,
        pytest.raises(strata.ConfigurationError, match=message),
    ):
        _ = db.client_
