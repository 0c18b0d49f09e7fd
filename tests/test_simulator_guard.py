"""The simulator beside real channels: locked without SIMULATOR_SECRET, open with it, and never a
phone number in its people list.

With Telegram configured (the fake Bot API) the same server serves real families, so whoever
reaches the port must not list them, read their transcripts (a `dasbor` sign-in link, a
counseling concern) or chat as the principal.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bot.app import create_app
from domain.clock import ManualClock
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotAPI
from tests.harness import AHMAD, MAYA, MONDAY_MORNING, SCHOOL, running_school, settings_for
from tests.test_cli import jembatan

SECRET = "simulator-secret-4f1c9a7e"
FULL_PHONE = re.compile(r"(\+?62|\b0)8\d{7,}")
API = ["/simulator/api/people", "/simulator/api/messages?phone=" + AHMAD.replace("+", "%2B")]


@asynccontextmanager
async def beside_telegram(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with FakeBotAPI() as api:
        settings = settings_for(database_url, simulator=True, telegram_bot_token=api.token,
                                telegram_api_base_url=api.base_url, telegram_mode="webhook",
                                telegram_webhook_secret="tg-secret-token", **overrides)
        app = create_app(settings, clock=ManualClock(MONDAY_MORNING), run_scheduler=False, run_sender=False)
        async with LifespanManager(app) as manager:
            await import_roster(app.state.services.sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://test") as client:
                yield client


async def test_beside_real_channels_without_a_secret_the_simulator_is_locked(sqlite_url: str) -> None:
    async with beside_telegram(sqlite_url) as client:
        for url in API:
            refused = await client.get(url)
            assert refused.status_code == 403 and "Ahmad" not in refused.text and "62812" not in refused.text
        sent = await client.post("/simulator/api/send", json={"phone": AHMAD, "text": "dasbor"})
        assert sent.status_code == 403
        page = await client.get("/")
        assert page.status_code == 403 and "SIMULATOR_SECRET" in page.text and "Ahmad" not in page.text
        unlock = await client.post("/simulator/unlock", data={"secret": ""})
        assert unlock.status_code == 403 and "jembatan_simulator" not in unlock.headers.get("set-cookie", "")


async def test_beside_real_channels_the_secret_opens_it_and_no_number_is_shown(sqlite_url: str) -> None:
    async with beside_telegram(sqlite_url, simulator_secret=SECRET) as client:
        for headers in ({}, {"X-Simulator-Secret": "wrong-secret-0000000"}):
            for url in API:
                assert (await client.get(url, headers=headers)).status_code == 401
            assert (await client.post("/simulator/api/send", headers=headers,
                                      json={"phone": AHMAD, "text": "dasbor"})).status_code == 401
        assert (await client.get("/")).status_code == 401

        # A script sends the header.
        people = await client.get("/simulator/api/people", headers={"X-Simulator-Secret": SECRET})
        assert people.status_code == 200
        assert not FULL_PHONE.search(people.text), "no phone number in the list, not even with the secret"
        listed = {p["name"]: p for p in people.json()["people"]}
        assert listed["Ahmad Fauzi"]["phone"] == "+62812******04"

        # A browser unlocks once and keeps a cookie that is not the secret.
        wrong = await client.post("/simulator/unlock", data={"secret": "not-the-secret-at-all"})
        assert wrong.status_code == 401 and "jembatan_simulator" not in wrong.headers.get("set-cookie", "")
        opened = await client.post("/simulator/unlock", data={"secret": SECRET})
        assert opened.status_code == 303
        cookie = opened.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and SECRET not in cookie
        assert (await client.get("/")).status_code == 200
        sent = await client.post("/simulator/api/send", json={"person": listed["Rina Marlina"]["id"], "text": "menu"})
        assert sent.status_code == 200
        client.cookies.clear()
        assert (await client.get("/simulator/api/people")).status_code == 401


async def test_the_pure_local_simulator_lists_masked_numbers_and_chats_by_person_id(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        people = (await school.client.get("/simulator/api/people")).json()["people"]
        assert not FULL_PHONE.search(str(people))
        maya = next(p for p in people if p["name"] == "Maya Wijaya")
        assert maya["id"].startswith("guardian:") and maya["phone"] == "+62813******02"
        sent = await school.client.post("/simulator/api/send", json={"person": maya["id"], "text": "menu"})
        assert sent.status_code == 200
        transcript = (await school.client.get("/simulator/api/messages", params={"person": maya["id"]})).json()
        assert transcript["messages"][0]["text"] == "menu"
        assert (await school.messages(MAYA)), "the same transcript by phone (the test harness)"
        unknown = await school.client.post("/simulator/api/send", json={"person": "staff:999", "text": "menu"})
        assert unknown.status_code == 400
        assert (await school.client.get("/simulator/api/people")).status_code == 200  # no lock: no real channel


def test_serve_refuses_to_open_the_simulator_beside_real_channels_on_a_public_address(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {"TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN", "SIMULATOR": "on"}
    refused = jembatan("serve", "--host", "0.0.0.0", "--port", "1", database_url=url, cwd=tmp_path, extra_env=env)
    assert refused.returncode == 1 and "SIMULATOR_SECRET" in refused.stderr
    assert "Traceback" not in refused.stderr and "TEST-TOKEN" not in refused.stderr
