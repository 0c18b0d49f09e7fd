"""A newcomer's walk through the demo school in Chromium, scanning everything people read.

A parent, a wali kelas, the guru BK and the principal use the simulator page and the dashboard
as a new school would on its first day; every chat message and every page they see is then
checked for what issue 20 found: lines glued together, doubled full stops after a title, audience
codes and internal ids, English role names on Indonesian pages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from handlers.meetings import invite_meeting
from storage.demo import seed_demo
from storage.meetings import create_meeting
from storage.models import OutboxMessage
from tests.test_dashboard_browser import CHROMIUM, LINK, PHONE, chromium, live_app
from tests.test_simulator_browser import person

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (make test installs it as root)")

# The demo school (storage/demo).
PRINCIPAL = "+6281200000101"  # Drs. Suryadi Wirawan, M.Pd.
DEWI = "+6281200000103"  # Dewi Kartikasari, S.Psi., guru BK of grade 7
RINA = "+6281200000105"  # Rina Marlina, S.Pd., wali kelas VII-A, Matematika
YUSUF = "+6281200001003"  # ayah of Bunga Maharani, VII-A
RATNA = "+6281200001001"  # ibu of Aditya Pratama (VII-A) and a child in VIII
NAMES = {PRINCIPAL: "Drs. Suryadi Wirawan", DEWI: "Dewi Kartikasari", RINA: "Rina Marlina",
         YUSUF: "Yusuf Maulana", RATNA: "Ratna Pratiwi"}
REPORT_DAY = """\
type: pembagian_rapor
title: Pembagian Rapor Semester Ganjil
organizer: T-001
audience: class:VII-A
location: Ruang Kelas VII-A
room_capacity: 6
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T12:00}
"""

DEFECTS = {
    "a line glued to the next": re.compile(r"[A-Za-z0-9.)](Tempat|Waktu|Pukul|Ruang|Acara|Keperluan|Dari|Peserta)\b"),
    "a doubled full stop": re.compile(r"(?<!\.)\.\.(?!\.)"),
    "an audience code": re.compile(r"\b(class|grade|student):"),
    "an internal id": re.compile(r"\b(meeting|broadcast|concern):\d"),
}
ENGLISH_ROLES = re.compile(r"\b(teacher|counselor|principal|homeroom_teacher|subject_teacher|admin)\b", re.I)


def defects(where: str, text: str, *, indonesian: bool = True) -> list[str]:
    found = [f"{where}: {name}: …{text[max(0, m.start() - 40):m.end() + 20]}…"
             for name, pattern in DEFECTS.items() for m in pattern.finditer(text)]
    if indonesian:
        found += [f"{where}: English role name {m.group(0)!r}" for m in ENGLISH_ROLES.finditer(text)]
    return found


def _sent(response: Any) -> bool:
    """The simulator page's own POST of a message: once it answers, the message is handled."""
    return response.url.endswith("/simulator/api/send")


class Simulator:
    """The simulator page on a phone screen: pick a person, type, press the buttons shown."""

    def __init__(self, page: Any, live: Any) -> None:
        self.page, self.live = page, live

    async def as_(self, phone: str) -> None:
        """Choose the person in the simulator's list by name (its options hold no phone number)."""
        await self.page.select_option("#person", await person(self.page, NAMES[phone]))

    async def _count(self, phone: str) -> int:
        return len(await self.live.received(phone))

    async def _outbox_drained(self) -> bool:
        async with self.live.services.sessions() as session:
            return (await session.exec(select(OutboxMessage.id).where(
                OutboxMessage.status == "pending"))).first() is None

    async def _wait_for_more(self, phone: str, before: int) -> list[dict[str, Any]]:
        for _ in range(600):
            # One turn's answers are written together: once the first has arrived and nothing is
            # left to send, the turn is complete (a fixed pause was too short on a busy machine).
            if len(await self.live.received(phone)) > before and await self._outbox_drained():
                return (await self.live.received(phone))[before:]
            await self.page.wait_for_timeout(50)
        raise AssertionError(f"{phone} got no answer")

    async def say(self, phone: str, text: str) -> list[dict[str, Any]]:
        await self.as_(phone)
        return await self.send(phone, text)

    async def send(self, phone: str, text: str) -> list[dict[str, Any]]:
        """Type and send as the person already chosen (a reply keeps what it answers)."""
        before = await self._count(phone)
        await self.page.fill("#text", text)
        async with self.page.expect_response(_sent):  # handled, its answers in the outbox
            await self.page.click("#send")
        return await self._wait_for_more(phone, before)

    async def press(self, phone: str, label: str) -> list[dict[str, Any]]:
        await self.as_(phone)
        before = await self._count(phone)
        async with self.page.expect_response(_sent):
            await self.page.locator("#chat .msg.bot").last.get_by_role("button", name=label, exact=True).click()
        return await self._wait_for_more(phone, before)


