"""Queries about concerns that a guardian's every message asks, and the writes of a new concern
and of a guardian's next message in one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, inspect, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Concern, ConcernMessage

# Built once (see storage.people): a report of violence never takes other words.
_OPEN = (select(Concern)
         .where(col(Concern.guardian_id).in_(bindparam("guardian_ids", expanding=True)),
                Concern.status != "closed", Concern.category != "violence_report")
         .order_by(col(Concern.last_activity_at).desc(), col(Concern.id).desc()))


async def open_concerns(session: AsyncSession, guardian_ids: Sequence[int | None]) -> list[Concern]:
    """These guardian rows' open concerns, most recently active first."""
    return list((await session.exec(_OPEN, params={"guardian_ids": list(guardian_ids)})).all())


# A concern and its messages are written with SQLAlchemy Core (no unit of work in the turn).
# On PostgreSQL the two writes of one step go in one statement (data-modifying CTEs run once,
# whether the outer statement reads them or not); SQLite has no such CTEs: two statements.
CONCERNS = Concern.__table__  # type: ignore[attr-defined]
MESSAGES = ConcernMessage.__table__  # type: ignore[attr-defined]
_CONCERN_KEYS = [c.key for c in CONCERNS.c if c.key != "id"]
_MESSAGE_KEYS = ["author", "staff_id", "text", "media", "created_at"]


def _message_params() -> list[Any]:
    return [bindparam(f"m_{key}", type_=MESSAGES.c[key].type) for key in _MESSAGE_KEYS]


_NEW_CONCERN = insert(CONCERNS).values({key: bindparam(f"c_{key}", type_=CONCERNS.c[key].type)
                                        for key in _CONCERN_KEYS}).returning(CONCERNS.c.id)
_NEW_MESSAGE = insert(MESSAGES).values(concern_id=bindparam("m_concern_id"),
                                       **dict(zip(_MESSAGE_KEYS, _message_params(), strict=True)))
_TOUCH = update(CONCERNS).where(CONCERNS.c.id == bindparam("m_concern_id")).values(
    last_activity_at=bindparam("c_last_activity_at"))
_created = _NEW_CONCERN.cte("new_concern")
_NEW_CONCERN_WITH_MESSAGE = sa_select(_created.c.id).add_cte(insert(MESSAGES).from_select(
    ["concern_id", *_MESSAGE_KEYS], sa_select(_created.c.id, *_message_params())).cte("first_message"))
_TOUCH_WITH_MESSAGE = _TOUCH.add_cte(_NEW_MESSAGE.cte("new_message"))


def _message(author: str, text: str, media: list[Any], created_at: datetime,
             staff_id: int | None) -> dict[str, Any]:
    return {"m_author": author, "m_staff_id": staff_id, "m_text": text, "m_media": media,
            "m_created_at": created_at}


async def open_concern(session: AsyncSession, concern: Concern, *, text: str, media: list[Any]) -> int:
    """Store a new concern (not added to the session) with the guardian's first message, written
    at its ``created_at``; returns its id."""
    params = {f"c_{key}": getattr(concern, key) for key in _CONCERN_KEYS} | \
        _message("guardian", text, media, concern.created_at, None)  # type: ignore[arg-type]
    if session.bind.dialect.name == "postgresql":
        return int((await session.exec(_NEW_CONCERN_WITH_MESSAGE, params=params)).scalar_one())
    concern_id = int((await session.exec(_NEW_CONCERN, params=params)).scalar_one())
    await session.exec(_NEW_MESSAGE, params={**params, "m_concern_id": concern_id})  # type: ignore[call-overload]
    return concern_id


async def add_guardian_message(session: AsyncSession, concern: Concern, *, text: str, media: list[Any],
                               now: datetime) -> None:
    """A guardian's next message in an open concern, which is active ``now`` (the loaded object
    says so too, without a write of its own)."""
    params = {"m_concern_id": concern.id, "c_last_activity_at": now} | _message("guardian", text, media, now, None)
    if session.bind.dialect.name == "postgresql":
        await session.exec(_TOUCH_WITH_MESSAGE, params=params)  # type: ignore[call-overload]
    else:
        await session.exec(_NEW_MESSAGE, params=params)  # type: ignore[call-overload]
        await session.exec(_TOUCH, params=params)  # type: ignore[call-overload]
    if inspect(concern).persistent:
        set_committed_value(concern, "last_activity_at", now)
    else:
        concern.last_activity_at = now
