"""A meeting's timetable: per slot, which families come (who, which child, which room), and the
families still without a time. Read by the organizer in chat (``rapat ID``), by
``jembatan report timetable`` and by the dashboard."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Guardian,
    GuardianStudent,
    Meeting,
    MeetingFamily,
    MeetingSlot,
    MeetingStudent,
    SchoolClass,
    Student,
)

CSV_COLUMNS = ("meeting", "slot_start", "slot_end", "room", "state", "response", "children", "classes",
               "guardians")


@dataclass
class TimetableFamily:
    family_id: int
    children: list[tuple[str, str]]  # (name, class)
    guardians: list[str]
    state: str | None  # proposed | booked | None
    response: str | None

    def as_json(self) -> dict[str, object]:
        return {"family": self.family_id, "state": self.state, "response": self.response,
                "children": [{"name": n, "class": c} for n, c in self.children], "guardians": self.guardians}


@dataclass
class TimetableSlot:
    start: datetime
    end: datetime
    capacity: int
    room: str
    families: list[TimetableFamily] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "capacity": self.capacity,
                "room": self.room, "families": [f.as_json() for f in self.families]}


@dataclass
class Timetable:
    meeting: Meeting
    slots: list[TimetableSlot]
    without_time: list[TimetableFamily]  # not declined, no slot yet
    declined: list[TimetableFamily]

    def as_json(self) -> dict[str, object]:
        return {"meeting": self.meeting.id, "title": self.meeting.title,
                "slots": [s.as_json() for s in self.slots],
                "without_time": [f.as_json() for f in self.without_time],
                "declined": [f.as_json() for f in self.declined]}

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        rows = [(s, f) for s in self.slots for f in s.families] + [(None, f) for f in self.without_time]
        for slot, family in rows:
            writer.writerow([self.meeting.id, slot.start.isoformat() if slot else "",
                             slot.end.isoformat() if slot else "", slot.room if slot else "",
                             family.state or "", family.response or "",
                             "; ".join(n for n, _ in family.children),
                             "; ".join(sorted({c for _, c in family.children})), "; ".join(family.guardians)])
        return out.getvalue()


async def timetable(session: AsyncSession, meeting: Meeting) -> Timetable:
    """The meeting's timetable in three queries, whatever its size."""
    slots = list((await session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == meeting.id)
                                     .order_by(MeetingSlot.starts_at))).all())
    families = list((await session.exec(select(MeetingFamily).where(
        MeetingFamily.meeting_id == meeting.id).order_by(MeetingFamily.id))).all())
    children: dict[int, list[tuple[str, str]]] = {}
    guardians: dict[int, set[str]] = {}
    for family_id, student_name, class_name, guardian_name in (await session.exec(
            select(MeetingStudent.family_id, Student.name, SchoolClass.name, Guardian.name)
            .join(Student, col(Student.id) == MeetingStudent.student_id)
            .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
            .join(GuardianStudent, col(GuardianStudent.student_id) == Student.id, isouter=True)
            .join(Guardian, col(Guardian.id) == GuardianStudent.guardian_id, isouter=True)
            .where(MeetingStudent.meeting_id == meeting.id)
            .order_by(Student.name))).all():
        kids = children.setdefault(family_id, [])
        if (student_name, class_name) not in kids:
            kids.append((student_name, class_name))
        if guardian_name:
            guardians.setdefault(family_id, set()).add(guardian_name)
    room = meeting.location
    table = [TimetableSlot(s.starts_at, s.ends_at, s.capacity, room) for s in slots]  # type: ignore[arg-type]
    by_slot = {s.id: entry for s, entry in zip(slots, table, strict=True)}
    without, declined = [], []
    for family in families:
        entry = TimetableFamily(family.id, children.get(family.id, []),  # type: ignore[arg-type]
                                sorted(guardians.get(family.id, set())), family.slot_state,  # type: ignore[arg-type]
                                family.response)
        if family.response == "decline":
            declined.append(entry)
        elif family.slot_id in by_slot:
            by_slot[family.slot_id].families.append(entry)
        else:
            without.append(entry)
    return Timetable(meeting, table, without, declined)
