"""Production shape on PostgreSQL: `jembatan serve --workers 2` (two web worker processes behind
one port, plus the one background process) driven concurrently over real HTTP, with WhatsApp
through the local fake Twilio. Every inbound processed exactly once, every reply and every
announcement sent exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from functools import cache
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from storage.db import sync_url
from tests.conftest import PG_URL, _fresh_postgres
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI
from tests.fakes.twilio_forms import inbound_form, new_message_sid, sign
from tests.harness import SCHOOL, stop_process_group, until_healthy, whatsapp_serve_env
from tests.test_cli import jembatan

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set: the multi-process test "
                                                   "needs PostgreSQL")

GUARDIANS = {  # one child each, so every message is a concern at once
    "+6281300000002": "Bu, nilai ulangan Matematika Ani turun lagi. Pertanyaan nomor {n}.",
    "+6281300000003": "My daughter's maths test score dropped again. Question number {n}.",
    "+6281300000004": "Nilai PR Matematika Citra kurang bagus, mohon bimbingan. Catatan nomor {n}.",
}
MESSAGES_EACH = 6
REPORT_CARDS = """\
type: pembagian_rapor
title: Pembagian Rapor
organizer: T-001
audience: class:VII-A
location: Ruang Kelas VII-A
room_capacity: 1
slots:
  - {start: 2027-01-16T08:00, end: 2027-01-16T08:20}
  - {start: 2027-01-16T08:20, end: 2027-01-16T08:40}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@cache
def _observer() -> Engine:
    """One pooled connection for the test's own look at the database: polled ten times a second,
    a new connection each time would start a PostgreSQL backend process each time."""
    assert PG_URL
    return create_engine(sync_url(PG_URL), pool_size=1)


def _count(sql: str) -> int:
    with _observer().connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


