"""Run the server from Settings with a graceful shutdown."""

from __future__ import annotations

import logging
import sys

import uvicorn

from app.config import InsecureBindError, Settings, check_bind_is_safe, get_settings
from app.factory import create_app
from app.logging import configure_logging

logger = logging.getLogger(__name__)


def serve(settings: Settings | None = None) -> None:
    """Listen on the configured host and port until SIGTERM/SIGINT.

    On a signal uvicorn stops accepting, lets requests in flight finish for up
    to `TUNING_SHUTDOWN_TIMEOUT` seconds, then runs the lifespan shutdown.
    """
    settings = settings or get_settings()
    configure_logging(level=settings.server.log_level, log_file=settings.server.log_file)
    try:
        check_bind_is_safe(settings)
    except InsecureBindError as exc:
        logger.error("refusing to start: %s", exc)
        sys.exit(2)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        timeout_graceful_shutdown=settings.server.shutdown_timeout,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()
