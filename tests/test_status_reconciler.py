"""Status callbacks that never arrive (Twilio does not retry them): the background process asks
the Twilio API and the report catches up."""

from __future__ import annotations


from sqlmodel import select

from storage.models import OutboxMessage
from storage.status_reconciler import reconcile_statuses
from tests.phones import network

MAYA = "+6281300000002"


async def test_messages_stuck_in_sent_are_looked_up_and_updated(database_url: str) -> None:
    async with network(database_url) as net:
        phone = await net.phone("whatsapp", MAYA)
        await phone.say("menu")
        await phone.say("bk")
        first, second = [m["id"] for m in phone.received()][-2:]
        net.twilio.set_status(first, "read")  # the callbacks are lost: only the API knows
        net.twilio.set_status(second, "undelivered", error_code=30003)

        async def reconcile() -> int:
            return await reconcile_statuses(net.services.sessions, channel="whatsapp",
                                            fetch=net.services.whatsapp.fetch_status,  # type: ignore[union-attr]
                                            now=net.clock.now(), simulator_enabled=False)

        assert await reconcile() == 0  # minutes old: a callback may still come, nothing asked yet
        requests_before = len(net.twilio.requests)
        net.clock.advance(minutes=20)
        assert await reconcile() == 2
        assert len(net.twilio.requests) > requests_before  # it really asked the API
        async with net.services.sessions() as session:
            rows = {r.external_message_id: r for r in (await session.exec(select(OutboxMessage))).all()}
        assert rows[first].delivery == "read"
        assert (rows[second].delivery, rows[second].delivery_error) == ("undelivered", "30003")
        assert await reconcile() == 0  # settled: not asked again

        await phone.say("menu")
        net.twilio.set_status(phone.received()[-1]["id"], "read")
        net.clock.advance(days=4)
        assert await reconcile() == 0  # too old to matter: not looked up forever
