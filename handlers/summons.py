"""Staff create a summons (`panggil`) or an invitation (`undang`) from chat, with confirmation.

Both are guided conversations kept in the conversation state (the database), so a half-finished
one survives a restart and runs the same on Telegram, WhatsApp and the simulator:

* ``panggil [NISN]``: student → reason → when → where → summary (Kirim / Ubah / Batal)
* ``undang [AUDIENCE]``: audience → type → title → when → where → what to bring → summary

Each answer fills one field of the state's data and the next question is the first field still
missing, so "Ubah" just forgets the chosen field and asks it again before the summary. On
"Kirim" the meeting, its one slot and the invitations are written in the turn's own transaction
by ``handlers.meetings.invite_meeting`` — the code `jembatan meeting invite` runs — so RSVP,
proxies, reminders and the participation report (which reads each invitation's outbox row)
work exactly as for a meeting created from a file.

Who may call whom: principal and admin any class of their school; a teacher the classes they
teach or are wali kelas of; a counselor the classes or grades they cover.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import col, select

from handlers.meetings import audience_recipients, invite_meeting
from domain.messages import Button
from handlers.turn import Turn
from scheduler.availability import describe_availability
from scheduler.free_slots import slots_from_windows
from scheduler.when import WhenProblem, parse_when
from storage.audience import audience_students
from storage.audit import record_action
from storage.booking import staff_commitments
from storage.meetings import MEETING_TYPES, NO_LOCATION_TYPES, AudienceError, parse_audience
from storage.models import (
    Guardian,
    GuardianStudent,
    Meeting,
    MeetingInvitation,
    MeetingSlot,
    OutboxMessage,
    School,
    SchoolClass,
    Staff,
    Student,
)
from storage.people import covers_class, split_list, students_named
from storage.roster import normalize_class
from storage.stated_availability import staff_free_windows
from storage.summons_levels import earlier_summons, next_level
from storage.routing import role_for_class
from templates.render import LANGUAGES, label, render, words, zone_abbreviation

SUMMONS, INVITATION = "summons", "invitation"
PREFIX = {SUMMONS: "pg", INVITATION: "ug"}
FLOW_OF_PREFIX = {prefix: flow for flow, prefix in PREFIX.items()}
# The questions of each flow, in the order they are asked; each fills the data key of its name.
FIELDS = {
    SUMMONS: ("student", "reason", "when", "where"),
    INVITATION: ("audience", "type", "title", "when", "where", "bring"),
}
INVITATION_TYPES = tuple(t for t in MEETING_TYPES if t != "surat_panggilan")
SUMMONS_LENGTH = timedelta(minutes=30)
INVITATION_LENGTH = timedelta(hours=2)
MAX_STUDENT_CHOICES = 8
# Offers that belong to one question only (kept to check its buttons): a later question must not
# accept an older offer.
_TRANSIENT = ("candidates", "suggested_where", "suggested_title", "audience_choices")
MAX_AUDIENCE_CHOICES = 6
REASON_LIMIT, TITLE_LIMIT, PLACE_LIMIT, BRING_LIMIT = 1000, 150, 120, 300

_YES = {"ya", "yes", "ok", "oke", "kirim", "send", "y"}
_EDIT = {"ubah", "edit", "change", "ganti"}
_NOTHING = {"-", "tidak ada", "tidak", "nothing", "none", "no", "tak ada", "gak ada", "nggak ada"}
_HOME = {"-", "rumah", "di rumah", "rumah keluarga", "home", "at home", "the family's home"}
# "Let the family choose": the summons offers the family times from the staff member's free windows.
_FAMILY_CHOOSES = {"keluarga memilih", "biar keluarga memilih", "orang tua memilih", "biar orang tua memilih",
                   "keluarga pilih", "family chooses", "let the family choose", "the family chooses"}
CHOOSE_DAYS = 14  # how far ahead a family may pick a time
# One family at a time, so the family may pick the time: a summons, a consultation, a home visit.
CHOOSE_LENGTH = {"surat_panggilan": timedelta(minutes=30), "konsultasi": timedelta(minutes=30),
                 "kunjungan_rumah": timedelta(hours=1)}


def _family_may_choose(flow: str, data: dict[str, Any]) -> bool:
    return flow == SUMMONS or data.get("type") in CHOOSE_LENGTH


# ---------------------------------------------------------------- reading a date and time


# ---------------------------------------------------------------- who may call whom


def may_call(staff: Staff, school_class: SchoolClass) -> bool:
    """Whether this staff member may summon or invite the families of this class."""
    if staff.school_id != school_class.school_id:
        return False
    if staff.role in ("principal", "admin"):
        return True
    if staff.role == "teacher" and (staff.homeroom_class or "").casefold() == school_class.name.casefold():
        return True
    return staff.role in ("teacher", "counselor") and covers_class(staff, school_class)


# ---------------------------------------------------------------- entry points (router)


async def start_summons(turn: Turn, argument: str) -> None:
    """`panggil [NISN or name]`: summon the guardians of one student."""
    turn.set_state(SUMMONS, "student")
    if argument.strip():
        await _answer(turn, SUMMONS, "student", argument, {})
    else:
        await _ask(turn, SUMMONS, "student", {})


async def start_invitation(turn: Turn, argument: str) -> None:
    """`undang [audience]`: invite the families of a class, a grade, the school or some students."""
    data: dict[str, Any] = {"staff_id": turn.staff[0].id}
    turn.set_state(INVITATION, "audience", **data)
    if argument.strip():
        await _answer(turn, INVITATION, "audience", argument, data)
    else:
        await _ask(turn, INVITATION, "audience", data)


async def on_flow_text(turn: Turn) -> None:
    """Typed text while a summons or invitation is being written: the answer to the question."""
    flow, step = turn.conversation.flow or "", turn.conversation.step or ""
    data = dict(turn.conversation.data)
    text = (turn.inbound.text or "").strip()
    if flow not in FIELDS or (data.get("staff_id") is not None and _me(turn, data) is None):
        turn.clear_state()
        turn.reply("stale_button")
        return
    if step in FIELDS[flow]:
        await _answer(turn, flow, step, text, data)
    elif step == "confirm":
        word = text.casefold().strip(" .!")
        if word in _YES:
            await _send(turn, flow, data)
        elif word in _EDIT:
            _ask_change(turn, flow, data)
        else:
            await _confirm(turn, flow, data, again=True)
    elif step == "change":
        field = _field_named(flow, text)
        if field is None:
            _ask_change(turn, flow, data, again=True)
        else:
            await _change(turn, flow, field, data)
    else:
        turn.clear_state()
        turn.reply("stale_button")


async def on_callback(turn: Turn, data: str) -> None:
    """A pressed "pg:"/"ug:" button; one from another flow, step or an older question is stale."""
    prefix, _, rest = data.partition(":")
    kind, _, value = rest.partition(":")
    flow = FLOW_OF_PREFIX.get(prefix)
    state = turn.conversation
    step, saved = state.step or "", dict(state.data)
    if flow is None or state.flow != flow or (saved.get("staff_id") is not None and _me(turn, saved) is None):
        turn.reply("stale_button")
        return
    if kind == "cancel":
        turn.clear_state()
        turn.reply("summons_cancelled", {"flow": flow})
    elif kind == "confirm" and step == "confirm":
        await _send(turn, flow, saved)
    elif kind == "edit" and step == "confirm":
        _ask_change(turn, flow, saved)
    elif kind == "change" and step == "change" and value in FIELDS[flow]:
        await _change(turn, flow, value, saved)
    elif kind == "student" and step == "student" and value.isdigit() and int(value) in saved.get("candidates", []):
        await _pick_student(turn, saved, int(value))
    elif kind == "where" and step == "where" and saved.get("suggested_where"):
        await _set(turn, flow, saved, where=saved["suggested_where"])
    elif kind == "aud" and step == "audience" and value in saved.get("audience_choices", []):
        await _answer(turn, flow, "audience", value, saved)
    elif kind == "type" and step == "type" and value in INVITATION_TYPES:
        await _set(turn, flow, saved, type=value)
    elif kind == "title" and step == "title" and saved.get("suggested_title"):
        await _set(turn, flow, saved, title=saved["suggested_title"])
    elif kind == "when" and step == "when" and value == "choose" and _family_may_choose(flow, saved):
        await _set(turn, flow, saved, when={"choose": True})
    elif kind == "bring" and step == "bring" and value == "none":
        await _set(turn, flow, saved, bring="")
    else:
        turn.reply("stale_button")


# ---------------------------------------------------------------- questions and answers


async def _next(turn: Turn, flow: str, data: dict[str, Any]) -> None:
    """Ask the first question still unanswered, or show the summary when all are."""
    for field in FIELDS[flow]:
        if field not in data:
            await _ask(turn, flow, field, data)
            return
    await _confirm(turn, flow, data)


async def _set(turn: Turn, flow: str, data: dict[str, Any], **answer: Any) -> None:
    """Keep an answer and go on; the last question's offers are dropped with it."""
    data = {key: value for key, value in data.items() if key not in _TRANSIENT}
    await _next(turn, flow, {**data, **answer})


