"""No secret and no phone number in the logs, at INFO and at DEBUG.

The app runs under real uvicorn with the production logging configuration (``bot.logs``), so
uvicorn's access log, httpx's request log (python-telegram-bot sends through httpx to the fake
Bot API) and twilio's request log all run. A whole conversation over Telegram and WhatsApp, a
broadcast, a family enrolling with a link code and a dashboard sign-in are captured, and every
line is scanned for the bot token, the webhook secret, the Twilio auth token, the dashboard
secret, login tokens, link codes and unmasked phone numbers.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
from sqlmodel import select

from bot.app import Services, create_app
from domain.clock import ManualClock
from bot.logs import UVICORN_LOGGERS, configure_logging, log_config
from handlers.broadcasts import send_broadcast
from storage.link_codes import issue_link_code
from storage.models import Staff
from storage.roster import import_roster
from tests.fakes.server import LocalServer
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import start_update
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI
from tests.harness import AHMAD, HENDRA, MAYA, MONDAY_MORNING, RINA, SCHOOL, YULIA, settings_for
from tests.phones import PUBLIC, TG_SECRET, Network

DASHBOARD_SECRET = "dashboard-secret-0123456789-abcdefghij"
LOGIN = re.compile(r"/dashboard/login/([\w-]+)")
# A phone number written out in full: +62…, 62…, 08… (spaces or dashes allowed inside).
UNMASKED_PHONE = re.compile(r"(?<![\w*])(\+?62|0)[\s-]?8(?:[\s-]?\d){7,}")


@contextmanager
def captured_logs(level: str) -> Iterator[list[io.StringIO]]:
    """Keeps the process's logging as it was; yields the stream the configured handler writes to,
    once the app's uvicorn has configured logging (``streams`` is filled by ``serve``)."""
    root = logging.getLogger()
    saved = [(name, logging.getLogger(name)) for name in ("", *UVICORN_LOGGERS)]
    state = {name: (lg.handlers[:], lg.level, lg.propagate, lg.filters[:]) for name, lg in saved}
    streams: list[io.StringIO] = []
    try:
        yield streams
    finally:
        for name, lg in saved:
            handlers, level_, propagate, filters = state[name]
            lg.handlers[:], lg.filters[:] = handlers, filters
            lg.setLevel(level_)
            lg.propagate = propagate
        root.setLevel(state[""][1])


@asynccontextmanager
async def served(database_url: str, level: str, streams: list[io.StringIO]) -> AsyncIterator[Network]:
    """The app with Telegram and WhatsApp, served by uvicorn with the production log config."""
    clock = ManualClock(MONDAY_MORNING)
    async with FakeBotAPI() as telegram, FakeTwilioAPI() as twilio:
        settings = settings_for(
            database_url, simulator=False, telegram_bot_token=telegram.token,
            telegram_api_base_url=telegram.base_url, telegram_mode="webhook", telegram_webhook_secret=TG_SECRET,
            twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
            twilio_whatsapp_from=SANDBOX_FROM, twilio_api_base_url=twilio.base_url,
            public_base_url=PUBLIC, dashboard_secret=DASHBOARD_SECRET, log_level=level)
        app = create_app(settings, clock=clock, run_scheduler=False, run_sender=False)
        server = _AppServer("app", level)
        port = await server.start(app)
        stream = io.StringIO()
        logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
        streams.append(stream)
        try:
            services: Services = app.state.services
            await import_roster(services.sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                yield Network(client, services, telegram, twilio, clock)
        finally:
            await server.stop()


class _AppServer(LocalServer):
    """The app under uvicorn exactly as ``jembatan serve`` runs it: its lifespan, its access log,
    and ``bot.logs.log_config`` as uvicorn's logging configuration."""

    def __init__(self, name: str, level: str) -> None:
        super().__init__(name)
        self.level = level

    async def start(self, app):  # type: ignore[no-untyped-def]
        import asyncio
        import time

        import uvicorn

        from tests.fakes.server import _Server

        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", timeout_graceful_shutdown=2,
                                log_config=log_config(self.level), log_level=self.level.lower())
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name=self.name)
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert not self._task.done(), f"uvicorn stopped: {self._task.exception()!r}"
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self.port


