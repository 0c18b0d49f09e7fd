"""Meetings with families: invitations (siblings together, both parents), RSVP and proxies.

One family answers once: siblings share one invitation per guardian, and when father and mother
are both invited the first answer counts and the other is told. "Proxy", or a decline where the
school registered an orang tua asuh, invites that proxy guardian to the same meeting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.dashboard import dashboard_address
from domain.messages import Button, Outbound, Recipient
from handlers.turn import Turn
from storage.audience import audience_students
from storage.models import (
    Agreement,
    Guardian,
    GuardianStudent,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    MeetingStudent,
    School,
    SchoolClass,
    Student,
)
from handlers.meeting_context import family_students, meeting_context, organizer_notice
from handlers.slot_offers import offer_freed_place, offer_message
from storage.booking import free_place
from storage.outbox import enqueue
from storage.people import students_named
from storage.reports import participation
from storage.timetable import timetable

RSVP_ANSWERS = ("attend", "decline", "other_time", "proxy")


class UnknownMeeting(LookupError):
    """No meeting with that id."""


@dataclass
class InviteResult:
    meeting: int
    families: int
    invited: int  # invitations sent now
    already: int  # guardians invited before (re-running invite sends nothing twice)
    unreachable: int  # invitations held: no linked channel

    def as_json(self) -> dict[str, int]:
        return {"meeting": self.meeting, "families": self.families, "invited": self.invited,
                "already_invited": self.already, "unreachable": self.unreachable}


@dataclass
class _Family:
    students: list[Student]
    parents: dict[int, Guardian]
    proxies: dict[int, Guardian]

    @property
    def targets(self) -> dict[int, Guardian]:
        """Who is invited: the parents, or the proxy when no parent is on record (the proxy is the family)."""
        return self.parents or self.proxies


@dataclass
class InvitedFamily:
    """A family of a meeting's audience: its row, its people, and its guardians' invitations."""

    row: MeetingFamily
    family: _Family
    invitations: list[tuple[Guardian, MeetingInvitation, bool]]  # (guardian, invitation, created now)


async def ensure_invited(session: AsyncSession, meeting: Meeting, *, now: datetime) -> list[InvitedFamily]:
    """Every family of the audience with a row and an invitation per guardian to invite (created
    once; nothing is sent here)."""
    students = await audience_students(session, meeting.school_id, meeting.audience)
    result = []
    for family in await _families(session, students):
        row = await _family_row(session, meeting, family, now)
        invitations = []
        for guardian in family.targets.values():
            existing = (await session.exec(select(MeetingInvitation).where(
                MeetingInvitation.meeting_id == meeting.id, MeetingInvitation.guardian_id == guardian.id))).first()
            created = existing is None
            if existing is None:
                existing = MeetingInvitation(school_id=meeting.school_id, meeting_id=meeting.id, family_id=row.id,  # type: ignore[arg-type]
                                             guardian_id=guardian.id, proxy=not family.parents, created_at=now)  # type: ignore[arg-type]
                session.add(existing)
            invitations.append((guardian, existing, created))
        result.append(InvitedFamily(row, family, invitations))
    return result


async def invite_meeting(session: AsyncSession, meeting_id: int, *, now: datetime, simulator_enabled: bool,
                         default_language: str = "id", offer_slots: bool = False) -> InviteResult:
    """Invite every family of the audience once; safe to run again (only the new get one).

    ``offer_slots``: each family picks its own time (a summons from chat where the family
    chooses): the invitation itself carries the times that suit it, one message, one choice.
    """
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise UnknownMeeting(f"no meeting with id {meeting_id}")
    families = await ensure_invited(session, meeting, now=now)
    outs: list[Outbound] = []
    invitations: list[MeetingInvitation] = []
    already = 0
    for invited in families:
        for guardian, invitation, new in invited.invitations:
            if not new:
                already += 1
                continue
            invitations.append(invitation)
            outs.append(await invitation_message(
                session, meeting, guardian, invited.family.students,
                offer_proxy=bool(invited.family.proxies and invited.family.parents),
                pick_from=invited.row if offer_slots else None, now=now))
    meeting.status = "invited"
    session.add(meeting)
    rows = await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled, default_language=default_language)
    for invitation, message in zip(invitations, rows, strict=True):
        invitation.outbox_id = message.id
    return InviteResult(meeting.id, len(families), len(invitations), already,  # type: ignore[arg-type]
                        sum(1 for message in rows if message.status == "held"))


async def audience_recipients(session: AsyncSession, school_id: int, audience: str) -> tuple[int, list[Guardian]]:
    """Before inviting: how many families an audience makes, and the guardians who would be invited."""
    families = await _families(session, await audience_students(session, school_id, audience))
    guardians = {g.id: g for family in families for g in family.targets.values()}
    return len(families), list(guardians.values())


async def invitation_message(session: AsyncSession, meeting: Meeting, guardian: Guardian, students: list[Student],
                             *, offer_proxy: bool, proxy_for: str | None = None,
                             pick_from: MeetingFamily | None = None, now: datetime | None = None) -> Outbound:
    """The invitation for one guardian, naming only their own children among ``students``.

    With ``pick_from`` (the family) the times it may book are the buttons, with "another time"
    and "cannot attend": no separate slot offer after the letter."""
    context = await meeting_context(session, meeting, guardian, students, proxy_for=proxy_for)
    if pick_from is not None and now is not None:
        offer = await offer_message(session, meeting, pick_from, guardian, now=now)
        slot_rows = [row for row in offer.buttons if row[0].data.startswith(("sl:t:", "sl:a:"))]
        return Outbound(to=offer.to, template=f"invitation_{meeting.type}",
                        context={**context, "pick_slot": True, "pick_fitting": offer.context["fitting"]},
                        buttons=slot_rows + [[Button(key="rsvp.decline", data=f"rv:{meeting.id}:decline")]])
    buttons = [[Button(key=f"rsvp.{answer}", data=f"rv:{meeting.id}:{answer}")]
               for answer in RSVP_ANSWERS if answer != "proxy" or offer_proxy]
    return Outbound(to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                    template=f"invitation_{meeting.type}", context=context, buttons=buttons)


async def show_invitation(turn: Turn, meeting_id: int) -> bool:
    """A guardian scanned a letter's QR code (`/start rapat_N`, `RAPAT N`): their invitation again,
    with the answer buttons. False when they were not invited to that meeting."""
    meeting = await turn.session.get(Meeting, meeting_id)
    row = (await turn.session.exec(select(MeetingInvitation).where(
        MeetingInvitation.meeting_id == meeting_id,
        col(MeetingInvitation.guardian_id).in_([g.id for g in turn.guardians])))).first()
    family = await turn.session.get(MeetingFamily, row.family_id) if row else None
    if meeting is None or row is None or family is None or meeting.status == "cancelled":
        return False
    guardian = next(g for g in turn.guardians if g.id == row.guardian_id)
    turn.send(await invitation_message(turn.session, meeting, guardian, await family_students(turn.session, family),
                                       offer_proxy=False))
    return True


async def on_rsvp(turn: Turn, data: str) -> None:
    """An answer pressed on an invitation: attend, decline, another time, or send my proxy."""
    _, meeting_id, answer = (data.split(":") + ["", ""])[:3]
    invitation = None
    if meeting_id.isdigit() and answer in RSVP_ANSWERS:
        invitation = (await turn.session.exec(select(MeetingInvitation).where(
            MeetingInvitation.meeting_id == int(meeting_id),
            col(MeetingInvitation.guardian_id).in_([g.id for g in turn.guardians])))).first()
    if invitation is None:
        turn.reply("stale_button")
        return
    meeting = await turn.session.get(Meeting, invitation.meeting_id)
    family = await turn.session.get(MeetingFamily, invitation.family_id)
    guardian = next(g for g in turn.guardians if g.id == invitation.guardian_id)
    assert meeting is not None and family is not None
    students = await family_students(turn.session, family)
    context = await meeting_context(turn.session, meeting, guardian, students, family=family)
    if not invitation.proxy and family.response is not None:
        answered_by = await turn.session.get(Guardian, family.responded_by_guardian_id)
        turn.reply("rsvp_already_answered", {**context, "answer": family.response,
                                             "answered_by": answered_by.name if answered_by else ""})
        return
    invitation.response = answer
    turn.session.add(invitation)
    if not invitation.proxy:
        family.response, family.responded_by_guardian_id, family.responded_at = answer, guardian.id, turn.now
        turn.session.add(family)
        await _tell_other_parents(turn, meeting, family, guardian, students, answer)
    if answer in ("attend", "other_time") and await _has_slots_to_choose(turn, meeting, family):
        # Several times on offer: the family picks one (or asks for another) instead of a bare yes.
        turn.send(await offer_message(turn.session, meeting, family, guardian, now=turn.now,
                                      reason="choose" if answer == "attend" else "other_time"))
        return
    proxy_name = None
    if not invitation.proxy and answer in ("proxy", "decline"):
        proxy_name = await _invite_proxies(turn, meeting, family, students, guardian)
        if answer == "proxy" and proxy_name is None:
            turn.reply("rsvp_no_proxy", context)
    if answer == "decline":
        freed = await free_place(turn.session, family)
        if freed is not None:
            await offer_freed_place(turn.session, freed, now=turn.now, send=turn.send)
    turn.reply("rsvp_thanks", {**context, "answer": answer})
    notice = await organizer_notice(turn.session, meeting, guardian, context, answer, proxy_name=proxy_name,
                                    family=family)
    if notice is not None:
        turn.send(notice)


async def _has_slots_to_choose(turn: Turn, meeting: Meeting, family: MeetingFamily) -> bool:
    """More than one slot and the family holds none yet (or wants another): a choice to offer."""
    slots = (await turn.session.exec(select(MeetingSlot.id).where(MeetingSlot.meeting_id == meeting.id))).all()
    return len(slots) > 1 and (family.slot_id is None or family.response == "other_time")


async def _tell_other_parents(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian,
                              students: list[Student], answer: str) -> None:
    others = (await turn.session.exec(select(MeetingInvitation).where(
        MeetingInvitation.family_id == family.id, MeetingInvitation.guardian_id != guardian.id,
        col(MeetingInvitation.proxy).is_(False)))).all()
    for other in others:
        parent = await turn.session.get(Guardian, other.guardian_id)
        if parent is not None:
            context = await meeting_context(turn.session, meeting, parent, students, family=family)
            turn.send(Outbound(to=Recipient(phone=parent.phone, guardian_id=parent.id, school_id=parent.school_id),
                               template="rsvp_family_answered",
                               context={**context, "answer": answer, "answered_by": guardian.name}))


async def _invite_proxies(turn: Turn, meeting: Meeting, family: MeetingFamily, students: list[Student],
                          guardian: Guardian) -> str | None:
    """Invite the family's orang tua asuh in the parents' place; their name, or None if none."""
    proxies = (await turn.session.exec(select(Guardian).join(
        GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id).where(
        col(GuardianStudent.student_id).in_([s.id for s in students]), col(GuardianStudent.proxy).is_(True)))).all()
    names = []
    for proxy in {p.id: p for p in proxies}.values():
        names.append(proxy.name)
        exists = (await turn.session.exec(select(MeetingInvitation).where(
            MeetingInvitation.meeting_id == meeting.id, MeetingInvitation.guardian_id == proxy.id))).first()
        if exists is not None:
            continue
        turn.session.add(MeetingInvitation(school_id=meeting.school_id, meeting_id=meeting.id, family_id=family.id,  # type: ignore[arg-type]
                                           guardian_id=proxy.id, proxy=True, created_at=turn.now))  # type: ignore[arg-type]
        turn.send(await invitation_message(turn.session, meeting, proxy, students, offer_proxy=False,
                                           proxy_for=guardian.name))
    return ", ".join(names) or None


async def _families(session: AsyncSession, students: list[Student]) -> list[_Family]:
    """Group students whose parents overlap (siblings) into one family each."""
    links: dict[int, list[tuple[Guardian, GuardianStudent]]] = {}
    for student in students:
        links[student.id] = list((await session.exec(select(Guardian, GuardianStudent).join(  # type: ignore[index]
            GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id).where(
            GuardianStudent.student_id == student.id).order_by(Guardian.id))).all())
    parent = {s.id: s.id for s in students}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_student_of: dict[int, int] = {}
    for student in students:
        for guardian, link in links[student.id]:  # type: ignore[index]
            if link.proxy:
                continue
            if guardian.id in first_student_of:
                parent[root(student.id)] = root(first_student_of[guardian.id])  # type: ignore[index]
            else:
                first_student_of[guardian.id] = student.id  # type: ignore[index,assignment]
    grouped: dict[int, _Family] = {}
    for student in students:
        family = grouped.setdefault(root(student.id), _Family([], {}, {}))  # type: ignore[arg-type]
        family.students.append(student)
        for guardian, link in links[student.id]:  # type: ignore[index]
            (family.proxies if link.proxy else family.parents)[guardian.id] = guardian  # type: ignore[index]
    return list(grouped.values())


async def _family_row(session: AsyncSession, meeting: Meeting, family: _Family, now: datetime) -> MeetingFamily:
    key = ",".join(str(s.id) for s in sorted(family.students, key=lambda s: s.id or 0))
    row = (await session.exec(select(MeetingFamily).where(
        MeetingFamily.meeting_id == meeting.id, MeetingFamily.family_key == key))).first()
    if row is None:
        row = MeetingFamily(school_id=meeting.school_id, meeting_id=meeting.id, family_key=key)  # type: ignore[arg-type]
        session.add(row)
        await session.flush()
        for student in family.students:
            session.add(MeetingStudent(school_id=meeting.school_id, meeting_id=meeting.id,  # type: ignore[arg-type]
                                       student_id=student.id, family_id=row.id))  # type: ignore[arg-type]
    return row


def _named_students(argument: str) -> list[str]:
    """`hadir 0071000001 0071000002`, `hadir Gilang`, `hadir Gilang, Bunga Maharani`: who is meant."""
    parts = [part.strip() for part in argument.split(",") if part.strip()]
    named = []
    for part in parts:
        words = part.split()
        named += words if all(word.isdigit() for word in words) else [part]  # NISNs, or one name
    return named


async def record_attendance(turn: Turn, argument: str) -> None:
    """`hadir <name or NISN>[, ...]`: the families of these students came to today's meeting."""
    school_ids = {s.school_id for s in turn.staff}
    named = _named_students(argument)
    if not named:
        await _attendance_list(turn)
        return
    recorded: dict[int, list[Student]] = {}
    for text in named:
        found = [(student, meeting_student) for student, _ in await students_named(turn.session, school_ids, text)
                 if (meeting_student := await _current_meeting_of(turn, student))]
        if len(found) > 1:  # two Gilangs at today's meetings: ask, never guess
            turn.reply("attendance_which_student", {"text": text},
                       buttons=[[Button(label=f"{s.name} ({s.nisn})", data=f"hd:{s.nisn}")] for s, _ in found][:20])
            continue
        if not found:
            turn.reply("attendance_unknown_student", {"text": text})
            continue
        student, meeting_student = found[0]
        family = await turn.session.get(MeetingFamily, meeting_student.family_id)
        assert family is not None
        family.attended, family.attended_at = True, turn.now
        turn.session.add(family)
        recorded.setdefault(meeting_student.meeting_id, []).append(student)
    for meeting_id, students in recorded.items():
        meeting = await turn.session.get(Meeting, meeting_id)
        families = list((await turn.session.exec(select(MeetingFamily).where(
            MeetingFamily.meeting_id == meeting_id))).all())
        classes = {c.id: c.name for c in (await turn.session.exec(select(SchoolClass))).all()}
        guardians = (await turn.session.exec(select(Guardian).join(
            GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id).where(
            col(GuardianStudent.student_id).in_([s.id for s in students]),
            col(GuardianStudent.proxy).is_(False)))).all()
        turn.reply("attendance_recorded", {
            "title": meeting.title if meeting else "", "guardian_names": ", ".join(sorted({g.name for g in guardians})),
            "children": [{"name": s.name, "class_name": classes.get(s.class_id, "")} for s in students],
            "count_present": sum(1 for f in families if f.attended), "count_invited": len(families)})


