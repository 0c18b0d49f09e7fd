"""Staff side of a concern: relaying answers to the guardian, `kasus` and `selesai`."""

from __future__ import annotations

from sqlmodel import col, or_, select

from handlers.concerns import role_in
from domain.messages import Button, Outbound, Recipient
from handlers.turn import Turn
from handlers.violence_reports import CATEGORY, may_see_reporter
from storage.audit import record_action
from storage.models import (
    Concern,
    ConcernMessage,
    Guardian,
    GuardianStudent,
    OutboxMessage,
    SchoolClass,
    Student,
)
from templates.render import words


async def on_staff_text(turn: Turn) -> None:
    """A staff member wrote: a reply to a forwarded concern, or text without a reply.

    Text without a reply goes to their one open concern, and the bot says to whom; with several
    open, it is never guessed: the bot keeps the text and asks which concern it answers.
    """
    text = (turn.inbound.text or "").strip()
    if turn.inbound.reply_to is not None:
        concern = await target_of_reply(turn)
        if concern is None:
            turn.reply("reply_not_a_concern")
            return
        await relay(turn, concern, text, explicit=True)
        return
    mine = await open_concerns_of_staff(turn)
    if not mine:
        turn.reply("staff_no_target")
        return
    if len(mine) == 1:
        await relay(turn, mine[0], text, explicit=False)
        return
    views = [await concern_view(turn, c) for c in mine]
    turn.set_state("staff_answer", "which", text=text, concern_ids=[c.id for c in mine])
    turn.reply("staff_which", {"cases": views, "count": len(views)},
               buttons=[[Button(label=f"#{v['concern_id']} {v['child_name']}: {_shorten(v['first_words'], 36)}",
                                data=f"sa:{v['concern_id']}")] for v in views])


async def on_which_callback(turn: Turn, data: str) -> None:
    """`sa:N`: the concern the kept text answers; relayed exactly as a reply would be."""
    _, _, value = data.partition(":")
    state = turn.conversation
    if state.flow != "staff_answer" or not value.isdigit() or int(value) not in state.data.get("concern_ids", []):
        turn.reply("stale_button")
        return
    text = state.data.get("text", "")
    turn.clear_state()
    await relay(turn, await turn.session.get(Concern, int(value)), text, explicit=True)


async def relay(turn: Turn, concern: Concern | None, text: str, *, explicit: bool) -> None:
    """The staff member's words to the guardian, under their name and role."""
    if concern is None:
        turn.reply("reply_not_a_concern")
        return
    if not _is_mine(turn, concern):
        turn.reply("concern_not_yours", {"concern_id": concern.id})
        return
    if concern.status == "closed":
        turn.reply("concern_already_closed", {"concern_id": concern.id})
        return
    me = _me_for(turn, concern)
    turn.session.add(ConcernMessage(concern_id=concern.id, author="staff", staff_id=me.id,  # type: ignore[arg-type]
                                    text=text, created_at=turn.now))
    concern.status = "answered"
    concern.first_answer_at = concern.first_answer_at or turn.now
    concern.last_activity_at = turn.now
    turn.session.add(concern)
    view = await concern_view(turn, concern)
    turn.send(Outbound(to=Recipient(phone=view["guardian_phone"], guardian_id=concern.guardian_id),
                       template="answer_to_guardian", concern_id=concern.id, caused_by_staff_id=me.id,
                       context={**view, "text": text, "staff_name": me.name,
                                "role": role_in(concern, me, view["class_name"])}))
    turn.reply("answer_sent", {**view, "explicit": explicit}, concern_id=concern.id)
    record_action(turn.session, me, "answer_concern", f"concern:{concern.id}", now=turn.now)


async def open_concerns_of_staff(turn: Turn) -> list[Concern]:
    """The concerns this staff member holds or was escalated, most recently active first."""
    ids = [s.id for s in turn.staff]
    return list((await turn.session.exec(select(Concern).where(
        or_(col(Concern.staff_id).in_(ids), col(Concern.escalated_to_id).in_(ids)), Concern.status != "closed")
        .order_by(col(Concern.last_activity_at).desc(), col(Concern.id).desc()))).all())


async def target_of_reply(turn: Turn) -> Concern | None:
    """The concern of the forwarded message this one replies to, if it was one."""
    row = (await turn.session.exec(select(OutboxMessage).where(
        OutboxMessage.channel == turn.inbound.channel, OutboxMessage.chat_id == turn.inbound.chat_id,
        OutboxMessage.external_message_id == turn.inbound.reply_to))).first()
    if row is None or row.concern_id is None:
        return None
    return await turn.session.get(Concern, row.concern_id)


