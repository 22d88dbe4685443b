"""A headless Chromium driven by Selenium, for the web pages' tests.

Uses Debian's `chromium` and `chromium-driver` (scripts/test installs them when run as
root); the tests that need it skip when either, or Selenium, is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(name="browser")
def browser_fixture() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.skip("chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, css: str, timeout: float = 30.0) -> Any:
    """The first element matching `css`, once it is displayed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def start_cli(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """`debate ARGS` from this checkout, with stderr piped (servers print their URL there)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "160"}
    return subprocess.Popen(
        [sys.executable, "-m", "debate.cli", *args],
        cwd=cwd or ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_url(process: subprocess.Popen[str], prefix: str) -> str:
    """The URL a started command prints on a stderr line beginning with `prefix`; the
    rest of stderr is then drained on a thread (a full pipe would stall the command)."""
    stream = process.stderr
    assert stream is not None
    seen = []
    for line in stream:
        seen.append(line)
        if line.startswith(prefix):
            found = re.search(r"http://[\w.\-]+:\d+/\S*", line)
            assert found, line
            threading.Thread(target=stream.read, daemon=True).start()
            return found.group(0)
    raise AssertionError("the command ended without printing its URL:\n" + "".join(seen))
