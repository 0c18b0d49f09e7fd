"""Home visits (`kunjungan` / `home visit`): a counselor or wali kelas records a visit to a family.

Guided like `kesepakatan`: student (name or NISN) → date (today or earlier) → who was met →
what was discussed → what was agreed (or nothing) → when to check in with the family (or not)
→ summary (Simpan / Batal). An agreement with a check-in date becomes an ``Agreement``, so the
family is told what was agreed and asked on the day, exactly as after `kesepakatan`. The notes
are confidential: they appear only in the student's case book.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from handlers.follow_ups import CHECK_IN_HOUR, parents_of, parse_check_in
from domain.messages import Button, Outbound, Recipient
from scheduler.when import MONTHS
from handlers.turn import Turn
from storage.audit import record_action
from storage.models import Agreement, HomeVisit, School, SchoolClass, Staff, Student
from storage.people import covers_class

FLOW = "home_visit"
TEXT_LIMIT = 2000
_NONE = {"-", "tidak ada", "tidak", "none", "no", "nothing", "tanpa kesepakatan", "no agreement", "lewati", "skip"}


def may_visit(staff: Staff, school_class: SchoolClass) -> bool:
    """The counselor covering the class, or its wali kelas."""
    if staff.school_id != school_class.school_id:
        return False
    if staff.role == "counselor":
        return covers_class(staff, school_class)
    return (staff.homeroom_class or "").casefold() == school_class.name.casefold()


def parse_visit_date(text: str, today: date) -> date | None:
    """'hari ini', 'kemarin', '3 hari lalu', '20/11', '20/11/2026', '2026-11-20', '20 November'."""
    lowered = " ".join(text.casefold().replace(",", " ").split())
    if lowered in ("hari ini", "today", "tadi", "tadi pagi", "tadi siang"):
        return today
    if lowered in ("kemarin", "yesterday"):
        return today - timedelta(days=1)
    if lowered in ("kemarin lusa", "lusa kemarin"):
        return today - timedelta(days=2)
    ago = re.fullmatch(r"(\d{1,3})\s*(hari|days?|minggu|weeks?)\s*(lalu|yang lalu|ago)", lowered)
    if ago:
        return today - timedelta(days=int(ago[1]) * (7 if ago[2][0] in "mw" else 1))
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", lowered):
            return date.fromisoformat(lowered)
        parts = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}))?", lowered)
        if parts:
            return date(int(parts[3]) if parts[3] else today.year, int(parts[2]), int(parts[1]))
        named = re.fullmatch(r"(\d{1,2})\s+([a-z]+)\.?(?:\s+(\d{4}))?", lowered)
        if named and named[2] in MONTHS:
            return date(int(named[3]) if named[3] else today.year, MONTHS[named[2]], int(named[1]))
    except ValueError:
        return None
    return None


async def start(turn: Turn) -> None:
    """`kunjungan`: which student? Only a counselor or a wali kelas records a home visit."""
    if not any(s.role == "counselor" or s.homeroom_class for s in turn.staff):
        turn.reply("home_visit_not_allowed")
        return
    _ask(turn, "student", {})


def _ask(turn: Turn, step: str, data: dict, problem: str | None = None, **extra: object) -> None:
    turn.set_state(FLOW, step, **data)
    buttons: list[list[Button]] = []
    if step == "agreed":
        buttons = [[Button(key="home_visit.no_agreement", data="kr:none")]]
    elif step == "check_in":
        buttons = [[Button(key="home_visit.no_check_in", data="kr:none")]]
    turn.reply(f"home_visit_ask_{step}", {"child_name": data.get("child_name", ""), "problem": problem,
                                          **extra}, buttons=buttons)


async def _timezone(turn: Turn) -> str:
    school = await turn.session.get(School, turn.staff[0].school_id) if turn.staff else None
    return school.timezone if school else turn.policy.default_timezone


async def on_flow_text(turn: Turn) -> None:
    step, data = turn.conversation.step or "", dict(turn.conversation.data)
    text = " ".join((turn.inbound.text or "").split())[:TEXT_LIMIT]
    if step == "student":
        await _answer_student(turn, text, data)
    elif step == "date":
        today = turn.now.astimezone(ZoneInfo(await _timezone(turn))).date()
        when = parse_visit_date(text, today)
        if when is None:
            _ask(turn, "date", data, "unreadable", text=text)
        elif when > today:
            _ask(turn, "date", data, "future", text=text)
        else:
            _ask(turn, "met", {**data, "visited_on": when.isoformat()})
    elif step in ("met", "discussed"):
        if not re.search(r"[^\W\d_]{2}", text):
            _ask(turn, step, data, "short")
        else:
            _ask(turn, "discussed" if step == "met" else "agreed", {**data, step: text})
    elif step == "agreed":
        if text.casefold().strip(" .!") in _NONE:
            await _confirm(turn, {**data, "agreed": ""})
        elif not re.search(r"[^\W\d_]{2}", text):
            _ask(turn, step, data, "short")
        else:
            _ask(turn, "check_in", {**data, "agreed": text})
    elif step == "check_in":
        if text.casefold().strip(" .!") in _NONE:
            await _confirm(turn, {**data, "check_in_at": None})
            return
        tz = await _timezone(turn)
        today = turn.now.astimezone(ZoneInfo(tz)).date()
        when = parse_check_in(text, today)
        if when is None or when <= today:
            _ask(turn, "check_in", data, "bad", text=text)
            return
        at = datetime.combine(when, CHECK_IN_HOUR, tzinfo=ZoneInfo(tz))
        await _confirm(turn, {**data, "check_in_at": at.isoformat()})
    else:
        turn.reply("use_buttons")


async def on_callback(turn: Turn, data: str) -> None:
    state = turn.conversation
    action = data.partition(":")[2]
    saved = dict(state.data)
    if state.flow != FLOW:
        turn.reply("stale_button")
    elif state.step == "agreed" and action == "none":
        await _confirm(turn, {**saved, "agreed": ""})
    elif state.step == "check_in" and action == "none":
        await _confirm(turn, {**saved, "check_in_at": None})
    elif state.step == "confirm" and action == "save":
        await _save(turn, saved)
    elif state.step == "confirm" and action == "cancel":
        turn.clear_state()
        turn.reply("cancelled")
    else:
        turn.reply("stale_button")


async def _answer_student(turn: Turn, text: str, data: dict) -> None:
    school_ids = [s.school_id for s in turn.staff]
    query = select(Student, SchoolClass).join(SchoolClass, col(SchoolClass.id) == Student.class_id).where(
        col(Student.school_id).in_(school_ids))
    if re.fullmatch(r"\d{5,}", text):
        rows = (await turn.session.exec(query.where(Student.nisn == text))).all()
    else:
        words = re.findall(r"\w+", text)[:6]
        for word in words:
            query = query.where(col(Student.name).icontains(word))
        rows = (await turn.session.exec(query.limit(20))).all() if words else []
    if not rows:
        _ask(turn, "student", data, "unknown", text=text)
        return
    mine = [(s, c) for s, c in rows if any(may_visit(me, c) for me in turn.staff)]
    if not mine:
        _ask(turn, "student", data, "not_allowed", text=text, child_name=rows[0][0].name,
             class_name=rows[0][1].name)
        return
    if len(mine) > 1:
        _ask(turn, "student", data, "several", text=text)
        return
    student, school_class = mine[0]
    me = next(s for s in turn.staff if may_visit(s, school_class))
    _ask(turn, "date", {"student_id": student.id, "staff_id": me.id, "child_name": student.name,
                        "class_name": school_class.name})


async def _confirm(turn: Turn, data: dict) -> None:
    tz = await _timezone(turn)
    turn.set_state(FLOW, "confirm", **data)
    turn.reply("home_visit_confirm", {
        **{k: data.get(k) for k in ("child_name", "class_name", "met", "discussed", "agreed")},
        "visited_on": date.fromisoformat(data["visited_on"]),
        "check_in_at": datetime.fromisoformat(data["check_in_at"]) if data.get("check_in_at") else None, "tz": tz},
        buttons=[[Button(key="home_visit.save", data="kr:save")], [Button(key="home_visit.cancel", data="kr:cancel")]])


async def _save(turn: Turn, data: dict) -> None:
    student = await turn.session.get(Student, data.get("student_id", 0))
    me = next((s for s in turn.staff if s.id == data.get("staff_id")), None)
    turn.clear_state()
    if student is None or me is None or any(k not in data for k in ("visited_on", "met", "discussed", "agreed")):
        turn.reply("stale_button")
        return
    tz = await _timezone(turn)
    agreement: Agreement | None = None
    families = 0
    if data["agreed"] and data.get("check_in_at"):
        check_in_at = datetime.fromisoformat(data["check_in_at"])
        agreement = Agreement(school_id=student.school_id, student_id=student.id, staff_id=me.id,  # type: ignore[arg-type]
                              text=data["agreed"], check_in_at=check_in_at, created_at=turn.now)
        turn.session.add(agreement)
        await turn.session.flush()
        for guardian in await parents_of(turn.session, student):
            families += 1
            turn.send(Outbound(to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                               template="agreement_to_guardian", caused_by_staff_id=me.id,
                               context={"child_name": student.name, "text": agreement.text, "staff_name": me.name,
                                        "role": "counselor" if me.role == "counselor" else "homeroom_teacher",
                                        "check_in_at": check_in_at, "tz": tz, "guardian_name": guardian.name}))
    visit = HomeVisit(school_id=student.school_id, student_id=student.id, staff_id=me.id,  # type: ignore[arg-type]
                      visited_on=date.fromisoformat(data["visited_on"]), met=data["met"],
                      discussed=data["discussed"], agreed=data["agreed"],
                      agreement_id=agreement.id if agreement else None, created_at=turn.now)
    turn.session.add(visit)
    await turn.session.flush()
    record_action(turn.session, me, "home_visit", f"home_visit:{visit.id}", now=turn.now)
    turn.reply("home_visit_saved", {"child_name": student.name, "families": families,
                                    "check_in_at": agreement.check_in_at if agreement else None, "tz": tz})
