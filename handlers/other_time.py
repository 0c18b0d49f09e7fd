"""After "Minta waktu lain": the organizer offers the family the meeting's open times, or a new one.

The organizer's notice carries the family's stated availability and two buttons:
``ot:o:FAMILY`` sends the family the open slots that suit it best (``slot_offers``), and
``ot:n:FAMILY`` asks the organizer for a day and time, which becomes a new slot of the meeting
offered to that family alone (they press it to book, or ask again).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from handlers.meeting_context import family_students, meeting_context
from domain.messages import Button, Outbound, Recipient
from handlers.slot_offers import offer_message
from scheduler.when import WhenProblem, parse_when
from handlers.turn import Turn
from storage.models import Guardian, Meeting, MeetingFamily, MeetingSlot, School, Staff
from templates.render import format_slot

FLOW = "other_time"


def organizer_buttons(family_id: int) -> list[list[Button]]:
    return [[Button(key="other_time.offer", data=f"ot:o:{family_id}")],
            [Button(key="other_time.new", data=f"ot:n:{family_id}")]]


async def _found(turn: Turn, family_id: str) -> tuple[Meeting, MeetingFamily, Guardian, Staff] | None:
    """The family, its meeting and the guardian who asked — if the one pressing organizes it."""
    family = await turn.session.get(MeetingFamily, int(family_id)) if family_id.isdigit() else None
    meeting = await turn.session.get(Meeting, family.meeting_id) if family else None
    guardian = await turn.session.get(Guardian, family.responded_by_guardian_id) \
        if family and family.responded_by_guardian_id else None
    me = next((s for s in turn.staff if meeting and (s.id == meeting.organizer_staff_id or (
        s.school_id == meeting.school_id and s.role in ("principal", "admin")))), None)
    if family is None or meeting is None or guardian is None or me is None or meeting.status == "cancelled":
        return None
    return meeting, family, guardian, me


async def on_callback(turn: Turn, data: str) -> None:
    _, action, family_id = (data.split(":") + ["", ""])[:3]
    found = await _found(turn, family_id)
    if found is None or action not in ("o", "n"):
        turn.reply("stale_button")
        return
    meeting, family, guardian, _ = found
    if action == "n":
        turn.set_state(FLOW, "when", family_id=family.id)
        turn.reply("other_time_ask_when", {"guardian_name": guardian.name, "title": meeting.title})
        return
    offer = await offer_message(turn.session, meeting, family, guardian, now=turn.now, reason="change")
    if not offer.context["slots"]:
        turn.reply("other_time_none_open", {"guardian_name": guardian.name, "title": meeting.title},
                   buttons=[[Button(key="other_time.new", data=f"ot:n:{family.id}")]])
        return
    turn.send(offer)
    turn.reply("other_time_offered", {"guardian_name": guardian.name, "title": meeting.title,
                                      "slots": offer.context["slots"], "tz": offer.context["tz"]})


async def on_flow_text(turn: Turn) -> None:
    """The organizer's new time: a slot of the meeting, offered to the family who asked."""
    text = (turn.inbound.text or "").strip()
    found = await _found(turn, str(turn.conversation.data.get("family_id", "")))
    if found is None:
        turn.clear_state()
        turn.reply("stale_button")
        return
    meeting, family, guardian, _ = found
    school = await turn.session.get(School, meeting.school_id)
    tz = school.timezone if school and school.timezone else turn.policy.default_timezone
    try:
        start, end = parse_when(text, turn.now, tz)
    except WhenProblem:
        turn.reply("other_time_ask_when", {"guardian_name": guardian.name, "title": meeting.title, "again": True})
        return
    if start <= turn.now:
        turn.reply("other_time_ask_when", {"guardian_name": guardian.name, "title": meeting.title, "again": True})
        return
    slots = list((await turn.session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == meeting.id))).all())
    length = (slots[0].ends_at - slots[0].starts_at) if slots else timedelta(minutes=30)  # type: ignore[operator]
    slot = next((s for s in slots if s.starts_at == start), None)
    if slot is None:
        slot = MeetingSlot(school_id=meeting.school_id, meeting_id=meeting.id, starts_at=start,  # type: ignore[arg-type]
                           ends_at=end or start + length, capacity=1)
        turn.session.add(slot)
        await turn.session.flush()
    turn.clear_state()
    context = await meeting_context(turn.session, meeting, guardian, await family_students(turn.session, family),
                                    family=family)
    turn.send(Outbound(
        to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
        template="slot_offer",
        context={**context, "offer_reason": "new_time", "fitting": False, "stated": True,
                 "slots": [{"start": slot.starts_at, "end": slot.ends_at, "left": slot.capacity - slot.booked}]},
        buttons=[[Button(label=format_slot(slot.starts_at, slot.ends_at, guardian.language, tz),  # type: ignore[arg-type]
                         data=f"sl:t:{family.id}:{slot.id}")],
                 [Button(key="slots.ask_other", data=f"sl:a:{family.id}")]]))
    turn.reply("other_time_offered", {"guardian_name": guardian.name, "title": meeting.title, "tz": tz,
                                      "slots": [{"start": slot.starts_at, "end": slot.ends_at}]})
