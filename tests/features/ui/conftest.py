"""Fixtures for the dashboard's pages: a TestClient logged in through the login form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

# the run tests' client with the scripted trainer and a project `demo` of alice's
from tests.features.runs.conftest import runs_client, training_dir  # noqa: F401

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def log_in(client: TestClient, key: str) -> str:
    """Log the client in with `key` (the cookie stays on the client); returns the CSRF token."""
    response = client.post("/ui/login", data={"key": key, "next": "/ui/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/ui/")
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, "the page carries its CSRF token"
    return match.group(1)