async def _ask(turn: Turn, flow: str, field: str, data: dict[str, Any], problem: str | None = None,
               **extra: Any) -> None:
    """Put ``field``'s question (after what was wrong with the last answer, if anything)."""
    data = {key: value for key, value in data.items() if key not in _TRANSIENT}
    context: dict[str, Any] = {"flow": flow, "problem": problem, "text": "", **extra}
    buttons: list[list[Button]] = []
    prefix = PREFIX[flow]
    words = _labels(turn)
    if field == "reason":
        student, school_class = await _student(turn, data)
        context.update(child_name=student.name if student else "", class_name=school_class.name if school_class else "")
        if student is not None:
            earlier = await earlier_summons(turn.session, student, now=turn.now, tz=await _timezone(turn, data))
            context.update(earlier=[{"level": e.level, "at": e.created_at, "reason": e.reason} for e in earlier],
                           level=next_level(earlier), tz=await _timezone(turn, data))
    elif field == "when":
        tz = await _timezone(turn, data)
        may_choose = _family_may_choose(flow, data)
        context.update(tz=tz, tz_name=zone_abbreviation(tz), minutes=_default_length(flow) // timedelta(minutes=1),
                       may_choose=may_choose)
        if may_choose:
            buttons = [[Button(label=words["family_chooses"], data=f"{prefix}:when:choose")]]
    elif field == "where":
        me = _me(turn, data)
        suggestion = _suggested_place(turn, flow, data, me)
        home = flow == INVITATION and data.get("type") in NO_LOCATION_TYPES
        context.update(suggestion=suggestion, home=home)
        if suggestion:
            data["suggested_where"] = suggestion
            buttons = [[Button(label=suggestion, data=f"{prefix}:where")]]
    elif field == "audience":
        choices = await audience_choices(turn, data)
        data["audience_choices"] = [audience for audience, _ in choices]
        buttons = [[Button(label=text, data=f"{prefix}:aud:{audience}")] for audience, text in choices]
    elif field == "type":
        buttons = [[Button(key=f"meeting_types.{kind}", data=f"{prefix}:type:{kind}")] for kind in INVITATION_TYPES]
    elif field == "title":
        suggestion = _suggested_title(turn, data)
        data["suggested_title"] = suggestion
        context.update(suggestion=suggestion, type_key=data.get("type", ""))
        buttons = [[Button(label=suggestion, data=f"{prefix}:title")]]
    elif field == "bring":
        buttons = [[Button(label=words["nothing"], data=f"{prefix}:bring:none")]]
    turn.set_state(flow, field, **data)
    turn.reply(f"summons_ask_{field}", context, buttons=buttons)


