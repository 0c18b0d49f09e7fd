"""Nothing acknowledged is lost: the database connections are torn down (TCP resets through a
real proxy) while concerns arrive, and every concern still ends processed exactly once, with its
thread message and its forward. An update that fails every time is retried with backoff, then
parked where the office can see it (`/healthz`, the dashboard), and `jembatan inbox retry`
processes it once the cause is gone."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bot.app import STALE_UPDATE
from bot.inbox import MAX_ATTEMPTS, MAX_ATTEMPTS_AFTER_A_BUG
from storage.models import ChannelAccount, ConcernMessage, InboxMessage, OutboxMessage
from tests.conftest import PG_URL, postgres_behind_proxy
from tests.fakes.twilio_forms import inbound_form, new_message_sid
from tests.harness import MAYA, SRI, YULIA
from tests.phones import Network, network
from tests.test_cli import jembatan

NEEDS_PG = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set: the connection-reset "
                                                 "test needs a PostgreSQL server to put a proxy in front of")
PER_GUARDIAN = 25  # within the flood burst: every one of them is answered
WORDS = {MAYA: "Bu, nilai ulangan Matematika Ani turun. Pertanyaan nomor {n}.",
         YULIA: "Bu, PR Matematika Citra belum dinilai. Catatan nomor {n}."}


async def _pending(net: Network) -> int:
    async with net.services.sessions() as session:
        return len((await session.exec(select(InboxMessage.id).where(
            col(InboxMessage.processed_at).is_(None)))).all())


@NEEDS_PG
async def test_connection_resets_while_concerns_arrive_lose_and_repeat_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    proxy, through_proxy = await postgres_behind_proxy()
    async with network(through_proxy) as net:
        sri = await net.phone("whatsapp", SRI)  # the Matematika teacher gets the forwards
        await sri.say("menu")
        for number in WORDS:
            await (await net.phone("whatsapp", number)).say("menu")
        await sri.new()

        forms = [inbound_form(message_sid=new_message_sid(), from_phone=number, body=words.format(n=n),
                              account_sid=net.twilio.account_sid)
                 for n in range(PER_GUARDIAN) for number, words in WORDS.items()]

        async def deliver(form: dict[str, str]) -> None:
            # Twilio retries what was not acknowledged; a 200 means stored.
            for _ in range(50):
                if (await net.post_twilio("/webhooks/whatsapp", form)).status_code == 200:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("never acknowledged")

        async def arrivals() -> None:
            posts = []
            for form in forms:  # about 20 a second
                posts.append(asyncio.create_task(deliver(form)))
                await asyncio.sleep(0.05)
            await asyncio.gather(*posts)

        resets = 0

        async def chaos(done: asyncio.Event) -> None:
            # Every 0.15 s: either every open connection is reset (idle ones in the pool too), or
            # the next one that carries a family's words (a webhook storing its update, in the
            # transaction that answers it), so that processing is hit however fast it is.
            nonlocal resets
            mid_use = False
            while not done.is_set():
                await asyncio.sleep(0.15)
                mid_use = not mid_use
                if mid_use:
                    proxy.reset_next_use(containing=b" nomor ")
                else:
                    resets += bool(await proxy.reset())
            proxy.reset_next_use(armed=False)

        done = asyncio.Event()
        chaos_task = asyncio.create_task(chaos(done))
        await arrivals()
        done.set()
        await chaos_task
        resets += proxy.sprung
        assert proxy.sprung >= 1 and resets >= 5, "the connections were not torn down often enough to mean anything"

        async with net.services.sessions() as session:
            failed_once = (await session.exec(select(InboxMessage).where(InboxMessage.attempts > 0))).all()
        # What the background process's recovery tick does, its clock moved on each time.
        for _ in range(MAX_ATTEMPTS * 2):
            if not await _pending(net):
                break
            net.clock.advance(minutes=16)
            await net.services.inbox.recover(older_than=STALE_UPDATE)
        await net.deliver()

        async with net.services.sessions() as session:
            rows = (await session.exec(select(InboxMessage).where(
                col(InboxMessage.external_id).in_([f["MessageSid"] for f in forms])))).all()
            thread = (await session.exec(select(ConcernMessage.text).where(
                ConcernMessage.author == "guardian"))).all()
            teacher = (await session.exec(select(ChannelAccount.id).where(
                ChannelAccount.channel == "whatsapp", ChannelAccount.phone == SRI))).one()
            to_sri = (await session.exec(select(OutboxMessage.text).where(
                OutboxMessage.account_id == teacher))).all()
        assert len(rows) == len(forms)
        assert [r for r in rows if r.processed_at is None or r.error or r.parked_at] == []
        assert failed_once, "no attempt failed: the resets did not hit processing"
        bodies = [f["Body"] for f in forms]
        assert Counter(thread) == Counter(bodies), "each concern in its thread exactly once"
        forwards = Counter(body for body in bodies for t in to_sri if f'"{body}"' in t)
        assert forwards == Counter(bodies), "each concern forwarded to the teacher exactly once"
        got = Counter(body for body in bodies for m in sri.received() if f'"{body}"' in m["text"])
        assert got == Counter(bodies)
    await proxy.cut()
    # The failures were logged, as their class and message: no SQL parameters, so no parent's
    # words, name or phone number.
    assert "connection" in caplog.text.lower()
    for secret in (*(number.lstrip("+") for number in WORDS), "Pertanyaan nomor", "Catatan nomor",
                   "parameters: ("):
        assert secret not in caplog.text


FAIL_EVERY_TIME = {
    # PostgreSQL: a serialization failure (SQLSTATE 40001), a transient error, every time.
    "postgresql": ["""CREATE FUNCTION refuse_thread() RETURNS trigger AS $$ BEGIN
                      RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$
                      LANGUAGE plpgsql""",
                   """CREATE TRIGGER refuse_thread BEFORE INSERT ON concern_message
                      FOR EACH ROW EXECUTE FUNCTION refuse_thread()"""],
    # SQLite: a constraint the database enforces and our code breaks, like a bug would.
    "sqlite": ["""CREATE TRIGGER refuse_thread BEFORE INSERT ON concern_message
                  BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"""],
}
FIXED = {"postgresql": ["DROP TRIGGER refuse_thread ON concern_message", "DROP FUNCTION refuse_thread()"],
         "sqlite": ["DROP TRIGGER refuse_thread"]}


async def _execute(net: Network, statements: list[str]) -> None:
    async with net.services.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_an_update_failing_every_time_is_retried_parked_shown_and_retried_by_the_cli(
        database_url: str, tmp_path: Path) -> None:
    backend = make_url(database_url).get_backend_name()
    cap = MAX_ATTEMPTS if backend == "postgresql" else MAX_ATTEMPTS_AFTER_A_BUG
    async with network(database_url) as net:
        sri = await net.phone("whatsapp", SRI)
        await sri.say("menu")
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        await maya.new()
        await _execute(net, FAIL_EVERY_TIME[backend])
        words = "Bu, nilai ulangan Matematika Ani turun. Mohon bimbingannya."
        form = inbound_form(message_sid=new_message_sid(), from_phone=MAYA, body=words,
                            account_sid=net.twilio.account_sid)
        assert (await net.post_twilio("/webhooks/whatsapp", form)).status_code == 200  # stored: acknowledged

        async def row() -> InboxMessage:
            async with net.services.sessions() as session:
                found = (await session.exec(select(InboxMessage).where(
                    InboxMessage.external_id == form["MessageSid"]))).one()
            return found

        first = await row()
        assert first.processed_at is None and first.attempts == 1 and first.next_attempt_at is not None
        assert "refuse" in (first.last_error or "") or "serialize" in (first.last_error or "")
        assert words not in (first.last_error or "") and MAYA not in (first.last_error or "")
        await net.services.inbox.recover(older_than=STALE_UPDATE)
        assert (await row()).attempts == 1, "not before its backoff is over"
        for attempt in range(2, cap + 1):
            net.clock.advance(minutes=16)
            await net.services.inbox.recover(older_than=STALE_UPDATE)
            assert (await row()).attempts == attempt
        parked = await row()
        assert parked.parked_at is not None and parked.processed_at is not None and parked.error
        net.clock.advance(hours=1)
        await net.services.inbox.recover(older_than=STALE_UPDATE)
        assert (await row()).attempts == cap, "a parked update waits for the operator"

        health = await net.client.get("/healthz")
        assert health.status_code == 200  # the service runs; the office has work to do
        assert health.json() == {"status": "ok", "database": "ok", "parked": 1}

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return jembatan("inbox", *args, database_url=database_url, cwd=tmp_path,
                            extra_env={"SIMULATOR": "off", "LOG_LEVEL": "WARNING"})

        listed = cli("parked", "--json")
        assert listed.returncode == 0, listed.stderr
        [entry] = json.loads(listed.stdout)["parked"]
        assert entry["id"] == parked.id and entry["attempts"] == cap
        assert words not in listed.stdout and MAYA not in listed.stdout and "6281300000002" not in listed.stdout

        assert cli("retry").returncode == 2  # neither IDs nor --all
        unknown = cli("retry", "999999")
        assert unknown.returncode == 1 and "999999" in unknown.stderr
        still_broken = cli("retry", str(parked.id), "--json")
        assert still_broken.returncode == 1 and str(parked.id) in still_broken.stderr
        assert json.loads(still_broken.stdout)["parked"] == [parked.id]

        await _execute(net, FIXED[backend])  # the cause is fixed
        retried = cli("retry", "--all", "--json")
        assert retried.returncode == 0, retried.stderr
        assert json.loads(retried.stdout) == {"retried": 1, "processed": [parked.id], "parked": [], "pending": []}
        done = await row()
        assert done.processed_at is not None and done.parked_at is None and done.error is None
        assert cli("retry", "--all", "--json").returncode == 0  # nothing left: nothing done

        # The CLI ran on the wall clock; the service's sender (this test's clock) catches up.
        net.clock.advance(seconds=max((datetime.now(UTC) - net.clock.now()).total_seconds(), 0) + 60)
        await net.deliver()
        async with net.services.sessions() as session:
            forward = (await session.exec(select(OutboxMessage).where(
                col(OutboxMessage.text).contains(words), OutboxMessage.staff_id.is_not(None)))).all()  # type: ignore[union-attr]
        assert len(forward) == 1  # to the teacher (held for her office hours on the wall clock)
        assert any("Sri Wahyuni" in m["text"] for m in await maya.new())
        async with net.services.sessions() as session:
            thread = (await session.exec(select(ConcernMessage.text))).all()
        assert thread == [words]
        assert (await net.client.get("/healthz")).json() == {"status": "ok", "database": "ok"}
