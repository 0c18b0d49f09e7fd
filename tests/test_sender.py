"""The sender against the fake Bot API: Telegram's per-chat and overall limits, on a manual clock."""

from __future__ import annotations

from datetime import timedelta

from bot.channels.telegram import TelegramChannel
from domain.clock import ManualClock
from bot.inbox import Inbox
from bot.sender import Sender
from handlers.turn import Policy
from storage.models import OutboxMessage
from tests.fakes.telegram_api import FakeBotAPI
from tests.harness import MONDAY_MORNING


async def _queue(sessions, chats: list[int], now) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as session, session.begin():
        for n, chat in enumerate(chats):
            session.add(OutboxMessage(channel="telegram", chat_id=str(chat), template="test", text=f"pesan {n}",
                                      buttons=[], created_at=now, next_attempt_at=now))


async def _sender(sessions, api: FakeBotAPI, clock: ManualClock) -> tuple[Sender, TelegramChannel]:  # type: ignore[no-untyped-def]
    inbox = Inbox(sessions, clock=clock, policy=Policy(), simulator_enabled=False)
    telegram = TelegramChannel(token=api.token, base_url=api.base_url, inbox=inbox)
    await telegram.start(polling=False)
    return Sender(sessions, [telegram], clock=clock), telegram


async def _drain(sender: Sender) -> int:
    total = 0
    while attempted := await sender.drain_once():
        total += attempted
    return total


async def test_one_chat_gets_about_one_message_a_second(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(MONDAY_MORNING)
    async with FakeBotAPI() as api:
        sender, telegram = await _sender(sessions, api, clock)
        await _queue(sessions, [42] * 10, clock.now())
        assert await _drain(sender) == 10
        await telegram.stop()
    assert [m["text"] for m in api.messages_to(42)] == [f"pesan {n}" for n in range(10)]
    # A burst of 3, then one a second.
    assert clock.now() - MONDAY_MORNING >= timedelta(seconds=7)


async def test_many_chats_share_thirty_messages_a_second(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(MONDAY_MORNING)
    async with FakeBotAPI() as api:
        sender, telegram = await _sender(sessions, api, clock)
        await _queue(sessions, list(range(1, 91)), clock.now())
        assert await _drain(sender) == 90
        await telegram.stop()
    assert len(api.sent) == 90
    elapsed = (clock.now() - MONDAY_MORNING).total_seconds()
    assert 1.9 <= elapsed <= 3.5  # 90 messages at 30/s after a first burst of 30
