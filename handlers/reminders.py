"""Meeting reminders: the day before and two hours before, to families who said they will come.

Each reminder is an APScheduler date job in the persistent job store (same database), with a
deterministic id, so it survives restarts and is replaced, not duplicated. The job itself
decides at run time: sent on time, sent late while the meeting is still ahead, or skipped with a
record once it has passed. ``ReminderLog`` (unique per meeting, guardian and kind) makes sure a
reminder is never sent twice, even if a job runs again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.clock import Clock
from handlers.meeting_context import family_students, meeting_context
from domain.messages import Outbound, Recipient
from storage.models import (
    Guardian,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    ReminderLog,
)
from storage.outbox import enqueue

log = logging.getLogger(__name__)

REMINDERS = {"day_before": timedelta(days=1), "two_hours": timedelta(hours=2)}
ON_TIME = timedelta(minutes=30)  # later than this after its due time, a reminder says it is late


@dataclass
class Runtime:
    """What reminder jobs need; jobs carry ids only, so the running process provides this."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    simulator_enabled: bool
    default_language: str
    on_outbox: object


_runtime: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Give this process's reminder jobs their database and clock (None when the scheduler stops)."""
    global _runtime
    _runtime = runtime


def job_id(meeting_id: int, guardian_id: int, kind: str) -> str:
    return f"reminder:{meeting_id}:{guardian_id}:{kind}"


async def attending(session: AsyncSession, *, now: datetime) -> list[tuple[int, int, datetime]]:
    """(meeting, guardian, meeting start) for everyone who will come to a meeting still ahead."""
    rows = (await session.exec(
        select(MeetingInvitation.meeting_id, MeetingInvitation.guardian_id, MeetingSlot.starts_at)
        .join(MeetingFamily, col(MeetingFamily.id) == MeetingInvitation.family_id)
        .join(MeetingSlot, col(MeetingSlot.meeting_id) == MeetingInvitation.meeting_id)
        .join(Meeting, col(Meeting.id) == MeetingInvitation.meeting_id)
        .where(Meeting.status != "cancelled", or_(
            (col(MeetingInvitation.proxy).is_(False)) & (MeetingFamily.response == "attend"),
            (col(MeetingInvitation.proxy).is_(True)) & (MeetingInvitation.response == "attend")),
            # the family's own slot once it has one (moves with it), else the meeting's start
            or_(col(MeetingFamily.slot_id).is_(None), MeetingFamily.slot_id == MeetingSlot.id))
        .order_by(MeetingSlot.starts_at))).all()
    first: dict[tuple[int, int], datetime] = {}
    for meeting_id, guardian_id, starts_at in rows:
        first.setdefault((meeting_id, guardian_id), starts_at)
    return [(m, g, start) for (m, g), start in first.items() if start + timedelta(hours=12) > now]


async def sync(scheduler: BaseScheduler, sessions: async_sessionmaker[AsyncSession], *, now: datetime) -> int:
    """Make sure every wanted reminder has its job; returns how many were added."""
    async with sessions() as session:
        wanted = await attending(session, now=now)
        logged = set((await session.exec(select(ReminderLog.meeting_id, ReminderLog.guardian_id,
                                                ReminderLog.kind))).all())
    added = 0
    keep = {job_id(m, g, kind) for m, g, _ in wanted for kind in REMINDERS}
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith("reminder:") and job.id not in keep:
            job.remove()  # cancelled, or the family no longer comes
    for meeting_id, guardian_id, starts_at in wanted:
        for kind, before in REMINDERS.items():
            ident = job_id(meeting_id, guardian_id, kind)
            if (meeting_id, guardian_id, kind) in logged:
                continue
            run_date = max(starts_at - before, now)
            job = scheduler.get_job(ident)
            if job is not None and job.trigger.run_date == run_date:
                continue
            # New, or the meeting moved: (re)place the job with the right time.
            scheduler.add_job(send_reminder, "date", id=ident, replace_existing=True, run_date=run_date,
                              args=[meeting_id, guardian_id, kind], misfire_grace_time=None, coalesce=True)
            added += 1
    return added


def cancel(scheduler: BaseScheduler, meeting_id: int, guardian_id: int) -> None:
    for kind in REMINDERS:
        try:
            scheduler.remove_job(job_id(meeting_id, guardian_id, kind))
        except JobLookupError:
            pass


async def send_reminder(meeting_id: int, guardian_id: int, kind: str) -> str:
    """The job: send (or skip, with a record) one reminder, exactly once."""
    runtime = _runtime
    if runtime is None:
        raise RuntimeError("handlers.reminders.install() was not called in this process")
    now = runtime.clock.now()
    try:
        async with runtime.sessions() as session, session.begin():
            outcome = await _remind(session, runtime, meeting_id, guardian_id, kind, now)
    except IntegrityError:
        return "already"  # another run logged it first: never twice
    if outcome in ("sent", "sent_late") and callable(runtime.on_outbox):
        runtime.on_outbox()
    return outcome


async def _remind(session: AsyncSession, runtime: Runtime, meeting_id: int, guardian_id: int, kind: str,
                  now: datetime) -> str:
    done = (await session.exec(select(ReminderLog).where(
        ReminderLog.meeting_id == meeting_id, ReminderLog.guardian_id == guardian_id,
        ReminderLog.kind == kind))).first()
    if done is not None:
        return "already"
    meeting = await session.get(Meeting, meeting_id)
    guardian = await session.get(Guardian, guardian_id)
    wanted = {(m, g): start for m, g, start in await attending(session, now=now - timedelta(days=3650))}
    starts_at = wanted.get((meeting_id, guardian_id))
    if meeting is None or guardian is None or meeting.status == "cancelled" or starts_at is None:
        outcome = "skipped_not_attending"
    elif now >= starts_at:
        outcome = "skipped_past"
        log.info("reminder %s for meeting %s skipped: the meeting has started", kind, meeting_id)
    else:
        due = starts_at - REMINDERS[kind]
        outcome = "sent" if now - due <= ON_TIME else "sent_late"
        invitation = (await session.exec(select(MeetingInvitation).where(
            MeetingInvitation.meeting_id == meeting_id, MeetingInvitation.guardian_id == guardian_id))).one()
        family = await session.get(MeetingFamily, invitation.family_id)
        students = await family_students(session, family) if family else []
        context = await meeting_context(session, meeting, guardian, students, family=family)
        template = f"reminder_{kind}" if outcome == "sent" else "reminder_late"
        await enqueue(session, [Outbound(
            to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
            template=template, context=context)], now=now, simulator_enabled=runtime.simulator_enabled,
            default_language=runtime.default_language)
    session.add(ReminderLog(meeting_id=meeting_id, guardian_id=guardian_id, kind=kind, outcome=outcome, at=now))
    return outcome
