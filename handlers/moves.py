"""Moving a concern to another staff member: a colleague's hand-over (`alihkan` / `handover`)
and a guardian's "Salah tujuan?" / "Wrong person?".

Either way the new holder receives the whole thread as written (child, class, guardian name and
relation, never a phone), the one who had it is told it left (without the words), the guardian
is told who answers now, escalation timing restarts for the new holder, the move is kept as a
``ConcernHandover`` row and the school's correction as a routing example.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from handlers.classifier import group_of
from handlers.concerns import (
    FALLBACK_CATEGORY,
    GROUP_CHOICES,
    answer_deadline,
    first_messages,
    route,
    shorten,
    wrong_person_button,
)
from domain.messages import Button, Outbound, Recipient
from handlers.replies import concern_view, open_concerns_of_staff, target_of_reply
from handlers.routing import classify_message
from handlers.turn import Turn
from domain.office_hours import described, parse_office_hours
from scheduler.opening import next_open
from storage.audit import record_action
from storage.models import Concern, ConcernHandover, ConcernMessage, School, SchoolClass, Staff, Student
from storage.people import children_of, covers_class, school_staff, split_list
from storage.routing import counselor_for, first_with_role, homeroom_teacher, role_for_class
from storage.routing_examples import record_correction
from templates.render import label

# The staff group a colleague's role answers for; a hand-over to them says the message was
# theirs. The wali kelas answers both learning and absence, the principal anything: no label.
ROLE_GROUP = {"counselor": "counseling", "subject_teacher": "academic", "admin": "admin"}
# Thread words per message to the new holder: with the header and footer this stays inside
# WhatsApp's 1,600 characters, so a long thread arrives whole, in parts.
THREAD_PART_CHARS = 1100


@dataclass(frozen=True)
class Colleague:
    """A staff member who may take a child's concern, in the role they stand to that child."""

    staff: Staff
    role: str
    subject: str | None = None


async def colleagues(turn: Turn, school_class: SchoolClass) -> list[Colleague]:
    """The child's staff: guru BK, wali kelas, subject teachers of the class, the office, the
    principal; each person once, in the first of those roles."""
    session, school_id = turn.session, school_class.school_id
    found: list[Colleague] = []
    counselor = await counselor_for(session, school_class)
    if counselor is not None:
        found.append(Colleague(counselor, "counselor"))
    homeroom = await homeroom_teacher(session, school_id, school_class.name)
    if homeroom is not None:
        found.append(Colleague(homeroom, "homeroom_teacher"))
    for staff in await school_staff(session, school_id):
        subjects = split_list(staff.subjects)
        if staff.role == "teacher" and subjects and covers_class(staff, school_class):
            found.append(Colleague(staff, "subject_teacher", subjects[0]))
    for role in ("admin", "principal"):
        staff = await first_with_role(session, school_id, role)  # type: ignore[assignment]
        if staff is not None:
            found.append(Colleague(staff, role))
    seen: set[int | None] = set()
    unique = []
    for colleague in found:
        if colleague.staff.id not in seen:
            seen.add(colleague.staff.id)
            unique.append(colleague)
    return unique


def colleague_label(lang: str, colleague: Colleague) -> str:
    role = label(lang, "buttons.subject_teacher").format(subject=colleague.subject) \
        if colleague.role == "subject_teacher" and colleague.subject else label(lang, f"roles.{colleague.role}")
    return f"{role}: {colleague.staff.name}"


# ---------------------------------------------------------------- staff: alihkan / handover


