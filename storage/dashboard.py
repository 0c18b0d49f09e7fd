"""Dashboard queries: reach, concerns, meetings, broadcasts and the audit log, seen through a scope.

A scope is what a staff member may see: a teacher their classes, a counselor the grades (or
classes) they cover, the principal and admins the whole school. Every function answers one page
in a few set-based queries (never one per row) and returns plain dataclasses; the web layer
turns them into tables and charts. Meeting participation counts families exactly as
``storage.reports`` does, so the dashboard and ``jembatan report participation`` agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.meetings import AudienceError, parse_audience
from storage.models import (
    ConcernHandover,
    Agreement,
    AuditEntry,
    Broadcast,
    Concern,
    ConcernMessage,
    Enrolment,
    Guardian,
    GuardianStudent,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    MeetingStudent,
    OutboxMessage,
    SchoolClass,
    Staff,
    Student,
)
from storage.people import covers_class
from storage.reach import accounts_of, is_reachable, usable_channels
from storage.reports import ParticipationRow, _count, _FamilyFacts  # the report's own counting

WHOLE_SCHOOL_ROLES = ("principal", "admin")
SCHOOL_YEAR_STARTS = 7  # July: the Indonesian school year (tahun ajaran) runs July to June


# ---------------------------------------------------------------- scope and periods


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    grade: int


@dataclass(frozen=True)
class Scope:
    """What one staff member may see."""

    school_id: int
    staff_id: int
    role: str
    whole_school: bool
    classes: tuple[ClassInfo, ...]  # by grade, then name

    @property
    def class_ids(self) -> set[int]:
        return {c.id for c in self.classes}

    def covers(self, class_id: int) -> bool:
        return any(c.id == class_id for c in self.classes)

    def class_named(self, name: str) -> ClassInfo | None:
        return next((c for c in self.classes if c.name == name), None)


async def scope_for(session: AsyncSession, staff: Staff) -> Scope:
    """A teacher's homeroom and taught classes, a counselor's grades, or the whole school."""
    rows = (await session.exec(select(SchoolClass).where(SchoolClass.school_id == staff.school_id)
                               .order_by(SchoolClass.grade, SchoolClass.name))).all()
    whole = staff.role in WHOLE_SCHOOL_ROLES
    mine = [c for c in rows if whole or c.name == staff.homeroom_class or covers_class(staff, c)]
    return Scope(staff.school_id, staff.id, staff.role, whole,  # type: ignore[arg-type]
                 tuple(ClassInfo(c.id, c.name, c.grade) for c in mine))  # type: ignore[arg-type]


def school_year_of(moment: datetime, tz: str) -> int:
    """2026 for any day from July 2026 to June 2027 (tahun ajaran 2026/2027)."""
    local = moment.astimezone(ZoneInfo(tz))
    return local.year if local.month >= SCHOOL_YEAR_STARTS else local.year - 1


def school_year_bounds(year: int, tz: str) -> tuple[datetime, datetime]:
    """The first instant of July ``year`` and of July ``year + 1``, school time."""
    zone = ZoneInfo(tz)
    return (datetime(year, SCHOOL_YEAR_STARTS, 1, tzinfo=zone),
            datetime(year + 1, SCHOOL_YEAR_STARTS, 1, tzinfo=zone))


def week_bounds(moment: datetime, tz: str) -> tuple[datetime, datetime]:
    """Monday 00:00 of this school week and of the next one."""
    local = moment.astimezone(ZoneInfo(tz)).date()
    monday = local - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0), tzinfo=ZoneInfo(tz))
    return start, start + timedelta(days=7)


def _in_scope(scope: Scope, column: object) -> object:
    """A WHERE clause keeping the rows of the scope's classes."""
    return col(column).in_(sorted(scope.class_ids))  # type: ignore[call-overload]


# ---------------------------------------------------------------- reach


@dataclass
class GuardianReach:
    name: str
    relation: str
    proxy: bool
    opted_out: bool
    channels: list[str]  # usable chat channels: telegram, whatsapp, sms (simulator when it is on)
    blocked: bool  # has accounts, but every one refuses delivery
    reachable: bool = False  # storage.reach: an account, or (simulator) a number in the roster


