"""Choosing a meeting time: the best open slots for a family, and what pressing one does.

A family is offered at most a few slots, those inside its stated availability first (weekend and
evening first among them, the times parents asked for), each with a place left. When none fits,
the nearest open ones and a button to ask the organizer for another time. Pressing a slot takes
a place (never overbooking, ``storage/booking.py``); a full slot offers its waiting list; giving
a place back offers it to the first family waiting. Reminders follow the family's slot.

Button data: ``sl:t:FAMILY:SLOT`` take, ``sl:w:FAMILY:SLOT`` wait for, ``sl:ok:FAMILY`` accept the
proposed slot, ``sl:c:FAMILY`` change, ``sl:x:FAMILY`` cannot come, ``sl:a:FAMILY`` ask the
organizer for another time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.meeting_context import family_students, meeting_context, organizer_notice
from domain.messages import Button, Outbound, Recipient
from handlers.turn import Turn
from domain.availability import AvailabilityWindow
from scheduler.availability import fits, is_preferred_time
from storage.booking import (
    family_bookings,
    free_place,
    fresh_slot,
    join_waiting,
    locked_family,
    next_in_line,
    open_slots,
    staff_commitments,
    take_place,
)
from storage.models import (
    Guardian,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    School,
)
from storage.stated_availability import family_windows
from templates.render import format_slot

OFFER_SIZE = 4
ONE_TO_ONE = ("surat_panggilan", "konsultasi", "kunjungan_rumah")


@dataclass
class Offer:
    slots: list[MeetingSlot]
    fitting: bool  # the slots lie inside the family's stated availability
    stated: bool  # the family has said when it can come


def overlaps(a: MeetingSlot, b: MeetingSlot) -> bool:
    return a.starts_at < b.ends_at and b.starts_at < a.ends_at  # type: ignore[operator]


def inside(windows: list[AvailabilityWindow], slot: MeetingSlot, tz: str) -> bool:
    zone = ZoneInfo(tz)
    return fits(windows, slot.starts_at.astimezone(zone), slot.ends_at.astimezone(zone))  # type: ignore[union-attr]


def preferred(slot: MeetingSlot, tz: str) -> bool:
    return is_preferred_time(slot.starts_at.astimezone(ZoneInfo(tz)))  # type: ignore[union-attr]


async def family_guardian_ids(session: AsyncSession, family_id: int) -> list[int]:
    return list((await session.exec(select(MeetingInvitation.guardian_id).where(
        MeetingInvitation.family_id == family_id))).all())


async def best_slots(session: AsyncSession, meeting: Meeting, family: MeetingFamily, *, now: datetime,
                     tz: str, exclude: int | None = None) -> Offer:
    """The few open slots this family should be offered, best first."""
    guardians = await family_guardian_ids(session, family.id)  # type: ignore[arg-type]
    windows = await family_windows(session, guardians)
    clashes = [slot for _, slot in await family_bookings(session, guardians, exclude_meeting=meeting.id)]
    if meeting.type in ONE_TO_ONE:
        clashes += await staff_commitments(session, meeting.organizer_staff_id, exclude_meeting=meeting.id)
    candidates = [slot for slot in await open_slots(session, meeting.id, now=now, exclude=exclude)  # type: ignore[arg-type]
                  if slot.id != family.slot_id and not any(overlaps(slot, busy) for busy in clashes)]
    fitting = [slot for slot in candidates if windows and inside(windows, slot, tz)]
    if fitting:
        fitting.sort(key=lambda slot: (not preferred(slot, tz), slot.starts_at))
        return Offer(fitting[:OFFER_SIZE], True, True)
    return Offer(candidates[:OFFER_SIZE - 1], False, windows is not None)


async def offer_message(session: AsyncSession, meeting: Meeting, family: MeetingFamily, guardian: Guardian, *,
                        now: datetime, exclude: int | None = None, reason: str = "choose") -> Outbound:
    """The slot offer to one guardian: why they are asked, the slots as buttons, and a way out."""
    school = await session.get(School, meeting.school_id)
    tz = school.timezone if school else "Asia/Jakarta"
    offer = await best_slots(session, meeting, family, now=now, tz=tz, exclude=exclude)
    context = await meeting_context(session, meeting, guardian, await family_students(session, family), family=family)
    buttons = [[Button(label=format_slot(slot.starts_at, slot.ends_at, guardian.language, tz),  # type: ignore[arg-type]
                       data=f"sl:t:{family.id}:{slot.id}")] for slot in offer.slots]
    buttons.append([Button(key="slots.ask_other", data=f"sl:a:{family.id}")])
    if not offer.stated or not offer.fitting:
        buttons.append([Button(key="slots.set_availability", data="cmd:jadwal")])
    return Outbound(
        to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
        template="slot_offer",
        context={**context, "offer_reason": reason, "fitting": offer.fitting, "stated": offer.stated,
                 "slots": [{"start": s.starts_at, "end": s.ends_at, "left": s.capacity - s.booked}
                           for s in offer.slots]},
        buttons=buttons)


async def _mine(turn: Turn, family_id: str) -> tuple[MeetingFamily, Meeting, Guardian] | None:
    """The family (locked) if the person pressing is one of its invited guardians."""
    if not family_id.isdigit():
        return None
    invitation = (await turn.session.exec(select(MeetingInvitation).where(
        MeetingInvitation.family_id == int(family_id),
        col(MeetingInvitation.guardian_id).in_([g.id for g in turn.guardians])))).first()
    if invitation is None:
        return None
    family = await locked_family(turn.session, int(family_id))
    meeting = await turn.session.get(Meeting, invitation.meeting_id)
    if family is None or meeting is None or meeting.status == "cancelled":
        return None
    guardian = next(g for g in turn.guardians if g.id == invitation.guardian_id)
    return family, meeting, guardian


async def on_callback(turn: Turn, data: str) -> None:
    """A slot button pressed by a guardian."""
    parts = data.split(":")
    action, family_id = (parts + ["", ""])[1:3]
    slot_id = parts[3] if len(parts) > 3 else ""
    found = await _mine(turn, family_id)
    if found is None or action not in ("t", "w", "ok", "c", "x", "a") or (action in ("t", "w") and not slot_id.isdigit()):
        turn.reply("stale_button")
        return
    family, meeting, guardian = found
    if action == "t":
        await _take(turn, meeting, family, guardian, int(slot_id))
    elif action == "w":
        await _wait(turn, meeting, family, guardian, int(slot_id))
    elif action == "ok":
        await _accept(turn, meeting, family, guardian)
    elif action == "c":
        turn.send(await offer_message(turn.session, meeting, family, guardian, now=turn.now, reason="change"))
    elif action == "x":
        await _cannot_come(turn, meeting, family, guardian)
    else:
        await _ask_organizer(turn, meeting, family, guardian)


async def _context(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian,
                   slot: MeetingSlot | None = None) -> dict[str, Any]:
    context = await meeting_context(turn.session, meeting, guardian, await family_students(turn.session, family), family=family)
    if slot is not None:
        context.update(slot_start=slot.starts_at, slot_end=slot.ends_at)
    return context


def _record_attending(turn: Turn, family: MeetingFamily, guardian: Guardian) -> None:
    if family.response != "attend":
        family.response, family.responded_by_guardian_id, family.responded_at = "attend", guardian.id, turn.now
    turn.session.add(family)


async def _take(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian, slot_id: int) -> None:
    slot = await fresh_slot(turn.session, slot_id)
    if slot is None or slot.meeting_id != meeting.id or slot.starts_at <= turn.now:  # type: ignore[operator]
        turn.reply("stale_button")
        return
    if family.slot_id == slot.id and family.slot_state == "booked":
        turn.reply("slot_booked", {**await _context(turn, meeting, family, guardian, slot), "again": True})
        return
    old = family.slot_id
    if not await take_place(turn.session, family, slot):
        context = await _context(turn, meeting, family, guardian, slot)
        turn.reply("slot_full", context, buttons=[[Button(key="slots.wait", data=f"sl:w:{family.id}:{slot.id}")]])
        turn.send(await offer_message(turn.session, meeting, family, guardian, now=turn.now, exclude=slot.id,
                                      reason="full"))
        return
    asked_another_time = family.response == "other_time"  # the organizer offered it: tell them
    _record_attending(turn, family, guardian)
    await _set_invitation(turn, family, guardian, "attend")
    turn.reply("slot_booked", {**await _context(turn, meeting, family, guardian, slot), "again": False})
    if meeting.type in ONE_TO_ONE or asked_another_time:
        await _tell_organizer(turn, meeting, family, guardian, "booked", slot)
    if old is not None and old != slot.id:
        await offer_freed_place(turn.session, old, now=turn.now, send=turn.send)


async def _wait(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian, slot_id: int) -> None:
    slot = await fresh_slot(turn.session, slot_id)
    if slot is None or slot.meeting_id != meeting.id or slot.starts_at <= turn.now:  # type: ignore[operator]
        turn.reply("stale_button")
        return
    if slot.booked < slot.capacity:  # a place came free meanwhile: take it at once
        await _take(turn, meeting, family, guardian, slot_id)
        return
    position = await join_waiting(turn.session, slot, family.id, guardian.id, now=turn.now)  # type: ignore[arg-type]
    turn.reply("slot_waiting", {**await _context(turn, meeting, family, guardian, slot), "position": position,
                                "has_place": family.slot_id is not None})


async def _accept(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian) -> None:
    slot = await fresh_slot(turn.session, family.slot_id) if family.slot_id else None
    if slot is None:
        turn.send(await offer_message(turn.session, meeting, family, guardian, now=turn.now, reason="choose"))
        return
    already = family.slot_state == "booked"
    family.slot_state = "booked"
    _record_attending(turn, family, guardian)
    await _set_invitation(turn, family, guardian, "attend")
    turn.reply("slot_booked", {**await _context(turn, meeting, family, guardian, slot), "again": already})


async def _cannot_come(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian) -> None:
    freed = await free_place(turn.session, family)
    family.response, family.responded_by_guardian_id, family.responded_at = "decline", guardian.id, turn.now
    turn.session.add(family)
    await _set_invitation(turn, family, guardian, "decline")
    turn.reply("rsvp_thanks", {**await _context(turn, meeting, family, guardian), "answer": "decline"})
    await _tell_organizer(turn, meeting, family, guardian, "decline")
    if freed is not None:
        await offer_freed_place(turn.session, freed, now=turn.now, send=turn.send)


async def _ask_organizer(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian) -> None:
    await _set_invitation(turn, family, guardian, "other_time")
    if family.response is None:
        family.response, family.responded_by_guardian_id, family.responded_at = "other_time", guardian.id, turn.now
        turn.session.add(family)
    turn.reply("rsvp_thanks", {**await _context(turn, meeting, family, guardian), "answer": "other_time"})
    await _tell_organizer(turn, meeting, family, guardian, "other_time")


async def _set_invitation(turn: Turn, family: MeetingFamily, guardian: Guardian, answer: str) -> None:
    invitation = (await turn.session.exec(select(MeetingInvitation).where(
        MeetingInvitation.family_id == family.id, MeetingInvitation.guardian_id == guardian.id))).first()
    if invitation is not None:
        invitation.response = answer
        turn.session.add(invitation)


async def _tell_organizer(turn: Turn, meeting: Meeting, family: MeetingFamily, guardian: Guardian, answer: str,
                          slot: MeetingSlot | None = None) -> None:
    context = await _context(turn, meeting, family, guardian, slot)
    notice = await organizer_notice(turn.session, meeting, guardian, context, answer, slot=slot, family=family)
    if notice is not None:
        turn.send(notice)


async def offer_freed_place(session: AsyncSession, slot_id: int, *, now: datetime, send: Any) -> None:
    """A place came free: tell the first family waiting for that slot (they still press to take it)."""
    waiting = await next_in_line(session, slot_id, now=now)
    if waiting is None:
        return
    slot = await fresh_slot(session, slot_id)
    family = await session.get(MeetingFamily, waiting.family_id)
    guardian = await session.get(Guardian, waiting.guardian_id)
    meeting = await session.get(Meeting, slot.meeting_id) if slot else None
    if slot is None or family is None or guardian is None or meeting is None or slot.starts_at <= now:  # type: ignore[operator]
        return
    context = await meeting_context(session, meeting, guardian, await family_students(session, family), family=family)
    send(Outbound(to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
                  template="slot_freed", context={**context, "slot_start": slot.starts_at, "slot_end": slot.ends_at},
                  buttons=[[Button(key="slots.take_freed", data=f"sl:t:{family.id}:{slot.id}")]]))
