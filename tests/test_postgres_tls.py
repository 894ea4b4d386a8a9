"""TLS to PostgreSQL: each ``sslmode`` against a real server with TLS on.

A second throwaway server (tests/postgres.py) runs with a certificate for ``127.0.0.1`` and
``db.example`` signed by a test CA that ``openssl`` makes here; ``localhost`` reaches the
same server under a name the certificate does not carry. Everything stays on the loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres import PostgresServer, server_or_skip
from strata.engine import Engine
from strata.errors import OpenError

ENCRYPTED = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def _openssl(folder: Path, *args: str) -> None:
    done = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


def _make_ca(folder: Path, name: str) -> None:
    _openssl(
        folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=strata test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``ca.pem`` (the server's CA), ``other-ca.pem`` (a CA that signed
    nothing here) and the server's ``server.pem`` / ``server.key``."""
    if shutil.which("openssl") is None:
        reason = "the openssl command (Debian's openssl package) makes the test certificates"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}, but it is not installed", pytrace=False)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("tls")
    _make_ca(folder, "ca")
    _make_ca(folder, "other-ca")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:db.example\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        folder, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=db.example",
    )  # fmt: skip
    _openssl(
        folder, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    )  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def tls_server(certificates: Path) -> Iterator[PostgresServer]:
    yield from server_or_skip((certificates / "server.pem", certificates / "server.key"))


def _url(server: PostgresServer, host: str = "127.0.0.1", **parameters: str | Path) -> str:
    query = "&".join(f"{key}={value}" for key, value in parameters.items())
    return f"postgresql://postgres@{host}:{server.port}/postgres?{query}"


def _encrypted(url: str) -> bool:
    engine = Engine(url, readers=1)
    try:
        return bool(engine.query_raw_(ENCRYPTED, as_tuples=True)[0][0])
    finally:
        engine.close_()


def test_require_encrypts_without_checking_the_certificate(tls_server: PostgresServer) -> None:
    assert _encrypted(_url(tls_server, sslmode="require"))
    # No CA given, and the system's roots do not know the test CA: require does not care.
    assert _encrypted(_url(tls_server, "localhost", sslmode="require"))


def test_disable_is_plain_and_prefer_takes_tls_when_offered(
    tls_server: PostgresServer, pg_server: PostgresServer
) -> None:
    assert not _encrypted(_url(tls_server, sslmode="disable"))
    assert _encrypted(_url(tls_server, sslmode="prefer"))
    assert _encrypted(_url(tls_server))  # prefer is the default
    # A server without TLS: prefer falls back to plain, require refuses.
    assert not _encrypted(_url(pg_server, sslmode="prefer"))
    with pytest.raises(OpenError, match="the server does not support TLS, and sslmode=require"):
        Engine(_url(pg_server, sslmode="require"))


def test_verify_full_with_the_ca_connects(tls_server: PostgresServer, certificates: Path) -> None:
    ca = certificates / "ca.pem"
    assert _encrypted(_url(tls_server, sslmode="verify-full", sslrootcert=ca))
    # Prisma's spelling of the same check.
    assert _encrypted(_url(tls_server, sslmode="require", sslaccept="strict", sslrootcert=ca))


def test_verify_full_refuses_a_certificate_for_another_host(
    tls_server: PostgresServer, certificates: Path
) -> None:
    ca = certificates / "ca.pem"
    url = _url(tls_server, "localhost", sslmode="verify-full", sslrootcert=ca)
    with pytest.raises(OpenError, match='not valid for host "localhost"') as caught:
        Engine(url)
    assert "verify-ca does not" in str(caught.value)
    # verify-ca checks the chain only, so the same connection passes there.
    assert _encrypted(_url(tls_server, "localhost", sslmode="verify-ca", sslrootcert=ca))


@pytest.mark.parametrize(
    "parameters",
    [
        {"sslmode": "verify-ca", "sslrootcert": "other-ca.pem"},
        {"sslmode": "verify-full", "sslrootcert": "other-ca.pem"},
        # libpq: require given a CA file checks the chain, as verify-ca does.
        {"sslmode": "require", "sslrootcert": "other-ca.pem"},
    ],
)
def test_a_wrong_ca_is_refused(
    tls_server: PostgresServer, certificates: Path, parameters: dict[str, str]
) -> None:
    root = certificates / parameters["sslrootcert"]
    url = _url(tls_server, sslmode=parameters["sslmode"], sslrootcert=root)
    with pytest.raises(OpenError, match="not signed by a trusted certificate authority") as caught:
        Engine(url)
    assert f"sslrootcert={root}" in str(caught.value)


def test_strict_without_a_ca_checks_against_the_systems_roots(tls_server: PostgresServer) -> None:
    with pytest.raises(OpenError, match="trusted: the system's trusted roots"):
        Engine(_url(tls_server, sslmode="require", sslaccept="strict"))


def test_a_ca_file_without_certificates_is_named(
    tls_server: PostgresServer, certificates: Path
) -> None:
    empty = certificates / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(OpenError, match="holds no usable CA certificate"):
        Engine(_url(tls_server, sslmode="verify-ca", sslrootcert=empty))
