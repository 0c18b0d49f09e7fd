"""The counselor's papers: a student's case book (JSON and PDF) and the official meeting letters,
read back as text; letter numbers from the school's pattern, never reused within a year."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader

from handlers.classifier import GROUPS
from handlers.follow_ups import send_due_check_ins
from storage.casebook import COUNSELING_CATEGORIES
from storage.meeting_letters import LetterPatternError, letter_number
from tests.harness import BUDI, HENDRA, RINA, running_school
from tests.test_cli import jembatan

REASON = "Bima sering murung dan dua kali tidak masuk tanpa keterangan. Kami ingin membantunya."


def _text(pdf: Path) -> str:
    """The PDF's words, lines joined (wrapped lines break anywhere)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


def test_counseling_categories_match_the_classifier() -> None:
    assert COUNSELING_CATEGORIES == GROUPS["counseling"]


def test_letter_number_fields_and_errors() -> None:
    pattern = "421.3/{seq:03d}/SMPN3/{roman_month}/{year}"
    assert letter_number(pattern, seq=7, day=date(2026, 12, 4)) == "421.3/007/SMPN3/XII/2026"
    assert letter_number("{seq}-{month:02d}", seq=12, day=date(2027, 3, 1)) == "12-03"
    with pytest.raises(LetterPatternError, match=r"unknown field \{nomor\}.*known: seq, roman_month, year, month"):
        letter_number("{nomor}/{year}", seq=1, day=date(2026, 12, 4))
    with pytest.raises(LetterPatternError, match="cannot use"):
        letter_number("{seq:xyz}", seq=1, day=date(2026, 12, 4))


async def _bimas_case(school) -> int:  # type: ignore[no-untyped-def]
    """A concern, a summons answered, an agreement with its check-in, a home visit; the summons id."""
    ack = await school.say(HENDRA, "Bu, Bima akhir-akhir ini sering murung dan menangis, tidak mau cerita")
    if "Perilaku, perasaan" in ack[-1]["text"] or ack[-1]["buttons"]:
        await school.say(HENDRA, press="cg:counseling")
    await school.inbox(RINA)
    await school.say(RINA, "Terima kasih Pak, saya ajak Bima bicara besok.")
    await school.say(RINA, "panggil Bima")
    await school.say(RINA, REASON)
    await school.say(RINA, "14/12 13.00")
    await school.say(RINA, press="pg:where")
    await school.say(RINA, press="pg:confirm")
    invitation = (await school.inbox(HENDRA))[-1]
    attend = next(b["data"] for row in invitation["buttons"] for b in row if b["data"].endswith(":attend"))
    await school.say(HENDRA, press=attend)
    meeting_id = int(attend.split(":")[1])
    await school.say(RINA, "kesepakatan")
    await school.say(RINA, "0071000002")
    await school.say(RINA, "Bima menulis jurnal perasaan; ayah menemaninya setiap Minggu.")
    await school.say(RINA, "1 minggu")
    await school.say(RINA, press="ks:save")
    for answer in ("kunjungan", "Bima", "hari ini", "Pak Hendra", "Suasana rumah sejak ibu bekerja di luar kota."):
        await school.say(RINA, answer)
    await school.say(RINA, press="kr:none")
    await school.say(RINA, press="kr:save")
    school.clock.advance(days=8)
    await send_due_check_ins(school.services.sessions, now=school.clock.now(), simulator_enabled=True)
    question = (await school.inbox(HENDRA))[-1]
    await school.say(HENDRA, press=question["buttons"][0][0]["data"])  # Membaik
    return meeting_id


