"""The school dashboard over HTTP: a staff member asks the bot for a link, signs in, and looks.

Each test is a staff member's story: what the bot sends, what the page shows them (and what it
must not), what a CSV download holds. Time moves on the app's own clock.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from html import unescape
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from sqlalchemy import event
from sqlmodel import col, select

from handlers.broadcasts import send_broadcast
from handlers.meetings import invite_meeting
from storage.delivery import record_delivery
from storage.meetings import create_meeting
from storage.models import AuditEntry, OutboxMessage, Staff
from storage.reports import participation
from tests.harness import (
    AHMAD,
    BUDI,
    DEWI,
    HENDRA,
    JOKO,
    MAYA,
    RINA,
    SCHOOL,
    SRI,
    YULIA,
    School,
    running_school,
)

LINK = re.compile(r"(https?://\S+/dashboard/login/[\w-]+)")
COOKIE = "jembatan_dashboard"
REPORT_DAY = """\
type: pembagian_rapor
title: Pembagian Rapor Semester Ganjil
organizer: T-001
audience: class:VII-A+class:VII-B
location: Ruang Kelas VII-A
room_capacity: 2
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T08:20}
  - {start: 2026-12-19T08:20, end: 2026-12-19T08:40}
"""
REPORT_DAY_START = datetime(2026, 12, 19, 1, 0, tzinfo=UTC)  # 08.00 WIB


class Browser:
    """One person's browser on the dashboard: it keeps the cookies the app sets, and only those."""

    def __init__(self, school: School, origin: str = "http://test") -> None:
        self.school = school
        self.origin = origin
        self.cookies: dict[str, str] = {}
        self.last: httpx.Response | None = None

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers.setdefault("Origin", self.origin)
        response = await self.school.client.request(method, path, headers=headers, **kwargs)
        self.school.client.cookies.clear()  # the test client is shared: each Browser keeps its own
        for header in response.headers.get_list("set-cookie"):
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        self.last = response
        return response

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)


async def ask_for_link(school: School, phone: str, word: str = "dasbor") -> str:
    """What a staff member does in chat: ask, and read the link in the bot's answer."""
    answer = await school.say(phone, word)
    found = LINK.search(answer[-1]["text"])
    assert found, answer[-1]["text"]
    return found.group(1)


async def signed_in(school: School, phone: str) -> Browser:
    browser = Browser(school)
    link = await ask_for_link(school, phone)
    assert (await browser.get(link)).status_code == 200
    done = await browser.post(link)
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    return browser


def visible_text(html: str) -> str:
    """The words a person reads: tags gone, entities shown as their characters."""
    body = re.sub(r"<(style|title)>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def csv_links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]*format=csv[^"]*)"', html)]


async def _meeting(school: School, tmp_path: Path, text: str = REPORT_DAY) -> int:
    path = tmp_path / "meeting.yaml"
    path.write_text(text)
    created = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
    async with school.services.sessions() as session, session.begin():
        await invite_meeting(session, created.id, now=school.clock.now(), simulator_enabled=True)
    return created.id


def _press(message: dict[str, Any], answer: str) -> str:
    return next(b["data"] for row in message["buttons"] for b in row if b["data"].endswith(f":{answer}"))


# ---------------------------------------------------------------- signing in


