"""Abuse: one sender flooding the bot is told once to slow down, the school's admin is alerted once,
the excess is acknowledged and kept but not answered, and nobody else waits for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.flood import FloodGuard
from storage.models import Concern, ConcernMessage, InboxMessage
from tests.fakes.twilio_forms import inbound_form, new_message_sid
from tests.harness import BUDI, DEWI, HENDRA, MAYA, RINA, SRI, YULIA, running_school
from tests.hostile import OurErrors
from tests.phones import network

SLOW_DOWN = "mengirim banyak pesan dalam waktu singkat"
ALERT = "Pemberitahuan:"
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_the_bucket_admits_a_burst_then_the_rate_and_refills() -> None:
    guard = FloodGuard(rate_per_minute=30, burst=30)
    verdicts = [guard.check("maya", T0) for _ in range(31)]
    assert all(v.admitted for v in verdicts[:30])
    assert verdicts[30] == verdicts[30].__class__(admitted=False, tell_sender=True, alert_admin=True)
    assert not guard.check("maya", T0).tell_sender, "told once per episode"
    assert guard.check("hendra", T0).admitted, "another sender is untouched"
    assert guard.check("maya", T0 + timedelta(seconds=2)).admitted, "one message per 2 s comes back"
    steady = [guard.check("sri", T0 + timedelta(seconds=2 * n)).admitted for n in range(500)]
    assert all(steady), "a sender within the rate is never limited"
    guard.check("maya", T0 + timedelta(seconds=2))  # over again: still the same episode
    quiet = T0 + timedelta(minutes=2)  # the bucket is full again: a later flood is a new episode
    assert all(guard.check("maya", quiet).admitted for _ in range(30))
    again = guard.check("maya", quiet)
    assert (again.admitted, again.tell_sender, again.alert_admin) == (False, True, False), \
        "told again; the admin only once an hour"
    later = T0 + timedelta(hours=2)
    for _ in range(30):
        guard.check("maya", later)
    assert guard.check("maya", later).alert_admin


class _RolledBack(Exception):
    pass


async def test_two_workers_and_a_rolled_back_turn_count_against_one_stored_bucket(sessions) -> None:  # type: ignore[no-untyped-def]
    """Each worker writes the bucket as it last saw it; another's write in between, or a rolled
    back transaction, is noticed and the stored bucket counted: the same verdicts as one guard."""
    one, two, alone = (FloodGuard(rate_per_minute=30, burst=3) for _ in range(3))

    async def shared(guard: FloodGuard, at: datetime, *, commit: bool = True) -> tuple[bool, bool]:
        try:
            async with sessions() as session, session.begin():
                verdict = await guard.check_shared(session, "maya", at)
                if not commit:
                    raise _RolledBack
        except _RolledBack:
            pass
        return verdict.admitted, verdict.tell_sender

    got, expected = [], []
    for n, guard in enumerate([one, one, two, one, one, two, two, one, one]):
        at = T0 + timedelta(seconds=n // 3)
        if n == 4:
            await shared(one, at, commit=False)  # its transaction is lost: no token spent
        got.append(await shared(guard, at))
        expected.append((lambda v: (v.admitted, v.tell_sender))(alone.check("maya", at)))
    assert got == expected
    assert got[3] == (False, True), "over the burst across two workers: told to slow down"


async def test_a_flood_does_not_delay_another_guardians_concern(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Ani dibully, mohon dibantu")  # she has a concern open with Rina
        await school.say(HENDRA, "menu")
        await school.inbox(RINA)
        finished: list[str] = []

        async def send(phone: str, text: str) -> int:
            response = await school.client.post("/simulator/api/send", json={"phone": phone, "text": text})
            finished.append(phone)
            return response.status_code

        with OurErrors() as errors:
            flood = [send(MAYA, f"tolong {n}") for n in range(100)]
            statuses = await asyncio.gather(*flood[:50], send(HENDRA, "Bima izin sakit hari ini"), *flood[50:])
        errors.check()
        assert statuses == [200] * 101, "every message is acknowledged"
        assert finished.index(HENDRA) < 60, "Hendra's concern did not wait for Maya's flood to end"
        to_budi = await school.inbox(BUDI)
        assert [m for m in to_budi if "Bima izin sakit" in m["text"]], "Hendra's concern reached Bima's teacher"
        assert "Budi Santoso" in (await school.inbox(HENDRA))[-1]["text"]

        async with school.services.sessions() as session:
            stored = (await session.exec(select(InboxMessage).where(
                col(InboxMessage.external_id).startswith(f"{MAYA}:")))).all()
            maya_concern = (await session.exec(select(Concern).where(Concern.staff_id != None))).all()  # noqa: E711
            words = (await session.exec(select(ConcernMessage))).all()
        assert len(stored) == 101, "the flood is stored, nothing is lost"
        assert sum(1 for row in stored if row.error and row.error.startswith("flood")) >= 60
        assert len(maya_concern) == 2  # Maya's one concern and Hendra's
        assert len(words) <= 2 + 30, "only the burst was passed on to the counselor"
        assert len(await school.inbox(RINA)) <= 30


async def test_the_flooder_is_told_once_and_the_admin_alerted_once(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(DEWI, "menu")
        await school.say(MAYA, "Nilai matematika Ani turun")
        await school.inbox(SRI)
        for n in range(100):
            await school.client.post("/simulator/api/send", json={"phone": MAYA, "text": f"halo? {n}"})
        received = await school.inbox(MAYA)
        assert sum(SLOW_DOWN in m["text"] for m in received) == 1
        assert SLOW_DOWN in received[-1]["text"] or any(SLOW_DOWN in m["text"] for m in received[-5:])
        alerts = [m for m in await school.inbox(DEWI) if ALERT in m["text"]]
        assert len(alerts) == 1
        assert "Maya Wijaya (orang tua/wali dari Ani Wijaya (VII-A))" in alerts[0]["text"]
        assert "Simulator" in alerts[0]["text"] and "+62" not in alerts[0]["text"] and "0813" not in alerts[0]["text"]
        assert len(await school.inbox(SRI)) <= 30

        school.clock.advance(minutes=2)  # she waited, as asked: she is answered again
        answer = await school.say(MAYA, "Maaf Bu, saya hanya ingin tahu jadwal remedial.")
        assert answer and SLOW_DOWN not in answer[-1]["text"]
        assert [m for m in await school.inbox(SRI) if "jadwal remedial" in m["text"]]

        for n in range(40):  # a second flood within the hour: she is told, the office is not bothered
            await school.client.post("/simulator/api/send", json={"phone": MAYA, "text": f"lagi {n}"})
        assert sum(SLOW_DOWN in m["text"] for m in await school.inbox(MAYA)) == 1
        assert not [m for m in await school.inbox(DEWI) if ALERT in m["text"]]


async def test_an_english_reader_is_asked_in_english(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        for n in range(35):
            await school.client.post("/simulator/api/send", json={"phone": YULIA, "text": f"hello {n}"})
        told = [m for m in await school.inbox(YULIA) if "many messages from you in a short time" in m["text"]]
        assert len(told) == 1


async def test_a_whatsapp_flood_is_acknowledged_and_kept_but_not_answered(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        dewi = await net.phone("telegram", DEWI)
        maya = await net.phone("whatsapp", MAYA)
        hendra = await net.phone("whatsapp", HENDRA)
        for n in range(60):
            form = inbound_form(message_sid=new_message_sid(), from_phone=MAYA, body=f"Bu, balas! {n}")
            response = await net.post_twilio("/webhooks/whatsapp", form)
            assert response.status_code == 200 and response.text.endswith("<Response/>")
        answers = await maya.new()
        assert sum(SLOW_DOWN in m["text"] for m in answers) == 1
        assert len(answers) <= 30 + 3, "the burst answered (and the welcome), not all sixty"
        assert len([m for m in await dewi.new() if ALERT in m["text"]]) == 1
        assert "Budi Santoso" in (await hendra.say("Bima izin sakit hari ini"))[-1]["text"]
        async with net.services.sessions() as session:
            stored = (await session.exec(select(InboxMessage).where(InboxMessage.channel == "whatsapp"))).all()
        assert len(stored) == 61