@dataclass
class FamilyReach:
    """One student's family: are they reached by chat?"""

    student_id: int
    student_name: str
    nisn: str
    school_class: ClassInfo
    guardians: list[GuardianReach] = field(default_factory=list)
    waiting: bool = False  # someone enrolled with the letter's code and waits for the wali kelas

    @property
    def linked(self) -> bool:
        return any(g.channels for g in self.guardians)

    @property
    def reachable(self) -> bool:
        """Messages reach someone of this family (storage.reach), linked or not."""
        return any(g.reachable for g in self.guardians)

    @property
    def opted_out(self) -> bool:
        return bool(self.guardians) and all(g.opted_out for g in self.guardians)

    @property
    def unreachable_reason(self) -> str | None:
        """None when reached; otherwise waiting, no_guardian, blocked or no_account."""
        if self.reachable:
            return None
        if self.waiting:
            return "waiting"
        if not self.guardians:
            return "no_guardian"
        return "blocked" if any(g.blocked for g in self.guardians) else "no_account"


@dataclass
class ClassReach:
    school_class: ClassInfo
    families: int = 0
    linked: int = 0
    opted_out: int = 0
    unreachable: int = 0
    reached: int = 0  # storage.reach: linked, or (simulator) a number in the roster
    linked_opted_out: int = 0  # reached, but every guardian stopped announcements

    def share(self, count: int) -> float:
        return count / self.families if self.families else 0.0


async def reach(session: AsyncSession, scope: Scope, *, simulator_enabled: bool,
                class_id: int | None = None) -> tuple[list[ClassReach], list[FamilyReach]]:
    """Per class: families linked, opted out and unreachable; and every family, by class and name."""
    classes = [c for c in scope.classes if class_id is None or c.id == class_id]
    by_id = {c.id: c for c in classes}
    if not classes:
        return [], []
    students = (await session.exec(
        select(Student.id, Student.name, Student.nisn, Student.class_id)
        .where(Student.school_id == scope.school_id, col(Student.class_id).in_(list(by_id)),
               col(Student.left_at).is_(None))
        .order_by(Student.name))).all()
    families = {sid: FamilyReach(sid, name, nisn, by_id[cid]) for sid, name, nisn, cid in students}
    for student_id in (await session.exec(select(Enrolment.student_id).where(
            Enrolment.school_id == scope.school_id, Enrolment.status == "pending"))).all():
        if student_id in families:
            families[student_id].waiting = True
    links = (await session.exec(
        select(GuardianStudent.student_id, GuardianStudent.relation, GuardianStudent.proxy, Guardian.name,
               Guardian.phone, Guardian.opted_out)
        .join(Guardian, col(Guardian.id) == GuardianStudent.guardian_id)
        .join(Student, col(Student.id) == GuardianStudent.student_id)
        .where(Student.school_id == scope.school_id, col(Student.class_id).in_(list(by_id)))
        .order_by(GuardianStudent.proxy, Guardian.name))).all()
    accounts = await accounts_of(session, {phone for *_, phone, _ in links})
    for student_id, relation, proxy, name, phone, opted_out in links:
        if student_id not in families:
            continue  # a student who left
        held = accounts.get(phone, [])
        usable = usable_channels(held, simulator_enabled=simulator_enabled)
        families[student_id].guardians.append(GuardianReach(
            name, relation, proxy, opted_out, usable, blocked=any(b for _, b in held) and not usable,
            reachable=is_reachable(phone, held, simulator_enabled=simulator_enabled)))
    rows = {c.id: ClassReach(c) for c in classes}
    for family in families.values():
        row = rows[family.school_class.id]
        row.families += 1
        row.linked += family.linked
        row.opted_out += family.opted_out
        row.reached += family.reachable
        row.unreachable += not family.reachable
        row.linked_opted_out += family.reachable and family.opted_out
    ordered = sorted(families.values(), key=lambda f: (f.school_class.grade, f.school_class.name, f.student_name))
    return [rows[c.id] for c in classes], ordered


# ---------------------------------------------------------------- concerns


@dataclass
class ConcernFacts:
    id: int
    created_at: datetime
    first_answer_at: datetime | None
    due_at: datetime | None
    status: str
    category: str
    routed_role: str
    staff_id: int
    staff_name: str
    staff_role: str
    escalated_to_id: int | None
    escalated_to_name: str | None
    student_name: str
    class_name: str
    class_id: int

    def state(self, now: datetime) -> str:
        """closed, answered, overdue (unanswered past the school's limit) or open."""
        if self.status in ("closed", "answered"):
            return self.status
        if self.first_answer_at is None and self.due_at is not None and self.due_at <= now:
            return "overdue"
        return "open"

    def handled_by(self, staff_id: int) -> bool:
        return staff_id in (self.staff_id, self.escalated_to_id)


