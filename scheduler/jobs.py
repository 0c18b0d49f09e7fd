"""The scheduler process's jobs: periodic escalation of unanswered concerns.

Jobs read their due times from the database, so the schedule survives restarts; the scheduler
itself only ticks.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from scheduler.escalation import escalate_overdue

log = logging.getLogger(__name__)


def build_scheduler(sessions: async_sessionmaker[AsyncSession], *, clock: Clock, simulator_enabled: bool,
                    default_language: str, on_outbox) -> AsyncIOScheduler:  # type: ignore[no-untyped-def]
    """An AsyncIOScheduler with the escalation tick; start it inside the running loop."""
    scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "misfire_grace_time": 300})

    async def escalation_tick() -> None:
        count = await escalate_overdue(sessions, now=clock.now(), simulator_enabled=simulator_enabled,
                                       default_language=default_language)
        if count:
            log.info("escalated %d unanswered concern(s)", count)
            on_outbox()

    scheduler.add_job(escalation_tick, "interval", minutes=1, id="escalation", replace_existing=True)
    return scheduler
