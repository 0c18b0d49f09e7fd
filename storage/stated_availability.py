"""When people said they can meet (``jadwal``): stored once per guardian or staff member, reused
for every meeting. The words are parsed in ``scheduler/availability.py`` (the window and its JSON
are ``domain/availability.py``); this module only keeps and reads them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.availability import AvailabilityWindow, windows_from_json, windows_to_json
from domain.office_hours import parse_office_hours
from storage.models import Availability, Staff


async def stated_by(session: AsyncSession, *, guardian_id: int | None = None,
                    staff_id: int | None = None) -> Availability | None:
    column = Availability.guardian_id if guardian_id is not None else Availability.staff_id
    return (await session.exec(select(Availability).where(
        column == (guardian_id if guardian_id is not None else staff_id)))).first()


async def save_availability(session: AsyncSession, *, school_id: int, text: str,
                            windows: list[AvailabilityWindow], now: datetime,
                            guardian_id: int | None = None, staff_id: int | None = None) -> Availability:
    """Replace what this person said before: the latest answer is the one that counts."""
    row = await stated_by(session, guardian_id=guardian_id, staff_id=staff_id)
    if row is None:
        row = Availability(school_id=school_id, guardian_id=guardian_id, staff_id=staff_id)
    row.text, row.windows, row.updated_at = text, windows_to_json(windows), now
    session.add(row)
    return row


async def family_windows(session: AsyncSession, guardian_ids: list[int]) -> list[AvailabilityWindow] | None:
    """When a family can come: any of its guardians can (their windows joined); None when none
    of them has said."""
    rows = (await session.exec(select(Availability).where(
        col(Availability.guardian_id).in_(guardian_ids)))).all()
    if not rows:
        return None
    return sorted({window for row in rows for window in windows_from_json(row.windows)})


async def staff_free_windows(session: AsyncSession, staff: Staff) -> list[AvailabilityWindow]:
    """When a teacher or counselor meets families: what they stated with ``jadwal``, else their
    office hours from the roster (empty office hours: school days 07.00-15.00)."""
    row = await stated_by(session, staff_id=staff.id)
    if row is not None and row.windows:
        return windows_from_json(row.windows)
    office = parse_office_hours(staff.office_hours or "Mon-Fri 07:00-15:00")
    return [AvailabilityWindow(w.weekday, w.start, w.end) for w in office]