async def start_handover(turn: Turn, argument: str) -> None:
    """`alihkan N`, or `alihkan` as a reply to the forward: offer the child's other staff."""
    mine = await open_concerns_of_staff(turn)
    concern: Concern | None
    if argument.lstrip("#").isdigit():
        concern = await turn.session.get(Concern, int(argument.lstrip("#")))
    elif argument:
        concern = None
    elif turn.inbound.reply_to is not None:
        concern = await target_of_reply(turn)
    elif len(mine) == 1:
        concern = mine[0]
    elif mine:
        firsts = await first_messages(turn, [c.id for c in mine])  # type: ignore[misc]
        views = [await concern_view(turn, c) for c in mine]
        turn.reply("handover_which", {"cases": views},
                   buttons=[[Button(label=f"#{v['concern_id']} {v['child_name']}: "
                                          f"{shorten(firsts.get(v['concern_id'], ''), 36)}",
                                    data=f"hw:{v['concern_id']}")] for v in views])
        return
    else:
        turn.reply("staff_no_target")
        return
    await _offer_colleagues(turn, concern, argument)


async def _offer_colleagues(turn: Turn, concern: Concern | None, argument: str = "") -> None:
    if concern is None or not _is_mine(turn, concern):
        turn.reply("handover_unknown", {"argument": argument.lstrip("#")})
        return
    if concern.status == "closed":
        turn.reply("concern_already_closed", {"concern_id": concern.id})
        return
    school_class = await _class_of(turn, concern)
    others = [c for c in await colleagues(turn, school_class)
              if c.staff.id != concern.staff_id and c.staff.id not in {s.id for s in turn.staff}]
    view = await concern_view(turn, concern)
    if not others:
        turn.reply("handover_no_colleagues", view)
        return
    turn.reply("handover_ask", view, buttons=[
        [Button(label=colleague_label(turn.language, c), data=f"ho:{concern.id}:{concern.staff_id}:{c.staff.id}")]
        for c in others])


async def on_staff_callback(turn: Turn, data: str) -> None:
    """`hw:N` (which concern to hand over) and `ho:N:HOLDER:TO` (hand it to this colleague)."""
    parts = data.split(":")
    if parts[0] == "hw" and len(parts) == 2 and parts[1].isdigit():
        await _offer_colleagues(turn, await turn.session.get(Concern, int(parts[1])), parts[1])
        return
    if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
        turn.reply("stale_button")
        return
    concern_id, holder_id, target_id = (int(p) for p in parts[1:])
    # Locked: the holder and the one it was escalated to pressing at once move it once.
    concern = await turn.session.get(Concern, concern_id, with_for_update=True, populate_existing=True)
    if concern is None or not _is_mine(turn, concern) or concern.status == "closed" \
            or concern.staff_id != holder_id:
        turn.reply("handover_stale", {"concern_id": concern_id})
        return
    school_class = await _class_of(turn, concern)
    colleague = next((c for c in await colleagues(turn, school_class) if c.staff.id == target_id), None)
    if colleague is None or colleague.staff.id == concern.staff_id:
        turn.reply("handover_target_gone", {"concern_id": concern_id})
        return
    me = next(s for s in turn.staff if s.id in (concern.staff_id, concern.escalated_to_id))
    group = ROLE_GROUP.get(colleague.role)
    first = (await first_messages(turn, [concern.id])).get(concern.id, "")  # type: ignore[list-item]
    if group is not None:
        record_correction(turn.session, school_id=concern.school_id, text=first, group=group,
                          category=_category_for(concern, group), source="handover", now=turn.now,
                          guardian_id=concern.guardian_id, concern_id=concern.id)
    await move_concern(turn, concern, colleague, source="handover", by=me, group=group)
    record_action(turn.session, me, "handover_concern", f"concern:{concern.id}", now=turn.now)


def _category_for(concern: Concern, group: str) -> str:
    """The concern's category in its new group: kept when it already belongs there."""
    return concern.category if group_of(concern.category) == group else FALLBACK_CATEGORY[group]


# ---------------------------------------------------------------- guardian: "Salah tujuan?"


