"""The school office's day in headless Chromium on a phone-sized screen: from the Dapodik export
to linked families, without a terminal (tests/test_office.py has the access checks).

The school starts with its staff list and last term's export; the office uploads this term's
export, reads the preview, saves it, prints a class's letters, a mother enrols with the code on
her letter, the office confirms her and later corrects her number.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from sqlmodel import select

from storage.models import AuditEntry, ChannelAccount, Guardian, Student
from storage.roster import import_roster
from tests.dapodik_export import make_students, write_export
from tests.test_dashboard_browser import PHONE, Live, chromium, fits_the_phone, live_app
from tests.test_enrolment import OFFICE, STAFF, STRANGER, _ani

SHOTS = Path(__file__).parent / "screenshots"  # written only when the folder exists (for review)


async def _shot(page: Any, name: str) -> None:
    await fits_the_phone(page)
    if SHOTS.is_dir():
        await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def _bot_says(live: Live, phone: str, seen: int) -> list[dict[str, Any]]:
    for _ in range(400):  # up to 20 s on a busy machine
        messages = await live.received(phone)
        if len(messages) > seen:
            return messages[seen:]
        await asyncio.sleep(0.05)
    raise AssertionError(f"the bot did not answer {phone}")


def _button(message: dict[str, Any], label: str) -> str:
    for row in message["buttons"]:
        for button in row:
            if label in str(button.get("text") or button.get("label") or ""):
                return str(button["data"])
    raise AssertionError(f"no button {label!r} in {message['buttons']}")


async def test_the_office_takes_the_school_from_its_dapodik_export_to_invitations_sent(tmp_path: Path) -> None:
    folder = tmp_path / "smpn3"
    folder.mkdir()
    write_export(folder / "daftar_pd.xlsx", [_ani(), *make_students(4, ["7 A"], start=75000010)])
    (folder / "staff.csv").write_text(STAFF, encoding="utf-8")
    this_term = tmp_path / "Daftar Peserta Didik 2026.xlsx"
    write_export(this_term, [_ani(), *make_students(4, ["7 A"], start=75000010),
                             *make_students(6, ["7 B"], start=75000100)])
    async with live_app(tmp_path) as live, chromium() as browser:
        from playwright.async_api import expect

        await import_roster(live.services.sessions, folder, school_code="SMPN3",
                            school_name="SMP Negeri 3 Lubuk Alung")
        page = await browser.new_page(viewport=PHONE, accept_downloads=True)
        await page.goto(await live.link_for(OFFICE))
        await page.click("#sign-in")
        await page.click("nav >> text=Tata Usaha")
        await expect(page.locator("h1")).to_have_text("Pendaftaran keluarga")
        await _shot(page, "office-enrolment-empty")

        # This term's export: checked first, nothing written until Simpan.
        await page.click(".subtabs >> text=Unggah data")
        await _shot(page, "office-roster-form")
        await page.set_input_files("#files", str(this_term))
        await page.click("#check")
        await expect(page.locator("#preview")).to_contain_text("Belum ada yang disimpan")
        await expect(page.locator("#preview")).to_contain_text("11 siswa")
        changes = page.locator("#table-changes")
        await expect(changes.locator("tr", has_text="Siswa").first).to_contain_text("6")
        await expect(changes.locator("tr", has_text="Kelas").first).to_contain_text("1")
        await expect(page.locator("#ignored")).to_contain_text("No KK")
        await _shot(page, "office-roster-preview")
        async with live.services.sessions() as session:
            assert len((await session.exec(select(Student))).all()) == 5
        await page.click("#save")
        await expect(page.locator("#saved")).to_contain_text("Data tersimpan")
        await _shot(page, "office-roster-saved")
        async with live.services.sessions() as session:
            assert len((await session.exec(select(Student))).all()) == 11

        # Enrolment: nobody yet; the letters of VII-B's families still missing.
        await page.click(".subtabs >> text=Pendaftaran")
        progress = page.locator("#table-progress tr", has_text="VII-B")
        await expect(progress).to_contain_text("6")
        async with page.expect_download() as waiting:
            await page.click("#missing-VII-A")
        letters = tmp_path / "7a.pdf"
        await (await waiting.value).save_as(letters)
        texts = [" ".join(p.extract_text().split()) for p in PdfReader(letters).pages]
        assert len(texts) == 5
        code = re.search(r"Kode keluarga ([A-Z0-9]{8})", next(t for t in texts if "Ani Lestari" in t))[1]  # type: ignore[index]

        # Ani's mother writes from her own phone with the code on her letter.
        await live.say(STRANGER, f"daftar {code}")
        [asked] = await _bot_says(live, STRANGER, 0)
        await live.say(STRANGER, press=_button(asked, "Sari Wulandari"))
        [consent] = await _bot_says(live, STRANGER, 1)
        await live.say(STRANGER, press=_button(consent, "Setuju"))
        await _bot_says(live, STRANGER, 2)

        # The office confirms her itself instead of the wali kelas.
        await page.reload()
        await expect(page.locator("#decisions")).to_contain_text("Sari Wulandari — Ani Lestari (VII-A)")
        await _shot(page, "office-enrolment-waiting")
        await page.locator("#decisions button", has_text="Benar").click()
        await expect(page.locator("#notice")).to_contain_text("kini terhubung untuk Ani Lestari")
        confirmed = await _bot_says(live, STRANGER, 3)
        assert any("sudah dikonfirmasi" in m["text"] for m in confirmed)
        await expect(page.locator("#table-progress tr", has_text="VII-A")).to_contain_text("1")

        # Report day for VII-A, from the form: every mistake shown beside its field at once.
        await page.click(".subtabs >> text=Pertemuan baru")
        await page.select_option("#type", "pembagian_rapor")
        await page.select_option("#audience", "class:VII-A")
        await page.fill("#room_capacity", "nol")
        await page.fill("#slots", "2026-12-19 08:00-08:20\nSabtu pagi")
        await page.click("#create")
        await expect(page.locator("#form-errors")).to_be_visible()
        await expect(page.locator("#error-title")).to_have_text("Wajib diisi.")
        await expect(page.locator("#error-location")).to_have_text("Wajib diisi.")
        await expect(page.locator("#error-room_capacity")).to_contain_text("bilangan bulat lebih dari 0")
        await expect(page.locator("#error-slots")).to_contain_text("Baris 2")
        await expect(page.locator("#slots")).to_have_value("2026-12-19 08:00-08:20\nSabtu pagi")
        await _shot(page, "office-meeting-errors")
        await page.fill("#title", "Pembagian Rapor Semester Ganjil")
        await page.fill("#location", "Ruang Kelas VII-A")
        await page.fill("#room_capacity", "3")
        await page.fill("#slots", "")
        await page.fill("#rule_from", "08:00")
        await page.fill("#rule_to", "09:00")
        await page.fill("#rule_minutes", "20")
        await page.fill("#rule_dates", "2026-12-19")
        await page.click("#create")
        await expect(page.locator("#created")).to_contain_text("3 jadwal")
        await _shot(page, "office-meeting-created")
        await page.click("#invite")
        await expect(page.locator("#invited")).to_contain_text("Undangan untuk 5 keluarga: 1 terkirim lewat chat, 9 belum terjangkau")
        await _shot(page, "office-meeting-invited")
        invitation = await _bot_says(live, STRANGER, 3 + len(confirmed))
        assert any("Pembagian Rapor Semester Ganjil" in m["text"] and m["buttons"] for m in invitation)
        heard = 3 + len(confirmed) + len(invitation)

        # People: her number is masked until "tampilkan"; then she has a new phone.
        await page.click(".subtabs >> text=Orang")
        await page.fill("#q", "Ani Lestari")
        await page.click("#find")
        sari = page.locator("li", has_text="Sari Wulandari")
        await expect(sari.locator(".phone")).to_have_text("•" * 10 + STRANGER[-4:])
        await _shot(page, "office-people")
        async with page.expect_download() as lost:  # a lost letter: a new code for this family only
            await page.click("#code-0075000000")
        again = tmp_path / "ani.pdf"
        await (await lost.value).save_as(again)
        [letter] = [" ".join(p.extract_text().split()) for p in PdfReader(again).pages]
        assert "Ani Lestari" in letter and code not in letter
        await sari.locator("button", has_text="tampilkan").click()
        await expect(page.locator("li", has_text="Sari Wulandari").locator(".phone")).to_have_text(STRANGER)
        sari = page.locator("li", has_text="Sari Wulandari")
        await sari.locator("input[type=tel]").fill("0812 3333 4444")
        await sari.locator("button", has_text="Ganti nomor").click()
        await expect(page.locator("#notice")).to_contain_text("sambungan chat lama dilepas")
        told = await _bot_says(live, STRANGER, heard)
        assert any("nomor baru" in m["text"] for m in told)
        await _shot(page, "office-people-changed")

        # Staff: Bu Sri now also teaches IPA and joins the TPPK team.
        await page.click(".subtabs >> text=Staf")
        await page.click("#table-staff >> text=Sri Handayani")
        await page.fill("#subjects", "Matematika; IPA")
        await page.fill("#teams", "tppk")
        await page.click("#save-staff")
        await expect(page.locator("#notice")).to_have_text("Data Sri Handayani disimpan.")
        await expect(page.locator("#table-staff tr", has_text="Sri Handayani")).to_contain_text("Matematika, IPA")
        await _shot(page, "office-staff")

        await page.click(".subtabs >> text=Orang")
        await page.click("text=English")
        await expect(page.locator("h1")).to_have_text("Find students & parents")
        async with live.services.sessions() as session:
            guardian = (await session.exec(select(Guardian).where(Guardian.name == "Sari Wulandari"))).one()
            assert guardian.phone == "+6281233334444"
            accounts = (await session.exec(select(ChannelAccount).where(ChannelAccount.phone == STRANGER))).all()
            assert accounts == []
            actions = [e.action for e in (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()]
        assert actions == ["sign_in", "import_roster", "print_letters", "confirm_enrolment", "create_meeting", "invite_meeting", "print_letters", "show_phone",
                           "change_phone", "change_staff"]
