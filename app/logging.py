"""JSON logs, one object per line, each carrying the request id when there is one."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from contextvars import ContextVar
from pathlib import Path

from pythonjsonlogger.json import JsonEncoder, JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_HANDLER_MARK = "_tuning_handler"


# One encoder for every line: json.dumps(cls=...) would build a new encoder per record.
_ENCODER = JsonEncoder(ensure_ascii=True)


def _encode_log_data(log_data: dict[str, object], **_options: object) -> str:
    return _ENCODER.encode(log_data)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` from the current request's context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def _json_handler(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(
        JsonFormatter(
            _FORMAT,
            rename_fields={"levelname": "level", "asctime": "time"},
            json_serializer=_encode_log_data,
        )
    )
    handler.addFilter(RequestIdFilter())
    setattr(handler, _HANDLER_MARK, True)
    return handler


def configure_logging(*, level: str = "INFO", log_file: Path | None = None) -> None:
    """Send JSON logs to stdout, and to a rotating file when one is configured.

    Safe to call more than once: our handlers are replaced, not stacked.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    root.addHandler(_json_handler(logging.StreamHandler(sys.stdout)))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        root.addHandler(
            _json_handler(logging.handlers.RotatingFileHandler(log_file, maxBytes=20_000_000, backupCount=5))
        )
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Our middleware logs each request with its id; uvicorn's access log would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
