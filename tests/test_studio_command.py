"""``strata studio`` itself: where its bindings come from, what it refuses before serving,
and, as a real process, the token it asks for off the loopback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

import strata
from strata.cli import main
from strata.demo import SCHEMA_FILES, write_studio_file
from strata.errors import ConfigurationError
from strata.studio.bindings import Bindings, parse_option, project_bindings, read_file


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the render manager's schema and a pushed database, as the working
    directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "schema.prisma").write_text(SCHEMA_FILES["sqlite"].read_text())
    with strata.connect(tmp_path / "farm.db", schema=tmp_path / "schema.prisma") as db:
        db.migrate_.push()
    return tmp_path


def test_bindings_come_from_pyproject_a_file_and_options(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.strata.queues.Job]\n"
        'ready = {status = "QUEUED"}\n'
        "[tool.strata.metrics.NodeMetric]\n"
        'series = "node"\ntime = "timestamp"\n'
    )
    bindings = project_bindings()
    assert bindings.queues == {"Job": {"model": "Job", "ready": {"status": "QUEUED"}}}
    studio_file = project / "studio.toml"
    write_studio_file(studio_file, SCHEMA_FILES["sqlite"])
    found = read_file(studio_file, bindings)
    assert found.schema == SCHEMA_FILES["sqlite"]
    assert found.url is None
    assert set(bindings.queues) == {"Job", "validation", "render"}
    assert bindings.queues["render"]["model"] == "Job"
    parse_option("metrics", 'NodeMetric={"series": "node", "time": "timestamp"}', bindings)
    parse_option("queues", 'render={"model": "Job", "ready": {"status": "PENDING"}}', bindings)
    assert bindings.queues["render"] == {"model": "Job", "ready": {"status": "PENDING"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("render", "takes NAME=JSON"),
        ("render={", "not valid JSON"),
        ("render=[1]", "takes NAME=JSON"),
    ],
)
def test_a_malformed_binding_option_is_named(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        parse_option("queues", text, Bindings())
    assert "--queue" in str(raised.value)


def test_a_binding_that_does_not_fit_its_model_stops_the_command(project: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["studio", "farm.db", "--queue", 'render={"model": "Job", "ready": {}}']
    )
    assert result.exit_code == 1
    assert "Error: queue 'render' on Job:" in result.output
    assert "claimed" in result.output
    result = runner.invoke(main, ["studio", "farm.db", "--metrics", 'Job={"series": "x"}'])
    assert result.exit_code == 1
    assert "Error: metrics binding 'Job' on Job: it needs 'time'" in result.output
    result = runner.invoke(
        main, ["studio", "farm.db", "--metrics", 'Oops={"series": "x", "time": "y"}']
    )
    assert result.exit_code == 1
    assert "the schema has no model 'Oops'" in result.output
    bad = project / "bad.toml"
    bad.write_text("queues = [1")
    result = runner.invoke(main, ["studio", "farm.db", "--config", str(bad)])
    assert result.exit_code == 1
    assert "not valid TOML" in result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.slow
def test_off_the_loopback_a_printed_token_guards_every_request(project: Path) -> None:
    port = _free_port()
    command = str(Path(sys.executable).with_name("strata"))
    server = subprocess.Popen(
        [command, "studio", "farm.db", "--host", "0.0.0.0", "--port", str(port), "--read-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert f"http://0.0.0.0:{port}/?token=" in line, line
        assert "(read-only)" in line
        token = line.rsplit("?token=", 1)[1].split()[0]
        assert len(token) >= 20
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        status, body = _get(base + "/api/models")
        assert status == 401
        assert json.loads(body)["error"]["type"] == "Unauthorized"
        assert _get(base + "/")[0] == 401
        assert _get(f"{base}/api/models?token={token}x")[0] == 401
        status, body = _get(f"{base}/api/models?token={token}")
        assert status == 200
        assert {"name": "Job", "count": 0} in json.loads(body)["models"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert _get(base + "/models/Job", bearer)[0] == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
