"""Violence reports (`lapor` / `report`): a guardian reports violence or bullying to the TPPK team.

A guided conversation — which child, what happened, when, where, who was involved, an optional
photo, and whether the reporter's name stays within the team — then one concern of category
``violence_report``: it is never routed by the classifier and never joins another concern, so
staff answer it with the ordinary reply relay. It goes to the staff whose ``teams`` holds
``tppk`` (Permendikbudristek 46/2023), else to the class's counselor and the principal. The
guardian is acknowledged at once with a case number; a report nobody answered within
``REPORT_ANSWER_HOURS`` goes to the principal, once (``escalate_unanswered_reports``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.concerns import SUPPORTED_MEDIA, forward
from domain.messages import Button, Outbound, Recipient
from handlers.turn import Turn
from storage.models import Concern, ConcernMessage, Guardian, OutboxMessage, School, Staff, Student
from storage.outbox import enqueue
from storage.people import Child, children_of, school_staff, split_list
from storage.routing import counselor_for, first_with_role
from templates.render import LANGUAGES, words

FLOW = "violence_report"
CATEGORY = "violence_report"
TEAM = "tppk"
ROLE = "tppk"
REPORT_ANSWER_HOURS = 24
STEPS = ("what", "when", "where", "who", "photo", "name")
TEXT_LIMIT = 2000
_SKIP = {"lewati", "tidak", "tidak ada", "skip", "no", "none", "-", "tak ada"}


def case_number(concern: Concern, tz: str = "Asia/Jakarta") -> str:
    """The number a reporter and the team use for a report: LAP-2026-0012."""
    year = concern.created_at.astimezone(ZoneInfo(tz)).year if concern.created_at else 0
    return f"LAP-{year}-{concern.id:04d}"


def in_team(staff: Staff) -> bool:
    return TEAM in (t.casefold() for t in split_list(staff.teams))


async def report_team(session: AsyncSession, child: Child) -> list[Staff]:
    """Who receives a report: the TPPK team, else the class's counselor and the principal."""
    team = [s for s in await school_staff(session, child.student.school_id) if in_team(s)]
    if team:
        return sorted(team, key=lambda s: (s.role != "counselor", s.id))  # a counselor holds it first
    fallback = [await counselor_for(session, child.school_class),
                await first_with_role(session, child.student.school_id, "principal")]
    return list({s.id: s for s in fallback if s is not None}.values())


def may_see_reporter(staff: Staff, concern: Concern) -> bool:
    """Whether this staff member may read the reporter's name (asked to stay within the team)."""
    return not concern.reporter_hidden or in_team(staff) or staff.id == concern.staff_id


# ---------------------------------------------------------------- the conversation


async def start(turn: Turn) -> None:
    """`lapor`: which child (when several), then what happened."""
    children = await children_of(turn.session, [g.id for g in turn.guardians if g.id])
    if not children:
        turn.reply("no_children")
        return
    if len(children) == 1:
        _ask(turn, "what", {"student_id": children[0].student.id, "child_name": children[0].name})
        return
    turn.set_state(FLOW, "child")
    turn.reply("report_ask_child", {"children": [{"name": c.name, "class_name": c.school_class.name}
                                                 for c in children]},
               buttons=[[Button(label=f"{c.name} ({c.school_class.name})", data=f"lr:child:{c.student.id}")]
                        for c in children])


def _ask(turn: Turn, step: str, data: dict, problem: str | None = None) -> None:
    turn.set_state(FLOW, step, **data)
    buttons: list[list[Button]] = []
    if step == "photo":
        buttons = [[Button(key="report.skip", data="lr:skip")]]
    elif step == "name":
        buttons = [[Button(key="report.hide", data="lr:hide")], [Button(key="report.show", data="lr:show")]]
    turn.reply(f"report_ask_{step}", {"child_name": data.get("child_name", ""), "problem": problem},
               buttons=buttons)


def _next_step(step: str) -> str:
    return STEPS[STEPS.index(step) + 1]


