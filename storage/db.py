"""The async engine, sessions and schema migration for any SQLAlchemy async URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READING = "jembatan_reading"  # execution option: a transaction that only reads (no write lock)


def make_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout for several writers.

    ``hide_parameters``: an error's text (and so every traceback in the log) never carries the
    statement's parameters, which are parents' words, names and phone numbers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Every transaction takes SQLite's single write lock (BEGIN IMMEDIATE, below), so extra
        # connections only wait for each other in SQLite's busy handler, which sleeps in steps of up
        # to 100 ms: under concurrent webhooks that gave seconds-long tails. One pooled connection,
        # handed over in turn by the pool, serializes the same work without the sleeps.
        pool = {"pool_size": 1, "max_overflow": 0} if database and database != ":memory:" else {}
        # Statements inside a transaction run on the loop's thread, BEGIN and COMMIT on aiosqlite's
        # (storage.sqlite_driver): two thread hops a transaction instead of three a statement.
        engine = create_async_engine(url, connect_args={"timeout": 30, "async_creator_fn": sqlite_driver.connect},
                                     hide_parameters=True, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn):  # type: ignore[no-untyped-def]
            # Take the write lock up front: a deferred transaction that later writes can fail at
            # once with SQLITE_BUSY when another connection wrote in between. A session from
            # reading_sessions() only reads: it takes no lock (WAL readers never wait).
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READING) else "BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10, hide_parameters=True)
    _ping_on_checkout(engine)
    return engine


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """Check a pooled connection before it is handed out, as ``pool_pre_ping`` does, in one round
    trip instead of three.

    SQLAlchemy's asyncpg pre-ping wraps its ``SELECT`` in BEGIN and ROLLBACK (for PgBouncer's
    transaction mode, where a prepared statement may land on another server connection): three
    of a webhook's fifteen round trips, each a loopback send the kernel charges to the server.
    ``SELECT 1`` in the simple query protocol (asyncpg's ``execute`` without arguments) prepares
    nothing and opens no transaction, so it is safe there too (an empty query would not do:
    asyncpg fails on its missing status, and every checkout would reconnect). A connection that
    fails it is replaced, and the ones pooled before it as well (the server restarted, a proxy
    reset them), as after a failed pre-ping; one just opened is not pinged. Other drivers ping
    as SQLAlchemy's pre-ping does."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection, record, proxy):  # type: ignore[no-untyped-def]
        if record.info.pop("jembatan_fresh", False):
            return  # opened for this checkout
        driver = dbapi_connection.driver_connection
        try:
            if engine.dialect.driver == "asyncpg":
                await_(driver.execute("SELECT 1"))
            else:
                engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the database went away or restarted: a new connection
            raise exc.InvalidatePoolError(f"ping failed: {error}") from error

    @event.listens_for(engine.sync_engine, "connect")
    def _fresh(dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["jembatan_fresh"] = True


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep attribute values after commit (no lazy loads on async)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def reading_sessions(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that only reads (preparing 1,000 messages before writing them): on
    SQLite their transactions begin deferred, without the write lock every other transaction
    takes, so webhooks and the sender are not held up meanwhile. They must not write."""
    engine: AsyncEngine = sessions.kw["bind"]
    return async_sessionmaker(engine.execution_options(**{READING: True}), class_=AsyncSession,
                              expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


def sync_url(url: str) -> str:
    """The synchronous twin of an async URL, for Alembic and APScheduler's job store."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}[parsed.get_backend_name()]
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    """An Alembic config pointing at our migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply migrations up to ``revision`` (synchronously)."""
    from alembic import command

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    """Apply migrations from async code without blocking the loop."""
    await asyncio.to_thread(upgrade, url, revision)
