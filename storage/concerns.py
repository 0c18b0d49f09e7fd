"""Queries about concerns that a guardian's every message asks."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Concern

# Built once (see storage.people): a report of violence never takes other words.
_OPEN = (select(Concern)
         .where(col(Concern.guardian_id).in_(bindparam("guardian_ids", expanding=True)),
                Concern.status != "closed", Concern.category != "violence_report")
         .order_by(col(Concern.last_activity_at).desc(), col(Concern.id).desc()))


async def open_concerns(session: AsyncSession, guardian_ids: Sequence[int | None]) -> list[Concern]:
    """These guardian rows' open concerns, most recently active first."""
    return list((await session.exec(_OPEN, params={"guardian_ids": list(guardian_ids)})).all())
