"""Per sending account (a channel's default bot or sender, or a school's own): what is queued,
how old the oldest unsent message is, when the last one went, how many went — for
``/healthz/channels`` and ``/metrics``. Read from the outbox, so every process agrees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OutboxMessage


@dataclass
class LaneHealth:
    channel: str
    bot: str  # "" the deployment's default, else the school code
    queued: int = 0
    oldest_unsent: datetime | None = None
    last_sent: datetime | None = None
    sent: int = 0

    def as_json(self, now: datetime) -> dict[str, object]:
        return {"channel": self.channel, "school": self.bot or None, "queued": self.queued,
                "oldest_unsent": self.oldest_unsent.isoformat() if self.oldest_unsent else None,
                "oldest_unsent_seconds": round((now - self.oldest_unsent).total_seconds(), 1)
                if self.oldest_unsent else 0.0,
                "last_sent": self.last_sent.isoformat() if self.last_sent else None, "sent": self.sent}


async def lane_health(session: AsyncSession, lanes: list[tuple[str, str]]) -> list[LaneHealth]:
    """Every lane that has rows or is configured (``lanes``), ordered by school then channel."""
    pending = OutboxMessage.status == "pending"
    rows = (await session.exec(select(
        OutboxMessage.channel, OutboxMessage.bot,
        func.sum(case((pending, 1), else_=0)),
        func.min(case((pending, OutboxMessage.created_at), else_=None)),
        func.max(OutboxMessage.sent_at),
        func.sum(case((OutboxMessage.status == "sent", 1), else_=0)),
    ).where(col(OutboxMessage.channel) != "none").group_by(OutboxMessage.channel, OutboxMessage.bot))).all()
    found = {(channel, bot): LaneHealth(channel, bot, int(queued or 0), oldest, last, int(sent or 0))
             for channel, bot, queued, oldest, last, sent in rows}
    for lane in lanes:
        found.setdefault(lane, LaneHealth(*lane))
    return sorted(found.values(), key=lambda lane: (lane.bot, lane.channel))
