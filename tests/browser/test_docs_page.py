"""/docs and /redoc in a real browser: they render the API and fetch nothing from another host."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.server import live_server

pytestmark = pytest.mark.slow


def open_page(chromium, url: str):
    """A fresh page that records every host the browser really contacted.

    A request the page's Content-Security-Policy blocked never leaves the browser
    (Playwright reports it failed with "csp"); every other one, answered or failed, counts.
    """
    page = chromium.new_page()
    hosts: list[str] = []

    def record(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("data", "blob"):  # inline, nothing fetched
            hosts.append(parts.hostname or url)

    page.on("response", lambda response: record(response.url))
    page.on("requestfailed", lambda request: request.failure != "csp" and record(request.url))
    page.goto(url, wait_until="networkidle")
    return page, hosts


def test_swagger_ui_and_redoc_render_offline(chromium, database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path) as base:
        page, hosts = open_page(chromium, f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        operations = page.locator(".opblock").count()
        assert operations > 50, f"Swagger UI shows {operations} operations"
        assert page.locator("button.authorize").count() == 1, "the Authorize button for the API key"
        page.locator("#operations-projects-list_projects .opblock-summary").click()
        page.wait_for_selector("#operations-projects-list_projects .try-out", timeout=10_000)
        page.close()

        redoc, redoc_hosts = open_page(chromium, f"{base}/redoc")
        redoc.wait_for_selector("h1", timeout=20_000)
        assert "Tuning Service" in redoc.locator("h1").first.inner_text()
        redoc.close()

    outside = {host for host in hosts + redoc_hosts if host not in ("127.0.0.1", "localhost")}
    assert not outside, f"the docs asked other hosts: {outside}"
