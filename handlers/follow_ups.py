"""Follow-ups: the agreements (kesepakatan) of a summons or consultation, and the check-in.

The counselor records what was agreed and when to check in; on that day the bot asks the
family how things are going and puts the answer on the case for the counselor — the
monitoring step of the counseling cycle.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Button, Outbound, Recipient
from handlers.turn import Turn
from storage.models import (
    Agreement,
    Guardian,
    GuardianStudent,
    Meeting,
    MeetingStudent,
    School,
    Staff,
    Student,
)
from storage.outbox import enqueue
from storage.people import students_named

CHECK_IN_ANSWERS = ("improved", "same", "worse", "note")
CHECK_IN_HOUR = time(9, 0)  # families are asked at nine in the morning, school time


async def start_agreement(turn: Turn) -> None:
    """`kesepakatan`: which student? Recent summons and consultations are offered as buttons."""
    recent = (await turn.session.exec(
        select(Student).join(MeetingStudent, col(MeetingStudent.student_id) == Student.id)
        .join(Meeting, col(Meeting.id) == MeetingStudent.meeting_id)
        .where(col(Meeting.organizer_staff_id).in_([s.id for s in turn.staff]),
               col(Meeting.type).in_(("surat_panggilan", "konsultasi", "kunjungan_rumah")))
        .order_by(col(Meeting.id).desc()))).all()
    students = list({s.id: s for s in recent}.values())[:5]
    turn.set_state("agreement", "student")
    turn.reply("agreement_ask_student", {"recent": [s.name for s in students]},
               buttons=[[Button(label=s.name, data=f"ks:student:{s.id}")] for s in students])


async def on_callback(turn: Turn, data: str) -> None:
    state = turn.conversation
    parts = data.split(":")
    if state.flow == "agreement" and state.step == "student" and len(parts) == 3 and parts[2].isdigit():
        student = await turn.session.get(Student, int(parts[2]))
        if student is not None and student.school_id in {s.school_id for s in turn.staff}:
            _ask_text(turn, student)
            return
    if state.flow == "agreement" and state.step == "confirm" and data in ("ks:save", "ks:cancel"):
        if data == "ks:save":
            await _save(turn)
        else:
            turn.clear_state()
            turn.reply("cancelled")
        return
    turn.reply("stale_button")


async def on_flow_text(turn: Turn) -> None:
    text = (turn.inbound.text or "").strip()
    step, data = turn.conversation.step, turn.conversation.data
    if step == "student":
        found = await students_named(turn.session, [s.school_id for s in turn.staff], text, limit=10)
        if len(found) > 1:  # the same way `panggil` and `hadir` ask: which one of them?
            turn.reply("agreement_ask_student", {"recent": [], "text": text, "several": True},
                       buttons=[[Button(label=f"{s.name} ({c.name})", data=f"ks:student:{s.id}")] for s, c in found])
            return
        if not found:
            turn.reply("agreement_unknown_student", {"text": text})
            return
        _ask_text(turn, found[0][0])
    elif step == "text":
        if not text:
            _ask_text(turn, await turn.session.get(Student, data["student_id"]))  # type: ignore[arg-type]
            return
        turn.set_state("agreement", "date", **{**data, "text": text[:2000]})
        turn.reply("agreement_ask_date", {"child_name": data["child_name"]})
    elif step == "date":
        tz = await _timezone(turn)
        when = parse_check_in(text, turn.now.astimezone(ZoneInfo(tz)).date())
        if when is None or when <= turn.now.astimezone(ZoneInfo(tz)).date():
            turn.reply("agreement_bad_date", {"text": text})
            return
        at = datetime.combine(when, CHECK_IN_HOUR, tzinfo=ZoneInfo(tz))
        turn.set_state("agreement", "confirm", **{**data, "check_in_at": at.isoformat()})
        turn.reply("agreement_confirm", {**data, "check_in_at": at, "tz": tz},
                   buttons=[[Button(key="agreement.save", data="ks:save")],
                            [Button(key="agreement.cancel", data="ks:cancel")]])
    else:
        turn.reply("use_buttons")


def _ask_text(turn: Turn, student: Student | None) -> None:
    if student is None:
        turn.clear_state()
        turn.reply("stale_button")
        return
    turn.set_state("agreement", "text", student_id=student.id, child_name=student.name)
    turn.reply("agreement_ask_text", {"child_name": student.name})


async def _save(turn: Turn) -> None:
    data = turn.conversation.data
    student = await turn.session.get(Student, data["student_id"])
    staff = next((s for s in turn.staff if student and s.school_id == student.school_id), None)
    turn.clear_state()
    if student is None or staff is None:
        turn.reply("stale_button")
        return
    check_in_at = datetime.fromisoformat(data["check_in_at"])
    agreement = Agreement(school_id=student.school_id, student_id=student.id, staff_id=staff.id,  # type: ignore[arg-type]
                          text=data["text"], check_in_at=check_in_at, created_at=turn.now)
    turn.session.add(agreement)
    await turn.session.flush()
    tz = await _timezone(turn)
    guardians = await _parents(turn.session, student)
    for guardian, relation in guardians:
        turn.send(Outbound(to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                           template="agreement_to_guardian", caused_by_staff_id=staff.id,
                           context={"child_name": student.name, "text": agreement.text, "staff_name": staff.name,
                                    "role": staff.role, "check_in_at": check_in_at, "tz": tz,
                                    "guardian_name": guardian.name, "relation": relation}))
    turn.reply("agreement_saved", {"child_name": student.name, "check_in_at": check_in_at, "tz": tz,
                                   "families": len(guardians)})


async def on_check_in_answer(turn: Turn, data: str) -> None:
    """A family's answer to the check-in: improved, the same, worse, or a note to write."""
    parts = data.split(":")
    agreement = await turn.session.get(Agreement, int(parts[1])) if len(parts) == 3 and parts[1].isdigit() else None
    guardian = await _guardian_of(turn, agreement) if agreement else None
    if agreement is None or guardian is None or parts[2] not in CHECK_IN_ANSWERS or agreement.asked_at is None:
        turn.reply("stale_button")
        return
    if parts[2] == "note":
        turn.set_state("check_in", "note", agreement_id=agreement.id)
        turn.reply("check_in_ask_note")
        return
    await _record(turn, agreement, guardian, parts[2], None)