@dataclass
class ConcernTally:
    key: str
    label: str
    open: int = 0
    overdue: int = 0
    answered: int = 0
    closed: int = 0
    answer_times: list[timedelta] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.open + self.overdue + self.answered + self.closed

    @property
    def median_first_answer(self) -> timedelta | None:
        return statistics.median(self.answer_times) if self.answer_times else None


async def concerns(session: AsyncSession, scope: Scope, *, since: datetime,
                   class_id: int | None = None) -> list[ConcernFacts]:
    """Concerns about students of the scope received since ``since``, and any still not closed."""
    routed, escalated = aliased(Staff), aliased(Staff)
    class_ids = [class_id] if class_id is not None else sorted(scope.class_ids)
    rows = (await session.exec(
        select(Concern.id, Concern.created_at, Concern.first_answer_at, Concern.due_at, Concern.status,
               Concern.category, Concern.staff_role, Concern.staff_id, routed.name, routed.role,
               Concern.escalated_to_id, escalated.name, Student.name, SchoolClass.name, SchoolClass.id)
        .join(Student, col(Student.id) == Concern.student_id)
        .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
        .join(routed, col(routed.id) == Concern.staff_id)
        .join(escalated, col(escalated.id) == Concern.escalated_to_id, isouter=True)
        .where(Concern.school_id == scope.school_id, col(SchoolClass.id).in_(class_ids),
               or_(col(Concern.created_at) >= since, Concern.status != "closed"))
        .order_by(col(Concern.created_at)))).all()
    return [ConcernFacts(*row) for row in rows]  # type: ignore[arg-type]


def tally(items: Iterable[ConcernFacts], key: Callable[[ConcernFacts], tuple[str, str]],
          now: datetime) -> list[ConcernTally]:
    """Counts per state and the answer times, grouped by ``key`` -> (key, label), by label."""
    groups: dict[str, ConcernTally] = {}
    for concern in items:
        name, label = key(concern)
        group = groups.setdefault(name, ConcernTally(name, label))
        state = concern.state(now)
        setattr(group, state, getattr(group, state) + 1)
        if concern.first_answer_at is not None:
            group.answer_times.append(concern.first_answer_at - concern.created_at)
    return sorted(groups.values(), key=lambda g: (-g.total, g.label))


@dataclass
class RoutingHelp:
    """How often concerns of one category (as the bot routed them) had to be moved."""

    category: str
    handovers: int = 0
    wrong_person: int = 0

    @property
    def total(self) -> int:
        return self.handovers + self.wrong_person


async def routing_help(session: AsyncSession, scope: Scope, *, since: datetime,
                       until: datetime) -> list[RoutingHelp]:
    """Hand-overs and "wrong person" choices in [since, until) about students of the scope, per
    category the concern had before the move (one query), most moved first."""
    rows = (await session.exec(
        select(ConcernHandover.category, ConcernHandover.source, func.count())
        .join(Concern, col(Concern.id) == ConcernHandover.concern_id)
        .join(Student, col(Student.id) == Concern.student_id)
        .where(ConcernHandover.school_id == scope.school_id, col(Student.class_id).in_(sorted(scope.class_ids)),
               col(ConcernHandover.at) >= since, col(ConcernHandover.at) < until)
        .group_by(ConcernHandover.category, ConcernHandover.source))).all()
    found: dict[str, RoutingHelp] = {}
    for category, source, count in rows:
        item = found.setdefault(category, RoutingHelp(category))
        if source == "wrong_person":
            item.wrong_person += count
        else:
            item.handovers += count
    return sorted(found.values(), key=lambda r: (-r.total, r.category))


@dataclass
class FollowUp:
    id: int
    check_in_at: datetime
    text: str
    answer: str | None
    asked_at: datetime | None
    student_name: str
    class_name: str
    staff_name: str


