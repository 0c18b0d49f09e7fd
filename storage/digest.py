"""The daily digest (ringkasan) as data: when a guardian's digest goes out, and what waits for it.

A guardian who chose the digest gets non-urgent announcements once a day, at ``DIGEST_HOUR``
school time, in one message. Each waiting announcement is a ``DigestItem`` row written in the
announcement's own transaction; the digest job turns the due rows into outbox rows and marks them
sent in one transaction, so a restart loses nothing and sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import DigestItem

DIGEST_HOUR = time(19, 0)  # school time: after work, before the quiet hours


def digest_due(at: datetime, tz: str) -> datetime:
    """The first digest hour at or after ``at`` (UTC): today's 19.00, or tomorrow's."""
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    day = local.date() if local.time() <= DIGEST_HOUR else local.date() + timedelta(days=1)
    return datetime.combine(day, DIGEST_HOUR, tzinfo=zone).astimezone(UTC)


async def waiting_items(session: AsyncSession, guardian_ids: Sequence[int]) -> int:
    """How many announcements wait for these guardians' next digest."""
    if not guardian_ids:
        return 0
    count = (
        await session.exec(
            select(func.count())
            .select_from(DigestItem)
            .where(col(DigestItem.guardian_id).in_(guardian_ids), DigestItem.status == "pending")
        )
    ).one()
    return int(count)
