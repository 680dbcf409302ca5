"""Headless Chromium (Debian's package) driven by Playwright, for pages a user opens.

Playwright's own browser download is never used: the servers are air-gapped and so is
CI. Without /usr/bin/chromium these tests skip, and fail under CI, which installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("TUNING_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# as the probe of these machines found: without the background-networking switches Chromium
# keeps dialling Google's hosts, which a closed network refuses
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """A browser per test module: Playwright's sync API runs an event loop in this thread
    while it is open, and `asyncio.run` in a later test would find it running."""
    if not Path(CHROMIUM).is_file():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