async def follow_ups_due(session: AsyncSession, scope: Scope, *, start: datetime,
                         end: datetime) -> list[FollowUp]:
    """Agreements whose check-in falls in [start, end): one's own, or the school's for its heads."""
    query = (select(Agreement.id, Agreement.check_in_at, Agreement.text, Agreement.answer, Agreement.asked_at,
                    Student.name, SchoolClass.name, Staff.name)
             .join(Student, col(Student.id) == Agreement.student_id)
             .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
             .join(Staff, col(Staff.id) == Agreement.staff_id)
             .where(Agreement.school_id == scope.school_id, col(Agreement.check_in_at) >= start,
                    col(Agreement.check_in_at) < end)
             .order_by(col(Agreement.check_in_at)))
    if not scope.whole_school:
        query = query.where(Agreement.staff_id == scope.staff_id)
    return [FollowUp(*row) for row in (await session.exec(query)).all()]  # type: ignore[arg-type]


@dataclass
class ThreadMessage:
    author: str  # guardian | staff
    name: str
    text: str
    at: datetime
    attachments: int


@dataclass
class Thread:
    concern: ConcernFacts
    subject: str | None
    guardian_name: str
    relation: str | None  # None when the roster no longer links them to the child
    messages: list[ThreadMessage]


async def concern_thread(session: AsyncSession, school_id: int, concern_id: int) -> Thread | None:
    """One concern with every message as written, or None when it is not this school's."""
    scope = Scope(school_id, 0, "principal", True, ())
    concern = await session.get(Concern, concern_id)
    if concern is None or concern.school_id != school_id:
        return None
    student = await session.get(Student, concern.student_id)
    assert student is not None
    facts = [f for f in await concerns(session, scope, since=concern.created_at,  # type: ignore[arg-type]
                                       class_id=student.class_id) if f.id == concern_id]
    writer = (await session.exec(  # the link may be gone since (an updated roster): the name stays
        select(Guardian.name, GuardianStudent.relation)
        .join(GuardianStudent, and_(col(GuardianStudent.guardian_id) == Guardian.id,
                                    col(GuardianStudent.student_id) == concern.student_id), isouter=True)
        .where(Guardian.id == concern.guardian_id))).first()
    guardian, relation = writer if writer is not None else ("", None)
    messages = (await session.exec(
        select(ConcernMessage.author, Staff.name, ConcernMessage.text, ConcernMessage.created_at,
               ConcernMessage.media)
        .join(Staff, col(Staff.id) == ConcernMessage.staff_id, isouter=True)
        .where(ConcernMessage.concern_id == concern_id).order_by(col(ConcernMessage.id)))).all()
    return Thread(facts[0], concern.subject, guardian, relation,
                  [ThreadMessage(author, staff_name if author == "staff" and staff_name else guardian, text,
                                 at, len(media or [])) for author, staff_name, text, at, media in messages])  # type: ignore[arg-type]


# ---------------------------------------------------------------- meetings


@dataclass
class MeetingInfo:
    id: int
    type: str
    title: str
    status: str
    audience: str
    location: str
    room_capacity: int
    organizer_name: str
    organizer_id: int
    starts_at: datetime  # its first slot, or when it was created


@dataclass
class Participation:
    """Per meeting (scoped totals), per class, per meeting type and per month of the year."""

    meetings: list[tuple[MeetingInfo, ParticipationRow]]
    by_class: list[ParticipationRow]
    by_type: list[ParticipationRow]
    by_month: list[tuple[date, ParticipationRow]]


async def _meetings(session: AsyncSession, scope: Scope, where: list[object]) -> list[MeetingInfo]:
    """The school's meetings the scope takes part in (or organized), by first slot."""
    first_slot = (select(MeetingSlot.meeting_id, func.min(MeetingSlot.starts_at).label("starts_at"))
                  .group_by(col(MeetingSlot.meeting_id)).subquery())
    query = (select(Meeting.id, Meeting.type, Meeting.title, Meeting.status, Meeting.audience, Meeting.location,
                    Meeting.room_capacity, Staff.name, Staff.id, first_slot.c.starts_at, Meeting.created_at)
             .join(Staff, col(Staff.id) == Meeting.organizer_staff_id)
             .join(first_slot, first_slot.c.meeting_id == Meeting.id, isouter=True)
             .where(Meeting.school_id == scope.school_id, *where))  # type: ignore[arg-type]
    if not scope.whole_school:
        involved = (select(MeetingStudent.meeting_id).join(Student, col(Student.id) == MeetingStudent.student_id)
                    .where(_in_scope(scope, Student.class_id)))  # type: ignore[arg-type]
        query = query.where(or_(col(Meeting.id).in_(involved), Meeting.organizer_staff_id == scope.staff_id))
    infos = []
    for row in (await session.exec(query)).all():
        *head, starts_at, created_at = row
        starts = starts_at or created_at
        if starts is not None and starts.tzinfo is None:  # a bare aggregate on SQLite: stored as UTC
            starts = starts.replace(tzinfo=ZoneInfo("UTC"))
        infos.append(MeetingInfo(*head, starts_at=starts))  # type: ignore[misc]
    return sorted(infos, key=lambda m: (m.starts_at, m.id))


