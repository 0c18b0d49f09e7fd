"""Family enrolment data: the codes printed on letters, the guard against guessing them, who
enrolled for which student, and tying an enrolled person to the roster's guardian row.

A code is 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), printed as
``ABCD-EFGH`` and accepted however it is typed (case, spaces, dashes). Only its hash is stored.
It belongs to one student for 30 days and enrols each of the roster's guardians of that student
once, plus one person the roster does not list ("Lainnya"), who the homeroom teacher confirms.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    CodeAttempt,
    Enrolment,
    FamilyCode,
    Guardian,
    GuardianStudent,
    SchoolClass,
    Staff,
    Student,
)
from storage.phones import has_phone, placeholder_phone

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_DAYS = 30
GUESS_LIMIT = 5  # wrong codes from one sender within GUESS_WINDOW...
GUESS_WINDOW = timedelta(hours=1)
GUESS_BLOCK = timedelta(hours=1)  # ...and codes from that sender are refused this long
CONFIRM_ESCALATE_AFTER = timedelta(days=2)  # a confirmation nobody answered goes to the office
OTHERS_PER_CODE = 1  # people the roster does not list who may enrol with one code
ACTIVE = ("pending", "linked")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch not in " -_.")


def display_code(code: str) -> str:
    """``ABCDEFGH`` -> ``ABCD-EFGH``: easier to copy by hand."""
    code = normalize_code(code)
    return f"{code[:4]}-{code[4:]}"


def looks_like_family_code(text: str) -> bool:
    code = normalize_code(text)
    return len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)


def hash_code(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


async def issue_family_codes(session: AsyncSession, school_id: int, students: Sequence[Student],
                             *, now: datetime) -> list[tuple[Student, str]]:
    """A fresh code per student; the student's earlier codes stop working (letters reprinted)."""
    ids = [s.id for s in students]
    if ids:
        for old in (await session.exec(select(FamilyCode).where(
                col(FamilyCode.student_id).in_(ids), col(FamilyCode.revoked_at).is_(None)))).all():
            old.revoked_at = now
            session.add(old)
    issued = []
    for student in students:
        code = new_code()
        session.add(FamilyCode(school_id=school_id, student_id=student.id, code_hash=hash_code(code),  # type: ignore[arg-type]
                               created_at=now, expires_at=now + timedelta(days=CODE_DAYS)))
        issued.append((student, code))
    await session.flush()
    return issued


@dataclass
class CodeCheck:
    """What a typed code turned out to be."""

    status: str  # ok | unknown | expired | replaced | used
    code: FamilyCode | None = None
    student: Student | None = None
    school_class: SchoolClass | None = None


async def check_family_code(session: AsyncSession, text: str, *, now: datetime) -> CodeCheck:
    code = (await session.exec(select(FamilyCode).where(FamilyCode.code_hash == hash_code(text)))).first()
    if code is None:
        return CodeCheck("unknown")
    if code.revoked_at is not None:
        return CodeCheck("replaced", code)
    if code.expires_at is not None and code.expires_at <= now:
        return CodeCheck("expired", code)
    student = await session.get(Student, code.student_id)
    if student is None or student.left_at is not None:
        return CodeCheck("expired", code)
    school_class = await session.get(SchoolClass, student.class_id)
    if not await open_choices(session, student.id):  # type: ignore[arg-type]
        return CodeCheck("used", code, student, school_class)
    return CodeCheck("ok", code, student, school_class)


async def guesses_blocked(session: AsyncSession, sender: str, *, now: datetime) -> bool:
    """Whether this sender typed GUESS_LIMIT wrong codes within an hour, less than an hour ago."""
    rows = (await session.exec(select(CodeAttempt.at).where(
        CodeAttempt.sender == sender, col(CodeAttempt.ok).is_(False),
        CodeAttempt.at >= now - GUESS_WINDOW - GUESS_BLOCK).order_by(col(CodeAttempt.at)))).all()
    times = [at for at in rows if at is not None]
    for i in range(GUESS_LIMIT - 1, len(times)):
        if times[i] - times[i - GUESS_LIMIT + 1] <= GUESS_WINDOW and now < times[i] + GUESS_BLOCK:
            return True
    return False


def record_attempt(session: AsyncSession, sender: str, *, ok: bool, now: datetime) -> None:
    session.add(CodeAttempt(sender=sender, ok=ok, at=now))


async def roster_guardians(session: AsyncSession, student_id: int) -> list[tuple[GuardianStudent, Guardian]]:
    """The student's guardians as the roster lists them: ayah, ibu, wali, then the others."""
    rows = (await session.exec(select(GuardianStudent, Guardian).join(
        Guardian, col(Guardian.id) == GuardianStudent.guardian_id).where(
        GuardianStudent.student_id == student_id))).all()
    order = {"ayah": 0, "ibu": 1, "wali": 2}
    return sorted(rows, key=lambda pair: (order.get(pair[0].relation, 3), pair[1].name))


