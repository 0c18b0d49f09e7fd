"""Personal data (UU 27/2022): the retention purge, a guardian's own data, and the consent record.

``purge`` deletes what the school no longer needs: concerns closed longer ago than the
retention period (with their messages and the chat messages that carried them), stored platform
updates older than it, and everything chat-side of guardians who asked for their data to be
deleted (``hapus data``). The school's roster entry (name, phone, children) stays: it is the
school's own record, and it marks the guardian as someone the bot must not message.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Availability,
    BroadcastAnswer,
    ChannelAccount,
    Enrolment,
    Concern,
    ConcernHandover,
    ConcernMessage,
    Conversation,
    Guardian,
    GuardianStudent,
    InboxMessage,
    LinkCode,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    OutboxMessage,
    RoutingExample,
    SchoolClass,
    SlotWaiting,
    Staff,
    Student,
)
from storage.phones import mask_phone
from storage.traces import Traces, describe, erase_traces, find, traces_of


@dataclass
class PurgeResult:
    older_than_days: int
    concerns: int = 0
    concern_messages: int = 0
    chat_messages: int = 0
    inbox: int = 0
    guardians_erased: int = 0
    traces_erased: int = 0  # rows elsewhere that held an erased guardian's data (wiped)

    def as_json(self) -> dict[str, int]:
        return asdict(self)


async def purge(session: AsyncSession, *, older_than: timedelta, now: datetime) -> PurgeResult:
    """Delete per the retention rule and the erasure requests, in the caller's transaction."""
    result = PurgeResult(older_than_days=older_than.days)
    cutoff = now - older_than
    closed = list((await session.exec(select(Concern.id).where(
        Concern.status == "closed", col(Concern.closed_at) < cutoff))).all())
    erasing = list((await session.exec(select(Guardian).where(
        col(Guardian.erase_requested_at).is_not(None), col(Guardian.erased_at).is_(None)))).all())
    theirs = list((await session.exec(select(Concern.id).where(
        col(Concern.guardian_id).in_([g.id for g in erasing])))).all()) if erasing else []
    # What identifies each of them in any table, read before their concerns are gone.
    traces = [await _traces(session, guardian) for guardian in erasing]
    if erasing:
        await session.exec(delete(RoutingExample).where(  # type: ignore[call-overload]
            col(RoutingExample.guardian_id).in_([g.id for g in erasing])))
    await _delete_concerns(session, sorted(set(closed) | set(theirs)), result)
    result.inbox = _count(await session.exec(delete(InboxMessage).where(  # type: ignore[call-overload]
        col(InboxMessage.processed_at).is_not(None), col(InboxMessage.received_at) < cutoff)))
    for guardian, found in zip(erasing, traces, strict=True):
        await _erase(session, guardian, now)
        result.traces_erased += await erase_traces(session, found)
        result.guardians_erased += 1
    return result


async def _accounts(session: AsyncSession, phone: str) -> list[ChannelAccount]:
    return list((await session.exec(select(ChannelAccount).where(ChannelAccount.phone == phone))).all())


async def _traces(session: AsyncSession, guardian: Guardian) -> Traces:
    is_staff = (await session.exec(select(Staff.id).where(Staff.phone == guardian.phone))).first() is not None
    return await traces_of(session, [guardian], await _accounts(session, guardian.phone), words_only=is_staff)


def _count(cursor: Any) -> int:
    return int(cursor.rowcount or 0)