async def on_check_in_note(turn: Turn) -> None:
    agreement = await turn.session.get(Agreement, turn.conversation.data.get("agreement_id", 0))
    guardian = await _guardian_of(turn, agreement) if agreement else None
    turn.clear_state()
    text = (turn.inbound.text or "").strip()
    if agreement is None or guardian is None or not text:
        turn.reply("stale_button")
        return
    await _record(turn, agreement, guardian, "note", text[:2000])


async def _record(turn: Turn, agreement: Agreement, guardian: Guardian, answer: str, note: str | None) -> None:
    agreement.answer, agreement.note = answer, note
    agreement.answered_by_guardian_id, agreement.answered_at = guardian.id, turn.now
    turn.session.add(agreement)
    student = await turn.session.get(Student, agreement.student_id)
    staff_phone = await _staff_phone(turn.session, agreement.staff_id)
    turn.reply("check_in_thanks", {"answer": answer, "child_name": student.name if student else ""})
    if staff_phone:
        turn.send(Outbound(to=Recipient(phone=staff_phone, staff_id=agreement.staff_id, school_id=agreement.school_id),
                           template="check_in_to_staff",
                           context={"child_name": student.name if student else "", "guardian_name": guardian.name,
                                    "answer": answer, "note": note, "agreement": agreement.text}))


async def send_due_check_ins(sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                             simulator_enabled: bool, default_language: str = "id") -> int:
    """Ask every family whose check-in day has come; each agreement is asked once."""
    async with sessions() as session, session.begin():
        due = list((await session.exec(select(Agreement).where(
            col(Agreement.asked_at).is_(None), col(Agreement.check_in_at) <= now)
            .with_for_update(skip_locked=True))).all())
        outs = []
        for agreement in due:
            agreement.asked_at = now
            session.add(agreement)
            student = await session.get(Student, agreement.student_id)
            staff_phone = await _staff_phone(session, agreement.staff_id)
            if student is None:
                continue
            for guardian, relation in await _parents(session, student):
                outs.append(Outbound(
                    to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                    template="check_in_question",
                    context={"child_name": student.name, "agreement": agreement.text,
                             "guardian_name": guardian.name, "relation": relation,
                             "has_staff": bool(staff_phone)},
                    buttons=[[Button(key=f"check_in.{a}", data=f"fu:{agreement.id}:{a}")] for a in CHECK_IN_ANSWERS]))
        await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled, default_language=default_language)
    return len(due)


def parse_check_in(text: str, today: date) -> date | None:
    """'2 minggu' / '10 hari' / '2 weeks', '14/12', '14/12/2026', '2026-12-14'."""
    lowered = text.strip().lower()
    relative = re.fullmatch(r"(\d{1,3})\s*(hari|days?|minggu|pekan|weeks?)", lowered)
    if relative:
        count = int(relative.group(1))
        return today + timedelta(days=count * (7 if relative.group(2)[0] in "mpw" else 1))
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", lowered):
            return date.fromisoformat(lowered)
        parts = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}))?", lowered)
        if parts:
            day, month = int(parts.group(1)), int(parts.group(2))
            year = int(parts.group(3)) if parts.group(3) else today.year
            when = date(year, month, day)
            return when if parts.group(3) or when > today else date(year + 1, month, day)
    except ValueError:
        return None
    return None


async def parents_of(session: AsyncSession, student: Student) -> list[Guardian]:
    """A student's parents and guardians, without proxy guardians."""
    return [guardian for guardian, _ in await _parents(session, student)]


async def _parents(session: AsyncSession, student: Student) -> list[tuple[Guardian, str]]:
    """The student's guardians (not proxies), each with their relation (ayah, ibu, wali)."""
    return [(guardian, relation) for guardian, relation in (await session.exec(
        select(Guardian, GuardianStudent.relation).join(
            GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id).where(
            GuardianStudent.student_id == student.id, col(GuardianStudent.proxy).is_(False)))).all()]


async def _guardian_of(turn: Turn, agreement: Agreement) -> Guardian | None:
    link = (await turn.session.exec(select(GuardianStudent).where(
        GuardianStudent.student_id == agreement.student_id,
        col(GuardianStudent.guardian_id).in_([g.id for g in turn.guardians])))).first()
    return next((g for g in turn.guardians if link and g.id == link.guardian_id), None)


async def _staff_phone(session: AsyncSession, staff_id: int) -> str | None:
    staff = await session.get(Staff, staff_id)
    return staff.phone if staff else None


async def _timezone(turn: Turn) -> str:
    school = await turn.session.get(School, turn.staff[0].school_id) if turn.staff else None
    return school.timezone if school else turn.policy.default_timezone
