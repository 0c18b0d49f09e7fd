"""Queries about people: who a phone belongs to, a guardian's children, a class's staff."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.cache import remember, remembered
from storage.models import (
    ChannelAccount,
    Guardian,
    GuardianStudent,
    RoutingExample,
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


# The queries of every message are built once, with their values bound at each run: SQLAlchemy
# then neither builds the statement nor computes its cache key again (about 40 µs a statement).
_PHONE, _SCHOOL = bindparam("phone"), bindparam("school_id")
_GUARDIANS_BY_PHONE = select(Guardian).where(Guardian.phone == _PHONE).order_by(Guardian.id)
_GUARDIANS_BY_PHONE_IN = select(Guardian).where(Guardian.phone == _PHONE, Guardian.school_id == _SCHOOL) \
    .order_by(Guardian.id)
_STAFF_BY_PHONE = select(Staff).where(Staff.phone == _PHONE).order_by(Staff.id)
_STAFF_BY_PHONE_IN = select(Staff).where(Staff.phone == _PHONE, Staff.school_id == _SCHOOL).order_by(Staff.id)
# A child with its class, the guardian's link and the school (so the school is in the session's
# memory when the concern is opened: no query of its own).
_CHILDREN = (select(Student, SchoolClass, GuardianStudent, School)
             .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
             .join(GuardianStudent, col(GuardianStudent.student_id) == Student.id)
             .join(School, col(School.id) == Student.school_id)
             .where(col(GuardianStudent.guardian_id).in_(bindparam("guardian_ids", expanding=True)),
                    col(Student.left_at).is_(None))
             .order_by(SchoolClass.name, Student.name))
# A school's staff as plain rows (SQLAlchemy Core): every turn that routes reads the whole list
# (forty rows and more), and building an ORM object for each was the turn's largest ORM cost.
_STAFF = Staff.__table__  # type: ignore[attr-defined]
# Each row also carries the school's routing-examples stamp (count, newest id: see
# storage.routing_examples), which the router asks right after the staff's subjects: one query.
_EXAMPLES = RoutingExample.__table__  # type: ignore[attr-defined]
_SCHOOL_STAFF = sa_select(
    _STAFF,
    sa_select(func.count(_EXAMPLES.c.id)).where(_EXAMPLES.c.school_id == _SCHOOL)
    .scalar_subquery().label("routing_examples"),
    sa_select(func.max(_EXAMPLES.c.id)).where(_EXAMPLES.c.school_id == _SCHOOL)
    .scalar_subquery().label("routing_examples_newest"),
).where(_STAFF.c.school_id == _SCHOOL).order_by(_STAFF.c.id)


async def guardians_by_phone(session: AsyncSession, phone: str,
                             school_id: int | None = None) -> list[Guardian]:
    """Guardian rows with this phone (``school_id``: only that school's, as on its own bot)."""
    if school_id is None:
        return list((await session.exec(_GUARDIANS_BY_PHONE, params={"phone": phone})).all())
    return list((await session.exec(_GUARDIANS_BY_PHONE_IN, params={"phone": phone, "school_id": school_id})).all())


async def staff_by_phone(session: AsyncSession, phone: str, school_id: int | None = None) -> list[Staff]:
    if school_id is None:
        return list((await session.exec(_STAFF_BY_PHONE, params={"phone": phone})).all())
    return list((await session.exec(_STAFF_BY_PHONE_IN, params={"phone": phone, "school_id": school_id})).all())


async def children_of(session: AsyncSession, guardian_ids: Sequence[int]) -> list[Child]:
    """Children of these guardian rows, ordered by class then name; a proxy link counts too;
    a child who left the school is no longer routed to."""
    if not guardian_ids:
        return []

    async def load() -> list[Child]:
        result = await session.exec(_CHILDREN, params={"guardian_ids": list(guardian_ids)})
        seen: set[int] = set()
        children = []
        for student, school_class, link, _school in result.all():
            if student.id not in seen:
                seen.add(student.id)  # type: ignore[arg-type]
                children.append(Child(student, school_class, link))
        return children
    # Read once per transaction (a guardian's message asks twice: to route it, to forward it).
    return list(await remembered(session, ("children", tuple(guardian_ids)), load))


async def school_staff(session: AsyncSession, school_id: int) -> list[Staff]:
    """A school's staff by id, read once per transaction (see storage.cache).

    Read-only rows with the attributes of :class:`Staff` (not objects of the session): to change
    a staff member, read them with ``session.get(Staff, id)``."""
    async def load() -> list[Staff]:
        rows = list((await session.exec(_SCHOOL_STAFF, params={"school_id": school_id})).all())  # type: ignore[call-overload]
        if rows:
            remember(session, ("examples_stamp", school_id),
                     (int(rows[0].routing_examples or 0), int(rows[0].routing_examples_newest or 0)))
        return rows
    return list(await remembered(session, ("school_staff", school_id), load))


async def staff_member(session: AsyncSession, school_id: int, staff_id: int) -> Staff | None:
    """One staff member of a school as :func:`school_staff` gives them (no query when the list
    was read in this transaction); another school's by its id."""
    found = next((s for s in await school_staff(session, school_id) if s.id == staff_id), None)
    return found if found is not None else await session.get(Staff, staff_id)


async def school_subjects(session: AsyncSession, school_id: int) -> list[str]:
    """Every subject someone teaches in this school, as written in the roster."""
    return list(_subjects(tuple(staff.subjects for staff in await school_staff(session, school_id))))


@lru_cache(maxsize=256)
def _subjects(written: tuple[str, ...]) -> tuple[str, ...]:
    """The subjects in the staff's ``subjects`` columns (the same columns: the same answer, kept)."""
    subjects: dict[str, str] = {}
    for value in written:
        for subject in split_list(value):
            subjects.setdefault(subject.casefold(), subject)
    return tuple(sorted(subjects.values()))


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


_LINKED_ORDER = (col(ChannelAccount.preferred).desc(), col(ChannelAccount.last_seen_at).desc(),
                 col(ChannelAccount.id).desc())


_LINKED = select(ChannelAccount).where(ChannelAccount.phone == _PHONE).order_by(*_LINKED_ORDER)
_LINKED_TO_ANY = select(ChannelAccount).where(col(ChannelAccount.phone).in_(bindparam("phones", expanding=True))) \
    .order_by(*_LINKED_ORDER)


async def linked_accounts(session: AsyncSession, phone: str) -> list[ChannelAccount]:
    """Accounts linked to this phone: the one they asked for, then the most recently active."""
    async def load() -> list[ChannelAccount]:
        return list((await session.exec(_LINKED, params={"phone": phone})).all())
    return list(await remembered(session, ("linked_accounts", phone), load))


async def prefetch_linked_accounts(session: AsyncSession, phones: Iterable[str]) -> None:
    """Read the linked accounts of many phones at once (an announcement's thousand families), so
    :func:`linked_accounts` answers each from memory for the rest of the transaction."""
    wanted = sorted(set(phones))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found: dict[str, list[ChannelAccount]] = {phone: [] for phone in chunk}
        for account in (await session.exec(_LINKED_TO_ANY, params={"phones": chunk})).all():
            found[account.phone].append(account)  # type: ignore[index]
        for phone, accounts in found.items():
            remember(session, ("linked_accounts", phone), accounts)


NISN = re.compile(r"(?:nisn\s*:?\s*)?(\d{5,})")  # "0071000001", "NISN 0071000001", "nisn: 0071..."


async def students_named(session: AsyncSession, school_ids: Iterable[int], text: str,
                         limit: int = 50) -> list[tuple[Student, SchoolClass]]:
    """The one way staff name a student in chat: by NISN, or by name — every typed word in it.

    Students of the given schools, by class then name; several when the name is shared (the
    caller asks which one), none when nothing matches.
    """
    query = select(Student, SchoolClass).join(SchoolClass, col(SchoolClass.id) == Student.class_id).where(
        col(Student.school_id).in_(list(school_ids)))
    nisn = NISN.fullmatch(text.casefold().replace(" ", ""))
    if nisn:
        query = query.where(Student.nisn == nisn[1])
    else:
        words = list(dict.fromkeys(re.findall(r"\w+", text)))
        if not words or len(words) > 12:
            return []  # a name is a few words; a pasted paragraph is not one (nor a 1,000-term query)
        for word in words:
            query = query.where(col(Student.name).icontains(word))
    rows = (await session.exec(query.order_by(SchoolClass.name, Student.name).limit(limit))).all()
    return [(student, school_class) for student, school_class in rows]


async def find_people(session: AsyncSession, school_id: int, text: str, *,
                      limit: int = 50) -> tuple[list[tuple[Student, SchoolClass]], list[Guardian]]:
    """Students and guardians of one school whose name contains ``text`` or whose NISN starts
    with it (a guardian also by their child's); current students first, by name."""
    needle = text.strip().casefold()
    students = [(s, c) for s, c in (await session.exec(
        select(Student, SchoolClass).join(SchoolClass, col(SchoolClass.id) == Student.class_id)
        .where(Student.school_id == school_id).order_by(Student.name))).all()
        if needle in s.name.casefold() or s.nisn.startswith(needle)]
    student_ids = {s.id for s, _ in students}
    rows = (await session.exec(select(Guardian, GuardianStudent.student_id).join(
        GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id, isouter=True)
        .where(Guardian.school_id == school_id, col(Guardian.erased_at).is_(None))
        .order_by(Guardian.name))).all()
    guardians: dict[int, Guardian] = {}
    for guardian, student_id in rows:
        if needle in guardian.name.casefold() or student_id in student_ids:
            guardians.setdefault(guardian.id, guardian)  # type: ignore[arg-type]
    students.sort(key=lambda pair: (pair[0].left_at is not None, pair[0].name))
    return students[:limit], list(guardians.values())[:limit]