async def _delete_concerns(session: AsyncSession, ids: list[int | None], result: PurgeResult) -> None:
    if not ids:
        return
    result.concern_messages = _count(await session.exec(delete(ConcernMessage).where(  # type: ignore[call-overload]
        col(ConcernMessage.concern_id).in_(ids))))
    # The forwards and answers that carried the words: gone too, unless still waiting to be sent.
    result.chat_messages = _count(await session.exec(delete(OutboxMessage).where(  # type: ignore[call-overload]
        col(OutboxMessage.concern_id).in_(ids), OutboxMessage.status != "pending")))
    # The school's corrections stay for its router, no longer tied to the concern.
    await session.exec(update(RoutingExample).where(  # type: ignore[call-overload]
        col(RoutingExample.concern_id).in_(ids)).values(concern_id=None))
    await session.exec(update(OutboxMessage).where(  # type: ignore[call-overload]
        col(OutboxMessage.concern_id).in_(ids)).values(concern_id=None))
    await session.exec(delete(ConcernHandover).where(  # type: ignore[call-overload]
        col(ConcernHandover.concern_id).in_(ids)))
    # A correction holds the guardian's words: it goes with its concern under the retention rule.
    await session.exec(delete(RoutingExample).where(  # type: ignore[call-overload]
        col(RoutingExample.concern_id).in_(ids)))
    result.concerns = _count(await session.exec(delete(Concern).where(  # type: ignore[call-overload]
        col(Concern.id).in_(ids))))


async def _erase(session: AsyncSession, guardian: Guardian, now: datetime) -> None:
    """Everything chat-side of one guardian; their roster entry is marked, not deleted."""
    gid = guardian.id
    for table in (Availability, SlotWaiting, BroadcastAnswer, RoutingExample):
        await session.exec(delete(table).where(col(table.guardian_id) == gid))  # type: ignore[call-overload,attr-defined]
    # Messages to them stay as counts in the school's reports, without their words.
    await session.exec(update(OutboxMessage).where(col(OutboxMessage.guardian_id) == gid)  # type: ignore[call-overload]
                       .values(text="", buttons=[], account_id=None))
    is_staff = (await session.exec(select(Staff.id).where(Staff.phone == guardian.phone))).first() is not None
    if not is_staff:
        accounts = list((await session.exec(select(ChannelAccount.id).where(
            ChannelAccount.phone == guardian.phone))).all())
        if accounts:
            await session.exec(update(OutboxMessage).where(  # type: ignore[call-overload]
                col(OutboxMessage.account_id).in_(accounts)).values(text="", buttons=[], account_id=None))
            await session.exec(update(LinkCode).where(  # type: ignore[call-overload]
                col(LinkCode.used_by_account_id).in_(accounts)).values(used_by_account_id=None))
            # How they enrolled (the name they gave, on which account) goes with the account.
            await session.exec(delete(Enrolment).where(col(Enrolment.account_id).in_(accounts)))  # type: ignore[call-overload]
            await session.exec(delete(Conversation).where(col(Conversation.account_id).in_(accounts)))  # type: ignore[call-overload]
            await session.exec(delete(ChannelAccount).where(col(ChannelAccount.id).in_(accounts)))  # type: ignore[call-overload]
    guardian.erased_at = now
    session.add(guardian)


# ---------------------------------------------------------------- a guardian's own data


