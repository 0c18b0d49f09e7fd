"""Families the roster has no number for enrol with the code from their letter (or from the
family's Dapodik number), on Telegram and WhatsApp alike, over the real wire: the homeroom
teacher confirms, consent comes first, wrong codes are rate-limited, old codes expire.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from domain.clock import ManualClock
from handlers.enrolment import escalate_unanswered
from storage.enrolment import issue_family_codes
from storage.models import ChannelAccount, Enrolment, Guardian, GuardianStudent, School, Student
from storage.roster import import_roster
from tests.dapodik_export import ExportStudent, make_students, write_export
from tests.harness import MONDAY_MORNING
from tests.phones import Network, Phone, TelegramPhone, network

PHONE_DIGITS = re.compile(r"(\+?62|0)8\d{8,}")
WALI = "+6281200002004"  # Bu Sri, wali kelas VII-A in STAFF below
OFFICE = "+6281200002002"  # Pak Tata Usaha (admin)
FAMILY_HP = "081234560001"  # Ani's family number in Dapodik
STRANGER = "+6281399990001"  # a parent's own phone the school has never seen
STAFF = """staff_id,name,role,phone,language,homeroom_class,classes,subjects,office_hours
K-01,Ibu Kepala,principal,0812-0000-2001,id,,,,
TU-01,Pak Tata Usaha,admin,0812-0000-2002,id,,,,
BK-01,Bu Konselor,counselor,0812-0000-2003,id,,7,,
T-01,Sri Handayani,teacher,0812-0000-2004,id,VII-A,VII-A,Matematika,
"""


def _ani() -> ExportStudent:
    [student] = make_students(1, ["Kelas 7A"], start=75000000)
    student.name, student.father, student.mother, student.guardian = (
        "Ani Lestari", "Budi Santoso", "Sari Wulandari", "-")
    student.hp, student.telepon = FAMILY_HP, ""
    return student


async def dapodik_school(net: Network, tmp_path: Path) -> dict[str, str]:
    """SMPN3 from its Dapodik export and staff list; a letter's code for each student."""
    folder = tmp_path / "smpn3"
    folder.mkdir()
    others = make_students(4, ["7 A"], start=75000010)
    write_export(folder / "daftar_pd.xlsx", [_ani(), *others])
    (folder / "staff.csv").write_text(STAFF, encoding="utf-8")
    await import_roster(net.services.sessions, folder, school_code="SMPN3",
                        school_name="SMP Negeri 3 Lubuk Alung")
    async with net.services.sessions() as session, session.begin():
        school = (await session.exec(select(School).where(School.code == "SMPN3"))).one()
        students = list((await session.exec(select(Student).where(Student.school_id == school.id))).all())
        issued = await issue_family_codes(session, school.id, students, now=net.clock.now())  # type: ignore[arg-type]
    return {student.name: code for student, code in issued}


async def parent(net: Network, channel: str, number: str = STRANGER) -> Phone:
    """A parent's phone that has never talked to the bot (on Telegram: no contact shared)."""
    if channel == "telegram":
        net._user_id += 1
        return TelegramPhone(net, number, net._user_id)
    return await net.phone(channel, number)


async def staff_phone(net: Network, number: str) -> Phone:
    phone = await net.phone("telegram", number)  # shares its contact: linked as staff
    return phone


async def send_code(phone: Phone, code: str) -> list[dict[str, Any]]:
    # Telegram: the letter's QR opens t.me/<bot>?start=<code>; WhatsApp: wa.me/...?text=DAFTAR <code>
    return await phone.say(f"/start {code}" if phone.channel == "telegram" else f"DAFTAR {code}")


