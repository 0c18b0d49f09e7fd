"""Test harness: the real app over HTTP on a migrated database with a small test school.

Conversations are driven through the simulator channel's HTTP API; delivery is a real outbox
drain, so what a phone "receives" is exactly what the sender delivered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bot.app import Services, create_app
from domain.clock import ManualClock
from bot.settings import Settings
from storage.roster import import_roster

SCHOOL = Path(__file__).parent / "data" / "school"
# A Monday, 09:00 in Jakarta: inside everyone's office hours.
MONDAY_MORNING = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

SRI = "+6281200000001"  # Wali Kelas VII-A, Matematika
BUDI = "+6281200000002"  # Wali Kelas VII-B, IPA
RINA = "+6281200000003"  # Guru BK, grade 7
AHMAD = "+6281200000004"  # Kepala Sekolah
DEWI = "+6281200000005"  # Tata Usaha
JOKO = "+6281200000006"  # Bahasa Inggris teacher, English speaker
HENDRA = "+6281300000001"  # ayah of Ani (VII-A) and Bima (VII-B)
MAYA = "+6281300000002"  # ibu of Ani
YULIA = "+6281300000003"  # ibu of Citra (VII-A), English
RAHMAT = "+6281300000004"  # orang tua asuh of Citra


class School:
    """A running app plus phone-like helpers for the simulator channel."""

    def __init__(self, client: httpx.AsyncClient, services: Services, clock: ManualClock) -> None:
        self.client = client
        self.services = services
        self.clock = clock
        self._seen: dict[str, int] = {}

    async def say(self, phone: str, text: str | None = None, *, press: str | None = None,
                  reply_to: str | None = None) -> list[dict[str, Any]]:
        """Send as ``phone`` and return the new messages that phone received."""
        body: dict[str, Any] = {"phone": phone}
        if text is not None:
            body["text"] = text
        if press is not None:
            body["callback"] = press
        if reply_to is not None:
            body["reply_to"] = reply_to
        response = await self.client.post("/simulator/api/send", json=body)
        assert response.status_code == 200, response.text
        return await self.inbox(phone)

    async def deliver(self) -> None:
        while await self.services.sender.drain_once():
            pass

    async def messages(self, phone: str) -> list[dict[str, Any]]:
        await self.deliver()
        response = await self.client.get("/simulator/api/messages", params={"phone": phone})
        return [m for m in response.json()["messages"] if m["from"] == "bot"]

    async def inbox(self, phone: str) -> list[dict[str, Any]]:
        """Messages ``phone`` received since the last look."""
        received = await self.messages(phone)
        new = received[self._seen.get(phone, 0):]
        self._seen[phone] = len(received)
        return new

    async def last(self, phone: str) -> dict[str, Any]:
        received = await self.messages(phone)
        assert received, f"{phone} received nothing"
        return received[-1]


def settings_for(database_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"database_url": database_url, "simulator": True, "telegram_bot_token": None,
                            "_env_file": None}
    base.update(overrides)
    return Settings(**base)


@asynccontextmanager
async def running_school(database_url: str, *, clock: ManualClock | None = None, roster: Path = SCHOOL,
                         run_scheduler: bool = False, import_school: bool = True,
                         **overrides: Any) -> AsyncIterator[School]:
    """The app with the test school imported, a manual clock, and the sender driven by the test."""
    clock = clock or ManualClock(MONDAY_MORNING)
    app = create_app(settings_for(database_url, **overrides), clock=clock, run_scheduler=run_scheduler,
                     run_sender=False)
    async with LifespanManager(app) as manager:
        services: Services = app.state.services
        if import_school:
            await import_roster(services.sessions, roster, school_code="UJI", school_name="SMP Uji Coba")
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield School(client, services, clock)


async def until_healthy(origin: str, server: subprocess.Popen[Any],
                        exited: Callable[[], str] = lambda: "jembatan serve exited") -> None:
    """Wait (up to ~30 s, for a slow machine) until a started `jembatan serve` at ``origin``
    answers /healthz; fail with ``exited()`` if the process ends first."""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(300):
            try:
                if (await client.get(f"{origin}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert server.poll() is None, exited()
            await asyncio.sleep(0.1)
    raise AssertionError(f"jembatan serve at {origin} did not become healthy in 30 s")


def whatsapp_serve_env(database_url: str, twilio: Any, public: str) -> dict[str, str]:
    """The environment of a `jembatan` process a test starts: WhatsApp on the fake Twilio
    ``twilio``, no other channel, no simulator, quiet logs."""
    from tests.fakes.twilio_api import SANDBOX_FROM

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update({"DATABASE_URL": database_url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
                "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_WHATSAPP_FROM": SANDBOX_FROM,
                "TWILIO_API_BASE_URL": twilio.base_url, "PUBLIC_BASE_URL": public,
                "SIMULATOR": "off", "LOG_LEVEL": "WARNING"})
    return env


def stop_process_group(server: subprocess.Popen[Any]) -> None:
    """Stop a `jembatan serve` started in a session of its own (``start_new_session=True``) as an
    operator would (SIGTERM to it and its workers), killing the group only if it hangs."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