COUNTED = ("invited", "delivered", "read", "accepted", "declined", "proxy", "attended", "unreachable",
           "asked_other_time")


async def _participation_counts(session: AsyncSession, scope: Scope, meeting_ids: list[int]
                                ) -> tuple[dict[int, ParticipationRow], dict[tuple[int, int], ParticipationRow]]:
    """Families of the scope per meeting, and per meeting and class, from one query.

    The database gives each family's facts once per class of its children (delivered or read by
    any of its invitations, reachable when one could be sent); ``storage.reports`` counts them,
    so the dashboard and ``jembatan report participation`` cannot disagree. A family counts once
    per meeting, and once in each class its children are in.
    """
    if not meeting_ids:
        return {}, {}
    delivered = and_(OutboxMessage.status == "sent",
                     or_(col(OutboxMessage.delivery).is_(None),
                         col(OutboxMessage.delivery).not_in(("failed", "undelivered"))))

    def anyone(condition: Any) -> Any:
        return func.max(case((condition, 1), else_=0))

    rows = (await session.exec(
        select(MeetingFamily.id, MeetingFamily.meeting_id, Student.class_id, MeetingFamily.response,
               MeetingFamily.attended, anyone(col(MeetingInvitation.proxy)),
               anyone(and_(col(OutboxMessage.id).is_not(None), OutboxMessage.status != "held")),
               anyone(delivered), anyone(OutboxMessage.delivery == "read"))
        .select_from(MeetingStudent)
        .join(Student, col(Student.id) == MeetingStudent.student_id)
        .join(MeetingFamily, col(MeetingFamily.id) == MeetingStudent.family_id)
        .join(MeetingInvitation, col(MeetingInvitation.family_id) == MeetingFamily.id, isouter=True)
        .join(OutboxMessage, col(OutboxMessage.id) == MeetingInvitation.outbox_id, isouter=True)
        .where(col(MeetingStudent.meeting_id).in_(meeting_ids), _in_scope(scope, Student.class_id))  # type: ignore[arg-type]
        .group_by(col(MeetingFamily.id), col(MeetingFamily.meeting_id), col(Student.class_id),
                  col(MeetingFamily.response), col(MeetingFamily.attended)))).all()
    per_meeting: dict[int, ParticipationRow] = {}
    per_class: dict[tuple[int, int], ParticipationRow] = {}
    counted: set[int] = set()
    for family_id, meeting_id, class_id, response, attended, proxy, reachable, was_delivered, was_read in rows:
        facts = _FamilyFacts(set(), delivered=bool(was_delivered), read=bool(was_read), reachable=bool(reachable),
                             response=response, proxy_invited=bool(proxy), attended=bool(attended))
        _count(per_class.setdefault((meeting_id, class_id), ParticipationRow(meeting_id, "", "")), facts)  # type: ignore[arg-type]
        if family_id not in counted:
            counted.add(family_id)  # type: ignore[arg-type]
            _count(per_meeting.setdefault(meeting_id, ParticipationRow(meeting_id, "", "")), facts)
    return per_meeting, per_class


def _add(into: ParticipationRow, row: ParticipationRow | None) -> ParticipationRow:
    for name in COUNTED:
        setattr(into, name, getattr(into, name) + (getattr(row, name) if row else 0))
    return into


