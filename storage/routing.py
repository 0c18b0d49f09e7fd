"""Who answers for a class: its homeroom teacher, counselor, subject teachers, the office."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import SchoolClass, Staff
from storage.people import covers_class, school_staff, split_list


async def homeroom_teacher(session: AsyncSession, school_id: int, class_name: str) -> Staff | None:
    """The wali kelas of a class."""
    return next((s for s in await school_staff(session, school_id) if s.homeroom_class == class_name), None)


async def counselor_for(session: AsyncSession, school_class: SchoolClass) -> Staff | None:
    """The guru BK covering a class (by class name or grade); any counselor of the school otherwise."""
    counselors = [s for s in await school_staff(session, school_class.school_id) if s.role == "counselor"]
    for counselor in counselors:
        if covers_class(counselor, school_class):
            return counselor
    return counselors[0] if counselors else None


async def subject_teacher(session: AsyncSession, school_class: SchoolClass, subject: str) -> Staff | None:
    """The teacher of ``subject`` in this class."""
    wanted = subject.casefold()
    for staff in await school_staff(session, school_class.school_id):
        if staff.role == "teacher" and covers_class(staff, school_class) and \
                wanted in (s.casefold() for s in split_list(staff.subjects)):
            return staff
    return None


async def first_with_role(session: AsyncSession, school_id: int, role: str) -> Staff | None:
    return next((s for s in await school_staff(session, school_id) if s.role == role), None)


def role_for_class(staff: Staff, class_name: str) -> str:
    """How a staff member stands to a class: wali kelas, guru BK, subject teacher, or their office."""
    if staff.homeroom_class == class_name:
        return "homeroom_teacher"
    return {"counselor": "counselor", "teacher": "subject_teacher"}.get(staff.role, staff.role)