async def rows(net: Network, table: Any) -> list[Any]:
    async with net.services.sessions() as session:
        return list((await session.exec(select(table).order_by(table.id))).all())


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_a_parent_enrols_with_the_letter_and_the_homeroom_teacher_confirms(
        database_url: str, tmp_path: Path, channel: str) -> None:
    async with network(database_url) as net:
        codes = await dapodik_school(net, tmp_path)
        wali = await staff_phone(net, WALI)
        sari = await parent(net, channel)

        asked = await send_code(sari, codes["Ani Lestari"])
        assert "Ani Lestari" in asked[-1]["text"] and "VII-A" in asked[-1]["text"]
        assert asked[-1]["choices"] == ["ayah Budi Santoso", "ibu Sari Wulandari", "Lainnya"]
        consent = await sari.press(asked[-1], "ibu Sari Wulandari")
        assert "UU No. 27 Tahun 2022" in consent[-1]["text"] and "Ani Lestari" in consent[-1]["text"]
        assert consent[-1]["choices"] == ["Setuju", "Tidak setuju"]
        waiting = await sari.press(consent[-1], "Setuju")
        assert "Wali kelas VII-A akan memastikan" in waiting[-1]["text"]

        [confirm] = await wali.new()
        assert "Sari Wulandari" in confirm["text"] and "ibu dari Ani Lestari (VII-A)" in confirm["text"]
        assert not PHONE_DIGITS.search(confirm["text"]) and STRANGER[3:] not in confirm["text"]
        assert confirm["choices"] == ["Benar", "Bukan"]
        done = await wali.press(confirm, "Benar")
        assert "kini terhubung sebagai ibu dari Ani Lestari" in done[-1]["text"]
        told = await sari.new()
        assert "sudah dikonfirmasi" in told[-1]["text"] and "ibu dari Ani Lestari (VII-A)" in told[-1]["text"]

        # Linked for real: her next message is a concern, routed to the wali kelas.
        await sari.say("Bu, Ani sakit hari ini, izin tidak masuk")
        forwarded = await wali.new()
        assert "Ani sakit hari ini" in forwarded[-1]["text"] and "Sari Wulandari" in forwarded[-1]["text"]
        [enrolment] = await rows(net, Enrolment)
        assert enrolment.status == "linked" and enrolment.consent_channel == channel
        assert enrolment.consent_at == MONDAY_MORNING
        guardian = next(g for g in await rows(net, Guardian) if g.id == enrolment.guardian_id)
        assert guardian.name == "Sari Wulandari" and guardian.consent_at == MONDAY_MORNING
        if channel == "whatsapp":
            assert guardian.phone == STRANGER  # her own number is hers now

        # The code enrols each guardian once: ibu is no longer offered.
        other = await parent(net, channel, "+6281399990002")
        again = await send_code(other, codes["Ani Lestari"])
        assert again[-1]["choices"] == ["ayah Budi Santoso", "Lainnya"]


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_bukan_leaves_the_person_unlinked_and_tells_them(sqlite_url: str, tmp_path: Path, channel: str) -> None:
    async with network(sqlite_url) as net:
        codes = await dapodik_school(net, tmp_path)
        wali = await staff_phone(net, WALI)
        someone = await parent(net, channel)
        asked = await send_code(someone, codes["Ani Lestari"])
        consent = await someone.press(asked[-1], "ayah Budi Santoso")
        await someone.press(consent[-1], "Setuju")
        [confirm] = await wali.new()
        refused = await wali.press(confirm, "Bukan")
        assert "tidak dihubungkan" in refused[-1]["text"]
        told = await someone.new()
        assert "belum dapat memastikan" in told[-1]["text"] and "tidak kami hubungkan" in told[-1]["text"]
        again = await wali.press(confirm, "Benar")  # a second tap changes nothing
        assert "sudah dijawab oleh Sri Handayani" in again[-1]["text"]
        assert [e.status for e in await rows(net, Enrolment)] == ["refused"]
        assert all(not g.phone.startswith("+6281399") for g in await rows(net, Guardian))


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_without_consent_nothing_is_linked_or_kept(sqlite_url: str, tmp_path: Path, channel: str) -> None:
    async with network(sqlite_url) as net:
        codes = await dapodik_school(net, tmp_path)
        wali = await staff_phone(net, WALI)
        sari = await parent(net, channel)
        asked = await send_code(sari, codes["Ani Lestari"])
        consent = await sari.press(asked[-1], "ibu Sari Wulandari")
        refused = await sari.press(consent[-1], "Tidak setuju")
        assert "Tanpa persetujuan" in refused[-1]["text"] and "tidak menghubungkan" in refused[-1]["text"]
        assert await wali.new() == []
        assert await rows(net, Enrolment) == []
        sari_row = next(g for g in await rows(net, Guardian) if g.name == "Sari Wulandari")
        assert sari_row.consent_at is None and not sari_row.phone.startswith("+")
        # She may change her mind: the code still works.
        again = await send_code(sari, codes["Ani Lestari"])
        assert "ibu Sari Wulandari" in again[-1]["choices"]


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_someone_the_roster_lacks_introduces_themselves(sqlite_url: str, tmp_path: Path, channel: str) -> None:
    async with network(sqlite_url) as net:
        codes = await dapodik_school(net, tmp_path)
        wali = await staff_phone(net, WALI)
        rahmat = await parent(net, channel)
        asked = await send_code(rahmat, codes["Ani Lestari"])
        relation = await rahmat.press(asked[-1], "Lainnya")
        assert relation[-1]["choices"] == ["Ayah", "Ibu", "Wali", "Orang Tua Asuh"]
        name = await rahmat.press(relation[-1], "Orang Tua Asuh")
        assert "nama lengkap" in name[-1]["text"]
        consent = await rahmat.say("Rahmat Hidayat")
        await rahmat.press(consent[-1], "Setuju")
        [confirm] = await wali.new()
        assert "Rahmat Hidayat mendaftar melalui Jembatan sebagai orang tua asuh dari Ani Lestari" in confirm["text"]
        assert "belum tercatat di data sekolah" in confirm["text"]
        await wali.press(confirm, "Benar")
        assert "sudah dikonfirmasi" in (await rahmat.new())[-1]["text"]
        guardians = {g.id: g for g in await rows(net, Guardian)}
        links = [(link.relation, guardians[link.guardian_id].name) for link in await rows(net, GuardianStudent)]
        assert ("orang tua asuh", "Rahmat Hidayat") in links


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_the_familys_number_is_asked_whose_it_is_and_linked_at_once(
        sqlite_url: str, tmp_path: Path, channel: str) -> None:
    async with network(sqlite_url) as net:
        await dapodik_school(net, tmp_path)
        wali = await staff_phone(net, WALI)
        family = "+62" + FAMILY_HP[1:]
        if channel == "telegram":
            budi = await parent(net, "telegram", family)
            await budi.open()  # shares its own contact, which is the family's number
            asked = await budi.new() or budi.received()[-1:]
        else:
            budi = await parent(net, "whatsapp", family)
            asked = await budi.say("Selamat pagi")
        assert "nomor keluarga Ani Lestari" in asked[-1]["text"]
        assert asked[-1]["choices"] == ["ayah Budi Santoso", "ibu Sari Wulandari", "Nomor ini milik siswa"]
        consent = await budi.press(asked[-1], "ayah Budi Santoso")
        welcome = await budi.press(consent[-1], "Setuju")
        assert "Selamat datang, Bapak Budi Santoso" in welcome[0]["text"] and "Ani Lestari (VII-A)" in welcome[0]["text"]
        assert await wali.new() == []  # no confirmation needed: the school's own number
        guardian = next(g for g in await rows(net, Guardian) if g.name == "Budi Santoso")
        assert guardian.phone == family and guardian.consent_channel == channel


