"""The statements that begin every turn: the writer's account with its conversation, the school of a bot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, literal_column, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChannelAccount, Conversation, School, built

ACCOUNTS = ChannelAccount.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]

# Built once (see storage.people).
_SCHOOL_OF_CODE = select(School.id).where(School.code == bindparam("code"))

# The writer's account as it is after their message (where to answer, seen now, reachable again,
# the number the channel vouches for), with its conversation, in one UPDATE ... RETURNING (the
# conversation's columns as subqueries): one round trip where a SELECT and an UPDATE were two.
_PHONE = bindparam("b_phone", type_=ACCOUNTS.c.phone.type)
_NOW = bindparam("b_now", type_=ACCOUNTS.c.last_seen_at.type)
_VOUCHED = and_(_PHONE.is_not(None), or_(ACCOUNTS.c.phone.is_(None), ACCOUNTS.c.phone != _PHONE))
# Named with its table: SQLite writes RETURNING's columns bare, and a bare "id" inside the
# subquery would be the conversation's own.
_ACCOUNT_ID = literal_column("channel_account.id")
_CONVERSATION_COLUMNS = [c for c in CONVERSATIONS.c if c.key != "account_id"]
_TOUCH = (update(ACCOUNTS)
          .where(ACCOUNTS.c.channel == bindparam("b_channel"), ACCOUNTS.c.bot == bindparam("b_bot"),
                 ACCOUNTS.c.external_id == bindparam("b_external_id"))
          .values(chat_id=bindparam("b_chat_id"), last_seen_at=_NOW, blocked=False,
                  phone=case((_VOUCHED, _PHONE), else_=ACCOUNTS.c.phone),
                  linked_at=case((_VOUCHED, _NOW), else_=ACCOUNTS.c.linked_at))
          .returning(*ACCOUNTS.c, *(sa_select(c).where(CONVERSATIONS.c.account_id == _ACCOUNT_ID)
                                    .scalar_subquery().label(f"conversation_{c.key}")
                                    for c in _CONVERSATION_COLUMNS)))


async def touch_account(session: AsyncSession, *, channel: str, bot: str, external_id: str, chat_id: str,
                        phone: str | None, now: datetime) -> tuple[ChannelAccount | None, Conversation | None]:
    """The writer's account stamped with their message (``chat_id``, seen ``now``, not blocked,
    ``phone`` when the channel vouches for one and it is new: linked ``now``), and its
    conversation; both objects of the session, as if read by a query (None, None: no account
    yet, nothing written)."""
    row = (await session.exec(_TOUCH, params={  # type: ignore[call-overload]
        "b_channel": channel, "b_bot": bot, "b_external_id": external_id, "b_chat_id": chat_id,
        "b_phone": phone or None, "b_now": now})).first()
    if row is None:
        return None, None
    values = row._mapping
    account = _persistent(session, built(ChannelAccount, {c.key: values[c.key] for c in ACCOUNTS.c}))
    if values["conversation_id"] is None:
        return account, None
    conversation = _persistent(session, built(Conversation, {
        "account_id": account.id, **{c.key: values[f"conversation_{c.key}"] for c in _CONVERSATION_COLUMNS}}))
    return account, conversation


def _persistent(session: AsyncSession, instance: Any) -> Any:
    """A row read another way, put in the session as if a query had loaded it (no write)."""
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


async def school_id_of(session: AsyncSession, code: str) -> int | None:
    """The id of the school with this code (None when it is not imported)."""
    return (await session.exec(_SCHOOL_OF_CODE, params={"code": code})).first()
