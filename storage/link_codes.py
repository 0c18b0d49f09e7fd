"""One-time link codes: the school office ties a Telegram account to a roster person."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Guardian, LinkCode, Staff
from storage.phones import InvalidPhone, normalize_phone


class UnknownPerson(LookupError):
    """Neither a staff id nor the phone of anyone in a roster."""


async def issue_link_code(session: AsyncSession, who: str, *, now: datetime,
                          ttl_hours: float) -> tuple[LinkCode, Guardian | Staff]:
    """A fresh single-use code for the person with this staff id or phone number."""
    person: Guardian | Staff | None = (await session.exec(select(Staff).where(Staff.staff_code == who))).first()
    if person is None:
        try:
            phone = normalize_phone(who)
        except InvalidPhone as exc:
            raise UnknownPerson(f"{who!r} is neither a staff id nor a valid phone number") from exc
        person = (await session.exec(select(Staff).where(Staff.phone == phone))).first() or \
            (await session.exec(select(Guardian).where(Guardian.phone == phone))).first()
    if person is None:
        raise UnknownPerson(f"{who!r} is not in any roster")
    code = LinkCode(code=secrets.token_urlsafe(9), school_id=person.school_id, phone=person.phone,
                    created_at=now, expires_at=now + timedelta(hours=ttl_hours))
    session.add(code)
    await session.flush()
    return code, person
