"""The database engine and session factory (SQLAlchemy 2.0, asyncio, asyncpg)."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# What asyncpg raises when PostgreSQL does not take a new connection: refused or reset (down),
# no answer within the connect timeout, or the server saying it is starting or shutting down.
_CONNECT_FAILURES = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
)


class DatabaseUnreachable(Exception):
    """PostgreSQL did not take a new connection (down, restarting, refusing, too slow). The
    driver raises bare OSErrors for that; this names them, so the API answers 503 and an
    activity retries. The message carries the driver's error class only."""


def async_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the asyncpg driver."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def sync_url(url: str) -> str:
    """The same database for synchronous tools (Alembic) through psycopg."""
    return async_url(url).replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)


def make_engine(url: str, *, pool_size: int = 10, connect_timeout: float = 5.0) -> AsyncEngine:
    """pool_pre_ping: a pooled connection that PostgreSQL closed (a restart) is replaced on
    checkout, so the pool recovers by itself once the server is back. `connect_timeout`
    bounds a new connection (asyncpg waits 60 s by default)."""
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"timeout": connect_timeout},
    )

    @event.listens_for(engine.sync_engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except _CONNECT_FAILURES as exc:
            raise DatabaseUnreachable(type(exc).__name__) from exc

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
