"""/docs and /redoc load every asset from the service itself, so they work without internet."""

from __future__ import annotations

import base64
import hashlib
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.docs import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
VENDOR_DIR = STATIC_DIR / "vendor"
PAGES = ["/docs", "/redoc"]


class AssetLinks(HTMLParser):
    """The URLs a page makes the browser fetch: script sources and linked stylesheets/icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def asset_urls(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    return parser.urls


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("page", PAGES)
def test_page_references_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = asset_urls(response.text)
    assert any(url.endswith(".js") for url in urls), urls
    for url in urls:
        assert url.startswith("/static/vendor/") and not url.startswith("//"), url
    # no CDN, Google Fonts or fastapi.tiangolo.com favicon anywhere in the page
    assert "http://" not in response.text and "https://" not in response.text
    assert "//cdn" not in response.text


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_is_served_as_vendored(client: TestClient, page: str) -> None:
    expected_types = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for url in asset_urls(client.get(page).text):
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = Path(url).suffix
        assert expected_types[suffix] in response.headers["content-type"], (url, response.headers)
        assert response.content == (STATIC_DIR / url.removeprefix("/static/")).read_bytes(), url


def test_pages_point_at_the_local_schema_and_redirect(client: TestClient) -> None:
    swagger = client.get("/docs").text
    assert "url: '/openapi.json'" in swagger
    assert "'/docs/oauth2-redirect'" in swagger
    # the validator badge would post the schema to validator.swagger.io
    assert '"validatorUrl": null' in swagger
    assert 'spec-url="/openapi.json"' in client.get("/redoc").text
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "oauth2" in redirect.text.lower()


def test_docs_schema_and_assets_need_no_key(client: TestClient) -> None:
    assert client.get("/projects").status_code == 401
    for url in [*PAGES, "/openapi.json", "/docs/oauth2-redirect", *asset_urls(client.get("/docs").text)]:
        assert client.get(url).status_code == 200, url


def test_docs_routes_stay_out_of_the_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc", "/static"))]


def test_vendored_files_match_the_lock() -> None:
    """Every committed file hashes as the manifest says, for the version and tarball the lock pins."""
    package = read_json(ROOT / "frontend" / "package.json")
    lock = read_json(ROOT / "frontend" / "package-lock.json")
    manifest = read_json(VENDOR_DIR / "manifest.json")
    assert sorted(manifest["packages"]) == sorted(package["vendorFiles"])
    listed = {"manifest.json"}
    for name, entry in manifest["packages"].items():
        locked = lock["packages"][f"node_modules/{name}"]
        assert package["dependencies"][name] == locked["version"] == entry["version"], name
        assert entry["integrity"] == locked["integrity"], name
        algorithm, digest = locked["integrity"].split("-", 1)
        assert algorithm == "sha512" and len(base64.b64decode(digest)) == 64, name
        assert sorted(entry["files"]) == sorted(package["vendorFiles"][name]), name
        for file, sha256 in entry["files"].items():
            assert hashlib.sha256((VENDOR_DIR / name / file).read_bytes()).hexdigest() == sha256, file
            listed.add(f"{name}/{file}")
    on_disk = {path.relative_to(VENDOR_DIR).as_posix() for path in VENDOR_DIR.rglob("*") if path.is_file()}
    assert on_disk == listed
