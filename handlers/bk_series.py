"""The guru BK explainer series: four short messages that introduce the guidance counselor.

1. what a guru BK does; 2. that BK is not only for "problem students"; 3. how to reach one
through this bot; 4. what happens in a consultation.

A guardian gets part 1 in the welcome after linking (the welcome's guru BK explainer *is* part 1),
or from a counselor who starts the series for an audience in the ``siaran`` flow (a "ready
template"). The other parts follow every ``EVERY`` days at ``HOUR`` school time, and are only ever
sent in the daytime (``DAYTIME``), never in quiet hours. ``BkSeriesLog`` (unique per guardian and
part) keeps each part to at most once per guardian; ``BkSeriesMember`` says which part is next and
when. A guardian who said STOP is paused: nothing is sent until they say MULAI again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Outbound, Recipient
from domain.office_hours import described
from handlers.turn import Turn
from storage.models import BkSeriesLog, BkSeriesMember, Broadcast, Guardian, School
from storage.outbox import enqueue
from storage.people import children_of
from storage.routing import counselor_for

TEMPLATE = "bk_series"
PARTS = 4
EVERY = timedelta(days=3)
HOUR = time(10, 0)  # school time
DAYTIME = (
    time(8, 0),
    time(18, 0),
)  # a late job waits for the next morning rather than send at night
PRIORITY = 10  # like announcements: after every conversation message
SERIES_KEYS = (
    "relation",
    "counselor_name",
    "counselor_hours",
    "school_name",
)  # added to the welcome's


def next_slot(after: datetime, tz: str) -> datetime:
    """``EVERY`` days after ``after``'s date, at ``HOUR`` school time (UTC)."""
    zone = ZoneInfo(tz)
    day = after.astimezone(zone).date() + EVERY
    return datetime.combine(day, HOUR, tzinfo=zone).astimezone(UTC)


def is_daytime(now: datetime, tz: str) -> bool:
    local = now.astimezone(ZoneInfo(tz)).time()
    return DAYTIME[0] <= local < DAYTIME[1]


async def series_context(session: AsyncSession, guardian: Guardian) -> dict[str, Any]:
    """Who the message addresses and which counselor it names (the one covering the first child)."""
    children = await children_of(session, [guardian.id] if guardian.id else [])
    counselor = await counselor_for(session, children[0].school_class) if children else None
    school = await session.get(School, guardian.school_id)
    return {
        "guardian_name": guardian.name,
        "relation": children[0].link.relation if children else "",
        "counselor_name": counselor.name if counselor else None,
        "counselor_hours": described(counselor.office_hours) if counselor and counselor.office_hours else "",
        "school_name": school.name if school else "",
        "children": [{"name": c.name, "class_name": c.school_class.name} for c in children],
    }


async def _started(session: AsyncSession, guardian_ids: Sequence[int]) -> set[int]:
    """The guardians who were sent part 1 or are following the series."""
    if not guardian_ids:
        return set()
    logged = (
        await session.exec(
            select(BkSeriesLog.guardian_id).where(
                col(BkSeriesLog.guardian_id).in_(guardian_ids), BkSeriesLog.part == 1
            )
        )
    ).all()
    members = (
        await session.exec(
            select(BkSeriesMember.guardian_id).where(
                col(BkSeriesMember.guardian_id).in_(guardian_ids)
            )
        )
    ).all()
    return set(logged) | set(members)


async def _join(
    session: AsyncSession,
    guardian: Guardian,
    *,
    first_at: datetime,
    now: datetime,
    tz: str,
    broadcast_id: int | None,
) -> None:
    session.add(
        BkSeriesLog(guardian_id=guardian.id, part=1, sent_at=first_at, broadcast_id=broadcast_id)
    )
    session.add(
        BkSeriesMember(
            school_id=guardian.school_id,
            guardian_id=guardian.id,
            broadcast_id=broadcast_id,
            started_at=now,
            next_part=2,
            next_at=next_slot(first_at, tz),
        )
    )


