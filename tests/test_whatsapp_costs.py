"""WhatsApp's costs and tiers, over the wire against the fake Bot API and the fake Twilio: every
WhatsApp message classed service / utility / marketing, the announcement preview counting the
channels and the cost, a family on both Telegram and WhatsApp reached on Telegram, and a sender's
daily tier spreading an announcement over days (the author told when)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from domain.clock import ManualClock
from domain.messages import Outbound, Recipient
from domain.whatsapp_costs import CostPolicy, Prices, PriceTableError, Reach, category
from storage.models import Broadcast, Guardian, OutboxMessage, School, Staff
from storage.outbox import enqueue
from storage.whatsapp_tier import DAY_STEP, spread_broadcast
from tests.fakes.telegram_updates import callback_update
from tests.harness import HENDRA, MAYA, MONDAY_MORNING, RAHMAT, RINA, YULIA
from tests.test_district import MAYA_TG, RINA_TG, UJI_FROM, district, texts, whatsapp_says

ANNOUNCEMENT_SID = "HX" + "a" * 32
NOTICE_SID = "HX" + "b" * 32
CONTENT_SIDS = json.dumps({"announcement": ANNOUNCEMENT_SID, "concern_auto_closed": NOTICE_SID})
TEXT = "Rapat komite hari Sabtu pukul 08.00 di aula."


def test_categories_and_the_price_table() -> None:
    assert category("announcement", 7, window_open=True) == "service"
    assert category("announcement", 7, window_open=False) == "marketing"
    assert category("bk_series_2", None, window_open=False) == "marketing"
    assert category("meeting_invitation", None, window_open=False) == "utility"
    prices = Prices.parse("service:0, utility:400,marketing:1_000", sms=5000)
    assert (prices.service, prices.utility, prices.marketing, prices.sms) == (0, 400, 1000, 5000)
    assert Prices.parse(None) == Prices()
    with pytest.raises(PriceTableError, match="'promo:5'"):
        Prices.parse("promo:5")
    with pytest.raises(PriceTableError, match="a number of rupiah"):
        Prices.parse("marketing:murah")
    reach = Reach()
    for channel, window in (("telegram", False), ("whatsapp", True), ("whatsapp", False), ("sms", False)):
        reach.add(channel, window)
    assert reach.as_json(prices) == {"telegram": 1, "whatsapp_in_window": 1, "whatsapp_template": 1,
                                     "sms": 1, "cost_idr": 6000}


async def test_preview_counts_channels_and_cost_and_the_tier_moves_the_rest_to_tomorrow(
        database_url: str, tmp_path: Path) -> None:
    """UJI's own WhatsApp number has a tier of 2 a day (an announcement may use 1), and a notice
    to Rahmat has used it today. Rina announces to grade 7: Hendra wrote on WhatsApp this
    morning (free, inside the window), Maya is on Telegram and on WhatsApp (Telegram: free),
    Yulia last wrote on Friday (a paid template) — hers goes tomorrow, and Rina is told so."""
    clock = ManualClock(MONDAY_MORNING - timedelta(days=3))  # Friday 09.00 WIB
    async with district(database_url, tmp_path, clock=clock, uji_extra="  whatsapp_daily_tier: 2\n",
                        twilio_content_sids=CONTENT_SIDS,
                        whatsapp_prices="service:0,utility:350,marketing:700") as net:
        await whatsapp_says(net, YULIA, "menu")
        await whatsapp_says(net, RAHMAT, "menu")
        await net.link("UJI", MAYA_TG, MAYA)
        clock.advance(days=1)  # Saturday: Maya writes on WhatsApp, after she linked Telegram
        await whatsapp_says(net, MAYA, "menu")
        clock.advance(days=2)  # Monday 09.00
        await whatsapp_says(net, HENDRA, "menu")
        await net.link("UJI", RINA_TG, RINA)

        # A notice to Rahmat outside his window: a utility template, and one of today's tier.
        async with net.services.sessions() as session, session.begin():
            rahmat = (await session.exec(select(Guardian).join(School, col(School.id) == Guardian.school_id)
                                         .where(Guardian.phone == RAHMAT, School.code == "UJI"))).one()
            await enqueue(session, [Outbound(
                to=Recipient(phone=RAHMAT, guardian_id=rahmat.id, school_id=rahmat.school_id),
                template="concern_auto_closed", context={"child_name": "Citra Lestari", "concern_id": 1})],
                now=clock.now(), simulator_enabled=False)
        await net.deliver()
        notice = net.twilio.messages_to(f"whatsapp:{RAHMAT}")[-1]
        assert notice["ContentSid"] == NOTICE_SID and notice["From"] == UJI_FROM

        await net.say("UJI", RINA_TG, "siaran")
        await net.say("UJI", RINA_TG, "grade:7")
        preview = (await net.say("UJI", RINA_TG, TEXT))[-1]
        assert TEXT in preview["text"]
        assert "• Telegram: 1 (gratis)" in preview["text"]
        assert "• WhatsApp, dalam 24 jam sejak pesan terakhir orang tua: 1 (gratis)" in preview["text"]
        assert "• WhatsApp, di luar 24 jam (pesan templat berbayar): 1" in preview["text"]
        assert "• SMS: 0" in preview["text"]
        assert "Perkiraan biaya: Rp700 " in preview["text"]
        tomorrow = "1 dikirim Selasa, 24 November 2026 pukul 10.00 WIB"
        assert tomorrow in preview["text"]

        before = len(net.uji.messages_to(RINA_TG))
        response = await net.telegram("UJI", callback_update(net.next_id(), RINA_TG, "sb:send", message=preview))
        assert response.status_code == 200
        await net.deliver()
        confirmation = texts(net.uji.messages_to(RINA_TG)[before:])
        assert "sedang dikirim kepada 3 orang tua/wali" in confirmation
        assert "Perkiraan biaya: Rp700 " in confirmation and tomorrow in confirmation

        to_hendra = net.twilio.messages_to(f"whatsapp:{HENDRA}")[-1]
        assert TEXT in to_hendra["Body"] and to_hendra["From"] == UJI_FROM  # free-form, in the window
        assert TEXT in net.uji.messages_to(MAYA_TG)[-1]["text"]  # Telegram, not WhatsApp
        assert not any(TEXT in (m.get("Body") or m.get("ContentVariables") or "")
                       for m in net.twilio.messages_to(f"whatsapp:{MAYA}"))
        assert not [m for m in net.twilio.messages_to(f"whatsapp:{YULIA}") if m.get("ContentSid")]

        async with net.services.sessions() as session:
            rows = {row.chat_id: row for row in (await session.exec(select(OutboxMessage).where(
                col(OutboxMessage.broadcast_id).is_not(None)))).all()}
        assert rows[f"whatsapp:{HENDRA}"].pricing_category == "service"
        assert rows[f"whatsapp:{HENDRA}"].status == "sent"
        assert rows[str(MAYA_TG)].channel == "telegram" and rows[str(MAYA_TG)].pricing_category is None
        yulia = rows[f"whatsapp:{YULIA}"]
        assert (yulia.pricing_category, yulia.status) == ("marketing", "pending")
        assert yulia.next_attempt_at is not None
        assert timedelta(0) <= yulia.next_attempt_at - (MONDAY_MORNING + DAY_STEP) < timedelta(minutes=1)

        clock.advance(hours=25)  # Tuesday 10.00: a new day of the tier
        await net.deliver()
        sent = [m for m in net.twilio.messages_to(f"whatsapp:{YULIA}") if m.get("ContentSid")]
        assert len(sent) == 1 and sent[0]["ContentSid"] == ANNOUNCEMENT_SID
        assert TEXT in json.loads(sent[0]["ContentVariables"])["1"]
        async with net.services.sessions() as session:
            done = await session.get(OutboxMessage, yulia.id)
            rahmat_row = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.chat_id == f"whatsapp:{RAHMAT}", OutboxMessage.template == "concern_auto_closed"))).one()
        assert done is not None and (done.status, done.pricing_category) == ("sent", "marketing")
        assert rahmat_row.pricing_category == "utility"


async def test_a_reply_is_billed_as_the_window_stands_when_it_goes(database_url: str, tmp_path: Path) -> None:
    """A notice written outside Yulia's window is foreseen as utility; she writes before it goes,
    so it goes free-form and is recorded as a service message."""
    clock = ManualClock(MONDAY_MORNING - timedelta(days=2))
    async with district(database_url, tmp_path, clock=clock, twilio_content_sids=CONTENT_SIDS) as net:
        await whatsapp_says(net, YULIA, "menu")
        clock.advance(days=2)
        async with net.services.sessions() as session, session.begin():
            # Yulia as school UJI's guardian (the school she writes to): she may be DUA's too.
            yulia = (await session.exec(select(Guardian).join(School, col(School.id) == Guardian.school_id)
                                        .where(Guardian.phone == YULIA, School.code == "UJI"))).one()
            [row] = await enqueue(session, [Outbound(
                to=Recipient(phone=YULIA, guardian_id=yulia.id, school_id=yulia.school_id),
                template="concern_auto_closed", context={"child_name": "Citra Lestari", "concern_id": 1},
                not_before=clock.now() + timedelta(minutes=30))], now=clock.now(), simulator_enabled=False)
        assert row.pricing_category == "utility"
        await whatsapp_says(net, YULIA, "menu")  # the window opens again
        clock.advance(minutes=30)
        await net.deliver()
        last = net.twilio.messages_to(f"whatsapp:{YULIA}")[-1]
        assert "Body" in last and "ContentSid" not in last
        async with net.services.sessions() as session:
            done = await session.get(OutboxMessage, row.id)
        assert done is not None and (done.status, done.pricing_category) == ("sent", "service")


async def _broadcast_rows(sessions: Any, count: int, now: Any, *, bot: str = "UJI") -> int:
    """A broadcast of ``count`` billed WhatsApp rows on ``bot``'s sender (as enqueue writes them)."""
    async with sessions() as session, session.begin():
        school = (await session.exec(select(School).where(School.code == "UJI"))).one()
        author = (await session.exec(select(Staff).where(Staff.phone == RINA, Staff.school_id == school.id))).one()
        broadcast = Broadcast(school_id=school.id, author_staff_id=author.id, audience="school", text=TEXT,
                              created_at=now, send_at=now)
        session.add(broadcast)
        await session.flush()
        for n in range(count):
            session.add(OutboxMessage(
                school_id=school.id, channel="whatsapp", bot=bot, chat_id=f"whatsapp:+62813777{n:05d}",
                template="announcement", text=TEXT, buttons=[], created_at=now, next_attempt_at=now,
                broadcast_id=broadcast.id, priority=10, pricing_category="marketing"))
        assert broadcast.id is not None
        return broadcast.id


