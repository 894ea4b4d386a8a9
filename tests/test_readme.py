"""The README keeps up with the code: every command is in its command table, and its
examples run as printed (the documentation site's pages are tests/test_docs.py's)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest

import strata
from strata.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def command_paths(group: click.Group, prefix: str = "strata") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, path))
        else:
            paths.append(path)
    return paths


def test_every_command_is_documented_with_an_example() -> None:
    paths = command_paths(main)
    assert len(paths) >= 12
    for path in paths:
        rows = [line for line in README.splitlines() if line.startswith(f"| `{path}`")]
        assert rows, f"{path} is missing from the README's command table"
        example = rows[0].rsplit("|", 2)[-2]
        assert f"`{path}" in example, f"{path} has no example"


def test_the_readme_client_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tour is code a reader will paste; it has to work as printed."""
    section = README.split("## The client", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "schema").mkdir()
    shutil.copyfile(
        Path(__file__).resolve().parents[1] / "schema" / "medianest.prisma",
        tmp_path / "schema" / "medianest.prisma",
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile("import strata\n" + code, "README.md", "exec"), namespace)
    db = namespace["db"]
    assert db.user.count() == 1
    db.close_()


def test_the_readme_render_worker_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = README.split("## Job queue", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 16  # the promised 15 lines, and the import
    (tmp_path / "schema").mkdir()
    shutil.copyfile(
        Path(__file__).resolve().parents[1] / "schema" / "render_manager.prisma",
        tmp_path / "schema" / "render_manager.prisma",
    )
    monkeypatch.chdir(tmp_path)
    # The worker runs against a database that the application migrated and filled.
    with strata.connect("render.db", schema="schema/render_manager.prisma") as db:
        db.migrate_.push()
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
        for priority in range(3):
            db.job.create(
                data={
                    "userId": "u1",
                    "projectPath": f"/p/{priority}.aep",
                    "source": "bravo",
                    "macUsername": "alice",
                    "fileTimestamp": datetime(2026, 11, 22, tzinfo=UTC),
                    "nexrenderConfig": {},
                    "priority": priority,
                    "status": "QUEUED",
                }
            )
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    db = namespace["db"]
    done = db.job.find_many(where={"status": "COMPLETED"})
    assert len(done) == 3
    assert all(job.progress == 100 and job.logs.count("frame") == 5 for job in done)
    db.close_()


def test_the_readme_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tour runs in an empty folder (its schema ships in the package) without DuckDB;
    the analytics lines after it run with the extra."""
    section = README.split("## A tour", 1)[1]
    tour, analytics = (block.split("```", 1)[0] for block in section.split("```python\n")[1:3])
    assert len(tour.strip().splitlines()) <= 30
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(tour, "README.md", "exec"), namespace)
    db = namespace["db"]
    assert db.job.count(where={"status": "COMPLETED"}) == 1
    assert namespace["hit"].remaining == 99
    assert "duckdb" not in tour
    exec(compile(analytics, "README.md", "exec"), namespace)
    db.close_()


def test_example_schemas_are_found_by_name_and_a_wrong_name_says_what_exists() -> None:
    assert strata.example_schema("render_manager").read_text().startswith("//")
    assert strata.example_schema("music_api", "postgresql").name == "music_api.postgresql.prisma"
    with pytest.raises(strata.ConfigurationError, match="render_manager") as caught:
        strata.example_schema("render-manager")
    assert "'sqlite' or 'postgresql'" in str(caught.value)
    with pytest.raises(strata.ConfigurationError, match="for 'mysql'"):
        strata.example_schema("render_manager", "mysql")