async def on_wrong_person(turn: Turn, data: str) -> None:
    """`wp:N:HOLDER` asks the category again; `wg:N:HOLDER:GROUP` moves the concern there."""
    parts = data.split(":")
    ids = parts[1:3]
    if len(parts) < 3 or not all(p.isdigit() for p in ids):
        turn.reply("stale_button")
        return
    concern = await turn.session.get(Concern, int(ids[0]), with_for_update=True, populate_existing=True)
    guardian_ids = {g.id for g in turn.guardians}
    if concern is None or concern.guardian_id not in guardian_ids or concern.status == "closed" \
            or concern.staff_id != int(ids[1]):
        turn.reply("wrong_person_stale", {"concern_id": int(ids[0])})
        return
    view = await concern_view(turn, concern)
    if parts[0] == "wp" and len(parts) == 3:
        prefix = f"wg:{concern.id}:{concern.staff_id}"
        turn.reply("wrong_person_ask", view, buttons=[
            [Button(key=f"groups.{g}", data=f"{prefix}:{g}")] for g in GROUP_CHOICES]
            + [[Button(key="buttons.keep_staff", data=f"{prefix}:keep")]])
        return
    group = parts[3] if len(parts) == 4 else ""
    if parts[0] != "wg" or group not in (*GROUP_CHOICES, "keep"):
        turn.reply("stale_button")
        return
    holder = await turn.session.get(Staff, concern.staff_id)
    assert holder is not None
    if group == "keep":
        turn.reply("wrong_person_kept", {**view, "staff_name": holder.name, "role": concern.staff_role,
                                         "subject": concern.subject})
        return
    first = (await first_messages(turn, [concern.id])).get(concern.id, "")  # type: ignore[list-item]
    subject = (await classify_message(turn.session, concern.school_id, first)).subject \
        if group == "academic" else None
    category = _category_for(concern, group)
    child = next(c for c in await children_of(turn.session, list(guardian_ids))  # type: ignore[arg-type]
                 if c.student.id == concern.student_id)
    routed = await route(turn, child, group, subject)
    if routed is None:
        school = await turn.session.get(School, concern.school_id)
        turn.reply("no_staff", {"office": school.office_contact if school else "", "school": school.name if school else ""})
        return
    record_correction(turn.session, school_id=concern.school_id, text=first, group=group, category=category,
                      source="wrong_person", now=turn.now, guardian_id=concern.guardian_id, concern_id=concern.id)
    staff, role = routed
    if staff.id == concern.staff_id:  # the same person answers that too: only the label changes
        concern.category, concern.subject, concern.staff_role = category, subject, role
        turn.session.add(concern)
        turn.reply("wrong_person_same", {**view, "staff_name": staff.name, "role": role, "subject": subject},
                   buttons=[[wrong_person_button(concern)]])
        return
    await move_concern(turn, concern, Colleague(staff, role, subject), source="wrong_person", by=None,
                       group=group, category=category)


# ---------------------------------------------------------------- the move itself


