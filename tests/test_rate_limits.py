"""Sending within the platforms' limits, against fakes that enforce them.

The fake Bot API refuses more than 30 sendMessage calls in any second and more than about one a
second to one chat (bursts of 3); the fake Twilio refuses more than its MPS per sender. Both read
the same ``ManualClock`` as the sender, so pacing is checked on the injected clock, never by
sleeping or timing: a sender that respects the limits causes no 429, and one that is told to wait
(``retry_after``) waits at least that long before it tries again and still delivers everything
exactly once.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlmodel import col, select

from bot.app import Services, create_app
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel
from domain.clock import ManualClock
from bot.inbox import Inbox
from bot.sender import Sender
from handlers.broadcasts import send_broadcast
from handlers.turn import Policy
from storage.models import ChannelAccount, OutboxMessage, Staff
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import contact_update, text_update
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI
from tests.harness import MONDAY_MORNING, settings_for

TG_SECRET = "rate-limit-secret"
COUNSELOR = "C-001"
ANNOUNCEMENT = "Pembagian rapor hari Sabtu pukul 08.00 di kelas masing-masing."

pytestmark = [
    # twilio 9.13's async client still uses aiohttp's deprecated BasicAuth: not our code.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


# ------------------------------------------------------------------------------ a big school


def _class_name(index: int) -> str:
    """VII-A ... VII-L, VIII-A ... IX-L: 36 classes."""
    return f"{('VII', 'VIII', 'IX')[index // 12]}-{chr(ord('A') + index % 12)}"


def guardian_phone(family: int) -> str:
    """The E.164 phone of family ``family``'s only guardian."""
    return f"+62813{family + 1:08d}"


def teacher_phone(class_index: int) -> str:
    return f"+62811{class_index + 1:08d}"


