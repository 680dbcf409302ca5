"""/docs and /redoc served with Swagger UI and ReDoc files from this repository, never a CDN.

FastAPI's built-in pages load their scripts from cdn.jsdelivr.net, fonts from Google and
a favicon from fastapi.tiangolo.com, so on a GPU server without internet they stay blank.
The files under `app/static/vendor` come from the npm registry, pinned by
`frontend/package-lock.json` and refreshed with `scripts/vendor-frontend.sh`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static"
VENDOR_URL = f"{STATIC_URL}/vendor"
SWAGGER_JS = f"{VENDOR_URL}/swagger-ui-dist/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR_URL}/swagger-ui-dist/swagger-ui.css"
REDOC_JS = f"{VENDOR_URL}/redoc/bundles/redoc.standalone.js"
FAVICON = f"{VENDOR_URL}/swagger-ui-dist/favicon-32x32.png"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

# Swagger UI's default validator badge would send the schema to validator.swagger.io
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# The pages may load nothing from another host: ReDoc's bundle still links its footer logo
# on cdn.redoc.ly, and a browser on an air-gapped host would wait on it. The inline script
# and styles are FastAPI's page template and the viewers' own; ReDoc runs a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'self'"
)


def _root_path(request: Request) -> str:
    """The prefix a reverse proxy mounts the service under, as FastAPI's own docs routes read it."""
    return request.scope.get("root_path", "").rstrip("/")


def install_docs(app: FastAPI) -> None:
    """Mount `/static` and add the `/docs`, its OAuth2 redirect and `/redoc` pages (no key needed)."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url
    if not openapi_url:
        return

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + FAVICON,
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})},
        )

    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc_html(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=root + REDOC_JS,
            redoc_favicon_url=root + FAVICON,
            with_google_fonts=False,
        )

    pages = {
        DOCS_URL: swagger_ui_html,
        OAUTH2_REDIRECT_URL: swagger_ui_oauth2_redirect,
        REDOC_URL: redoc_html,
    }
    for path, page in pages.items():
        app.add_api_route(
            path, _self_contained(page), methods=["GET"], response_class=HTMLResponse, include_in_schema=False
        )


def _self_contained(page: Callable[..., Awaitable[HTMLResponse]]) -> Callable[..., Awaitable[HTMLResponse]]:
    """The page with a Content-Security-Policy that keeps the browser on this host."""

    @functools.wraps(page)
    async def answer(*args: Any, **kwargs: Any) -> HTMLResponse:
        response = await page(*args, **kwargs)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return answer