async def move_concern(turn: Turn, concern: Concern, to: Colleague, *, source: str, by: Staff | None,
                       group: str | None, category: str | None = None) -> None:
    """Give the concern to ``to``: thread to them, notices to the one who had it and the guardian."""
    before = await concern_view(turn, concern)
    left = [sid for sid in (concern.staff_id, concern.escalated_to_id) if sid is not None and sid != to.staff.id]
    turn.session.add(ConcernHandover(school_id=concern.school_id, concern_id=concern.id,  # type: ignore[arg-type]
                                     from_staff_id=concern.staff_id, to_staff_id=to.staff.id, source=source,
                                     category=concern.category, at=turn.now))
    if group is not None:
        concern.category = category or _category_for(concern, group)
        concern.subject = to.subject if group == "academic" else None
    elif to.role == "subject_teacher":
        concern.subject = to.subject
    school = await turn.session.get(School, concern.school_id)
    tz = (school.timezone if school else None) or turn.policy.default_timezone
    concern.staff_id, concern.staff_role = to.staff.id, to.role  # type: ignore[assignment]
    # The new holder has not answered yet: escalation timing starts again for them.
    concern.status, concern.first_answer_at = "open", None
    concern.escalated_at, concern.escalated_to_id = None, None
    concern.due_at = answer_deadline(turn.now, turn.policy.answer_limit_hours, to.staff.office_hours, tz)
    concern.last_activity_at = turn.now
    turn.session.add(concern)
    view = {**before, "category": concern.category, "subject": concern.subject}
    by_view = {"by_name": by.name if by else None, "by_role": role_for_class(by, before["class_name"]) if by else None}
    parts = _in_parts(await _thread(turn, concern))
    for number, part in enumerate(parts, 1):  # a long thread in several messages, none cut short
        turn.send(Outbound(
            to=Recipient(phone=to.staff.phone, staff_id=to.staff.id, school_id=to.staff.school_id),
            template="concern_handed_over", concern_id=concern.id,
            context={**_public(view), **by_view, "source": source, "role": to.role, "thread": part,
                     "part": number, "parts": len(parts)}))
    for staff_id in left:
        staff = await turn.session.get(Staff, staff_id)
        if staff is not None and (by is None or staff.id != by.id):
            turn.send(Outbound(to=Recipient(phone=staff.phone, staff_id=staff.id, school_id=staff.school_id),
                               template="concern_moved_away",
                               context={**_public(view), **by_view, "source": source, "staff_name": to.staff.name,
                                        "role": to.role, "subject": to.subject}))
    opens = next_open(parse_office_hours(to.staff.office_hours), turn.now.astimezone(ZoneInfo(tz)))
    told = {**_public(view), "source": source, "staff_name": to.staff.name, "role": to.role,
            "subject": concern.subject if to.role == "subject_teacher" else None,
            "office_hours": described(to.staff.office_hours), "tz": tz, "opens_at": opens if opens > turn.now else None}
    if by is None:  # the guardian pressed "Salah tujuan?": the answer is theirs
        turn.reply("concern_moved_guardian", told, buttons=[[wrong_person_button(concern)]],
                   concern_id=concern.id)
        return
    turn.send(Outbound(to=Recipient(phone=before["guardian_phone"], guardian_id=concern.guardian_id,
                                    school_id=concern.school_id),
                       template="concern_moved_guardian", context=told, concern_id=concern.id,
                       buttons=[[wrong_person_button(concern)]], caused_by_staff_id=by.id))
    turn.reply("handover_done", {**_public(view), "staff_name": to.staff.name, "role": to.role,
                                 "subject": to.subject})


def _public(view: dict) -> dict:
    """A concern's view without the guardian's phone (only the outbox needs that)."""
    return {k: v for k, v in view.items() if k != "guardian_phone"}


async def _thread(turn: Turn, concern: Concern) -> list[dict]:
    """Every message of the concern, as written, with who wrote it."""
    rows = (await turn.session.exec(
        select(ConcernMessage.author, Staff.name, ConcernMessage.text, ConcernMessage.media)
        .join(Staff, col(Staff.id) == ConcernMessage.staff_id, isouter=True)
        .where(ConcernMessage.concern_id == concern.id).order_by(col(ConcernMessage.id)))).all()
    return [{"author": author, "staff_name": name, "text": text,
             "attachments": [m.get("url", "") for m in media or []]} for author, name, text, media in rows]


def _in_parts(thread: list[dict], budget: int = THREAD_PART_CHARS) -> list[list[dict]]:
    """The thread's messages in consecutive parts of about ``budget`` characters each."""
    parts: list[list[dict]] = [[]]
    size = 0
    for message in thread:
        length = len(message["text"]) + sum(len(url) for url in message["attachments"]) + 40
        if parts[-1] and size + length > budget:
            parts.append([])
            size = 0
        parts[-1].append(message)
        size += length
    return parts


async def _class_of(turn: Turn, concern: Concern) -> SchoolClass:
    student = await turn.session.get(Student, concern.student_id)
    assert student is not None
    school_class = await turn.session.get(SchoolClass, student.class_id)
    assert school_class is not None
    return school_class


def _is_mine(turn: Turn, concern: Concern) -> bool:
    ids = {s.id for s in turn.staff}
    return concern.staff_id in ids or concern.escalated_to_id in ids
