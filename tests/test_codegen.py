"""`strata generate`: a typed module that mypy checks user code against."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

import strata
from strata.cli import main

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"

USER_CODE = """
from datetime import UTC, datetime

import strata
from medianest_client import Client, User, UserRole

db = strata.connect("app.db", schema="schema.prisma")
client = Client(db)
user: User = client.user.create(data={"plexId": "p1", "plexUsername": "al", "email": "a@x.io"})
admins: list[User] = client.user.find_many(
    where={"role": UserRole.admin, "email": {"contains": "x.io", "mode": "insensitive"}},
    order_by={"createdAt": "desc"},
    take=10,
    include={"mediaRequests": {"take": 5}},
)
counted = client.user.find_many(include={"_count": True})
found = client.user.find_unique(where={"plexId": "p1"})
email: str | None = found.email if found else None
client.user.update(where={"id": user.id}, data={"plexUsername": "alice"})
"""

TYPE_ERRORS = """
from medianest_client import Client
import strata

client = Client(strata.connect("app.db", schema="schema.prisma"))
client.user.find_many(where={"emial": "a@x.io"})
client.user.find_many(where={"plexUsername": 42})
"""


def _generate(tmp_path: Path) -> Path:
    shutil.copyfile(SCHEMAS / "medianest.prisma", tmp_path / "schema.prisma")
    result = CliRunner().invoke(
        main,
        [
            "generate",
            "--schema",
            str(tmp_path / "schema.prisma"),
            "-o",
            str(tmp_path / "medianest_client.py"),
        ],
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "medianest_client.py"


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_generated_module_type_checks_user_code_quickly(tmp_path: Path) -> None:
    _generate(tmp_path)
    started = time.perf_counter()
    result = _mypy(tmp_path, USER_CODE)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stdout
    # The bound is 10 s on the 2-core machine; a cold mypy run includes pydantic.
    assert elapsed < 30, f"mypy took {elapsed:.1f} s"


def test_mypy_catches_misspelt_fields_and_wrong_types(tmp_path: Path) -> None:
    _generate(tmp_path)
    result = _mypy(tmp_path, TYPE_ERRORS)
    assert result.returncode == 1
    # One error per bad call: the misspelt key (line 6) and the int for a str (line 7).
    assert "app.py:6: error" in result.stdout
    assert "app.py:7: error" in result.stdout


def test_generated_client_returns_generated_classes(tmp_path: Path, monkeypatch: object) -> None:
    module_path = _generate(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        module = importlib.import_module("medianest_client")
        with strata.connect(tmp_path / "app.db", schema=tmp_path / "schema.prisma") as db:
            db.migrate_.push()
            client = module.Client(db)
            created = client.user.create(data={"plexId": "p1", "plexUsername": "al"})
            assert isinstance(created, module.User)
            assert created.role is module.UserRole.user
            (found,) = client.user.find_many(where={"plexId": "p1"})
            assert isinstance(found, module.User)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("medianest_client", None)
    assert module_path.exists()


def test_every_seed_schema_generates_a_module_that_type_checks(tmp_path: Path) -> None:
    from strata.codegen import write_module
    from strata.schema import load_schema_file

    # `medianest.postgresql.prisma` becomes `medianest_postgresql_db.py`: a module name.
    paths = sorted(SCHEMAS.glob("*.prisma"))
    names = [p.name.removesuffix(".prisma").replace(".", "_") for p in paths]
    for path, name in zip(paths, names, strict=True):
        write_module(load_schema_file(path), SCHEMAS, tmp_path / f"{name}_db.py")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            *(f"{n}_db.py" for n in names),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout


OMIT_CODE = """
from typing import Any

import strata
from medianest_client import Client, User

client = Client(strata.connect("app.db", schema="schema.prisma"))
row: dict[str, Any] | None = client.user.find_unique(where={"plexId": "p1"}, omit={"email": True})
rows: list[dict[str, Any]] = client.user.find_many(omit={"email": True}, take=2)
users: list[User] = client.user.create_many_and_return(data=[{"plexId": "p2", "plexUsername": "b"}])
changed: list[User] = client.user.update_many_and_return(where={}, data={"plexUsername": "c"})
ordered: list[User] = client.user.find_many(order_by={"mediaRequests": {"_count": "desc"}})
wrong: User = client.user.find_unique_or_raise(where={"plexId": "p1"}, omit={"email": True})
client.user.find_many(omit={"emial": True})
"""


def test_generated_module_types_omit_as_dicts(tmp_path: Path) -> None:
    """With ``omit`` records are dicts, at run time and in the generated types."""
    _generate(tmp_path)
    result = _mypy(tmp_path, OMIT_CODE)
    errors = [line for line in result.stdout.splitlines() if ": error" in line]
    # Only the last two lines are wrong: a dict is no User, and there is no field `emial`.
    assert [line.split(":")[1] for line in errors] == ["13", "14"], result.stdout