async def _attendance_list(turn: Turn) -> None:
    """`hadir` alone: today's meetings of this staff member, each family still to mark as a button."""
    rows = (await turn.session.exec(
        select(Meeting, Student, MeetingFamily, MeetingSlot.starts_at)
        .join(MeetingStudent, col(MeetingStudent.meeting_id) == Meeting.id)
        .join(Student, col(Student.id) == MeetingStudent.student_id)
        .join(MeetingFamily, col(MeetingFamily.id) == MeetingStudent.family_id)
        .join(MeetingSlot, col(MeetingSlot.meeting_id) == Meeting.id)
        .where(col(Meeting.organizer_staff_id).in_([s.id for s in turn.staff]), Meeting.status != "cancelled")
        .order_by(Student.name))).all()
    waiting: dict[int, tuple[Meeting, Student]] = {}
    for meeting, student, family, starts_at in rows:
        if starts_at - timedelta(hours=1) <= turn.now <= starts_at + timedelta(days=1) and not family.attended:
            waiting.setdefault(student.id, (meeting, student))  # type: ignore[arg-type]
    turn.reply("attendance_list", {"students": [{"name": s.name, "nisn": s.nisn, "title": m.title}
                                                for m, s in waiting.values()]},
               buttons=[[Button(label=f"{s.name} ({s.nisn})", data=f"hd:{s.nisn}")] for _, s in waiting.values()][:20])


