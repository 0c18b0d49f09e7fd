"""The sender in a process of its own (`jembatan serve --sender-process`, and the background
process beside `--workers N`): the web process only answers; the background process is woken by
the outbox writes it cannot be called for (PostgreSQL: NOTIFY on commit; SQLite: a short scan),
and every reply reaches the family once."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.sender import Sender
from domain.clock import ManualClock
from domain.messages import Outbound, Recipient
from storage.db import make_engine, make_sessionmaker, sync_url
from storage.models import ChannelAccount
from storage.outbox import enqueue
from tests.conftest import PG_URL
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign
from tests.harness import MONDAY_MORNING, SCHOOL, stop_process_group, until_healthy, whatsapp_serve_env
from tests.test_cli import jembatan


class Recorder:
    """A channel that records what it is given to send (the far side of the network)."""

    name = "telegram"
    owner = ""
    rate_per_second = 30.0
    chat_rate_per_second = 1.0

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.delivered = asyncio.Event()

    async def deliver(self, message, account) -> str:  # type: ignore[no-untyped-def]
        self.texts.append(message.text)
        self.delivered.set()
        return f"m{message.id}"


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set: NOTIFY is PostgreSQL's")
async def test_a_listening_sender_is_woken_by_another_connections_outbox_write(database_url: str) -> None:
    """Nothing calls the sender and its idle scan is an hour away: the NOTIFY that the outbox
    INSERT sends on commit wakes it, and the message goes out once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("NOTIFY is PostgreSQL's")
    engine, writer = make_engine(database_url), make_engine(database_url)
    clock = ManualClock(MONDAY_MORNING)
    client = Recorder()
    sender = Sender(make_sessionmaker(engine), [client], clock=clock, listen=True)
    running = asyncio.create_task(sender.run(idle_seconds=3600))
    try:
        async with make_sessionmaker(writer)() as session, session.begin():
            account = ChannelAccount(channel="telegram", external_id="77", chat_id="77", linked_at=clock.now())
            session.add(account)
            await session.flush()
        await asyncio.sleep(0)  # the sender takes its claimant lock and listens
        for _ in range(100):
            if sender.claimant_token is not None:
                break
            await asyncio.sleep(0.05)
        client.delivered.clear()
        async with make_sessionmaker(writer)() as session, session.begin():
            await enqueue(session, [Outbound(to=Recipient(account_id=account.id), template="ask_contact",
                                             context={"again": False})], now=clock.now(), simulator_enabled=False)
        await asyncio.wait_for(client.delivered.wait(), timeout=10)
    finally:
        sender.stop()
        await asyncio.wait_for(running, timeout=10)
        await engine.dispose()
        await writer.dispose()
    assert len(client.texts) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_serve_with_a_sender_process_answers_and_sends_each_reply_once(tmp_path: Path,
                                                                            sqlite_url: str) -> None:
    """`serve --sender-process` on SQLite: the web process answers the webhook, the background
    process (its own heartbeat) delivers the reply, once."""
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    async with FakeTwilioAPI() as twilio:
        env = whatsapp_serve_env(sqlite_url, twilio, public)
        assert jembatan("roster", "import", str(SCHOOL), "--school", "UJI", database_url=sqlite_url,
                        cwd=tmp_path, extra_env=env).returncode == 0
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--sender-process", "--port", str(port)],
                                  env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        try:
            async with httpx.AsyncClient(base_url=public, timeout=30) as client:
                await until_healthy(public, server)
                form = inbound_form(message_sid=new_message_sid(), from_phone="+6281300000002",
                                    body="Bu, nilai ulangan Matematika Ani turun lagi.",
                                    account_sid=twilio.account_sid)
                signature = sign(f"{public}/webhooks/whatsapp", form, twilio.auth_token)
                for _ in range(2):  # Twilio retries: the same message twice
                    answer = await client.post("/webhooks/whatsapp", data=form,
                                               headers={"X-Twilio-Signature": signature})
                    assert answer.status_code == 200
                deadline = time.monotonic() + 30
                while not twilio.messages_to("whatsapp:+6281300000002"):
                    assert time.monotonic() < deadline, "no reply was sent"
                    await asyncio.sleep(0.05)
                observer = create_engine(sync_url(sqlite_url))
                try:
                    while True:
                        with observer.connect() as conn:
                            pending = conn.execute(text(
                                "SELECT count(*) FROM outbox_message WHERE status = 'pending'")).scalar_one()
                            sent = conn.execute(text(
                                "SELECT count(*) FROM outbox_message WHERE status = 'sent'")).scalar_one()
                            pids = dict(conn.execute(text("SELECT part, pid FROM heartbeat")).all())
                        if not pending and "sender" in pids:
                            break
                        assert time.monotonic() < deadline, "the outbox was not drained"
                        await asyncio.sleep(0.05)
                finally:
                    observer.dispose()
        finally:
            stop_process_group(server)
    # Every row sent once (the repeated webhook answered once), by the background process.
    assert len(twilio.sent) == sent
    assert all(n == 1 for n in Counter((m["To"], m.get("Body")) for m in twilio.sent).values())
    assert pids["sender"] != server.pid
