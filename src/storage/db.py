"""The engine, sessions and schema upgrades of the one store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
READ_ONLY_OPTION = "tuning_read_only"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations, usable without alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for write transactions.

    WAL and a busy timeout alone still fail a read-then-write transaction at once
    when another writer got in between (SQLITE_BUSY without waiting); taking the
    write lock at BEGIN makes such transactions queue on the busy timeout instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_store_engine(url: str, *, pool_size: int, busy_timeout_ms: int = 30_000) -> Engine:
    """An engine for any SQLAlchemy URL, tuned for SQLite when the URL is one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ValueError("the store needs a file-backed SQLite database (sqlite:///path.db)")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )
        _configure_sqlite(engine, busy_timeout_ms=busy_timeout_ms)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_size=pool_size, max_overflow=0, pool_pre_ping=True, pool_timeout=10)


def end_session(session: Session, *, commit: bool, failed: bool = False) -> None:
    """End a session: roll back when the work `failed`, else commit when asked; then close.

    A session that is only closed ends its transaction and leaves loaded objects readable
    (a rollback would expire them).
    """
    try:
        if failed:
            session.rollback()
        elif commit:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Store:
    """The engine plus session factories; one per application."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout_ms: int = 30_000) -> None:
        self.url = url
        self.engine = create_store_engine(url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
        )

    def session(self, *, read_only: bool = False) -> Session:
        """A new session; read-only ones do not take SQLite's write lock."""
        return (self._read_sessions if read_only else self._sessions)()

    @contextmanager
    def session_scope(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back on error.

        A read-only scope never commits; closing it ends its transaction and
        leaves loaded objects readable.
        """
        session = self.session(read_only=read_only)
        try:
            yield session
        except BaseException:
            end_session(session, commit=False, failed=True)
            raise
        end_session(session, commit=not read_only)

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
            connection.execute(text("SELECT 1"))

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to `revision`."""
        config = alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def downgrade(self, revision: str = "base") -> None:
        """Revert Alembic migrations down to `revision`."""
        config = alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)

    def dispose(self) -> None:
        self.engine.dispose()
