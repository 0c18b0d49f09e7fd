"""A district on one deployment: two schools, each with its own Telegram bot and WhatsApp sender
(CHANNELS_FILE), over the wire against the fake Bot API and the fake Twilio.

School UJI and school DUA share their parents and staff phones (a family with children in both
schools, teachers who teach at both): each school's bot knows them only as that school's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlmodel import col, select

from bot.app import Services, create_app
from bot.channels_file import ChannelsFileError, load_channels
from domain.clock import ManualClock, SystemClock
from storage.db import make_engine, make_sessionmaker
from storage.models import ChannelAccount, OutboxMessage
from storage.roster import import_roster
from tests.fakes.telegram_api import DEFAULT_BOT_USER, FakeBotAPI
from tests.fakes.telegram_updates import contact_update, start_update, text_update
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign, status_form
from tests.harness import MAYA, MONDAY_MORNING, RINA, SCHOOL, settings_for
from tests.test_cli import jembatan as command_line
from tests.test_cli import jembatan_beside

PUBLIC = "https://jembatan.example.sch.id"
UJI_TOKEN, DUA_TOKEN = "111111:UJI-bot-token-secret", "222222:DUA-bot-token-secret"
UJI_SECRET, DUA_SECRET = "uji-webhook-secret-1", "dua-webhook-secret-2"
UJI_FROM, DUA_FROM = "whatsapp:+6281100000101", "whatsapp:+6281100000102"
HENDRA = "+6281300000001"
MAYA_TG, RINA_TG = 9001, 9002


def dua_roster(tmp_path: Path) -> Path:
    """School DUA: the same families and staff phones as UJI, other children and staff names."""
    folder = tmp_path / "dua"
    folder.mkdir()
    renames = {"Ani Wijaya": "Dita Wijaya", "Bima Wijaya": "Eko Wijaya", "Citra Lestari": "Fina Lestari",
               "Rina Marlina": "Rosa Melati", "Sri Wahyuni": "Siti Aminah", "0071": "0081",
               "T-00": "D-00"}
    for csv in SCHOOL.glob("*.csv"):
        text = csv.read_text(encoding="utf-8")
        for old, new in renames.items():
            text = text.replace(old, new)
        (folder / csv.name).write_text(text, encoding="utf-8")
    return folder


def channels_yaml(uji: FakeBotAPI, dua: FakeBotAPI, *, with_dua: bool = True, uji_extra: str = "") -> str:
    text = (f'UJI:\n  telegram_bot_token: "{UJI_TOKEN}"\n  telegram_webhook_secret: "{UJI_SECRET}"\n'
            f'  telegram_api_base_url: "{uji.base_url}"\n  twilio_whatsapp_from: "{UJI_FROM}"\n{uji_extra}')
    if with_dua:
        text += (f'DUA:\n  telegram_bot_token: "{DUA_TOKEN}"\n  telegram_webhook_secret: "{DUA_SECRET}"\n'
                 f'  telegram_api_base_url: "{dua.base_url}"\n  twilio_whatsapp_from: "{DUA_FROM}"\n')
    return text


@dataclass
class District:
    client: httpx.AsyncClient
    services: Services
    uji: FakeBotAPI
    dua: FakeBotAPI
    twilio: FakeTwilioAPI
    clock: ManualClock
    channels_file: Path
    update_id: int = 100

    async def telegram(self, code: str, update: dict[str, Any], secret: str | None = None) -> httpx.Response:
        secret = secret or {"UJI": UJI_SECRET, "DUA": DUA_SECRET}.get(code, "")
        return await self.client.post(f"/webhooks/telegram/{code}", json=update,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": secret})

    async def say(self, code: str, user_id: int, text: str) -> list[dict[str, Any]]:
        """A Telegram message to school ``code``'s bot; what that bot sent to the user since."""
        api = self.uji if code == "UJI" else self.dua
        before = len(api.messages_to(user_id))
        response = await self.telegram(code, text_update(self.next_id(), user_id, text))
        assert response.status_code == 200, response.text
        await self.deliver()
        return api.messages_to(user_id)[before:]

    async def link(self, code: str, user_id: int, phone: str) -> list[dict[str, Any]]:
        api = self.uji if code == "UJI" else self.dua
        before = len(api.messages_to(user_id))
        response = await self.telegram(code, contact_update(self.next_id(), user_id, phone.lstrip("+")))
        assert response.status_code == 200, response.text
        await self.deliver()
        return api.messages_to(user_id)[before:]

    async def whatsapp(self, path: str, form: dict[str, str]) -> httpx.Response:
        return await self.client.post(path, data=form, headers={
            "X-Twilio-Signature": sign(f"{PUBLIC}{path}", form, self.twilio.auth_token)})

    def next_id(self) -> int:
        self.update_id += 1
        return self.update_id

    async def deliver(self) -> None:
        while await self.services.sender.drain_once():
            pass


