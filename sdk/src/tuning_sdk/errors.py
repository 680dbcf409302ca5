"""The SDK's exception tree, mapped from HTTP status and the server's error envelope."""

from __future__ import annotations

from typing import Any


class TuningError(Exception):
    """Base of every SDK error."""


class APIError(TuningError):
    """The server answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{message} (status {status_code}{f', request {request_id}' if request_id else ''})")
        self.message = message
        self.status_code = status_code
        self.code = code
        self.param = param
        self.request_id = request_id
        self.body = body


class InvalidRequestError(APIError):
    """400, 413 or 422: the request cannot be served as sent; `param` names the culprit."""


class AuthenticationError(APIError):
    """401: missing, invalid or revoked key."""


class PermissionDeniedError(APIError):
    """403: the key's role does not allow this."""


class NotFoundError(APIError):
    """404: no such resource (or it belongs to someone else)."""


class ConflictError(APIError):
    """409: conflicts with the current state."""


class RateLimitError(APIError):
    """429: too many requests; `retry_after` seconds until the next may pass."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIError):
    """5xx."""


class APIConnectionError(TuningError):
    """The server could not be reached."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


def error_for_status(status_code: int) -> type[APIError]:
    if status_code in (400, 413, 422):
        return InvalidRequestError
    if status_code >= 500:
        return InternalServerError
    return {
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        429: RateLimitError,
    }.get(status_code, APIError)
