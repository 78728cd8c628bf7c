"""A real headless browser for the page tests: Debian's Chromium driven through Debian's
chromedriver (selenium). Never a downloaded browser or driver: both paths are given, and
Selenium Manager is told to stay offline."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


class NoBrowserError(RuntimeError):
    """Chromium or chromedriver is missing; the message says which and how to install it."""


def _find(variable: str, name: str, package: str) -> str:
    found = os.environ.get(variable) or shutil.which(name)
    if not found:
        raise NoBrowserError(f"{name} not found (apt-get install {package}, or set {variable})")
    return found


@contextmanager
def chromium(width: int = 1300, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session, quit on exit."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download
    options = webdriver.ChromeOptions()
    options.binary_location = _find("CHROMIUM_BIN", "chromium", "chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    service = Service(executable_path=_find("CHROMEDRIVER_BIN", "chromedriver", "chromium-driver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
