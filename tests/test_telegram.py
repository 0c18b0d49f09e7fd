"""Telegram end to end: python-telegram-bot against a local fake Bot API, webhook and polling.

Updates are real Update JSON posted to /webhooks/telegram (or served by getUpdates); what the
phones receive is what the fake Bot API recorded from sendMessage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bot.app import Services, create_app
from domain.clock import ManualClock, SystemClock
from storage.link_codes import issue_link_code
from storage.models import ChannelAccount, OutboxMessage
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import (
    callback_update,
    contact_update,
    photo_update,
    start_update,
    sticker_update,
    text_update,
)
from tests.harness import MONDAY_MORNING, SCHOOL, settings_for

SECRET = "s3cret-webhook-token"
MAYA_TG, SRI_TG, HENDRA_TG, BUDI_TG, STRANGER_TG = 5001, 5002, 5003, 5004, 5009


class TelegramSchool:
    def __init__(self, client: httpx.AsyncClient, services: Services, api: FakeBotAPI, clock: Any) -> None:
        self.client, self.services, self.api, self.clock = client, services, api, clock
        self._next_update = 1000

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return await self.client.post("/webhooks/telegram", json=update, headers=headers)

    def uid(self) -> int:
        self._next_update += 1
        return self._next_update

    async def send(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """Post an update, deliver the outbox, and return what the sender's chat received."""
        before = len(self.api.sent)
        response = await self.post(update)
        assert response.status_code == 200, response.text
        await self.deliver()
        return self.api.sent[before:]

    async def deliver(self) -> None:
        while await self.services.sender.drain_once():
            pass

    async def link(self, user_id: int, phone: str) -> list[dict[str, Any]]:
        return await self.send(contact_update(self.uid(), user_id, phone))