async def participation(session: AsyncSession, scope: Scope, *, since: datetime, until: datetime,
                        tz: str) -> Participation:
    """Participation in the scope's meetings of a period: families of the scope's classes only."""
    meetings = [m for m in await _meetings(session, scope, []) if since <= m.starts_at < until]
    per_meeting, per_class = await _participation_counts(session, scope, [m.id for m in meetings])
    by_class = {c.id: ParticipationRow(0, "", c.name) for c in scope.classes}
    for (_, class_id), row in per_class.items():
        _add(by_class[class_id], row)
    by_type: dict[str, ParticipationRow] = {}
    by_month: dict[date, ParticipationRow] = {}
    for meeting in meetings:
        row = per_meeting.get(meeting.id)
        if row is None:
            continue
        _add(by_type.setdefault(meeting.type, ParticipationRow(0, meeting.type, "")), row)
        month = meeting.starts_at.astimezone(ZoneInfo(tz)).date().replace(day=1)
        _add(by_month.setdefault(month, ParticipationRow(0, "", "")), row)
    return Participation(
        meetings=[(m, _add(ParticipationRow(m.id, m.title, ""), per_meeting.get(m.id))) for m in meetings],
        by_class=[by_class[c.id] for c in scope.classes],
        by_type=[by_type[k] for k in sorted(by_type)],
        by_month=sorted(by_month.items()))


@dataclass
class FamilySlot:
    """A family in a meeting's timetable: who comes, for which child."""

    family_id: int
    children: list[tuple[str, str]]  # (student name, class name)
    guardians: list[tuple[str, bool]]  # invited guardians: (name, proxy)
    responded_by: str | None
    response: str | None
    attended: bool
    slot_state: str | None


@dataclass
class SlotRow:
    id: int
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int
    families: list[FamilySlot]


@dataclass
class Timetable:
    meeting: MeetingInfo
    totals: ParticipationRow
    slots: list[SlotRow]
    unassigned: list[FamilySlot]


async def timetable(session: AsyncSession, scope: Scope, meeting_id: int) -> Timetable | None:
    """One meeting, slot by slot: the families of the scope in each, with RSVP and attendance."""
    found = await _meetings(session, scope, [Meeting.id == meeting_id])
    if not found:
        return None
    meeting = found[0]
    per_meeting, _ = await _participation_counts(session, scope, [meeting_id])
    totals = _add(ParticipationRow(meeting.id, meeting.title, ""), per_meeting.get(meeting_id))
    slot_rows = (await session.exec(
        select(MeetingSlot.id, MeetingSlot.starts_at, MeetingSlot.ends_at, MeetingSlot.capacity, MeetingSlot.booked)
        .where(MeetingSlot.meeting_id == meeting_id).order_by(col(MeetingSlot.starts_at)))).all()
    slots = {sid: SlotRow(sid, start, end, capacity, booked, [])  # type: ignore[arg-type]
             for sid, start, end, capacity, booked in slot_rows}
    responder = aliased(Guardian)
    families: dict[int, FamilySlot] = {}
    slot_of: dict[int, int | None] = {}
    shown: set[int] = set()  # families with a child in the scope's classes
    for family_id, slot_id, response, attended, state, responded_by, student, class_name, class_id in (
            await session.exec(
                select(MeetingFamily.id, MeetingFamily.slot_id, MeetingFamily.response, MeetingFamily.attended,
                       MeetingFamily.slot_state, responder.name, Student.name, SchoolClass.name, SchoolClass.id)
                .join(MeetingStudent, col(MeetingStudent.family_id) == MeetingFamily.id)
                .join(Student, col(Student.id) == MeetingStudent.student_id)
                .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
                .join(responder, col(responder.id) == MeetingFamily.responded_by_guardian_id, isouter=True)
                .where(MeetingFamily.meeting_id == meeting_id)
                .order_by(SchoolClass.name, Student.name))).all():
        if family_id not in families:
            families[family_id] = FamilySlot(family_id, [], [], responded_by, response, attended, state)
            slot_of[family_id] = slot_id
        families[family_id].children.append((student, class_name))
        if scope.covers(class_id):  # type: ignore[arg-type]
            shown.add(family_id)  # type: ignore[arg-type]
    for family_id, name, proxy in (await session.exec(
            select(MeetingInvitation.family_id, Guardian.name, MeetingInvitation.proxy)
            .join(Guardian, col(Guardian.id) == MeetingInvitation.guardian_id)
            .where(MeetingInvitation.meeting_id == meeting_id)
            .order_by(MeetingInvitation.proxy, Guardian.name))).all():
        if family_id in shown:
            families[family_id].guardians.append((name, proxy))
    unassigned = []
    for family_id in sorted(shown, key=lambda fid: families[fid].children):
        slot_id = slot_of[family_id]
        if slot_id is not None and slot_id in slots:
            slots[slot_id].families.append(families[family_id])
        else:
            unassigned.append(families[family_id])
    return Timetable(meeting, totals, list(slots.values()), unassigned)