async def start_on_welcome(turn: Turn) -> dict[str, Any]:
    """The welcome's explainer context: part 1 for guardians who never had it (then logged and the
    rest scheduled), or only the short closing for those who did (a second chat account)."""
    fresh = [
        g
        for g in turn.guardians
        if g.id not in await _started(turn.session, [g.id for g in turn.guardians if g.id])
    ]
    for guardian in fresh:
        school = await turn.session.get(School, guardian.school_id)
        tz = school.timezone if school else turn.policy.default_timezone
        await _join(
            turn.session, guardian, first_at=turn.now, now=turn.now, tz=tz, broadcast_id=None
        )
    if fresh:
        await turn.session.flush()
    context = await series_context(turn.session, (fresh or turn.guardians)[0])
    return {"explainer": bool(fresh), **{key: context[key] for key in SERIES_KEYS}}


async def split_audience(
    session: AsyncSession, guardians: Sequence[Guardian]
) -> tuple[list[Guardian], list[Guardian]]:
    """(those who have not received the series, those who have or are receiving it)."""
    started = await _started(session, [g.id for g in guardians if g.id])
    return [g for g in guardians if g.id not in started], [g for g in guardians if g.id in started]


async def start_for(
    session: AsyncSession,
    broadcast: Broadcast,
    guardians: Sequence[Guardian],
    *,
    now: datetime,
    tz: str,
    simulator_enabled: bool,
    default_language: str = "id",
) -> list[Guardian]:
    """A counselor's ``siaran`` of the series: part 1 at ``broadcast.send_at`` to those of
    ``guardians`` who never had it, the rest to follow; returns who was started."""
    fresh, _ = await split_audience(session, guardians)
    send_at = broadcast.send_at or now
    outs = []
    for guardian in fresh:
        await _join(session, guardian, first_at=send_at, now=now, tz=tz, broadcast_id=broadcast.id)
        outs.append(
            Outbound(
                to=Recipient(
                    phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id
                ),
                template=f"{TEMPLATE}_1",
                context=await series_context(session, guardian),
                broadcast_id=broadcast.id,
                priority=PRIORITY,
                not_before=send_at,
            )
        )
    await enqueue(
        session,
        outs,
        now=now,
        simulator_enabled=simulator_enabled,
        default_language=default_language,
    )
    return fresh


async def send_due_parts(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    simulator_enabled: bool,
    default_language: str = "id",
) -> int:
    """The job: send each guardian's next part once it is due (daytime only, never twice)."""
    sent = 0
    async with sessions() as session, session.begin():
        due = list(
            (
                await session.exec(
                    select(BkSeriesMember)
                    .where(BkSeriesMember.next_part <= PARTS, col(BkSeriesMember.next_at) <= now)
                    .order_by(BkSeriesMember.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        for member in due:
            guardian = await session.get(Guardian, member.guardian_id)
            school = await session.get(School, member.school_id)
            tz = school.timezone if school else "Asia/Jakarta"
            if guardian is None or guardian.opted_out or not is_daytime(now, tz):
                continue  # STOP pauses the series; a late job waits for the morning
            part = member.next_part
            logged = (
                await session.exec(
                    select(BkSeriesLog.id).where(
                        BkSeriesLog.guardian_id == guardian.id, BkSeriesLog.part == part
                    )
                )
            ).first()
            if logged is None:
                await enqueue(
                    session,
                    [
                        Outbound(
                            to=Recipient(
                                phone=guardian.phone,
                                guardian_id=guardian.id,
                                school_id=guardian.school_id,
                            ),
                            template=f"{TEMPLATE}_{part}",
                            context=await series_context(session, guardian),
                            priority=PRIORITY,
                        )
                    ],
                    now=now,
                    simulator_enabled=simulator_enabled,
                    default_language=default_language,
                )
                session.add(BkSeriesLog(guardian_id=guardian.id, part=part, sent_at=now))  # type: ignore[arg-type]
                sent += 1
            member.next_part = part + 1
            member.next_at = next_slot(now, tz) if part < PARTS else None
            session.add(member)
    return sent