@asynccontextmanager
async def district(database_url: str, tmp_path: Path, *, clock: ManualClock | None = None,
                   limits: bool = False, with_dua: bool = True, uji_extra: str = "",
                   **overrides: Any) -> AsyncIterator[District]:
    """The app serving UJI and DUA with their own bots and senders (``limits``: the fakes
    enforce Telegram's 30/s per bot and 1/s per chat, and Twilio's MPS, on the manual clock;
    ``uji_extra``: more of UJI's CHANNELS_FILE lines; ``overrides``: settings)."""
    clock = clock or ManualClock(MONDAY_MORNING)
    rate = {"clock": clock} if limits else {}
    uji_api = (FakeBotAPI.telegram_like(**rate) if limits else FakeBotAPI())
    dua_api = (FakeBotAPI.telegram_like(**rate) if limits else FakeBotAPI())
    uji_api.token, dua_api.token = UJI_TOKEN, DUA_TOKEN
    uji_api.bot_user.update(id=111111, username="smp_uji_bot")
    dua_api.bot_user.update(id=222222, username="smp_dua_bot")
    async with uji_api, dua_api, FakeTwilioAPI(mps=10 if limits else None, **rate) as twilio:
        channels_file = tmp_path / "channels.yaml"
        channels_file.write_text(channels_yaml(uji_api, dua_api, with_dua=with_dua, uji_extra=uji_extra),
                                 encoding="utf-8")
        settings = settings_for(
            database_url, simulator=False, twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token, twilio_whatsapp_from=SANDBOX_FROM,
            twilio_api_base_url=twilio.base_url, public_base_url=PUBLIC, channels_file=str(channels_file),
            **overrides)
        app = create_app(settings, clock=clock, run_scheduler=False, run_sender=False)
        async with LifespanManager(app) as manager:
            services: Services = app.state.services
            await import_roster(services.sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
            await import_roster(services.sessions, dua_roster(tmp_path), school_code="DUA",
                                school_name="SMP Dua")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://internal:8000") as client:
                yield District(client, services, uji_api, dua_api, twilio, clock, channels_file)


async def whatsapp_says(net: District, phone: str, body: str) -> None:
    """``phone`` writes to school UJI's own WhatsApp number."""
    form = inbound_form(message_sid=new_message_sid(), from_phone=phone, to=UJI_FROM, body=body)
    assert (await net.whatsapp("/webhooks/whatsapp/UJI", form)).status_code == 200
    await net.deliver()


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or m.get("Body") or "" for m in messages)


async def test_one_parent_two_schools_two_bots(database_url: str, tmp_path: Path) -> None:
    """Maya has a child at each school: each school's bot knows her as that school's parent, her
    concern goes to that school's counselor through that school's bot, and the other bot stays
    silent."""
    async with district(database_url, tmp_path) as net:
        at_uji = await net.link("UJI", MAYA_TG, MAYA)
        assert "Ani Wijaya (VII-A)" in texts(at_uji) and "Dita" not in texts(at_uji)
        at_dua = await net.link("DUA", MAYA_TG, MAYA)
        assert "Dita Wijaya (VII-A)" in texts(at_dua) and "Ani" not in texts(at_dua)
        await net.link("UJI", RINA_TG, RINA)
        await net.link("DUA", RINA_TG, RINA)
        assert "Rosa Melati" in texts(net.dua.messages_to(RINA_TG))
        assert "Rosa Melati" not in texts(net.uji.messages_to(RINA_TG))

        uji_before = len(net.uji.sent)
        ack = await net.say("DUA", MAYA_TG, "Bu, Dita dibully teman sekelasnya, dia tidak mau sekolah")
        assert "Rosa Melati" in texts(ack)
        forwarded = net.dua.messages_to(RINA_TG)[-1]
        assert "Dita dibully" in forwarded["text"] and "Dita Wijaya" in forwarded["text"]
        assert len(net.uji.sent) == uji_before, "school UJI's bot sent nothing for school DUA"

        async with net.services.sessions() as session:
            accounts = (await session.exec(select(ChannelAccount).where(
                ChannelAccount.external_id == str(MAYA_TG)))).all()
            assert sorted(a.bot for a in accounts) == ["DUA", "UJI"]
            rows = (await session.exec(select(OutboxMessage).where(
                col(OutboxMessage.channel) == "telegram"))).all()
            assert rows and all(row.bot in ("UJI", "DUA") for row in rows)
            dua_ids = {a.id for a in accounts if a.bot == "DUA"}
            assert all(row.bot == "DUA" for row in rows if row.account_id in dua_ids)


