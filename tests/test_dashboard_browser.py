"""The dashboard in headless Chromium, on a phone-sized screen, against the app served over HTTP.

The app runs in this process under uvicorn on 127.0.0.1 so that the test holds its clock (a
link goes stale when the test says so) and delivers the outbox itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import select

from bot.app import Services, create_app
from domain.clock import ManualClock
from handlers.broadcasts import send_broadcast
from handlers.meetings import invite_meeting
from storage.db import upgrade
from storage.demo import seed_demo
from storage.meetings import create_meeting
from storage.models import Staff
from storage.roster import import_roster
from tests.harness import MONDAY_MORNING, SCHOOL, settings_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (make test installs it as root)")
PHONE = {"width": 390, "height": 844}
LINK = re.compile(r"https?://\S+/dashboard/login/[\w-]+")

# The demo school (storage/demo): its principal, a homeroom teacher and some of its families.
PRINCIPAL = "+6281200000101"
RINA = "+6281200000105"  # Wali Kelas VII-A
YUSUF = "+6281200001003"  # ayah of Bunga Maharani, VII-A
ENDANG = "+6281200001004"  # ibu of Citra Ayuningtyas, VII-A
USING_THE_BOT = ["+6281200001009", "+6281200001010", "+6281200001016"]  # two VII-B families, one VIII-A
REPORT_DAY = """\
type: pembagian_rapor
title: Pembagian Rapor Semester Ganjil
organizer: T-001
audience: class:VII-A
location: Ruang Kelas VII-A
room_capacity: 6
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T08:20}
  - {start: 2026-12-19T08:20, end: 2026-12-19T08:40}
"""
GREEN, RED = (0x0B, 0x7A, 0x5A), (0xC0, 0x39, 0x2B)

# The test school with Budi (wali kelas VII-B) teaching only VII-B.
BUDI = "+6281200000002"


class _Server(uvicorn.Server):
    """uvicorn inside the test's event loop, leaving the process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Live:
    base: str
    services: Services
    clock: ManualClock
    http: httpx.AsyncClient

    async def say(self, phone: str, text: str | None = None, *, press: str | None = None) -> None:
        body: dict[str, Any] = {"phone": phone, **({"text": text} if text else {}),
                                **({"callback": press} if press else {})}
        response = await self.http.post(f"{self.base}/simulator/api/send", json=body)
        assert response.status_code == 200, response.text

    async def received(self, phone: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.base}/simulator/api/messages", params={"phone": phone})
        return [m for m in response.json()["messages"] if m["from"] == "bot"]

    async def link_for(self, phone: str) -> str:
        await self.say(phone, "dasbor")
        for _ in range(400):  # up to 20 s on a busy machine
            for message in reversed(await self.received(phone)):
                found = LINK.search(message["text"])
                if found:
                    return found.group(0)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no dashboard link reached {phone}")


