"""A new user's first steps with the demo-like test school, as their phone shows them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from domain.clock import ManualClock
from handlers.meetings import invite_meeting
from storage.meetings import create_meeting
from tests.fakes.telegram_updates import text_update
from tests.fakes.twilio_forms import inbound_form, new_message_sid
from tests.harness import AHMAD, BUDI, HENDRA, MAYA, RAHMAT, RINA, SCHOOL, SRI, YULIA, running_school, until_healthy
from tests.phones import network
from tests.test_cli import jembatan
from tests.test_dashboard import csv_rows, signed_in, visible_text
from tests.test_telegram import STRANGER_TG, telegram_school

MEETING = """\
type: rapat_komite
title: Rapat Komite
organizer: T-001
audience: class:VII-A
location: Aula Sekolah
room_capacity: 40
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T12:00}
"""


async def test_a_father_is_bapak_a_mother_ibu_and_a_foster_parent_bapak_ibu(database_url: str,
                                                                             tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        assert "Selamat datang, Bapak Hendra Wijaya" in (await school.say(HENDRA, "menu"))[0]["text"]
        assert "Selamat datang, Ibu Maya Wijaya" in (await school.say(MAYA, "menu"))[0]["text"]
        assert "Selamat datang, Bapak/Ibu Rahmat Hidayat" in (await school.say(RAHMAT, "menu"))[0]["text"]
        assert "Halo, Ibu Maya Wijaya" in (await school.say(MAYA, "menu"))[0]["text"]

        path = tmp_path / "meeting.yaml"
        path.write_text(MEETING)
        meeting = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting.id, now=school.clock.now(), simulator_enabled=True)
        assert "Yth. Bapak Hendra Wijaya," in (await school.inbox(HENDRA))[0]["text"]
        assert "Yth. Ibu Maya Wijaya," in (await school.inbox(MAYA))[0]["text"]


async def test_people_read_words_never_the_codes_behind_them(database_url: str) -> None:
    """The siaran preview, the dashboard's announcements, audit log and concerns CSV, the simulator."""
    async with running_school(database_url) as school:
        await school.say(RINA, "siaran")
        await school.say(RINA, "VII-A")
        preview = (await school.say(RINA, "Jumat depan ada pemeriksaan kesehatan."))[-1]
        assert "(kelas VII-A)" in preview["text"] and "class:" not in preview["text"]
        await school.say(RINA, press=next(b["data"] for row in preview["buttons"] for b in row
                                          if b["data"] == "sb:send"))
        await school.say(HENDRA, "Nilai matematika Ani turun, mohon bimbingannya")

        principal = await signed_in(school, AHMAD)
        announcements = visible_text((await principal.get("/dashboard/broadcasts")).text)
        assert "kelas VII-A" in announcements and "class:" not in announcements
        assert (await principal.get("/dashboard/concerns/1")).status_code == 200
        audit = visible_text((await principal.get("/dashboard/audit")).text)
        assert "Pengumuman #1" in audit and "Pesan orang tua #1" in audit
        assert not re.search(r"(broadcast|concern|meeting):\d", audit)

        listing = csv_rows(await principal.get("/dashboard/concerns?format=csv&table=list"))
        assert listing[0][-1] == "Status" and all(row[-1] for row in listing), listing
        assert listing[1][-1] == "menunggu jawaban"

        people = (await school.client.get("/simulator/api/people")).json()["people"]
        said = {p["name"]: f'{p["role"]} · {p.get("detail") or ", ".join(p.get("children", []))}' for p in people}
        assert said["Rina Marlina"] == "Guru BK · kelas 7"
        assert said["Sri Wahyuni"] == "Wali Kelas · kelas VII-A · Matematika"
        assert said["Hendra Wijaya"].startswith("Ayah · ")
        english = (await school.client.get("/simulator/api/people", params={"lang": "en"})).json()["people"]
        assert {p["role"] for p in english} >= {"Guidance Counselor (Guru BK)", "Principal", "Father"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_dashboard_link_points_where_the_server_was_started(tmp_path: Path) -> None:
    """`jembatan serve --port P` without PUBLIC_BASE_URL: the `dasbor` link opens on port P."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "TWILIO_", "PUBLIC_BASE_URL", "JEMBATAN_SERVED_AT"))}
    env.update({"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}", "LOG_LEVEL": "WARNING"})
    for args in (("db", "upgrade"), ("roster", "import", str(SCHOOL), "--school", "UJI")):  # in this process
        assert jembatan(*args, database_url=env["DATABASE_URL"], cwd=tmp_path).returncode == 0
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    origin = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=origin, timeout=30) as client:
            await until_healthy(origin, server)
            await client.post("/simulator/api/send", json={"phone": SRI, "text": "dasbor"})
            link = None
            for _ in range(100):  # the sender delivers within a second
                said = (await client.get("/simulator/api/messages", params={"phone": SRI})).json()["messages"]
                link = next((m["text"] for m in said if m["from"] == "bot" and "/dashboard/login/" in m["text"]), None)
                if link:
                    break
                await asyncio.sleep(0.1)
            assert link and f"{origin}/dashboard/login/" in link, link
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


async def test_an_invitation_says_when_the_meeting_ends_and_the_tab_has_an_icon(sqlite_url: str,
                                                                               tmp_path: Path) -> None:
    async with running_school(sqlite_url) as school:
        path = tmp_path / "meeting.yaml"
        path.write_text(MEETING)
        meeting = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting.id, now=school.clock.now(), simulator_enabled=True)
        invitation = (await school.inbox(HENDRA))[0]["text"]
        assert "Waktu: Sabtu, 19 Desember 2026 pukul 08.00 WIB – 12.00 WIB" in invitation

        icon = await school.client.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
        # An ICO directory of one 16×16 32-bit image whose bitmap fills the rest of the file.
        assert struct.unpack_from("<HHH", icon.content) == (0, 1, 1)
        width, height, _, _, _, bits, size, offset = struct.unpack_from("<BBBBHHII", icon.content, 6)
        assert (width, height, bits) == (16, 16, 32) and offset + size == len(icon.content)
        assert struct.unpack_from("<Iii", icon.content, offset) == (40, 16, 32)


async def test_a_student_is_named_the_same_way_everywhere_and_asked_about_when_unclear(
        database_url: str, tmp_path: Path) -> None:
    """`hadir`, `kesepakatan` and `panggil` all take a name or a NISN, and ask which when several fit."""
    async with running_school(database_url, clock=ManualClock(datetime(2026, 12, 19, 1, 30, tzinfo=UTC))) as school:
        path = tmp_path / "meeting.yaml"
        path.write_text(MEETING.replace("class:VII-A", "class:VII-A+class:VII-B"))
        meeting = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting.id, now=school.clock.now(), simulator_enabled=True)

        recorded = (await school.say(SRI, "hadir Citra"))[-1]["text"]
        assert "Citra Lestari" in recorded and "tidak ditemukan" not in recorded
        unknown = (await school.say(SRI, "hadir Gilang"))[-1]["text"]
        assert "Gilang tidak ditemukan" in unknown and "nama atau NISN" in unknown
        which = (await school.say(SRI, "hadir wijaya"))[-1]
        assert [b["label"] for row in which["buttons"] for b in row] == [
            "Ani Wijaya (0071000001)", "Bima Wijaya (0071000002)"]
        assert "Bima Wijaya" in (await school.say(SRI, press=which["buttons"][1][0]["data"]))[-1]["text"]

        await school.say(RINA, "kesepakatan")
        asked = (await school.say(RINA, "Wijaya"))[-1]
        assert "Siswa yang mana" in asked["text"]
        assert "Bima Wijaya" in (await school.say(RINA, press=asked["buttons"][1][0]["data"]))[-1]["text"]


async def test_a_greeting_is_answered_with_a_greeting_and_the_menu(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(HENDRA, "menu")
        morning = (await school.say(HENDRA, "Selamat pagi bu"))[-1]["text"]
        assert morning.startswith("Selamat pagi, Bapak Hendra Wijaya") and "Yang dapat Bapak/Ibu lakukan" in morning
        salam = (await school.say(HENDRA, "Assalamualaikum"))[-1]["text"]
        assert salam.startswith("Waalaikumsalam warahmatullahi wabarakatuh, Bapak Hendra Wijaya")
        assert (await school.say(YULIA, "Hi"))[-1]["text"].startswith("Hello, Yulia Lestari")
        assert await school.inbox(SRI) == [] and await school.inbox(BUDI) == [], "no concern was started"
        # More than a greeting is a concern, as before.
        asked = (await school.say(HENDRA, "Halo bu, PR IPA kemarin kurang jelas"))[-1]["text"]
        assert "Yang dapat Bapak/Ibu lakukan" not in asked


async def test_a_whatsapp_location_is_told_what_the_bot_can_take(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        await maya.new()
        form = inbound_form(message_sid=new_message_sid(), from_phone=MAYA, body="")
        form.update({"Latitude": "-6.2088", "Longitude": "106.8456", "MessageType": "location"})
        assert (await net.post_twilio("/webhooks/whatsapp", form)).status_code == 200
        told = (await maya.new())[-1]["text"]
        assert "kosong" not in told and "lokasi" in told and "foto (JPG/PNG), dan dokumen PDF" in told


async def test_an_unknown_telegram_user_is_welcomed_once_then_reminded_briefly(sqlite_url: str) -> None:
    async with telegram_school(sqlite_url) as school:
        first = await school.send(text_update(school.uid(), STRANGER_TG, "Halo"))
        assert "Selamat datang di Jembatan" in first[0]["text"]
        for words in ("Anak saya kelas VII-A", "Halo?"):
            again = (await school.send(text_update(school.uid(), STRANGER_TG, words)))[0]
            assert "Selamat datang" not in again["text"] and "Bagikan nomor telepon saya" in again["text"]
            assert again["reply_markup"]["keyboard"][0][0]["request_contact"] is True


async def test_a_parent_of_two_may_answer_both_and_something_else_goes_to_the_wali_kelas(
        database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(HENDRA, "menu")
        which = (await school.say(HENDRA, "Mau tanya sesuatu tentang anak saya"))[-1]
        assert '"batal"' in which["text"] and '"keduanya"' in which["text"]
        category = (await school.say(HENDRA, "dua-duanya"))[-1]
        assert "Ani Wijaya (VII-A) dan Bima Wijaya (VII-B)" in category["text"]
        assert '"batal"' in category["text"] and "Lainnya" in [b["label"] for row in category["buttons"] for b in row]
        told = await school.say(HENDRA, "lainnya")
        assert len([m for m in told if "sudah kami teruskan" in m["text"]]) == 2  # one concern per child
        sri, budi = await school.inbox(SRI), await school.inbox(BUDI)  # each child's wali kelas
        assert "Ani Wijaya" in sri[-1]["text"] and "Bima Wijaya" in budi[-1]["text"]
        assert "Mau tanya sesuatu" in sri[-1]["text"] and "Mau tanya sesuatu" in budi[-1]["text"]


async def test_staff_see_the_time_a_family_booked_not_the_first_free_time(sqlite_url: str) -> None:
    """A summons where the family picks: `rapat` and the dashboard show the booked time, and the
    meeting's page lists the sessions held with a count of the empty ones."""
    async with running_school(sqlite_url) as school:
        await school.say(RINA, "jadwal")
        await school.say(RINA, "Selasa 13.00-14.00, Sabtu 09.00-10.00")
        await school.say(HENDRA, "jadwal")
        await school.say(HENDRA, "Sabtu 08.00-12.00")
        await school.say(RINA, "panggil")
        await school.say(RINA, "Bima")
        when = await school.say(RINA, "Bima sering terlambat masuk kelas.")
        await school.say(RINA, press=next(b["data"] for row in when[-1]["buttons"] for b in row
                                          if b["data"].endswith(":when:choose")))
        await school.say(RINA, "Ruang BK")
        await school.say(RINA, press="pg:confirm")
        assert "Waktu dipilih keluarga; belum memilih." in (await school.say(RINA, "rapat"))[-1]["text"]
        received = await school.inbox(HENDRA)
        assert len(received) == 1, "the summons is one message with one choice"
        offer = received[0]
        labels = [b["label"] for row in offer["buttons"] for b in row]
        assert labels[-2:] == ["Minta waktu lain kepada guru", "Tidak dapat hadir"] and "Hadir" not in labels
        assert "silakan pilih salah satu waktu di bawah" in offer["text"] and "Jam pastinya" not in offer["text"]
        saturday = next(b for row in offer["buttons"] for b in row if b["data"].startswith("sl:t:"))
        await school.say(HENDRA, press=saturday["data"])  # "Sab, 28 Nov 09.00–09.30"

        overview = (await school.say(RINA, "rapat"))[-1]["text"]
        booked_clock = saturday["label"].split(" ")[-1]  # 09.00–09.30
        start, end = booked_clock.split("–")
        assert f"pukul {start} WIB – {end} WIB" in overview and "Selasa" not in overview
        page = visible_text((await (await signed_in(school, RINA)).get("/dashboard/meetings/1")).text)
        assert re.search(rf"Tanggal \d+ \w+ 2026, {start}–{end} ", page), page
        assert "sesi lain masih kosong" in page
        assert page.count("Belum ada keluarga di sesi ini") == 0


async def test_after_another_time_is_asked_the_organizer_sees_when_the_family_is_free_and_offers_a_time(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        await school.say(HENDRA, "jadwal")
        await school.say(HENDRA, "Sabtu pagi")
        path = tmp_path / "meeting.yaml"
        path.write_text(MEETING)
        meeting = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting.id, now=school.clock.now(), simulator_enabled=True)
        invitation = (await school.inbox(HENDRA))[-1]
        await school.say(HENDRA, press=next(b["data"] for row in invitation["buttons"] for b in row
                                            if b["data"].endswith(":other_time")))
        notice = (await school.inbox(SRI))[-1]
        assert "meminta waktu lain" in notice["text"] and "Sabtu pagi" in notice["text"]
        labels = {b["label"]: b["data"] for row in notice["buttons"] for b in row}
        assert set(labels) == {"Tawarkan waktu yang masih kosong", "Usulkan waktu baru"}
        assert "minta waktu lain 1" in (await school.say(SRI, "rapat"))[-1]["text"]

        offered = (await school.say(SRI, press=labels["Tawarkan waktu yang masih kosong"]))[-1]["text"]
        assert "Terkirim kepada Hendra Wijaya (Rapat Komite): Sab, 19 Des 08.00–12.00 WIB" in offered
        assert "Sab, 19 Des 08.00–12.00" in (await school.inbox(HENDRA))[-1]["buttons"][0][0]["label"]
        asked = (await school.say(SRI, press=labels["Usulkan waktu baru"]))[-1]["text"]
        assert "misalnya" in asked and '"batal"' in asked
        assert "Terkirim kepada Hendra Wijaya" in (await school.say(SRI, "Sabtu 26 Desember 09.00"))[-1]["text"]
        offer = (await school.inbox(HENDRA))[-1]
        assert "mengusulkan waktu berikut" in offer["text"] and "Sab, 26 Des 09.00–13.00" in offer["buttons"][0][0]["label"]
        booked = (await school.say(HENDRA, press=offer["buttons"][0][0]["data"]))[-1]["text"]
        assert "sudah kami catat" in booked
        assert any("memesan waktu" in m["text"] for m in await school.inbox(SRI))


async def test_undang_takes_a_date_as_people_say_it_and_a_refusal_shows_one_that_works(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(SRI, "undang")
        await school.say(SRI, "VII-A")
        await school.say(SRI, press="ug:type:rapat_komite")
        when = (await school.say(SRI, press="ug:title"))[-1]["text"]
        assert "Sabtu 19 Desember jam 8 pagi sampai jam 12" in when  # an example that works
        refused = (await school.say(SRI, "Sabtu sore nanti"))[-1]["text"]
        assert "belum dapat membaca" in refused and "Sabtu 19 Desember jam 8 pagi sampai jam 12" in refused
        where = (await school.say(SRI, "Sabtu 19 Desember jam 8 pagi sampai jam 12"))[-1]["text"]
        assert "belum dapat membaca" not in where
        summary = (await school.say(SRI, "Aula"))[-1]["text"]
        while "Kirim sekarang?" not in summary:  # "what to bring": nothing
            summary = (await school.say(SRI, "tidak ada"))[-1]["text"]
        assert "Waktu: Sabtu, 19 Desember 2026 pukul 08.00 WIB – 12.00 WIB" in summary
