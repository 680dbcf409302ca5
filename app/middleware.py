"""The request middleware: request id, access log, Prometheus metrics, and the last-resort 500."""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response
from app.logging import request_id_var

logger = logging.getLogger("app.access")
error_logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class HttpMetrics:
    """Request counters and latency, labelled by route template (never the raw path)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tuning_http_requests_total",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tuning_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
        )
        # labelled children by (method, route, status): `labels()` validates and locks on every call
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and record its latency."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class RequestContextMiddleware:
    """Gives every request an id, logs it, measures it, and turns a crash into a 500 envelope."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _REQUEST_ID_KEY]
                headers.append((_REQUEST_ID_KEY, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            response = error_response(
                500, message=f"internal server error (request id {request_id})", code="internal_error"
            )
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, elapsed)
            _log_access(scope, route, status, elapsed, request_id)
            request_id_var.reset(token)


def _log_access(scope: Scope, route: str, status: int, elapsed: float, request_id: str) -> None:
    """One JSON line per request, built straight into a record: the caller's file and line say nothing."""
    if not logger.isEnabledFor(logging.INFO):
        return
    record = logger.makeRecord(logger.name, logging.INFO, "", 0, "request", (), None)
    fields = record.__dict__
    fields["method"] = scope["method"]
    fields["path"] = scope["path"]
    fields["route"] = route
    fields["status"] = status
    fields["duration_ms"] = round(elapsed * 1000, 2)
    fields["request_id"] = request_id
    logger.handle(record)


def _incoming_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID when it is a sane token, else None."""
    for key, value in scope.get("headers", ()):
        if key == _REQUEST_ID_KEY:
            candidate = value.decode("latin-1")
            return candidate if _SAFE_REQUEST_ID.match(candidate) else None
    return None
