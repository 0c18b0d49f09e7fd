"""The counselor's lane in chat: `lapor` (a guardian's violence report to the TPPK team) and
`kunjungan` (a home visit), on the simulator, Telegram and WhatsApp."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from handlers.violence_reports import escalate_unanswered_reports
from storage.models import Agreement, Concern, HomeVisit
from tests.harness import AHMAD, BUDI, HENDRA, MAYA, RINA, SCHOOL, SRI, running_school
from tests.phones import network
from tests.test_dashboard import signed_in

PHONE_DIGITS = re.compile(r"(\+?62|0)8\d{8,}")


def tppk_roster(tmp_path: Path) -> Path:
    """The test school with a `teams` column: Rina (guru BK) and Budi are the TPPK team."""
    roster = tmp_path / "roster"
    shutil.copytree(SCHOOL, roster)
    lines = (roster / "staff.csv").read_text().splitlines()
    out = [lines[0] + ",teams"]
    for line in lines[1:]:
        out.append(line + (",tppk" if line.startswith(("T-002", "T-003")) else ","))
    (roster / "staff.csv").write_text("\n".join(out) + "\n")
    return roster


# ---------------------------------------------------------------- lapor


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_violence_report_reaches_the_tppk_team_with_the_name_kept_within_it(
        database_url: str, tmp_path: Path, channel: str) -> None:
    async with network(database_url, roster=tppk_roster(tmp_path)) as net:
        rina = await net.phone("telegram", RINA)
        budi = await net.phone("telegram", BUDI)
        sri = await net.phone("telegram", SRI)
        ahmad = await net.phone("telegram", AHMAD)
        maya = await net.phone(channel, MAYA)

        what = await maya.say("lapor")
        assert "TPPK" in what[-1]["text"] and "Apa yang terjadi" in what[-1]["text"]
        await maya.say("Ani dipukul dan diejek oleh kakak kelas, uang jajannya diambil.")
        await maya.say("Kemarin siang saat istirahat")
        await maya.say("Di belakang kantin")
        photo = await maya.say("Dua siswa kelas IX, salah satunya bernama Dodi")
        assert "foto" in photo[-1]["text"] and "Lewati" in photo[-1]["choices"]
        name = await maya.press(photo[-1], "Lewati")
        assert "Hanya tim TPPK" in name[-1]["choices"]
        ack = await maya.press(name[-1], "Hanya tim TPPK")
        text = ack[-1]["text"]
        case = re.search(r"LAP-2026-\d{4}", text)
        assert case and "24 jam" in text and "hanya diketahui oleh tim" in text

        for member in (rina, budi):
            forwarded = await member.new()
            assert len(forwarded) == 1
            assert case[0] in forwarded[0]["text"] and "Di belakang kantin" in forwarded[0]["text"]
            assert "Maya Wijaya" in forwarded[0]["text"]  # the team sees the reporter
            assert not PHONE_DIGITS.search(forwarded[0]["text"])
        assert await sri.new() == [] and await ahmad.new() == []  # nobody outside the team

        # The team answers through the ordinary relay; the guardian's reply stays on the report.
        forwarded = [m for m in rina.received() if case[0] in m["text"]][0]
        await rina.reply(forwarded, "Terima kasih Bu, kami tangani hari ini. Ani aman di ruang BK.")
        answer = await maya.new()
        assert "Ani aman di ruang BK" in answer[-1]["text"]
        await maya.reply(answer[-1], "Terima kasih, Bu.")
        assert "Terima kasih, Bu." in (await rina.new())[-1]["text"]
        async with net.services.sessions() as session:
            concerns = (await session.exec(select(Concern))).all()
        assert [(c.category, c.reporter_hidden) for c in concerns] == [("violence_report", True)]


async def test_unanswered_report_goes_to_the_principal_once_without_the_hidden_name(
        database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, roster=tppk_roster(tmp_path)) as school:
        await school.say(MAYA, "lapor")
        for answer in ("Ani diancam lewat pesan", "Tadi malam", "Grup WhatsApp kelas", "Teman sekelas"):
            await school.say(MAYA, answer)
        await school.say(MAYA, press="lr:skip")
        ack = await school.say(MAYA, press="lr:hide")
        case = re.search(r"LAP-2026-\d{4}", ack[-1]["text"])
        assert case
        sessions = school.services.sessions
        school.clock.advance(hours=23)
        assert await escalate_unanswered_reports(sessions, now=school.clock.now(), simulator_enabled=True) == 0
        school.clock.advance(hours=2)
        assert await escalate_unanswered_reports(sessions, now=school.clock.now(), simulator_enabled=True) == 1
        assert await escalate_unanswered_reports(sessions, now=school.clock.now(), simulator_enabled=True) == 0
        escalated = await school.inbox(AHMAD)
        assert len(escalated) == 1 and case[0] in escalated[0]["text"]
        assert "Maya" not in escalated[0]["text"] and "dirahasiakan" in escalated[0]["text"]
        assert "Ani diancam" in escalated[0]["text"]
        assert "Kepala Sekolah" in (await school.inbox(MAYA))[-1]["text"]
        cases = await school.say(AHMAD, "kasus")  # the principal's own list keeps the name hidden too
        assert "Maya" not in cases[-1]["text"]
        async with sessions() as session:
            report = (await session.exec(select(Concern))).one()
        page = await (await signed_in(school, AHMAD)).get(f"/dashboard/concerns/{report.id}")
        assert page.status_code == 200 and "Ani diancam" in page.text and "Maya" not in page.text
        team_page = await (await signed_in(school, RINA)).get(f"/dashboard/concerns/{report.id}")
        assert "Maya Wijaya" in team_page.text  # the team holding it knows who reported
        assert "/dashboard/students/0071000001/casebook" in team_page.text  # Rina covers grade 7


async def test_report_without_a_team_and_a_sticker_is_not_a_report(database_url: str) -> None:
    async with running_school(database_url) as school:  # no TPPK team: the counselor and the principal
        await school.say(HENDRA, "lapor")
        which = await school.say(HENDRA, "lapor")
        assert [b["data"] for row in which[-1]["buttons"] for b in row] == ["lr:child:1", "lr:child:2"]
        await school.say(HENDRA, press="lr:child:2")
        sticker = await school.client.post("/simulator/api/send", json={"phone": HENDRA, "media": [
            {"url": "https://example.org/s.webp", "content_type": "application/x-tgsticker"}]})
        assert sticker.status_code == 200, sticker.text
        refused = await school.inbox(HENDRA)
        assert "dengan kata-kata" in refused[-1]["text"] and "Bima Wijaya" in refused[-1]["text"]
        for answer in ("Bima didorong sampai jatuh di tangga", "Tadi pagi", "Tangga lantai dua", "Tidak tahu"):
            await school.say(HENDRA, answer)
        await school.say(HENDRA, "lewati")
        ack = await school.say(HENDRA, press="lr:show")
        assert "Guru BK dan Kepala Sekolah" in ack[-1]["text"]
        assert "Bima didorong" in (await school.inbox(RINA))[-1]["text"]
        assert "Hendra Wijaya" in (await school.inbox(AHMAD))[-1]["text"]  # asked nothing kept: named
        # An ordinary message afterwards never joins the report.
        await school.say(HENDRA, "Bu, nilai matematika Bima turun")
        async with school.services.sessions() as session:
            categories = sorted(c.category for c in (await session.exec(select(Concern))).all())
        assert "violence_report" in categories and len(categories) == 2


async def test_staff_report_keeps_its_meaning(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        reports = await school.say(RINA, "report")
        assert "TPPK" not in reports[-1]["text"]
        told = await school.say(RINA, "lapor")
        assert "orang tua/wali" in told[-1]["text"]


# ---------------------------------------------------------------- kunjungan


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_home_visit_with_an_agreement_and_check_in(database_url: str, channel: str) -> None:
    async with network(database_url) as net:
        rina = await net.phone(channel, RINA)
        if channel == "whatsapp":
            await rina.say("menu")
            await rina.new()
        hendra = await net.phone("telegram", HENDRA)
        asked = await rina.say("kunjungan")
        assert "siswa siapa" in asked[-1]["text"]
        await rina.say("Bima")
        future = await rina.say("30/11")
        assert "belum tiba" in future[-1]["text"]
        await rina.say("kemarin")
        await rina.say("Ayah Bima, Pak Hendra, dan neneknya")
        await rina.say("Bima sering begadang main gim; ayah bekerja malam.")
        check_in = await rina.say("Gawai disimpan ayah pukul 21.00 setiap malam")
        assert "Tanpa jadwal pemantauan" in check_in[-1]["choices"]
        summary = await rina.say("2 minggu")
        assert "Minggu, 22 November 2026" in summary[-1]["text"] and "Senin, 7 Desember 2026" in summary[-1]["text"]
        saved = await rina.press(summary[-1], "Simpan")
        assert "tersimpan di buku kasus" in saved[-1]["text"]
        told = await hendra.new()
        assert "Gawai disimpan ayah" in told[-1]["text"]
        assert "begadang" not in told[-1]["text"]  # the notes stay in the case book
        async with net.services.sessions() as session:
            visit = (await session.exec(select(HomeVisit))).one()
            agreement = (await session.exec(select(Agreement))).one()
        assert visit.agreement_id == agreement.id and str(visit.visited_on) == "2026-11-22"


async def test_home_visit_without_agreement_and_who_may_record(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        refused = await school.say(AHMAD, "kunjungan")
        assert "Guru BK atau wali kelas" in refused[-1]["text"]
        await school.say(SRI, "home visit")
        other = await school.say(SRI, "Bima")  # Sri is wali kelas of VII-A, Bima is in VII-B
        assert "bukan siswa kelas" in other[-1]["text"]
        await school.say(SRI, "Ani")
        await school.say(SRI, "hari ini")
        await school.say(SRI, "Ibu Maya")
        await school.say(SRI, "Kesehatan Ani setelah sakit seminggu.")
        summary = await school.say(SRI, press="kr:none")
        assert "Kesepakatan: tidak ada" in summary[-1]["text"]
        saved = await school.say(SRI, press="kr:save")
        assert "tersimpan" in saved[-1]["text"]
        assert await school.inbox(MAYA) == []


async def test_bk_explains_confidentiality_and_points_to_lapor(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        text = (await school.say(MAYA, "bk"))[-1]["text"]
        assert "hanya dibaca oleh Guru BK" in text and 'ketik "lapor"' in text
