"""Run the scheduler and monitor without the HTTP server: `python -m app.worker`.

Use it with `TUNING_SCHEDULER=0` on the API service, or beside it: claiming is
atomic, so several engines on one database never start a run twice.
"""

from __future__ import annotations

import logging
import signal
import threading

from app.config import get_settings
from app.factory import build_engine, training_layout
from app.logging import configure_logging
from src.storage import Store

logger = logging.getLogger(__name__)


def main() -> None:
    settings = get_settings()
    configure_logging(level=settings.server.log_level, log_file=settings.server.log_file)
    store = Store(
        settings.store.database_url, pool_size=4, busy_timeout_ms=settings.store.sqlite_busy_timeout_ms
    )
    store.upgrade()
    engine = build_engine(store, settings, layout=training_layout(settings))
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    engine.start()
    logger.info("run worker started")
    stopped.wait()
    logger.info("run worker stopping; runs keep running and are re-adopted on the next start")
    engine.stop()
    store.dispose()


if __name__ == "__main__":
    main()
