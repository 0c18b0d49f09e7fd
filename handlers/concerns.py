"""Concerns: a guardian's message becomes a concern about one child, routed to the right staff.

Routing follows the contract: counseling matters to the guru BK covering the class, learning to
the subject teacher (or the wali kelas), absence to the wali kelas, fees and documents to the
office. When the child or the category is unclear the guardian is asked with buttons.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from handlers.classifier import GROUPS, Classification, group_of
from domain.messages import Button, Outbound, Recipient
from handlers.routing import classify_message
from handlers.turn import Turn
from domain.office_hours import described, parse_office_hours
from scheduler.opening import next_open
from storage.models import Concern, ConcernMessage, Guardian, School, Staff
from storage.concerns import add_guardian_message, open_concern, open_concerns
from storage.people import Child, children_of, staff_member
from storage.routing import (
    counselor_for,
    first_with_role,
    homeroom_teacher,
    role_for_class,
    subject_teacher,
)
from storage.routing_examples import record_correction

GROUP_CHOICES = ("academic", "absence", "counseling", "admin", "other")
# Typed instead of pressing "Lainnya", or instead of naming one child ("both of them").
OTHER_WORDS = {"lainnya", "lain", "lain-lain", "lain lain", "other", "others", "something else"}
ALL_CHILDREN_WORDS = {"keduanya", "dua-duanya", "dua duanya", "duanya", "semua", "semuanya", "both",
                      "both of them", "all", "all of them"}
# Which staff answer each group, first choice first (the rest cover a school that lacks one).
ROUTES = {
    "counseling": ("counselor", "homeroom_teacher", "principal"),
    "academic": ("subject_teacher", "homeroom_teacher", "principal"),
    "absence": ("homeroom_teacher", "counselor", "admin", "principal"),
    "admin": ("admin", "principal", "homeroom_teacher"),
    "other": ("homeroom_teacher", "counselor", "principal"),  # the wali kelas: the general contact
}
T = TypeVar("T")
FALLBACK_CATEGORY = {"counseling": "behaviour", "academic": "academic", "absence": "absence",
                     "admin": "fees", "other": "other"}


async def on_guardian_text(turn: Turn) -> None:
    """Free text from a guardian: continue the open concern on the same topic, or start a new one.

    A message continues an open concern only when it is about the same child and not clearly
    another topic: a message the router confidently places with another group of staff starts a
    new concern. When it could continue two open concerns, the guardian is asked which.
    """
    text = (turn.inbound.text or "").strip()
    media = attachments(turn)
    children = await _children(turn)
    if not children:
        turn.reply("no_children")
        return
    mentioned = _mentioned_child(text, children)
    candidates = [c for c in await open_concerns_of(turn)
                  if mentioned is None or c.student_id == mentioned.student.id]
    if not text and not candidates:
        # A photo or a document alone (a doctor's note): keep it and ask what it is about.
        turn.set_state("concern", "text", media=media)
        turn.reply("media_needs_words", {"count": len(media)})
        return
    school_id = (mentioned or children[0]).student.school_id
    result = await classify_message(turn.session, school_id, text) if text else None
    if candidates:
        same = same_topic(candidates, result)
        if len(same) == 1:
            await _follow_up(turn, same[0], text, media)
            return
        if same:
            await _ask_which_concern(turn, same, text, media, children)
            return
    assert result is not None  # no text always continues an open concern
    await _new_concern(turn, children, mentioned, text, result, media, new_topic=bool(candidates))


def same_topic(candidates: list[Concern], result: Classification | None) -> list[Concern]:
    """The open concerns a message may continue: all of them when its topic is unclear (a thank
    you, a photo of the letter) or not clearly another group's (handlers/routing.CLEAR_TOPIC),
    else those of the same staff group. Counseling matters join only a counseling concern, and a
    learning question about another named subject is new."""
    if result is None or result.group is None or not result.confident:
        return candidates

    def other_subject(concern: Concern) -> bool:
        return bool(result.subject and concern.subject
                    and result.subject.casefold() != concern.subject.casefold())

    same = [c for c in candidates if group_of(c.category) == result.group and not other_subject(c)]
    if same or result.clear:
        return same
    # A close call for another group: the message stays with the open concerns (a named other
    # subject is still plain: that question is new).
    return [c for c in candidates if not other_subject(c)]


async def _new_concern(turn: Turn, children: list[Child], mentioned: Child | None, text: str,
                       result: Classification, media: list[dict[str, str]], *, new_topic: bool) -> None:
    child = mentioned or (children[0] if len(children) == 1 else None)
    if child is None:
        turn.set_state("concern", "child", text=text, category=result.category, subject=result.subject,
                       media=media, new_topic=new_topic)
        _ask_child(turn, children)
        return
    if result.category is None or not result.confident:
        turn.set_state("concern", "category", text=text, student_id=child.student.id, subject=result.subject,
                       media=media, new_topic=new_topic)
        _ask_category(turn, child)
        return
    turn.clear_state()
    await create_concern(turn, child, text, result.category, result.subject, media, new_topic=new_topic)


async def _ask_which_concern(turn: Turn, concerns: list[Concern], text: str,
                             media: list[dict[str, str]], children: list[Child]) -> None:
    """Two open concerns could take this message: the guardian says which (or a new one)."""
    names = {c.student.id: c.name for c in children}
    firsts = await first_messages(turn, [c.id for c in concerns])  # type: ignore[misc]
    turn.set_state("concern", "which", text=text, media=media, concern_ids=[c.id for c in concerns])
    turn.reply("concern_which", {"concerns": [
        {"concern_id": c.id, "child_name": names.get(c.student_id, ""), "first_words": shorten(firsts.get(c.id, ""))}  # type: ignore[arg-type]
        for c in concerns]},
        buttons=[[Button(label=f"#{c.id} {names.get(c.student_id, '')}: {shorten(firsts.get(c.id, ''), 36)}",  # type: ignore[arg-type]
                         data=f"cw:{c.id}")] for c in concerns]
        + [[Button(key="buttons.new_concern", data="cw:new")]])


async def first_messages(turn: Turn, concern_ids: list[int]) -> dict[int, str]:
    """The first words of each concern (its opening message), in one query."""
    rows = (await turn.session.exec(select(ConcernMessage.concern_id, ConcernMessage.text)
                                    .where(col(ConcernMessage.concern_id).in_(concern_ids))
                                    .order_by(col(ConcernMessage.id)))).all()
    first: dict[int, str] = {}
    for concern_id, text in rows:
        first.setdefault(concern_id, text)
    return first


def shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def on_flow_text(turn: Turn) -> None:
    """Text while the bot waits for a choice: a number, a name, or words that make it clear."""
    data = turn.conversation.data
    text = (turn.inbound.text or "").strip()
    children = await _children(turn)
    if turn.conversation.step == "text":  # words for a file sent alone
        await on_guardian_text(turn)
        return
    if turn.conversation.step == "which":  # words instead of a button: a new message
        turn.clear_state()
        await on_guardian_text(turn)
        return
    if turn.conversation.step == "child":
        if len(children) > 1 and text.casefold().strip(" .!") in ALL_CHILDREN_WORDS:
            await _after_child(turn, *children)
            return
        child = _choice(text, children, key=lambda c: c.first_name) or _mentioned_child(text, children)
        if child is None:
            _ask_child(turn, children, again=True)
            return
        await _after_child(turn, child)
        return
    chosen = _chosen_children(children, data)
    if not chosen:
        turn.clear_state()
        await on_guardian_text(turn)
        return
    child = chosen[0]
    group = _choice(text, list(GROUP_CHOICES), key=lambda g: g) or (
        "other" if text.casefold().strip(" .!") in OTHER_WORDS else None)
    if group is None:
        result = await classify_message(turn.session, child.student.school_id, f"{data.get('text', '')} {text}")
        group = result.group if result.confident else None
    if group is None:
        _ask_category(turn, *chosen, again=True)
        return
    await _after_category(turn, group, *chosen)


def _chosen_children(children: list[Child], data: dict) -> list[Child]:
    """The child (or, for "keduanya", the children) the concern being written is about."""
    wanted = data.get("student_ids") or [data.get("student_id")]
    return [c for c in children if c.student.id in wanted]


async def on_callback(turn: Turn, data: str) -> None:
    """A pressed button of the concern flow; stale or foreign buttons are refused politely."""
    kind, _, value = data.partition(":")
    state = turn.conversation
    children = await _children(turn)
    if kind == "cc" and state.flow == "concern" and state.step == "child":
        chosen = [c for c in children if str(c.student.id) == value]
        if chosen:
            await _after_child(turn, *chosen)
            return
    if kind == "cw" and state.flow == "concern" and state.step == "which":
        text, media = state.data.get("text", ""), list(state.data.get("media", []))
        if value == "new":
            turn.clear_state()
            mentioned = _mentioned_child(text, children)
            result = await classify_message(turn.session, (mentioned or children[0]).student.school_id, text)
            await _new_concern(turn, children, mentioned, text, result, media, new_topic=True)
            return
        open_ids = {c.id for c in await open_concerns_of(turn)}
        if value.isdigit() and int(value) in open_ids and int(value) in state.data.get("concern_ids", []):
            concern = await turn.session.get(Concern, int(value))
            assert concern is not None
            await _follow_up(turn, concern, text, media)
            return
    if kind == "cg" and state.flow == "concern" and state.step == "category" and value in GROUP_CHOICES:
        chosen = _chosen_children(children, state.data)
        if chosen:
            await _after_category(turn, value, *chosen)
            return
    turn.reply("stale_button")


async def _after_child(turn: Turn, *chosen: Child) -> None:
    """The child is known — or, for "keduanya", the children: one concern per child, each to its
    own teacher (the two may be in different classes), with the same words."""
    data = turn.conversation.data
    if data.get("category"):
        turn.clear_state()
        for child in chosen:
            await create_concern(turn, child, data["text"], data["category"], data.get("subject"),
                                 data.get("media", []), new_topic=bool(data.get("new_topic")))
        return
    turn.set_state("concern", "category", text=data.get("text", ""), student_id=chosen[0].student.id,
                   student_ids=[c.student.id for c in chosen], subject=data.get("subject"),
                   media=data.get("media", []), new_topic=data.get("new_topic", False))
    _ask_category(turn, *chosen)


async def _after_category(turn: Turn, group: str, *chosen: Child) -> None:
    data = turn.conversation.data
    turn.clear_state()
    subject = data.get("subject") if group == "academic" else None
    for child in chosen:
        concern = await create_concern(turn, child, data.get("text", ""), FALLBACK_CATEGORY[group], subject,
                                       data.get("media", []), new_topic=bool(data.get("new_topic")))
        if concern is not None and group != "other":  # the guardian's own answer labels these words
            record_correction(turn.session, school_id=concern.school_id, text=data.get("text", ""),
                              group=group, category=concern.category, source="asked", now=turn.now,
                              guardian_id=concern.guardian_id, concern_id=concern.id)


def _ask_child(turn: Turn, children: list[Child], again: bool = False) -> None:
    # One button per child; "keduanya" (both) is typed, as the question says.
    turn.reply("ask_child", {"again": again, "children": [
        {"name": c.name, "class_name": c.school_class.name} for c in children]},
        buttons=[[Button(label=f"{c.name} ({c.school_class.name})", data=f"cc:{c.student.id}")]
                 for c in children])


def _ask_category(turn: Turn, *chosen: Child, again: bool = False) -> None:
    turn.reply("ask_category", {"again": again, "child_name": chosen[0].name,
                                "children": [{"name": c.name, "class_name": c.school_class.name} for c in chosen]},
               buttons=[[Button(key=f"groups.{g}", data=f"cg:{g}")] for g in GROUP_CHOICES])


async def create_concern(turn: Turn, child: Child, text: str, category: str, subject: str | None,
                         media: list[dict[str, str]] | None = None, *, new_topic: bool = False) -> Concern | None:
    """Open the concern, forward it to the right staff member and tell the guardian who answers."""
    routed = await route(turn, child, group_of(category), subject)
    guardian = _guardian_for(turn, child)
    school = await turn.session.get(School, child.student.school_id)
    assert school is not None
    if routed is None:
        turn.reply("no_staff", {"office": school.office_contact, "school": school.name})
        return None
    staff, role = routed
    tz = school.timezone or turn.policy.default_timezone
    concern = Concern(
        school_id=school.id, guardian_id=guardian.id, student_id=child.student.id, staff_id=staff.id,  # type: ignore[arg-type]
        staff_role=role, category=category, subject=subject, status="open", created_at=turn.now, last_activity_at=turn.now,
        due_at=answer_deadline(turn.now, turn.policy.answer_limit_hours, staff.office_hours, tz))
    concern.id = await open_concern(turn.session, concern, text=text, media=media or [])
    turn.send(forward(concern, staff, role, guardian, child, text, template="concern_forwarded", media=media))
    opens = next_open(parse_office_hours(staff.office_hours), turn.now.astimezone(ZoneInfo(tz)))
    turn.reply("concern_received", {
        "child_name": child.name, "class_name": child.school_class.name, "staff_name": staff.name,
        "role": role, "subject": subject, "office_hours": described(staff.office_hours), "tz": tz,
        "opens_at": opens if opens > turn.now else None, "concern_id": concern.id,
        "attachments": len(media or []), "new_topic": new_topic,
    }, concern_id=concern.id, buttons=[[wrong_person_button(concern)]])
    return concern


def wrong_person_button(concern: Concern) -> Button:
    """"Salah tujuan?" under an acknowledgement; it names the holder, so it goes stale on a move."""
    return Button(key="buttons.wrong_person", data=f"wp:{concern.id}:{concern.staff_id}")


def _may_hold(concern: Concern, staff: Staff) -> bool:
    """Whether a concern's new messages go to this staff member. A counseling concern escalated
    before escalation left teachers out may still name a teacher: they get nothing more."""
    return (staff.id == concern.staff_id or concern.category not in GROUPS["counseling"]
            or staff.role in ("counselor", "principal"))


def forward(concern: Concern, staff: Staff, role: str, guardian: Guardian, child: Child, text: str,
            *, template: str, extra: dict | None = None, media: list[dict[str, str]] | None = None) -> Outbound:
    """The message a staff member receives: the guardian's words, child, class, name and relation."""
    return Outbound(
        to=Recipient(phone=staff.phone, staff_id=staff.id, school_id=staff.school_id, language=staff.language),
        template=template, concern_id=concern.id, media=list(media or []),
        context={"attachments": [m["url"] for m in media or []], "concern_id": concern.id, "text": text, "role": role, "category": concern.category,
                 "subject": concern.subject, "child_name": child.name, "class_name": child.school_class.name,
                 "guardian_name": guardian.name, "relation": child.link.relation, **(extra or {})})


