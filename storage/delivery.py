"""Delivery reports from the platforms: statuses kept monotonic, failures turned into action."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Outbound, Recipient
from storage.models import ChannelAccount, Guardian, OutboxMessage, Staff
from storage.outbox import enqueue

log = logging.getLogger(__name__)

# Statuses only move forward: a late "delivered" never undoes "read".
_RANK = {"queued": 0, "accepted": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4,
         "undelivered": 5, "failed": 5}
OUTSIDE_WINDOW = "63016"
UNSUBSCRIBED = "21610"


async def record_delivery(session: AsyncSession, *, channels: tuple[str, ...], external_id: str, status: str,
                          error_code: str | None, now: datetime, simulator_enabled: bool) -> bool:
    """Apply one status report; False when the message is unknown (nothing to do)."""
    row = (await session.exec(select(OutboxMessage).where(
        col(OutboxMessage.channel).in_(channels), OutboxMessage.external_message_id == external_id))).first()
    if row is None:
        log.info("status %s for unknown message %s ignored", status, external_id)
        return False
    status = status.lower()
    if _RANK.get(status, -1) <= _RANK.get(row.delivery or "queued", 0) and row.delivery is not None:
        return True
    if status not in _RANK:
        return True
    row.delivery = status
    if status in ("failed", "undelivered"):
        row.delivery_error = error_code
        reason = "unreachable"
        if error_code == OUTSIDE_WINDOW:
            reason = "window"
        elif error_code == UNSUBSCRIBED:
            reason = "opted_out"
            await _mark_unsubscribed(session, row)
        await tell_staff_undelivered(session, row, reason=reason, now=now, simulator_enabled=simulator_enabled)
    session.add(row)
    return True


async def _mark_unsubscribed(session: AsyncSession, row: OutboxMessage) -> None:
    account = await session.get(ChannelAccount, row.account_id) if row.account_id else None
    if account is not None:
        account.blocked = True
        session.add(account)
        for guardian in (await session.exec(select(Guardian).where(Guardian.phone == account.phone))).all():
            guardian.opted_out = True
            session.add(guardian)


async def tell_staff_undelivered(session: AsyncSession, row: OutboxMessage, *, reason: str, now: datetime,
                                 simulator_enabled: bool) -> None:
    """Tell the staff member who caused ``row`` that it did not reach the family, and why."""
    if row.caused_by_staff_id is None:
        return
    staff = await session.get(Staff, row.caused_by_staff_id)
    guardian = await session.get(Guardian, row.guardian_id) if row.guardian_id else None
    if staff is None:
        return
    await enqueue(session, [Outbound(
        to=Recipient(phone=staff.phone, staff_id=staff.id, school_id=staff.school_id),
        template="message_not_delivered", concern_id=row.concern_id,
        context={"guardian_name": guardian.name if guardian else "", "reason": reason,
                 "concern_id": row.concern_id})], now=now, simulator_enabled=simulator_enabled)
