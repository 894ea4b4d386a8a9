"""`strata generate`'s typed clients, sync and async: `aggregate`, `group_by`, `paginate`,
`find_first_or_raise`, nested writes, and ``select=`` records typed as what they are,
checked by ``mypy --strict`` (``reveal_type`` and expected errors) and run for real."""

from __future__ import annotations

import asyncio
import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import strata
from strata.cli import main

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"

PROGRAM = """
import strata
from medianest_client import AsyncClient, Client, User

client = Client(strata.connect("app.db", schema="schema.prisma"))
reveal_type(client.user.find_first_or_raise(where={"plexId": "p1"}))
reveal_type(client.user.paginate(2, 10))
reveal_type(client.user.aggregate(count=True)["_count"])
reveal_type(client.media_request.aggregate(min={"createdAt": True})["_min"]["createdAt"])
reveal_type(client.user.group_by(["role"])[0]["role"])
picked = client.user.find_unique_or_raise(where={"plexId": "p1"}, select={"email": True})
reveal_type(picked)
reveal_type(picked["email"])
reveal_type(client.user.find_many(omit={"email": True}))
client.user.create(
    data={
        "plexId": "p2",
        "plexUsername": "b",
        "mediaRequests": {"create": [{"title": "Dune", "mediaType": "movie"}]},
    }
)
client.media_request.create(
    data={"title": "x", "mediaType": "tv", "user": {"connect": {"plexId": "p2"}}}
)
client.user.update(where={"plexId": "p2"}, data={"mediaRequests": {"delete_many": {"title": "x"}}})


async def run() -> None:
    adb = await strata.connect_async("app.db", schema="schema.prisma")
    aclient = AsyncClient(adb)
    reveal_type(await aclient.user.find_many(where={"plexId": "p1"}))
    reveal_type(await aclient.user.count())
    reveal_type(await aclient.user.find_first(select={"plexId": True}))
    users: list[User] = await aclient.user.find_many(select={"email": True})
    await aclient.user.create(
        data={"plexId": "p3", "plexUsername": "c", "mediaRequests": {"create": {"titel": "x"}}}
    )
    client.user.group_by(["rol"])
    client.user.aggregate(avg={"plexId": True})
    client.media_request.create(data={"title": "x", "mediaType": "tv", "user": {"conect": {}}})
    await adb.close_()
"""

REVEALED = {
    6: "medianest_client.User",
    7: "strata.client.repository.Page[medianest_client.User]",
    8: "int | TypedDict(medianest_client.UserCountAggregateOutput, {",
    9: "datetime.datetime | None",
    10: "medianest_client.UserRole",
    12: "TypedDict(medianest_client.UserPartial, {",
    13: "str | None",
    14: "list[dict[str, Any]]",
    31: "list[medianest_client.User]",
    32: "int",
    33: "TypedDict(medianest_client.UserPartial, {",
}
# A select= record is no User; a misspelt nested field; a group_by field that does not
# exist; the average of a String; a misspelt nested operation.
ERRORS = {34, 35, 38, 39, 40}


def _generate(folder: Path) -> Path:
    shutil.copyfile(SCHEMAS / "medianest.prisma", folder / "schema.prisma")
    target = folder / "medianest_client.py"
    result = CliRunner().invoke(
        main, ["generate", "--schema", str(folder / "schema.prisma"), "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    return target


def test_mypy_strict_sees_the_types_of_the_sync_and_async_clients(tmp_path: Path) -> None:
    _generate(tmp_path)
    (tmp_path / "app.py").write_text(PROGRAM)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    revealed: dict[int, str] = {}
    errors: set[int] = set()
    for line in result.stdout.splitlines():
        found = re.match(r"app\.py:(\d+): (note|error): (.*)", line)
        if found is None:
            continue
        number, kind, text = int(found[1]), found[2], found[3]
        if kind == "note" and text.startswith("Revealed type is "):
            revealed[number] = text.removeprefix('Revealed type is "')
        elif kind == "error":
            errors.add(number)
    for number, expected in REVEALED.items():
        assert revealed.get(number, "").startswith(expected), (number, revealed.get(number))
    assert errors == ERRORS, result.stdout


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[ModuleType]:
    _generate(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("medianest_client")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("medianest_client", None)


def test_the_generated_clients_run(generated: ModuleType, tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    with strata.connect(tmp_path / "app.db", schema=schema) as db:
        db.migrate_.push()
        client = generated.Client(db)
        user = client.user.create(
            data={
                "plexId": "p1",
                "plexUsername": "al",
                "mediaRequests": {"create": [{"title": "Dune", "mediaType": "movie"}]},
            }
        )
        assert isinstance(user, generated.User)
        client.media_request.create(
            data={"title": "Heat", "mediaType": "movie", "user": {"connect": {"plexId": "p1"}}}
        )
        assert client.user.find_unique_or_raise(
            where={"plexId": "p1"}, select={"email": True, "plexUsername": True}
        ) == {"email": None, "plexUsername": "al"}
        found = client.user.find_first_or_raise(where={"plexId": "p1"})
        assert isinstance(found, generated.User)
        page = client.media_request.paginate(1, 1, order_by={"title": "asc"})
        assert (page.total, page.total_pages, page.items[0].title) == (2, 2, "Dune")
        assert isinstance(page.items[0], generated.MediaRequest)
        assert client.media_request.aggregate(count=True)["_count"] == 2
        groups = client.media_request.group_by(["mediaType"], count={"_all": True})
        assert groups == [{"mediaType": "movie", "_count": {"_all": 2}}]

    async def run() -> None:
        adb = await strata.connect_async(tmp_path / "app.db", schema=schema)
        try:
            aclient = generated.AsyncClient(adb)
            (record,) = await aclient.user.find_many(where={"plexId": "p1"})
            assert isinstance(record, generated.User)
            assert await aclient.media_request.count() == 2
            assert (await aclient.media_request.paginate(1, 5)).total == 2
            assert await aclient.user.find_first(select={"plexId": True}) == {"plexId": "p1"}
            created = await aclient.user.create(data={"plexId": "p2", "plexUsername": "b"})
            assert isinstance(created, generated.User)
        finally:
            await adb.close_()

    asyncio.run(run())