async def on_flow_text(turn: Turn) -> None:
    """An answer typed (or a photo sent) while the report is being written."""
    state = turn.conversation
    step, data = state.step or "", dict(state.data)
    text = " ".join((turn.inbound.text or "").split())[:TEXT_LIMIT]
    photos = [{"url": url, "content_type": kind} for url, kind in turn.inbound.media if kind in SUPPORTED_MEDIA]
    if step == "child":
        children = await children_of(turn.session, [g.id for g in turn.guardians if g.id])
        wanted = text.casefold().rstrip(".")
        chosen = [c for n, c in enumerate(children, start=1)
                  if wanted == str(n) or (wanted and wanted in c.name.casefold())]
        if len(chosen) != 1:
            turn.reply("use_buttons")
            return
        _ask(turn, "what", {"student_id": chosen[0].student.id, "child_name": chosen[0].name})
        return
    if step == "photo":
        if photos:
            data["media"] = [*data.get("media", []), *photos]
        elif text.casefold().strip(" .!") not in _SKIP:
            _ask(turn, "photo", data, "not_a_photo")
            return
        _ask(turn, "name", data)
        return
    if step in ("what", "when", "where", "who"):
        if photos:  # a photo sent early is kept for the report
            data["media"] = [*data.get("media", []), *photos]
        if not re.search(r"[^\W\d_]{2}|\d", text):  # a sticker, a voice note, an emoji alone
            _ask(turn, step, data, "needs_words")
            return
        data[step] = text
        _ask(turn, _next_step(step), data)
        return
    if step == "name":
        turn.reply("use_buttons")
        return
    turn.clear_state()
    turn.reply("stale_button")


async def on_callback(turn: Turn, data: str) -> None:
    state = turn.conversation
    _, _, action = data.partition(":")
    saved = dict(state.data)
    if state.flow != FLOW:
        turn.reply("stale_button")
        return
    if state.step == "child" and action.startswith("child:"):
        children = await children_of(turn.session, [g.id for g in turn.guardians if g.id])
        child = next((c for c in children if str(c.student.id) == action.partition(":")[2]), None)
        if child is not None:
            _ask(turn, "what", {"student_id": child.student.id, "child_name": child.name})
            return
    elif state.step == "photo" and action == "skip":
        _ask(turn, "name", saved)
        return
    elif state.step == "name" and action in ("hide", "show"):
        await _submit(turn, saved, hidden=action == "hide")
        return
    turn.reply("stale_button")


def _record_text(data: dict, lang: str) -> str:
    """The report as one message in the school's language: what, when, where, who."""
    labels = words(lang if lang in LANGUAGES else "id")["report"]
    return "\n".join(f"{labels[key]}: {data[key]}" for key in ("what", "when", "where", "who"))


async def _submit(turn: Turn, data: dict, *, hidden: bool) -> None:
    children = await children_of(turn.session, [g.id for g in turn.guardians if g.id])
    child = next((c for c in children if c.student.id == data.get("student_id")), None)
    turn.clear_state()
    if child is None or any(key not in data for key in ("what", "when", "where", "who")):
        turn.reply("stale_button")
        return
    school = await turn.session.get(School, child.student.school_id)
    assert school is not None
    team = await report_team(turn.session, child)
    if not team:
        turn.reply("no_staff", {"office": school.office_contact, "school": school.name})
        return
    guardian = next(g for g in turn.guardians if g.id == child.link.guardian_id)
    holder = team[0]
    principal = next((s for s in team if s.role == "principal" and not in_team(s)), None)
    media = list(data.get("media", []))
    concern = Concern(
        school_id=school.id, guardian_id=guardian.id, student_id=child.student.id, staff_id=holder.id,  # type: ignore[arg-type]
        escalated_to_id=principal.id if principal and principal.id != holder.id else None,
        staff_role=ROLE, category=CATEGORY, status="open", created_at=turn.now, last_activity_at=turn.now,
        due_at=turn.now + timedelta(hours=REPORT_ANSWER_HOURS), reporter_hidden=hidden)
    turn.session.add(concern)
    await turn.session.flush()
    text = _record_text(data, turn.policy.default_language)
    turn.session.add(ConcernMessage(concern_id=concern.id, author="guardian", text=text, media=media,  # type: ignore[arg-type]
                                    created_at=turn.now))
    number = case_number(concern, school.timezone)
    for staff in team:
        turn.send(forward(concern, staff, ROLE, guardian, child, "", template="report_forwarded", media=media,
                          extra={"case_number": number, "report": {k: data[k] for k in ("what", "when", "where", "who")},
                                 "hidden": hidden, "team": [s.name for s in team], "escalated": False}))
    turn.reply("report_received", {"case_number": number, "child_name": child.name, "hidden": hidden,
                                   "tppk": in_team(holder), "hours": REPORT_ANSWER_HOURS,
                                   "attachments": len(media)}, concern_id=concern.id)