def phone_forms(e164: str) -> list[str]:
    digits = e164.lstrip("+")
    return [e164, digits, "0" + digits[2:], f"whatsapp:{e164}"]


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_logs_hold_no_secret_and_no_phone_number(sqlite_url: str, level: str) -> None:
    with captured_logs(level) as streams:
        async with served(sqlite_url, level, streams) as net:
            # A bullying concern over Telegram, answered by the counselor on Telegram.
            rina = await net.phone("telegram", RINA)
            maya = await net.phone("telegram", MAYA)
            await maya.say("Bu, Ani dibully di kantin sekolah setiap istirahat")
            forwarded = (await rina.new())[-1]
            await rina.reply(forwarded, "Terima kasih Bu, besok saya panggil Ani.")
            assert "besok saya panggil" in (await maya.new())[-1]["text"]
            # A family on WhatsApp.
            yulia = await net.phone("whatsapp", YULIA)
            await yulia.say("Good morning, Citra will be absent today because she is sick")
            # A family enrolling with a link code from a letter (/start CODE).
            async with net.services.sessions() as session, session.begin():
                code, _ = await issue_link_code(session, HENDRA, now=net.clock.now(), ttl_hours=72)
            response = await net.client.post("/webhooks/telegram", json=start_update(
                net.next_update_id(), 7999, payload=code.code),
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
            assert response.status_code == 200
            # A broadcast by the principal to the whole school.
            async with net.services.sessions() as session, session.begin():
                principal = (await session.exec(select(Staff).where(Staff.phone == AHMAD))).one()
                await send_broadcast(session, author=principal, audience="school", now=net.clock.now(),
                                     text="Libur semester mulai 22 Desember.", simulator_enabled=False)
            await net.deliver()
            # A dashboard sign-in: the one-time link from chat, opened over HTTP.
            link = (await rina.say("dasbor"))[-1]["text"]
            token = LOGIN.search(link).group(1)  # type: ignore[union-attr]
            signed_in = await net.client.get(f"/dashboard/login/{token}")
            assert signed_in.status_code in (200, 303), signed_in.text
            secrets = {"bot token": net.telegram.token, "webhook secret": TG_SECRET,
                       "Twilio auth token": net.twilio.auth_token, "dashboard secret": DASHBOARD_SECRET,
                       "login token": token, "link code": code.code}
        log = streams[0].getvalue()

    leaks = [f"{what} in: {line}" for line in log.splitlines()
             for what, value in secrets.items() if value in line]
    for person in (RINA, MAYA, YULIA, HENDRA, AHMAD):
        leaks += [f"phone in: {line}" for line in log.splitlines()
                  for form in phone_forms(person) if form in line]
    leaks += [f"phone in: {line}" for line in log.splitlines() if UNMASKED_PHONE.search(line)]
    leaks += [f"a family's words in: {line}" for line in log.splitlines() if "dibully di kantin" in line]
    assert not leaks, "\n".join(leaks[:20]) + f"\n({len(leaks)} leaks)"
    # The lines that used to carry the secrets are there, redacted.
    assert "HTTP Request: POST" in log and "/sendMessage" in log
    assert "GET /dashboard/login/[redacted]" in log


def test_exception_text_and_arguments_are_redacted_too() -> None:
    """What a traceback or a %-argument carries goes through the same filter as the message."""
    with captured_logs("INFO"):
        configure_logging("INFO", ["a-configured-secret-value"])
        stream = io.StringIO()
        logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
        log = logging.getLogger("tests.redaction")
        try:
            raise RuntimeError("POST https://api.telegram.org/bot987654:AAH-secret_token/sendMessage for "
                               "whatsapp:+6281300000002 with a-configured-secret-value")
        except RuntimeError:
            log.exception("send failed for %s (%s)", "081300000002", "Basic QUMxMjM6c2VjcmV0dG9rZW4=")
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                                                 "/simulator/api/messages?phone=%2B6281300000002", "1.1", 200)
        written = stream.getvalue()
    assert "send failed for +62813******02 (Basic [redacted])" in written
    assert "RuntimeError: POST https://api.telegram.org/bot[redacted]/sendMessage" in written
    assert '"GET /simulator/api/messages?phone=+62813******02 HTTP/1.1" 200' in written
    for secret in ("987654:AAH", "6281300000002", "a-configured-secret-value", "QUMxMjM6"):
        assert secret not in written