async def _answer(turn: Turn, flow: str, field: str, text: str, data: dict[str, Any]) -> None:
    """A typed answer to ``field``'s question: kept and on to the next, or asked again."""
    flat = " ".join(text.split())
    if field == "student":
        await _answer_student(turn, flat, data)
    elif field == "reason":
        problem = "short" if len(text) < 5 or not re.search(r"[^\W\d_]{2}", text) else \
            "long" if len(text) > REASON_LIMIT else None
        if problem:
            await _ask(turn, flow, field, data, problem, limit=REASON_LIMIT)
        else:
            await _set(turn, flow, data, reason=text)
    elif field == "when":
        tz = await _timezone(turn, data)
        if _family_may_choose(flow, data) and flat.casefold().strip(" .!") in _FAMILY_CHOOSES:
            await _set(turn, flow, data, when={"choose": True})
            return
        try:
            start, end = parse_when(flat, turn.now, tz)
        except WhenProblem as problem:
            await _ask(turn, flow, field, data, problem.code, text=flat, at=problem.at, tz=tz)
            return
        end = end or start + _default_length(flow)
        await _set(turn, flow, data, when={"start": start.isoformat(), "end": end.isoformat()})
    elif field == "where":
        home = flow == INVITATION and data.get("type") in NO_LOCATION_TYPES
        if home and flat.casefold() in _HOME:
            await _set(turn, flow, data, where="")
        elif 2 <= len(flat) <= PLACE_LIMIT and flat != "-":
            await _set(turn, flow, data, where=flat)
        else:
            await _ask(turn, flow, field, data, "long" if len(flat) > PLACE_LIMIT else "short", limit=PLACE_LIMIT)
    elif field == "audience":
        audience, problem = await read_audience(turn, data, flat)
        if audience is None:
            await _ask(turn, flow, field, data, problem.pop("code"), text=flat, **problem)
        else:
            await _set(turn, flow, data, audience=audience)
    elif field == "type":
        kind = _type_named(flat)
        if kind is None:
            await _ask(turn, flow, field, data, "unknown", text=flat)
        else:
            await _set(turn, flow, data, type=kind)
    elif field == "title":
        if 3 <= len(flat) <= TITLE_LIMIT and re.search(r"[^\W\d_]", flat):
            await _set(turn, flow, data, title=flat)
        else:
            await _ask(turn, flow, field, data, "long" if len(flat) > TITLE_LIMIT else "short", limit=TITLE_LIMIT)
    elif field == "bring":
        if flat.casefold().strip(" .!") in _NOTHING:
            await _set(turn, flow, data, bring="")
        elif len(flat) <= BRING_LIMIT:
            await _set(turn, flow, data, bring=flat)
        else:
            await _ask(turn, flow, field, data, "long", limit=BRING_LIMIT)


