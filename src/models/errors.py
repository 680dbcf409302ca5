"""The error envelope and the domain errors that render into it.

Services raise these; one handler in `app/errors.py` turns each into
`{"error": {"type", "message", "code", "param"}}` with the error's status.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "conflict_error",
    "rate_limit_error",
    "server_error",
]


class ErrorBody(BaseModel):
    type: ErrorType
    message: str
    code: str | None = None
    param: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "error": {
                        "type": "not_found_error",
                        "message": "project 'demo' not found",
                        "code": "not_found",
                        "param": "name",
                    }
                }
            ]
        }
    }


class AppError(Exception):
    """A failure the client can act on; never a 500."""

    status_code: ClassVar[int] = 400
    error_type: ClassVar[ErrorType] = "invalid_request_error"
    default_code: ClassVar[str] = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param

    def to_envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(
            error=ErrorBody(type=self.error_type, message=self.message, code=self.code, param=self.param)
        )


class Invalid(AppError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class Unauthenticated(AppError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class Forbidden(AppError):
    status_code = 403
    error_type = "permission_error"
    default_code = "forbidden"


class NotFound(AppError):
    status_code = 404
    error_type = "not_found_error"
    default_code = "not_found"


class Gone(AppError):
    """410: the thing existed and has ended (a finished Tinker session: the SDK stops beating on 410)."""

    status_code = 410
    error_type = "invalid_request_error"
    default_code = "gone"


class Conflict(AppError):
    status_code = 409
    error_type = "conflict_error"
    default_code = "conflict"


class TooLarge(AppError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "too_large"


class RateLimited(AppError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limited"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(AppError):
    status_code = 503
    error_type = "server_error"
    default_code = "unavailable"


_DESCRIPTIONS = {
    400: "Invalid request",
    401: "Missing, invalid or revoked API key",
    403: "The key's role does not allow this",
    404: "Not found (or owned by someone else)",
    409: "Conflicts with the current state",
    410: "Gone: ended and cannot be used again",
    413: "Too large",
    422: "The request does not match the schema",
    429: "Too many requests",
    503: "A dependency is unavailable",
}


def error_responses(*status_codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries for the given error statuses, all with the envelope."""
    return {code: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[code]} for code in status_codes}
