"""Dashboard access: one-time sign-in links and the signing key every web worker shares.

A link carries a random token; only its SHA-256 is stored, it expires after a few minutes and
is spent by a conditional UPDATE, so two clicks (or two workers) can never both sign in with it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import DashboardKey, DashboardLink, Staff

LINK_MINUTES = 15  # a sign-in link is short-lived: the staff member asked for it a moment ago
KEY_ID = 1  # the one DashboardKey row


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_link(session: AsyncSession, staff: Staff, *, now: datetime) -> str:
    """A fresh single-use token for this staff member; the caller puts it in a link."""
    token = secrets.token_urlsafe(32)
    session.add(DashboardLink(school_id=staff.school_id, staff_id=staff.id, token_hash=_hash(token),  # type: ignore[arg-type]
                              created_at=now, expires_at=now + timedelta(minutes=LINK_MINUTES)))
    await session.flush()
    return token


async def link_holder(session: AsyncSession, token: str, *, now: datetime) -> Staff | None:
    """Whom a still-valid, unused link signs in; None for an unknown, expired or spent one."""
    row = (await session.exec(select(DashboardLink).where(DashboardLink.token_hash == _hash(token)))).first()
    if row is None or row.used_at is not None or row.expires_at is None or row.expires_at <= now:
        return None
    return await session.get(Staff, row.staff_id)


async def redeem_link(session: AsyncSession, token: str, *, now: datetime) -> Staff | None:
    """Spend a link: the staff member it was sent to, or None when it is not valid (any more)."""
    spent = await session.exec(
        update(DashboardLink)
        .where(col(DashboardLink.token_hash) == _hash(token), col(DashboardLink.used_at).is_(None),
               col(DashboardLink.expires_at) > now)
        .values(used_at=now)
        .returning(col(DashboardLink.staff_id))
        .execution_options(synchronize_session=False))
    staff_id = spent.scalar_one_or_none()
    return await session.get(Staff, staff_id) if staff_id is not None else None


async def shared_secret(sessions: async_sessionmaker[AsyncSession], *, now: datetime) -> str:
    """The cookie-signing secret every web worker shares: made once, then read from the database."""
    async with sessions() as session:
        row = await session.get(DashboardKey, KEY_ID)
        if row is not None:
            return row.secret
    try:
        async with sessions() as session, session.begin():
            session.add(DashboardKey(id=KEY_ID, secret=secrets.token_urlsafe(48), created_at=now))
    except IntegrityError:
        pass  # another worker made it first: use theirs
    async with sessions() as session:
        row = await session.get(DashboardKey, KEY_ID)
        assert row is not None
        return row.secret

