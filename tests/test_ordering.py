"""Order and ownership: one guardian's messages are handled one at a time and in order, and a
family whose handling is held up (here: its lock held elsewhere, as by another worker process
still busy with its previous message) does not hold up anyone else."""

from __future__ import annotations

import asyncio
import zlib

import pytest
from sqlalchemy import text
from sqlmodel import select

from storage.db import make_engine
from storage.models import ConcernMessage
from tests.conftest import PG_URL
from tests.harness import MAYA, YULIA, running_school

FIRST = "Bu, nilai ulangan Matematika Ani turun. Mohon bimbingannya."
SECOND = "Satu lagi Bu, PR Matematika Ani juga belum dikumpulkan."


async def _thread(school) -> list[str]:  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session:
        return [m.text for m in (await session.exec(select(ConcernMessage).where(
            ConcernMessage.author == "guardian").order_by(ConcernMessage.id))).all()]


async def test_two_messages_sent_together_are_handled_in_order(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, "menu")
        await asyncio.gather(school.say(MAYA, FIRST), school.say(MAYA, SECOND))
        assert await _thread(school) == [FIRST, SECOND]


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set: PostgreSQL variant skipped")
async def test_a_family_held_up_does_not_hold_up_another(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the cross-process lock is PostgreSQL's advisory lock")
    async with running_school(database_url) as school:
        await school.say(MAYA, "menu")
        await school.say(YULIA, "menu")
        await school.inbox(YULIA)
        # Another worker is busy with Maya: it holds her lock.
        other_worker = make_engine(database_url)
        try:
            async with other_worker.connect() as conn:
                key = zlib.crc32(f"simulator:{MAYA}".encode()) - 2**31
                await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                maya = asyncio.create_task(school.say(MAYA, FIRST))
                answered = await school.say(YULIA, "My daughter's maths test score dropped, can we talk?")
                assert answered, "Yulia is answered while Maya's message waits"
                assert not maya.done()
                thread = await _thread(school)
                assert "My daughter's maths test score dropped, can we talk?" in thread and FIRST not in thread
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await asyncio.wait_for(maya, timeout=30)
        finally:
            await other_worker.dispose()
        assert FIRST in await _thread(school)
