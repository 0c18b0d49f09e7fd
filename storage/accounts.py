"""The reads that begin every turn: the writer's account with its conversation, the school of a bot."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChannelAccount, Conversation, School

# Built once (see storage.people). The account and its conversation come in one query.
_ACCOUNT = (select(ChannelAccount, Conversation)
            .outerjoin(Conversation, col(Conversation.account_id) == ChannelAccount.id)
            .where(ChannelAccount.channel == bindparam("channel"), ChannelAccount.bot == bindparam("bot"),
                   ChannelAccount.external_id == bindparam("external_id")))
_SCHOOL_OF_CODE = select(School.id).where(School.code == bindparam("code"))


async def account_with_conversation(session: AsyncSession, channel: str, bot: str,
                                    external_id: str) -> tuple[ChannelAccount | None, Conversation | None]:
    """The account of ``external_id`` on this channel and bot, and its conversation (either None
    when there is none yet)."""
    row = (await session.exec(_ACCOUNT, params={"channel": channel, "bot": bot,  # type: ignore[call-overload]
                                                "external_id": external_id})).first()
    return (row[0], row[1]) if row is not None else (None, None)


async def school_id_of(session: AsyncSession, code: str) -> int | None:
    """The id of the school with this code (None when it is not imported)."""
    return (await session.exec(_SCHOOL_OF_CODE, params={"code": code})).first()
