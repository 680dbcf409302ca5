"""Transport, retries and error mapping, once for the sync and once for the async client."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tuning_sdk.errors import APIConnectionError, APIError, APITimeoutError, RateLimitError, error_for_status

DEFAULT_BASE_URL = "http://localhost:8000"
RETRYABLE_STATUS = {408, 429}
MISSING_KEY_CODE = "missing_api_key"
API_KEY_HINT = "set TUNING_API_KEY, or pass api_key= to the client (--api-key to the CLI)"
MAX_BACKOFF = 30.0
T = TypeVar("T")


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter; the server's Retry-After wins when it gives one."""
    if retry_after is not None:
        return min(retry_after, MAX_BACKOFF * 2)
    return min(MAX_BACKOFF, 0.5 * 2**attempt) * (0.5 + random.random() / 2)


def raise_for_response(response: httpx.Response) -> None:
    """Map an error answer to the exception tree, with the envelope's message, code and param."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error", {}) if isinstance(body, dict) else {}
    message = error.get("message") or response.reason_phrase or "request failed"
    if error.get("code") == MISSING_KEY_CODE:
        message = f"{message}; no API key is configured: {API_KEY_HINT}"
    cls = error_for_status(response.status_code)
    kwargs: dict[str, Any] = {
        "status_code": response.status_code,
        "code": error.get("code"),
        "param": error.get("param"),
        "request_id": response.headers.get("x-request-id"),
        "body": body,
    }
    if cls is RateLimitError:
        raise RateLimitError(message, retry_after=_retry_after(response), **kwargs)
    raise cls(message, **kwargs)


class _Settings:
    def __init__(self, api_key: str | None, base_url: str | None, timeout: float, max_retries: int) -> None:
        self.api_key = api_key or os.environ.get("TUNING_API_KEY")
        self.base_url = (base_url or os.environ.get("TUNING_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": "tuning-sdk/0.1.0"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def _should_retry(exc: Exception) -> bool:
    if isinstance(exc, APIConnectionError):
        return True
    return isinstance(exc, APIError) and (exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500)


def _connection_error(exc: httpx.HTTPError) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"the server did not answer in time: {exc}")
    return APIConnectionError(f"cannot reach the server: {exc}")


def _sdk_error(exc: Exception) -> Exception:
    return _connection_error(exc) if isinstance(exc, httpx.HTTPError) else exc


def _retry_delay(error: Exception, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before the next attempt, or None when the error is final."""
    if attempt >= max_retries or not _should_retry(error):
        return None
    return backoff_seconds(attempt, getattr(error, "retry_after", None))


def _headers(kwargs: dict[str, Any], idempotent: bool) -> dict[str, str]:
    """The call's headers; a create gets one Idempotency-Key that every retry repeats."""
    headers = dict(kwargs.pop("headers", {}) or {})
    if idempotent:
        headers.setdefault("Idempotency-Key", f"sdk-{uuid.uuid4()}")
    return headers


def _answer(response: httpx.Response, raw_response: bool) -> Any:
    if raw_response:
        return response
    return response.json() if response.content else None


class SyncTransport:
    def __init__(self, settings: _Settings, http_client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.http = http_client or httpx.Client(
            base_url=settings.base_url, timeout=settings.timeout, headers=settings.headers()
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        cast: Callable[[Any], T] = lambda data: data,
        idempotent: bool = False,
        raw_response: bool = False,
        **kwargs: Any,
    ) -> T:
        """Send; retry connection errors, timeouts, 408, 429 and 5xx; a create keeps one Idempotency-Key.
        `cast` reads the JSON answer, or the response itself with `raw_response` (file contents)."""
        headers = _headers(kwargs, idempotent)
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
                raise_for_response(response)
                return cast(_answer(response, raw_response))
            except (httpx.HTTPError, APIError) as exc:
                error = _sdk_error(exc)
                delay = _retry_delay(error, attempt, self.settings.max_retries)
                if delay is None:
                    if error is exc:
                        raise
                    raise error from exc
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self.http.close()


class AsyncTransport:
    def __init__(self, settings: _Settings, http_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http_client or httpx.AsyncClient(
            base_url=settings.base_url, timeout=settings.timeout, headers=settings.headers()
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        cast: Callable[[Any], T] = lambda data: data,
        idempotent: bool = False,
        raw_response: bool = False,
        **kwargs: Any,
    ) -> T:
        headers = _headers(kwargs, idempotent)
        attempt = 0
        while True:
            try:
                response = await self.http.request(method, path, headers=headers, **kwargs)
                raise_for_response(response)
                return cast(_answer(response, raw_response))
            except (httpx.HTTPError, APIError) as exc:
                error = _sdk_error(exc)
                delay = _retry_delay(error, attempt, self.settings.max_retries)
                if delay is None:
                    if error is exc:
                        raise
                    raise error from exc
            await asyncio.sleep(delay)
            attempt += 1

    async def close(self) -> None:
        await self.http.aclose()
