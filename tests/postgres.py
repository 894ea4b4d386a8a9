"""A throwaway PostgreSQL server for the tests: one per test session, a database per test.

The server is Debian's PostgreSQL (``make system-deps`` installs it), started from its own
binaries in a temporary folder: ``initdb`` with trust authentication, ``pg_ctl start`` on a
free port of 127.0.0.1 with its socket in that folder, and durability off (``fsync``,
``synchronous_commit``, ``full_page_writes``), which a server thrown away at the end does not
need. ``initdb`` refuses to run as root, and CI runs as root, so there the server runs as the
``postgres`` user. It listens on the loopback only. Given a certificate and key, it has TLS
on (tests/test_postgres_tls.py).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from strata.engine import Engine

__all__ = ["PostgresServer", "find_bindir", "server_or_skip"]

SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: ``pg_config --bindir`` when that has
    them, else Debian's ``/usr/lib/postgresql/<version>/bin`` (the ``postgresql`` package
    puts them there, off the PATH), else wherever the PATH finds ``initdb``."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(v) for v in versions), key=_version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _version(bindir: Path) -> int:
    match = re.search(r"/(\d+)/bin$", str(bindir))
    return int(match.group(1)) if match else 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A running throwaway server. ``url(db)`` is the URL of one of its databases;
    ``create_database()`` makes a fresh one from ``template0`` and ``drop_database()``
    removes it, whoever is still connected."""

    def __init__(self, bindir: Path, certificate: tuple[Path, Path] | None = None) -> None:
        """``certificate``, a (certificate, key) pair of PEM files, turns TLS on."""
        self.bindir = bindir
        self.certificate = certificate
        self.folder = Path(tempfile.mkdtemp(prefix="strata-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = 0
        self._as_root = os.geteuid() == 0
        self._admin: Engine | None = None
        self._count = 0
        self._options = ""

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        if self._as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        made = self._run(
            "initdb", "-D", str(self.data), "-U", SERVER_USER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        tls = self._install_certificate() if self.certificate else ""
        # Another process may take the probed port before the server does: try again then.
        for _ in range(3):
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" + tls
            )
            self._options = options
            started = self._pg_ctl_start()
            if started.returncode == 0:
                self._admin = Engine(self.url("postgres"), readers=2)
                return
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed:\n{started.stderr}\n{log[-2000:]}")

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        return self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", self._options, "start",
        )  # fmt: skip

    def halt(self) -> None:
        """Stop the server at once, as a crash would (``-m immediate``), keeping its data, so
        that `resume` starts it again on the same port. Connections open to it break."""
        if self._admin is not None:
            self._admin.close_()
            self._admin = None
        self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "immediate")

    def resume(self) -> None:
        """Start the server `halt` stopped, on the same port."""
        started = self._pg_ctl_start()
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{started.stderr}")
        self._admin = Engine(self.url("postgres"), readers=2)

    def _install_certificate(self) -> str:
        """Copy the certificate and key into the server's folder, owned by the server's user
        (PostgreSQL refuses a key that others can read), and return the options that use
        them."""
        assert self.certificate is not None
        options = " -c ssl=on"
        settings = ("ssl_cert_file", "ssl_key_file")
        for source, setting in zip(self.certificate, settings, strict=True):
            copy = self.folder / f"server-{setting}.pem"
            shutil.copyfile(source, copy)
            copy.chmod(0o600)
            if self._as_root:
                account = pwd.getpwnam(SERVER_USER)
                os.chown(copy, account.pw_uid, account.pw_gid)
            options += f" -c {setting}={copy}"
        return options

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close_()
            self._admin = None
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str, **parameters: str) -> str:
        query = "&".join(f"{key}={value}" for key, value in parameters.items())
        base = f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"
        return f"{base}?{query}" if query else base

    def admin(self) -> Engine:
        if self._admin is None:
            raise RuntimeError("the server is not running")
        return self._admin

    def create_database(self, hint: str = "test") -> str:
        self._count += 1
        name = f"t{self._count}_" + re.sub(r"[^a-z0-9_]", "_", hint.lower())
        name = name[:63]
        self.admin().execute_raw_(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        self.admin().execute_raw_(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_or_skip(certificate: tuple[Path, Path] | None = None) -> Iterator[PostgresServer]:
    """Start a server (with TLS when given a certificate and key), or skip (for one stated
    reason) where PostgreSQL is not installed. CI must run these tests, so there a missing
    server fails instead."""
    bindir = find_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed; "
            "`make system-deps` installs Debian's postgresql"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}", pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(bindir, certificate)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def fresh_database(server: PostgresServer, hint: str) -> Iterator[str]:
    """A new database's URL for one test, dropped afterwards."""
    name = server.create_database(hint)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)
