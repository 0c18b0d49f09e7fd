"""The counselor's case book (buku kasus) of one student, and the month's BK report.

One time-ordered list per student: counseling concerns with their messages (violence reports
included), summons with their level and outcome, home visits, agreements and their check-in
answers, and hand-overs. ``jembatan report casebook NISN``, the dashboard page and the PDF all
read ``casebook``. Its words are confidential: callers decide who may read it
(``may_read_casebook``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Agreement,
    Concern,
    ConcernHandover,
    ConcernMessage,
    Guardian,
    HomeVisit,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingLetter,
    MeetingStudent,
    OutboxMessage,
    School,
    SchoolClass,
    Staff,
    Student,
)
from storage.people import covers_class
from storage.summons_levels import SUMMONS_TYPE, summons_of_student

# The counseling group of handlers.classifier.GROUPS (kept equal by a test), and violence reports.
COUNSELING_CATEGORIES = ("bullying", "behaviour", "emotions", "friendships", "family", "motivation",
                         "study_career")
VIOLENCE_REPORT = "violence_report"
KINDS = ("concern", "summons", "home_visit", "agreement", "check_in", "handover")


class UnknownStudent(LookupError):
    """No student with that NISN (in that school)."""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def may_read_casebook(staff: Staff, school_class: SchoolClass) -> bool:
    """The counselors covering the class and the principal; nobody else (confidential)."""
    if staff.school_id != school_class.school_id:
        return False
    return staff.role == "principal" or (staff.role == "counselor" and covers_class(staff, school_class))


async def find_student(session: AsyncSession, nisn: str,
                       school_id: int | None = None) -> tuple[Student, SchoolClass, School]:
    query = select(Student, SchoolClass, School).join(SchoolClass, col(SchoolClass.id) == Student.class_id).join(
        School, col(School.id) == Student.school_id).where(Student.nisn == nisn.strip())
    if school_id is not None:
        query = query.where(Student.school_id == school_id)
    rows = (await session.exec(query)).all()
    if len(rows) != 1:
        raise UnknownStudent(f"no student with NISN {nisn!r}" if not rows
                             else f"NISN {nisn!r} is in several schools")
    return rows[0]


async def _handovers(session: AsyncSession, student_id: int) -> list[dict[str, Any]]:
    """Every move of the student's concerns to another staff member (a colleague's `alihkan` or
    the family's "wrong person" choice), as case-book entries; names and roles, never words."""
    moves = (await session.exec(select(ConcernHandover).join(
        Concern, col(Concern.id) == ConcernHandover.concern_id).where(Concern.student_id == student_id)
        .order_by(ConcernHandover.at, ConcernHandover.id))).all()
    ids = {m.from_staff_id for m in moves} | {m.to_staff_id for m in moves}
    names = {s.id: s.name for s in (await session.exec(select(Staff).where(col(Staff.id).in_(ids)))).all()} \
        if ids else {}
    return [{"at": _iso(m.at), "kind": "handover", "concern_id": m.concern_id, "source": m.source,
             "category": m.category, "from": names.get(m.from_staff_id), "to": names.get(m.to_staff_id)}
            for m in moves]


