"""SQLite's write lock held by another process: a transaction waits for it, never fails, and the
event loop keeps serving meanwhile (storage.sqlite_driver begins without waiting only when it can)."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import make_engine, make_sessionmaker


async def test_a_transaction_waits_for_another_writer_without_holding_the_loop(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():  # the service is up (its connection open, WAL on)
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    other = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)  # "another process"
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO flood_bucket (sender, tokens, at, flooding) VALUES ('x', 1, '2026-01-01', 0)")
    ticks = 0

    async def write() -> None:
        async with sessions() as session, session.begin():
            await session.exec(text("UPDATE flood_bucket SET tokens = 5 WHERE sender = 'x'"))  # type: ignore[call-overload]

    writer = asyncio.create_task(write())
    while ticks < 20:  # the loop runs while the writer waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert not writer.done()
    other.execute("COMMIT")  # the other writer is done: ours goes ahead, after it
    await writer
    async with sessions() as session, session.begin():  # and the loop's own BEGIN works again
        tokens = (await session.exec(text("SELECT tokens FROM flood_bucket WHERE sender = 'x'"))).scalar_one()  # type: ignore[call-overload]
    assert tokens == 5
    other.close()
    await engine.dispose()