async def test_a_school_with_its_own_bot_is_not_served_by_the_default_one(database_url: str,
                                                                          tmp_path: Path) -> None:
    """UJI and DUA both have WhatsApp numbers of their own: on the deployment's default number
    Hendra, a parent at both, is known as neither's (each school talks to him on its own)."""
    async with district(database_url, tmp_path) as net:
        form = inbound_form(message_sid=new_message_sid(), from_phone=HENDRA, to=SANDBOX_FROM, body="menu")
        assert (await net.whatsapp("/webhooks/whatsapp", form)).status_code == 200
        await net.deliver()
        answer = [m for m in net.twilio.messages_to(f"whatsapp:{HENDRA}") if m["From"] == SANDBOX_FROM]
        assert answer and "Eko" not in texts(answer) and "Bima" not in texts(answer)
        assert "belum terdaftar" in texts(answer)


async def test_each_schools_webhook_has_its_own_secret(database_url: str, tmp_path: Path) -> None:
    async with district(database_url, tmp_path) as net:
        assert (await net.telegram("DUA", start_update(1, MAYA_TG), secret=UJI_SECRET)).status_code == 403
        assert (await net.telegram("NOPE", start_update(2, MAYA_TG), secret=UJI_SECRET)).status_code == 404
        no_default = await net.client.post("/webhooks/telegram", json=start_update(3, MAYA_TG),
                                           headers={"X-Telegram-Bot-Api-Secret-Token": UJI_SECRET})
        assert no_default.status_code == 404  # no deployment bot: only the schools' own
        assert (await net.telegram("UJI", start_update(4, MAYA_TG))).status_code == 200
        # The same update_id on the other bot is another update, not a repeat.
        assert (await net.telegram("DUA", start_update(4, MAYA_TG))).status_code == 200
        await net.deliver()
        assert len(net.uji.messages_to(MAYA_TG)) == 1 and len(net.dua.messages_to(MAYA_TG)) == 1


async def test_whatsapp_through_each_schools_own_sender(database_url: str, tmp_path: Path) -> None:
    """Hendra writes to each school's WhatsApp number and is answered from that number, about
    that school's children; a status callback on a school's path is recorded."""
    async with district(database_url, tmp_path) as net:
        form = inbound_form(message_sid=new_message_sid(), from_phone=HENDRA, to=DUA_FROM, body="menu")
        response = await net.whatsapp("/webhooks/whatsapp/DUA", form)
        assert response.status_code == 200 and response.text.endswith("<Response/>")
        await net.deliver()
        to_hendra = net.twilio.messages_to(f"whatsapp:{HENDRA}")
        assert to_hendra and {m["From"] for m in to_hendra} == {DUA_FROM}
        assert "Eko Wijaya" in texts(to_hendra) and "Bima" not in texts(to_hendra)

        form = inbound_form(message_sid=new_message_sid(), from_phone=HENDRA, to=UJI_FROM, body="menu")
        assert (await net.whatsapp("/webhooks/whatsapp/UJI", form)).status_code == 200
        await net.deliver()
        from_uji = [m for m in net.twilio.messages_to(f"whatsapp:{HENDRA}") if m["From"] == UJI_FROM]
        assert from_uji and "Bima Wijaya" in texts(from_uji) and "Eko" not in texts(from_uji)
        assert not [m for m in net.twilio.sent if m["From"] == SANDBOX_FROM], "the default sender stayed idle"

        status = status_form(message_sid=to_hendra[0]["sid"], status="delivered", to=f"whatsapp:{HENDRA}",
                             from_=DUA_FROM)
        assert (await net.whatsapp("/webhooks/whatsapp/DUA/status", status)).status_code == 200
        unsigned = await net.client.post("/webhooks/whatsapp/DUA/status", data=status)
        assert unsigned.status_code == 403
        async with net.services.sessions() as session:
            row = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.external_message_id == to_hendra[0]["sid"]))).one()
            assert row.delivery == "delivered" and row.bot == "DUA"


