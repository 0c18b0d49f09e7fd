"""A WhatsApp sender's daily tier: an announcement larger than what is left of it goes over days.

Meta lets a sender start template conversations with at most its tier of unique recipients in
any 24 hours. Here a sender's "day" around a moment ``t`` is conservatively ``[t - 24 h, t + 24 h)``:
the unique recipients of its billed rows (utility, marketing; sent, or waiting to go) whose time
falls in it. An announcement takes at most :func:`broadcast_allowance` of the tier on a day; the
rest of its billed rows wait for the next day, :data:`DAY_STEP` later (a day and an hour, so the
previous day's messages have left Meta's rolling 24 hours before the next day's start).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.whatsapp_costs import BILLED, SERVICE_WINDOW, broadcast_allowance
from storage.models import OutboxMessage

DAY_STEP = timedelta(hours=25)
MAX_DAYS = 366


async def billed_recipients(session: AsyncSession, bot: str, lo: datetime, hi: datetime, *,
                            not_of_broadcast: int | None = None) -> int:
    """Unique recipients of this sender's billed messages sent or due in ``[lo, hi)``."""
    when = func.coalesce(OutboxMessage.sent_at, OutboxMessage.next_attempt_at)
    query = select(func.count(func.distinct(OutboxMessage.chat_id))).where(
        OutboxMessage.channel == "whatsapp", OutboxMessage.bot == bot,
        col(OutboxMessage.pricing_category).in_(BILLED), col(OutboxMessage.status).in_(("pending", "sent")),
        when >= lo, when < hi)
    if not_of_broadcast is not None:
        query = query.where(or_(col(OutboxMessage.broadcast_id).is_(None),
                                OutboxMessage.broadcast_id != not_of_broadcast))
    return int((await session.exec(query)).one())


async def plan_days(session: AsyncSession, *, bot: str, count: int, start: datetime, tier: int,
                    not_of_broadcast: int | None = None) -> list[tuple[datetime, int]]:
    """When ``count`` billed messages of one announcement go on this sender: (time, how many)."""
    allowance = broadcast_allowance(tier)
    plan: list[tuple[datetime, int]] = []
    left, day = count, 0
    while left > 0 and day < MAX_DAYS:
        at = start + day * DAY_STEP
        used = await billed_recipients(session, bot, at - SERVICE_WINDOW, at + SERVICE_WINDOW,
                                       not_of_broadcast=not_of_broadcast)
        take = min(left, max(allowance - used, 0))
        if take:
            plan.append((at, take))
            left -= take
        day += 1
    if left:  # a year of full days: the rest waits behind them all (never dropped)
        plan.append((start + MAX_DAYS * DAY_STEP, left))
    return plan


def merge(plans: list[list[tuple[datetime, int]]]) -> list[tuple[datetime, int]]:
    """Several senders' plans as one: how many go at each time."""
    total: dict[datetime, int] = defaultdict(int)
    for plan in plans:
        for at, count in plan:
            total[at] += count
    return sorted(total.items())


async def spread_broadcast(session: AsyncSession, broadcast_id: int, start: datetime, *,
                           tiers: Mapping[str, int], default_tier: int) -> list[tuple[datetime, int]]:
    """Give the announcement's billed WhatsApp rows their day within each sender's tier (later
    days: ``next_attempt_at`` moves there). Returns the merged plan, day 0 first."""
    rows = list((await session.exec(select(OutboxMessage).where(
        OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.channel == "whatsapp",
        OutboxMessage.status == "pending", col(OutboxMessage.pricing_category).in_(BILLED))
        .order_by(OutboxMessage.id))).all())
    by_bot: dict[str, list[OutboxMessage]] = defaultdict(list)
    for row in rows:
        by_bot[row.bot].append(row)
    plans = []
    for bot, mine in by_bot.items():
        plan = await plan_days(session, bot=bot, count=len(mine), start=start,
                               tier=tiers.get(bot, default_tier), not_of_broadcast=broadcast_id)
        position = 0
        for at, count in plan:
            for row in mine[position:position + count]:
                if at > start:
                    row.next_attempt_at = at
                    session.add(row)
            position += count
        plans.append(plan)
    await session.flush()
    return merge(plans)
