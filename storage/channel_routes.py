"""Which bot or sender carries a school's messages: its own (CHANNELS_FILE) or the defaults.

The process that reads CHANNELS_FILE writes the kinds of channel each school has its own of
into ``channel_route``; every process that writes the outbox reads them there, so a web worker,
the scheduler and the CLI route a school's messages alike, and a reload reaches them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChannelAccount, ChannelRoute, Guardian, School, Staff


@dataclass(frozen=True)
class Route:
    """A school's code and the kinds of channel it has its own of."""

    code: str
    kinds: frozenset[str]

    def bot(self, channel: str) -> str:
        """The ``bot`` key of this school's messages on ``channel`` ("" the default)."""
        return self.code if channel in self.kinds else ""

    def allows(self, account: ChannelAccount) -> bool:
        """Whether this school may write to this account (never through another school's bot)."""
        return account.channel == "simulator" or account.bot == self.bot(account.channel)


async def save_routes(session: AsyncSession, kinds: Mapping[str, Sequence[str]]) -> None:
    """Replace every school's route with ``kinds`` (school code → its own channel kinds)."""
    await session.exec(delete(ChannelRoute))  # type: ignore[call-overload]
    for code, own in kinds.items():
        session.add(ChannelRoute(school_code=code, kinds=",".join(sorted(own))))
    await session.flush()


async def route_of(session: AsyncSession, *, school_id: int | None = None, guardian_id: int | None = None,
                   staff_id: int | None = None) -> Route | None:
    """The route of the school a recipient belongs to (None when no school is known)."""
    if school_id is None and guardian_id is not None:
        guardian = await session.get(Guardian, guardian_id)
        school_id = guardian.school_id if guardian is not None else None
    if school_id is None and staff_id is not None:
        staff = await session.get(Staff, staff_id)
        school_id = staff.school_id if staff is not None else None
    if school_id is None:
        return None
    school = await session.get(School, school_id)
    if school is None:
        return None
    row = await session.get(ChannelRoute, school.code)
    own = frozenset(kind for kind in (row.kinds.split(",") if row else []) if kind)
    return Route(school.code, own)
