"""Queries about people: who a phone belongs to, a guardian's children, a class's staff."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    ChannelAccount,
    Guardian,
    GuardianStudent,
    School,
    SchoolClass,
    Staff,
    Student,
)


@dataclass(frozen=True)
class Child:
    """A guardian's child with what the conversation needs to name and route it."""

    student: Student
    school_class: SchoolClass
    link: GuardianStudent

    @property
    def name(self) -> str:
        return self.student.name

    @property
    def first_name(self) -> str:
        return self.student.name.split()[0]


async def guardians_by_phone(session: AsyncSession, phone: str,
                             school_id: int | None = None) -> list[Guardian]:
    """Guardian rows with this phone (``school_id``: only that school's, as on its own bot)."""
    query = select(Guardian).where(Guardian.phone == phone)
    if school_id is not None:
        query = query.where(Guardian.school_id == school_id)
    return list((await session.exec(query.order_by(Guardian.id))).all())


async def staff_by_phone(session: AsyncSession, phone: str, school_id: int | None = None) -> list[Staff]:
    query = select(Staff).where(Staff.phone == phone)
    if school_id is not None:
        query = query.where(Staff.school_id == school_id)
    return list((await session.exec(query.order_by(Staff.id))).all())


async def children_of(session: AsyncSession, guardian_ids: Sequence[int]) -> list[Child]:
    """Children of these guardian rows, ordered by class then name; a proxy link counts too."""
    if not guardian_ids:
        return []
    result = await session.exec(
        select(Student, SchoolClass, GuardianStudent)
        .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
        .join(GuardianStudent, col(GuardianStudent.student_id) == Student.id)
        .where(col(GuardianStudent.guardian_id).in_(guardian_ids))
        .order_by(SchoolClass.name, Student.name)
    )
    seen: set[int] = set()
    children = []
    for student, school_class, link in result.all():
        if student.id not in seen:
            seen.add(student.id)  # type: ignore[arg-type]
            children.append(Child(student, school_class, link))
    return children


async def school_staff(session: AsyncSession, school_id: int) -> list[Staff]:
    result = await session.exec(select(Staff).where(Staff.school_id == school_id).order_by(Staff.id))
    return list(result.all())


async def school_subjects(session: AsyncSession, school_id: int) -> list[str]:
    """Every subject someone teaches in this school, as written in the roster."""
    subjects: dict[str, str] = {}
    for staff in await school_staff(session, school_id):
        for subject in split_list(staff.subjects):
            subjects.setdefault(subject.casefold(), subject)
    return sorted(subjects.values())


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def covers_class(staff: Staff, school_class: SchoolClass) -> bool:
    """Whether a staff member's ``classes`` names this class or its grade."""
    for item in split_list(staff.classes):
        if item.casefold() == school_class.name.casefold() or item == str(school_class.grade):
            return True
    return False


async def schools(session: AsyncSession, ids: Iterable[int] | None = None) -> list[School]:
    query = select(School).order_by(School.id)
    if ids is not None:
        query = query.where(col(School.id).in_(list(ids)))
    return list((await session.exec(query)).all())


async def linked_accounts(session: AsyncSession, phone: str) -> list[ChannelAccount]:
    """Accounts linked to this phone: the one they asked for, then the most recently active."""
    result = await session.exec(
        select(ChannelAccount)
        .where(ChannelAccount.phone == phone)
        .order_by(col(ChannelAccount.preferred).desc(), col(ChannelAccount.last_seen_at).desc(),
                  col(ChannelAccount.id).desc())
    )
    return list(result.all())