async def casebook(session: AsyncSession, nisn: str, *, school_id: int | None = None) -> dict[str, Any]:
    """The case book as the contract's JSON: ``{"student": {...}, "entries": [...]}``."""
    student, school_class, school = await find_student(session, nisn, school_id)
    staff = {s.id: s for s in (await session.exec(select(Staff).where(Staff.school_id == school.id))).all()}

    def name(staff_id: int | None) -> str | None:
        return staff[staff_id].name if staff_id in staff else None

    entries: list[dict[str, Any]] = []
    concerns = (await session.exec(select(Concern).where(
        Concern.student_id == student.id,
        or_(col(Concern.category).in_((*COUNSELING_CATEGORIES, VIOLENCE_REPORT)),
            Concern.staff_role == "counselor")).order_by(Concern.created_at))).all()
    for concern in concerns:
        guardian = await session.get(Guardian, concern.guardian_id)
        messages = (await session.exec(select(ConcernMessage).where(
            ConcernMessage.concern_id == concern.id).order_by(ConcernMessage.created_at, ConcernMessage.id))).all()
        entries.append({
            "at": _iso(concern.created_at), "kind": "concern", "id": concern.id, "category": concern.category,
            "status": concern.status, "staff": name(concern.staff_id), "escalated_to": name(concern.escalated_to_id),
            "guardian": None if concern.reporter_hidden else (guardian.name if guardian else None),
            "reporter_hidden": concern.reporter_hidden,
            "case_number": (f"LAP-{concern.created_at.astimezone(ZoneInfo(school.timezone)).year}-{concern.id:04d}"
                            if concern.category == VIOLENCE_REPORT and concern.created_at else None),
            "closed_at": _iso(concern.closed_at),
            "messages": [{"at": _iso(m.created_at), "author": m.author, "staff": name(m.staff_id), "text": m.text,
                          "attachments": len(m.media)} for m in messages],
        })
    agreements = {a.id: a for a in (await session.exec(select(Agreement).where(
        Agreement.student_id == student.id).order_by(Agreement.created_at))).all()}
    summons = await summons_of_student(session, student)
    for n, meeting in enumerate(summons):
        # An agreement belongs to a summons when it names it, or was made after it and before the next.
        until = summons[n + 1].created_at if n + 1 < len(summons) else None
        agreed = any(a.meeting_id == meeting.id or (
            a.meeting_id is None and a.created_at and meeting.created_at and a.created_at >= meeting.created_at
            and (until is None or a.created_at < until)) for a in agreements.values())
        entries.append(await _summons_entry(session, meeting, student, name, agreed))
    visits = (await session.exec(select(HomeVisit).where(HomeVisit.student_id == student.id))).all()
    visit_agreements = {v.agreement_id: v.id for v in visits if v.agreement_id}
    for visit in visits:
        entries.append({
            "at": _iso(visit.created_at), "kind": "home_visit", "id": visit.id, "date": visit.visited_on.isoformat(),
            "staff": name(visit.staff_id), "met": visit.met, "discussed": visit.discussed, "agreed": visit.agreed,
            "agreement_id": visit.agreement_id})
    for agreement in agreements.values():
        entries.append({
            "at": _iso(agreement.created_at), "kind": "agreement", "id": agreement.id, "text": agreement.text,
            "staff": name(agreement.staff_id), "meeting_id": agreement.meeting_id,
            "home_visit_id": visit_agreements.get(agreement.id), "check_in_at": _iso(agreement.check_in_at),
            "asked_at": _iso(agreement.asked_at)})
        if agreement.answered_at is not None:
            guardian = await session.get(Guardian, agreement.answered_by_guardian_id) \
                if agreement.answered_by_guardian_id else None
            entries.append({"at": _iso(agreement.answered_at), "kind": "check_in", "agreement_id": agreement.id,
                            "answer": agreement.answer, "note": agreement.note,
                            "guardian": guardian.name if guardian else None})
    entries += await _handovers(session, student.id)  # type: ignore[arg-type]
    order = {kind: n for n, kind in enumerate(KINDS)}
    entries.sort(key=lambda e: (e["at"] or "", order.get(e["kind"], 9)))
    return {"student": {"nisn": student.nisn, "name": student.name, "class": school_class.name},
            "school": {"code": school.code, "name": school.name, "timezone": school.timezone},
            "entries": entries}


async def _summons_entry(session: AsyncSession, meeting: Meeting, student: Student, name: Any,
                         agreed: bool) -> dict[str, Any]:
    """A summons with its level and outcome: read, answered, attended, agreement; letters printed."""
    from storage.models import MeetingSlot

    slot = (await session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == meeting.id)
                               .order_by(MeetingSlot.starts_at))).first()
    family = (await session.exec(select(MeetingFamily).join(
        MeetingStudent, col(MeetingStudent.family_id) == MeetingFamily.id).where(
        MeetingStudent.meeting_id == meeting.id, MeetingStudent.student_id == student.id))).first()
    deliveries = (await session.exec(select(OutboxMessage.delivery, OutboxMessage.status).join(
        MeetingInvitation, col(MeetingInvitation.outbox_id) == OutboxMessage.id).where(
        MeetingInvitation.meeting_id == meeting.id))).all()
    booked = await session.get(MeetingSlot, family.slot_id) if family and family.slot_id else None
    letters = (await session.exec(select(MeetingLetter).where(
        MeetingLetter.meeting_id == meeting.id).order_by(MeetingLetter.seq))).all()
    return {
        "at": _iso(meeting.created_at), "kind": "summons", "meeting_id": meeting.id, "level": meeting.summons_level,
        "title": meeting.title, "reason": meeting.reason, "staff": name(meeting.organizer_staff_id),
        "status": meeting.status, "location": meeting.location,
        "starts_at": _iso(booked.starts_at if booked else slot.starts_at if slot else None),
        "outcome": {
            "invited": bool(deliveries),
            "delivered": any(d in ("delivered", "read") or s == "sent" for d, s in deliveries),
            "read": any(d == "read" for d, _ in deliveries),
            "answered": family.response if family else None,
            "attended": bool(family and family.attended),
            "agreement": agreed,
        },
        "letters": [{"number": letter.number, "printed_at": _iso(letter.printed_at)} for letter in letters],
    }