# ---------------------------------------------------------------- the student of a summons


async def _answer_student(turn: Turn, text: str, data: dict[str, Any]) -> None:
    found = await _find_students(turn, text)
    if not found:
        await _ask(turn, SUMMONS, "student", data, "not_found", text=text)
        return
    allowed = [(s, c) for s, c in found if (me := _staff_in(turn, s.school_id)) and may_call(me, c)]
    if not allowed:
        student, school_class = found[0]
        me = _staff_in(turn, student.school_id)
        turn.set_state(SUMMONS, "student", **{k: v for k, v in data.items() if k not in _TRANSIENT})
        turn.reply("summons_not_allowed", {
            "flow": SUMMONS, "several": len(found) > 1, "child_name": student.name,
            "class_names": sorted({c.name for _, c in found}), "role": me.role if me else "teacher",
            "mine": _own_classes(me) if me else []})
        return
    if len(allowed) == 1:
        await _pick_student(turn, data, allowed[0][0].id)  # type: ignore[arg-type]
        return
    if len(allowed) > MAX_STUDENT_CHOICES:
        await _ask(turn, SUMMONS, "student", data, "too_many", text=text, count=MAX_STUDENT_CHOICES)
        return
    data = {**{k: v for k, v in data.items() if k not in _TRANSIENT}, "candidates": [s.id for s, _ in allowed]}
    turn.set_state(SUMMONS, "student", **data)
    turn.reply("summons_ask_student", {"flow": SUMMONS, "problem": "several", "text": text},
               buttons=[[Button(label=f"{s.name} ({c.name})", data=f"pg:student:{s.id}")] for s, c in allowed])


async def _pick_student(turn: Turn, data: dict[str, Any], student_id: int) -> None:
    """The student is settled: check once more who may, and that someone can be invited."""
    student = await turn.session.get(Student, student_id)
    school_class = await turn.session.get(SchoolClass, student.class_id) if student else None
    me = _staff_in(turn, student.school_id) if student else None
    if student is None or school_class is None or me is None or not may_call(me, school_class):
        turn.clear_state()
        turn.reply("stale_button")
        return
    _, guardians = await audience_recipients(turn.session, student.school_id, f"student:{student.nisn}")
    if not guardians:
        await _ask(turn, SUMMONS, "student", data, "no_guardians", text=student.name,
                   child_name=student.name, class_name=school_class.name)
        return
    await _set(turn, SUMMONS, data, student=student.id, staff_id=me.id)


