"""Run the server from Settings with a graceful shutdown."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from app.config import InsecureBindError, Settings, check_bind_is_safe, get_settings
from app.factory import create_app
from app.logging import configure_logging
from src.utils.ports import port_is_free

logger = logging.getLogger(__name__)


USAGE = """Start the Tuning Service on the address its settings give.

Every setting is an environment variable (or a line in .env), for example
TUNING_HOST (127.0.0.1), TUNING_PORT (8000), TUNING_DATABASE_URL
(sqlite:///./training.db), TUNING_DATA_DIR (./data), TUNING_API_KEYS,
TUNING_AUTH (api_key|off). README.md lists them all. Once started, the API
documentation is at http://HOST:PORT/docs.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """`--help` explains the settings; the server takes no other arguments."""
    parser = argparse.ArgumentParser(
        prog="python main.py", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return parser.parse_args(argv)


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
    host, port = settings.server.host, settings.server.port
    if not port_is_free(host, port):  # before any migration runs
        logger.error(
            "refusing to start: %s:%s is already in use (set TUNING_PORT to another port)", host, port
        )
        sys.exit(2)
    shown_host = f"[{host}]" if ":" in host else host
    logger.info(
        "starting on http://%s:%s; API documentation at http://%s:%s/docs", shown_host, port, shown_host, port
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        timeout_graceful_shutdown=settings.server.shutdown_timeout,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()
