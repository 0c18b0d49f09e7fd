"""Phones on real channels for end-to-end tests: Telegram through the fake Bot API, WhatsApp
through signed Twilio forms and the fake Twilio REST API. A test talks to a ``Phone``; which
channel carries it is a parameter, so one conversation suite runs on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from bot.app import Services, create_app
from domain.clock import ManualClock
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import callback_update, contact_update, text_update
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign, status_form
from tests.harness import MONDAY_MORNING, SCHOOL, settings_for

PUBLIC = "https://jembatan.example.sch.id"
TG_SECRET = "tg-secret-token"
SMS_FROM = "+15005550006"


class Network:
    """The app with both channels configured, their fakes, and a manual clock."""

    def __init__(self, client: httpx.AsyncClient, services: Services, telegram: FakeBotAPI,
                 twilio: FakeTwilioAPI, clock: ManualClock, update_ids_from: int = 5000) -> None:
        self.client, self.services, self.telegram, self.twilio, self.clock = client, services, telegram, twilio, clock
        self._update_id = update_ids_from
        self._user_id = 7000

    def next_update_id(self) -> int:
        self._update_id += 1
        return self._update_id

    async def deliver(self) -> None:
        while await self.services.sender.drain_once():
            pass

    async def post_twilio(self, path: str, form: dict[str, str], *, signed_url: str | None = None,
                          signature: str | None = None) -> httpx.Response:
        url = signed_url or f"{PUBLIC}{path}"
        headers = {"X-Twilio-Signature": signature if signature is not None else sign(url, form, self.twilio.auth_token)}
        return await self.client.post(path, data=form, headers=headers)

    async def phone(self, channel: str, number: str, *, user_id: int | None = None) -> Phone:
        if channel == "telegram":
            self._user_id += 1
            phone: Phone = TelegramPhone(self, number, user_id or self._user_id)
        elif channel == "sms":
            phone = SmsPhone(self, number)
        else:
            phone = WhatsAppPhone(self, number)
        await phone.open()
        return phone


class Phone:
    """One person's phone: say things, press choices, reply to a message, read what arrived."""

    channel = ""

    def __init__(self, network: Network, number: str) -> None:
        self.network = network
        self.number = number
        self._read = 0

    async def open(self) -> None: ...

    def received(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def new(self) -> list[dict[str, Any]]:
        """Messages that arrived since the last look (after the outbox is delivered)."""
        await self.network.deliver()
        received = self.received()
        fresh = received[self._read:]
        self._read = len(received)
        return fresh

    async def say(self, text: str) -> list[dict[str, Any]]:
        await self._send(text=text)
        return await self.new()

    async def reply(self, message: dict[str, Any], text: str) -> list[dict[str, Any]]:
        await self._send(text=text, reply_to=message)
        return await self.new()

    async def press(self, message: dict[str, Any], label: str) -> list[dict[str, Any]]:
        await self._press(message, label)
        return await self.new()

    async def _send(self, *, text: str, reply_to: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

    async def _press(self, message: dict[str, Any], label: str) -> None:
        raise NotImplementedError


class TelegramPhone(Phone):
    channel = "telegram"

    def __init__(self, network: Network, number: str, user_id: int) -> None:
        super().__init__(network, number)
        self.user_id = user_id

    async def _post(self, update: dict[str, Any]) -> None:
        response = await self.network.client.post("/webhooks/telegram", json=update,
                                                   headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
        assert response.status_code == 200, response.text

    async def open(self) -> None:
        await self._post(contact_update(self.network.next_update_id(), self.user_id, self.number.lstrip("+")))
        await self.new()

    def received(self) -> list[dict[str, Any]]:
        return [{"id": m["message_id"], "text": m["text"], "raw": m,
                 "choices": [b["text"] for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                             for b in row]} for m in self.network.telegram.messages_to(self.user_id)]

    async def _send(self, *, text: str, reply_to: dict[str, Any] | None = None) -> None:
        original = self.network.telegram.message(self.user_id, reply_to["id"]) if reply_to else None
        await self._post(text_update(self.network.next_update_id(), self.user_id, text, reply_to=original))

    async def _press(self, message: dict[str, Any], label: str) -> None:
        keyboard = message["raw"]["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == label)
        await self._post(callback_update(self.network.next_update_id(), self.user_id, data,
                                         message=self.network.telegram.message(self.user_id, message["id"])))


class WhatsAppPhone(Phone):
    channel = "whatsapp"

    @property
    def address(self) -> str:
        return f"whatsapp:{self.number}"

    def received(self) -> list[dict[str, Any]]:
        out = []
        for m in self.network.twilio.messages_to(self.address):
            text = m.get("Body") or (m.get("ContentVariablesParsed") or {}).get("1", "")
            choices = [line.split(". ", 1)[1] for line in text.splitlines()
                       if ". " in line and line.split(". ", 1)[0].isdigit()]
            out.append({"id": m["sid"], "text": text, "raw": m, "choices": choices})
        return out

    async def post(self, **fields: Any) -> httpx.Response:
        form = inbound_form(message_sid=fields.pop("sid", None) or new_message_sid(), from_phone=self.number,
                            to=SANDBOX_FROM, **fields)
        return await self.network.post_twilio("/webhooks/whatsapp", form)

    async def _send(self, *, text: str, reply_to: dict[str, Any] | None = None) -> None:
        response = await self.post(body=text, replied_to_sid=reply_to["id"] if reply_to else None)
        assert response.status_code == 200, response.text
        assert response.text.endswith("<Response/>")

    async def _press(self, message: dict[str, Any], label: str) -> None:
        number = message["choices"].index(label) + 1  # WhatsApp shows numbered choices
        await self._send(text=str(number))

    async def status(self, message: dict[str, Any], status: str, error_code: str | None = None) -> httpx.Response:
        form = status_form(message_sid=message["id"], status=status, error_code=error_code,
                           to=f"whatsapp:{self.number}")
        return await self.network.post_twilio("/webhooks/whatsapp/status", form)


class SmsPhone(WhatsAppPhone):
    """A basic phone: SMS through the same Twilio account, numbered choices typed back."""

    channel = "sms"

    @property
    def address(self) -> str:
        return self.number

    async def post(self, **fields: Any) -> httpx.Response:
        form = inbound_form(message_sid=fields.pop("sid", None) or new_message_sid(), from_phone=self.number,
                            to=SMS_FROM, **fields)
        form["From"], form["To"] = self.number, SMS_FROM  # SMS addresses carry no channel prefix
        for key in ("WaId", "ProfileName"):
            form.pop(key, None)
        return await self.network.post_twilio("/webhooks/sms", form)


@asynccontextmanager
async def network(database_url: str, *, clock: ManualClock | None = None, content_sids: str | None = None,
                  mps: float | None = None, run_scheduler: bool = False, update_ids_from: int = 5000,
                  roster: Path = SCHOOL, **overrides: Any) -> AsyncIterator[Network]:
    """The app with Telegram (webhook) and WhatsApp configured against local fakes; with
    ``run_scheduler`` its scheduler too (ticks are called by the test, on the manual clock)."""
    clock = clock or ManualClock(MONDAY_MORNING)
    async with FakeBotAPI() as telegram, FakeTwilioAPI(mps=mps) as twilio:
        settings = settings_for(
            database_url, simulator=False, telegram_bot_token=telegram.token,
            telegram_api_base_url=telegram.base_url, telegram_mode="webhook", telegram_webhook_secret=TG_SECRET,
            twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
            twilio_whatsapp_from=SANDBOX_FROM, twilio_api_base_url=twilio.base_url,
            twilio_content_sids=content_sids, public_base_url=PUBLIC, twilio_sms_from=SMS_FROM, **overrides)
        app = create_app(settings, clock=clock, run_scheduler=run_scheduler, run_sender=False)
        async with LifespanManager(app) as manager:
            services: Services = app.state.services
            await import_roster(services.sessions, roster, school_code="UJI", school_name="SMP Uji Coba")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://internal:8000") as client:
                yield Network(client, services, telegram, twilio, clock, update_ids_from)
