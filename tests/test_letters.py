"""Enrolment letters as the office prints them: `jembatan letters class:VII-A`, read back as a
family would (the text on the page, the QR codes scanned from a rendering of it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pypdfium2
import zxingcpp
from pypdf import PdfReader
from sqlmodel import select

from storage.db import make_engine, make_sessionmaker
from storage.enrolment import check_family_code
from storage.models import FamilyCode, utcnow
from storage.roster import import_roster
from tests.dapodik_export import make_students, write_export
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_cli import jembatan_beside
from tests.test_dapodik import SCHOOL_YAML, STAFF

WA_FROM = "whatsapp:+14155238886"


async def school_of_36(url: str, tmp_path: Path) -> list:  # type: ignore[no-untyped-def]
    folder = tmp_path / "sekolah"
    folder.mkdir()
    students = make_students(36, ["Kelas 7A"]) + make_students(5, ["8 A"], start=72000000)
    write_export(folder / "daftar_pd.xlsx", students)
    (folder / "staff.csv").write_text(STAFF.replace("VIII-B,VIII-A;VIII-B", "VIII-A,VIII-A"
                                                    ).replace("VII-A;VII-B", "VII-A"), encoding="utf-8")
    (folder / "school.yaml").write_text(SCHOOL_YAML, encoding="utf-8")
    engine = make_engine(url)
    await import_roster(make_sessionmaker(engine), folder, school_code="SMPN3")
    await engine.dispose()
    return students[:36]


async def letters(url: str, cwd: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    done = await jembatan_beside("letters", *args, database_url=url, cwd=cwd, extra_env=env)
    return done.returncode, done.stdout, done.stderr


def page_qr_codes(path: Path, index: int) -> list[str]:
    page = pypdfium2.PdfDocument(str(path))[index]
    image = page.render(scale=3).to_pil()
    return sorted(result.text for result in zxingcpp.read_barcodes(image))


async def test_a_class_gets_one_page_each_with_its_code_written_and_in_both_qr_codes(
        sqlite_url: str, tmp_path: Path) -> None:
    students = await school_of_36(sqlite_url, tmp_path)
    async with FakeBotAPI() as api:
        code, out, err = await letters(
            sqlite_url, tmp_path, "class:VII-A", "--out", "surat/7a.pdf", "--json",
            env={"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
                 "TWILIO_WHATSAPP_FROM": WA_FROM})
    assert code == 0, err
    pdf = tmp_path / "surat" / "7a.pdf"
    assert json.loads(out) == {"pages": 36, "codes": 36, "file": "surat/7a.pdf"}
    reader = PdfReader(pdf)
    assert len(reader.pages) == 36
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4

    codes = []
    names = sorted(s.name for s in students)
    for index, page in enumerate(reader.pages):
        text = " ".join(page.extract_text().split())
        assert "SMP Negeri 3 Lubuk Alung" in text and "Kelas: VII-A" in text
        assert "Jembatan bukan grup kelas" in text and "nomor telepon" in text
        name = re.search(r"Nama siswa: (.+?) Kelas:", text)[1]  # type: ignore[index]
        assert name == names[index]  # by name within the class
        printed = re.search(r"Kode keluarga ([A-Z0-9]{8})", text)[1]  # type: ignore[index]
        assert f"/start {printed}" in text and f"DAFTAR {printed}" in text
        assert "@jembatan_test_bot" in text
        codes.append(printed)
        for student in students:  # the family's number from Dapodik is printed nowhere
            assert not student.hp or student.hp[1:] not in text
    assert len(set(codes)) == 36
    for index in (0, 35):
        assert page_qr_codes(pdf, index) == [
            f"https://t.me/jembatan_test_bot?start={codes[index]}",
            f"https://wa.me/14155238886?text=DAFTAR%20{codes[index]}",
        ]

    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        rows = list((await session.exec(select(FamilyCode))).all())
        assert len(rows) == 36 and all(codes[0] not in row.code_hash for row in rows)
        assert {(row.expires_at - row.created_at).days for row in rows} == {30}  # type: ignore[operator]
        found = await check_family_code(session, codes[0].lower()[:4] + " " + codes[0][4:], now=utcnow())
        assert found.status == "ok" and found.student is not None and found.student.name == names[0]
    await engine.dispose()

    # Printing again (a lost letter): the new code works, the old one no longer does.
    code, out, err = await letters(sqlite_url, tmp_path, f"student:{found.student.nisn}", "--json",
                                   env={"TWILIO_WHATSAPP_FROM": WA_FROM})
    assert code == 0, err
    again = tmp_path / json.loads(out)["file"]
    assert json.loads(out)["pages"] == 1
    text = " ".join(PdfReader(again).pages[0].extract_text().split())
    assert "@" not in text.split("Kode keluarga")[1].split("Bot akan")[0]  # no Telegram without a bot
    new_code = re.search(r"Kode keluarga ([A-Z0-9]{8})", text)[1]  # type: ignore[index]
    assert page_qr_codes(again, 0) == [f"https://wa.me/14155238886?text=DAFTAR%20{new_code}"]
    engine = make_engine(sqlite_url)
    async with make_sessionmaker(engine)() as session:
        assert (await check_family_code(session, codes[0], now=utcnow())).status == "replaced"
        assert (await check_family_code(session, new_code, now=utcnow())).status == "ok"
    await engine.dispose()


async def test_bad_audience_and_unwritable_file_are_user_errors(sqlite_url: str, tmp_path: Path) -> None:
    await school_of_36(sqlite_url, tmp_path)
    code, out, err = await letters(sqlite_url, tmp_path, "class:IX-Z", env={})
    assert code == 1 and "no student of SMPN3 is in the audience 'class:IX-Z'" in err
    code, out, err = await letters(sqlite_url, tmp_path, "kelas 7", env={})
    assert code == 1 and err.startswith("jembatan: AUDIENCE:")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "x.pdf").mkdir()  # a folder where the file should go
    code, out, err = await letters(sqlite_url, tmp_path, "grade:8", "--out", "locked/x.pdf", env={})
    assert code == 1 and "--out: locked/x.pdf" in err and "Traceback" not in err
    engine = make_engine(sqlite_url)
    async with make_sessionmaker(engine)() as session:
        assert list((await session.exec(select(FamilyCode))).all()) == []  # nothing issued
    await engine.dispose()


async def test_without_school_every_schools_students_of_the_audience_get_letters(
        sqlite_url: str, tmp_path: Path) -> None:
    from tests.harness import SCHOOL

    await school_of_36(sqlite_url, tmp_path)
    engine = make_engine(sqlite_url)
    await import_roster(make_sessionmaker(engine), SCHOOL, school_code="UJI", school_name="SMP Uji Coba")
    await engine.dispose()
    code, out, err = await letters(sqlite_url, tmp_path, "class:VII-A", "--out", "all.pdf", "--json", env={})
    assert code == 0, err
    texts = [" ".join(page.extract_text().split()) for page in PdfReader(tmp_path / "all.pdf").pages]
    assert sum("SMP Negeri 3 Lubuk Alung" in t for t in texts) == 36
    uji = [t for t in texts if t.startswith("SMP Uji Coba")]
    assert uji and all("Kelas: VII-A" in t for t in uji)
    assert json.loads(out)["pages"] == len(texts) == 36 + len(uji)
    code, out, err = await letters(sqlite_url, tmp_path, "class:VII-A", "--school", "UJI", "--json", env={})
    assert code == 0 and json.loads(out)["pages"] == len(uji)


async def test_a_schools_letters_carry_its_own_whatsapp_number_from_the_channels_file(
        sqlite_url: str, tmp_path: Path) -> None:
    students = await school_of_36(sqlite_url, tmp_path)
    channels = tmp_path / "channels.yaml"
    channels.write_text('SMPN3:\n  twilio_whatsapp_from: "whatsapp:+6281100000003"\n', encoding="utf-8")
    code, out, err = await letters(sqlite_url, tmp_path, f"student:{students[0].nisn}", "--school", "SMPN3",
                                   "--json", env={"TWILIO_WHATSAPP_FROM": WA_FROM, "CHANNELS_FILE": str(channels),
                                                     "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x" * 32})
    assert code == 0, err
    printed = tmp_path / json.loads(out)["file"]
    text = " ".join(PdfReader(printed).pages[0].extract_text().split())
    family_code = re.search(r"Kode keluarga ([A-Z0-9]{8})", text)[1]  # type: ignore[index]
    assert page_qr_codes(printed, 0) == [f"https://wa.me/6281100000003?text=DAFTAR%20{family_code}"]
