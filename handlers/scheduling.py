"""``jembatan meeting schedule ID``: every invited family gets a time at once, the best for all.

Booking tools hand out slots first come, first served, so flexible early birds take the only
times the constrained parents could make. Here the whole meeting is assigned in one go by a
min-cost flow (``scheduler/assignment.py``): the most families inside the times they said they
can come, room capacity never exceeded, siblings with other teachers back to back, weekend and
evening preferred, families spread evenly. Each family is sent its proposed time with accept /
change / cannot-come buttons (``handlers/slot_offers.py`` handles the presses).

Families who already booked a time keep it; families who declined are left out; running the
command again re-proposes only to families whose proposal changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.meeting_context import meeting_context
from handlers.meetings import InvitedFamily, UnknownMeeting, ensure_invited
from domain.messages import Button, Outbound, Recipient
from handlers.slot_offers import inside, offer_message, overlaps, preferred
from scheduler.assignment import FamilyDemand, SlotSupply, assign
from domain.availability import AvailabilityWindow
from storage.booking import family_bookings
from storage.models import Guardian, Meeting, MeetingInvitation, MeetingSlot, School
from storage.outbox import enqueue
from storage.stated_availability import family_windows


class MeetingNotSchedulable(ValueError):
    """The meeting is cancelled or has no slot left in the future."""


@dataclass
class ScheduleResult:
    meeting: int
    families: int  # families of the audience
    assigned: int  # families holding a time after scheduling (kept bookings included)
    unassigned: int  # families who could not be given a time (no room left)
    matched_availability: int  # families whose time lies inside what they said they can do
    stated_availability: int  # families who said when they can come
    kept: int  # families who had already booked a time themselves
    declined: int  # families who said they cannot come (not scheduled)
    proposed: int  # proposals sent now

    def as_json(self) -> dict[str, int]:
        return {"meeting": self.meeting, "families": self.families, "assigned": self.assigned,
                "unassigned": self.unassigned, "matched_availability": self.matched_availability,
                "stated_availability": self.stated_availability, "kept": self.kept,
                "declined": self.declined, "proposed": self.proposed}


@dataclass
class _Candidate:
    invited: InvitedFamily
    windows: list[AvailabilityWindow] | None  # None: the family has not said when it can come
    demand: FamilyDemand


async def schedule_meeting(session: AsyncSession, meeting_id: int, *, now: datetime, simulator_enabled: bool,
                           default_language: str = "id") -> ScheduleResult:
    """Assign and propose a time to every family of the meeting, in this transaction."""
    meeting = (await session.exec(select(Meeting).where(Meeting.id == meeting_id).with_for_update())).first()
    if meeting is None:
        raise UnknownMeeting(f"no meeting with id {meeting_id}")
    if meeting.status == "cancelled":
        raise MeetingNotSchedulable(f"meeting {meeting_id} is cancelled")
    school = await session.get(School, meeting.school_id)
    tz = school.timezone if school else "Asia/Jakarta"
    slots = list((await session.exec(select(MeetingSlot).where(
        MeetingSlot.meeting_id == meeting.id, col(MeetingSlot.starts_at) > now)
        .order_by(MeetingSlot.starts_at).with_for_update())).all())
    if not slots:
        raise MeetingNotSchedulable(f"meeting {meeting_id} has no slot in the future")
    families = await ensure_invited(session, meeting, now=now)

    future = {s.id for s in slots}
    kept = [f for f in families if f.row.slot_state == "booked" and f.row.slot_id in future
            and f.row.response != "decline"]
    declined = [f for f in families if f.row.response == "decline"]
    open_families = [f for f in families if f not in kept and f not in declined]
    taken: dict[int, int] = {}
    for f in kept:
        taken[f.row.slot_id] = taken.get(f.row.slot_id, 0) + 1  # type: ignore[index,arg-type]
    supply = [SlotSupply(id=s.id, capacity=max(0, s.capacity - taken.get(s.id, 0)),  # type: ignore[arg-type]
                         starts_at=s.starts_at, ends_at=s.ends_at, preferred=preferred(s, tz))  # type: ignore[arg-type]
              for s in slots]
    candidates = [await _candidate(session, meeting, invited, slots, tz) for invited in open_families]
    result = assign(supply, [c.demand for c in candidates])

    by_id = {s.id: s for s in slots}
    outs: list[Outbound] = []
    sent_for: list[MeetingInvitation] = []
    for candidate in candidates:
        row = candidate.invited.row
        chosen = result.slot_of.get(candidate.demand.key)
        if chosen == row.slot_id and row.slot_state == "proposed":
            continue  # same proposal as last time: nothing new to tell
        row.slot_id, row.slot_state = chosen, "proposed" if chosen is not None else None
        session.add(row)
        for guardian, invitation, _ in candidate.invited.invitations:
            if chosen is None:
                out = await offer_message(session, meeting, row, guardian, now=now, reason="choose")
            else:
                out = await _proposal(session, meeting, candidate, guardian, by_id[chosen], tz)
            outs.append(out)
            sent_for.append(invitation)
    for slot in slots:
        slot.booked = taken.get(slot.id, 0) + sum(  # type: ignore[arg-type]
            1 for c in candidates if result.slot_of.get(c.demand.key) == slot.id)
        session.add(slot)
    meeting.status = "invited"
    session.add(meeting)
    await session.flush()
    messages = await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled,
                             default_language=default_language)
    for invitation, message in zip(sent_for, messages, strict=True):
        if invitation.outbox_id is None:
            invitation.outbox_id = message.id  # the proposal is this family's invitation
            session.add(invitation)

    matched_kept = stated_kept = 0
    for f in kept:
        windows = await family_windows(session, [g.id for g, _, _ in f.invitations])  # type: ignore[misc]
        stated_kept += windows is not None
        matched_kept += bool(windows) and inside(windows, by_id[f.row.slot_id], tz)  # type: ignore[arg-type,index]
    stated = sum(1 for c in candidates if c.windows is not None) + stated_kept
    return ScheduleResult(
        meeting=meeting.id, families=len(families), assigned=result.assigned + len(kept),  # type: ignore[arg-type]
        unassigned=result.unassigned, matched_availability=result.matched + matched_kept,
        stated_availability=stated, kept=len(kept), declined=len(declined), proposed=len(outs))


async def _candidate(session: AsyncSession, meeting: Meeting, invited: InvitedFamily, slots: list[MeetingSlot],
                     tz: str) -> _Candidate:
    """What the solver needs to know of one family: where it fits, what clashes, what is next door."""
    guardian_ids = [g.id for g, _, _ in invited.invitations]
    windows = await family_windows(session, guardian_ids)  # type: ignore[arg-type]
    elsewhere = await family_bookings(session, guardian_ids, exclude_meeting=meeting.id)  # type: ignore[arg-type]
    blocked = frozenset(s.id for s in slots for _, other in elsewhere if overlaps(s, other))
    # Back to back with a sibling's meeting with another teacher: one trip to school, not two.
    near = {s.id for s in slots for other_meeting, other in elsewhere
                     if other_meeting.organizer_staff_id != meeting.organizer_staff_id
                     and (s.starts_at == other.ends_at or s.ends_at == other.starts_at)}
    if invited.row.slot_state == "proposed" and invited.row.slot_id is not None:
        # Run again: keep what a family was already told unless that costs someone their time.
        near |= {invited.row.slot_id}
    fitting = frozenset(s.id for s in slots if inside(windows, s, tz)) if windows else None  # type: ignore[misc]
    return _Candidate(invited, windows, FamilyDemand(
        key=str(invited.row.id), fitting=fitting, blocked=blocked, near=frozenset(near - blocked)))


async def _proposal(session: AsyncSession, meeting: Meeting, candidate: _Candidate, guardian: Guardian,
                    slot: MeetingSlot, tz: str) -> Outbound:
    invited, windows = candidate.invited, candidate.windows
    context = await meeting_context(session, meeting, guardian, invited.family.students, family=invited.row)
    family_id = invited.row.id
    return Outbound(
        to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
        template="slot_proposal",
        context={**context, "slot_start": slot.starts_at, "slot_end": slot.ends_at,
                 "fits_stated": bool(windows) and inside(windows, slot, tz),  # type: ignore[arg-type]
                 "stated": windows is not None},
        buttons=[[Button(key="slots.accept", data=f"sl:ok:{family_id}")],
                 [Button(key="slots.change", data=f"sl:c:{family_id}")],
                 [Button(key="slots.cannot", data=f"sl:x:{family_id}")]])