async def export_person(session: AsyncSession, phone: str) -> dict[str, Any]:
    """Everything the service holds about the guardian with this phone, as one document."""
    guardians = list((await session.exec(select(Guardian).where(Guardian.phone == phone))).all())
    if not guardians:
        raise LookupError(f"no guardian with phone {mask_phone(phone)}")
    ids = [g.id for g in guardians]
    children = (await session.exec(
        select(GuardianStudent, Student, SchoolClass)
        .join(Student, col(Student.id) == GuardianStudent.student_id)
        .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
        .where(col(GuardianStudent.guardian_id).in_(ids)))).all()
    accounts = (await session.exec(select(ChannelAccount).where(ChannelAccount.phone == phone))).all()
    concerns = (await session.exec(select(Concern).where(col(Concern.guardian_id).in_(ids))
                                   .order_by(Concern.id))).all()
    messages = (await session.exec(select(ConcernMessage).where(
        col(ConcernMessage.concern_id).in_([c.id for c in concerns])).order_by(ConcernMessage.id))).all()
    meetings = (await session.exec(
        select(MeetingInvitation, Meeting, MeetingFamily)
        .join(Meeting, col(Meeting.id) == MeetingInvitation.meeting_id)
        .join(MeetingFamily, col(MeetingFamily.id) == MeetingInvitation.family_id)
        .where(col(MeetingInvitation.guardian_id).in_(ids)))).all()
    slots = {s.id: s for s in (await session.exec(select(MeetingSlot).where(
        col(MeetingSlot.id).in_([f.slot_id for _, _, f in meetings if f.slot_id])))).all()}
    availability = (await session.exec(select(Availability).where(col(Availability.guardian_id).in_(ids)))).all()
    traces = await traces_of(session, guardians, list(accounts))
    elsewhere = await find(session, traces)
    received = (await session.exec(select(OutboxMessage).where(or_(
        col(OutboxMessage.guardian_id).in_(ids), col(OutboxMessage.account_id).in_([a.id for a in accounts])))
        .order_by(OutboxMessage.id))).all()

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "guardian": [{"name": g.name, "phone": g.phone, "language": g.language, "announcements": not g.opted_out,
                      "daily_digest": g.digest, "consent": {"given_at": when(g.consent_at),
                                                            "channel": g.consent_channel,
                                                            "withdrawn_at": when(g.withdrawn_at),
                                                            "erasure_requested_at": when(g.erase_requested_at)}}
                     for g in guardians],
        "children": [{"name": s.name, "class": c.name, "relation": link.relation, "proxy": link.proxy}
                     for link, s, c in children],
        "chat_accounts": [{"channel": a.channel, "linked_at": when(a.linked_at), "last_seen_at": when(a.last_seen_at)}
                          for a in accounts],
        "concerns": [{"id": c.id, "category": c.category, "status": c.status, "created_at": when(c.created_at),
                      "closed_at": when(c.closed_at),
                      "messages": [{"from": m.author, "text": m.text, "at": when(m.created_at)}
                                   for m in messages if m.concern_id == c.id]} for c in concerns],
        "meetings": [{"title": m.title, "type": m.type, "answer": f.response,
                      "time": when(slots[f.slot_id].starts_at) if f.slot_id in slots else None}
                     for _, m, f in meetings],
        "availability": [{"text": a.text, "windows": a.windows} for a in availability],
        "messages_received": [{"at": when(o.created_at), "template": o.template, "text": o.text, "status": o.status}
                              for o in received],
        # Every other copy, in any table: stored platform updates (the webhook bodies), messages
        # to staff about them, routing examples, audit entries, conversation state.
        "held_elsewhere": describe(elsewhere, traces),
    }


# ---------------------------------------------------------------- the consent record

CONSENT_COLUMNS = ("school_id", "guardian", "phone", "children", "consent_at", "channel", "withdrawn_at",
                   "erasure_requested_at", "erased_at")


async def consent_record(session: AsyncSession) -> list[dict[str, Any]]:
    """Per guardian: when and how they agreed, and whether they withdrew (phones masked)."""
    children: dict[int, list[str]] = {}
    for guardian_id, name, class_name in (await session.exec(
            select(GuardianStudent.guardian_id, Student.name, SchoolClass.name)
            .join(Student, col(Student.id) == GuardianStudent.student_id)
            .join(SchoolClass, col(SchoolClass.id) == Student.class_id))).all():
        children.setdefault(guardian_id, []).append(f"{name} ({class_name})")
    rows = []
    for g in (await session.exec(select(Guardian).order_by(Guardian.school_id, Guardian.name))).all():
        rows.append({"school_id": g.school_id, "guardian": g.name, "phone": mask_phone(g.phone),
                     "children": "; ".join(children.get(g.id, [])),  # type: ignore[arg-type]
                     "consent_at": g.consent_at.isoformat() if g.consent_at else "",
                     "channel": g.consent_channel or "",
                     "withdrawn_at": g.withdrawn_at.isoformat() if g.withdrawn_at else "",
                     "erasure_requested_at": g.erase_requested_at.isoformat() if g.erase_requested_at else "",
                     "erased_at": g.erased_at.isoformat() if g.erased_at else ""})
    return rows


def consent_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CONSENT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