async def test_channels_file_reloads_without_a_restart(database_url: str, tmp_path: Path) -> None:
    """A school added to CHANNELS_FILE is served by the running web worker once the file changed."""
    async with district(database_url, tmp_path, with_dua=False) as net:
        assert (await net.telegram("DUA", start_update(1, MAYA_TG))).status_code == 404
        net.channels_file.write_text(channels_yaml(net.uji, net.dua), encoding="utf-8")
        os.utime(net.channels_file, (1, 2))  # a different modification time, however fast the test
        assert (await net.telegram("DUA", start_update(2, MAYA_TG))).status_code == 200
        await net.deliver()
        assert len(net.dua.messages_to(MAYA_TG)) == 1
        # A file that became invalid keeps the running channels.
        net.channels_file.write_text("DUA: [unclosed\n", encoding="utf-8")
        os.utime(net.channels_file, (3, 4))
        assert (await net.telegram("DUA", start_update(3, MAYA_TG))).status_code == 200


@pytest.mark.parametrize(("content", "expected"), [
    ("UJI:\n  telegram_bot_token: [unclosed\n", ":3: not valid YAML"),
    ("UJI:\n  telegram_bot_token: '1:A'\n  twilio_whatsap_from: 'x'\n", ":3: UJI: unknown key 'twilio_whatsap_from'"),
    ("UJI:\n  telegram_webhook_secret: 'abc'\n", ":1: UJI: missing key: one of telegram_bot_token"),
    ("UJI:\n  twilio_whatsapp_from: '+628110001'\n  telegram_webhook_secret: 'abc'\n",
     ":3: UJI: missing key telegram_bot_token"),
    ("UJI:\n  telegram_bot_token: '1:A'\n  telegram_mode: webhook\n",
     ":1: UJI: missing key telegram_webhook_secret"),
    ("UJI:\n  telegram_bot_token: '1:A'\nDUA:\n  telegram_bot_token: '1:A'\n",
     ":4: DUA: the same bot token as UJI"),
    ("- UJI\n", ":1: expected a mapping"),
    ("UJI:\n  twilio_whatsapp_from: '+628110001'\n  whatsapp_daily_tier: banyak\n",
     ":3: UJI: whatsapp_daily_tier must be a whole number"),
    ("UJI:\n  telegram_bot_token: '1:A'\n  whatsapp_daily_tier: 1000\n",
     ":3: UJI: whatsapp_daily_tier needs twilio_whatsapp_from"),
])
def test_a_bad_channels_file_is_named_by_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ChannelsFileError) as caught:
        load_channels(str(path))
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)