async def test_the_students_own_number_is_not_linked_as_a_parent(sqlite_url: str, tmp_path: Path) -> None:
    async with network(sqlite_url) as net:
        await dapodik_school(net, tmp_path)
        ani = await parent(net, "whatsapp", "+62" + FAMILY_HP[1:])
        asked = await ani.say("halo")
        told = await ani.press(asked[-1], "Nomor ini milik siswa")
        assert "nomor Ani Lestari sendiri" in told[-1]["text"] and "DAFTAR KODE" in told[-1]["text"]
        later = await ani.say("halo lagi")
        assert "nomor Ani Lestari sendiri" in later[-1]["text"]
        parents = [g for g in await rows(net, Guardian) if g.name in ("Budi Santoso", "Sari Wulandari")]
        assert len(parents) == 2 and all(not g.phone.startswith("+") for g in parents)
        accounts = await rows(net, ChannelAccount)
        assert [e.status for e in await rows(net, Enrolment)] == ["student_own"]
        assert len(accounts) == 1


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_five_wrong_codes_and_the_sender_is_refused_for_an_hour(
        sqlite_url: str, tmp_path: Path, channel: str) -> None:
    clock = ManualClock(MONDAY_MORNING)
    async with network(sqlite_url, clock=clock) as net:
        codes = await dapodik_school(net, tmp_path)
        guesser = await parent(net, channel)
        for n, guess in enumerate(["AAAA2222", "BBBB3333", "abcd-2345", "CCCC4444", "DDDD5555"]):
            wrong = await send_code(guesser, guess)
            assert "tidak kami kenali" in wrong[-1]["text"], n
            clock.advance(minutes=5)
        refused = await send_code(guesser, codes["Ani Lestari"])  # even the right code: no oracle
        wrong_now = await send_code(guesser, "EEEE6666")
        assert refused[-1]["text"] == wrong_now[-1]["text"]
        assert "satu jam lagi" in refused[-1]["text"] and "Ani" not in refused[-1]["text"]
        other = await parent(net, channel, "+6281399990009")  # another sender is not held up
        assert "Ani Lestari" in (await send_code(other, codes["Ani Lestari"]))[-1]["text"]
        clock.advance(minutes=54)  # 79 minutes: 59 after the fifth wrong code
        assert "satu jam lagi" in (await send_code(guesser, codes["Ani Lestari"]))[-1]["text"]
        clock.advance(minutes=2)  # an hour after the fifth wrong code
        assert "Ani Lestari" in (await send_code(guesser, codes["Ani Lestari"]))[-1]["text"]


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_an_expired_code_gets_a_clear_message(sqlite_url: str, tmp_path: Path, channel: str) -> None:
    clock = ManualClock(MONDAY_MORNING)
    async with network(sqlite_url, clock=clock) as net:
        codes = await dapodik_school(net, tmp_path)
        clock.advance(days=30, minutes=1)
        late = await parent(net, channel)
        expired = await send_code(late, codes["Ani Lestari"])
        assert "sudah tidak berlaku" in expired[-1]["text"] and "surat baru" in expired[-1]["text"]
        assert "SMP Negeri 3 Lubuk Alung" in expired[-1]["text"]


