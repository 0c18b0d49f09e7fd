"""What every meeting text may show (when, where, who organizes, which children), and a
family's students: shared by invitations, slot offers and reminders."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Outbound, Recipient
from scheduler.availability import describe_availability
from storage.models import (
    Guardian,
    GuardianStudent,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    MeetingStudent,
    School,
    SchoolClass,
    Staff,
    Student,
)
from storage.routing import role_for_class
from storage.stated_availability import family_windows


async def meeting_context(session: AsyncSession, meeting: Meeting, guardian: Guardian, students: list[Student],
                          *, proxy_for: str | None = None, family: MeetingFamily | None = None) -> dict[str, Any]:
    """What every meeting text may show: when, where, who organizes, which children."""
    school = await session.get(School, meeting.school_id)
    organizer = await session.get(Staff, meeting.organizer_staff_id)
    assert school is not None and organizer is not None
    slots = list((await session.exec(select(MeetingSlot).where(
        MeetingSlot.meeting_id == meeting.id).order_by(MeetingSlot.starts_at))).all())
    if family is not None and family.slot_id is not None:
        slots = [slot for slot in slots if slot.id == family.slot_id] or slots  # the family's own time
    tz = school.timezone
    links = {link.student_id: link for link in (await session.exec(select(GuardianStudent).where(
        GuardianStudent.guardian_id == guardian.id))).all()}
    mine = [s for s in students if s.id in links] or students
    classes = {c.id: c for c in (await session.exec(select(SchoolClass).where(
        col(SchoolClass.id).in_([s.class_id for s in mine])))).all()}
    local_days = {slot.starts_at.astimezone(ZoneInfo(tz)).date() for slot in slots if slot.starts_at}
    first_class = classes[mine[0].class_id].name if mine else ""
    return {
        "meeting_id": meeting.id, "meeting_type": meeting.type, "title": meeting.title, "school_name": school.name,
        "tz": tz, "first_start": slots[0].starts_at, "last_end": slots[-1].ends_at, "slot_count": len(slots),
        "same_day": len(local_days) <= 1, "location": meeting.location, "bring": meeting.bring,
        "reason": meeting.reason, "organizer_name": organizer.name, "summons_level": meeting.summons_level,
        "organizer_role": role_for_class(organizer, first_class),
        "guardian_name": guardian.name, "relation": links[mine[0].id].relation if mine and mine[0].id in links else "wali",
        "children": [{"name": s.name, "class_name": classes[s.class_id].name} for s in mine],
        "proxy_for": {"guardian_names": proxy_for} if proxy_for else None,
    }


async def family_students(session: AsyncSession, family: MeetingFamily) -> list[Student]:
    return list((await session.exec(select(Student).join(
        MeetingStudent, col(MeetingStudent.student_id) == Student.id).where(
        MeetingStudent.family_id == family.id).order_by(Student.name))).all())


async def organizer_notice(session: AsyncSession, meeting: Meeting, guardian: Guardian, context: dict[str, Any],
                           answer: str, *, proxy_name: str | None = None, slot: MeetingSlot | None = None,
                           family: MeetingFamily | None = None) -> Outbound | None:
    """What the organizer is told when a family answers (or books ``slot``); None without one.

    For "another time" the notice says when the family said it can come and offers the
    organizer two buttons: the meeting's open times, or a new time (``handlers.other_time``).
    """
    organizer = await session.get(Staff, meeting.organizer_staff_id)
    if organizer is None:
        return None
    availability, buttons = None, []
    if answer == "other_time" and family is not None and family.id is not None:
        from handlers.other_time import organizer_buttons  # the buttons' handler imports this module

        invited = list((await session.exec(select(MeetingInvitation.guardian_id).where(
            MeetingInvitation.family_id == family.id))).all())
        windows = await family_windows(session, invited)
        availability = describe_availability(windows, organizer.language) if windows else None
        buttons = organizer_buttons(family.id)
    return Outbound(
        to=Recipient(phone=organizer.phone, staff_id=organizer.id, school_id=organizer.school_id),
        template="rsvp_to_organizer",
        context={"title": meeting.title, "meeting_id": meeting.id, "answer": answer, "guardian_name": guardian.name,
                 "relation": context["relation"], "children": context["children"], "proxy_name": proxy_name,
                 "slot_start": slot.starts_at if slot else None, "slot_end": slot.ends_at if slot else None,
                 "tz": context["tz"], "availability": availability}, buttons=buttons)
