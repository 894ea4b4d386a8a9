"""Database URLs and the project's default location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import strata
from strata.config import resolve


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///relative.db", "{base}/relative.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("file:./dev.db", "{base}/dev.db"),
        ("file:dev.db", "{base}/dev.db"),
        ("file:/abs/dev.db", "/abs/dev.db"),
        ("./bare.db", "{base}/bare.db"),
        ("nested/dir/x.db", "{base}/nested/dir/x.db"),
        ("/abs/bare.db", "/abs/bare.db"),
        ("file:./with%20space.db", "{base}/with space.db"),
        (":memory:", ":memory:"),
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_url_forms(tmp_path: Path, url: str, expected: str) -> None:
    assert resolve(url, tmp_path).path == expected.format(base=tmp_path)


def test_prisma_query_parameters_map_to_engine_options(tmp_path: Path) -> None:
    target = resolve("file:./dev.db?connection_limit=2&socket_timeout=10", tmp_path)
    assert (target.readers, target.busy_timeout) == (2, 10.0)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/x", "unsupported URL scheme 'mysql'"),
        ("postgresql://localhost/x?sslmode=allow", "sslmode='allow' is not one of disable"),
        ("postgresql://localhost/x?sslcert=c.pem", "client certificates are not supported"),
        ("file:./x.db?cache=shared", "unknown URL parameter 'cache'"),
        ("file:./x.db?socket_timeout=soon", "socket_timeout='soon' is not a non-negative number"),
        ("file:./x.db?connection_limit=-1", "is not a non-negative number"),
        ("sqlite:///", "names no database file"),
    ],
)
def test_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(strata.ConfigurationError, match=message):
        resolve(url)


def test_default_comes_from_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "file:./from-env.db")
    with strata.connect() as db:
        assert db.path_ == str(tmp_path / "from-env.db")
        assert db.url_ == "file:./from-env.db"


def test_default_comes_from_pyproject_relative_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.strata]\nurl = "file:./data/app.db"\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "src").mkdir()
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path / "src")
    with strata.connect() as db:
        assert db.path_ == str(tmp_path / "data" / "app.db")


def test_no_default_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(strata.ConfigurationError, match="set DATABASE_URL"):
        strata.connect()


def test_explicit_options_override_the_url(tmp_path: Path) -> None:
    url = f"file:{tmp_path}/x.db?socket_timeout=9&connection_limit=3"
    with strata.connect(url, busy_timeout=1.5, readers=1) as db:
        assert db.settings_()["busy_timeout"] == 1.5
        assert db.settings_()["readers"] == 1


def test_pathlike_is_accepted(tmp_path: Path) -> None:
    with strata.connect(tmp_path / "p.db") as db:
        assert os.path.exists(db.path_)