async def continue_report(turn: Turn) -> bool:
    """A guardian's reply (reply-to) to a message of their open report adds to that report."""
    reply_to = turn.inbound.reply_to
    if reply_to is None or not (turn.inbound.text or "").strip():
        return False
    row = (await turn.session.exec(select(OutboxMessage).where(
        OutboxMessage.channel == turn.inbound.channel, OutboxMessage.chat_id == turn.inbound.chat_id,
        OutboxMessage.external_message_id == reply_to))).first()
    concern = await turn.session.get(Concern, row.concern_id) if row and row.concern_id else None
    if concern is None or concern.category != CATEGORY or concern.status == "closed" \
            or concern.guardian_id not in {g.id for g in turn.guardians}:
        return False
    text = (turn.inbound.text or "").strip()[:TEXT_LIMIT]
    turn.session.add(ConcernMessage(concern_id=concern.id, author="guardian", text=text,  # type: ignore[arg-type]
                                    created_at=turn.now))
    concern.last_activity_at = turn.now
    turn.session.add(concern)
    children = await children_of(turn.session, [concern.guardian_id])
    child = next(c for c in children if c.student.id == concern.student_id)
    guardian = next(g for g in turn.guardians if g.id == concern.guardian_id)
    for staff_id in {concern.staff_id, concern.escalated_to_id} - {None}:
        staff = await turn.session.get(Staff, staff_id)
        if staff is not None:
            turn.send(forward(concern, staff, ROLE, guardian, child, text, template="report_follow_up",
                              extra={"case_number": case_number(concern),
                                     "hidden": not may_see_reporter(staff, concern)}))
    turn.reply("report_added", {"case_number": case_number(concern)}, concern_id=concern.id)
    return True


# ---------------------------------------------------------------- unanswered: to the principal


async def escalate_unanswered_reports(sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                                      simulator_enabled: bool, default_language: str = "id") -> int:
    """Every report unanswered for a day goes to the principal, once; returns how many."""
    async with sessions() as session, session.begin():
        overdue = list((await session.exec(select(Concern).where(
            Concern.category == CATEGORY, Concern.status == "open", col(Concern.first_answer_at).is_(None),
            col(Concern.escalated_at).is_(None), col(Concern.due_at) <= now)
            .with_for_update(skip_locked=True))).all())
        outs: list[Outbound] = []
        for concern in overdue:
            concern.escalated_at = now  # never twice, whoever the principal is
            session.add(concern)
            principal = await first_with_role(session, concern.school_id, "principal")
            guardian = await session.get(Guardian, concern.guardian_id)
            student = await session.get(Student, concern.student_id)
            school = await session.get(School, concern.school_id)
            if principal is None or guardian is None or student is None or school is None:
                continue
            child = next(c for c in await children_of(session, [guardian.id]) if c.student.id == student.id)  # type: ignore[list-item]
            first = (await session.exec(select(ConcernMessage).where(
                ConcernMessage.concern_id == concern.id).order_by(ConcernMessage.id))).first()
            shown = may_see_reporter(principal, concern)
            if principal.id != concern.staff_id:
                concern.escalated_to_id = principal.id
            outs.append(forward(concern, principal, "principal", guardian, child, first.text if first else "",
                                template="report_escalated", media=first.media if first else [],
                                extra={"case_number": case_number(concern, school.timezone),
                                       "hidden": not shown, "hours": REPORT_ANSWER_HOURS}))
            outs.append(Outbound(to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                                 template="report_escalated_guardian", concern_id=concern.id,
                                 context={"case_number": case_number(concern, school.timezone),
                                          "child_name": child.name}))
        await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled, default_language=default_language)
    return len(overdue)
