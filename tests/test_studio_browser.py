"""The studio in a real browser: headless Chromium through Selenium and Debian's chromedriver
(tests/browser.py), on the demo's database, served by the real ``strata studio`` command.

The test pages through the jobs, filters them by status, edits a job's priority, and
watches the render queue's dashboard change while another process claims jobs. Each step
leaves a screenshot in the test's folder; ``STRATA_STUDIO_SCREENSHOT=docs/studio.png``
also copies the dashboard's there (the README's picture). The page must log no console
error along the way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import browser
import strata
from strata.demo import SCHEMA_FILES

pytestmark = pytest.mark.slow

CHECKS = "that the studio works in a browser"
#: Jobs put back in the render queue after the demo, for the other process to claim.
REQUEUED = 60
CLAIMED = 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database after a short run, with some jobs queued again."""
    folder = tmp_path_factory.mktemp("studio-demo")
    strata_command = str(Path(sys.executable).with_name("strata"))
    finished = subprocess.run(
        [strata_command, "demo", "--jobs", "500"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "strata studio strata-demo.db --config strata-demo.studio.toml" in finished.stdout
    with strata.connect(folder / "strata-demo.db", schema=SCHEMA_FILES["sqlite"]) as db:
        done = db.job.find_many({"status": "COMPLETED"}, order_by={"id": "asc"}, take=REQUEUED)
        db.job.update_many(
            {"id": {"in": [job.id for job in done]}},
            data={"status": "QUEUED", "completedAt": None},
        )
    return folder


@pytest.fixture(scope="module")
def studio(demo: Path) -> Iterator[str]:
    """``strata studio`` as the demo says to open it, in a process of its own."""
    port = _free_port()
    command = str(Path(sys.executable).with_name("strata"))
    server = subprocess.Popen(
        [
            command,
            "studio",
            "strata-demo.db",
            "--config",
            "strata-demo.studio.toml",
            "--port",
            str(port),
        ],
        cwd=demo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert server.stdout is not None
    first = server.stdout.readline()
    assert f"http://127.0.0.1:{port}/" in first, first + server.stdout.read()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the studio did not start listening"
            time.sleep(0.1)
    yield url
    os.killpg(server.pid, signal.SIGINT)
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    chrome = browser.chrome(CHECKS)
    yield chrome
    chrome.quit()


def _console_errors(driver: Any) -> list[str]:
    """The console's errors since the last call (reading the log empties it)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait(driver: Any, condition: Any, timeout: float = 20) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page redraws what it shows as it refreshes, so an element may go stale between
    # finding it and reading it: the condition is then asked again.
    return WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    ).until(condition)


def _cells(driver: Any, field: str) -> list[str]:
    """The column ``field`` of the rows shown, read in one go (the table may be redrawn)."""
    cells: list[str] = driver.execute_script(
        """
        const headers = [...document.querySelectorAll("#rows th")].map((th) => th.dataset.field);
        const index = headers.indexOf(arguments[0]);
        return [...document.querySelectorAll("#rows tbody tr")].map(
            (row) => row.children[index].textContent);
        """,
        field,
    )
    return cells


def test_browse_filter_edit_and_watch_the_demo(
    demo: Path, studio: str, driver: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    def shot(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        driver.save_screenshot(str(path))
        return path

    # The models, with their counts.
    driver.get(studio + "/")
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, '[data-count="Job"]').text == "500")
    shot("models")

    # Paging through the jobs: each page new rows, and back again to the first.
    driver.get(studio + "/models/Job")
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 50)
    first = _cells(driver, "id")
    driver.find_element(By.ID, "next").click()
    _wait(driver, lambda d: _cells(d, "id")[0] != first[0])
    second = _cells(driver, "id")
    assert not set(first) & set(second)
    driver.find_element(By.ID, "previous").click()
    _wait(driver, lambda d: _cells(d, "id") == first)
    assert driver.find_element(By.ID, "previous").get_attribute("disabled") is not None
    # Relation columns link to the related row; Json is shown pretty-printed.
    link = driver.find_element(By.CSS_SELECTOR, '#rows a[data-relation="user"]')
    assert "/models/User?where=" in link.get_attribute("href")
    assert "\n" in driver.find_element(By.CSS_SELECTOR, "#rows pre").text
    shot("jobs")

    # Filtering by status.
    driver.find_element(By.ID, "add-filter").click()
    Select(driver.find_element(By.CSS_SELECTOR, ".filter-field")).select_by_value("status")
    Select(driver.find_element(By.CSS_SELECTOR, ".filter-operator")).select_by_value("equals")
    driver.find_element(By.CSS_SELECTOR, ".filter-value").send_keys("QUEUED")
    driver.find_element(By.ID, "apply-filters").click()
    _wait(driver, lambda d: set(_cells(d, "status")) == {"QUEUED"})
    assert "where=" in driver.current_url
    shot("filtered")

    # Editing a job's priority through the dialog.
    row = driver.find_element(By.CSS_SELECTOR, "#rows tbody tr")
    job_id = row.find_element(By.TAG_NAME, "td").text
    row.click()
    priority = driver.find_element(By.ID, "field-priority")
    priority.clear()
    priority.send_keys("77")
    shot("editing")
    driver.find_element(By.ID, "save").click()
    _wait(driver, lambda d: not d.find_element(By.ID, "editor").is_displayed())
    with strata.connect(demo / "strata-demo.db", schema=SCHEMA_FILES["sqlite"]) as db:
        assert db.job.find_unique({"id": job_id}).priority == 77
    assert _console_errors(driver) == []
    # A refused edit shows its error next to the field, and writes nothing; the browser
    # logs the API's 400 answer, and nothing else.
    driver.find_element(By.CSS_SELECTOR, "#rows tbody tr").click()
    field = driver.find_element(By.ID, "field-fileTimestamp")
    field.clear()
    field.send_keys("not a time")
    driver.find_element(By.ID, "save").click()
    error = driver.find_element(By.CSS_SELECTOR, '[data-error-for="fileTimestamp"]')
    _wait(driver, lambda d: "ISO 8601" in error.text)
    shot("refused")
    driver.find_element(By.ID, "cancel-edit").click()
    (refused,) = _console_errors(driver)
    assert "/api/models/Job/rows" in refused
    assert "400 (Bad Request)" in refused

    # The render queue's dashboard follows claims made in another process.
    driver.get(studio + "/watch")
    claimed_tile = '[data-queue="render"] [data-state="claimed"] .value'
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, claimed_tile).text == "0")
    ready_tile = '[data-queue="render"] [data-state="ready"] .value'
    assert driver.find_element(By.CSS_SELECTOR, ready_tile).text == str(REQUEUED)
    claimer = subprocess.run(
        [sys.executable, "-c", _CLAIM, str(demo / "strata-demo.db"), str(SCHEMA_FILES["sqlite"])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert claimer.returncode == 0, claimer.stderr
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, claimed_tile).text == str(CLAIMED))
    assert driver.find_element(By.CSS_SELECTOR, ready_tile).text == str(REQUEUED - CLAIMED)
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-metric] svg polyline"))
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-limiter] tbody tr"))
    # Releasing one from the page puts it back in the ready state.
    driver.find_element(By.CSS_SELECTOR, '[data-queue="render"] [data-action="release"]').click()
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, claimed_tile).text == str(CLAIMED - 1))
    picture = shot("watch")
    wanted = os.environ.get("STRATA_STUDIO_SCREENSHOT")
    if wanted:
        driver.get(studio + "/models/Job")
        _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 50)
        driver.get(studio + "/watch")
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-metric] svg polyline"))
        picture = shot("readme")
        shutil.copyfile(picture, wanted)

    # The SQL box.
    driver.get(studio + "/query")
    sql = driver.find_element(By.ID, "sql")
    sql.clear()
    sql.send_keys('SELECT status, count(*) AS jobs FROM "Job" GROUP BY status ORDER BY status')
    driver.find_element(By.ID, "run-query").click()
    _wait(driver, lambda d: "RENDERING" in d.find_element(By.ID, "query-result").text)
    shot("query")
    assert _console_errors(driver) == []


# Claims jobs from the render queue in a process of its own, holding their leases.
_CLAIM = f"""
import sys, strata
from strata.demo import QUEUES
with strata.connect(sys.argv[1], schema=sys.argv[2]) as db:
    queue = db.queue_("Job", **{{**QUEUES["render"], "lease": 600}})
    assert len(queue.claim("other-process", limit={CLAIMED})) == {CLAIMED}
"""