@contextlib.asynccontextmanager
async def live_app(tmp_path: Path) -> AsyncIterator[Live]:
    """The app on a free port of 127.0.0.1, with the outbox delivered every tenth of a second."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    clock = ManualClock(MONDAY_MORNING)
    app = create_app(settings_for(url, public_base_url=base), clock=clock, run_scheduler=False, run_sender=False)
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        assert not serving.done(), "uvicorn stopped while starting"
        await asyncio.sleep(0.05)
    services: Services = app.state.services

    async def deliver() -> None:
        while True:
            await services.sender.drain_once()
            await asyncio.sleep(0.1)

    delivering = asyncio.create_task(deliver())
    try:
        async with httpx.AsyncClient() as http:
            yield Live(base, services, clock, http)
    finally:
        delivering.cancel()
        server.should_exit = True
        await serving


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=15_000)  # a busy CI machine renders slower than a laptop
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield browser
        finally:
            await browser.close()
            expect.set_options(timeout=5_000)  # Playwright's default, for the other tests


def colour_counts(png: bytes, colours: list[tuple[int, int, int]]) -> list[int]:
    """How many pixels of a PNG screenshot have each colour (8-bit RGB or RGBA, as Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data, width, height, channels = 8, b"", 0, 0, 0
    while position < len(png):
        (length,), kind = struct.unpack(">I", png[position:position + 4]), png[position + 4:position + 8]
        body = png[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            data += body
    raw, stride = zlib.decompress(data), width * channels
    previous, counts, index = bytearray(stride), [0] * len(colours), 0
    for _ in range(height):
        kind, line = raw[index], bytearray(raw[index + 1:index + 1 + stride])
        index += 1 + stride
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[x] = (line[x] + near[2]) & 255
        for x in range(0, stride, channels):
            pixel = tuple(line[x:x + 3])
            for n, colour in enumerate(colours):
                if all(abs(a - b) <= 6 for a, b in zip(pixel, colour, strict=True)):
                    counts[n] += 1
        previous = line
    return counts


async def fits_the_phone(page: Any) -> None:
    """Nothing wider than the screen: no sideways scrolling of the whole page."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} is {overflow}px wider than the phone"


async def _demo_school_with_a_year_under_way(live: Live, tmp_path: Path) -> None:
    """The demo school: some families use the bot, report day came, a mother wrote, an announcement went."""
    await seed_demo(live.services.sessions, if_empty=False)
    for phone in USING_THE_BOT:
        await live.say(phone, "menu")
    path = tmp_path / "rapor.yaml"
    path.write_text(REPORT_DAY)
    created = await create_meeting(live.services.sessions, path, default_timezone="Asia/Jakarta")
    async with live.services.sessions() as session, session.begin():
        await invite_meeting(session, created.id, now=live.clock.now(), simulator_enabled=True)
    for _ in range(400):  # up to 20 s on a busy machine
        invitation = next((m for m in await live.received(YUSUF) if m["buttons"]), None)
        if invitation:
            break
        await asyncio.sleep(0.05)
    assert invitation, "the invitation reached Yusuf"
    attend = next(b["data"] for row in invitation["buttons"] for b in row if b["data"].endswith(":attend"))
    await live.say(YUSUF, press=attend)
    await live.say(ENDANG, "Citra dibully teman sekelasnya <img src=x onerror=alert(1)>")
    live.clock.advance(seconds=(datetime(2026, 12, 19, 1, 10, tzinfo=UTC) - live.clock.now()).total_seconds())
    await live.say(RINA, "hadir 0101000002")  # Bunga's father came on report day
    async with live.services.sessions() as session, session.begin():
        principal = (await session.exec(select(Staff).where(Staff.phone == PRINCIPAL))).one()
        await send_broadcast(session, author=principal, audience="class:VII-A", text="Libur semester mulai 22 Desember.",
                             now=live.clock.now(), simulator_enabled=True)


async def test_the_principal_signs_in_from_the_chat_link_and_sees_who_is_not_reached(tmp_path: Path) -> None:
    async with live_app(tmp_path) as live, chromium() as browser:
        await _demo_school_with_a_year_under_way(live, tmp_path)
        page = await browser.new_page(viewport=PHONE)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        from playwright.async_api import expect

        # In the chat (the simulator page), the principal asks for the dashboard.
        await page.goto(f"{live.base}/?as={PRINCIPAL}")
        await page.select_option("#person", PRINCIPAL)
        await page.fill("#text", "dasbor")
        await page.click("#send")
        message = page.locator("#chat .msg.bot", has_text="/dashboard/login/")
        await expect(message).to_have_count(1, timeout=15000)
        link = LINK.search(await message.inner_text())
        assert link, "the bot's answer holds the link"

        await page.goto(link.group(0))
        await expect(page.locator("main")).to_contain_text("Masuk sebagai Drs. Suryadi Wirawan, M.Pd.")
        await page.click("#sign-in")
        await expect(page.locator("h1")).to_have_text("Jangkauan keluarga")
        assert page.url == f"{live.base}/dashboard"

        # At a glance: which families of which class the school is not reaching.
        to_phone = page.locator("#table-unreachable")
        await expect(to_phone).to_contain_text("Keluarga yang perlu ditelepon")
        # The roster names Teguh's father and Nabila's mother without a number: nothing reaches
        # them until they enrol. Families with a number are reached (the simulator stands in for WhatsApp).
        await expect(to_phone).to_contain_text("Teguh Santoso")
        await expect(to_phone).to_contain_text("Slamet Santoso (Ayah)")
        await expect(to_phone.locator("tr", has_text="Nabila Azzahra")).to_contain_text("VIII-A")
        await expect(to_phone).not_to_contain_text("Jihan Aulia")  # her mother has a number, not used yet
        await expect(to_phone).not_to_contain_text("Gilang Permana")  # his father uses the bot
        await expect(to_phone).not_to_contain_text("Bunga Maharani")
        chart = page.locator("#chart-reach svg")
        await expect(chart).to_be_visible()
        green, red = colour_counts(await chart.screenshot(), [GREEN, RED])
        assert green > 150 and red > 150, f"the reach chart shows reached and unreached families ({green}, {red})"
        await fits_the_phone(page)
        await page.screenshot(path=str(tmp_path / "reach.png"), full_page=True)

        await page.click("#table-classes >> text=VIII-A")
        await expect(page.locator("h1")).to_have_text("Kelas VIII-A")
        await expect(page.locator("#table-families")).to_contain_text("Muhammad Rizki")
        await fits_the_phone(page)

        await page.click("nav >> text=Pertemuan")
        await expect(page.locator("h1")).to_have_text("Pertemuan dengan orang tua")
        for name in ("by_month", "by_class", "by_type"):
            figure = page.locator(f"#chart-{name} svg")
            await expect(figure).to_be_visible()
            (green,) = colour_counts(await figure.screenshot(), [GREEN])
            assert green > 30, f"the {name} chart shows who attended"
        await fits_the_phone(page)
        await page.screenshot(path=str(tmp_path / "meetings.png"), full_page=True)

        await page.click("#table-meetings >> text=Pembagian Rapor Semester Ganjil")
        timetable = page.locator("#table-timetable")
        await expect(timetable).to_contain_text("Ruang Kelas VII-A")
        await expect(page.locator("main")).to_contain_text("Bunga Maharani (VII-A)")
        await expect(page.locator("main")).to_contain_text("Yusuf Maulana")
        await fits_the_phone(page)
        await page.screenshot(path=str(tmp_path / "timetable.png"), full_page=True)

        await page.click("nav >> text=Pesan Orang Tua")
        await expect(page.locator("h1")).to_have_text("Pesan orang tua")
        await page.click("#table-list >> text=Buka")
        # A counseling concern: the principal reads it only after writing why (kept in the audit log).
        await expect(page.locator(".bubble")).to_have_count(0)
        await page.fill("#reason-text", "Tindak lanjut laporan perundungan dari wali kelas")
        await page.click("#open-with-reason")
        bubble = page.locator(".bubble").first
        await expect(bubble).to_contain_text("<img src=x onerror=alert(1)>")  # shown as written...
        assert dialogs == [], "...and never run"
        await expect(page.locator(".note-box").first).to_contain_text("dicatat di log audit")
        await fits_the_phone(page)
        await page.screenshot(path=str(tmp_path / "thread.png"), full_page=True)

        await page.click("nav >> text=Pengumuman")
        await expect(page.locator("#table-broadcasts")).to_contain_text("Libur semester mulai 22 Desember.")
        await fits_the_phone(page)

        await page.click("nav >> text=Log Audit")
        audit = page.locator("#table-audit")
        await expect(audit).to_contain_text("membuka percakapan orang tua")
        await expect(audit).to_contain_text("Tindak lanjut laporan perundungan dari wali kelas")
        await expect(audit).to_contain_text("masuk ke dasbor")
        await fits_the_phone(page)

        await page.click("text=English")
        await expect(page.locator("h1")).to_have_text("Audit log")
        await page.click("nav >> text=Reach")
        await expect(page.locator("#table-unreachable")).to_contain_text("Families to phone")

        async with page.expect_download() as download:
            await page.click("#table-unreachable >> text=Download CSV")
        saved = tmp_path / "unreachable.csv"
        await (await download.value).save_as(saved)
        assert "Teguh Santoso" in saved.read_text(encoding="utf-8-sig")

        await page.click("text=Sign out")
        await page.goto(f"{live.base}/dashboard")
        await expect(page.locator("h1")).to_have_text("Please sign in")


async def test_a_reused_or_stale_link_is_refused_and_a_teacher_stays_in_their_class(tmp_path: Path) -> None:
    roster = tmp_path / "roster"
    shutil.copytree(SCHOOL, roster)
    staff = (roster / "staff.csv").read_text()
    (roster / "staff.csv").write_text(staff.replace("081200000002,id,VII-B,VII-A;VII-B", "081200000002,id,VII-B,VII-B"))
    async with live_app(tmp_path) as live, chromium() as browser:
        await import_roster(live.services.sessions, roster, school_code="UJI", school_name="SMP Uji Coba")
        from playwright.async_api import expect

        page = await browser.new_page(viewport=PHONE)
        link = await live.link_for(BUDI)
        await page.goto(link)
        await page.click("#sign-in")
        await expect(page.locator(".scope")).to_have_text("Kelas Bapak/Ibu: VII-B")

        reused = await page.goto(link)
        assert reused is not None and reused.status == 410
        await expect(page.locator("h1")).to_have_text("Tautan tidak berlaku")

        stale = await live.link_for(BUDI)
        live.clock.advance(minutes=16)
        refused = await browser.new_page(viewport=PHONE)
        answer = await refused.goto(stale)
        assert answer is not None and answer.status == 410
        await expect(refused.locator("h1")).to_have_text("Tautan tidak berlaku")
        await expect(refused.locator("main")).to_contain_text('ketik "dasbor"')

        own = await page.goto(f"{live.base}/dashboard/classes/VII-B")
        assert own is not None and own.status == 200
        await expect(page.locator("#table-families")).to_contain_text("Bima Wijaya")
        edited = await page.goto(f"{live.base}/dashboard/classes/VII-A")  # the URL edited by hand
        assert edited is not None and edited.status == 404
        await expect(page.locator("h1")).to_have_text("Halaman tidak ditemukan")
        await expect(page.locator("body")).not_to_contain_text("Citra Lestari")
        await expect(page.locator("body")).not_to_contain_text("Ani Wijaya")
        await page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
