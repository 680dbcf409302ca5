"""Exception handlers: every error leaves the server as the error envelope.

The dashboard's paths (/ui/) are pages for people: there an error is an HTML page, and a
missing login a redirect to the login page (src/features/ui/web.py).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match

from src.features.ui.web import error_page as ui_error_page
from src.features.ui.web import is_ui_path
from src.models.errors import AppError, ErrorBody, ErrorEnvelope, ErrorType, Invalid, NotFound, RateLimited

logger = logging.getLogger(__name__)

_TYPE_BY_STATUS: dict[int, ErrorType] = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


def error_response(
    status_code: int,
    *,
    message: str,
    error_type: ErrorType | None = None,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render the envelope with the type that fits the status."""
    if error_type is None:
        error_type = (
            "server_error"
            if status_code >= 500
            else _TYPE_BY_STATUS.get(status_code, "invalid_request_error")
        )
    body = ErrorEnvelope(error=ErrorBody(type=error_type, message=message, code=code, param=param))
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _describe_validation_error(error: dict) -> tuple[str, str | None]:
    """A one-line message and the offending parameter for a pydantic error."""
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
    param = ".".join(location) or None
    if error.get("type") == "extra_forbidden":
        return f"unknown field '{param}'", param
    message = error.get("msg", "invalid value")
    return (f"{param}: {message}" if param else message), param


class BodyTooLarge(StarletteHTTPException):
    """A request body grew past its cap while it was being read.

    An HTTP exception because FastAPI re-raises those from body parsing (others become a 400).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body is larger than the {limit}-byte limit")


def app_error_response(exc: AppError) -> JSONResponse:
    """The envelope of a domain error, with `WWW-Authenticate` or `Retry-After` where it needs one."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(
        exc.status_code,
        message=exc.message,
        error_type=exc.error_type,
        code=exc.code,
        param=exc.param,
        headers=headers,
    )


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if is_ui_path(request.url.path):
        return ui_error_page(request, exc)
    return app_error_response(exc)


async def _body_too_large(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return error_response(413, message=str(exc.detail), code="body_too_large")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    message, param = _describe_validation_error(errors[0]) if errors else ("invalid request", None)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    if is_ui_path(request.url.path):
        return ui_error_page(request, Invalid(message, param=param, code="validation_error"))
    return error_response(422, message=message, code="validation_error", param=param)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette lists only the first route's)."""
    routes: list[BaseRoute] = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and is_ui_path(request.url.path):
        return ui_error_page(request, NotFound("there is no such page"))
    headers = dict(exc.headers or {})
    code = None
    if exc.status_code == 404 and message == "Not Found":
        message, code = "no such route", "route_not_found"
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"method {request.method} is not allowed here; use {', '.join(allowed)}"
        code = "method_not_allowed"
    return error_response(exc.status_code, message=message, code=code, headers=headers or None)


async def _client_disconnect(request: Request, _exc: Exception) -> JSONResponse:
    logger.info("client disconnected during %s %s", request.method, request.url.path)
    return error_response(
        400,
        message="the client disconnected before the request body was complete",
        code="client_disconnected",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the envelope renderers; unexpected exceptions are handled in the middleware."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