async def test_case_book_and_letters_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        meeting_id = await _bimas_case(school)
        env = {"TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886"}
        letter_pdf = tmp_path / "surat.pdf"
        first = jembatan("meeting", "letter", str(meeting_id), "--out", str(letter_pdf), "--json",
                         database_url=database_url, cwd=tmp_path, extra_env=env)
        assert first.returncode == 0, first.stderr
        printed = json.loads(first.stdout)
        year = datetime.now(UTC).year  # the CLI numbers letters by today's date
        assert printed == {"letters": 1, "numbers": [f"001/BK/{printed['numbers'][0].split('/')[2]}/{year}"],
                           "file": str(letter_pdf)}
        text = _text(letter_pdf)
        for expected in ("SMP Uji Coba", "Surat Panggilan Orang Tua/Wali ke-1", "Bima Wijaya", "Hendra Wijaya",
                         "Senin, 14 Desember 2026", "13.00", "Ruang BK", "sering murung", "Rina Marlina",
                         "Ahmad Fauzi", printed["numbers"][0]):
            assert expected in text, expected
        page = pypdfium2.PdfDocument(str(letter_pdf))[0].render(scale=3).to_pil()
        decoded = [r.text for r in zxingcpp.read_barcodes(page)]
        assert decoded == [f"https://wa.me/14155238886?text=RAPAT%20{meeting_id}"]

        again = json.loads(jembatan("meeting", "letter", str(meeting_id), "--out", str(letter_pdf), "--json",
                                    database_url=database_url, cwd=tmp_path).stdout)
        assert again["numbers"] == printed["numbers"]  # a reprint keeps its number

        book_pdf = tmp_path / "kasus.pdf"
        result = jembatan("report", "casebook", "0071000002", "--pdf", str(book_pdf), "--json",
                          database_url=database_url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        book = json.loads(result.stdout)
        assert set(book) == {"student", "entries"}
        assert book["student"] == {"nisn": "0071000002", "name": "Bima Wijaya", "class": "VII-B"}
        kinds = [e["kind"] for e in book["entries"]]
        assert kinds == ["concern", "summons", "agreement", "home_visit", "check_in"]
        stamps = [datetime.fromisoformat(e["at"]) for e in book["entries"]]
        assert stamps == sorted(stamps) and all(s.tzinfo for s in stamps)
        concern, summons, agreement, visit, check_in = book["entries"]
        assert [m["author"] for m in concern["messages"]] == ["guardian", "staff"]
        assert "murung" in concern["messages"][0]["text"]
        assert summons["level"] == 1 and summons["outcome"]["answered"] == "attend"
        assert summons["outcome"]["agreement"] is True
        assert summons["letters"][0]["number"] == printed["numbers"][0]
        assert visit["discussed"].startswith("Suasana rumah") and visit["date"] == "2026-11-23"
        assert check_in["answer"] == "improved" and check_in["agreement_id"] == agreement["id"]
        text = _text(book_pdf)
        for expected in ("BUKU KASUS", "Bima Wijaya", "Surat Panggilan ke-1", "Suasana rumah", "jurnal perasaan",
                         "Membaik", printed["numbers"][0]):
            assert expected in text, expected

        unknown = jembatan("report", "casebook", "0000000000", "--json", database_url=database_url, cwd=tmp_path)
        assert unknown.returncode == 1 and "no student with NISN" in unknown.stderr


async def test_letter_numbers_count_on_and_refuse_an_uninvited_meeting(sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url) as school:
        meeting_id = await _bimas_case(school)
        first = json.loads(jembatan("meeting", "letter", str(meeting_id), "--out", str(tmp_path / "a.pdf"),
                                    "--json", database_url=sqlite_url, cwd=tmp_path).stdout)
        path = tmp_path / "rapat.yaml"
        path.write_text("type: rapat_komite\ntitle: Rapat Komite\norganizer: T-004\naudience: class:VII-A\n"
                        "location: Aula\nroom_capacity: 30\nslots:\n  - {start: 2026-12-19T08:00, end: 2026-12-19T10:00}\n")
        created = json.loads(jembatan("meeting", "create", str(path), "--json", database_url=sqlite_url,
                                      cwd=tmp_path).stdout)
        refused = jembatan("meeting", "letter", str(created["id"]), database_url=sqlite_url, cwd=tmp_path)
        assert refused.returncode == 1 and "meeting invite" in refused.stderr
        assert jembatan("meeting", "invite", str(created["id"]), database_url=sqlite_url, cwd=tmp_path).returncode == 0
        second = json.loads(jembatan("meeting", "letter", str(created["id"]), "--out", str(tmp_path / "b.pdf"),
                                     "--json", database_url=sqlite_url, cwd=tmp_path).stdout)
        seqs = [int(n.split("/")[0]) for n in first["numbers"] + second["numbers"]]
        assert seqs == [1, 2, 3] and second["letters"] == 2  # Ani's family, Citra's family
        assert "Undangan Rapat Komite" in _text(tmp_path / "b.pdf")
        missing = jembatan("meeting", "letter", "999", database_url=sqlite_url, cwd=tmp_path)
        assert missing.returncode == 1 and "no meeting with id 999" in missing.stderr


async def test_a_letters_qr_opens_the_invitation_to_answer(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        meeting_id = await _bimas_case(school)
        again = await school.say(HENDRA, f"RAPAT {meeting_id}")  # what the WhatsApp QR code types
        assert "Surat Panggilan ke-1" in again[-1]["text"]
        assert any(b["data"] == f"rv:{meeting_id}:attend" for row in again[-1]["buttons"] for b in row)
        telegram = await school.say(HENDRA, f"/start rapat_{meeting_id}")  # the Telegram QR's deep link
        assert "Surat Panggilan ke-1" in telegram[-1]["text"]
        assert "tidak berlaku" in (await school.say(HENDRA, "rapat 999"))[-1]["text"]


async def test_case_book_page_only_for_the_classs_counselor_and_the_principal(database_url: str) -> None:
    from sqlmodel import select

    from storage.models import AuditEntry
    from tests.harness import AHMAD, BUDI, DEWI, SRI
    from tests.test_dashboard import csv_rows, signed_in, visible_text

    async with running_school(database_url) as school:
        meeting_id = await _bimas_case(school)
        rina = await signed_in(school, RINA)
        page = await rina.get("/dashboard/students/0071000002/casebook")
        assert page.status_code == 200
        text = visible_text(page.text)
        for expected in ("Buku kasus: Bima Wijaya", "Rahasia", "Panggilan ke-1", "Suasana rumah", "murung",
                         "jurnal perasaan", "Membaik"):
            assert expected in text, expected
        rows = csv_rows(await rina.get("/dashboard/students/0071000002/casebook?format=csv&table=casebook"))
        assert [r[1] for r in rows[1:]] == ["Pesan konseling", "Surat panggilan", "Kesepakatan",
                                            "Kunjungan rumah", "Jawaban pemantauan"]
        pdf = await rina.get("/dashboard/students/0071000002/casebook.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert "BUKU KASUS" in " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())

        # Bima's wali kelas, a subject teacher, the office: no case book, not even that it exists.
        for phone in (BUDI, SRI, DEWI):
            other = await signed_in(school, phone)
            for path in ("/dashboard/students/0071000002/casebook", "/dashboard/students/0071000002/casebook.pdf",
                         "/dashboard/students/0071000002/casebook?format=csv&table=casebook"):
                refused = await other.get(path)
                assert refused.status_code == 404 and "murung" not in refused.text, (phone, path)
            assert (await other.get("/dashboard/bk-report")).status_code == 404

        ahmad = await signed_in(school, AHMAD)
        assert "Suasana rumah" in visible_text((await ahmad.get("/dashboard/students/0071000002/casebook")).text)
        async with school.services.sessions() as session:
            audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "open_casebook"))).all()
        assert [a.subject for a in audit] == ["student:0071000002"]  # the principal's opening, not Rina's

        report = await ahmad.get("/dashboard/bk-report?month=2026-11")
        text = visible_text(report.text)
        assert report.status_code == 200 and "Laporan BK November 2026" in text
        rows = csv_rows(await ahmad.get("/dashboard/bk-report?month=2026-11&format=csv&table=bk_report"))
        counts = {(r[0], r[1]): r[2] for r in rows[1:]}
        assert counts[("summons", "level_1")] == "1" and counts[("home_visits", "recorded")] == "1"
        assert counts[("agreements", "made")] == "1"
        assert counts[("check_ins", "due")] == "1" and counts[("check_ins", "answered")] == "1"  # 30 November
        december = csv_rows(await ahmad.get("/dashboard/bk-report?month=2026-12&format=csv&table=bk_report"))
        assert {(r[0], r[1]): r[2] for r in december[1:]}[("check_ins", "due")] == "0"
        month_pdf = await ahmad.get("/dashboard/bk-report.pdf?month=2026-11")
        assert "LAPORAN BIMBINGAN DAN KONSELING" in PdfReader(io.BytesIO(month_pdf.content)).pages[0].extract_text()

        letters = await rina.get(f"/dashboard/meetings/{meeting_id}/letters.pdf")
        assert letters.status_code == 200
        assert "Surat Panggilan Orang Tua/Wali ke-1" in PdfReader(io.BytesIO(letters.content)).pages[0].extract_text()
        assert (await (await signed_in(school, SRI)).get(f"/dashboard/meetings/{meeting_id}/letters.pdf")
                ).status_code == 404


async def test_case_book_lists_a_hand_over_without_its_words(database_url: str, tmp_path: Path) -> None:
    """A sick note the wali kelas hands to the guru BK appears in the case book as a hand-over."""
    async with running_school(database_url) as school:
        await school.say(HENDRA, "Bu, Bima izin tidak masuk hari ini karena demam.")
        forwarded = await school.inbox(BUDI)
        number = re.search(r"#(\d+)", forwarded[-1]["text"]).group(1)  # type: ignore[union-attr]
        offered = (await school.say(BUDI, f"alihkan {number}"))[-1]
        to_counselor = next(b["data"] for row in offered["buttons"] for b in row if "Rina Marlina" in b["label"])
        await school.say(BUDI, press=to_counselor)
        result = jembatan("report", "casebook", "0071000002", "--json", database_url=database_url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        moves = [e for e in json.loads(result.stdout)["entries"] if e["kind"] == "handover"]
        assert [(m["from"], m["to"], m["source"]) for m in moves] == [
            ("Budi Santoso", "Rina Marlina", "handover")]
        assert "demam" not in json.dumps(moves)
