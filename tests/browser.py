"""Headless Chromium for the tests that look at a page: the demo's report (test_cli.py)
and the studio (test_studio_browser.py).

Debian's ``chromium`` and ``chromium-driver`` are installed by `make test-deps`. Where one is
missing the test is skipped, saying why, except under CI (the ``CI`` variable), where it
fails: CI must look at the pages. Selenium is always handed the system's chromedriver, so
it never downloads a driver.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

__all__ = ["chrome", "require"]


def require(program: str, checks: str) -> str:
    """The path of ``program`` (``chromium``, ``chromedriver``); without it, skip the test,
    or fail it under CI. ``checks`` says what the test would have checked."""
    found = shutil.which(program)
    if found is None:
        missing = f"{program} is not installed (make test-deps installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must check {checks}")
        pytest.skip(f"{missing}: {checks} was not checked")
    return found


def chrome(checks: str, *, width: int = 1400, height: int = 900) -> Chrome:
    """A headless Chromium driven by Selenium through the system's chromedriver, keeping
    the page's console messages (``driver.get_log("browser")``)."""
    from selenium.webdriver import Chrome, ChromeOptions
    from selenium.webdriver.chrome.service import Service

    options = ChromeOptions()
    options.binary_location = require("chromium", checks)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return Chrome(options=options, service=Service(executable_path=require("chromedriver", checks)))