async def _follow_up(turn: Turn, concern: Concern, text: str, media: list[dict[str, str]]) -> None:
    """A guardian's next message continues the open concern with the same staff member."""
    turn.clear_state()
    await add_guardian_message(turn.session, concern, text=text, media=media, now=turn.now)
    children = await _children(turn)
    child = next(c for c in children if c.student.id == concern.student_id)
    guardian = _guardian_for(turn, child)
    for staff_id in {concern.staff_id, concern.escalated_to_id} - {None}:
        staff = await staff_member(turn.session, concern.school_id, staff_id)  # type: ignore[arg-type]
        if staff is not None and _may_hold(concern, staff):
            turn.send(forward(concern, staff, role_in(concern, staff, child.school_class.name), guardian,
                              child, text, template="concern_follow_up", media=media))
    staff = await staff_member(turn.session, concern.school_id, concern.staff_id)
    assert staff is not None
    turn.reply("follow_up_sent", {"staff_name": staff.name, "role": concern.staff_role,
                                  "child_name": child.name, "concern_id": concern.id,
                                  "subject": concern.subject}, concern_id=concern.id)


async def close_by_guardian(turn: Turn) -> None:
    """A guardian's `selesai`: close their open concern (asked which, when several are open)."""
    concerns = await open_concerns_of(turn)
    if not concerns:
        turn.reply("no_open_concern_guardian")
        return
    if len(concerns) > 1:
        names = {c.student.id: c.name for c in await _children(turn)}
        firsts = await first_messages(turn, [c.id for c in concerns])  # type: ignore[misc]
        turn.reply("guardian_done_which", {}, buttons=[
            [Button(label=f"#{c.id} {names.get(c.student_id, '')}: {shorten(firsts.get(c.id, ''), 36)}",  # type: ignore[arg-type]
                    data=f"gd:{c.id}")] for c in concerns])
        return
    await _close_for_guardian(turn, concerns[0])


