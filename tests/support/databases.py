"""Throwaway databases for tests: a fresh PostgreSQL database per use, or a SQLite file."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_server_url() -> str:
    """The PostgreSQL server tests may create databases on."""
    return os.environ.get("TUNING_TEST_PG_SERVER", DEFAULT_PG_SERVER)


def pg_available() -> bool:
    try:
        engine = create_engine(pg_server_url())
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def create_pg_database(prefix: str = "tuning_test") -> str:
    """Create an empty database with a unique name and return its URL."""
    server = make_url(pg_server_url())
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    engine = create_engine(make_url(pg_server_url()), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
