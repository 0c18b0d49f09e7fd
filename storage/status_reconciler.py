"""Delivery statuses that never came: Twilio does not retry a status callback, so a message can
stay "sent" forever although it was delivered, read or failed. The background process asks the
Twilio API about such messages and applies the answer as if the callback had come."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.delivery import record_delivery
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=15)  # a callback normally arrives within seconds
GIVE_UP_AFTER = timedelta(days=3)  # Twilio keeps answering, but nobody reads a report that old
BATCH = 50

FetchStatus = Callable[[str], Awaitable[tuple[str, str | None]]]


async def reconcile_statuses(sessions: async_sessionmaker[AsyncSession], *, channel: str, fetch: FetchStatus,
                             now: datetime, simulator_enabled: bool) -> int:
    """Look up messages of ``channel`` stuck in "sent"; returns how many got a newer status."""
    async with sessions() as session:
        stuck = list((await session.exec(select(OutboxMessage.external_message_id).where(
            OutboxMessage.channel == channel, OutboxMessage.status == "sent", OutboxMessage.delivery == "sent",
            col(OutboxMessage.external_message_id).is_not(None),
            col(OutboxMessage.sent_at) < now - STUCK_AFTER, col(OutboxMessage.sent_at) > now - GIVE_UP_AFTER)
            .order_by(OutboxMessage.sent_at).limit(BATCH))).all())
    updated = 0
    for external_id in stuck:
        try:
            status, error_code = await fetch(external_id)  # type: ignore[arg-type]
        except Exception as exc:  # the API is down: the next round asks again
            log.warning("status of %s not available from %s: %s", external_id, channel, exc)
            return updated
        if status in ("queued", "accepted", "sending", "sent"):
            continue
        async with sessions() as session, session.begin():
            await record_delivery(session, channels=(channel,), external_id=external_id,  # type: ignore[arg-type]
                                  status=status, error_code=error_code, now=now,
                                  simulator_enabled=simulator_enabled)
        updated += 1
    return updated