async def on_attendance_button(turn: Turn, data: str) -> None:
    await record_attendance(turn, data.partition(":")[2])


async def _current_meeting_of(turn: Turn, student: Student) -> MeetingStudent | None:
    """The student's meeting under way: started (or starting within the hour), not a day past."""
    rows = (await turn.session.exec(
        select(MeetingStudent, MeetingSlot.starts_at)
        .join(MeetingSlot, col(MeetingSlot.meeting_id) == MeetingStudent.meeting_id)
        .where(MeetingStudent.student_id == student.id)
        .order_by(col(MeetingSlot.starts_at).desc()))).all()
    for meeting_student, starts_at in rows:
        if starts_at - timedelta(hours=1) <= turn.now <= starts_at + timedelta(days=1):
            return meeting_student
    return None


async def change_meeting(session: AsyncSession, meeting_id: int, *, now: datetime, simulator_enabled: bool,
                         default_language: str = "id", cancel: bool = False, new_start: datetime | None = None,
                         note: str | None = None) -> int:
    """Cancel a meeting, or move all its slots so the first starts at ``new_start``; tell everyone
    invited. Reminders follow: jobs are re-synced from the slots and skip a cancelled meeting."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise UnknownMeeting(f"no meeting with id {meeting_id}")
    if cancel:
        meeting.status = "cancelled"
    elif new_start is not None:
        slots = list((await session.exec(select(MeetingSlot).where(
            MeetingSlot.meeting_id == meeting.id).order_by(MeetingSlot.starts_at))).all())
        shift = new_start - slots[0].starts_at  # type: ignore[operator]
        for slot in reversed(slots) if shift.total_seconds() > 0 else slots:  # keep (meeting, start) unique
            slot.starts_at, slot.ends_at = slot.starts_at + shift, slot.ends_at + shift  # type: ignore[operator]
            session.add(slot)
            await session.flush()
    session.add(meeting)
    outs = []
    for invitation in (await session.exec(select(MeetingInvitation).where(
            MeetingInvitation.meeting_id == meeting.id))).all():
        guardian = await session.get(Guardian, invitation.guardian_id)
        family = await session.get(MeetingFamily, invitation.family_id)
        if guardian is None or family is None:
            continue
        context = await meeting_context(session, meeting, guardian, await family_students(session, family), family=family)
        outs.append(Outbound(to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                             template="meeting_cancelled" if cancel else "meeting_moved",
                             context={**context, "note": note}))
    await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled, default_language=default_language)
    return len(outs)


async def show_meetings(turn: Turn, argument: str = "") -> None:
    """`rapat`: the staff member's meetings, with who read, answered and came, and what was agreed;
    `rapat ID`: that meeting's timetable."""
    if argument:
        await show_timetable(turn, argument)
        return
    meetings = list((await turn.session.exec(select(Meeting).where(
        col(Meeting.organizer_staff_id).in_([s.id for s in turn.staff])).order_by(col(Meeting.id).desc())
        .limit(10))).all())
    school = await turn.session.get(School, turn.staff[0].school_id) if turn.staff else None
    items = []
    for meeting in meetings:
        total = (await participation(turn.session, meeting.id))[0]  # type: ignore[arg-type]
        slots = list((await turn.session.exec(select(MeetingSlot).where(
            MeetingSlot.meeting_id == meeting.id).order_by(MeetingSlot.starts_at))).all())
        families = list((await turn.session.exec(select(MeetingFamily).where(
            MeetingFamily.meeting_id == meeting.id))).all())
        # One family choosing among many free times: the time it booked, not the first candidate.
        booked = [slot for slot in slots if any(f.slot_id == slot.id for f in families)]
        one_family = len(families) == 1 and len(slots) > 1
        shown = booked[0] if one_family and booked else None if one_family else (slots[0] if slots else None)
        students = list((await turn.session.exec(select(Student).join(
            MeetingStudent, col(MeetingStudent.student_id) == Student.id).where(
            MeetingStudent.meeting_id == meeting.id))).all())
        agreement = None
        if meeting.type in ("surat_panggilan", "konsultasi", "kunjungan_rumah") and students:
            agreement = (await turn.session.exec(select(Agreement).where(
                col(Agreement.student_id).in_([s.id for s in students])).order_by(col(Agreement.id).desc()))).first()
        items.append({"id": meeting.id, "title": meeting.title, "type": meeting.type, "status": meeting.status,
                      "starts_at": shown.starts_at if shown else None, "ends_at": shown.ends_at if shown else None,
                      "choosing": one_family and not booked, "counts": total.as_json(),
                      "other_time": sum(1 for f in families if f.response == "other_time"),
                      "students": [s.name for s in students] if len(students) <= 3 else [],
                      "agreement": agreement.text if agreement else None,
                      "check_in_answer": agreement.answer if agreement else None})
    turn.reply("meetings_overview", {"meetings": items, "tz": school.timezone if school else turn.policy.default_timezone})


