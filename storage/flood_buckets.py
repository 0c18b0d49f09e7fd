"""Housekeeping of the shared flood-control buckets (bot/flood.py keeps the rule itself)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import FloodBucket

IDLE = timedelta(days=1)  # far longer than any bucket takes to fill again: forgetting loses nothing


async def forget_idle_buckets(session: AsyncSession, now: datetime) -> int:
    """Drop the buckets of senders quiet for :data:`IDLE`."""
    result = await session.exec(delete(FloodBucket).where(col(FloodBucket.at) < now - IDLE))  # type: ignore[call-overload]
    return int(result.rowcount or 0)