def write_roster(folder: Path, families: int, *, per_class: int = 30) -> Path:
    """A school with ``families`` one-child families, a homeroom (Matematika) teacher a class
    and one counselor; every office hour empty (always reachable)."""
    folder.mkdir(parents=True, exist_ok=True)
    classes = [_class_name(k) for k in range((families + per_class - 1) // per_class)]
    with open(folder / "staff.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["staff_id", "name", "role", "phone", "language", "homeroom_class", "classes",
                      "subjects", "office_hours"])
        grades = ";".join(sorted({str(7 + k // 12) for k in range(len(classes))}))
        out.writerow([COUNSELOR, "Rina Marlina", "counselor", "+628119999999", "id", "", grades, "", ""])
        for k, name in enumerate(classes):
            out.writerow([f"T-{k + 1:03d}", f"Guru Kelas {name}", "teacher", teacher_phone(k), "id", name,
                          name, "Matematika", ""])
    with open(folder / "students.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["student_id", "name", "class"])
        for n in range(families):
            out.writerow([f"00800{n:05d}", f"Siswa Nomor {n + 1}", classes[n // per_class]])
    with open(folder / "guardians.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["student_id", "name", "relation", "phone", "language", "proxy"])
        for n in range(families):
            out.writerow([f"00800{n:05d}", f"Wali Nomor {n + 1}", "ibu", guardian_phone(n), "id", "no"])
    return folder


# ------------------------------------------------------------------------------ app and sender


@asynccontextmanager
async def bridge(database_url: str, roster: Path, clock: ManualClock, telegram: FakeBotAPI
                 ) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The app with Telegram (webhook mode) against ``telegram``; the test drives the sender."""
    settings = settings_for(database_url, simulator=False, telegram_bot_token=telegram.token,
                            telegram_api_base_url=telegram.base_url, telegram_mode="webhook",
                            telegram_webhook_secret=TG_SECRET)
    app = create_app(settings, clock=clock, run_scheduler=False, run_sender=False)
    async with LifespanManager(app) as manager:
        services: Services = app.state.services
        await import_roster(services.sessions, roster, school_code="BESAR", school_name="SMP Besar")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                     base_url="http://internal:8000") as client:
            yield client, services


async def post_update(client: httpx.AsyncClient, update: dict[str, Any]) -> None:
    response = await client.post("/webhooks/telegram", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert response.status_code == 200, response.text


async def drain_all(sender: Sender, clock: ManualClock, *, rounds: int = 1000) -> None:
    """Deliver until nothing is pending; when only retries are left, move the clock to them."""
    for _ in range(rounds):
        if await sender.drain_once():
            continue
        async with sender.sessions() as session:
            due = (await session.exec(select(OutboxMessage.next_attempt_at).where(
                OutboxMessage.status == "pending", col(OutboxMessage.channel).in_([channel for channel, _ in sender.channels]))
                .order_by(col(OutboxMessage.next_attempt_at)))).first()
        if due is None:
            return
        clock.advance(seconds=max((due - clock.now()).total_seconds(), 0.001))
    raise AssertionError(f"the outbox did not drain in {rounds} rounds")


async def link_telegram(services: Services, user_id: int, phone: str, now: Any) -> None:
    """What sharing one's own contact leaves behind: a linked Telegram account."""
    async with services.sessions() as session, session.begin():
        session.add(ChannelAccount(channel="telegram", external_id=str(user_id), chat_id=str(user_id),
                                   phone=phone, linked_at=now, last_seen_at=now))


async def announce(services: Services, clock: ManualClock, audience: str = "school") -> int:
    async with services.sessions() as session, session.begin():
        author = (await session.exec(select(Staff).where(Staff.staff_code == COUNSELOR))).one()
        result = await send_broadcast(session, author=author, audience=audience, text=ANNOUNCEMENT,
                                      now=clock.now(), simulator_enabled=False)
    services.sender.notify()
    return result.recipients


def announcements(sent: list[dict[str, Any]]) -> int:
    """How many of the Bot API's sent messages are the announcement."""
    return sum(ANNOUNCEMENT in m["text"] for m in sent)


def assert_paced(log: list[dict[str, Any]], *, per_second: int) -> None:
    """No more than ``per_second`` accepted calls in any one-second window of the log."""
    accepted = [entry["at"] for entry in log if entry["status"] in (200, 201)]
    for first, at in enumerate(accepted):
        later = [t for t in accepted[first:] if t - at < 1.0 - 1e-6]
        assert len(later) <= per_second, f"{len(later)} calls within a second from t={at:.3f}"


def assert_waited(log: list[dict[str, Any]], key: str, default_wait: float) -> None:
    """After each 429 the sender tried that recipient again only once the wait was over."""
    for index, entry in enumerate(log):
        if entry["status"] != 429:
            continue
        wait = entry.get("retry_after", default_wait)
        again = [e for e in log[index + 1:] if e[key] == entry[key]]
        assert again, f"{entry[key]} was never tried again after a 429"
        assert again[0]["at"] >= entry["at"] + wait - 1e-6, (entry, again[0])


# ------------------------------------------------------------------------------------ Telegram


async def test_a_broadcast_to_a_hundred_telegram_families_causes_no_429(
        database_url: str, tmp_path: Path) -> None:
    """Linking 100 families (two welcome messages each) and announcing to all of them, through
    the real sender against a fake that enforces 30/s and 1/s per chat: no 429, each family
    gets the announcement once, and the pacing shows on the injected clock."""
    clock = ManualClock(MONDAY_MORNING)
    roster = write_roster(tmp_path / "roster", 100)
    async with FakeBotAPI.telegram_like(clock=clock) as api, \
            bridge(database_url, roster, clock, api) as (client, services):
        users = {10_000 + n: guardian_phone(n) for n in range(100)}
        for update_id, (user_id, phone) in enumerate(users.items(), start=1):
            await post_update(client, contact_update(update_id, user_id, phone.lstrip("+")))
        await drain_all(services.sender, clock)
        assert len(api.sent) == 200 and api.throttled == 0  # the welcome and the counselor note

        started = clock.now()
        assert await announce(services, clock) == 100
        await drain_all(services.sender, clock)

        assert api.throttled == 0
        announced = Counter(m["chat_id"] for m in api.sent if ANNOUNCEMENT in m["text"])
        assert announced == Counter(set(users)), "every family exactly once"
        assert_paced(api.send_log, per_second=30)
        # 100 messages at 30/s cannot all leave in under (100 - 30) / 30 seconds.
        assert clock.now() - started >= timedelta(seconds=70 / 30)
        async with services.sessions() as session:
            statuses = Counter((await session.exec(select(OutboxMessage.status).where(
                col(OutboxMessage.broadcast_id).is_not(None)))).all())
        assert statuses == Counter({"sent": 100})


async def _telegram_sender(sessions: Any, api: FakeBotAPI, clock: ManualClock, *,
                           rate: float = 30.0) -> tuple[Sender, TelegramChannel]:
    inbox = Inbox(sessions, clock=clock, policy=Policy(), simulator_enabled=False)
    telegram = TelegramChannel(token=api.token, base_url=api.base_url, inbox=inbox, rate_per_second=rate)
    await telegram.start(polling=False)
    return Sender(sessions, [telegram], clock=clock), telegram


async def _queue(sessions: Any, channel: str, chats: list[str], now: Any,
                 accounts: dict[str, int] | None = None) -> None:
    async with sessions() as session, session.begin():
        for n, chat in enumerate(chats):
            session.add(OutboxMessage(channel=channel, chat_id=chat, template="test", text=f"pesan {n}",
                                      buttons=[], created_at=now, next_attempt_at=now,
                                      account_id=(accounts or {}).get(chat), priority=10))


async def test_telegram_retry_after_is_waited_out_on_the_injected_clock(sessions: Any) -> None:
    """Told "retry after 7", the sender pauses the whole channel for 7 s (of the injected clock)
    and then delivers every message once."""
    clock = ManualClock(MONDAY_MORNING)
    async with FakeBotAPI.telegram_like(clock=clock) as api:
        sender, telegram = await _telegram_sender(sessions, api, clock)
        api.fail_next("sendMessage", retry_after=7)
        chats = [str(20_000 + n) for n in range(40)]
        await _queue(sessions, "telegram", chats, clock.now())
        await drain_all(sender, clock)
        await telegram.stop()
    refused = api.send_log[0]
    assert (refused["status"], refused["retry_after"]) == (429, 7)
    assert all(entry["at"] >= refused["at"] + 7 for entry in api.send_log[1:])
    assert Counter(str(m["chat_id"]) for m in api.sent) == Counter(chats)
    assert api.throttled == 0  # the injected 429 is not the fake's own flood control


async def test_a_sender_faster_than_telegram_obeys_each_429_and_loses_nothing(sessions: Any) -> None:
    """Configured for 100/s against a fake allowing 30/s: the fake's own flood control refuses,
    the sender waits each ``retry_after`` out and still delivers everything exactly once."""
    clock = ManualClock(MONDAY_MORNING)
    async with FakeBotAPI.telegram_like(clock=clock) as api:
        sender, telegram = await _telegram_sender(sessions, api, clock, rate=100.0)
        chats = [str(30_000 + n) for n in range(120)]
        await _queue(sessions, "telegram", chats, clock.now())
        await drain_all(sender, clock)
        await telegram.stop()
    assert api.throttled >= 1
    assert_waited(api.send_log, "chat_id", 1.0)
    assert_paced(api.send_log, per_second=30)
    assert Counter(str(m["chat_id"]) for m in api.sent) == Counter(chats)


class LaggyChannel:
    """A channel whose requests reach the platform after varying network delays (on the
    injected clock), as over the internet."""

    def __init__(self, inner: TelegramChannel, clock: ManualClock, delays: list[float]) -> None:
        self.inner, self.clock, self.delays = inner, clock, itertools.cycle(delays)
        self.name = inner.name
        self.rate_per_second = inner.rate_per_second
        self.chat_rate_per_second = inner.chat_rate_per_second

    async def deliver(self, message: OutboxMessage, account: ChannelAccount | None = None) -> str:
        self.clock.advance(seconds=next(self.delays))
        return await self.inner.deliver(message, account)


async def test_network_jitter_never_squeezes_more_than_the_limit_into_a_second(sessions: Any) -> None:
    """Requests that reach Telegram 0-20 ms after the sender let them go: the sender counts a
    send from when Telegram answered, so Telegram never sees 31 in one second."""
    clock = ManualClock(MONDAY_MORNING)
    async with FakeBotAPI.telegram_like(clock=clock) as api:
        inbox = Inbox(sessions, clock=clock, policy=Policy(), simulator_enabled=False)
        telegram = TelegramChannel(token=api.token, base_url=api.base_url, inbox=inbox)
        await telegram.start(polling=False)
        sender = Sender(sessions, [LaggyChannel(telegram, clock, [0.02, 0, 0, 0.005, 0, 0, 0])], clock=clock)
        chats = [str(50_000 + n) for n in range(120)]
        await _queue(sessions, "telegram", chats, clock.now())
        await drain_all(sender, clock)
        await telegram.stop()
    assert api.throttled == 0
    assert Counter(str(m["chat_id"]) for m in api.sent) == Counter(chats)


async def test_a_busy_chat_does_not_hold_up_everyone_else(sessions: Any) -> None:
    """Six forwards queued for one teacher ahead of 24 families: the teacher gets a burst of 3
    and then one a second, in order, while the families' messages go out at once."""
    clock = ManualClock(MONDAY_MORNING)
    async with FakeBotAPI.telegram_like(clock=clock) as api:
        sender, telegram = await _telegram_sender(sessions, api, clock)
        families = [str(60_000 + n) for n in range(24)]
        await _queue(sessions, "telegram", ["777"] * 6 + families, clock.now())
        await drain_all(sender, clock)
        await telegram.stop()
    assert [m["text"] for m in api.messages_to(777)] == [f"pesan {n}" for n in range(6)]
    families_at = [entry["at"] for entry in api.send_log if str(entry["chat_id"]) in families]
    assert len(families_at) == 24 and max(families_at) < 1.0
    teacher_at = [entry["at"] for entry in api.send_log if entry["chat_id"] == 777]
    assert teacher_at[3] >= 1.0 and api.throttled == 0


# -------------------------------------------------------------------------------------- Twilio


async def _whatsapp_sender(sessions: Any, api: FakeTwilioAPI, clock: ManualClock, count: int, *,
                           rate: float) -> tuple[Sender, WhatsAppChannel, list[str]]:
    """A WhatsApp sender and ``count`` queued messages to families inside the 24-hour window."""
    inbox = Inbox(sessions, clock=clock, policy=Policy(), simulator_enabled=False)
    whatsapp = WhatsAppChannel(account_sid=api.account_sid, auth_token=api.auth_token, sender=SANDBOX_FROM,
                               api_base_url=api.base_url, content_sids={}, rate_per_second=rate,
                               status_callback=None, clock=clock, inbox=inbox)
    await whatsapp.start()
    chats = [f"whatsapp:{guardian_phone(n)}" for n in range(count)]
    accounts: dict[str, int] = {}
    async with sessions() as session, session.begin():
        for chat in chats:
            account = ChannelAccount(channel="whatsapp", external_id=chat.removeprefix("whatsapp:"),
                                     chat_id=chat, phone=chat.removeprefix("whatsapp:"),
                                     linked_at=clock.now(), last_seen_at=clock.now())
            session.add(account)
            await session.flush()
            accounts[chat] = account.id  # type: ignore[assignment]
    await _queue(sessions, "whatsapp", chats, clock.now(), accounts)
    return Sender(sessions, [whatsapp], clock=clock), whatsapp, chats


async def test_whatsapp_within_the_twilio_mps_causes_no_429(sessions: Any) -> None:
    clock = ManualClock(MONDAY_MORNING)
    async with FakeTwilioAPI(mps=10, clock=clock) as api:
        sender, whatsapp, chats = await _whatsapp_sender(sessions, api, clock, 60, rate=10.0)
        await drain_all(sender, clock)
        await whatsapp.stop()
    assert api.throttled == 0
    assert Counter(m["To"] for m in api.sent) == Counter(chats)
    assert_paced(api.send_log, per_second=10)
    assert clock.now() - MONDAY_MORNING >= timedelta(seconds=(60 - 10) / 10)


async def test_twilio_429_is_retried_later_and_nothing_is_lost(sessions: Any) -> None:
    """Twilio's 20429 for one family: that message is tried again no sooner than a second later
    (on the injected clock); the others are not held up and everything arrives once."""
    clock = ManualClock(MONDAY_MORNING)
    async with FakeTwilioAPI(mps=10, clock=clock) as api:
        sender, whatsapp, chats = await _whatsapp_sender(sessions, api, clock, 30, rate=10.0)
        api.fail_next(status=429, to=chats[0], times=2)
        await drain_all(sender, clock)
        await whatsapp.stop()
    assert [e["status"] for e in api.send_log if e["to"] == chats[0]] == [429, 429, 201]
    assert_waited(api.send_log, "to", 1.0)
    assert Counter(m["To"] for m in api.sent) == Counter(chats)
    assert api.throttled == 0


async def test_a_sender_faster_than_the_twilio_mps_loses_nothing(sessions: Any) -> None:
    """TWILIO_MESSAGES_PER_SECOND set above the account's real MPS: Twilio refuses the excess
    with 20429, and every refused message is retried later until all have arrived once."""
    clock = ManualClock(MONDAY_MORNING)
    async with FakeTwilioAPI(mps=5, clock=clock) as api:
        sender, whatsapp, chats = await _whatsapp_sender(sessions, api, clock, 40, rate=10.0)
        await drain_all(sender, clock)
        await whatsapp.stop()
    assert api.throttled >= 1
    assert_waited(api.send_log, "to", 1.0)
    assert_paced(api.send_log, per_second=5)
    assert Counter(m["To"] for m in api.sent) == Counter(chats)


# ------------------------------------------------------------------ webhooks during a broadcast


async def test_a_concern_during_a_300_family_broadcast_is_answered_before_it_ends(
        sqlite_url: str, tmp_path: Path) -> None:
    """While the running sender drains a 300-family announcement, a parent's concern posted to
    the webhook is accepted, and its acknowledgement and the teacher's copy jump the queue: at
    most one sender batch of announcements goes out between the webhook and the answer."""
    clock = ManualClock(MONDAY_MORNING)
    roster = write_roster(tmp_path / "roster", 300)
    async with FakeBotAPI.telegram_like(clock=clock) as api, \
            bridge(sqlite_url, roster, clock, api) as (client, services):
        for n in range(300):
            await link_telegram(services, 40_000 + n, guardian_phone(n), clock.now())
        parent, parent_class = 40_000 + 75, 75 // 30
        teacher = 90_000
        await link_telegram(services, teacher, teacher_phone(parent_class), clock.now())
        sender = services.sender
        # A long idle wait: the sender must go from batch to batch without pausing in between.
        running = asyncio.create_task(sender.run(idle_seconds=600))
        try:
            assert await announce(services, clock) == 300
            await api.wait_for(lambda sent: announcements(sent) >= 60, timeout=30)
            await post_update(client, text_update(1, parent, "Nilai matematika anak saya turun, mohon bantuan"))
            at_webhook = announcements(api.sent)
            assert at_webhook < 300, "the webhook was answered while the broadcast was still going"

            await api.wait_for(lambda sent: announcements(sent) >= 300, timeout=60)
        finally:
            sender.stop()
            await running
    order = [m for m in api.sent if m["chat_id"] in (parent, teacher)]
    acknowledgement = next(i for i, m in enumerate(api.sent)
                           if m["chat_id"] == parent and ANNOUNCEMENT not in m["text"])
    forwarded = next(i for i, m in enumerate(api.sent) if m["chat_id"] == teacher)
    assert "matematika" in api.sent[forwarded]["text"].lower(), order
    for index in (acknowledgement, forwarded):
        in_between = announcements(api.sent[:index]) - at_webhook
        assert in_between <= sender.batch, f"{in_between} announcements went before the answer"
    assert api.throttled == 0
    assert announcements(api.sent) == 300