async def on_done_callback(turn: Turn, data: str) -> None:
    """`gd:N`: the concern a guardian's `selesai` meant; stale when it is closed or not theirs."""
    _, _, value = data.partition(":")
    concern = next((c for c in await open_concerns_of(turn) if str(c.id) == value), None)
    if concern is None:
        turn.reply("stale_button")
        return
    await _close_for_guardian(turn, concern)


async def _close_for_guardian(turn: Turn, concern: Concern) -> None:
    concern.status = "closed"
    concern.closed_at = turn.now
    turn.session.add(concern)
    children = await _children(turn)
    child = next(c for c in children if c.student.id == concern.student_id)
    turn.reply("concern_closed_guardian", {"child_name": child.name, "concern_id": concern.id})
    guardian = _guardian_for(turn, child)
    for staff_id in {concern.staff_id, concern.escalated_to_id} - {None}:
        staff = await staff_member(turn.session, concern.school_id, staff_id)  # type: ignore[arg-type]
        if staff is not None and _may_hold(concern, staff):
            turn.send(Outbound(to=Recipient(phone=staff.phone, staff_id=staff.id, language=staff.language),
                               template="concern_closed_by_guardian", concern_id=concern.id,
                               context={"concern_id": concern.id, "guardian_name": guardian.name,
                                        "relation": child.link.relation, "child_name": child.name,
                                        "class_name": child.school_class.name}))


