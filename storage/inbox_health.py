"""What `/healthz`, the dashboard and the CLI report about the service's own health: parked
updates (never their words) and the background parts' heartbeats."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Heartbeat, InboxMessage

BACKGROUND_PARTS = ("sender", "scheduler")
STALE_AFTER = timedelta(minutes=1)  # a part that has not ticked for this long is down


async def parked_count(session: AsyncSession) -> int:
    query = select(func.count()).select_from(InboxMessage).where(col(InboxMessage.parked_at).is_not(None))
    return int((await session.exec(query)).one())


async def parked_updates(session: AsyncSession, limit: int | None = 20) -> list[dict[str, Any]]:
    """The parked updates, newest first: id, channel, times, attempts and the error's class and
    message. Never the payload: it holds a family's words and, on WhatsApp, their number."""
    query = (select(InboxMessage.id, InboxMessage.channel, InboxMessage.received_at, InboxMessage.parked_at,
                    InboxMessage.attempts, InboxMessage.error)
             .where(col(InboxMessage.parked_at).is_not(None)).order_by(col(InboxMessage.id).desc()))
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.exec(query)).all()
    return [{"id": r[0], "channel": r[1], "received_at": r[2].isoformat() if r[2] else "",
             "parked_at": r[3].isoformat() if r[3] else "", "attempts": r[4], "error": r[5] or ""}
            for r in rows]


async def beat(session: AsyncSession, part: str, now: datetime) -> None:
    """Record that ``part`` of the background process is alive at ``now``."""
    row = await session.get(Heartbeat, part)
    if row is None:
        session.add(Heartbeat(part=part, at=now, pid=os.getpid()))
    else:
        row.at, row.pid = now, os.getpid()
        session.add(row)


async def forget(session: AsyncSession, parts: list[str]) -> None:
    """A part stopped on purpose (shutdown) is not down: drop this process's heartbeats."""
    for part in parts:
        row = await session.get(Heartbeat, part)
        if row is not None and row.pid == os.getpid():
            await session.delete(row)


async def stale_parts(session: AsyncSession, now: datetime) -> list[str]:
    """The background parts that ticked once but not within :data:`STALE_AFTER`.

    A part that never ticked is not reported: a deployment without a background process (or a
    test app without the scheduler) has nothing to watch. Once a part has ticked, it is
    expected to go on ticking."""
    rows = (await session.exec(select(Heartbeat))).all()
    return sorted(row.part for row in rows
                  if row.part in BACKGROUND_PARTS and row.at is not None and now - row.at > STALE_AFTER)
