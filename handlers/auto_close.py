"""Auto-close: an answered concern with no new message from either side for the school's
number of days (``CONCERN_AUTO_CLOSE_DAYS``) closes itself, and the guardian is told they can
write again at any time; their next message then starts a new concern.

The scheduler calls ``close_quiet_concerns`` periodically. Everything it needs is on the concern
rows, so a restart loses nothing; rows are locked and re-checked in one transaction with the
outbox rows, so a concern is closed, and its family told, exactly once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Outbound, Recipient
from storage.models import Concern, Guardian, Student
from storage.outbox import enqueue


async def close_quiet_concerns(sessions: async_sessionmaker[AsyncSession], *, now: datetime, days: float,
                               simulator_enabled: bool, default_language: str = "id") -> int:
    """Close every answered concern quiet since ``now - days``; returns how many were closed."""
    cutoff = now - timedelta(days=days)
    async with sessions() as session, session.begin():
        quiet = list((await session.exec(select(Concern).where(
            Concern.status == "answered", col(Concern.last_activity_at) <= cutoff)
            .order_by(col(Concern.id)).with_for_update(skip_locked=True))).all())
        outs: list[Outbound] = []
        closed = 0
        for concern in quiet:
            # Conditional, on top of the row lock: a concern someone answered or closed meanwhile
            # (or another tick got first, where the database has no row locks) is left alone.
            changed = await session.exec(update(Concern).where(  # type: ignore[call-overload]
                col(Concern.id) == concern.id, Concern.status == "answered",
                col(Concern.last_activity_at) <= cutoff).values(status="closed", closed_at=now))
            if changed.rowcount != 1:
                continue
            closed += 1
            guardian = await session.get(Guardian, concern.guardian_id)
            student = await session.get(Student, concern.student_id)
            if guardian is None or student is None:
                continue
            outs.append(Outbound(
                to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                template="concern_auto_closed", concern_id=concern.id,
                context={"concern_id": concern.id, "child_name": student.name, "days": days}))
        await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled,
                      default_language=default_language)
    return closed