async def _find_students(turn: Turn, text: str) -> list[tuple[Student, SchoolClass]]:
    """Students of the staff member's school(s) by NISN, or whose name holds every typed word."""
    return await students_named(turn.session, [s.school_id for s in turn.staff], text)


# ---------------------------------------------------------------- the audience of an invitation


async def read_audience(turn: Turn, data: dict[str, Any], text: str) -> tuple[str | None, dict[str, Any]]:
    """(the audience in contract syntax, {}) or (None, {code, details}) for the question again."""
    me = _me(turn, data)
    assert me is not None
    try:
        parts = parse_audience(_audience_syntax(text))
    except AudienceError:
        return None, {"code": "unreadable"}
    classes = list((await turn.session.exec(select(SchoolClass).where(
        SchoolClass.school_id == me.school_id).order_by(SchoolClass.name))).all())
    nisns = [nisn for part in parts if part.kind == "student" for nisn in part.values]
    students = {s.nisn: s for s in (await turn.session.exec(select(Student).where(
        Student.school_id == me.school_id, col(Student.nisn).in_(nisns)))).all()} if nisns else {}
    unknown: list[str] = []
    touched: list[SchoolClass] = []
    for part in parts:
        if part.kind == "school":
            touched += classes
        elif part.kind == "grade":
            matching = [c for c in classes if str(c.grade) == part.values[0]]
            unknown += [] if matching else [str(part)]
            touched += matching
        elif part.kind == "class":
            matching = [c for c in classes if c.name == part.values[0]]
            unknown += [] if matching else [part.values[0]]
            touched += matching
        else:
            unknown += [nisn for nisn in part.values if nisn not in students]
            ids = {students[nisn].class_id for nisn in part.values if nisn in students}
            touched += [c for c in classes if c.id in ids]
    if unknown:
        return None, {"code": "unknown", "unknown": unknown, "classes": [c.name for c in classes]}
    refused = sorted({c.name for c in touched if not may_call(me, c)})
    if refused:
        return None, {"code": "not_allowed", "refused": refused, "mine": _own_classes(me), "role": me.role}
    audience = "+".join(str(part) for part in parts)
    families, _ = await audience_recipients(turn.session, me.school_id, audience)
    if families == 0:
        return None, {"code": "empty"}
    return audience, {}


def _audience_syntax(text: str) -> str:
    """What staff type ("VII-A", "kelas 7", "semua", NISNs) in the contract's audience syntax."""
    lowered = text.casefold().strip()
    if lowered in ("sekolah", "semua", "seluruh sekolah", "semua kelas", "all", "whole school", "everyone"):
        return "school"
    grade = re.fullmatch(r"(?:(?:kelas|grade|tingkat|angkatan)\s*)?(\d{1,2})", lowered)
    if grade:
        return f"grade:{grade[1]}"
    if re.fullmatch(r"[\d\s,;]+", text) and re.search(r"\d{5,}", text):
        return "student:" + ",".join(re.findall(r"\d+", text))
    if ":" in text or text.strip().casefold() == "school":
        return text
    name = re.sub(r"^(?:kelas|class)\s+", "", text.strip(), flags=re.IGNORECASE)
    return "+".join(f"class:{normalize_class(part)}" for part in re.split(r"\s*(?:,|\+|\bdan\b|\band\b)\s*", name)
                    if part)


async def audience_choices(turn: Turn, data: dict[str, Any]) -> list[tuple[str, str]]:
    """(audience, label) buttons for what this staff member usually invites."""
    me = _me(turn, data)
    if me is None:
        return []
    words = _labels(turn)
    if me.role in ("principal", "admin"):
        return [("school", words["school"])]
    classes = {c.name: c for c in (await turn.session.exec(select(SchoolClass).where(
        SchoolClass.school_id == me.school_id))).all()}
    choices: list[tuple[str, str]] = []
    for item in _own_classes(me):
        if item.isdigit():
            choices.append((f"grade:{item}", words["grade"].format(grade=item)))
        elif item in classes:
            choices.append((f"class:{item}", item))
    return list(dict.fromkeys(choices))[:MAX_AUDIENCE_CHOICES]