async def open_concerns_of(turn: Turn) -> list[Concern]:
    """The guardian's open concerns, most recently active first."""
    return await open_concerns(turn.session, [g.id for g in turn.guardians])


async def route(turn: Turn, child: Child, group: str, subject: str | None) -> tuple[Staff, str] | None:
    """The staff member who answers this group of concern for this child, and in what role."""
    session, school_class = turn.session, child.school_class
    for role in ROUTES[group]:
        staff: Staff | None = None
        if role == "counselor":
            staff = await counselor_for(session, school_class)
        elif role == "homeroom_teacher":
            staff = await homeroom_teacher(session, school_class.school_id, school_class.name)
        elif role == "subject_teacher":
            staff = await subject_teacher(session, school_class, subject) if subject else None
        else:
            staff = await first_with_role(session, school_class.school_id, role)
        if staff is not None:
            return staff, role
    return None


def role_in(concern: Concern, staff: Staff, class_name: str) -> str:
    """The role a staff member answers this concern in: as routed, or as escalated to."""
    return concern.staff_role if staff.id == concern.staff_id else role_for_class(staff, class_name)


def answer_deadline(created: datetime, limit_hours: float, office_hours: str, tz: str) -> datetime:
    """When an unanswered concern escalates: the limit after it arrived, moved into office hours."""
    due = created + timedelta(hours=limit_hours)
    return next_open(parse_office_hours(office_hours), due.astimezone(ZoneInfo(tz))).astimezone(UTC)