async def open_choices(session: AsyncSession, student_id: int) -> list[tuple[str, Guardian | None]]:
    """Who may still enrol for this student: (relation, roster guardian) not yet enrolled, and
    ("other", None) while a person the roster lacks may still enrol."""
    taken = (await session.exec(select(Enrolment).where(
        Enrolment.student_id == student_id, col(Enrolment.status).in_(ACTIVE)))).all()
    taken_ids = {e.roster_guardian_id for e in taken if e.roster_guardian_id is not None}
    others = sum(1 for e in taken if e.roster_guardian_id is None)
    choices: list[tuple[str, Guardian | None]] = [
        (link.relation, guardian) for link, guardian in await roster_guardians(session, student_id)
        if guardian.id not in taken_ids]
    if others < OTHERS_PER_CODE:
        choices.append(("other", None))
    return choices


async def students_with_family_phone(session: AsyncSession, phone: str) -> list[Student]:
    return list((await session.exec(select(Student).where(
        Student.family_phone == phone, col(Student.left_at).is_(None)).order_by(Student.id))).all())


async def link_guardian(session: AsyncSession, *, student: Student, roster_guardian: Guardian | None,
                        relation: str, name: str, phone: str | None, consent_at: datetime,
                        consent_channel: str) -> Guardian:
    """The guardian row the enrolled person is from now on, with this student linked and their
    consent recorded. ``phone`` is the number (or key) the person is known by, when known.

    A roster guardian without a number takes the person's number; a person whose number already
    belongs to a guardian of the school (a sibling's parent) stays that one guardian, linked to
    this student too, and the roster's numberless row for this student is replaced by it."""
    school_id = student.school_id
    known = None
    if phone:
        known = (await session.exec(select(Guardian).where(
            Guardian.school_id == school_id, Guardian.phone == phone))).first()
    if roster_guardian is not None and (known is None or known.id == roster_guardian.id):
        guardian = roster_guardian
        if phone and guardian.phone != phone:
            guardian.phone = phone
    elif known is not None:
        guardian = known
        if roster_guardian is not None and not has_phone(roster_guardian.phone):
            old = (await session.exec(select(GuardianStudent).where(
                GuardianStudent.guardian_id == roster_guardian.id,
                GuardianStudent.student_id == student.id))).first()
            if old is not None:
                await session.delete(old)
                await session.flush()
    else:
        guardian = Guardian(school_id=school_id, name=name, language="id",
                            phone=phone or placeholder_phone(student.nisn, f"{relation}-{secrets.token_hex(4)}"))
    if guardian.consent_at is None or guardian.withdrawn_at is not None:
        guardian.consent_at, guardian.consent_channel = consent_at, consent_channel
        guardian.withdrawn_at = None
    session.add(guardian)
    await session.flush()
    link = (await session.exec(select(GuardianStudent).where(
        GuardianStudent.guardian_id == guardian.id, GuardianStudent.student_id == student.id))).first()
    if link is None:
        session.add(GuardianStudent(school_id=school_id, guardian_id=guardian.id,  # type: ignore[arg-type]
                                    student_id=student.id, relation=relation))  # type: ignore[arg-type]
        await session.flush()
    return guardian


async def confirmers(session: AsyncSession, student: Student, *, escalated: bool) -> list[Staff]:
    """Who confirms an enrolment: the class's homeroom teacher; after two days without an
    answer (or without a homeroom teacher) the office: admins, else the principal."""
    school_class = await session.get(SchoolClass, student.class_id)
    staff = list((await session.exec(select(Staff).where(
        Staff.school_id == student.school_id).order_by(Staff.id))).all())
    homeroom = [s for s in staff if school_class and s.homeroom_class == school_class.name]
    if homeroom and not escalated:
        return homeroom[:1]
    office = [s for s in staff if s.role == "admin"] or [s for s in staff if s.role == "principal"]
    return office


async def may_confirm(session: AsyncSession, staff: Staff, enrolment: Enrolment) -> bool:
    student = await session.get(Student, enrolment.student_id)
    if student is None or staff.school_id != student.school_id:
        return False
    school_class = await session.get(SchoolClass, student.class_id)
    return (school_class is not None and staff.homeroom_class == school_class.name) \
        or staff.role in ("admin", "principal")


async def unanswered_enrolments(session: AsyncSession, *, now: datetime, lock: bool = False) -> list[Enrolment]:
    """Pending enrolments older than two days and not yet sent to the office."""
    query = select(Enrolment).where(
        Enrolment.status == "pending", col(Enrolment.escalated_at).is_(None),
        col(Enrolment.created_at) <= now - CONFIRM_ESCALATE_AFTER).order_by(col(Enrolment.id))
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list((await session.exec(query)).all())