async def test_an_unanswered_confirmation_goes_to_the_office_once_after_two_days(
        database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_MORNING)
    async with network(database_url, clock=clock) as net:
        codes = await dapodik_school(net, tmp_path)
        wali = await staff_phone(net, WALI)
        office = await staff_phone(net, OFFICE)
        # (Telegram: on WhatsApp a reply days later needs an approved template, TWILIO_CONTENT_SIDS)
        sari = await parent(net, "telegram")
        asked = await send_code(sari, codes["Ani Lestari"])
        consent = await sari.press(asked[-1], "ibu Sari Wulandari")
        await sari.press(consent[-1], "Setuju")
        assert len(await wali.new()) == 1

        def tick(at: timedelta) -> Any:
            clock.advance(seconds=(MONDAY_MORNING + at - clock.now()).total_seconds())
            return escalate_unanswered(net.services.sessions, now=clock.now(), simulator_enabled=False)

        assert await tick(timedelta(days=1, hours=23)) == 0
        assert await office.new() == []
        assert await tick(timedelta(days=2, minutes=1)) == 1
        [escalated] = await office.new()
        assert "belum dijawab wali kelas selama 2 hari" in escalated["text"]
        assert "Sari Wulandari" in escalated["text"] and escalated["choices"] == ["Benar", "Bukan"]
        assert await tick(timedelta(days=3)) == 0  # never twice
        assert await office.new() == []
        await office.press(escalated, "Benar")
        assert "sudah dikonfirmasi" in (await sari.new())[-1]["text"]