async def _until(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the workers"
        await asyncio.sleep(0.1)


async def test_two_web_workers_and_one_background_process_lose_and_repeat_nothing(tmp_path: Path) -> None:
    assert PG_URL
    _fresh_postgres(PG_URL)
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    async with FakeTwilioAPI() as twilio:
        env = whatsapp_serve_env(PG_URL, twilio, public)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:  # in this process: serve is the one started
            return jembatan(*args, database_url=PG_URL, cwd=tmp_path, extra_env=env)

        assert cli("db", "upgrade").returncode == 0
        assert cli("roster", "import", str(SCHOOL), "--school", "UJI").returncode == 0
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", "2", "--port", str(port)],
                                  env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        try:
            async with httpx.AsyncClient(base_url=public, timeout=30) as client:
                await until_healthy(public, server)

                # Every message posted twice at once (Twilio retries): both workers may get a copy.
                posts = []
                for phone, words in GUARDIANS.items():
                    for n in range(MESSAGES_EACH):
                        form = inbound_form(message_sid=new_message_sid(), from_phone=phone,
                                            body=words.format(n=n), account_sid=twilio.account_sid)
                        headers = {"X-Twilio-Signature": sign(f"{public}/webhooks/whatsapp", form,
                                                              twilio.auth_token)}
                        posts += [client.post("/webhooks/whatsapp", data=form, headers=headers) for _ in range(2)]
                answers = await asyncio.gather(*posts)
                assert [a.status_code for a in answers] == [200] * len(posts)

                total = len(GUARDIANS) * MESSAGES_EACH
                await _until(lambda: _count("SELECT count(*) FROM inbox_message WHERE processed_at IS NOT NULL")
                             >= total)
                assert _count("SELECT count(*) FROM inbox_message") == total
                assert _count("SELECT count(*) FROM inbox_message WHERE error IS NOT NULL") == 0
                # Each message is in its family's concern thread exactly once.
                assert _count("SELECT count(*) FROM concern_message WHERE author = 'guardian'") == total
                assert _count("SELECT count(DISTINCT text) FROM concern_message WHERE author = 'guardian'") == total

                # The background process alone sends: each outbox row reaches Twilio once.
                await _until(lambda: _count("SELECT count(*) FROM outbox_message WHERE status = 'pending'") == 0)
                sent_rows = _count("SELECT count(*) FROM outbox_message WHERE status = 'sent'")
                assert sent_rows >= total  # at least an answer per message (and the teachers' copies)
                await _until(lambda: len(twilio.sent) >= sent_rows)
                assert len(twilio.sent) == sent_rows

                announced = cli("broadcast", "--audience", "school", "--text", "Besok sekolah libur.",
                                "--author", "T-003", "--urgent", "--json")
                assert announced.returncode == 0, announced.stderr
                # The parents on WhatsApp (the proxy guardian is not a parent; Hendra never linked).
                parents = ["+6281300000002", "+6281300000003"]
                assert json.loads(announced.stdout)["recipients"] == len(parents)
                await _until(lambda: sum("libur" in m.get("Body", "") for m in twilio.sent) >= len(parents))
                await _until(lambda: _count("SELECT count(*) FROM outbox_message WHERE status = 'pending'") == 0)
                per_guardian = Counter(m["To"] for m in twilio.sent if "libur" in m.get("Body", ""))
                assert per_guardian == Counter({f"whatsapp:{phone}": 1 for phone in parents})

                # Two families take the same last place at the same instant, through two workers.
                meeting = tmp_path / "rapor.yaml"
                meeting.write_text(REPORT_CARDS)
                created = json.loads(cli("meeting", "create", str(meeting), "--json").stdout)
                assert cli("meeting", "invite", str(created["id"])).returncode == 0

                async def answer(phone: str, text: str, marker: str) -> None:
                    before = sum(marker in m.get("Body", "") for m in twilio.messages_to(f"whatsapp:{phone}"))
                    form = inbound_form(message_sid=new_message_sid(), from_phone=phone, body=text,
                                        account_sid=twilio.account_sid)
                    signature = sign(f"{public}/webhooks/whatsapp", form, twilio.auth_token)
                    response = await client.post("/webhooks/whatsapp", data=form,
                                                 headers={"X-Twilio-Signature": signature})
                    assert response.status_code == 200
                    await _until(lambda: sum(marker in m.get("Body", "") for m in
                                             twilio.messages_to(f"whatsapp:{phone}")) > before)

                await _until(lambda: all(any("Pembagian Rapor" in m.get("Body", "") or "Report" in m.get("Body", "")
                                             for m in twilio.messages_to(f"whatsapp:{p}")) for p in parents))
                for phone in parents:  # "1": I will attend -> the times on offer, numbered
                    await answer(phone, "1", "08.00" if phone.endswith("2") else "08:00")
                await asyncio.gather(*(client.post("/webhooks/whatsapp", data=form, headers={
                    "X-Twilio-Signature": sign(f"{public}/webhooks/whatsapp", form, twilio.auth_token)})
                    for form in [inbound_form(message_sid=new_message_sid(), from_phone=phone, body="1",
                                              account_sid=twilio.account_sid) for phone in parents]))
                await _until(lambda: _count("SELECT count(*) FROM inbox_message WHERE processed_at IS NULL") == 0)
                assert _count("SELECT booked FROM meeting_slot ORDER BY starts_at LIMIT 1") == 1
                assert _count("SELECT count(*) FROM meeting_family WHERE slot_id IS NOT NULL") == 1
        finally:
            stop_process_group(server)
        # Nothing left running: the background process stopped with the workers.
        assert server.returncode is not None


def _heartbeat_pids() -> dict[str, int]:
    with _observer().connect() as conn:
        return {part: pid for part, pid in conn.execute(text("SELECT part, pid FROM heartbeat"))}


def _alive_or_zombie(pid: int) -> bool:
    """True while the process exists at all, a zombie included (a zombie is what nobody reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return bool(stat.read())
    except FileNotFoundError:
        return False


async def test_a_killed_background_process_is_restarted_and_sending_resumes(tmp_path: Path) -> None:
    assert PG_URL
    _fresh_postgres(PG_URL)
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    async with FakeTwilioAPI() as twilio:
        env = whatsapp_serve_env(PG_URL, twilio, public)
        for args in (["db", "upgrade"], ["roster", "import", str(SCHOOL), "--school", "UJI"]):
            assert jembatan(*args, database_url=PG_URL, cwd=tmp_path, extra_env=env).returncode == 0
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", "2", "--port", str(port)],
                                  env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        try:
            async with httpx.AsyncClient(base_url=public, timeout=30) as client:
                async def say(phone: str, body: str) -> None:
                    form = inbound_form(message_sid=new_message_sid(), from_phone=phone, body=body,
                                        account_sid=twilio.account_sid)
                    signature = sign(f"{public}/webhooks/whatsapp", form, twilio.auth_token)
                    answer = await client.post("/webhooks/whatsapp", data=form, headers={"X-Twilio-Signature": signature})
                    assert answer.status_code == 200

                await until_healthy(public, server)
                await _until(lambda: set(_heartbeat_pids()) == {"sender", "scheduler"})
                background = _heartbeat_pids()["sender"]
                assert _heartbeat_pids()["scheduler"] == background  # one background process

                await say("+6281300000002", "menu")  # sent by the background process
                await _until(lambda: len(twilio.messages_to("whatsapp:+6281300000002")) >= 1)

                os.kill(background, signal.SIGKILL)
                # Reaped (no zombie) and replaced by a new background process that ticks again.
                await _until(lambda: not _alive_or_zombie(background), timeout=30)
                await _until(lambda: set(_heartbeat_pids().values()) - {background} != set()
                             and len(set(_heartbeat_pids().values())) == 1, timeout=60)
                assert (await client.get("/healthz")).status_code == 200

                before = len(twilio.messages_to("whatsapp:+6281300000003"))
                await say("+6281300000003", "menu")  # sending resumed
                await _until(lambda: len(twilio.messages_to("whatsapp:+6281300000003")) > before)
                await _until(lambda: _count("SELECT count(*) FROM outbox_message WHERE status = 'pending'") == 0)
        finally:
            stop_process_group(server)
        stderr = server.stderr.read().decode() if server.stderr else ""
        assert "restarting it" in stderr, stderr[-2000:]


async def test_one_flooding_family_is_limited_across_workers_and_delays_no_other_family(tmp_path: Path) -> None:
    assert PG_URL
    _fresh_postgres(PG_URL)
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    maya, yulia, sri = "+6281300000002", "+6281300000003", "+6281200000001"
    async with FakeTwilioAPI() as twilio:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "INBOUND_"))}
        env.update({"DATABASE_URL": PG_URL, "TWILIO_ACCOUNT_SID": twilio.account_sid,
                    "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_WHATSAPP_FROM": SANDBOX_FROM,
                    "TWILIO_API_BASE_URL": twilio.base_url, "PUBLIC_BASE_URL": public,
                    "SIMULATOR": "off", "LOG_LEVEL": "WARNING"})
        for args in (["db", "upgrade"], ["roster", "import", str(SCHOOL), "--school", "UJI"]):
            assert jembatan(*args, database_url=PG_URL, cwd=tmp_path, extra_env=env).returncode == 0
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", "2", "--port", str(port)],
                                  env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            async with httpx.AsyncClient(base_url=public, timeout=60) as client:
                async def say(phone: str, body: str) -> None:
                    form = inbound_form(message_sid=new_message_sid(), from_phone=phone, body=body,
                                        account_sid=twilio.account_sid)
                    signature = sign(f"{public}/webhooks/whatsapp", form, twilio.auth_token)
                    answer = await client.post("/webhooks/whatsapp", data=form, headers={"X-Twilio-Signature": signature})
                    assert answer.status_code == 200

                def to(phone: str, words: str) -> int:
                    return sum(words in m.get("Body", "") for m in twilio.messages_to(f"whatsapp:{phone}"))

                await until_healthy(public, server)
                for phone in (sri, maya, yulia):
                    await say(phone, "menu")
                await _until(lambda: all(twilio.messages_to(f"whatsapp:{p}") for p in (sri, maya, yulia)))

                # Maya floods the bot with 100 concerns at once, spread over both web workers.
                await asyncio.gather(*(say(maya, f"Bu, nilai Matematika Ani turun. Pesan ke-{n}.")
                                       for n in range(100)))
                await _until(lambda: _count("SELECT count(*) FROM inbox_message WHERE processed_at IS NULL") == 0)
                answered = _count("SELECT count(*) FROM inbox_message WHERE error IS NULL AND payload::text "
                                  "LIKE '%Pesan ke-%'")
                # One bucket for both workers: the burst of 30 (plus what refilled meanwhile), not 60.
                assert 25 <= answered <= 40, answered  # ("menu" took one token a moment before)

                # Yulia writes to the same teacher: her forward does not wait behind Maya's.
                asked = time.monotonic()
                await say(yulia, "My daughter's maths homework was not graded. Could you check?")
                await _until(lambda: to(sri, "homework was not graded") == 1, timeout=30)
                waited = time.monotonic() - asked
                still_queued = _count("SELECT count(*) FROM outbox_message WHERE status = 'pending' "
                                      "AND text LIKE '%Pesan ke-%'")
                assert still_queued > 10, "Maya's forwards were all out already: the test proves nothing"
                assert waited < 5, f"Yulia's forward waited {waited:.1f} s behind Maya's flood"
        finally:
            stop_process_group(server)
