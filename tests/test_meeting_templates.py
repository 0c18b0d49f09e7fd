"""Meeting chat texts: every invitation type and every follow-up renders in both languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from templates.render import HERE, LANGUAGES, environment, render

TYPES = (
    "rapat_komite", "pembagian_rapor", "tahun_ajaran_baru", "persiapan_ujian",
    "pertemuan_khusus", "surat_panggilan", "kunjungan_rumah", "konsultasi",
)
ANSWERS = ("attend", "decline", "other_time", "proxy")
REASON = "Bima sudah tiga kali tidak masuk tanpa keterangan bulan ini."

# An Indonesian mobile number (+62 8.., 62 8.., 08..) or any long international number.
PHONE = re.compile(r"(?:\+62|\b62|\b0)[\s-]?8\d(?:[\s-]?\d){6,}|\+\d(?:[\s-]?\d){7,}")
HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


ONE_CHILD = [{"name": "Bima Wijaya", "class_name": "VIII-C"}]
TWO_CHILDREN = [{"name": "Budi Santoso", "class_name": "VII-A"}, {"name": "Sari Santoso", "class_name": "IX-B"}]


def context(meeting_type: str, **changes: Any) -> dict[str, Any]:
    """An invitation context: one slot on Saturday 19 December 2026, 08.00 WIB."""
    base: dict[str, Any] = {
        "meeting_id": 42,
        "meeting_type": meeting_type,
        "title": "Pertemuan Orang Tua Kelas VII-A",
        "school_name": "SMP Negeri 3 Sukamaju",
        "tz": "Asia/Jakarta",
        "first_start": at(19, 1),
        "last_end": at(19, 1, 20),
        "slot_count": 1,
        "same_day": True,
        "location": "Ruang Kelas VII-A",
        "bring": "Kartu pelajar dan buku penghubung",
        "reason": REASON if meeting_type == "surat_panggilan" else None,
        "organizer_name": "Siti Rahayu",
        "organizer_role": "counselor" if meeting_type == "surat_panggilan" else "homeroom_teacher",
        "guardian_name": "Rahmat Hidayat",
        "relation": "ayah",
        "children": ONE_CHILD,
        "proxy_for": None,
    }
    base.update(changes)
    return base


# name -> changes to the base context
VARIANTS: dict[str, dict[str, Any]] = {
    "one slot": {},
    "many slots one day": {"slot_count": 12, "last_end": at(19, 5)},
    "many days": {"slot_count": 24, "same_day": False, "last_end": at(20, 5)},
    "bare": {"location": "", "bring": None, "reason": None},
    "with reason": {"reason": "Membahas rencana karyawisata."},
    "proxy": {"proxy_for": {"guardian_names": "Rahmat Hidayat dan Wati Lestari"},
              "guardian_name": "Joko Susilo", "relation": "orang tua asuh"},
    "two children": {"children": TWO_CHILDREN, "relation": "ibu", "guardian_name": "Wati Lestari"},
    "makassar": {"tz": "Asia/Makassar", "first_start": at(19, 0), "last_end": at(19, 0, 30)},
    "every role": {"organizer_role": "principal", "slot_count": 3, "last_end": at(19, 3)},
    "admin, long window": {"organizer_role": "admin", "slot_count": 2, "same_day": False,
                           "first_start": at(14, 6), "last_end": at(15, 6, 30)},
}


def check_plain(text: str) -> None:
    assert text.strip()
    for marker in ("{{", "}}", "{%", "%}", "{#", "#}"):
        assert marker not in text, f"raw Jinja {marker!r} in:\n{text}"
    assert not PHONE.search(text), f"phone-number-like string in:\n{text}"
    assert not HTML_TAG.search(text), f"HTML in:\n{text}"
    assert "**" not in text and "\n\n\n" not in text and "None" not in text, text
    assert len(text) < 1000, f"{len(text)} characters:\n{text}"


# ---------------------------------------------------------------- invitations


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("meeting_type", TYPES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_invitation_renders(lang: str, meeting_type: str, variant: str) -> None:
    ctx = context(meeting_type, **VARIANTS[variant])
    text = render(lang, f"invitation_{meeting_type}", ctx)
    check_plain(text)
    for child in ctx["children"]:
        assert f"{child['name']} ({child['class_name']})" in text
    assert ctx["guardian_name"] in text
    assert ctx["organizer_name"] in text
    assert ctx["school_name"] in text
    if ctx["location"]:
        assert ctx["location"] in text
    if ctx["bring"]:
        assert ctx["bring"] in text
    if ctx["reason"]:
        assert ctx["reason"] in text
    if ctx["proxy_for"]:
        assert ctx["proxy_for"]["guardian_names"] in text
    last_line = text.splitlines()[-1]
    assert ("di bawah" in last_line) if lang == "id" else ("below" in last_line)


@pytest.mark.parametrize("meeting_type", TYPES)
def test_indonesian_dates(meeting_type: str) -> None:
    one = render("id", f"invitation_{meeting_type}", context(meeting_type))
    assert "Sabtu, 19 Desember 2026 pukul 08.00 WIB" in one
    assert "Bapak Rahmat Hidayat" in one  # the context says ayah

    window = render("id", f"invitation_{meeting_type}", context(meeting_type, **VARIANTS["many slots one day"]))
    assert "Sabtu, 19 Desember 2026, pukul 08.00 WIB – 12.00 WIB" in window

    days = render("id", f"invitation_{meeting_type}", context(meeting_type, **VARIANTS["many days"]))
    assert "Sabtu, 19 Desember 2026 – Minggu, 20 Desember 2026" in days
    assert "Jam pastinya" in days and "pukul" not in days

    makassar = render("id", f"invitation_{meeting_type}", context(meeting_type, **VARIANTS["makassar"]))
    assert "Sabtu, 19 Desember 2026 pukul 08.00 WITA" in makassar and "WIB" not in makassar


@pytest.mark.parametrize("meeting_type", TYPES)
def test_english_dates(meeting_type: str) -> None:
    one = render("en", f"invitation_{meeting_type}", context(meeting_type))
    assert "Saturday, 19 December 2026 at 08:00 WIB" in one
    window = render("en", f"invitation_{meeting_type}", context(meeting_type, **VARIANTS["many slots one day"]))
    assert "Saturday, 19 December 2026, 08:00 WIB – 12:00 WIB" in window
    days = render("en", f"invitation_{meeting_type}", context(meeting_type, **VARIANTS["many days"]))
    assert "Saturday, 19 December 2026 – Sunday, 20 December 2026" in days
    makassar = render("en", f"invitation_{meeting_type}", context(meeting_type, **VARIANTS["makassar"]))
    assert "08:00 WITA" in makassar


def test_summons_states_reason_and_counselor_with_tact() -> None:
    text = render("id", "invitation_surat_panggilan", context("surat_panggilan"))
    assert REASON in text
    assert "Guru BK, Bapak/Ibu Siti Rahayu" in text
    assert "berbincang bersama" in text
    english = render("en", "invitation_surat_panggilan", context("surat_panggilan"))
    assert REASON in english and "Siti Rahayu" in english and "Guidance Counselor" in english
    # Without a reason the summons still speaks of the child, not of blame.
    bare = render("id", "invitation_surat_panggilan", context("surat_panggilan", reason=None))
    assert "perkembangan ananda" in bare


def test_home_visit_without_location_is_the_family_home() -> None:
    ctx = context("kunjungan_rumah", location="")
    assert "Tempat: rumah Bapak/Ibu" in render("id", "invitation_kunjungan_rumah", ctx)
    assert "Where: your home" in render("en", "invitation_kunjungan_rumah", ctx)
    # Other meetings without a location take place at the school.
    assert "Tempat: SMP Negeri 3 Sukamaju" in render("id", "invitation_rapat_komite", context("rapat_komite", location=""))


def test_clock_filter() -> None:
    clock = environment().filters["clock"]
    assert clock(at(19, 5), "id", "Asia/Jakarta") == "12.00 WIB"
    assert clock(at(19, 5), "en", "Asia/Jayapura") == "14:00 WIT"


# ---------------------------------------------------------------- follow-ups

FOLLOW_UPS_WITH_INVITATION_CONTEXT = (
    "reminder_day_before", "reminder_two_hours", "reminder_late", "meeting_cancelled", "meeting_moved",
)


@pytest.mark.parametrize("variant", ["one slot", "many slots one day", "many days", "bare", "proxy", "two children"])
@pytest.mark.parametrize("meeting_type", TYPES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_follow_ups_render(lang: str, meeting_type: str, variant: str) -> None:
    ctx = context(meeting_type, **VARIANTS[variant])
    for name in FOLLOW_UPS_WITH_INVITATION_CONTEXT:
        for note in (None, "Ruang kelas dipakai untuk ujian susulan."):
            text = render(lang, name, {**ctx, "note": note})
            check_plain(text)
            assert ctx["children"][0]["name"] in text
            if note and name.startswith("meeting_"):
                assert note in text
    for answer in ANSWERS:
        for name in ("rsvp_thanks", "rsvp_family_answered"):
            text = render(lang, name, {**ctx, "answer": answer, "answered_by": "Wati Lestari"})
            check_plain(text)
        if answer == "attend":
            assert "Wati Lestari" in text


def test_follow_up_wording() -> None:
    ctx = context("pembagian_rapor", children=TWO_CHILDREN)
    attend = render("id", "rsvp_thanks", {**ctx, "answer": "attend"})
    assert "Sabtu, 19 Desember 2026 pukul 08.00 WIB" in attend and "Ruang Kelas VII-A" in attend
    assert "kartu pelajar" in attend.lower()
    assert "menghubungi" in render("id", "rsvp_thanks", {**ctx, "answer": "decline"})
    assert "Siti Rahayu" in render("id", "rsvp_thanks", {**ctx, "answer": "other_time"})
    assert "Orang tua asuh" in render("id", "rsvp_thanks", {**ctx, "answer": "proxy"})
    family = render("id", "rsvp_family_answered", {**ctx, "answer": "decline", "answered_by": "Wati Lestari"})
    assert "Bapak/Ibu Wati Lestari sudah menjawab" in family and "tidak perlu menjawab lagi" in family
    assert '"Tidak dapat hadir"' in family
    assert "Pengingat" in render("id", "reminder_late", ctx)
    moved = render("id", "meeting_moved", {**ctx, "first_start": at(20, 2), "last_end": at(20, 3), "note": None})
    assert "Minggu, 20 Desember 2026 pukul 09.00 WIB" in moved
    cancelled = render("en", "meeting_cancelled", {**ctx, "note": "The hall is flooded."})
    assert "cancelled" in cancelled and "The hall is flooded." in cancelled


@pytest.mark.parametrize("lang", LANGUAGES)
def test_already_answered_needs_only_its_keys(lang: str) -> None:
    for answer in ANSWERS:
        for answered_by in ("Wati Lestari", "Rahmat Hidayat"):
            text = render(lang, "rsvp_already_answered", {
                "answer": answer, "answered_by": answered_by, "title": "Rapat Komite Sekolah",
                "meeting_id": 7, "guardian_name": "Rahmat Hidayat",
            })
            check_plain(text)
            assert "Rapat Komite Sekolah" in text
            assert ("Wati Lestari" in text) == (answered_by == "Wati Lestari")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_organizer_notice(lang: str) -> None:
    for answer in ANSWERS:
        for proxy_name in (None, "Joko Susilo"):
            text = render(lang, "rsvp_to_organizer", {
                "title": "Pembagian Rapor", "meeting_id": 42, "answer": answer,
                "guardian_name": "Wati Lestari", "relation": "ibu", "children": TWO_CHILDREN,
                "proxy_name": proxy_name,
            })
            check_plain(text)
            assert "#42" in text and "Wati Lestari" in text
            assert "Budi Santoso (VII-A)" in text and "Sari Santoso (IX-B)" in text
            if proxy_name and answer in ("proxy", "decline"):
                assert proxy_name in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_attendance_texts(lang: str) -> None:
    recorded = render(lang, "attendance_recorded", {
        "title": "Pembagian Rapor", "children": TWO_CHILDREN,
        "guardian_names": "Rahmat Hidayat dan Wati Lestari", "count_present": 5, "count_invited": 28,
    })
    check_plain(recorded)
    assert "Rahmat Hidayat dan Wati Lestari" in recorded and "5" in recorded and "28" in recorded
    assert "Budi Santoso (VII-A)" in recorded
    unknown = render(lang, "attendance_unknown_student", {"text": "0071999999"})
    check_plain(unknown)
    assert "0071999999" in unknown
    which = render(lang, "attendance_which_meeting", {
        "meetings": [{"id": 3, "title": "Rapat Komite"}, {"id": 4, "title": "Pembagian Rapor"}],
    })
    check_plain(which)
    assert "#3 Rapat Komite" in which and "#4 Pembagian Rapor" in which


# ---------------------------------------------------------------- languages and words


def test_languages_have_the_same_files() -> None:
    def names(lang: str) -> set[str]:
        root = HERE / lang
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    # Printed letters are in Bahasa Indonesia only (contract section 9); every chat text is in both.
    assert names("id") - {"letter_enrolment.j2"} == names("en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_words(lang: str) -> None:
    from templates.render import words

    w = words(lang)
    assert set(w["meeting_types"]) == set(TYPES)
    assert set(w["rsvp"]) == set(ANSWERS)
    assert w["rsvp"]["attend"] == ("Hadir" if lang == "id" else "I will attend")


def test_every_meeting_template_exists() -> None:
    expected = [f"invitation_{t}.j2" for t in TYPES] + [
        "_meeting.j2", "rsvp_thanks.j2", "rsvp_family_answered.j2", "rsvp_already_answered.j2",
        "rsvp_to_organizer.j2", "reminder_day_before.j2", "reminder_two_hours.j2", "reminder_late.j2",
        "meeting_cancelled.j2", "meeting_moved.j2", "attendance_recorded.j2",
        "attendance_unknown_student.j2", "attendance_which_meeting.j2",
    ]
    for lang in LANGUAGES:
        missing = [name for name in expected if not Path(HERE / lang / name).exists()]
        assert not missing, (lang, missing)
