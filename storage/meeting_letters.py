"""Official meeting letters (`jembatan meeting letter ID`): numbers and what each letter says.

A letter number comes from the school's ``letter_number`` pattern (school.yaml), e.g.
``421.3/{seq:03d}/SMPN3/{roman_month}/{year}``, with the fields ``seq``, ``roman_month``,
``year`` and ``month``. ``seq`` counts per school and calendar year in ``letter_counter``, so a
number is never given twice in a year; a family's letter keeps its number when printed again
(``meeting_letter``), and each printing is recorded there for the case book.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Guardian,
    GuardianStudent,
    LetterCounter,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingLetter,
    MeetingSlot,
    MeetingStudent,
    School,
    SchoolClass,
    Staff,
    Student,
)
from storage.routing import first_with_role, role_for_class

FIELDS = ("seq", "roman_month", "year", "month")
# Used when the school gave no letter_number in school.yaml.
DEFAULT_PATTERN = "{seq:03d}/BK/{roman_month}/{year}"
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


class LetterPatternError(ValueError):
    """A ``letter_number`` pattern that cannot make a number (the message says where)."""


class NotInvited(LookupError):
    """The meeting has no invited family yet (nobody to write to)."""


def letter_number(pattern: str, *, seq: int, day: date) -> str:
    """The number for ``seq`` on ``day``; raises ``LetterPatternError`` naming the bad field."""
    values = {"seq": seq, "roman_month": ROMAN[day.month - 1], "year": day.year, "month": day.month}
    try:
        for _, name, _, _ in string.Formatter().parse(pattern):
            if name is None:
                continue
            if name == "" or not re.fullmatch(r"\w+", name):
                raise LetterPatternError(f"letter_number: {{{name}}} in {pattern!r} is not a field name "
                                         f"(known: {', '.join(FIELDS)})")
            if name not in values:
                raise LetterPatternError(f"letter_number: unknown field {{{name}}} in {pattern!r} "
                                         f"(known: {', '.join(FIELDS)})")
        return pattern.format(**values)
    except LetterPatternError:
        raise
    except (ValueError, IndexError, KeyError) as exc:
        raise LetterPatternError(f"letter_number: cannot use {pattern!r}: {exc}") from None


def letterhead(school: School) -> dict[str, Any]:
    """The school.yaml letterhead stored on the school, when this deployment keeps one (a JSON
    ``letterhead`` column: name, address, city, phone, email, principal, principal_nip, logo_png,
    letter_number); otherwise just the school's name."""
    head = dict(getattr(school, "letterhead", None) or {})
    head.setdefault("name", school.name)
    head["name"] = head["name"] or school.name
    return head


async def _next_seq(session: AsyncSession, school_id: int, year: int) -> int:
    """The next number of the school's year, the counter row locked until the transaction ends."""
    counter = (await session.exec(select(LetterCounter).where(
        LetterCounter.school_id == school_id, LetterCounter.year == year).with_for_update()
        .execution_options(populate_existing=True))).first()
    if counter is None:
        counter = LetterCounter(school_id=school_id, year=year, last_seq=0)
    counter.last_seq += 1
    session.add(counter)
    await session.flush()
    return counter.last_seq


@dataclass
class Letter:
    """One family's letter: its number and everything printed on it."""

    number: str
    context: dict[str, Any]


async def meeting_letters(session: AsyncSession, meeting: Meeting, *, now: datetime,
                          telegram_bot: str | None = None, whatsapp_from: str | None = None) -> list[Letter]:
    """Number (once) and describe the letter of every invited family, recording the printing.

    Runs in the caller's transaction: if the PDF cannot be written the caller rolls back, and
    no number is used up.
    """
    school = await session.get(School, meeting.school_id)
    organizer = await session.get(Staff, meeting.organizer_staff_id)
    assert school is not None and organizer is not None
    head = letterhead(school)
    pattern = head.get("letter_number") or DEFAULT_PATTERN
    zone = ZoneInfo(school.timezone)
    today = now.astimezone(zone).date()
    letter_number(pattern, seq=1, day=today)  # a bad pattern stops here, before any number is used
    families = (await session.exec(select(MeetingFamily).where(
        MeetingFamily.meeting_id == meeting.id).order_by(MeetingFamily.id))).all()
    if not families:
        raise NotInvited(f"meeting {meeting.id} has no invited family yet: run `jembatan meeting invite "
                         f"{meeting.id}` first")
    principal = await first_with_role(session, school.id, "principal")  # type: ignore[arg-type]
    slots = list((await session.exec(select(MeetingSlot).where(
        MeetingSlot.meeting_id == meeting.id).order_by(MeetingSlot.starts_at))).all())
    number_text = (whatsapp_from or "").removeprefix("whatsapp:").strip()
    links = {
        "telegram_url": f"https://t.me/{telegram_bot}?start=rapat_{meeting.id}" if telegram_bot else None,
        "whatsapp_url": (f"https://wa.me/{re.sub(r'[^0-9]', '', number_text)}?text=RAPAT%20{meeting.id}"
                         if number_text else None),
    }
    letters = []
    for family in families:
        existing = (await session.exec(select(MeetingLetter).where(
            MeetingLetter.meeting_id == meeting.id, MeetingLetter.family_id == family.id))).first()
        if existing is None:
            seq = await _next_seq(session, school.id, today.year)  # type: ignore[arg-type]
            existing = MeetingLetter(school_id=school.id, meeting_id=meeting.id, family_id=family.id,  # type: ignore[arg-type]
                                     year=today.year, seq=seq, number=letter_number(pattern, seq=seq, day=today),
                                     created_at=now)
        existing.printed_at = now
        session.add(existing)
        students = (await session.exec(select(Student, SchoolClass).join(
            MeetingStudent, col(MeetingStudent.student_id) == Student.id).join(
            SchoolClass, col(SchoolClass.id) == Student.class_id).where(
            MeetingStudent.family_id == family.id).order_by(Student.name))).all()
        guardians = (await session.exec(select(Guardian, GuardianStudent).join(
            MeetingInvitation, col(MeetingInvitation.guardian_id) == Guardian.id).join(
            GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id).where(
            MeetingInvitation.family_id == family.id,
            col(GuardianStudent.student_id).in_([s.id for s, _ in students])).order_by(Guardian.name))).all()
        slot = next((s for s in slots if s.id == family.slot_id), slots[0] if slots else None)
        first_class = students[0][1].name if students else ""
        letters.append(Letter(existing.number, {
            "number": existing.number, "school_name": head["name"],
            "place_date": f"{head['city']}, {format_date(today, 'd MMMM y', locale='id')}" if head.get("city")
            else format_date(today, "d MMMM y", locale="id"),
            "meeting_type": meeting.type, "title": meeting.title, "level": meeting.summons_level,
            "reason": meeting.reason, "bring": meeting.bring, "location": meeting.location,
            "children": [{"name": s.name, "class_name": c.name} for s, c in students],
            "guardians": list(dict.fromkeys(f"{g.name}" for g, _ in guardians)),
            "starts_at": slot.starts_at if slot else None, "ends_at": slot.ends_at if slot else None,
            "several_slots": len(slots) > 1 and family.slot_id is None, "tz": school.timezone,
            "organizer_name": organizer.name, "organizer_role": role_for_class(organizer, first_class),
            "principal": head.get("principal") or (principal.name if principal else None),
            "principal_nip": head.get("principal_nip"), **links,
        }))
    await session.flush()
    return letters
