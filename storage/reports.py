"""The participation record: per meeting and per class, who was invited, reached, answered, came,
and who asked for another time ("Minta waktu lain").

Families are counted once per meeting (siblings and both parents together); in the per-class
rows a family counts in each class its children are in.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingStudent,
    OutboxMessage,
    SchoolClass,
    Student,
)

COLUMNS = ("meeting", "title", "class", "invited", "delivered", "read", "accepted", "declined", "proxy",
           "attended", "unreachable", "asked_other_time")


@dataclass
class ParticipationRow:
    meeting: int
    title: str
    class_name: str  # "" for the whole meeting
    invited: int = 0
    delivered: int = 0
    read: int = 0
    accepted: int = 0
    declined: int = 0
    proxy: int = 0
    attended: int = 0
    unreachable: int = 0
    asked_other_time: int = 0  # the family answered "Minta waktu lain" and has no time yet

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["class"] = data.pop("class_name")
        return data


@dataclass
class _FamilyFacts:
    classes: set[str]
    delivered: bool = False
    read: bool = False
    reachable: bool = False
    response: str | None = None
    proxy_invited: bool = False
    attended: bool = False


async def participation(session: AsyncSession, meeting_id: int | None = None) -> list[ParticipationRow]:
    """One row per meeting (class "") followed by one row per class of that meeting."""
    query = select(Meeting).order_by(Meeting.id)
    if meeting_id is not None:
        query = query.where(Meeting.id == meeting_id)
    rows: list[ParticipationRow] = []
    for meeting in (await session.exec(query)).all():
        facts = await _facts(session, meeting.id)  # type: ignore[arg-type]
        total = ParticipationRow(meeting.id, meeting.title, "")  # type: ignore[arg-type]
        per_class: dict[str, ParticipationRow] = {}
        for family in facts.values():
            targets = [total] + [per_class.setdefault(name, ParticipationRow(meeting.id, meeting.title, name))  # type: ignore[arg-type]
                                 for name in sorted(family.classes)]
            for row in targets:
                _count(row, family)
        rows.append(total)
        rows.extend(per_class[name] for name in sorted(per_class))
    return rows


def _count(row: ParticipationRow, family: _FamilyFacts) -> None:
    row.invited += 1
    row.delivered += family.delivered
    row.read += family.read
    row.accepted += family.response == "attend"
    row.declined += family.response == "decline"
    row.proxy += family.response == "proxy" or family.proxy_invited
    row.attended += family.attended
    row.unreachable += not family.reachable
    row.asked_other_time += family.response == "other_time"


async def _facts(session: AsyncSession, meeting_id: int) -> dict[int, _FamilyFacts]:
    families = {f.id: f for f in (await session.exec(select(MeetingFamily).where(
        MeetingFamily.meeting_id == meeting_id))).all()}
    facts = {fid: _FamilyFacts(set(), response=f.response, attended=f.attended) for fid, f in families.items()}
    for family_id, class_name in (await session.exec(
            select(MeetingStudent.family_id, SchoolClass.name)
            .join(Student, col(Student.id) == MeetingStudent.student_id)
            .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
            .where(MeetingStudent.meeting_id == meeting_id))).all():
        facts[family_id].classes.add(class_name)
    for invitation, message in (await session.exec(
            select(MeetingInvitation, OutboxMessage)
            .join(OutboxMessage, col(OutboxMessage.id) == MeetingInvitation.outbox_id, isouter=True)
            .where(MeetingInvitation.meeting_id == meeting_id))).all():
        family = facts[invitation.family_id]
        if invitation.proxy:
            family.proxy_invited = True
        if message is None:
            continue
        family.reachable |= message.status != "held"
        family.delivered |= message.status == "sent" and message.delivery not in ("failed", "undelivered")
        family.read |= message.delivery == "read"
    return facts


def to_csv(rows: list[ParticipationRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        data = row.as_json()
        writer.writerow([data[column] for column in COLUMNS])
    return out.getvalue()