def test_the_command_line_refuses_an_unknown_school_and_reloads(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "channels.yaml"
    path.write_text('SMPN9:\n  telegram_bot_token: "999:TOKEN-NOT-TO-BE-SHOWN"\n', encoding="utf-8")
    env = {"CHANNELS_FILE": str(path)}

    def jembatan(*args: str) -> subprocess.CompletedProcess[str]:
        return command_line(*args, database_url=database, cwd=tmp_path, extra_env=env)

    assert jembatan("db", "upgrade").returncode == 0
    assert jembatan("roster", "import", str(SCHOOL), "--school", "UJI").returncode == 0
    refused = jembatan("channels", "reload")
    assert refused.returncode == 1
    assert f"{path}:1: unknown school code 'SMPN9'" in refused.stderr
    assert "TOKEN-NOT-TO-BE-SHOWN" not in refused.stderr + refused.stdout
    path.write_text('UJI:\n  telegram_bot_token: "999:TOKEN-NOT-TO-BE-SHOWN"\n'
                    '  twilio_whatsapp_from: "+6281100000101"\n', encoding="utf-8")
    env.update({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32})
    reloaded = jembatan("channels", "reload", "--json")
    assert reloaded.returncode == 0, reloaded.stderr
    assert '"UJI": ["telegram", "whatsapp"]' in reloaded.stdout


async def test_one_schools_broadcast_never_delays_another_schools_parent(database_url: str,
                                                                       tmp_path: Path) -> None:
    """UJI announces to 300 families through its bot while a parent writes to DUA's bot: the
    parent's answer goes out at once, long before UJI's announcement ends, and neither bot is
    ever over Telegram's limits (the fakes enforce 30/s per bot and 1/s per chat)."""
    clock = ManualClock(MONDAY_MORNING)
    async with district(database_url, tmp_path, clock=clock, limits=True) as net:
        families = [str(30_000 + n) for n in range(300)]
        now = clock.now()
        async with net.services.sessions() as session, session.begin():
            for chat in families:
                session.add(OutboxMessage(channel="telegram", bot="UJI", chat_id=chat, template="test",
                                          text="Pengumuman: rapat komite Sabtu", buttons=[],
                                          created_at=now, next_attempt_at=now, priority=10))
        sender = net.services.sender
        running = asyncio.create_task(sender.run(idle_seconds=0.05))
        try:
            while len(net.uji.sent) < 40:  # UJI's broadcast is under way
                await asyncio.sleep(0.01)
            started = clock.now()
            response = await net.telegram("DUA", start_update(net.next_id(), MAYA_TG))
            assert response.status_code == 200
            while not net.dua.messages_to(MAYA_TG):
                await asyncio.sleep(0.01)
            answered_after = clock.now() - started
            broadcast_sent_then = len(net.uji.sent)
            while len(net.uji.sent) < len(families):
                await asyncio.sleep(0.01)
        finally:
            sender.stop()
            await asyncio.wait_for(running, timeout=30)
        finished = clock.now()
    print(f"\nisolation: DUA answered after {answered_after.total_seconds():.3f} s of the sender's clock, "
          f"UJI's broadcast {broadcast_sent_then}/{len(families)} sent then, done after "
          f"{(finished - now).total_seconds():.1f} s; 429s: {net.uji.throttled + net.dua.throttled}")
    assert broadcast_sent_then < len(families) - 100, "DUA's parent was answered mid-broadcast"
    # The clock is the test's: every pause of UJI's lane moves it at once, so while DUA's answer
    # is on its way it may jump by one of UJI's windows (a second at 30/s, four requests in flight
    # filling it sooner): one window, never the broadcast's ten seconds.
    assert answered_after <= timedelta(seconds=1)
    assert net.uji.throttled == 0 and net.dua.throttled == 0
    assert sorted(m["chat_id"] for m in net.uji.sent) == sorted(int(chat) for chat in families)
    # 300 messages at 30/s take at least 9 s on the clock both the sender and the fake read.
    assert finished - now >= timedelta(seconds=(300 - 30) / 30)


async def test_health_and_metrics_per_school_channel(database_url: str, tmp_path: Path) -> None:
    """Per bot and sender: what is queued and since when, when the last message went, how many
    went, and the 429s met — as JSON at /healthz/channels and for Prometheus at /metrics."""
    async with district(database_url, tmp_path) as net:
        await net.link("UJI", MAYA_TG, MAYA)  # two messages through UJI's bot
        net.dua.fail_next("sendMessage", retry_after=1)
        assert (await net.telegram("DUA", start_update(net.next_id(), MAYA_TG))).status_code == 200
        await net.deliver()  # DUA's bot answers 429 once
        net.clock.advance(seconds=2)
        await net.deliver()
        queued_at = net.clock.now() - timedelta(minutes=5)
        async with net.services.sessions() as session, session.begin():
            for n in range(3):  # waiting for their time: not sent yet
                session.add(OutboxMessage(channel="whatsapp", bot="DUA", chat_id=f"whatsapp:+62813999000{n}",
                                          template="test", text="nanti", buttons=[], created_at=queued_at,
                                          next_attempt_at=net.clock.now() + timedelta(hours=1)))

        health = (await net.client.get("/healthz/channels")).json()
        lanes = {(lane["school"], lane["channel"]): lane for lane in health["channels"]}
        assert set(lanes) == {("UJI", "telegram"), ("UJI", "whatsapp"), ("DUA", "telegram"),
                              ("DUA", "whatsapp"), (None, "whatsapp")}
        assert lanes[("UJI", "telegram")]["sent"] == 2 and lanes[("UJI", "telegram")]["queued"] == 0
        assert lanes[("UJI", "telegram")]["last_sent"] is not None
        assert lanes[("DUA", "whatsapp")]["queued"] == 3
        assert lanes[("DUA", "whatsapp")]["oldest_unsent_seconds"] == 300.0
        assert lanes[("UJI", "whatsapp")] == {"channel": "whatsapp", "school": "UJI", "queued": 0,
                                              "oldest_unsent": None, "oldest_unsent_seconds": 0.0,
                                              "last_sent": None, "sent": 0}

        metrics = await net.client.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        body = metrics.text
        assert 'jembatan_messages_sent_total{channel="telegram",school="UJI"} 2' in body
        assert 'jembatan_messages_sent_total{channel="telegram",school="DUA"} 1' in body
        assert 'jembatan_outbox_queued{channel="whatsapp",school="DUA"} 3' in body
        assert 'jembatan_outbox_oldest_unsent_seconds{channel="whatsapp",school="DUA"} 300' in body
        assert 'jembatan_rate_limited_total{channel="telegram",school="DUA"} 1' in body
        assert 'jembatan_rate_limited_total{channel="telegram",school="UJI"} 0' in body
        assert "# TYPE jembatan_messages_sent_total counter" in body


async def test_each_schools_bot_polls_on_its_own_and_no_token_reaches_the_log(
        sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two bots in polling mode: the background process runs one getUpdates loop per bot; the
    same user and the same update_id on both are two updates, each answered by its own bot. The
    bots' tokens travel in every request URL, and never reach a log line."""
    caplog.set_level(logging.DEBUG)
    async with FakeBotAPI(UJI_TOKEN) as uji, FakeBotAPI(DUA_TOKEN) as dua:
        channels = tmp_path / "channels.yaml"
        channels.write_text(
            f'UJI:\n  telegram_bot_token: "{UJI_TOKEN}"\n  telegram_mode: polling\n'
            f'  telegram_api_base_url: "{uji.base_url}"\n'
            f'DUA:\n  telegram_bot_token: "{DUA_TOKEN}"\n  telegram_mode: polling\n'
            f'  telegram_api_base_url: "{dua.base_url}"\n', encoding="utf-8")
        app = create_app(settings_for(sqlite_url, simulator=False, channels_file=str(channels)),
                         clock=SystemClock(), run_scheduler=False)
        async with LifespanManager(app):
            services: Services = app.state.services
            await import_roster(services.sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
            await import_roster(services.sessions, dua_roster(tmp_path), school_code="DUA",
                                school_name="SMP Dua")
            assert uji.calls_of("deleteWebhook") and dua.calls_of("deleteWebhook")
            uji.push_update(contact_update(1, MAYA_TG, MAYA.lstrip("+")))
            dua.push_update(contact_update(1, MAYA_TG, MAYA.lstrip("+")))
            at_uji = await uji.wait_for(lambda sent: any("Ani Wijaya" in m["text"] for m in sent), timeout=20)
            at_dua = await dua.wait_for(lambda sent: any("Dita Wijaya" in m["text"] for m in sent), timeout=20)
    assert "Dita" not in texts(at_uji) and "Ani" not in texts(at_dua)
    assert "getUpdates" in caplog.text  # the requests were logged...
    assert UJI_TOKEN not in caplog.text and DUA_TOKEN not in caplog.text  # ...without the tokens


async def test_a_link_code_opens_the_schools_own_bot(sqlite_url: str, tmp_path: Path) -> None:
    async with FakeBotAPI(DUA_TOKEN, {**DEFAULT_BOT_USER, "id": 222222, "username": "smp_dua_bot"}) as dua:
        channels = tmp_path / "channels.yaml"
        channels.write_text(f'DUA:\n  telegram_bot_token: "{DUA_TOKEN}"\n'
                            f'  telegram_api_base_url: "{dua.base_url}"\n', encoding="utf-8")
        engine = make_engine(sqlite_url)
        try:
            await import_roster(make_sessionmaker(engine), dua_roster(tmp_path), school_code="DUA",
                                school_name="SMP Dua")
        finally:
            await engine.dispose()
        done = await jembatan_beside("link-code", "D-003", "--json", database_url=sqlite_url, cwd=tmp_path,
                                     extra_env={"CHANNELS_FILE": str(channels)})
    assert done.returncode == 0, done.stderr
    assert '"link": "https://t.me/smp_dua_bot?start=' in done.stdout