async def test_a_broadcast_larger_than_the_tier_goes_over_days(database_url: str, tmp_path: Path) -> None:
    """Tier 4 (an announcement takes 3 a day); one notice already went today: 7 billed messages
    go 2 today, 3 tomorrow, 2 the day after; the next announcement finds tomorrow taken too."""
    async with district(database_url, tmp_path) as net:
        now = net.clock.now()
        async with net.services.sessions() as session, session.begin():
            session.add(OutboxMessage(channel="whatsapp", bot="UJI", chat_id="whatsapp:+6281377799999",
                                      template="concern_auto_closed", text="x", buttons=[], created_at=now,
                                      next_attempt_at=now, status="sent", sent_at=now - timedelta(hours=3),
                                      pricing_category="utility"))
        first = await _broadcast_rows(net.services.sessions, 7, now)
        async with net.services.sessions() as session, session.begin():
            plan = await spread_broadcast(session, first, now, tiers={"UJI": 4}, default_tier=1000)
        assert plan == [(now, 2), (now + DAY_STEP, 3), (now + 2 * DAY_STEP, 2)]
        async with net.services.sessions() as session:
            times = sorted(row.next_attempt_at for row in (await session.exec(select(OutboxMessage).where(
                OutboxMessage.broadcast_id == first))).all())
        assert times == [now] * 2 + [now + DAY_STEP] * 3 + [now + 2 * DAY_STEP] * 2

        second = await _broadcast_rows(net.services.sessions, 4, now)
        async with net.services.sessions() as session, session.begin():
            plan = await spread_broadcast(session, second, now, tiers={"UJI": 4}, default_tier=1000)
        # Today and the next two days hold the first's (and the notice's) recipients.
        assert plan == [(now + 2 * DAY_STEP, 1), (now + 3 * DAY_STEP, 3)]
        # Another sender's tier is its own: the default sender, at the default tier, sends at once.
        third = await _broadcast_rows(net.services.sessions, 5, now, bot="")
        async with net.services.sessions() as session, session.begin():
            plan = await spread_broadcast(session, third, now, tiers={"UJI": 4},
                                          default_tier=CostPolicy().daily_tier)
        assert plan == [(now, 5)]
