"""The school's own routing corrections, kept as labelled examples for its router.

A hand-over, a guardian's "wrong person" choice and the category a guardian picks when asked
each say which staff group should have read a message. They are stored per school, linked to
the guardian and concern they came from (so erasure reaches them), and read back by the router.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.cache import remembered
from storage.models import RoutingExample

SOURCES = ("handover", "wrong_person", "asked")
MAX_EXAMPLES = 2000  # the newest a school's router reads; older corrections age out


def record_correction(session: AsyncSession, *, school_id: int, text: str, group: str,
                      source: str, now: datetime, category: str | None = None,
                      guardian_id: int | None = None, concern_id: int | None = None) -> None:
    """Store one labelled example (in the caller's transaction)."""
    if source not in SOURCES:
        raise ValueError(f"unknown correction source: {source!r}")
    text = " ".join((text or "").split())
    if not text:
        return
    session.add(RoutingExample(school_id=school_id, guardian_id=guardian_id, concern_id=concern_id,
                               text=text, group=group, category=category, source=source,
                               created_at=now))


async def examples_for(session: AsyncSession, school_id: int,
                       limit: int = MAX_EXAMPLES) -> list[RoutingExample]:
    """A school's labelled examples, newest first."""
    result = await session.exec(select(RoutingExample).where(RoutingExample.school_id == school_id)
                                .order_by(col(RoutingExample.id).desc()).limit(limit))
    return list(result.all())


_STAMP = select(func.count(col(RoutingExample.id)), func.max(col(RoutingExample.id))) \
    .where(RoutingExample.school_id == bindparam("school_id"))  # built once (see storage.people)


async def examples_stamp(session: AsyncSession, school_id: int) -> tuple[int, int]:
    """(count, newest id) of a school's examples: changes whenever one is added or erased, so a
    router's cache of them is checked with one indexed query."""
    async def load() -> tuple[int, int]:
        count, newest = (await session.exec(_STAMP, params={"school_id": school_id})).one()
        return int(count or 0), int(newest or 0)
    # Read once per transaction, and usually with the school's staff (storage.people.school_staff);
    # a new or erased example in this session reads it again (storage.cache).
    return await remembered(session, ("examples_stamp", school_id), load)
