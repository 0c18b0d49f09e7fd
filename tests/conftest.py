"""Shared fixtures: a migrated database on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.

Migrating costs about half a second a test, so it is done once per test process: SQLite tests get
a copy of a migrated template file, PostgreSQL tests a migrated schema emptied with TRUNCATE.
Under pytest-xdist every worker has its own PostgreSQL database (``<name>_gw0``...), made here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage.db import alembic_config, make_engine, make_sessionmaker, sync_url, upgrade
from tests.fakes.tcp_proxy import CuttableProxy


def _worker_database(url: str | None) -> str | None:
    """The PostgreSQL database of this xdist worker (created when missing); the URL as given alone."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(sync_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


PG_URL = _worker_database(os.environ.get("TEST_DATABASE_URL"))
_NO_PG = "TEST_DATABASE_URL is not set: PostgreSQL variant skipped"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason=_NO_PG))]


def _fresh_postgres(url: str) -> None:
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@cache
def _heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def _emptied_postgres(url: str) -> None:
    """A migrated, empty schema: TRUNCATE when it is at the heads already, else made afresh."""
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            tables = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]
            versions = set()
            if "alembic_version" in tables:
                versions = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
            # A test may leave a trigger or function of its own behind (a real fault it injected):
            # TRUNCATE would keep it, so such a schema is made afresh.
            extras = conn.execute(text(
                "SELECT (SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = 'public')"
                " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                "    WHERE n.nspname = 'public')")).scalar()
            if versions == _heads() and not extras:
                others = ", ".join(f'"{t}"' for t in tables if t != "alembic_version")
                if others:
                    conn.execute(text(f"TRUNCATE {others} RESTART IDENTITY CASCADE"))
                return
    finally:
        engine.dispose()
    _fresh_postgres(url)
    upgrade(url)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "jembatan.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path) -> str:
    """A freshly migrated database; every storage test runs once per backend."""
    if request.param == "sqlite":
        return _copy_sqlite(_sqlite_template, tmp_path / "jembatan.db")
    assert PG_URL
    _emptied_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A migrated SQLite database, for tests that are about behaviour, not the backend."""
    return _copy_sqlite(_sqlite_template, tmp_path / "jembatan.db")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine):  # type: ignore[no-untyped-def]
    return make_sessionmaker(engine)


async def postgres_behind_proxy() -> tuple[CuttableProxy, str]:
    """A freshly migrated PostgreSQL database and a URL that reaches it through a proxy the test
    can cut or reset (a real TCP hop, not a patched driver)."""
    assert PG_URL
    _fresh_postgres(PG_URL)
    upgrade(PG_URL)
    url = make_url(PG_URL)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    return proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
