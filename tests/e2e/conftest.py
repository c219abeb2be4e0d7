"""The browser the e2e modules share: Debian's Chromium driven by Playwright (no browser download), one per module,
and a browser context per logged-in user that is closed after each test."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.desk_support import CHROMIUM, CHROMIUM_ARGS, new_session


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def sessions(browser, served):
    """Log users in (one browser context each); every context is closed at the end of the test."""
    opened = []

    def open_as(username: str | None = None):
        s = new_session(browser, served.base, username)
        opened.append(s)
        return s

    yield open_as
    for s in opened:
        s.close()