# ---------------------------------------------------------------- the month's BK report


@dataclass
class MonthlyReport:
    """The principal's monthly guidance-and-counseling report for one school."""

    school: str
    month: str  # YYYY-MM
    concerns: dict[str, int] = field(default_factory=dict)  # per category
    reports: int = 0  # violence reports (lapor)
    reports_escalated: int = 0
    summons: dict[int, int] = field(default_factory=dict)  # per level
    visits: int = 0
    agreements: int = 0
    check_ins_due: int = 0
    check_ins_answered: int = 0

    def rows(self) -> list[tuple[str, str, int]]:
        """(section, item, count) rows for CSV and tables."""
        out = [("concerns", category, n) for category, n in sorted(self.concerns.items())]
        out += [("violence_reports", "received", self.reports), ("violence_reports", "escalated", self.reports_escalated)]
        out += [("summons", f"level_{level}", n) for level, n in sorted(self.summons.items())]
        out += [("home_visits", "recorded", self.visits), ("agreements", "made", self.agreements),
                ("check_ins", "due", self.check_ins_due), ("check_ins", "answered", self.check_ins_answered)]
        return out


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """UTC start and end of a calendar month ``YYYY-MM`` in the school's zone; ValueError if not one."""
    year, number = (int(part) for part in month.split("-"))
    start = date(year, number, 1)
    end = date(year + number // 12, number % 12 + 1, 1)
    zone = ZoneInfo(tz)
    return (datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC),
            datetime.combine(end, time(0), tzinfo=zone).astimezone(UTC))


async def monthly_report(session: AsyncSession, school: School, month: str) -> MonthlyReport:
    start, end = month_bounds(month, school.timezone)
    report = MonthlyReport(school=school.name, month=month)
    concerns = (await session.exec(select(Concern).where(
        Concern.school_id == school.id, col(Concern.created_at) >= start, col(Concern.created_at) < end,
        or_(col(Concern.category).in_((*COUNSELING_CATEGORIES, VIOLENCE_REPORT)),
            Concern.staff_role == "counselor")))).all()
    for concern in concerns:
        if concern.category == VIOLENCE_REPORT:
            report.reports += 1
            report.reports_escalated += concern.escalated_at is not None
        else:
            report.concerns[concern.category] = report.concerns.get(concern.category, 0) + 1
    summons = (await session.exec(select(Meeting).where(
        Meeting.school_id == school.id, Meeting.type == SUMMONS_TYPE, Meeting.status != "cancelled",
        col(Meeting.created_at) >= start, col(Meeting.created_at) < end))).all()
    for meeting in summons:
        level = meeting.summons_level or 1
        report.summons[level] = report.summons.get(level, 0) + 1
    first_day, last_day = start.astimezone(ZoneInfo(school.timezone)).date(), end.astimezone(
        ZoneInfo(school.timezone)).date()
    report.visits = len((await session.exec(select(HomeVisit.id).where(
        HomeVisit.school_id == school.id, col(HomeVisit.visited_on) >= first_day,
        col(HomeVisit.visited_on) < last_day))).all())
    report.agreements = len((await session.exec(select(Agreement.id).where(
        Agreement.school_id == school.id, col(Agreement.created_at) >= start, col(Agreement.created_at) < end))).all())
    due = (await session.exec(select(Agreement).where(
        Agreement.school_id == school.id, col(Agreement.check_in_at) >= start, col(Agreement.check_in_at) < end))).all()
    report.check_ins_due = len(due)
    report.check_ins_answered = sum(1 for a in due if a.answered_at is not None)
    return report