TIMETABLE_LINES = 60  # a chat message stays readable (and under Telegram's 4,096 characters)


async def show_timetable(turn: Turn, argument: str) -> None:
    """Per slot: who comes, for which child, in which room; then who has no time yet."""
    meeting = await turn.session.get(Meeting, int(argument)) if argument.strip().isdigit() else None
    me = next((s for s in turn.staff if meeting and s.school_id == meeting.school_id), None)
    if meeting is None or me is None or (meeting.organizer_staff_id != me.id and me.role not in ("principal", "admin")):
        turn.reply("timetable_unknown", {"argument": argument})
        return
    school = await turn.session.get(School, meeting.school_id)
    table = await timetable(turn.session, meeting)
    lines = 0
    slots = []
    for slot in table.slots:
        shown = slot.families[:max(0, TIMETABLE_LINES - lines)]
        lines += len(shown)
        slots.append({"start": slot.start, "end": slot.end, "capacity": slot.capacity, "room": slot.room,
                      "count": len(slot.families), "families": [f.as_json() for f in shown],
                      "hidden": len(slot.families) - len(shown)})
    turn.reply("timetable", {"meeting_id": meeting.id, "title": meeting.title,
                             "tz": school.timezone if school else turn.policy.default_timezone,
                             "slots": [s for s in slots if s["count"]], "empty_slots": sum(1 for s in slots if not s["count"]),
                             "without_time": [f.as_json() for f in table.without_time][:TIMETABLE_LINES],
                             "without_time_count": len(table.without_time), "declined_count": len(table.declined),
                             "shortened": any(s["hidden"] for s in slots) or len(table.without_time) > TIMETABLE_LINES,
                             "dashboard": dashboard_address(turn, f"/dashboard/meetings/{meeting.id}")})
