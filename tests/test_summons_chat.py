"""Summons (`panggil`) and invitations (`undang`) written by staff in chat, through the simulator."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from scheduler.when import WhenProblem, parse_when
from storage.models import Meeting, MeetingInvitation, MeetingSlot
from storage.reports import participation
from templates.render import LANGUAGES, render
from tests.harness import (
    AHMAD,
    HENDRA,
    JOKO,
    MAYA,
    RAHMAT,
    RINA,
    SCHOOL,
    SRI,
    YULIA,
    running_school,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # the harness clock: Monday 09.00 WIB
REASON = ("Bima sudah tiga kali tidak masuk tanpa keterangan bulan ini. Kami ingin membicarakan "
          "bersama Bapak/Ibu bagaimana membantunya.")


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message["buttons"] for b in row]


def _data(message: dict[str, Any]) -> list[str]:
    return [b["data"] for b in _buttons(message)]


async def _meetings(school) -> list[Meeting]:  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session:
        return list((await session.exec(select(Meeting))).all())


def _roster_with_grade_8(tmp_path: Path) -> Path:
    """The test school plus Dodi in VIII-A, whose class no grade-7 teacher or counselor covers."""
    roster = tmp_path / "roster"
    shutil.copytree(SCHOOL, roster)
    with (roster / "students.csv").open("a") as handle:
        handle.write("0081000001,Dodi Pratama,VIII-A\n")
    with (roster / "guardians.csv").open("a") as handle:
        handle.write("0081000001,Siti Aminah,ibu,081300000009,id,no\n")
    return roster


# ---------------------------------------------------------------- panggil


async def test_counselor_summons_only_the_students_own_guardians(database_url: str) -> None:
    async with running_school(database_url) as school:
        asked = await school.say(RINA, "panggil")
        assert "NISN atau nama siswa" in asked[-1]["text"]
        reason_question = await school.say(RINA, "Bima")
        assert "Bima Wijaya (VII-B)" in reason_question[-1]["text"]
        assert "dibaca oleh keluarga" in reason_question[-1]["text"]  # staff are told the family reads it
        when_question = await school.say(RINA, REASON)
        assert "14/12 13.00" in when_question[-1]["text"] and "30 menit" in when_question[-1]["text"]

        unreadable = await school.say(RINA, "secepatnya")
        assert "belum dapat membaca" in unreadable[-1]["text"] and "Kapan" in unreadable[-1]["text"]
        past = await school.say(RINA, "20/11/2026 10.00")
        assert "sudah lewat" in past[-1]["text"] and "Kapan" in past[-1]["text"]

        where = await school.say(RINA, "14/12 13.00")
        assert _buttons(where[-1]) == [{"label": "Ruang BK", "data": "pg:where"}]
        summary = (await school.say(RINA, press="pg:where"))[-1]
        assert "Senin, 14 Desember 2026 pukul 13.00 WIB" in summary["text"]
        assert "Ruang BK" in summary["text"] and "tiga kali tidak masuk" in summary["text"]
        assert "1 orang tua/wali: Hendra Wijaya (Ayah)" in summary["text"]
        assert [b["label"] for b in _buttons(summary)] == ["Kirim", "Ubah", "Batal"]
        assert _data(summary) == ["pg:confirm", "pg:edit", "pg:cancel"]

        sent = await school.say(RINA, press="pg:confirm")
        assert "kepada 1 orang tua/wali" in sent[-1]["text"]
        assert "belum terhubung" not in sent[-1]["text"]
        again = await school.say(RINA, press="pg:confirm")  # pressed twice: nothing is sent twice
        assert "tidak berlaku" in again[-1]["text"]

        hendra = await school.inbox(HENDRA)
        assert len(hendra) == 1
        text = hendra[0]["text"]
        assert "Senin, 14 Desember 2026 pukul 13.00 WIB" in text
        assert "tiga kali tidak masuk" in text and "Rina Marlina" in text and "Ruang BK" in text
        assert "Bima Wijaya" in text and "Ani" not in text
        for other in (MAYA, YULIA, RAHMAT, SRI):
            assert await school.inbox(other) == [], f"{other} must not receive a summons about Bima"

        [meeting] = await _meetings(school)
        assert (meeting.type, meeting.audience, meeting.room_capacity, meeting.status) == (
            "surat_panggilan", "student:0071000002", 1, "invited")
        assert meeting.location == "Ruang BK" and meeting.reason == REASON
        async with school.services.sessions() as session:
            [slot] = (await session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == meeting.id))).all()
            [invitation] = (await session.exec(select(MeetingInvitation))).all()
        assert slot.starts_at == datetime(2026, 12, 14, 6, 0, tzinfo=UTC)
        assert slot.ends_at - slot.starts_at == timedelta(minutes=30)  # type: ignore[operator]
        assert invitation.outbox_id is not None  # the participation report can see it was reached

        hadir = next(b["data"] for b in _buttons(hendra[0]) if b["label"] == "Hadir")
        await school.say(HENDRA, press=hadir)
        told = await school.inbox(RINA)
        assert any("Hendra Wijaya" in m["text"] and "akan hadir" in m["text"] for m in told)
        async with school.services.sessions() as session:
            total = (await participation(session, meeting.id))[0]
        assert (total.invited, total.accepted, total.unreachable) == (1, 1, 0)


async def test_summons_by_nisn_and_by_a_name_shared_by_siblings(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        direct = await school.say(RINA, "panggil 0071000002")
        assert "Bima Wijaya (VII-B)" in direct[-1]["text"]

        several = (await school.say(RINA, "panggil wijaya"))[-1]
        assert [b["label"] for b in _buttons(several)] == ["Ani Wijaya (VII-A)", "Bima Wijaya (VII-B)"]
        assert all(data.startswith("pg:student:") for data in _data(several))
        chosen = await school.say(RINA, "1")  # a number picks a button on every channel
        assert "Ani Wijaya (VII-A)" in chosen[-1]["text"]
        stale = await school.say(RINA, press=_data(several)[1])  # the choice was made already
        assert "tidak berlaku" in stale[-1]["text"]

        unknown = await school.say(SRI, "panggil Zaenal")
        assert "tidak menemukan" in unknown[-1]["text"]


async def test_a_teacher_cannot_summon_outside_her_classes(sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url, roster=_roster_with_grade_8(tmp_path)) as school:
        refused = await school.say(SRI, "panggil 0081000001")
        assert "Dodi Pratama berada di kelas VIII-A" in refused[-1]["text"]
        assert "hanya dapat memanggil" in refused[-1]["text"] and "VII-A, VII-B" in refused[-1]["text"]
        by_name = await school.say(SRI, "Dodi")  # still asked for a student: the same answer
        assert "hanya dapat memanggil" in by_name[-1]["text"]
        counselor = await school.say(RINA, "panggil Dodi Pratama")
        assert "hanya dapat memanggil" in counselor[-1]["text"] and "kelas 7" in counselor[-1]["text"]
        invite = await school.say(SRI, "undang VIII-A")
        assert "hanya dapat mengundang" in invite[-1]["text"] and "VIII-A" in invite[-1]["text"]
        school_wide = await school.say(SRI, "sekolah")  # the whole school includes VIII-A
        assert "hanya dapat mengundang" in school_wide[-1]["text"]
        assert await _meetings(school) == []
        assert await school.inbox("+6281300000009") == []

        principal = await school.say(AHMAD, "panggil 0081000001")
        assert "Dodi Pratama (VIII-A)" in principal[-1]["text"]  # the principal may: on to the reason


async def test_bad_dates_are_asked_again(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(RINA, "panggil 0071000002")
        await school.say(RINA, REASON)
        cases = {
            "besok saja": "belum dapat membaca",
            "14/12": "Jamnya belum ada",
            "31/02 10.00": "tidak ada di kalender",
            "Selasa 14 Desember 13.00": "Senin, 14 Desember 2026",  # the day does not match the date
            "23/11 08.00": "sudah lewat",  # earlier today
            "14/12/2030 10.00": "lebih dari setahun",
        }
        for typed, expected in cases.items():
            answer = (await school.say(RINA, typed))[-1]["text"]
            assert expected in answer and "Kapan pertemuannya" in answer, typed
        where = await school.say(RINA, "Senin, 14 Desember 2026 pukul 13.00 WIB")
        assert "Di mana" in where[-1]["text"]


async def test_batal_cancels_and_creates_nothing(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(RINA, "panggil 0071000002")
        await school.say(RINA, REASON)
        cancelled = await school.say(RINA, "batal")  # in the middle: the command word
        assert "dibatalkan" in cancelled[-1]["text"]
        assert "tidak berlaku" in (await school.say(RINA, press="pg:where"))[-1]["text"]

        await school.say(RINA, "panggil 0071000002")
        await school.say(RINA, REASON)
        await school.say(RINA, "14/12 13.00")
        await school.say(RINA, "Ruang Kepala Sekolah")
        cancelled = await school.say(RINA, "Batal")  # at the summary: the button's label
        assert "Tidak ada surat panggilan yang dikirim" in cancelled[-1]["text"]
        stale = await school.say(RINA, press="pg:confirm")
        assert "tidak berlaku" in stale[-1]["text"]
        assert await _meetings(school) == []
        assert await school.inbox(HENDRA) == []


async def test_change_a_field_from_the_summary(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(RINA, "panggil 0071000002")
        await school.say(RINA, REASON)
        await school.say(RINA, "14/12 13.00")
        await school.say(RINA, press="pg:where")
        which = (await school.say(RINA, press="pg:edit"))[-1]
        assert _data(which) == ["pg:change:student", "pg:change:reason", "pg:change:when", "pg:change:where"]
        await school.say(RINA, "Waktu")
        summary = (await school.say(RINA, "15/12 10.00"))[-1]
        assert "Selasa, 15 Desember 2026 pukul 10.00 WIB" in summary["text"]
        assert "Ruang BK" in summary["text"] and "tiga kali" in summary["text"]  # the rest is kept
        foreign = await school.say(RINA, press="ug:confirm")  # an invitation's button in a summons
        assert "tidak berlaku" in foreign[-1]["text"]
        await school.say(RINA, "kirim")
        assert "Selasa, 15 Desember 2026 pukul 10.00 WIB" in (await school.inbox(HENDRA))[-1]["text"]


async def test_english_speaking_teacher_gets_english_questions(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        asked = await school.say(JOKO, "summon Citra")
        assert "Citra Lestari (VII-A)" in asked[-1]["text"] and "exactly as you write it" in asked[-1]["text"]
        await school.say(JOKO, "Citra has not handed in her English homework for three weeks.")
        where = await school.say(JOKO, "Monday 14 December 1pm")
        assert _buttons(where[-1]) == [{"label": "Ruang Guru", "data": "pg:where"}]
        summary = (await school.say(JOKO, press="pg:where"))[-1]
        assert "Monday, 14 December 2026 at 13:00 WIB" in summary["text"]
        assert [b["label"] for b in _buttons(summary)] == ["Send", "Change", "Cancel"]
        assert "Yulia Lestari (Mother)" in summary["text"] and "Rahmat" not in summary["text"]
        await school.say(JOKO, press="pg:confirm")
        assert "Monday, 14 December 2026 at 13:00 WIB" in (await school.inbox(YULIA))[-1]["text"]
        assert await school.inbox(RAHMAT) == []  # the proxy is invited only if the parent asks


# ---------------------------------------------------------------- undang


async def test_homeroom_teacher_invites_her_class_to_the_committee_meeting(database_url: str) -> None:
    async with running_school(database_url) as school:
        asked = (await school.say(SRI, "undang"))[-1]
        assert _data(asked) == ["ug:aud:class:VII-A", "ug:aud:class:VII-B"]
        types = (await school.say(SRI, "class:VII-A"))[-1]
        assert "ug:type:rapat_komite" in _data(types) and "ug:type:surat_panggilan" not in _data(types)
        assert "Rapat Komite" in [b["label"] for b in _buttons(types)]
        title = (await school.say(SRI, press="ug:type:rapat_komite"))[-1]
        assert [b["label"] for b in _buttons(title)] == ["Rapat Komite Kelas VII-A"]
        await school.say(SRI, press="ug:title")
        where = (await school.say(SRI, "Sabtu 19/12 08.00-12.00"))[-1]
        assert _buttons(where) == [{"label": "Ruang Kelas VII-A", "data": "ug:where"}]
        await school.say(SRI, "Aula Sekolah")
        summary = (await school.say(SRI, "Buku penghubung"))[-1]
        assert "Penerima: 3 orang tua/wali dari 2 keluarga (2 siswa)" in summary["text"]
        assert "Sabtu, 19 Desember 2026 pukul 08.00 WIB – 12.00 WIB" in summary["text"]
        assert "kelas VII-A" in summary["text"] and "Buku penghubung" in summary["text"]

        sent = await school.say(SRI, press="ug:confirm")
        assert "kepada 3 orang tua/wali (2 keluarga)" in sent[-1]["text"]
        hendra, maya, yulia = [await school.inbox(phone) for phone in (HENDRA, MAYA, YULIA)]
        assert len(hendra) == len(maya) == len(yulia) == 1, "each family's guardians once"
        assert "Rapat Komite Kelas VII-A" in hendra[0]["text"] and "Ani Wijaya (VII-A)" in hendra[0]["text"]
        assert "Bima" not in hendra[0]["text"]  # Bima is in VII-B, not invited
        assert "Aula Sekolah" in maya[0]["text"] and "Buku penghubung" in maya[0]["text"]
        assert "Saturday, 19 December 2026" in yulia[0]["text"]  # in her own language
        assert await school.inbox(RAHMAT) == []

        [meeting] = await _meetings(school)
        assert (meeting.type, meeting.audience, meeting.room_capacity, meeting.bring) == (
            "rapat_komite", "class:VII-A", 2, "Buku penghubung")
        async with school.services.sessions() as session:
            [slot] = (await session.exec(select(MeetingSlot))).all()
            linked = (await session.exec(select(MeetingInvitation.outbox_id))).all()
        assert (slot.starts_at, slot.ends_at) == (datetime(2026, 12, 19, 1, tzinfo=UTC),
                                                  datetime(2026, 12, 19, 5, tzinfo=UTC))
        assert len(linked) == 3 and all(linked)


async def test_invitation_input_is_checked(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        unknown = await school.say(SRI, "undang class:IX-Z")
        assert "IX-Z tidak ada" in unknown[-1]["text"] and "VII-A, VII-B" in unknown[-1]["text"]
        unreadable = await school.say(SRI, "orang tua yang rajin")
        assert "belum dapat membaca" in unreadable[-1]["text"]
        await school.say(SRI, "kelas 7")  # grade 7: both her classes
        wrong = await school.say(SRI, "arisan")
        assert "bukan salah satu jenis" in wrong[-1]["text"]
        await school.say(SRI, "Pembagian Rapor")  # a type typed by its name
        await school.say(SRI, "x")
        await school.say(SRI, "Pembagian Rapor Semester Ganjil")
        await school.say(SRI, "19/12 08.00")
        await school.say(SRI, "Ruang Kelas")
        summary = (await school.say(SRI, "-"))[-1]
        assert "Penerima: 3 orang tua/wali dari 2 keluarga (3 siswa)" in summary["text"]  # siblings together
        assert "08.00 WIB – 10.00 WIB" in summary["text"]  # two hours unless a range is written
        assert "Yang perlu dibawa: tidak ada" in summary["text"]
        nudged = await school.say(SRI, "hmm")
        assert "Mohon pilih Kirim, Ubah, atau Batal" in nudged[-1]["text"]
        await school.say(SRI, press="ug:confirm")
        hendra = await school.inbox(HENDRA)
        assert len(hendra) == 1 and "Ani Wijaya (VII-A) dan Bima Wijaya (VII-B)" in hendra[0]["text"]
        [meeting] = await _meetings(school)
        assert (meeting.type, meeting.audience, meeting.room_capacity, meeting.bring) == (
            "pembagian_rapor", "grade:7", 2, None)


async def test_stale_and_foreign_buttons(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        assert "tidak berlaku" in (await school.say(RINA, press="pg:confirm"))[-1]["text"]
        assert "tidak berlaku" in (await school.say(RINA, press="ug:type:rapat_komite"))[-1]["text"]
        await school.say(RINA, "undang")
        assert "tidak berlaku" in (await school.say(RINA, press="ug:type:rapat_komite"))[-1]["text"]
        assert "tidak berlaku" in (await school.say(RINA, press="pg:student:1"))[-1]["text"]
        assert "tidak berlaku" in (await school.say(RINA, press="ug:aud:school"))[-1]["text"]  # not offered
        refused = await school.say(HENDRA, "panggil 0071000002")
        assert "khusus untuk guru" in refused[-1]["text"]


async def test_on_whatsapp_by_numbers_and_unreachable_families_are_named(sqlite_url: str) -> None:
    from tests.phones import network

    async with network(sqlite_url) as net:
        rina = await net.phone("whatsapp", RINA)
        maya = await net.phone("telegram", MAYA)
        asked = (await rina.say("undang"))[-1]
        assert asked["choices"] == ["Kelas 7"]  # what she covers, as a numbered choice
        await rina.say("VII-A")
        await rina.say("1")  # Rapat Komite
        await rina.say("1")  # the suggested title
        await rina.say("19/12 08.00")
        await rina.say("1")  # Ruang Kelas VII-A
        summary = (await rina.say("1"))[-1]  # nothing to bring
        assert summary["choices"] == ["Kirim", "Ubah", "Batal"]
        assert "3 orang tua/wali dari 2 keluarga" in summary["text"]
        sent = (await rina.say("1"))[-1]["text"]
        # Only Maya has a chat account: Hendra and Yulia are named so the school can phone them.
        assert "kepada 1 orang tua/wali (2 keluarga)" in sent
        assert "2 orang tua/wali belum terhubung" in sent and "Hendra Wijaya, Yulia Lestari" in sent
        invitation = (await maya.new())[-1]
        await maya.press(invitation, "Hadir")
        assert any("Maya Wijaya" in m["text"] for m in await rina.new())
        async with net.services.sessions() as session:
            [meeting] = (await session.exec(select(Meeting))).all()
            total = (await participation(session, meeting.id))[0]
        assert (total.invited, total.accepted, total.unreachable) == (2, 1, 1)  # Yulia's family


# ---------------------------------------------------------------- the date reader


@pytest.mark.parametrize("typed, start, end", [
    ("14/12 13.00", (12, 14, 13, 0), None),
    ("14-12-2026 13:00", (12, 14, 13, 0), None),
    ("2026-12-14 13:00", (12, 14, 13, 0), None),
    ("Senin 14 Desember 13.00", (12, 14, 13, 0), None),
    ("senin, 14 des 2026 pukul 13.00 WIB", (12, 14, 13, 0), None),
    ("Monday 14 December 1pm", (12, 14, 13, 0), None),
    ("December 14 13:00", (12, 14, 13, 0), None),
    ("14.12.2026 13.30", (12, 14, 13, 30), None),
    ("19/12 08.00-12.00", (12, 19, 8, 0), (12, 19, 12, 0)),
    ("19/12 pukul 08.00 s.d. 12.00", (12, 19, 8, 0), (12, 19, 12, 0)),
    ("besok jam 9", (11, 24, 9, 0), None),
    ("Sabtu 08.00", (11, 28, 8, 0), None),
    # Said as people say it, read by the availability reader (issue 20 item 10).
    ("Sabtu 19 Desember jam 8 pagi sampai jam 12", (12, 19, 8, 0), (12, 19, 12, 0)),
    ("19 Desember jam 1 siang sampai jam 3 sore", (12, 19, 13, 0), (12, 19, 15, 0)),
    ("besok jam 7 malam", (11, 24, 19, 0), None),
    ("14/12 pukul 1 siang", (12, 14, 13, 0), None),
    ("Saturday 19 December 8am to 12", (12, 19, 8, 0), (12, 19, 12, 0)),
])
def test_dates_staff_write(typed: str, start: tuple[int, int, int, int], end: tuple[int, int, int, int] | None) -> None:
    def local(parts: tuple[int, int, int, int]) -> datetime:
        month, day, hour, minute = parts
        return datetime(2026, month, day, hour - 7, minute, tzinfo=UTC) if hour >= 7 else \
            datetime(2026, month, day - 1, hour + 17, minute, tzinfo=UTC)

    assert parse_when(typed, NOW, "Asia/Jakarta") == (local(start), local(end) if end else None)


def test_a_date_without_a_year_is_the_coming_one() -> None:
    start, _ = parse_when("5/1 10.00", NOW, "Asia/Jakarta")
    assert start == datetime(2027, 1, 5, 3, 0, tzinfo=UTC)
    start, _ = parse_when("14/12 13.00", NOW, "Asia/Makassar")  # read in the school's zone (WITA)
    assert start == datetime(2026, 12, 14, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize("typed, code", [
    ("kapan saja", "unreadable"), ("14/12", "no_time"), ("13.00", "no_date"), ("31/2 10.00", "no_such_date"),
    ("Selasa 14/12 10.00", "weekday"), ("20/11 10.00", "past"), ("1/11/2026 10.00", "past"),
    ("14/12/2028 10.00", "too_far"), ("14/12 13.00-12.00", "end_before_start"), ("14/12 25.00", "unreadable"),
])
def test_dates_that_cannot_be_used(typed: str, code: str) -> None:
    with pytest.raises(WhenProblem) as problem:
        parse_when(typed, NOW, "Asia/Jakarta")
    assert problem.value.code == code


# ---------------------------------------------------------------- every text renders


_AT = datetime(2026, 12, 14, 6, 0, tzinfo=UTC)
_TEXTS: list[tuple[str, dict[str, Any]]] = [
    ("summons_title", {"child_name": "Bima Wijaya"}),
    *[("summons_ask_student", {"flow": "summons", "problem": p, "text": "Bima", "count": 12,
                               "child_name": "Bima Wijaya", "class_name": "VII-B"})
      for p in (None, "not_found", "several", "too_many", "no_guardians")],
    *[("summons_not_allowed", {"flow": "summons", "several": several, "child_name": "Dodi", "class_names": ["VIII-A"],
                               "role": role, "mine": ["VII-A", "7"]})
      for several in (False, True) for role in ("teacher", "counselor")],
    *[("summons_ask_reason", {"flow": "summons", "problem": p, "text": "", "child_name": "Bima Wijaya",
                              "class_name": "VII-B", "limit": 1000, "level": 2, "tz": "Asia/Jakarta",
                              "earlier": earlier}) for p in (None, "short", "long")
      for earlier in ([], [{"level": 1, "at": _AT, "reason": REASON}])],
    *[("summons_ask_when", {"flow": flow, "problem": p, "text": "x", "tz_name": "WIB", "minutes": m, "at": _AT,
                            "tz": "Asia/Jakarta", "days": 14, "may_choose": may_choose})
      for flow, m in (("summons", 30), ("invitation", 120)) for may_choose in (False, True)
      for p in (None, "unreadable", "no_time", "no_date", "no_such_date", "weekday", "past", "too_far",
                "end_before_start", "no_free_slots") if flow == "summons" or p != "no_free_slots"],
    *[("summons_ask_where", {"flow": "invitation", "problem": p, "text": "", "suggestion": s, "home": h, "limit": 120})
      for p in (None, "short", "long") for s, h in (("Ruang BK", False), ("", True), ("", False))],
    *[("summons_ask_audience", {"flow": "invitation", "problem": p, "text": "IX-Z", "unknown": ["IX-Z"],
                                "classes": ["VII-A"], "refused": ["VIII-A"], "mine": ["VII-A", "7"], "role": "teacher"})
      for p in (None, "unreadable", "unknown", "not_allowed", "empty")],
    *[("summons_ask_type", {"flow": "invitation", "problem": p, "text": "arisan"}) for p in (None, "unknown")],
    *[("summons_ask_title", {"flow": "invitation", "problem": p, "text": "", "suggestion": "Rapat Komite",
                             "type_key": "rapat_komite", "limit": 150}) for p in (None, "short", "long")],
    *[("summons_ask_bring", {"flow": "invitation", "problem": p, "text": "", "limit": 300}) for p in (None, "long")],
    *[("summons_confirm", {"flow": "summons", "again": again, "start": _AT, "end": _AT, "tz": "Asia/Jakarta",
                           "minutes": 30, "location": "Ruang BK", "child_name": "Bima", "class_name": "VII-B",
                           "reason": REASON, "guardians": [{"name": "Hendra", "relation": "ayah"}],
                           "role": "counselor", "organizer_name": "Rina Marlina", "choose": choose, "days": 14,
                           "level": 1,
                           "free": "Sabtu 09.00–10.00"}) for again in (False, True) for choose in (False, True)],
    *[("summons_confirm_invitation", {
        "flow": "invitation", "again": again, "start": _AT, "end": _AT, "tz": "Asia/Jakarta", "minutes": 120,
        "location": location, "meeting_type": "kunjungan_rumah", "title": "T", "bring": bring, "families": 2,
        "guardians": 3, "students": 3, "choose": choose, "days": 14, "free": "Sabtu 09.00–10.00",
        "audience": [{"kind": "school", "values": []}, {"kind": "grade", "values": ["7"]},
                     {"kind": "class", "values": ["VII-A"]}, {"kind": "student", "values": ["Ani (VII-A)"]}]})
      for again in (False, True) for location, bring in (("", ""), ("Aula", "Rapor")) for choose in (False, True)],
    *[("summons_ask_change", {"flow": "summons", "again": again}) for again in (False, True)],
    *[("summons_sent", {"flow": flow, "meeting_id": 7, "title": "T", "families": 2, "invited": 3,
                        "unreachable": names, "start": _AT, "tz": "Asia/Jakarta", "choose": choose})
      for flow in ("summons", "invitation") for names in ([], ["Maya Wijaya"]) for choose in (False, True)],
    *[("summons_cancelled", {"flow": flow}) for flow in ("summons", "invitation")],
]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_summons_text_renders_in_both_languages(lang: str) -> None:
    names = {name for name, _ in _TEXTS}
    on_disk = {p.stem for p in (Path(__file__).parents[1] / "templates" / lang).glob("summons_*.j2")}
    assert names == on_disk
    for name, context in _TEXTS:
        text = render(lang, name, context)
        assert text.strip(), name
        assert not any(marker in text for marker in ("{{", "}}", "{%", "%}", "\n\n\n")), f"{name}:\n{text}"
