"""The database goes away mid-service and comes back: webhooks answer 503 so the platforms
retry, `/healthz` names the database, nothing is half-written, and the retried message is
handled once."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.models import ConcernMessage, InboxMessage
from tests.conftest import PG_URL, postgres_behind_proxy
from tests.fakes.twilio_forms import inbound_form, new_message_sid
from tests.phones import network

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set: PostgreSQL variant skipped")
MAYA = "+6281300000002"


async def test_webhooks_say_503_while_the_database_is_away_and_the_retry_lands_once() -> None:
    proxy, through_proxy = await postgres_behind_proxy()
    async with network(through_proxy) as net:
        phone = await net.phone("whatsapp", MAYA)
        await phone.say("menu")

        await proxy.cut()
        form = inbound_form(message_sid=new_message_sid(), from_phone=MAYA, account_sid=net.twilio.account_sid,
                            body="Bu, nilai ulangan Matematika Ani turun. Mohon bimbingannya.")
        refused = await net.post_twilio("/webhooks/whatsapp", form)
        assert refused.status_code == 503  # Twilio will retry; nothing was acknowledged
        health = await net.client.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == "unreachable"

        await proxy.restore()
        assert (await net.client.get("/healthz")).status_code == 200
        retried = await net.post_twilio("/webhooks/whatsapp", form)
        assert retried.status_code == 200
        again = await net.post_twilio("/webhooks/whatsapp", form)  # Twilio's second retry
        assert again.status_code == 200
        await net.deliver()
        async with net.services.sessions() as session:
            stored = (await session.exec(select(InboxMessage).where(
                InboxMessage.external_id == form["MessageSid"]))).all()
            thread = (await session.exec(select(ConcernMessage).where(
                ConcernMessage.author == "guardian"))).all()
        assert len(stored) == 1 and stored[0].processed_at is not None and stored[0].error is None
        assert [m.text for m in thread] == [form["Body"]]
        assert any("Ani" in m["text"] for m in phone.received())
    await proxy.cut()
