"""Escalation: a concern left unanswered past the school's limit goes to the next person.

A subject teacher's or the office's concern goes to the homeroom teacher (wali kelas); the
homeroom teacher's to the class's counselor (guru BK); the counselor's to the principal.

A counseling concern (bullying, behaviour, feelings, friendships, family, motivation, study and
career) is confidential and never reaches a teacher: it goes to another counselor (one covering
the class first, then any other of the school), else the principal; a school with neither has
the office (admin) told only that a counseling concern is waiting — without its words, and the
office does not become one of the concern's holders. The guardian is told. Due times are stored
on the concern, so a restart loses nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.classifier import GROUPS
from handlers.concerns import forward
from domain.messages import Outbound, Recipient
from storage.models import Concern, ConcernMessage, Guardian, SchoolClass, Staff, Student
from storage.outbox import enqueue
from storage.people import Child, children_of, covers_class, school_staff
from storage.routing import counselor_for, first_with_role, homeroom_teacher, role_for_class

COUNSELING = frozenset(GROUPS["counseling"])


def counseling_category(category: str) -> bool:
    """A category whose words only a concern's holder, the class's counselors and the principal
    may read (contract section 10)."""
    return category in COUNSELING


def is_counseling(concern: Concern) -> bool:
    return counseling_category(concern.category)


async def escalation_target(session: AsyncSession, concern: Concern, school_class: SchoolClass) -> Staff | None:
    """Who a concern goes to when its staff member has not answered (with its words).

    None for a counseling concern in a school with no other counselor and no principal: then
    only the office is told that one waits (``office_for``)."""
    if is_counseling(concern):
        return await _counseling_target(session, concern, school_class)
    current = await session.get(Staff, concern.staff_id)
    chain: list[Staff | None] = []
    homeroom = await homeroom_teacher(session, school_class.school_id, school_class.name)
    counselor = await counselor_for(session, school_class)
    principal = await first_with_role(session, school_class.school_id, "principal")
    if current is not None and current.homeroom_class == school_class.name:
        chain = [counselor, principal]
    elif current is not None and current.role == "counselor":
        chain = [principal, homeroom]
    else:
        chain = [homeroom, counselor, principal]
    return next((s for s in chain if s is not None and s.id != concern.staff_id), None)


async def _counseling_target(session: AsyncSession, concern: Concern, school_class: SchoolClass) -> Staff | None:
    counselors = [s for s in await school_staff(session, school_class.school_id)
                  if s.role == "counselor" and s.id != concern.staff_id]
    covering = [s for s in counselors if covers_class(s, school_class)]
    principal = await first_with_role(session, school_class.school_id, "principal")
    chain: list[Staff | None] = [*covering, *counselors, principal]
    return next((s for s in chain if s is not None and s.id != concern.staff_id), None)


async def office_for(session: AsyncSession, concern: Concern, school_id: int) -> Staff | None:
    """The office (admin) told that a counseling concern waits, when no one may take its words."""
    office = await first_with_role(session, school_id, "admin")
    return office if office is not None and office.id != concern.staff_id else None


async def escalate_overdue(sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                           simulator_enabled: bool, default_language: str = "id") -> int:
    """Escalate every open, unanswered concern whose due time has passed; returns how many."""
    async with sessions() as session, session.begin():
        overdue = list((await session.exec(select(Concern).where(
            Concern.status == "open", col(Concern.first_answer_at).is_(None),
            Concern.category != "violence_report",  # its own path: handlers/violence_reports.py
            col(Concern.escalated_at).is_(None), col(Concern.due_at) <= now)
            .with_for_update(skip_locked=True))).all())
        outs: list[Outbound] = []
        for concern in overdue:
            student = await session.get(Student, concern.student_id)
            guardian = await session.get(Guardian, concern.guardian_id)
            assert student is not None and guardian is not None
            child = next(c for c in await children_of(session, [guardian.id]) if c.student.id == student.id)  # type: ignore[list-item]
            target = await escalation_target(session, concern, child.school_class)
            original = await session.get(Staff, concern.staff_id)
            if target is None and is_counseling(concern):
                office = await office_for(session, concern, child.school_class.school_id)
                if office is not None:
                    outs.append(_counseling_waiting(concern, office, child, original))
            concern.escalated_at = now
            concern.escalated_to_id = target.id if target else None
            session.add(concern)
            first = (await session.exec(select(ConcernMessage).where(
                ConcernMessage.concern_id == concern.id).order_by(ConcernMessage.id))).first()
            if target is not None:
                outs.append(forward(concern, target, role_for_class(target, child.school_class.name), guardian,
                                    child, first.text if first else "", template="concern_escalated",
                                    extra={"original_staff_name": original.name if original else "",
                                           "original_role": role_for_class(original, child.school_class.name)
                                           if original else ""}))
            outs.append(_tell_guardian(concern, guardian, child, target))
        await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled,
                      default_language=default_language)
    return len(overdue)


def _counseling_waiting(concern: Concern, office: Staff, child: Child, holder: Staff | None) -> Outbound:
    """The office's notice of a waiting counseling concern: no words, no family, no child's name;
    not tied to the concern, so a reply to it never reaches the family."""
    return Outbound(
        to=Recipient(phone=office.phone, staff_id=office.id, school_id=office.school_id),
        template="concern_counseling_waiting",
        context={"concern_id": concern.id, "class_name": child.school_class.name,
                 "original_staff_name": holder.name if holder else "",
                 "original_role": role_for_class(holder, child.school_class.name) if holder else ""})


def _tell_guardian(concern: Concern, guardian: Guardian, child: Child, target: Staff | None) -> Outbound:
    return Outbound(
        to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
        template="concern_escalated_guardian", concern_id=concern.id,
        context={"child_name": child.name, "concern_id": concern.id,
                 "staff_name": target.name if target else None,
                 "role": role_for_class(target, child.school_class.name) if target else None})