async def test_the_demo_as_a_parent_a_teacher_a_counselor_and_the_principal(tmp_path: Path) -> None:
    async with live_app(tmp_path) as live, chromium() as browser:
        await seed_demo(live.services.sessions, if_empty=False)
        path = tmp_path / "rapor.yaml"
        path.write_text(REPORT_DAY)
        meeting = await create_meeting(live.services.sessions, path, default_timezone="Asia/Jakarta")
        async with live.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting.id, now=live.clock.now(), simulator_enabled=True)

        page = await browser.new_page(viewport=PHONE)
        await page.goto(live.base)
        sim = Simulator(page, live)
        # The page fills the list once its own request for the people returns: wait for it.
        await page.locator("#person option").first.wait_for(state="attached")
        people = await page.locator("#person option").all_inner_texts()
        assert any("Guru BK · kelas 7" in p for p in people) and any("Ayah · " in p for p in people), people

        # Too long for one message: said so, nothing cut, nothing sent.
        await sim.as_(YUSUF)
        await page.fill("#text", "Bu, " + "nilai Bunga turun. " * 260)
        await page.click("#send")
        notice = page.locator("#notice")
        await notice.wait_for(state="visible")
        assert "4.096" in await notice.inner_text()
        mine = (await live.http.get(f"{live.base}/simulator/api/messages", params={"phone": YUSUF})).json()
        assert [m for m in mine["messages"] if m["from"] == "me"] == [], "nothing was sent"
        await page.fill("#text", "")

        # A father: a greeting, the invitation, a concern about his daughter.
        greeted = await sim.say(YUSUF, "Selamat pagi bu")
        assert greeted[-1]["text"].startswith("Selamat pagi, Bapak Yusuf Maulana")
        invitation = next(m for m in await live.received(YUSUF) if "Pembagian Rapor" in m["text"])
        assert "pukul 08.00 WIB – 12.00 WIB" in invitation["text"]
        await sim.say(YUSUF, "Bu, nilai ulangan matematika Bunga turun, mohon bimbingannya")

        # A mother of two: not sure which child nor what kind: "keduanya", then "Lainnya".
        await sim.say(RATNA, "menu")
        await sim.say(RATNA, "Mau tanya sesuatu tentang anak saya")
        await sim.say(RATNA, "keduanya")
        sent_on = await sim.press(RATNA, "Lainnya")
        assert len([m for m in sent_on if "sudah kami teruskan" in m["text"]]) == 2

        # The wali kelas answers, looks at her meeting, records who came.
        await sim.as_(RINA)
        forwarded = page.locator("#chat .msg.bot", has_text="nilai ulangan matematika Bunga turun")
        await forwarded.locator("button.reply").click()
        sent = await sim.send(RINA, "Baik Pak, Bunga ikut remedial hari Kamis.")
        assert any("Terkirim kepada Yusuf Maulana" in m["text"] for m in sent), sent
        table = (await sim.say(RINA, f"rapat {meeting.id}"))[-1]["text"]
        assert "jembatan report" not in table and f"/dashboard/meetings/{meeting.id}" in table
        live.clock.advance(days=26)  # report day, 08.30
        assert "Bunga Maharani" in (await sim.say(RINA, "hadir Bunga"))[-1]["text"]

        # The guru BK announces to a class and summons a family.
        await sim.say(DEWI, "siaran")
        await sim.say(DEWI, "VII-A")
        preview = (await sim.say(DEWI, "Jumat depan ada pemeriksaan kesehatan. Mohon anak sarapan."))[-1]
        assert "(kelas VII-A)" in preview["text"]
        await sim.press(DEWI, "Kirim sekarang")
        await sim.say(DEWI, "panggil Gilang")
        await sim.say(DEWI, "Gilang tiga kali terlambat masuk kelas bulan ini.")
        await sim.say(DEWI, "Senin, 4 Januari 2027 pukul 13.00 WIB")
        summary = (await sim.say(DEWI, "Ruang BK"))[-1]["text"]
        assert re.search(r"\n(Tempat|Where): Ruang BK", summary), summary
        await sim.press(DEWI, "Kirim")
        await sim.say(DEWI, "rapat")

        # The wali kelas and the guru BK look at their dashboards, each in their own browser.
        pages: dict[str, str] = {}
        for phone in (RINA, DEWI):
            context = await browser.new_context(viewport=PHONE)
            own = await context.new_page()
            link = LINK.search((await sim.say(phone, "dasbor"))[-1]["text"])
            assert link and link.group(0).startswith(live.base)
            await own.goto(link.group(0))
            await own.click("button[type=submit]")
            await own.wait_for_url(f"{live.base}/dashboard")
            for url in ("/dashboard", "/dashboard/meetings", "/dashboard/concerns", "/dashboard/broadcasts"):
                response = await own.goto(f"{live.base}{url}")
                assert response is not None and response.status == 200, (phone, url)
                pages[f"{phone} {url}"] = await own.inner_text("body")
            await context.close()

        # The principal signs in from the bot's link and opens every page.
        link = LINK.search((await sim.say(PRINCIPAL, "dasbor"))[-1]["text"])
        assert link and link.group(0).startswith(live.base)
        await page.goto(link.group(0))
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{live.base}/dashboard")
        for url in ("/dashboard", "/dashboard/classes/VII-A", "/dashboard/meetings", f"/dashboard/meetings/{meeting.id}",
                    f"/dashboard/meetings/{meeting.id + 1}", "/dashboard/concerns", "/dashboard/concerns/1",
                    "/dashboard/broadcasts", "/dashboard/audit"):
            response = await page.goto(f"{live.base}{url}")
            assert response is not None and response.status == 200, url
            pages[url] = await page.inner_text("body")
        assert "Pengumuman #1" in pages["/dashboard/audit"]
        assert (await page.goto(f"{live.base}/favicon.ico")).status == 200  # type: ignore[union-attr]

        # Everything read, scanned.
        await page.goto(live.base)
        found: list[str] = []
        messages = [m for phone in (YUSUF, RATNA, RINA, DEWI, PRINCIPAL) for m in await live.received(phone)]
        assert len(messages) >= 25  # the whole walk's chat, not a sample
        for message in messages:
            found += defects("chat", message["text"], indonesian=False)
        for url, text in pages.items():
            found += defects(url, text)
        found += defects("simulator", "\n".join(await page.locator("#person option").all_inner_texts()))
        assert found == []
