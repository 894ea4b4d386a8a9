"""The command line's conventions: ``-h`` as ``--help`` everywhere, ``strata init``,
``db execute --file/--stdin``, ``migrate diff --output``, shell completion, errors as one
``Error: ...`` line without a traceback, warnings on stderr."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import strata
from strata.cli import main

SCHEMA = """
datasource db {
  provider = "sqlite"
}

model Note {
  id   Int    @id @default(autoincrement())
  body String
}
"""


@pytest.fixture(autouse=True)
def _environment() -> Iterator[None]:
    """The command line reads .env into the process's environment; each test gets its own
    environment back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, env=env, prog_name="strata")


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def assert_one_error_line(result: Result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: "), result.stderr
    assert sum(line.startswith("Error") for line in lines) == 1
    for text in expected:
        assert text in result.stderr


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "schema.prisma").write_text(SCHEMA)
    (tmp_path / "pyproject.toml").write_text('[tool.strata]\nurl = "file:./dev.db"\n')
    return tmp_path


# -- -h -------------------------------------------------------------------------------------


def test_dash_h_is_help_on_every_command() -> None:
    paths = command_paths(main)
    assert len(paths) > 15
    for path in paths:
        short, long = run(*path, "-h"), run(*path, "--help")
        assert short.exit_code == 0, (path, short.output)
        assert short.output == long.output
        assert "-h, --help" in short.output


# -- init -----------------------------------------------------------------------------------


