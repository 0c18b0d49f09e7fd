"""Places in meeting slots: taking one, giving it back, and the waiting list of a full slot.

A slot's ``booked`` counter only ever rises through one conditional UPDATE
(``booked < capacity``), so two families pressing the last place at the same instant cannot both
get it: on SQLite the write lock serialises them, on PostgreSQL the second UPDATE waits for the
first's row lock and then re-checks the condition. The family row is locked first, so two
parents of one family pressing different slots at once end with one place, not two.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Meeting, MeetingFamily, MeetingInvitation, MeetingSlot, SlotWaiting


async def locked_family(session: AsyncSession, family_id: int) -> MeetingFamily | None:
    """The family row, locked for this transaction (PostgreSQL; SQLite holds the write lock)."""
    return (await session.exec(select(MeetingFamily).where(MeetingFamily.id == family_id)
                               .with_for_update().execution_options(populate_existing=True))).first()


async def _claim(session: AsyncSession, slot_id: int) -> bool:
    result = await session.exec(
        update(MeetingSlot).where(col(MeetingSlot.id) == slot_id,
                                  col(MeetingSlot.booked) < col(MeetingSlot.capacity))
        .values(booked=col(MeetingSlot.booked) + 1).execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


async def _release(session: AsyncSession, slot_id: int) -> None:
    await session.exec(
        update(MeetingSlot).where(col(MeetingSlot.id) == slot_id, col(MeetingSlot.booked) > 0)
        .values(booked=col(MeetingSlot.booked) - 1).execution_options(synchronize_session=False))


async def take_place(session: AsyncSession, family: MeetingFamily, slot: MeetingSlot, *,
                     state: str = "booked") -> bool:
    """Give ``family`` a place in ``slot`` (leaving its old one); False when the slot is full.

    ``family`` must come from :func:`locked_family` in this transaction.
    """
    if family.slot_id == slot.id:
        family.slot_state = state
        session.add(family)
        return True
    if not await _claim(session, slot.id):  # type: ignore[arg-type]
        return False
    if family.slot_id is not None:
        await _release(session, family.slot_id)
    family.slot_id, family.slot_state = slot.id, state
    session.add(family)
    await leave_waiting(session, family.id, slot.id)  # type: ignore[arg-type]
    return True


async def free_place(session: AsyncSession, family: MeetingFamily) -> int | None:
    """Give back the family's place; the freed slot's id (to offer to its waiting list), or None."""
    slot_id = family.slot_id
    if slot_id is None:
        return None
    await _release(session, slot_id)
    family.slot_id, family.slot_state = None, None
    session.add(family)
    return slot_id


async def open_slots(session: AsyncSession, meeting_id: int, *, now: datetime,
                     exclude: int | None = None) -> list[MeetingSlot]:
    """The meeting's future slots with a place left, earliest first (fresh from the database)."""
    query = (select(MeetingSlot).where(MeetingSlot.meeting_id == meeting_id,
                                       col(MeetingSlot.booked) < col(MeetingSlot.capacity),
                                       col(MeetingSlot.starts_at) > now)
             .order_by(MeetingSlot.starts_at).execution_options(populate_existing=True))
    if exclude is not None:
        query = query.where(MeetingSlot.id != exclude)
    return list((await session.exec(query)).all())


async def fresh_slot(session: AsyncSession, slot_id: int) -> MeetingSlot | None:
    return (await session.exec(select(MeetingSlot).where(MeetingSlot.id == slot_id)
                               .execution_options(populate_existing=True))).first()


async def join_waiting(session: AsyncSession, slot: MeetingSlot, family_id: int, guardian_id: int,
                       *, now: datetime) -> int:
    """Put the family on the slot's waiting list (once); their place in line, from 1."""
    line = list((await session.exec(select(SlotWaiting).where(SlotWaiting.slot_id == slot.id)
                                    .order_by(SlotWaiting.created_at, SlotWaiting.id))).all())
    for position, waiting in enumerate(line, start=1):
        if waiting.family_id == family_id:
            return position
    session.add(SlotWaiting(school_id=slot.school_id, slot_id=slot.id, family_id=family_id,  # type: ignore[arg-type]
                            guardian_id=guardian_id, created_at=now))
    return len(line) + 1


async def leave_waiting(session: AsyncSession, family_id: int, slot_id: int | None = None) -> None:
    """The family no longer waits (for this slot, or for any)."""
    query = select(SlotWaiting).where(SlotWaiting.family_id == family_id)
    if slot_id is not None:
        query = query.where(SlotWaiting.slot_id == slot_id)
    for waiting in (await session.exec(query)).all():
        await session.delete(waiting)


async def next_in_line(session: AsyncSession, slot_id: int, *, now: datetime) -> SlotWaiting | None:
    """The first family waiting for this slot who has not been told of a free place yet; marks
    them told. Families that have meanwhile declined the meeting are passed over."""
    rows = (await session.exec(
        select(SlotWaiting, MeetingFamily).join(MeetingFamily, col(MeetingFamily.id) == SlotWaiting.family_id)
        .where(SlotWaiting.slot_id == slot_id, col(SlotWaiting.offered_at).is_(None))
        .order_by(SlotWaiting.created_at, SlotWaiting.id))).all()
    for waiting, family in rows:
        if family.response == "decline":
            continue
        waiting.offered_at = now
        session.add(waiting)
        return waiting
    return None


async def family_bookings(session: AsyncSession, guardian_ids: list[int],
                          exclude_meeting: int | None = None) -> list[tuple[Meeting, MeetingSlot]]:
    """The slots these guardians' families hold in meetings that still stand (not cancelled)."""
    query = (select(Meeting, MeetingSlot)
             .join(MeetingFamily, col(MeetingFamily.meeting_id) == Meeting.id)
             .join(MeetingSlot, col(MeetingSlot.id) == MeetingFamily.slot_id)
             .join(MeetingInvitation, col(MeetingInvitation.family_id) == MeetingFamily.id)
             .where(col(MeetingInvitation.guardian_id).in_(guardian_ids), Meeting.status != "cancelled",
                    or_(col(MeetingFamily.response).is_(None), MeetingFamily.response != "decline")))
    if exclude_meeting is not None:
        query = query.where(Meeting.id != exclude_meeting)
    seen: dict[int, tuple[Meeting, MeetingSlot]] = {}
    for meeting, slot in (await session.exec(query)).all():
        seen.setdefault(slot.id, (meeting, slot))  # type: ignore[arg-type]
    return list(seen.values())


async def staff_commitments(session: AsyncSession, staff_id: int, *, exclude_meeting: int | None = None,
                            after: datetime | None = None) -> list[MeetingSlot]:
    """A staff member's times already taken: booked places in their meetings, and their meetings
    fixed at one time."""
    query = (select(MeetingSlot).join(Meeting, col(Meeting.id) == MeetingSlot.meeting_id)
             .where(Meeting.organizer_staff_id == staff_id, Meeting.status != "cancelled"))
    if exclude_meeting is not None:
        query = query.where(Meeting.id != exclude_meeting)
    if after is not None:
        query = query.where(col(MeetingSlot.ends_at) > after)
    per_meeting: dict[int, list[MeetingSlot]] = {}
    for slot in (await session.exec(query)).all():
        per_meeting.setdefault(slot.meeting_id, []).append(slot)
    return [slot for slots in per_meeting.values() for slot in slots if len(slots) == 1 or slot.booked > 0]