def _own_classes(staff: Staff) -> list[str]:
    """The classes (or grades) a staff member answers for: the homeroom first."""
    items = [normalize_class(staff.homeroom_class)] if staff.homeroom_class and staff.role == "teacher" else []
    for item in split_list(staff.classes):
        item = item if item.isdigit() else normalize_class(item)
        if item not in items:
            items.append(item)
    return items


async def _audience_view(turn: Turn, school_id: int, audience: str) -> list[dict[str, Any]]:
    """The audience's parts for the summary: classes, grades, the school, named students."""
    view = []
    for part in parse_audience(audience):
        values = list(part.values)
        if part.kind == "student":
            rows = (await turn.session.exec(select(Student, SchoolClass).join(
                SchoolClass, col(SchoolClass.id) == Student.class_id).where(
                Student.school_id == school_id, col(Student.nisn).in_(values)))).all()
            values = [f"{s.name} ({c.name})" for s, c in rows]
        view.append({"kind": part.kind, "values": values})
    return view


def _type_named(text: str) -> str | None:
    """A meeting type typed by its key or its name in either language."""
    wanted = "_".join(text.casefold().replace("-", " ").split())
    for kind in INVITATION_TYPES:
        names = {kind} | {label(lang, f"meeting_types.{kind}").casefold() for lang in LANGUAGES}
        if wanted in names or text.casefold() in names:
            return kind
    return None


# ---------------------------------------------------------------- summary, change, send


