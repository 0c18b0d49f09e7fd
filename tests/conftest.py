"""Shared fixtures: a migrated database on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.

Migrating costs about two seconds, so it is done once per test process: SQLite tests get a copy of
a migrated template file, PostgreSQL tests the migrated schema with the tables the last test wrote
emptied. Under pytest-xdist every worker has its own PostgreSQL database (``<name>_gw0``...), made
here. Where the suite's time goes, and what keeps it short: README, "Test suite".
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from storage.db import alembic_config, make_engine, make_sessionmaker, sync_url, upgrade
from tests.fakes.tcp_proxy import CuttableProxy


def _worker_database(url: str | None) -> str | None:
    """The PostgreSQL database of this xdist worker (created when missing); the URL as given alone.

    Commits there do not wait for the WAL to reach the disk (``synchronous_commit = off``, set on
    that scratch database only): that saves a few milliseconds a commit and changes nothing a
    test can see short of a crash of the PostgreSQL server itself.
    """
    if not url:
        return url
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}" if worker else parsed.database
    admin = create_engine(sync_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        if worker and conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _files_in_memory() -> None:
    """Test files (SQLite databases above all) go to /dev/shm when it is a roomy, writable tmpfs and
    TMPDIR is not set: every SQLite commit waits for fsync, which on a disk costs seconds a test
    file and in memory nothing. Subprocesses the tests start (and Chromium) inherit TMPDIR."""
    shm = "/dev/shm"
    if os.environ.get("TMPDIR") or not os.path.isdir(shm) or not os.access(shm, os.W_OK):
        return
    stat = os.statvfs(shm)
    if stat.f_bavail * stat.f_frsize >= 2 * 1024**3:
        os.environ["TMPDIR"] = shm
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again


_files_in_memory()
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
    """A migrated, empty schema with every sequence back at its start: made afresh unless it is at
    the heads already.

    Only the tables a test wrote are emptied, with DELETE: TRUNCATE makes new files for each table
    and its indexes and costs about a second for this schema, DELETE of a few small tables a few
    milliseconds (foreign keys are not checked meanwhile: every row of those tables goes).
    """
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            tables = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]
            versions = set()
            if "alembic_version" in tables:
                versions = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
            # A test may leave a trigger or function of its own behind (a real fault it injected):
            # emptying would keep it, so such a schema is made afresh.
            extras = conn.execute(text(
                "SELECT (SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = 'public')"
                " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                "    WHERE n.nspname = 'public')")).scalar()
            if versions == _heads() and not extras:
                others = [t for t in tables if t != "alembic_version"]
                written = [r[0] for r in conn.execute(text(" UNION ALL ".join(
                    f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in others)))] if others else []
                if written:
                    if _superuser(conn):
                        conn.execute(text("SET LOCAL session_replication_role = replica"))
                        for table in written:
                            conn.execute(text(f'DELETE FROM "{table}"'))
                    else:
                        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in written) + " CASCADE"))
                # Ids start at 1 again, as after TRUNCATE ... RESTART IDENTITY (setval writes no file).
                conn.execute(text("SELECT setval(format('%I', sequencename)::regclass, start_value, false)"
                                  " FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"))
                return
    finally:
        engine.dispose()
    _fresh_postgres(url)
    upgrade(url)


def _superuser(conn) -> bool:  # type: ignore[no-untyped-def]
    return conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar() is True


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


# The long tests (real processes, a browser, a whole school's chat; 5 to 30 s each under load)
# run first, longest first (as measured with --durations). With `-n 2 --maxschedchunk 2` (the
# Makefile's) each worker takes the next test when it is free, so the two cores finish together
# instead of one waiting for a long test that happened to be collected last.
LONG_FIRST = (
    "tests/test_multiprocess.py::test_two_web_workers_and_one_background_process_lose_and_repeat_nothing",
    "tests/test_multiprocess.py::test_one_flooding_family_is_limited_across_workers_and_delays_no_other_family",
    "tests/test_multiprocess.py::test_a_killed_background_process_is_restarted_and_sending_resumes",
    "tests/test_broadcast_crash.py",
    "tests/test_newcomer_walk.py",
    "tests/test_rate_limits.py::test_a_broadcast_to_a_hundred_telegram_families_causes_no_429",
    "tests/test_simulator_browser.py",
    "tests/test_office_browser.py",
    "tests/test_slow_clients.py",
    "tests/test_sender_process.py::test_serve_with_a_sender_process_answers_and_sends_each_reply_once",
    "tests/test_district_failover.py",
    "tests/test_district.py::test_one_schools_broadcast_never_delays_another_schools_parent",
    "tests/test_first_steps.py::test_the_dashboard_link_points_where_the_server_was_started",
    "tests/test_dashboard_browser.py",
    "tests/test_scheduling.py::test_report_card_day_for_36_families_from_one_command",
    "tests/test_fuzz_webhooks.py::test_every_chat_flow_answers_hostile_text_and_buttons",
    "tests/test_cli.py::test_upgrade_demo_and_import_from_any_directory",
    "tests/test_router_heldout.py::test_the_service_computes_what_scikit_learn_trained",
    "tests/test_connection_resets.py",
    "tests/test_office.py::test_a_whole_schools_export_previews",
    "tests/test_letters.py",
    "tests/test_counsel_papers.py::test_case_book_and_letters_from_the_command_line",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for place, prefix in enumerate(LONG_FIRST):
            if item.nodeid.startswith(prefix):
                return place
        return len(LONG_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order