SUPPORTED_MEDIA = ("image/jpeg", "image/png", "image/webp", "application/pdf")


def attachments(turn: Turn) -> list[dict[str, str]]:
    """Files to pass on: this message's photos and PDFs, plus any sent alone just before."""
    pending = list(turn.conversation.data.get("media", [])) if turn.conversation.flow == "concern" else []
    return pending + [{"url": url, "content_type": kind} for url, kind in turn.inbound.media
                      if kind in SUPPORTED_MEDIA]


def _guardian_for(turn: Turn, child: Child) -> Guardian:
    return next(g for g in turn.guardians if g.id == child.link.guardian_id)


async def _children(turn: Turn) -> list[Child]:
    return await children_of(turn.session, [g.id for g in turn.guardians if g.id])


def _mentioned_child(text: str, children: list[Child]) -> Child | None:
    """The one child whose first name the message mentions, if exactly one is."""
    words = set(re.findall(r"\w+", text.casefold()))
    named = [c for c in children if c.first_name.casefold() in words]
    return named[0] if len(named) == 1 else None


def _choice(text: str, options: list[T], *, key: Callable[[T], str]) -> T | None:
    """A numbered choice ('2') or an option named exactly."""
    cleaned = text.strip().rstrip(".").casefold()
    if cleaned.isdigit() and 1 <= int(cleaned) <= len(options):
        return options[int(cleaned) - 1]
    for option in options:
        if key(option).casefold() == cleaned:
            return option
    return None