async def test_link_codes_from_the_office_still_work_beside_family_codes(sqlite_url: str, tmp_path: Path) -> None:
    from storage.link_codes import issue_link_code

    async with network(sqlite_url) as net:
        await dapodik_school(net, tmp_path)
        async with net.services.sessions() as session, session.begin():
            code, _ = await issue_link_code(session, "T-01", now=net.clock.now(), ttl_hours=72)
        teacher = await parent(net, "telegram", "+6281399990077")  # another phone of hers
        welcome = await teacher.say(f"/start {code.code}")
        assert "Sri Handayani" in welcome[0]["text"]


def _data(message: dict[str, Any], label: str) -> str:
    return next(b["data"] for row in message["buttons"] for b in row if b["label"] == label)


async def test_the_office_prints_a_class_from_the_dashboard_and_sees_who_waits(sqlite_url: str, tmp_path: Path) -> None:
    from pypdf import PdfReader

    from tests.harness import running_school
    from tests.test_dashboard import signed_in, visible_text

    folder = tmp_path / "smpn3"
    folder.mkdir()
    write_export(folder / "daftar_pd.xlsx", [_ani(), *make_students(4, ["7 A"], start=75000010)])
    (folder / "staff.csv").write_text(STAFF, encoding="utf-8")
    async with running_school(sqlite_url, roster=folder, twilio_whatsapp_from="whatsapp:+14155238886") as school:
        admin = await signed_in(school, OFFICE)
        page = visible_text((await admin.get("/dashboard/classes/VII-A")).text)
        assert "Cetak surat pendaftaran kelas ini" in page and page.count("belum terhubung ke bot") == 5

        response = await admin.post("/dashboard/classes/VII-A/letters")
        assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
        pdf = tmp_path / "7a.pdf"
        pdf.write_bytes(response.content)
        texts = [" ".join(p.extract_text().split()) for p in PdfReader(pdf).pages]
        assert len(texts) == 5
        ani = next(t for t in texts if "Nama siswa: Ani Lestari" in t)
        code = re.search(r"Kode keluarga ([A-Z0-9]{8})", ani)[1]  # type: ignore[index]

        asked = await school.say(STRANGER, f"daftar {code}")
        consent = await school.say(STRANGER, press=_data(asked[-1], "ibu Sari Wulandari"))
        await school.say(STRANGER, press=_data(consent[-1], "Setuju"))
        page = visible_text((await admin.get("/dashboard/classes/VII-A")).text)
        assert "menunggu konfirmasi wali kelas" in page and page.count("belum terhubung ke bot") == 4

        teacher = await signed_in(school, WALI)
        assert (await teacher.post("/dashboard/classes/VII-A/letters")).status_code == 403
        assert "Cetak surat" not in visible_text((await teacher.get("/dashboard/classes/VII-A")).text)
        cross = await admin.post("/dashboard/classes/VII-A/letters", headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403


async def test_the_familys_number_links_the_same_parent_to_siblings_and_lainnya_when_nobody_is_listed(
        sqlite_url: str, tmp_path: Path) -> None:
    async with network(sqlite_url) as net:
        folder = tmp_path / "smpn3"
        folder.mkdir()
        ani, adik = _ani(), _ani()
        adik.nisn, adik.name, adik.rombel = "0075000099", "Bayu Lestari", "8 A"
        [orphan] = make_students(1, ["7 A"], start=75000050)
        orphan.name, orphan.father, orphan.mother, orphan.guardian, orphan.hp = (
            "Citra Dewi", "-", "", "-", "081234560077")
        write_export(folder / "daftar_pd.xlsx", [ani, adik, orphan])
        (folder / "staff.csv").write_text(STAFF.replace(",7,,", ",7;8,,"), encoding="utf-8")
        await import_roster(net.services.sessions, folder, school_code="SMPN3")

        budi = await parent(net, "whatsapp", "+62" + FAMILY_HP[1:])
        asked = await budi.say("Assalamualaikum")
        consent = await budi.press(asked[-1], "ayah Budi Santoso")
        welcome = await budi.press(consent[-1], "Setuju")
        assert "Ani Lestari (VII-A) dan Bayu Lestari (VIII-A)" in welcome[0]["text"]
        fathers = [g for g in await rows(net, Guardian) if g.name == "Budi Santoso"]
        links = [link for link in await rows(net, GuardianStudent)
                 if link.guardian_id in {g.id for g in fathers}]
        assert len(links) == 2 and len({link.guardian_id for link in links}) == 1

        someone = await parent(net, "whatsapp", "+6281234560077")
        asked = await someone.say("Halo")
        assert asked[-1]["choices"] == ["Nomor ini milik siswa", "Lainnya"]
        relation = await someone.press(asked[-1], "Lainnya")
        await someone.press(relation[-1], "Wali")
        consent = await someone.say("Dewi Anggraini")
        welcome = await someone.press(consent[-1], "Setuju")
        assert "Selamat datang, Bapak/Ibu Dewi Anggraini" in welcome[0]["text"] and "Citra Dewi" in welcome[0]["text"]


async def test_an_enrolled_parent_can_have_their_data_erased(database_url: str, tmp_path: Path) -> None:
    from storage.privacy import purge

    async with network(database_url) as net:
        await dapodik_school(net, tmp_path)
        budi = await parent(net, "whatsapp", "+62" + FAMILY_HP[1:])
        asked = await budi.say("Selamat siang")
        consent = await budi.press(asked[-1], "ayah Budi Santoso")
        await budi.press(consent[-1], "Setuju")
        confirm = await budi.say("hapus data")
        await budi.press(confirm[-1], confirm[-1]["choices"][0])
        async with net.services.sessions() as session, session.begin():
            result = await purge(session, older_than=timedelta(days=365), now=net.clock.now())
        assert result.guardians_erased == 1
        assert await rows(net, Enrolment) == []  # how they enrolled went with their account
        assert [a.phone for a in await rows(net, ChannelAccount)
                if a.phone == "+62" + FAMILY_HP[1:]] == []


async def test_a_code_used_by_every_guardian_it_can_enrol_says_so(sqlite_url: str, tmp_path: Path) -> None:
    async with network(sqlite_url) as net:
        codes = await dapodik_school(net, tmp_path)
        for n, choice in enumerate(["ayah Budi Santoso", "ibu Sari Wulandari", "Lainnya"]):
            phone = await parent(net, "whatsapp", f"+62813999900{n + 10}")
            asked = await send_code(phone, codes["Ani Lestari"])
            answer = await phone.press(asked[-1], choice)
            if choice == "Lainnya":
                await phone.press(answer[-1], "Wali")
                answer = await phone.say("Rahmat Hidayat")
            await phone.press(answer[-1], "Setuju")
        late = await parent(net, "whatsapp", "+6281399990020")
        used = await send_code(late, codes["Ani Lestari"])
        assert "sudah dipakai" in used[-1]["text"] and used[-1]["choices"] == []
        assert "SMP Negeri 3 Lubuk Alung" in used[-1]["text"]
