"""Summons levels: a student's first surat panggilan of a school year is level 1, then 2, then 3.

The Indonesian school year runs from July to June. A summons is counted in the school year of
the day it was created (school time); a cancelled one does not count. The level is stored on
the meeting when it is created, so later summons, the invitation, the letter and the case book
all read the same number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.meetings import AudienceError, parse_audience
from storage.models import Meeting, Student

SUMMONS_TYPE = "surat_panggilan"
LEVELS = (1, 2, 3)


def school_year_start(day: date) -> date:
    """1 July of the school year ``day`` falls in (July–June)."""
    return date(day.year if day.month >= 7 else day.year - 1, 7, 1)


def school_year_label(day: date) -> str:
    """'2026/2027' for any day from July 2026 to June 2027."""
    start = school_year_start(day)
    return f"{start.year}/{start.year + 1}"


@dataclass(frozen=True)
class EarlierSummons:
    """A summons of the student earlier in the same school year."""

    meeting_id: int
    level: int
    created_at: datetime
    reason: str


def _summons_student(meeting: Meeting) -> str | None:
    """The NISN a summons is for (its audience is exactly one ``student:NISN``)."""
    try:
        parts = parse_audience(meeting.audience)
    except AudienceError:
        return None
    if len(parts) == 1 and parts[0].kind == "student" and len(parts[0].values) == 1:
        return parts[0].values[0]
    return None


async def summons_of_student(session: AsyncSession, student: Student) -> list[Meeting]:
    """Every summons of this student (any school year, cancelled ones too), oldest first."""
    rows = (await session.exec(select(Meeting).where(
        Meeting.school_id == student.school_id, Meeting.type == SUMMONS_TYPE,
        col(Meeting.audience).contains(student.nisn)).order_by(Meeting.created_at, Meeting.id))).all()
    return [m for m in rows if _summons_student(m) == student.nisn]


async def earlier_summons(session: AsyncSession, student: Student, *, now: datetime,
                          tz: str) -> list[EarlierSummons]:
    """The student's summons this school year (the year ``now`` is in), oldest first."""
    zone = ZoneInfo(tz)
    year = school_year_start(now.astimezone(zone).date())
    found = []
    for number, meeting in enumerate(
            [m for m in await summons_of_student(session, student) if m.status != "cancelled"
             and m.created_at is not None and school_year_start(m.created_at.astimezone(zone).date()) == year],
            start=1):
        found.append(EarlierSummons(meeting.id, meeting.summons_level or min(number, 3),  # type: ignore[arg-type]
                                    meeting.created_at, meeting.reason or ""))  # type: ignore[arg-type]
    return found


def next_level(earlier: list[EarlierSummons]) -> int:
    """The level a new summons takes: one above the highest so far, at most 3."""
    return min(3, max((s.level for s in earlier), default=0) + 1)
