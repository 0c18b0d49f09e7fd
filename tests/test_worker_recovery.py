"""A web worker killed between storing an update and processing it loses nothing: the
background process picks the update up a minute later and the family gets its answer once."""

from __future__ import annotations


from sqlmodel import select

from storage.models import ConcernMessage, InboxMessage
from tests.harness import MAYA, running_school


async def test_an_update_left_by_a_killed_worker_is_processed_once(database_url: str) -> None:
    async with running_school(database_url, run_scheduler=True) as school:
        await school.say(MAYA, "menu")
        await school.inbox(MAYA)
        # What a worker killed mid-request leaves behind: the update stored (acknowledged), not processed.
        text = "Bu, nilai ulangan Matematika Ani turun. Mohon bimbingannya."
        row = await school.services.inbox.store("simulator", f"{MAYA}:killed-1",
                                                {"phone": MAYA, "id": "killed-1", "text": text})
        assert row is not None
        scheduler = school.services.scheduler
        assert scheduler is not None
        await scheduler.recovery_tick()
        assert await school.inbox(MAYA) == []  # seconds old: its worker may still be on it

        school.clock.advance(minutes=2)
        await scheduler.recovery_tick()
        answer = await school.inbox(MAYA)
        assert len(answer) == 1 and "Ani" in answer[0]["text"]
        await scheduler.recovery_tick()  # and never twice
        assert await school.inbox(MAYA) == []
        async with school.services.sessions() as session:
            stored = await session.get(InboxMessage, row.id)
            thread = (await session.exec(select(ConcernMessage))).all()
        assert stored is not None and stored.processed_at is not None
        assert [m.text for m in thread] == [text]