# ---------------------------------------------------------------- broadcasts


@dataclass
class BroadcastRow:
    id: int
    created_at: datetime
    send_at: datetime
    author_name: str
    audience: str
    text: str
    urgent: bool
    recipients: int
    opted_out: int
    unreachable: int
    queued: int = 0
    waiting: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    held: int = 0


async def broadcasts(session: AsyncSession, scope: Scope, *, since: datetime, until: datetime) -> list[BroadcastRow]:
    """The period's announcements touching the scope, newest first, with delivery and read counts."""
    rows = [BroadcastRow(*row) for row in (await session.exec(  # type: ignore[arg-type]
        select(Broadcast.id, Broadcast.created_at, Broadcast.send_at, Staff.name, Broadcast.audience,
               Broadcast.text, Broadcast.urgent, Broadcast.recipients, Broadcast.opted_out, Broadcast.unreachable)
        .join(Staff, col(Staff.id) == Broadcast.author_staff_id)
        .where(Broadcast.school_id == scope.school_id, col(Broadcast.created_at) >= since,
               col(Broadcast.created_at) < until)
        .order_by(col(Broadcast.created_at).desc(), col(Broadcast.id).desc()))).all()]
    if not scope.whole_school:
        rows = await _touching(session, scope, rows)
    if not rows:
        return rows
    failed = or_(OutboxMessage.status == "failed", col(OutboxMessage.delivery).in_(("failed", "undelivered")))

    def count(condition: object) -> object:
        return func.sum(case((condition, 1), else_=0))  # type: ignore[arg-type]

    counts = {row[0]: row[1:] for row in (await session.exec(
        select(OutboxMessage.broadcast_id, func.count(), count(OutboxMessage.status == "pending"),
               count(OutboxMessage.status == "sent"),
               count(col(OutboxMessage.delivery).in_(("delivered", "read"))),
               count(OutboxMessage.delivery == "read"), count(failed), count(OutboxMessage.status == "held"))
        .where(col(OutboxMessage.broadcast_id).in_([r.id for r in rows]))
        .group_by(col(OutboxMessage.broadcast_id)))).all()}
    for row in rows:
        (row.queued, row.waiting, row.sent, row.delivered, row.read, row.failed,
         row.held) = (int(n or 0) for n in counts.get(row.id, (0,) * 7))
    return rows


async def _touching(session: AsyncSession, scope: Scope, rows: list[BroadcastRow]) -> list[BroadcastRow]:
    """The announcements whose audience includes a class of the scope."""
    grades = {str(c.grade) for c in scope.classes}
    names = {c.name for c in scope.classes}
    nisns: set[str] | None = None
    kept = []
    for row in rows:
        try:
            parts = parse_audience(row.audience)
        except AudienceError:
            continue
        touches = False
        for part in parts:
            if part.kind == "school" or (part.kind == "grade" and grades & set(part.values)) \
                    or (part.kind == "class" and names & set(part.values)):
                touches = True
            elif part.kind == "student":
                if nisns is None:
                    nisns = set((await session.exec(select(Student.nisn).where(
                        Student.school_id == scope.school_id, _in_scope(scope, Student.class_id)))).all())  # type: ignore[arg-type]
                touches = touches or bool(nisns & set(part.values))
        if touches:
            kept.append(row)
    return kept


# ---------------------------------------------------------------- audit log


@dataclass
class AuditRow:
    at: datetime
    staff_name: str
    staff_role: str
    action: str
    subject: str
    reason: str | None = None


async def audit_log(session: AsyncSession, school_id: int, *, limit: int = 500) -> list[AuditRow]:
    """The latest dashboard sign-ins and oversight openings, newest first."""
    rows = (await session.exec(
        select(AuditEntry.at, Staff.name, Staff.role, AuditEntry.action, AuditEntry.subject, AuditEntry.reason)
        .join(Staff, col(Staff.id) == AuditEntry.staff_id)
        .where(AuditEntry.school_id == school_id)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit))).all()
    return [AuditRow(*row) for row in rows]  # type: ignore[arg-type]
