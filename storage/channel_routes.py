"""Which bot or sender carries a school's messages: its own (CHANNELS_FILE) or the defaults.

The process that reads CHANNELS_FILE writes the kinds of channel each school has its own of
into ``channel_route``; every process that writes the outbox reads them there, so a web worker,
the scheduler and the CLI route a school's messages alike, and a reload reaches them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from typing import Any

from sqlalchemy import String, bindparam, delete, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.cache import forget, remember, remembered
from storage.models import ChannelAccount, ChannelRoute, Guardian, School, Staff


@dataclass(frozen=True)
class Route:
    """A school's code and the kinds of channel it has its own of."""

    code: str
    kinds: frozenset[str]
    whatsapp_daily_tier: int | None = None  # its own WhatsApp sender's tier (None: the default's)

    def bot(self, channel: str) -> str:
        """The ``bot`` key of this school's messages on ``channel`` ("" the default)."""
        return self.code if channel in self.kinds else ""

    def allows(self, account: ChannelAccount) -> bool:
        """Whether this school may write to this account (never through another school's bot)."""
        return account.channel == "simulator" or account.bot == self.bot(account.channel)


async def save_routes(session: AsyncSession, kinds: Mapping[str, Sequence[str]],
                      tiers: Mapping[str, int | None] | None = None) -> None:
    """Replace every school's route with ``kinds`` (school code → its own channel kinds) and its
    own WhatsApp sender's daily tier (``tiers``, where the file gives one)."""
    await session.exec(delete(ChannelRoute))  # type: ignore[call-overload]
    forget(session)
    for code, own in kinds.items():
        session.add(ChannelRoute(school_code=code, kinds=",".join(sorted(own)),
                                 whatsapp_daily_tier=(tiers or {}).get(code)))
    await session.flush()


async def daily_tiers(session: AsyncSession) -> dict[str, int]:
    """The daily tier of each school's own WhatsApp sender that has one (by its ``bot`` key)."""
    return {code: tier for code, (kinds, tier) in (await _routes(session)).items()
            if "whatsapp" in kinds and tier}


async def schools_with_own(session: AsyncSession, channel: str) -> set[int]:
    """Schools that have their own bot or sender of this kind: their people are known there,
    not on the deployment's default one."""
    codes = [code for code, (kinds, _) in (await _routes(session)).items() if channel in kinds]
    if not codes:
        return set()
    return set((await session.exec(select(School.id).where(col(School.code).in_(codes)))).all())  # type: ignore[arg-type]


def _people(in_school: bool) -> Any:
    """Every guardian and staff row of a phone (of one school), with the number of channel
    routes, in one query: the phone as a one-row table, outer-joined to both (a person is one
    row of each, so the product is a row or two)."""
    wanted = sa_select(bindparam("phone", type_=String).label("phone")).subquery("wanted")
    guardian_on = col(Guardian.phone) == wanted.c.phone
    staff_on = col(Staff.phone) == wanted.c.phone
    if in_school:
        guardian_on &= col(Guardian.school_id) == bindparam("school_id")
        staff_on &= col(Staff.school_id) == bindparam("school_id")
    routes = sa_select(func.count()).select_from(ChannelRoute).scalar_subquery().label("routes")
    return (sa_select(Guardian, Staff, routes).select_from(wanted)
            .outerjoin(Guardian, guardian_on).outerjoin(Staff, staff_on))


_PEOPLE, _PEOPLE_IN_SCHOOL = _people(False), _people(True)  # built once (see storage.people)


async def people_on(session: AsyncSession, phone: str, *, channel: str, bot: str,
                    school_id: int | None) -> tuple[list[Guardian], list[Staff]]:
    """Who a phone is, as seen through one bot or sender: on a school's own (``school_id``) only
    that school's guardians and staff; on the default one, those of schools without their own.

    One query (it says too whether any school has routes: with none, the routes are known
    without reading them)."""
    rows = (await session.exec(_PEOPLE if school_id is None else _PEOPLE_IN_SCHOOL,  # type: ignore[call-overload]
                               params={"phone": phone, "school_id": school_id})).all()
    found_guardians: dict[int, Guardian] = {}
    found_staff: dict[int, Staff] = {}
    for guardian, staff_member, _ in rows:
        if guardian is not None:
            found_guardians.setdefault(guardian.id, guardian)
        if staff_member is not None:
            found_staff.setdefault(staff_member.id, staff_member)
    guardians = [found_guardians[key] for key in sorted(found_guardians)]
    staff = [found_staff[key] for key in sorted(found_staff)]
    if rows and not rows[0].routes:  # (the query flushed this session's changes first)
        remember(session, ("channel_routes",), {})
    if not bot and (guardians or staff):
        elsewhere = await schools_with_own(session, channel)
        guardians = [g for g in guardians if g.school_id not in elsewhere]
        staff = [s for s in staff if s.school_id not in elsewhere]
    return guardians, staff


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
    own, tier = (await _routes(session)).get(school.code, (frozenset(), None))
    return Route(school.code, own, tier)


_ROUTES = select(ChannelRoute)  # built once (see storage.people)


async def _routes(session: AsyncSession) -> dict[str, tuple[frozenset[str], int | None]]:
    """Every school's own channel kinds and WhatsApp tier (a few rows), read once per transaction."""
    async def load() -> dict[str, tuple[frozenset[str], int | None]]:
        rows = (await session.exec(_ROUTES)).all()
        return {row.school_code: (frozenset(kind for kind in row.kinds.split(",") if kind),
                                  row.whatsapp_daily_tier) for row in rows}
    return await remembered(session, ("channel_routes",), load)