async def list_cases(turn: Turn) -> None:
    """`kasus`: this staff member's open concerns, oldest waiting first."""
    ids = [s.id for s in turn.staff]
    result = await turn.session.exec(
        select(Concern).where(or_(col(Concern.staff_id).in_(ids), col(Concern.escalated_to_id).in_(ids)),
                              Concern.status != "closed").order_by(Concern.created_at))
    cases = [await concern_view(turn, c) for c in result.all()]
    tz = turn.policy.default_timezone
    turn.reply("cases", {"cases": cases, "tz": tz})


async def close_case(turn: Turn, argument: str) -> None:
    """`selesai [N]` (or a reply to the forwarded concern): close a concern and tell the guardian."""
    concern: Concern | None
    if argument.lstrip("#").isdigit():
        concern = await turn.session.get(Concern, int(argument.lstrip("#")))
    else:
        concern, _ = await _target_concern(turn)
        if concern is not None and turn.inbound.reply_to is None and await _open_count(turn) > 1:
            turn.reply("done_which")
            await list_cases(turn)
            return
    if concern is None or not _is_mine(turn, concern):
        turn.reply("done_unknown", {"argument": argument})
        return
    if concern.status == "closed":
        turn.reply("concern_already_closed", {"concern_id": concern.id})
        return
    concern.status = "closed"
    concern.closed_at = turn.now
    turn.session.add(concern)
    me = _me_for(turn, concern)
    view = await concern_view(turn, concern)
    turn.reply("concern_closed_staff", view)
    turn.send(Outbound(to=Recipient(phone=view["guardian_phone"], guardian_id=concern.guardian_id),
                       template="concern_closed_by_staff", concern_id=concern.id, caused_by_staff_id=me.id,
                       context={**view, "staff_name": me.name, "role": role_in(concern, me, view["class_name"])}))


async def concern_view(turn: Turn, concern: Concern) -> dict:
    """What templates show of a concern: numbers, names, class, relation, the first words."""
    row = (await turn.session.exec(
        select(Guardian, Student, SchoolClass, GuardianStudent).select_from(Concern)
        .join(Guardian, col(Guardian.id) == Concern.guardian_id)
        .join(Student, col(Student.id) == Concern.student_id)
        .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
        .join(GuardianStudent, (col(GuardianStudent.guardian_id) == Guardian.id)
              & (col(GuardianStudent.student_id) == Student.id))
        .where(Concern.id == concern.id))).one()
    guardian, student, school_class, link = row
    hidden = concern.category == CATEGORY and not any(may_see_reporter(s, concern) for s in turn.staff)
    first = (await turn.session.exec(select(ConcernMessage).where(
        ConcernMessage.concern_id == concern.id).order_by(ConcernMessage.id))).first()
    answer = (await turn.session.exec(select(OutboxMessage).where(
        OutboxMessage.concern_id == concern.id, OutboxMessage.template == "answer_to_guardian")
        .order_by(col(OutboxMessage.id).desc()))).first()
    return {"concern_id": concern.id, "guardian_phone": guardian.phone,
            "guardian_name": words(turn.language)["report"]["hidden_name"] if hidden else guardian.name,
            "relation": link.relation, "child_name": student.name, "class_name": school_class.name,
            "category": concern.category, "subject": concern.subject, "status": concern.status,
            "created_at": concern.created_at, "first_words": _shorten(first.text if first else ""),
            "answer_delivery": (answer.delivery or answer.status) if answer else None}


async def _target_concern(turn: Turn) -> tuple[Concern | None, bool]:
    """The concern a staff message is about: the replied-to forward, else their only open one."""
    if turn.inbound.reply_to is not None:
        return await target_of_reply(turn), True
    mine = await open_concerns_of_staff(turn)
    return (mine[0] if mine else None), False


async def _open_count(turn: Turn) -> int:
    ids = [s.id for s in turn.staff]
    result = await turn.session.exec(select(Concern.id).where(
        or_(col(Concern.staff_id).in_(ids), col(Concern.escalated_to_id).in_(ids)), Concern.status != "closed"))
    return len(result.all())


def _is_mine(turn: Turn, concern: Concern) -> bool:
    ids = {s.id for s in turn.staff}
    return concern.staff_id in ids or concern.escalated_to_id in ids


def _me_for(turn: Turn, concern: Concern):  # type: ignore[no-untyped-def]
    return next(s for s in turn.staff if s.id in (concern.staff_id, concern.escalated_to_id))


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