async def _confirm(turn: Turn, flow: str, data: dict[str, Any], *, again: bool = False) -> None:
    """The summary of what will be sent, with Kirim / Ubah / Batal."""
    data = {key: value for key, value in data.items() if key not in _TRANSIENT}
    me = _me(turn, data)
    assert me is not None
    tz = await _timezone(turn, data)
    if data["when"].get("choose"):
        windows = await staff_free_windows(turn.session, me)
        context: dict[str, Any] = {
            "flow": flow, "again": again, "choose": True, "tz": tz, "days": CHOOSE_DAYS,
            "free": describe_availability(windows, turn.language), "location": data["where"],
            "minutes": CHOOSE_LENGTH[data.get("type", "surat_panggilan")] // timedelta(minutes=1)}
    else:
        start, end = (datetime.fromisoformat(data["when"][k]) for k in ("start", "end"))
        context = {"flow": flow, "again": again, "choose": False, "start": start, "end": end, "tz": tz,
                   "minutes": (end - start) // timedelta(minutes=1), "location": data["where"]}
    if flow == SUMMONS:
        student, school_class = await _student(turn, data)
        if student is None or school_class is None:
            turn.clear_state()
            turn.reply("stale_button")
            return
        _, guardians = await audience_recipients(turn.session, student.school_id, f"student:{student.nisn}")
        relations = {link.guardian_id: link.relation for link in (await turn.session.exec(
            select(GuardianStudent).where(GuardianStudent.student_id == student.id))).all()}
        earlier = await earlier_summons(turn.session, student, now=turn.now, tz=tz)
        context.update(child_name=student.name, class_name=school_class.name, reason=data["reason"],
                       level=next_level(earlier), earlier=len(earlier),
                       guardians=[{"name": g.name, "relation": relations.get(g.id, "wali")} for g in guardians],
                       role=role_for_class(me, school_class.name), organizer_name=me.name)
        template = "summons_confirm"
    else:
        families, guardians = await audience_recipients(turn.session, me.school_id, data["audience"])
        students = await audience_students(turn.session, me.school_id, data["audience"])
        context.update(audience=await _audience_view(turn, me.school_id, data["audience"]),
                       meeting_type=data["type"], title=data["title"], bring=data["bring"],
                       families=families, guardians=len(guardians), students=len(students))
        template = "summons_confirm_invitation"
    words, prefix = _labels(turn), PREFIX[flow]
    turn.set_state(flow, "confirm", **data)
    turn.reply(template, context, buttons=[[Button(label=words["confirm"], data=f"{prefix}:confirm"),
                                            Button(label=words["edit"], data=f"{prefix}:edit"),
                                            Button(label=words["cancel"], data=f"{prefix}:cancel")]])


def _ask_change(turn: Turn, flow: str, data: dict[str, Any], *, again: bool = False) -> None:
    words, prefix = _labels(turn), PREFIX[flow]
    turn.set_state(flow, "change", **data)
    turn.reply("summons_ask_change", {"flow": flow, "again": again},
               buttons=[[Button(label=words[field], data=f"{prefix}:change:{field}")] for field in FIELDS[flow]])


def _field_named(flow: str, text: str) -> str | None:
    """A field typed by its name (in either language) where the buttons were not used."""
    wanted = text.casefold().strip(" .!")
    for field in FIELDS[flow]:
        if wanted in {field, *(words(lang)["summons"][field].casefold() for lang in LANGUAGES)}:
            return field
    return None


async def _change(turn: Turn, flow: str, field: str, data: dict[str, Any]) -> None:
    """Forget one answer and ask it again; the summary follows as every other answer is kept."""
    data = {key: value for key, value in data.items() if key != field}
    await _ask(turn, flow, field, data)


async def _send(turn: Turn, flow: str, data: dict[str, Any]) -> None:
    """Create the meeting with its slot and invite — inside this turn's transaction."""
    data = {key: value for key, value in data.items() if key not in _TRANSIENT}
    me = _me(turn, data)
    if me is None or any(field not in data for field in FIELDS[flow]):
        turn.clear_state()
        turn.reply("stale_button")
        return
    choose = bool(data["when"].get("choose"))
    if choose:
        slots = await _free_slots(turn, me, CHOOSE_LENGTH[data.get("type", "surat_panggilan")])
        if not slots:
            await _ask(turn, flow, "when", {k: v for k, v in data.items() if k != "when"}, "no_free_slots",
                       text="", days=CHOOSE_DAYS)
            return
        start, end = slots[0]
    else:
        start, end = (datetime.fromisoformat(data["when"][k]) for k in ("start", "end"))
        slots = [(start, end)]
    if start <= turn.now:  # the summary waited too long: the time has passed meanwhile
        await _ask(turn, flow, "when", {k: v for k, v in data.items() if k != "when"}, "past",
                   text="", at=start, tz=await _timezone(turn, data))
        return
    if flow == SUMMONS:
        student, school_class = await _student(turn, data)
        if student is None or school_class is None or not may_call(me, school_class):
            turn.clear_state()
            turn.reply("stale_button")
            return
        audience, meeting_type, capacity = f"student:{student.nisn}", "surat_panggilan", 1
        level: int | None = next_level(await earlier_summons(turn.session, student, now=turn.now,
                                                             tz=await _timezone(turn, data)))
        title = render(turn.policy.default_language, "summons_title", {"child_name": student.name, "level": level})
        reason, bring = data["reason"], None
    else:
        checked, problem = await read_audience(turn, data, data["audience"])
        if checked is None:  # the roster changed since the audience was chosen
            await _ask(turn, flow, "audience", {k: v for k, v in data.items() if k != "audience"},
                       problem.pop("code"), text=data["audience"], **problem)
            return
        audience, meeting_type, title = checked, data["type"], data["title"]
        families, _ = await audience_recipients(turn.session, me.school_id, audience)
        capacity, reason, bring = 1 if choose else max(1, families), None, data["bring"] or None
        level = None
    meeting = Meeting(school_id=me.school_id, type=meeting_type, title=title, organizer_staff_id=me.id,  # type: ignore[arg-type]
                      audience=audience, location=data["where"], room_capacity=capacity, reason=reason,
                      bring=bring, summons_level=level, created_at=turn.now)
    turn.session.add(meeting)
    await turn.session.flush()
    record_action(turn.session, me, "summons" if flow == SUMMONS else "invite", f"meeting:{meeting.id}",
                  now=turn.now)
    for slot_start, slot_end in slots:
        turn.session.add(MeetingSlot(school_id=me.school_id, meeting_id=meeting.id, starts_at=slot_start,  # type: ignore[arg-type]
                                     ends_at=slot_end, capacity=capacity))
    await turn.session.flush()
    result = await invite_meeting(turn.session, meeting.id, now=turn.now,  # type: ignore[arg-type]
                                  simulator_enabled=_simulator_enabled(turn),
                                  default_language=turn.policy.default_language, offer_slots=choose)
    unreachable = (await turn.session.exec(select(Guardian.name).join(
        MeetingInvitation, col(MeetingInvitation.guardian_id) == Guardian.id).join(
        OutboxMessage, col(OutboxMessage.id) == MeetingInvitation.outbox_id).where(
        MeetingInvitation.meeting_id == meeting.id, OutboxMessage.status == "held").order_by(Guardian.name))).all()
    turn.clear_state()
    turn.reply("summons_sent", {"flow": flow, "meeting_id": meeting.id, "title": title, "families": result.families,
                                "invited": result.invited, "unreachable": list(unreachable), "choose": choose,
                                "start": start, "tz": await _timezone(turn, data)})


async def _free_slots(turn: Turn, me: Staff, length: timedelta) -> list[tuple[datetime, datetime]]:
    """The staff member's free times over the coming days, minus what they already have on."""
    tz = await _timezone(turn, {})
    taken = [(s.starts_at, s.ends_at) for s in await staff_commitments(turn.session, me.id, after=turn.now)]  # type: ignore[arg-type]
    first_day = (turn.now.astimezone(ZoneInfo(tz)) + timedelta(days=1)).date()
    return slots_from_windows(await staff_free_windows(turn.session, me), first_day=first_day, days=CHOOSE_DAYS,
                              length=length, tz=tz, busy=taken, after=turn.now)  # type: ignore[arg-type]


# ---------------------------------------------------------------- small helpers


def _simulator_enabled(turn: Turn) -> bool:
    """Whether invitations may go to simulator chats (the app's setting, as the inbox uses it)."""
    return turn.policy.simulator_enabled


def _me(turn: Turn, data: dict[str, Any]) -> Staff | None:
    """The staff row this flow acts as (the organizer), if it is still the sender's."""
    return next((s for s in turn.staff if s.id == data.get("staff_id")), None)


def _staff_in(turn: Turn, school_id: int) -> Staff | None:
    return next((s for s in turn.staff if s.school_id == school_id), None)


async def _student(turn: Turn, data: dict[str, Any]) -> tuple[Student | None, SchoolClass | None]:
    student = await turn.session.get(Student, data["student"]) if data.get("student") else None
    school_class = await turn.session.get(SchoolClass, student.class_id) if student else None
    return student, school_class


async def _timezone(turn: Turn, data: dict[str, Any]) -> str:
    """The organizer's school's zone (the policy's default when it has none or an unknown one)."""
    me = _me(turn, data) or (turn.staff[0] if turn.staff else None)
    school = await turn.session.get(School, me.school_id) if me else None
    tz = (school.timezone if school else "") or turn.policy.default_timezone
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        tz = turn.policy.default_timezone
    return tz


def _default_length(flow: str) -> timedelta:
    return SUMMONS_LENGTH if flow == SUMMONS else INVITATION_LENGTH


def _suggested_place(turn: Turn, flow: str, data: dict[str, Any], me: Staff | None) -> str:
    """The usual place, named in the school's language (families read it): counselor's room, staff
    room, the class's room or the hall."""
    place = words(turn.policy.default_language if turn.policy.default_language in LANGUAGES else "id")["summons"]
    if flow == SUMMONS:
        return place["place_counselor" if me is not None and me.role == "counselor" else "place_staff"]
    if data.get("type") in NO_LOCATION_TYPES:
        return ""
    parts = parse_audience(data["audience"]) if data.get("audience") else []
    if len(parts) == 1 and parts[0].kind == "class":
        return place["place_class"].format(value=parts[0].values[0])
    return place["place_hall"]


def _suggested_title(turn: Turn, data: dict[str, Any]) -> str:
    """The type's name with the audience, in the school's language: "Rapat Komite Kelas VII-A"."""
    lang = turn.policy.default_language if turn.policy.default_language in LANGUAGES else "id"
    name = label(lang, f"meeting_types.{data['type']}")
    parts = parse_audience(data["audience"])
    if len(parts) == 1 and parts[0].kind in ("class", "grade"):
        return f"{name} {words(lang)['summons'][parts[0].kind + '_title'].format(value=parts[0].values[0])}"
    return name


def _labels(turn: Turn) -> dict[str, str]:
    """Button and field labels in the staff member's language (words.yaml, ``summons``)."""
    return dict(words(turn.language)["summons"])