def test_init_writes_a_schema_env_and_gitignore_that_the_cli_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = run("init", "--with-model")
    assert result.exit_code == 0, result.output
    schema = (tmp_path / "prisma" / "schema.prisma").read_text()
    assert 'provider = "sqlite"' in schema
    assert 'url      = env("DATABASE_URL")' in schema
    assert "model User {" in schema
    assert 'DATABASE_URL="file:./dev.db"' in (tmp_path / ".env").read_text()
    assert (tmp_path / ".gitignore").read_text() == ".env\n"
    # The commands read .env: the database lands beside the schema, as with Prisma.
    result = run("migrate", "dev", "--name", "init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "prisma" / "dev.db").exists()
    with strata.connect(
        tmp_path / "prisma" / "dev.db", schema=tmp_path / "prisma" / "schema.prisma"
    ) as db:
        db.user.create(data={"email": "a@x.io"})
        assert db.user.count() == 1


def test_init_for_postgresql_and_an_existing_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SECRET=1")
    (tmp_path / ".gitignore").write_text("node_modules\n.env\n")
    url = "postgresql://app@db.internal:5432/app"
    result = run("init", "--datasource-provider", "postgresql", "--url", url)
    assert result.exit_code == 0, result.output
    assert 'provider = "postgresql"' in (tmp_path / "prisma" / "schema.prisma").read_text()
    env = (tmp_path / ".env").read_text()
    assert env.startswith("SECRET=1\n")
    assert env.endswith(f'DATABASE_URL="{url}"\n')
    assert (tmp_path / ".gitignore").read_text() == "node_modules\n.env\n"  # already there


def test_init_never_overwrites_and_warns_about_an_existing_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('DATABASE_URL="file:./other.db"\n')
    result = run("init")
    assert result.exit_code == 0
    assert "warning:" in result.stderr
    assert "already sets DATABASE_URL" in result.stderr
    assert "warning" not in result.stdout
    assert (tmp_path / ".env").read_text() == 'DATABASE_URL="file:./other.db"\n'
    schema = tmp_path / "prisma" / "schema.prisma"
    schema.write_text("// mine\n")
    assert_one_error_line(run("init"), "already exists")
    assert schema.read_text() == "// mine\n"


def test_an_environment_variable_wins_over_env(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".env").write_text("DATABASE_URL=file:./from-dotenv.db # a comment\n")
    assert run("db", "push").exit_code == 0
    assert (project / "from-dotenv.db").exists()
    monkeypatch.setenv("DATABASE_URL", f"file:{project}/from-env.db")
    assert run("db", "push").exit_code == 0
    assert (project / "from-env.db").exists()


# -- db execute -----------------------------------------------------------------------------


def test_db_execute_from_a_file_or_stdin_on_a_url_or_the_schemas(project: Path) -> None:
    assert run("db", "push").exit_code == 0
    (project / "fix.sql").write_text("INSERT INTO \"Note\" (body) VALUES ('from a file');")
    result = run("db", "execute", "--file", "fix.sql")
    assert result.exit_code == 0, result.output
    result = run(
        "db",
        "execute",
        "--stdin",
        "--url",
        "file:./dev.db",
        stdin="INSERT INTO \"Note\" (body) VALUES ('from stdin');",
    )
    assert result.exit_code == 0, result.output
    result = run(
        "db",
        "execute",
        "--stdin",
        "--schema",
        "schema.prisma",
        stdin='DELETE FROM "Note" WHERE id = 1;',
    )
    assert result.exit_code == 0, result.output
    with strata.connect(project / "dev.db", schema=project / "schema.prisma") as db:
        assert [n.body for n in db.note.find_many()] == ["from stdin"]


def test_db_execute_errors(project: Path) -> None:
    assert_one_error_line(run("db", "execute", "--file", "missing.sql"), "missing.sql")
    (project / "bad.sql").write_text("INSERT INTO nowhere VALUES (1);")
    assert_one_error_line(run("db", "execute", "--file", "bad.sql"), "nowhere")
    (project / "binary.sql").write_bytes(b"\xff\xfe\x00")
    assert_one_error_line(run("db", "execute", "--file", "binary.sql"), "UTF-8")
    usage = run("db", "execute")
    assert usage.exit_code == 2
    assert "give exactly one of --file PATH and --stdin" in usage.stderr


# -- migrate diff --output -------------------------------------------------------------------


def test_migrate_diff_writes_its_output_to_a_file(project: Path) -> None:
    result = run(
        "migrate",
        "diff",
        "--from-empty",
        "--to-schema",
        "schema.prisma",
        "--script",
        "--output",
        "diff.sql",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    script = (project / "diff.sql").read_text()
    assert 'CREATE TABLE "Note"' in script
    printed = run("migrate", "diff", "--from-empty", "--to-schema", "schema.prisma", "--script")
    assert printed.stdout == script
    summary = run(
        "migrate",
        "diff",
        "--from-empty",
        "--to-schema",
        "schema.prisma",
        "-o",
        "summary.txt",
        "--exit-code",
    )
    assert summary.exit_code == 2
    assert (project / "summary.txt").read_text() == "[*] CreateTable `Note`\n"
    assert_one_error_line(
        run(
            "migrate",
            "diff",
            "--from-empty",
            "--to-schema",
            "schema.prisma",
            "-o",
            "no/such/dir/x.sql",
        ),
        "no/such/dir/x.sql",
    )


# -- errors and warnings ----------------------------------------------------------------------


def test_a_bad_path_is_one_error_line(project: Path) -> None:
    assert_one_error_line(run("validate", "--schema", "nowhere.prisma"), "nowhere.prisma")
    assert_one_error_line(run("migrate", "status", "--schema", "nowhere.prisma"), "nowhere.prisma")
    assert_one_error_line(run("generate", "-o", "no/such/dir/client.py"), "no/such/dir/client.py")


def test_a_bad_schema_is_one_error_line(project: Path) -> None:
    (project / "schema.prisma").write_text("model Note {\n  id Strin @id\n}\n")
    for command in (["validate"], ["db", "push"], ["generate"]):
        result = run(*command)
        assert_one_error_line(result, "Strin")


def test_a_bad_url_is_one_error_line(project: Path) -> None:
    assert_one_error_line(run("doctor", "mysql://db/app"), "unsupported URL scheme 'mysql'")
    assert_one_error_line(
        run("db", "execute", "--stdin", "--url", "mysql://db/app", stdin="SELECT 1"),
        "unsupported URL scheme",
    )
    assert_one_error_line(run("db", "push", env={"DATABASE_URL": "file:/no/such/dir/app.db"}))


def test_warnings_go_to_stderr(project: Path) -> None:
    (project / "schema.prisma").write_text(
        'datasource db {\n  provider = "sqlite"\n  referentialIntegrity = "prisma"\n}\n\n'
        "model Pot {\n  id Int @id\n}\n"
    )
    result = run("validate")
    assert result.exit_code == 0
    assert "warning:" in result.stderr
    assert "warning" not in result.stdout
    assert "is valid" in result.stdout


# -- shell completion --------------------------------------------------------------------------


def test_shell_completion_scripts_and_answers() -> None:
    for shell, marker in (
        ("bash", "_strata_completion"),
        ("zsh", "#compdef strata"),
        ("fish", "complete"),
    ):
        script = run(env={"_STRATA_COMPLETE": f"{shell}_source"})
        assert script.exit_code == 0
        assert marker in script.output
    answer = run(
        env={"_STRATA_COMPLETE": "bash_complete", "COMP_WORDS": "strata mig", "COMP_CWORD": "1"}
    )
    assert "plain,migrate" in answer.output.splitlines()
    answer = run(
        env={
            "_STRATA_COMPLETE": "bash_complete",
            "COMP_WORDS": "strata migrate d",
            "COMP_CWORD": "2",
        }
    )
    assert {"plain,dev", "plain,deploy", "plain,diff"} <= set(answer.output.splitlines())