async def test_principal_signs_in_from_the_bot_link_and_sees_how_families_are_reached(
        database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(HENDRA, "menu")  # Ani's and Bima's father uses the bot; Citra's family does not
        link = await ask_for_link(school, AHMAD)
        assert link.startswith("http://127.0.0.1:8000/dashboard/login/")  # PUBLIC_BASE_URL unset
        message = (await school.messages(AHMAD))[-1]["text"]
        assert "Ahmad Fauzi" in message and "15 menit" in message and "sekali" in message

        browser = Browser(school)
        confirm = await browser.get(link)
        assert confirm.status_code == 200
        assert "Masuk sebagai Ahmad Fauzi (Kepala Sekolah), SMP Uji Coba." in visible_text(confirm.text)
        assert COOKIE not in browser.cookies, "opening the link (a chat app's preview) signs no one in"

        signed = await browser.post(link)
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie

        page = await browser.get("/dashboard")
        assert page.status_code == 200
        text = visible_text(page.text)
        assert "Jangkauan keluarga" in text and "Seluruh sekolah" in text
        # Citra's family has not written yet, but the simulator reaches every number in the
        # roster (as WhatsApp would): nobody needs a phone call (tests/test_reach.py: who does).
        unreachable = text.split("Keluarga yang perlu ditelepon")[1].split("Jangkauan per kelas")[0]
        assert "Semua keluarga sudah terjangkau lewat chat." in unreachable
        per_class = csv_rows(await browser.get("/dashboard?format=csv&table=classes"))
        assert per_class[0][:4] == ["Kelas", "Keluarga", "Terhubung chat", "% terhubung"]
        assert per_class[1][:4] == ["VII-A", "2", "1", "50.0"] and per_class[2][:4] == ["VII-B", "1", "1", "100.0"]
        assert per_class[1][6] == "0"  # Belum terjangkau
        assert '<svg class="chart"' in page.text and "<script" not in page.text


async def test_a_used_or_stale_link_is_refused(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        link = await ask_for_link(school, AHMAD)
        first = await signed_in_with(school, link)
        assert (await first.get("/dashboard")).status_code == 200

        again = Browser(school)
        assert (await again.get(link)).status_code == 410
        reused = await again.post(link)
        assert reused.status_code == 410 and "Tautan tidak berlaku" in visible_text(reused.text)
        assert "ketik \"dasbor\"" in visible_text(reused.text)
        assert (await again.get("/dashboard")).status_code == 401

        stale = await ask_for_link(school, AHMAD, "dashboard")
        school.clock.advance(minutes=16)
        assert (await again.get(stale)).status_code == 410
        assert (await again.post(stale)).status_code == 410
        assert (await again.post("/dashboard/login/made-up")).status_code == 410

        # A page on another site cannot spend a link to sign someone in as someone else.
        fresh = await ask_for_link(school, AHMAD)
        forged = Browser(school, origin="https://attacker.example")
        assert (await forged.post(fresh)).status_code == 403 and COOKIE not in forged.cookies
        assert (await Browser(school).post(fresh)).status_code == 303, "the refused attempt spent nothing"


async def signed_in_with(school: School, link: str) -> Browser:
    browser = Browser(school)
    assert (await browser.post(link)).status_code == 303
    return browser


async def test_only_staff_get_a_link_and_it_points_at_the_public_address(sqlite_url: str) -> None:
    async with running_school(sqlite_url, public_base_url="https://jembatan.sekolah.example") as school:
        refused = await school.say(HENDRA, "dasbor")
        assert "dashboard/login" not in refused[-1]["text"]
        assert "guru" in refused[-1]["text"].lower()

        link = await ask_for_link(school, JOKO, "/Dashboard")
        assert link.startswith("https://jembatan.sekolah.example/dashboard/login/")
        assert "here is your link" in (await school.messages(JOKO))[-1]["text"]  # Joko reads English
        browser = Browser(school, origin="https://jembatan.sekolah.example")
        signed = await browser.post(link)
        assert "Secure" in signed.headers["set-cookie"]


async def test_the_session_is_signed_shared_by_every_worker_and_ends(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        browser = await signed_in(school, SRI)
        cookie = browser.cookies[COOKIE]
        assert (await Browser(school).get("/dashboard")).status_code == 401
        needed = visible_text((await Browser(school).get("/dashboard/meetings")).text)
        assert "ketik \"dasbor\" kepada bot Jembatan" in needed

        async with school.services.sessions() as session:
            principal = (await session.exec(select(Staff).where(Staff.phone == AHMAD))).one()
        staff_id, signed_at, signature = cookie.split(".")
        forged = Browser(school)
        forged.cookies[COOKIE] = f"{principal.id}.{signed_at}.{signature}"
        assert (await forged.get("/dashboard/audit")).status_code == 401, "an edited cookie is refused"

        # Another web worker (another app on the same database) accepts the same cookie.
        async with running_school(sqlite_url, clock=school.clock, import_school=False) as worker:
            other = Browser(worker)
            other.cookies[COOKIE] = cookie
            assert (await other.get("/dashboard")).status_code == 200

        # With DASHBOARD_SECRET set, workers sign with it; a worker with another secret refuses.
        secret_a, secret_b = "a" * 40, "b" * 40
        async with running_school(sqlite_url, clock=school.clock, import_school=False,
                                  dashboard_secret=secret_a) as worker_a:
            signed = await signed_in(worker_a, SRI)
            async with running_school(sqlite_url, clock=school.clock, import_school=False,
                                      dashboard_secret=secret_a) as worker_b:
                same = Browser(worker_b)
                same.cookies = dict(signed.cookies)
                assert (await same.get("/dashboard")).status_code == 200
            async with running_school(sqlite_url, clock=school.clock, import_school=False,
                                      dashboard_secret=secret_b) as worker_c:
                stranger = Browser(worker_c)
                stranger.cookies = dict(signed.cookies)
                assert (await stranger.get("/dashboard")).status_code == 401

        signed_out = await browser.post("/dashboard/logout")
        assert signed_out.status_code == 200 and COOKIE not in browser.cookies
        assert (await browser.get("/dashboard")).status_code == 401

        later = await signed_in(school, SRI)
        school.clock.advance(hours=13)
        assert (await later.get("/dashboard")).status_code == 401, "a session lasts a school day"


def test_a_weak_dashboard_secret_is_refused() -> None:
    from pydantic import ValidationError

    from bot.settings import Settings

    with pytest.raises(ValidationError, match="DASHBOARD_SECRET"):
        Settings(_env_file=None, dashboard_secret="geheim")  # type: ignore[call-arg]
    assert Settings(_env_file=None, dashboard_secret=" ").dashboard_secret is None  # type: ignore[call-arg]


# ---------------------------------------------------------------- what each role sees


def _roster_with_a_one_class_teacher(tmp_path: Path) -> Path:
    """The test school, but Budi (wali kelas VII-B) teaches only VII-B."""
    roster = tmp_path / "roster"
    shutil.copytree(SCHOOL, roster)
    staff = (roster / "staff.csv").read_text().replace(
        "T-002,Budi Santoso,teacher,081200000002,id,VII-B,VII-A;VII-B,IPA",
        "T-002,Budi Santoso,teacher,081200000002,id,VII-B,VII-B,IPA")
    assert "VII-B,VII-B,IPA" in staff
    (roster / "staff.csv").write_text(staff)
    return roster


async def test_a_teacher_sees_their_classes_and_cannot_open_another_by_editing_the_url(
        sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url, roster=_roster_with_a_one_class_teacher(tmp_path)) as school:
        await school.say(MAYA, "Nilai matematika Ani turun, mohon bantuannya")
        meeting_id = await _meeting(school, tmp_path, REPORT_DAY.replace("class:VII-A+class:VII-B", "class:VII-A"))
        budi = await signed_in(school, BUDI)

        reach = visible_text((await budi.get("/dashboard")).text)
        assert "Kelas Bapak/Ibu: VII-B" in reach
        assert "Citra Lestari" not in reach and "VII-A" not in reach

        own = await budi.get("/dashboard/classes/VII-B")
        assert own.status_code == 200 and "Bima Wijaya" in own.text and "Wali kelas: Budi Santoso" in own.text
        for url in ("/dashboard/classes/VII-A", "/dashboard/classes/VII-A?format=csv&table=families",
                    f"/dashboard/meetings/{meeting_id}", "/dashboard/concerns/1", "/dashboard/classes/IX-Z"):
            refused = await budi.get(url)
            assert refused.status_code == 404, url
            assert "Citra" not in refused.text and "Ani Wijaya" not in refused.text
            assert "Halaman tidak ditemukan" in visible_text(refused.text)
        assert (await budi.get("/dashboard/audit")).status_code == 403
        assert "Log Audit" not in visible_text((await budi.get("/dashboard")).text)

        meetings = visible_text((await budi.get("/dashboard/meetings")).text)
        assert "Pembagian Rapor" not in meetings, "a meeting of another class"

        sri = await signed_in(school, SRI)  # wali kelas VII-A, teaches both classes
        both = visible_text((await sri.get("/dashboard")).text)
        assert "Kelas Bapak/Ibu: VII-A, VII-B" in both
        assert "Citra Lestari" in (await sri.get("/dashboard/classes/VII-A")).text
        assert (await sri.get(f"/dashboard/meetings/{meeting_id}")).status_code == 200


async def test_the_principal_may_open_any_thread_and_every_opening_is_audited(database_url: str) -> None:
    attack = '<script>document.title="pwned"</script><img src=x onerror=alert(1)> =HYPERLINK("http://x")'
    async with running_school(database_url) as school:
        asked = await school.say(HENDRA, f"Pak, nilai matematika Ani turun. {attack}")
        if asked[-1]["buttons"]:  # the markup's words ("document") leave the router unsure: it asks
            await school.say(HENDRA, press="cg:academic")
        forwarded = await school.inbox(SRI)
        await school.say(SRI, "Baik Pak, Ani ikut remedial Kamis.", reply_to=forwarded[-1]["id"])

        principal = await signed_in(school, AHMAD)
        listing = await principal.get("/dashboard/concerns")
        assert "Kepala Sekolah dapat membuka setiap percakapan" in visible_text(listing.text)
        assert 'href="/dashboard/concerns/1"' in listing.text

        thread = await principal.get("/dashboard/concerns/1")
        assert thread.status_code == 200
        assert "<script>document.title" not in thread.text and "<img src=x" not in thread.text
        assert "&lt;script&gt;" in thread.text
        text = visible_text(thread.text)
        assert attack in text, "the parent's words are shown exactly as written"
        assert "Baik Pak, Ani ikut remedial Kamis." in text and "Pembukaan percakapan ini dicatat" in text
        assert "Hendra Wijaya (Ayah)" in text and "Ani Wijaya (VII-A)" in text
        rows = csv_rows(await principal.get("/dashboard/concerns/1?format=csv&table=messages"))
        assert rows[1][1:] == ["Hendra Wijaya", f"Pak, nilai matematika Ani turun. {attack}"]
        assert (await principal.get("/dashboard/concerns/1")).status_code == 200

        sri = await signed_in(school, SRI)
        assert (await sri.get("/dashboard/concerns/1")).status_code == 200  # her own case
        for phone in (DEWI, RINA, BUDI):  # the office, the counselor, another teacher: not theirs
            assert (await (await signed_in(school, phone)).get("/dashboard/concerns/1")).status_code == 404

        async with school.services.sessions() as session:
            entries = (await session.exec(select(AuditEntry.action, AuditEntry.subject, Staff.name)
                                          .join(Staff, col(Staff.id) == AuditEntry.staff_id)
                                          .order_by(col(AuditEntry.id)))).all()
        openings = [(name, subject) for action, subject, name in entries if action == "open_concern"]
        # Read twice and downloaded once by the principal; Sri's look at her own case is no oversight.
        assert openings == [("Ahmad Fauzi", "concern:1")] * 3
        audit = visible_text((await principal.get("/dashboard/audit")).text)
        assert "Ahmad Fauzi Kepala Sekolah membuka percakapan orang tua Pesan orang tua #1" in audit
        assert "Sri Wahyuni Guru masuk ke dasbor" in audit
        office = await signed_in(school, DEWI)
        assert (await office.get("/dashboard/audit")).status_code == 200


async def test_csv_cells_a_spreadsheet_would_run_are_kept_as_text(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(HENDRA, '=HYPERLINK("http://evil.example","Nilai matematika Ani turun")')
        principal = await signed_in(school, AHMAD)
        rows = csv_rows(await principal.get("/dashboard/concerns/1?format=csv&table=messages"))
        assert rows[1][2] == '\'=HYPERLINK("http://evil.example","Nilai matematika Ani turun")'


# ---------------------------------------------------------------- concerns


async def test_concerns_by_state_category_and_staff_with_the_median_first_answer(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "Nilai matematika Ani turun, mohon bantuannya")
        forwarded = await school.inbox(SRI)
        school.clock.advance(hours=2, minutes=30)
        await school.say(SRI, "Baik Bu, kami bantu.", reply_to=forwarded[-1]["id"])
        await school.say(YULIA, "Citra is being bullied by her classmates")  # to the counselor
        school.clock.advance(days=3)  # past the 24-hour limit (office hours)

        rina = await signed_in(school, RINA)
        page = visible_text((await rina.get("/dashboard/concerns")).text)
        assert "1 Lewat batas waktu" in page
        assert "2 jam 30 mnt Median jawaban pertama" in page
        mine = page.split("Pesan yang Bapak/Ibu tangani")[1].split("Tindak lanjut minggu ini")[0]
        assert "Citra Lestari" in mine and "lewat batas waktu" in mine and "Ani Wijaya" not in mine

        by_category = csv_rows(await rina.get("/dashboard/concerns?format=csv&table=by_category"))
        assert by_category[0] == ["Kategori", "Menunggu jawaban", "Lewat batas waktu", "Sudah dijawab", "Selesai",
                                  "Jumlah", "Median jawaban pertama"]
        assert ["perundungan (bullying)", "0", "1", "0", "0", "1", ""] in by_category
        assert ["pelajaran dan nilai", "0", "0", "1", "0", "1", "2.5"] in by_category
        by_staff = {row[0]: row for row in csv_rows(await rina.get("/dashboard/concerns?format=csv&table=by_staff"))}
        assert by_staff["Sri Wahyuni"][1:] == ["Guru", "0", "0", "1", "0", "1", "2.5"]
        assert by_staff["Rina Marlina"][1:4] == ["Guru BK", "0", "1"]


async def test_hand_overs_and_wrong_person_choices_per_category(database_url: str) -> None:
    async with running_school(database_url) as school:
        principal = await signed_in(school, AHMAD)
        statements: list[str] = []
        event.listen(school.services.engine.sync_engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))

        async def cost() -> int:
            statements.clear()
            assert (await principal.get("/dashboard/concerns")).status_code == 200
            return len(statements)

        await school.say(MAYA, "Mohon izin, Ani hari ini sakit demam jadi tidak masuk sekolah")  # to Sri
        before = await cost()
        assert csv_rows(await principal.get("/dashboard/concerns?format=csv&table=routing"))[1:] == []
        # Sri hands it to the guru BK; a parent re-chooses another one; a third stays put.
        offered = await school.say(SRI, "alihkan")
        await school.say(SRI, press=_press_label(offered[-1], "Guru BK: Rina Marlina"))
        ack = await school.say(YULIA, "Citra is sick today and cannot come to school")  # to Sri
        asked = await school.say(YULIA, press=ack[-1]["buttons"][0][0]["data"])
        await school.say(YULIA, press=_press_label(asked[-1], "Behaviour, feelings & friends (counselor)"))
        await school.say(HENDRA, "Bima dapat nilai jelek di IPA")
        rows = csv_rows(await principal.get("/dashboard/concerns?format=csv&table=routing"))
        assert rows == [["Kategori", "Dialihkan staf", "Dipilih ulang orang tua", "Jumlah"],
                        ["izin dan ketidakhadiran", "1", "1", "2"]]
        assert await cost() == before, "one query for the table, however many moves"


def _press_label(message: dict[str, Any], label: str) -> str:
    return next(b["data"] for row in message["buttons"] for b in row if b["label"] == label)


async def test_a_counselors_follow_ups_due_this_week(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(RINA, "kesepakatan")
        await school.say(RINA, "0071000003")
        await school.say(RINA, "Citra ikut konseling kelompok setiap Rabu <b>sepulang sekolah</b>")
        confirm = await school.say(RINA, "3 hari")  # Thursday of this week
        await school.say(RINA, press=_press(confirm[-1], "save"))
        school.clock.advance(minutes=2)  # she types at a person's pace (the bot limits floods)
        await school.say(RINA, "kesepakatan")
        await school.say(RINA, "0071000001")
        await school.say(RINA, "Ani belajar bersama teman sebangku")
        confirm = await school.say(RINA, "2 minggu")  # not this week
        await school.say(RINA, press=_press(confirm[-1], "save"))
        school.clock.advance(minutes=2)

        rina = await signed_in(school, RINA)
        html = (await rina.get("/dashboard/concerns")).text
        due = visible_text(html).split("Tindak lanjut minggu ini")[1].split("Menurut kategori")[0]
        assert "Kam, 26 Nov 2026 Citra Lestari VII-A" in due
        assert "<b>sepulang sekolah</b>" in due and "<b>sepulang" not in html
        assert "belum ditanyakan" in due and "Ani Wijaya" not in due
        sri = await signed_in(school, SRI)
        assert "Citra ikut konseling" not in (await sri.get("/dashboard/concerns")).text, "Rina's, not Sri's"


# ---------------------------------------------------------------- meetings


async def test_meeting_timetable_rsvp_attendance_and_participation_over_the_year(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        meeting_id = await _meeting(school, tmp_path)
        invitation = (await school.inbox(MAYA))[-1]
        await school.say(MAYA, press=_press(invitation, "attend"))
        invitation = (await school.inbox(YULIA))[-1]
        await school.say(YULIA, press=_press(invitation, "decline"))

        school.clock.advance(seconds=(REPORT_DAY_START - school.clock.now()).total_seconds() + 600)
        await school.say(SRI, "hadir 0071000001")

        sri = await signed_in(school, SRI)
        page = await sri.get(f"/dashboard/meetings/{meeting_id}")
        text = visible_text(page.text)
        assert "Pembagian Rapor Semester Ganjil" in text and "Ruang Kelas VII-A" in text
        assert "2 keluarga sekaligus" in text
        timetable = csv_rows(await sri.get(f"/dashboard/meetings/{meeting_id}?format=csv&table=timetable"))
        assert timetable[0] == ["Sesi", "Ruang", "Terisi", "Siswa (kelas)", "Orang tua / wali", "Jawaban",
                                "Kehadiran"]
        assert sorted({row[0] for row in timetable[1:]}) == ["2026-12-19 08:00", "2026-12-19 08:20"]
        assert {row[1] for row in timetable[1:]} == {"Ruang Kelas VII-A"}
        unassigned = csv_rows(await sri.get(f"/dashboard/meetings/{meeting_id}?format=csv&table=unassigned"))
        families = {row[3]: row[4:] for row in timetable[1:] if row[3]} | {row[0]: row[1:] for row in unassigned[1:]}
        assert families["Ani Wijaya (VII-A), Bima Wijaya (VII-B)"][0] == "Maya Wijaya"
        assert families["Ani Wijaya (VII-A), Bima Wijaya (VII-B)"][2] == "1"  # came
        assert families["Ani Wijaya (VII-A), Bima Wijaya (VII-B)"][1].startswith("Hadir")
        assert families["Citra Lestari (VII-A)"] == ["Yulia Lestari", "Tidak dapat hadir", "0"]

        overview = await sri.get("/dashboard/meetings")
        assert overview.status_code == 200
        assert 'id="chart-by_month"' in overview.text and 'id="chart-by_class"' in overview.text
        assert 'id="chart-by_type"' in overview.text and "Tahun ajaran 2026/2027" in visible_text(overview.text)
        meetings = csv_rows(await sri.get("/dashboard/meetings?format=csv&table=meetings"))
        assert meetings[1][:4] == ["2026-12-19 08:00", "Pembagian Rapor Semester Ganjil", "Pembagian Rapor",
                                   "undangan terkirim"]
        by_class = {row[0]: row for row in csv_rows(await sri.get("/dashboard/meetings?format=csv&table=by_class"))}
        async with school.services.sessions() as session:
            report = {row.class_name: row for row in await participation(session, meeting_id)}
        for name in ("VII-A", "VII-B"):  # the dashboard and `jembatan report participation` agree
            expected = report[name]
            assert by_class[name][1:8] == [str(n) for n in (expected.invited, expected.delivered, expected.read,
                                                            expected.accepted, expected.declined, expected.proxy,
                                                            expected.attended)]
        assert by_class["VII-A"][7] == "1" and by_class["VII-A"][8] == "50.0"
        last_year = visible_text((await sri.get("/dashboard/meetings?year=2025")).text)
        assert "Tahun ajaran 2025/2026" in last_year and "Pembagian Rapor Semester Ganjil" not in last_year


# ---------------------------------------------------------------- broadcasts


async def test_broadcasts_with_their_delivery_and_read_counts(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        async with school.services.sessions() as session, session.begin():
            author = (await session.exec(select(Staff).where(Staff.phone == RINA))).one()
            result = await send_broadcast(session, author=author, audience="class:VII-A",
                                          text="Besok pulang pukul 11.00 <i>rapat guru</i>", now=school.clock.now(),
                                          simulator_enabled=True)
        await school.deliver()
        async with school.services.sessions() as session, session.begin():
            sent = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.broadcast_id == result.id).order_by(col(OutboxMessage.id)))).all()
            await record_delivery(session, channels=("simulator",), external_id=sent[0].external_message_id or "",
                                  status="read", error_code=None, now=school.clock.now(), simulator_enabled=True)

        principal = await signed_in(school, AHMAD)
        page = await principal.get("/dashboard/broadcasts")
        assert "&lt;i&gt;rapat guru&lt;/i&gt;" in page.text
        rows = csv_rows(await principal.get("/dashboard/broadcasts?format=csv&table=broadcasts"))
        assert rows[0][4:10] == ["Penerima", "Menunggu", "Terkirim", "Diterima", "Dibaca", "% dibaca"]
        assert rows[1][1:4] == ["Rina Marlina", "kelas VII-A", "Besok pulang pukul 11.00 <i>rapat guru</i>"]
        assert rows[1][4:10] == [str(result.recipients), "0", str(result.recipients), "1", "1",
                                 str(round(100 / result.recipients, 1))]


# ---------------------------------------------------------------- every page, every table, both languages


async def test_every_page_in_both_languages_and_every_table_as_csv(sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(HENDRA, "Nilai matematika Ani turun")
        await _meeting(school, tmp_path)
        principal = await signed_in(school, AHMAD)
        pages = ["/dashboard", "/dashboard/classes/VII-A", "/dashboard/meetings", "/dashboard/meetings/1",
                 "/dashboard/concerns", "/dashboard/concerns/1", "/dashboard/broadcasts", "/dashboard/audit"]
        downloads = 0
        for url in pages:
            page = await principal.get(url)
            assert page.status_code == 200, url
            assert page.headers["content-security-policy"].startswith("default-src 'none'")
            assert float(page.headers["server-timing"].split("dur=")[1]) > 0
            assert "<script" not in page.text and "http://" not in page.text.replace('xmlns="http://www.w3.org', "")
            for link in csv_links(page.text):
                rows = csv_rows(await principal.get(link))
                assert rows and rows[0], link
                downloads += 1
        assert downloads >= 14

        english = await principal.get("/dashboard?lang=en")
        assert "Reaching families" in visible_text(english.text) and "Families to phone" in english.text
        assert (await principal.get("/dashboard/meetings")).text.count("Meetings with parents") >= 1, \
            "the chosen language stays"
        assert "Unduh CSV" not in (await principal.get("/dashboard/concerns")).text
        back = await principal.get("/dashboard/concerns?lang=id")
        assert "Pesan orang tua" in visible_text(back.text)

        joko = await signed_in(school, JOKO)  # an English-speaking teacher
        assert "Your classes: VII-A, VII-B" in visible_text((await joko.get("/dashboard")).text)
        assert "Bapak/Ibu" not in (await joko.get("/dashboard/meetings")).text


def test_dashboard_words_exist_in_both_languages() -> None:
    root = Path(__file__).resolve().parents[1] / "templates"

    def keys(node: Any, prefix: str = "") -> set[str]:
        found = set()
        for key, value in node.items():
            found.add(prefix + str(key))
            if isinstance(value, dict):
                found |= keys(value, f"{prefix}{key}.")
        return found

    id_words = yaml.safe_load((root / "id" / "words.yaml").read_text())["dashboard"]
    en_words = yaml.safe_load((root / "en" / "words.yaml").read_text())["dashboard"]
    assert keys(id_words) == keys(en_words)
    assert (root / "id" / "dashboard_link.j2").exists() and (root / "en" / "dashboard_link.j2").exists()


# ---------------------------------------------------------------- a few queries per page


async def test_pages_cost_the_same_few_queries_however_many_rows(sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url) as school:
        principal = await signed_in(school, AHMAD)
        statements: list[str] = []
        event.listen(school.services.engine.sync_engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        pages = ["/dashboard", "/dashboard/classes/VII-A", "/dashboard/meetings", "/dashboard/concerns",
                 "/dashboard/broadcasts"]

        async def cost() -> dict[str, int]:
            counts = {}
            for url in pages:
                statements.clear()
                assert (await principal.get(url)).status_code == 200
                counts[url] = len(statements)
            return counts

        await school.say(HENDRA, "Nilai matematika Ani turun")
        await _meeting(school, tmp_path)
        async with school.services.sessions() as session, session.begin():
            author = (await session.exec(select(Staff).where(Staff.phone == AHMAD))).one()
            await send_broadcast(session, author=author, audience="school", text="Pengumuman pertama",
                                 now=school.clock.now(), simulator_enabled=True)
        few = await cost()
        for text in ("Ani sering terlambat", "Citra dirundung temannya"):
            await school.say(YULIA if "Citra" in text else MAYA, text)
        for n in range(3):
            await _meeting(school, tmp_path, REPORT_DAY.replace("2026-12-19", f"2026-12-{20 + n}"))
        async with school.services.sessions() as session, session.begin():
            author = (await session.exec(select(Staff).where(Staff.phone == AHMAD))).one()
            for n in range(3):
                await send_broadcast(session, author=author, audience="school", text=f"Pengumuman {n}",
                                     now=school.clock.now() + timedelta(seconds=n), simulator_enabled=True)
        many = await cost()
        assert many == few, (few, many)
        assert max(many.values()) <= 14, many  # the class page: reach, meetings and concerns


async def test_logging_out_ends_the_session_everywhere_even_for_a_copied_cookie(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        browser = await signed_in(school, SRI)
        copied = Browser(school)  # the same cookie, kept elsewhere (another tab, a stolen copy)
        copied.cookies = dict(browser.cookies)
        other_device = await signed_in(school, SRI)
        assert (await copied.get("/dashboard")).status_code == 200

        assert (await browser.post("/dashboard/logout")).status_code == 200
        assert (await copied.get("/dashboard")).status_code == 401, "the old cookie still opened the dashboard"
        assert (await other_device.get("/dashboard")).status_code == 401  # signing out ends them all
        async with running_school(sqlite_url, clock=school.clock, import_school=False) as worker:
            elsewhere = Browser(worker)
            elsewhere.cookies = dict(copied.cookies)
            assert (await elsewhere.get("/dashboard")).status_code == 401, "another worker refuses it too"

        again = await signed_in(school, SRI)  # a new link starts a new session
        assert (await again.get("/dashboard")).status_code == 200
        assert (await copied.get("/dashboard")).status_code == 401


async def test_the_office_sees_how_many_messages_are_parked_without_their_words(sqlite_url: str) -> None:
    from storage.models import InboxMessage

    async with running_school(sqlite_url) as school:
        office = await signed_in(school, DEWI)
        page = visible_text((await office.get("/dashboard/audit")).text)
        assert "Semua pesan yang diterima sudah terproses" in page
        # A stored update the bot cannot read (no sender in it): parked at once.
        words = "Anak saya Ani sakit, mohon izin tiga hari."
        async with school.services.sessions() as session, session.begin():
            row = InboxMessage(channel="simulator", external_id="corrupt-1", received_at=school.clock.now(),
                               payload={"id": "corrupt-1", "text": words, "name": "Maya Wijaya"})
            session.add(row)
        await school.services.inbox.process(row.id)  # type: ignore[arg-type]
        page = visible_text((await office.get("/dashboard/audit")).text)
        assert "Pesan yang belum terproses (1)" in page and "pengelola server" in page
        assert words not in page and "Ani" not in page and "Maya" not in page
        principal = await signed_in(school, AHMAD)
        assert "belum terproses" not in visible_text((await principal.get("/dashboard/audit")).text)