@asynccontextmanager
async def telegram_school(database_url: str, *, clock: Any = None) -> AsyncIterator[TelegramSchool]:
    async with FakeBotAPI() as api:
        clock = clock or ManualClock(MONDAY_MORNING)
        settings = settings_for(database_url, simulator=False, telegram_bot_token=api.token,
                                telegram_api_base_url=api.base_url, telegram_mode="webhook",
                                telegram_webhook_secret=SECRET)
        app = create_app(settings, clock=clock, run_scheduler=False, run_sender=False)
        async with LifespanManager(app) as manager:
            services: Services = app.state.services
            await import_roster(services.sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://test") as client:
                yield TelegramSchool(client, services, api, clock)


def to_chat(messages: list[dict[str, Any]], chat_id: int) -> list[dict[str, Any]]:
    return [m for m in messages if m["chat_id"] == chat_id]


async def test_onboarding_by_shared_contact(database_url: str) -> None:
    async with telegram_school(database_url) as school:
        hello = await school.send(start_update(school.uid(), MAYA_TG))
        assert "Bagikan nomor telepon saya" in hello[0]["text"]
        keyboard = hello[0]["reply_markup"]["keyboard"]
        assert keyboard[0][0]["request_contact"] is True

        # Someone else's contact is refused, even when that number is in the roster.
        refused = await school.send(contact_update(school.uid(), MAYA_TG, "6281300000003", contact_user_id=777))
        assert "bukan milik akun Telegram ini" in refused[0]["text"]

        # Her own contact, Telegram-style without '+': linked, welcomed in two messages.
        welcome = await school.link(MAYA_TG, "6281300000002")
        assert len(welcome) == 2
        assert "Maya Wijaya" in welcome[0]["text"] and "Ani Wijaya (VII-A)" in welcome[0]["text"]
        assert "Guru BK" in welcome[1]["text"]
        menu = await school.send(text_update(school.uid(), MAYA_TG, "/start"))
        assert "Maya Wijaya (orang tua/wali dari Ani Wijaya (VII-A))" in menu[0]["text"]


async def test_unknown_number_gets_a_polite_refusal_with_the_office(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        refused = await school.link(STRANGER_TG, "+6281399999999")
        assert "belum terdaftar" in refused[0]["text"] and "SMP Uji Coba" in refused[0]["text"]
        again = await school.send(text_update(school.uid(), STRANGER_TG, "Halo, anak saya kelas VII-A"))
        assert "Bagikan nomor telepon saya" in again[0]["text"]


async def test_link_code_links_an_account_with_another_number(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        async with school.services.sessions() as session, session.begin():
            code, person = await issue_link_code(session, "0813-0000-0001", now=school.clock.now(), ttl_hours=72)
        assert person.name == "Hendra Wijaya"
        linked = await school.send(start_update(school.uid(), HENDRA_TG, payload=code.code))
        assert "Hendra Wijaya" in linked[0]["text"] and "Bima Wijaya (VII-B)" in linked[0]["text"]
        # Single use: another account cannot use it again.
        reused = await school.send(start_update(school.uid(), STRANGER_TG, payload=code.code))
        assert "tidak berlaku" in reused[0]["text"]


async def test_expired_link_code_is_refused(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        async with school.services.sessions() as session, session.begin():
            code, _ = await issue_link_code(session, "T-001", now=school.clock.now(), ttl_hours=1)
        school.clock.advance(hours=2)
        refused = await school.send(start_update(school.uid(), SRI_TG, payload=code.code))
        assert "tidak berlaku" in refused[0]["text"]


async def test_concern_forwarded_and_reply_relayed_over_telegram(database_url: str) -> None:
    async with telegram_school(database_url) as school:
        await school.link(SRI_TG, "+6281200000001")
        await school.link(MAYA_TG, "081300000002")
        sent = await school.send(text_update(school.uid(), MAYA_TG, "Bu, PR matematika Ani belum dikoreksi"))
        forwarded = to_chat(sent, SRI_TG)
        assert len(forwarded) == 1
        assert "PR matematika Ani belum dikoreksi" in forwarded[0]["text"]
        assert "+62" not in forwarded[0]["text"] and "0813" not in forwarded[0]["text"]
        ack = to_chat(sent, MAYA_TG)
        assert "Guru Matematika, Bapak/Ibu Sri Wahyuni" in ack[0]["text"]

        bot_message = school.api.message(SRI_TG, forwarded[0]["message_id"])
        relayed = await school.send(text_update(school.uid(), SRI_TG, "Sudah Bu, besok dibagikan.",
                                                reply_to=bot_message))
        answer = to_chat(relayed, MAYA_TG)
        assert len(answer) == 1 and "Sudah Bu, besok dibagikan." in answer[0]["text"]
        assert "Sri Wahyuni" in answer[0]["text"]
        assert "Terkirim kepada Maya Wijaya" in to_chat(relayed, SRI_TG)[0]["text"]


async def test_child_question_with_inline_buttons(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        await school.link(BUDI_TG, "081200000002")
        await school.link(HENDRA_TG, "081300000001")
        asked = await school.send(text_update(school.uid(), HENDRA_TG, "Tugas IPA kemarin kurang jelas"))
        keyboard = asked[-1]["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in keyboard] == ["Ani Wijaya (VII-A)", "Bima Wijaya (VII-B)"]
        pressed = await school.send(callback_update(school.uid(), HENDRA_TG, keyboard[1][0]["callback_data"],
                                                    message=school.api.message(HENDRA_TG, asked[-1]["message_id"])))
        assert school.api.calls_of("answerCallbackQuery"), "the button's spinner is stopped"
        assert "Tugas IPA kemarin kurang jelas" in to_chat(pressed, BUDI_TG)[0]["text"]


async def test_repeated_update_is_processed_once(database_url: str) -> None:
    async with telegram_school(database_url) as school:
        await school.link(SRI_TG, "081200000001")
        await school.link(MAYA_TG, "081300000002")
        update = text_update(school.uid(), MAYA_TG, "Nilai matematika Ani turun")
        first = await school.send(update)
        assert len(to_chat(first, SRI_TG)) == 1
        again = await school.send(update)
        assert again == []


async def test_webhook_guards(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        update = text_update(school.uid(), MAYA_TG, "halo")
        assert (await school.post(update, secret=None)).status_code == 403
        assert (await school.post(update, secret="wrong")).status_code == 403
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "content-type": "application/json"}
        malformed = await school.client.post("/webhooks/telegram", content=b"{oops", headers=headers)
        assert malformed.status_code == 400
        no_id = await school.client.post("/webhooks/telegram", json={"message": {}}, headers=headers)
        assert no_id.status_code == 400
        huge = await school.client.post("/webhooks/telegram", content=b"[" + b"1," * 600_000 + b"1]",
                                        headers=headers)
        assert huge.status_code == 413
        assert school.api.sent == []


@pytest.mark.parametrize("make", [sticker_update, lambda uid, user: photo_update(uid, user)])
async def test_stickers_and_photos_get_a_clear_message(sqlite_url: str, make: Any) -> None:
    async with telegram_school(sqlite_url) as school:
        await school.link(MAYA_TG, "081300000002")
        answer = await school.send(make(school.uid(), MAYA_TG))
        assert "hanya dapat meneruskan pesan tertulis" in answer[0]["text"]


async def test_unknown_callback_and_long_text_never_fail(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        welcome = await school.link(MAYA_TG, "081300000002")
        stale = await school.send(callback_update(school.uid(), MAYA_TG, "zz:unknown",
                                                  message=school.api.message(MAYA_TG, welcome[0]["message_id"])))
        assert "tidak berlaku" in stale[0]["text"]
        long = await school.send(text_update(school.uid(), MAYA_TG, "Ani dibully. " + "x" * 4000))
        assert long, "a 4,000-character message is answered"


async def test_429_retry_after_is_honoured_and_nothing_is_lost(database_url: str) -> None:
    clock = ManualClock(MONDAY_MORNING)
    async with telegram_school(database_url, clock=clock) as school:
        await school.link(SRI_TG, "081200000001")
        await school.link(MAYA_TG, "081300000002")
        school.api.fail_next("sendMessage", retry_after=7)
        before, start = len(school.api.sent), clock.now()
        await school.post(text_update(school.uid(), MAYA_TG, "Nilai matematika Ani turun"))
        await school.deliver()
        # The first attempt met a 429: the channel paused, and the refused message went again only
        # once retry_after had passed on the sender's clock (a request already on its way beside
        # it may have gone meanwhile).
        while len(school.api.sent) - before < 2 and clock.now() - start < timedelta(seconds=30):
            clock.advance(seconds=1)
            await school.deliver()
        assert len(school.api.sent) - before == 2
        assert clock.now() - start >= timedelta(seconds=7)
        async with school.services.sessions() as session:
            rows = (await session.exec(OutboxMessage.__table__.select())).all()  # type: ignore[attr-defined]
        assert all(row.status == "sent" for row in rows)


async def test_blocked_bot_marks_the_account_and_goes_on(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        await school.link(SRI_TG, "081200000001")
        await school.link(MAYA_TG, "081300000002")
        await school.post(text_update(school.uid(), MAYA_TG, "Nilai matematika Ani turun"))
        # Sri's message goes first (forward), then Maya's acknowledgement.
        school.api.fail_next("sendMessage", status=403)
        await school.deliver()
        assert to_chat(school.api.sent, MAYA_TG)[-1]["text"].startswith("Terima kasih")
        async with school.services.sessions() as session:
            from sqlmodel import select

            sri = (await session.exec(select(ChannelAccount).where(ChannelAccount.external_id == str(SRI_TG)))).one()
            failed = (await session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed"))).all()
        assert sri.blocked is True
        assert len(failed) == 1 and "forbidden" in (failed[0].error or "")


async def test_polling_mode_answers_updates(sqlite_url: str) -> None:
    async with FakeBotAPI() as api:
        settings = settings_for(sqlite_url, simulator=False, telegram_bot_token=api.token,
                                telegram_api_base_url=api.base_url, telegram_mode="polling")
        app = create_app(settings, clock=SystemClock(), run_scheduler=False)
        async with LifespanManager(app):
            services: Services = app.state.services
            await import_roster(services.sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
            assert api.calls_of("deleteWebhook"), "polling starts by removing any webhook"
            api.push_update(contact_update(1, SRI_TG, "6281200000001"))
            api.push_update(contact_update(2, MAYA_TG, "6281300000002"))
            api.push_update(text_update(3, MAYA_TG, "Bu, nilai matematika Ani turun"))
            sent = await api.wait_for(lambda sent: any("nilai matematika Ani turun" in m["text"]
                                                       for m in sent if m["chat_id"] == SRI_TG), timeout=20)
            assert any("Sri Wahyuni" in m["text"] for m in sent if m["chat_id"] == MAYA_TG) or \
                await api.wait_for(lambda s: any("Sri Wahyuni" in m["text"] for m in s if m["chat_id"] == MAYA_TG))
        # Each update was stored once even though getUpdates was called repeatedly.
        assert len(api.calls_of("getUpdates")) >= 2
