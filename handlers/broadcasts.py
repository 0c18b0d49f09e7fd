"""Announcements (siaran) to the families of a school, grade, class or chosen students.

Only counselors, the principal and admins announce. The recipients are frozen when the
announcement is confirmed: one outbox row per guardian (a guardian of siblings once), written in
the same transaction as the broadcast, so a crash and restart finish exactly that list. Opted-out
guardians (STOP) and guardians with no reachable chat account are recorded, not sent to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.messages import Outbound, Recipient
from handlers.turn import Turn
from storage.audience import audience_students
from storage.models import (
    Broadcast,
    BroadcastSkip,
    ChannelAccount,
    Guardian,
    GuardianStudent,
    OutboxMessage,
    School,
    Staff,
)
from storage.outbox import enqueue

ANNOUNCERS = ("counselor", "principal", "admin")
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(6, 0)  # school time: announcements wait for the morning
BULK = 10  # outbox priority: after every conversation message


class NotAllowed(PermissionError):
    """Only counselors, the principal and admins may announce."""


@dataclass
class BroadcastResult:
    id: int
    recipients: int
    opted_out: int
    unreachable: int

    def as_json(self) -> dict[str, int]:
        return {"id": self.id, "recipients": self.recipients, "opted_out": self.opted_out,
                "unreachable": self.unreachable}


def after_quiet_hours(now: datetime, tz: str) -> datetime:
    """``now``, or 06:00 school time when ``now`` falls between 21:00 and 06:00."""
    local = now.astimezone(ZoneInfo(tz))
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return now
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=ZoneInfo(tz))


async def send_broadcast(session: AsyncSession, *, author: Staff, audience: str, text: str, now: datetime,
                         simulator_enabled: bool, urgent: bool = False,
                         default_language: str = "id") -> BroadcastResult:
    """Freeze the recipients and queue one message each, in the caller's transaction."""
    if author.role not in ANNOUNCERS:
        raise NotAllowed(f"{author.name} is a {author.role}: only counselors, the principal and admins announce")
    school = await session.get(School, author.school_id)
    assert school is not None
    students = await audience_students(session, school.id, audience)  # type: ignore[arg-type]
    guardians = list({g.id: g for g in (await session.exec(select(Guardian).join(
        GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id).where(
        col(GuardianStudent.student_id).in_([s.id for s in students]),
        col(GuardianStudent.proxy).is_(False)).order_by(Guardian.id))).all()}.values())
    send_at = now if urgent else after_quiet_hours(now, school.timezone)
    broadcast = Broadcast(school_id=school.id, author_staff_id=author.id, audience=audience, text=text,  # type: ignore[arg-type]
                          urgent=urgent, created_at=now, send_at=send_at)
    session.add(broadcast)
    await session.flush()
    outs, skipped = [], {"opted_out": 0, "unreachable": 0}
    for guardian in guardians:
        reason = "opted_out" if guardian.opted_out else None
        if reason is None and not simulator_enabled and not await _reachable(session, guardian.phone):
            reason = "unreachable"
        if reason is not None:
            skipped[reason] += 1
            session.add(BroadcastSkip(broadcast_id=broadcast.id, guardian_id=guardian.id, reason=reason))  # type: ignore[arg-type]
            continue
        outs.append(Outbound(
            to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
            template="announcement", broadcast_id=broadcast.id, priority=BULK, not_before=send_at,
            context={"text": text, "author_name": author.name, "author_role": author.role,
                     "school_name": school.name, "guardian_name": guardian.name}))
    await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled, default_language=default_language)
    broadcast.recipients, broadcast.opted_out, broadcast.unreachable = len(outs), skipped["opted_out"], \
        skipped["unreachable"]
    session.add(broadcast)
    return BroadcastResult(broadcast.id, len(outs), skipped["opted_out"], skipped["unreachable"])  # type: ignore[arg-type]


async def _reachable(session: AsyncSession, phone: str) -> bool:
    account = (await session.exec(select(ChannelAccount).where(
        ChannelAccount.phone == phone, col(ChannelAccount.blocked).is_(False),
        ChannelAccount.channel != "simulator"))).first()
    return account is not None


async def delivery_report(session: AsyncSession, broadcast_id: int) -> dict[str, object]:
    """Sent, delivered, read, failed (with reasons), unreachable and opted out for one broadcast."""
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    rows = list((await session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id))).all())
    failed = [row for row in rows if row.status == "failed" or row.delivery in ("failed", "undelivered")]
    return {
        "id": broadcast.id, "text": broadcast.text, "created_at": broadcast.created_at, "queued": len(rows),
        "waiting": sum(1 for row in rows if row.status == "pending"),
        "sent": sum(1 for row in rows if row.status == "sent"),
        "delivered": sum(1 for row in rows if row.delivery in ("delivered", "read")),
        "read": sum(1 for row in rows if row.delivery == "read"),
        "failed": len(failed), "reasons": sorted({(row.delivery_error or row.error or "")[:60] for row in failed}),
        "held": sum(1 for row in rows if row.status == "held"),
        "unreachable": broadcast.unreachable, "opted_out": broadcast.opted_out,
    }


async def show_reports(turn: Turn, argument: str) -> None:
    """`laporan [N]`: the delivery report of the author's announcements (the latest three)."""
    if not any(s.role in ANNOUNCERS for s in turn.staff):
        turn.reply("broadcast_not_allowed")
        return
    query = select(Broadcast.id).where(col(Broadcast.author_staff_id).in_([s.id for s in turn.staff]))
    if argument.lstrip("#").isdigit():
        query = query.where(Broadcast.id == int(argument.lstrip("#")))
    ids = list((await turn.session.exec(query.order_by(col(Broadcast.id).desc()).limit(3))).all())
    school = await turn.session.get(School, turn.staff[0].school_id)
    reports = [await delivery_report(turn.session, broadcast_id) for broadcast_id in ids]  # type: ignore[arg-type]
    turn.reply("broadcast_reports", {"reports": reports, "tz": school.timezone if school else "Asia/Jakarta"})
