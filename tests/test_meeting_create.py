"""`jembatan meeting create` (CONTRACT section 6): meeting files in, a meeting with slots out.

Bad files must name file, line and field, and leave the database untouched. Storage tests run
on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (the ``sessions`` fixture).
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.slot_rules import (
    SlotRuleError,
    check_slot_rule,
    expand_slot_rule,
    merge_slots,
)
from storage.meetings import (
    MEETING_TYPES,
    AudienceError,
    AudiencePart,
    MeetingFileError,
    create_meeting,
    parse_audience,
    parse_meeting_file,
)
from storage.models import Meeting, MeetingSlot, School, Staff
from storage.roster import import_roster
from tests.harness import SCHOOL
from tests.test_cli import jembatan

Sessions = async_sessionmaker[AsyncSession]
MEETINGS = Path(__file__).parent / "data" / "meetings"
JAKARTA = "Asia/Jakarta"
KEYS = ("type, title, organizer, audience, location, room_capacity, reason, level, bring, slots, "
        "slot_rule")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def school(sessions: Sessions, timezone: str | None = None) -> None:
    await import_roster(sessions, SCHOOL, school_code="UJI", school_name="SMP Uji Coba",
                        timezone=timezone)


def write(tmp_path: Path, text: str, name: str = "meeting.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


async def count(sessions: Sessions, table: type[SQLModel]) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def slots_of(sessions: Sessions, meeting_id: int) -> list[MeetingSlot]:
    async with sessions() as session:
        return list((await session.exec(select(MeetingSlot).where(
            MeetingSlot.meeting_id == meeting_id).order_by(MeetingSlot.starts_at))).all())


def base(**fields: str | None) -> str:
    """A valid meeting file (lines 1-8), ``fields`` replacing, adding (from line 9) or, given
    None, removing keys; a key starting with ``_`` adds its value as a raw line."""
    lines: dict[str, str | None] = {
        "type": "pembagian_rapor", "title": "Pembagian Rapor", "organizer": "T-001",
        "audience": "class:VII-A", "location": "Ruang Kelas VII-A", "room_capacity": "8",
        "slots": "\n  - {start: 2026-12-19T08:00, end: 2026-12-19T08:20}",
    }
    lines.update(fields)
    return "".join(f"{key}: {value}\n" if not key.startswith("_") else f"{value}\n"
                   for key, value in lines.items() if value is not None)


# ---------------------------------------------------------------- slot rules, pure


def test_slot_rule_filters_weekdays_and_converts_to_utc() -> None:
    rule = {"days": ["sat", "sun"], "from": "08:00", "to": "12:00", "minutes": 20,
            "dates": ["2026-12-18", "2026-12-19", "2026-12-20"]}  # Friday, Saturday, Sunday
    slots = expand_slot_rule(rule, JAKARTA)
    assert len(slots) == 24  # 12 per weekend day; Friday dropped
    assert slots[0] == (utc(2026, 12, 19, 1, 0), utc(2026, 12, 19, 1, 20))  # 08:00 WIB
    assert slots[11] == (utc(2026, 12, 19, 4, 40), utc(2026, 12, 19, 5, 0))
    assert slots[12][0] == utc(2026, 12, 20, 1, 0)
    assert all(start.tzinfo is UTC for start, _ in slots)


def test_slot_rule_day_names_partial_slot_timezones_and_ranges() -> None:
    rule = {"days": ["Sabtu", "min"], "from": "08.00", "to": "09:00", "minutes": 25,
            "dates": [date(2026, 12, 19), "2026-12-21..2026-12-27"]}
    # 08:00-08:25, 08:25-08:50; 08:50-09:15 would run past 09:00 and is dropped.
    slots = expand_slot_rule(rule, "Asia/Makassar")
    assert [s for s, _ in slots] == [
        utc(2026, 12, 19, 0, 0), utc(2026, 12, 19, 0, 25),
        utc(2026, 12, 26, 0, 0), utc(2026, 12, 26, 0, 25),
        utc(2026, 12, 27, 0, 0), utc(2026, 12, 27, 0, 25),
    ]
    jayapura = expand_slot_rule({**rule, "days": ["saturday"]}, "Asia/Jayapura")
    assert jayapura[0][0] == utc(2026, 12, 18, 23, 0)  # 08:00 WIT is the evening before in UTC
    no_days = expand_slot_rule({k: v for k, v in rule.items() if k != "days"}, JAKARTA)
    assert len(no_days) == 2 * 8  # every listed date counts


def test_merge_dedupes_identical_slots_and_sorts() -> None:
    rule = expand_slot_rule({"from": "08:00", "to": "09:00", "minutes": 30,
                             "dates": ["2026-12-19"]}, JAKARTA)
    extra = [(utc(2026, 12, 18, 1, 0), utc(2026, 12, 18, 1, 30)), rule[1]]
    assert merge_slots(rule, extra) == [extra[0], rule[0], rule[1]]


def test_slot_rule_problems_are_all_reported() -> None:
    problems = check_slot_rule({"days": ["sat", "caturday"], "from": "12:00", "to": "8am",
                                "minutes": 0, "dates": ["2026-02-30"], "every": "week"})
    assert [str(p) for p in problems] == [
        "every: unknown key (a slot rule has days, from, to, minutes, dates)",
        "days[1]: unknown day 'caturday' (expected e.g. sat, sun, sab, min)",
        "to: expected a time like \"08:00\", got '8am'",
        "minutes: expected a whole number of minutes above 0, got 0",
        "dates[0]: expected a date like 2026-12-19, got '2026-02-30'",
    ]
    with pytest.raises(SlotRuleError, match="from"):
        expand_slot_rule({"from": "12:00", "to": "08:00", "minutes": 20,
                          "dates": ["2026-12-19"]}, JAKARTA)


# ---------------------------------------------------------------- audience syntax


def test_parse_audience() -> None:
    assert parse_audience("school") == [AudiencePart("school")]
    assert parse_audience(" class:vii-a + grade:8 + student:0071000001, 0071000002 ") == [
        AudiencePart("class", ("VII-A",)), AudiencePart("grade", ("8",)),
        AudiencePart("student", ("0071000001", "0071000002")),
    ]
    assert str(parse_audience("class:VII-A+class:VII-A")[0]) == "class:VII-A"
    for bad in ("", "kelas:VII-A", "grade:tujuh", "grade:13", "class:7A", "student:",
                "student:1,,2", "class:VII-A+", "school:UJI"):
        with pytest.raises(AudienceError):
            parse_audience(bad)


# ---------------------------------------------------------------- creating


async def test_contract_example_creates_meeting_and_slots(sessions: Sessions) -> None:
    await school(sessions)
    created = await create_meeting(sessions, MEETINGS / "pembagian_rapor.yaml",
                                   default_timezone=JAKARTA)
    # 12 twenty-minute slots on each of the two weekend days; the explicit 08:00 one is among them.
    assert created.as_json() == {"id": created.id, "slots": 24}
    async with sessions() as session:
        meeting = await session.get(Meeting, created.id)
        organizer = await session.get(Staff, meeting.organizer_staff_id)
        uji = (await session.exec(select(School).where(School.code == "UJI"))).one()
    assert meeting is not None and organizer is not None
    assert (meeting.type, meeting.title, meeting.audience) == (
        "pembagian_rapor", "Pembagian Rapor Semester Ganjil", "class:VII-A")
    assert (meeting.location, meeting.room_capacity, meeting.status) == (
        "Ruang Kelas VII-A", 8, "draft")
    assert meeting.bring == "Kartu pelajar dan buku penghubung" and meeting.reason is None
    assert organizer.staff_code == "T-001" and meeting.school_id == uji.id
    assert meeting.created_at is not None and meeting.created_at.tzinfo is not None
    slots = await slots_of(sessions, created.id)
    assert len(slots) == 24
    assert (slots[0].starts_at, slots[0].ends_at) == (utc(2026, 12, 19, 1, 0),
                                                      utc(2026, 12, 19, 1, 20))
    assert slots[-1].ends_at == utc(2026, 12, 20, 5, 0)  # 12:00 WIB
    assert {s.capacity for s in slots} == {8} and {s.school_id for s in slots} == {uji.id}


async def test_summons_and_rule_only_files(sessions: Sessions) -> None:
    await school(sessions)
    summons = await create_meeting(sessions, MEETINGS / "surat_panggilan.yaml",
                                   default_timezone=JAKARTA)
    komite = await create_meeting(sessions, MEETINGS / "rapat_komite.yaml",
                                  default_timezone=JAKARTA)
    assert (summons.slots, komite.slots) == (2, 2)
    async with sessions() as session:
        letter = await session.get(Meeting, summons.id)
        committee = await session.get(Meeting, komite.id)
    assert letter is not None and committee is not None
    assert letter.reason is not None and letter.reason.startswith("Bima sudah tiga kali")
    assert letter.room_capacity == 1  # one family at a time: the default for a summons
    assert committee.bring == "Buku catatan, Usulan program komite"
    starts = [s.starts_at for s in await slots_of(sessions, komite.id)]
    assert starts == [utc(2026, 12, 19, 2, 0), utc(2026, 12, 26, 2, 0)]  # Saturdays 09:00 WIB


async def test_all_eight_types_are_accepted(sessions: Sessions, tmp_path: Path) -> None:
    await school(sessions)
    for meeting_type in MEETING_TYPES:
        extra = {"reason": "Perlu dibicarakan", "audience": "student:0071000001"} \
            if meeting_type == "surat_panggilan" else {"location": None} \
            if meeting_type == "kunjungan_rumah" else {}
        path = write(tmp_path, base(type=meeting_type, **extra), f"{meeting_type}.yaml")
        created = await create_meeting(sessions, path, default_timezone=JAKARTA)
        assert created.slots == 1
    async with sessions() as session:
        types = (await session.exec(select(Meeting.type))).all()
        visit = (await session.exec(select(Meeting).where(Meeting.type == "kunjungan_rumah"))).one()
    assert sorted(types) == sorted(MEETING_TYPES)
    assert visit.location == ""  # a home visit needs no location: it is the family's home


async def test_explicit_slots_and_rule_together(sessions: Sessions, tmp_path: Path) -> None:
    await school(sessions)
    path = write(tmp_path, """
        type: konsultasi
        title: Konsultasi orang tua kelas VII
        organizer: t-003
        audience: grade:7 + student:0071000002
        location: Ruang BK
        slots:
          - {start: 2026-12-16T19:30, end: 2026-12-16T20:00}
          - {start: 2026-12-16 19.00, end: 2026-12-16 19.30}
          - {start: 2026-12-19T09:00, end: 2026-12-19T09:30}
        slot_rule:
          days: sab, min
          from: 09:00
          to: 10:00
          minutes: 30
          dates: [2026-12-17, 2026-12-18, 2026-12-19, 2026-12-20]
    """)
    created = await create_meeting(sessions, path, default_timezone=JAKARTA)
    # 2 evening slots on Wednesday + 2 on Saturday + 2 on Sunday (the explicit Saturday 09:00
    # is the rule's first slot, counted once); Thursday and Friday are not sab/min.
    assert created.slots == 6
    starts = [s.starts_at for s in await slots_of(sessions, created.id)]
    assert starts == [utc(2026, 12, 16, 12, 0), utc(2026, 12, 16, 12, 30),
                      utc(2026, 12, 19, 2, 0), utc(2026, 12, 19, 2, 30),
                      utc(2026, 12, 20, 2, 0), utc(2026, 12, 20, 2, 30)]


async def test_times_are_read_in_the_schools_timezone(sessions: Sessions) -> None:
    await school(sessions, timezone="Asia/Makassar")
    created = await create_meeting(sessions, MEETINGS / "pembagian_rapor.yaml",
                                   school_code="UJI", default_timezone=JAKARTA)
    first = (await slots_of(sessions, created.id))[0]
    assert first.starts_at == utc(2026, 12, 19, 0, 0)  # 08:00 WITA


async def test_contract_section_6_example_as_written(sessions: Sessions, tmp_path: Path) -> None:
    await school(sessions)
    path = write(tmp_path, """
        type: pembagian_rapor      # rapat_komite | pembagian_rapor | tahun_ajaran_baru | persiapan_ujian
                                   # | pertemuan_khusus | surat_panggilan | kunjungan_rumah | konsultasi
        title: Pembagian Rapor Semester Ganjil
        organizer: T-001           # staff_id
        audience: class:VII-A      # section 2 syntax
        location: Ruang Kelas VII-A
        room_capacity: 8           # families at once
        reason: ...                # surat_panggilan only: shown to the family
        slots:                     # explicit slots, or a rule, or both
          - {start: 2026-12-19T08:00, end: 2026-12-19T08:20}
        slot_rule: {days: [sat, sun], from: "08:00", to: "12:00", minutes: 20, dates: [2026-12-19, 2026-12-20]}
    """)
    assert (await create_meeting(sessions, path, default_timezone=JAKARTA)).slots == 24


async def test_several_rules_and_day_ranges(sessions: Sessions, tmp_path: Path) -> None:
    await school(sessions)
    path = write(tmp_path, """
        type: persiapan_ujian
        title: Persiapan Ujian
        organizer: T-004
        audience: grade:7
        location: Aula
        room_capacity: 40
        slot_rule:
          - {days: sen-kam, from: "19:00", to: "20:00", minutes: 60, dates: 2026-12-14..2026-12-20}
          - {days: sat-sun, from: "09:00", to: "10:00", minutes: 30, dates: 2026-12-14..2026-12-20}
    """)
    created = await create_meeting(sessions, path, default_timezone=JAKARTA)
    assert created.slots == 4 + 2 * 2  # Monday to Thursday evenings, two weekend mornings
    starts = [s.starts_at for s in await slots_of(sessions, created.id)]
    assert starts[0] == utc(2026, 12, 14, 12, 0) and starts[3] == utc(2026, 12, 17, 12, 0)
    assert starts[4:] == [utc(2026, 12, 19, 2, 0), utc(2026, 12, 19, 2, 30),
                          utc(2026, 12, 20, 2, 0), utc(2026, 12, 20, 2, 30)]


# ---------------------------------------------------------------- bad files

TYPES = ", ".join(MEETING_TYPES)
SLOTS_ON = "\n  - {start: 2026-12-19T08:00, end: 2026-12-19T08:20}"
BAD_FILES = {
    "unknown type": (base(type="rapat"),
                     [f"1: type: unknown type 'rapat' (expected one of {TYPES})"]),
    "unknown key": (base(tempat="Aula"), [f"9: tempat: unknown key (expected {KEYS})"]),
    "duplicate key": (base(_again="title: Lagi"), ["9: title: given twice (first on line 2)"]),
    "empty title": (base(title='""'), ["2: title: is empty"]),
    "missing organizer": (base(organizer=None),
                          ["1: organizer: missing"]),
    "organizer not text": (base(organizer="[T-001, T-002]"),
                           ["3: organizer: expected text, got a list"]),
    "bad audience": (base(audience="kelas:VII-A"), [
        "4: audience: unknown audience 'kelas:VII-A' (expected school, grade:7, class:VII-A "
        "or student:NISN[,NISN...], joined with +)"]),
    "missing location": (base(location="~"), ["5: location: is empty"]),
    "zero capacity": (base(room_capacity="0"),
                      ["6: room_capacity: expected a whole number of families above 0, got '0'"]),
    "capacity not a number": (base(room_capacity="delapan"), [
        "6: room_capacity: expected a whole number of families above 0, got 'delapan'"]),
    "missing capacity": (base(room_capacity=None),
                         ["1: room_capacity: missing (how many families the room holds at once)"]),
    "summons without reason": (base(type="surat_panggilan", audience="student:0071000001"), [
        "1: reason: missing: a surat_panggilan tells the family why they are summoned"]),
    "summons of a class": (base(type="surat_panggilan", reason="Sering terlambat"), [
        "4: audience: a surat_panggilan summons the guardians of one student: "
        "write student:NISN"]),
    "summons of two students": (base(type="surat_panggilan", reason="Berkelahi",
                                     audience="student:0071000001,0071000002"), [
        "4: audience: a surat_panggilan summons the guardians of one student: "
        "write student:NISN"]),
    "end before start": (base(slots="\n  - {start: 2026-12-19T08:20, end: 2026-12-19T08:00}"),
                         ["8: slots.end: 2026-12-19 08:00 is not after start 2026-12-19 08:20"]),
    "bad slot time": (base(slots="\n  - {start: 19-12-2026 08:00, end: 2026-12-19T08:20}"), [
        "8: slots.start: expected a local date and time like 2026-12-19T08:00, "
        "got '19-12-2026 08:00'"]),
    "slot with an offset": (base(slots="\n  - {start: 2026-12-19T08:00+07:00, "
                                       "end: 2026-12-19T08:20}"), [
        "8: slots.start: '2026-12-19T08:00+07:00' has a UTC offset; times are local to the "
        "school, write them without one"]),
    "slot without end": (base(slots="\n  - start: 2026-12-19T08:00\n    until: 08:20"), [
        "8: slots.end: missing", "9: slots.until: unknown key (expected start, end)"]),
    "slots not a list": (base(slots="2026-12-19T08:00"), [
        "7: slots: expected a list of {start: ..., end: ...}, got text"]),
    "overlapping slots": (base(slots=SLOTS_ON + "\n  - {start: 2026-12-19T08:10, "
                                                "end: 2026-12-19T08:30}"), [
        "9: slots: 2026-12-19 08:10-08:30 overlaps 2026-12-19 08:00-08:20 (line 8)"]),
    "slot overlapping the rule": (base(
        slots="\n  - {start: 2026-12-19T08:10, end: 2026-12-19T08:30}",
        slot_rule='{from: "08:00", to: "09:00", minutes: 20, dates: [2026-12-19]}'), [
        "8: slots: 2026-12-19 08:10-08:30 overlaps 2026-12-19 08:00-08:20 (slot_rule, line 9)"]),
    "no slot": (base(slots=None), [
        "1: slots: no slot given: write slots, a slot_rule or both"]),
    "rule: unknown day": (base(slots=None, slot_rule=(
        '\n  days: [sat, caturday]\n  from: "08:00"\n  to: "12:00"\n  minutes: 20'
        '\n  dates: [2026-12-19]')), [
        "8: slot_rule.days: unknown day 'caturday' (expected e.g. sat, sun, sab, min)"]),
    "rule: bad times": (base(slots=None, slot_rule="\n  from: 8am\n  to: 25:00\n  minutes: 20\n"
                                       "  dates: [2026-12-19]"), [
        "8: slot_rule.from: expected a time like \"08:00\", got '8am'",
        "9: slot_rule.to: no such time of day: '25:00'"]),
    "rule: from after to": (base(slots=None, slot_rule='{from: "12:00", to: "08:00", minutes: 20, '
                                           'dates: [2026-12-19]}'), [
        "7: slot_rule.to: 08:00 is not after from 12:00"]),
    "rule: bad minutes": (base(slots=None, slot_rule='{from: "08:00", to: "12:00", minutes: -5, '
                                         'dates: [2026-12-19]}'), [
        "7: slot_rule.minutes: expected a whole number of minutes above 0, got '-5'"]),
    "rule: bad date": (base(slots=None, slot_rule=(
        '\n  from: "08:00"\n  to: "12:00"\n  minutes: 20\n  dates:\n    - 2026-12-19'
        '\n    - 2026-12-32')), [
        "13: slot_rule.dates: expected a date like 2026-12-19, got '2026-12-32'"]),
    "rule: missing fields": (base(slots=None,
                                  slot_rule='{days: [sat], from: "08:00", minutes: }'), [
        "7: slot_rule.to: missing", "7: slot_rule.minutes: missing",
        "7: slot_rule.dates: missing"]),
    "rule: no date on the days": (base(slots=None, slot_rule=(
        '{days: [sun], from: "08:00", to: "12:00", minutes: 20, dates: [2026-12-19]}')), [
        "7: slot_rule.dates: none of the dates (2026-12-19) falls on the listed days"]),
    "rule: slot longer than the window": (base(slots=None, slot_rule='{from: "08:00", to: "08:30", '
                                                         'minutes: 45, dates: [2026-12-19]}'), [
        "7: slot_rule.minutes: 45 minutes do not fit between 08:00 and 08:30"]),
    "rule list: the second rule is bad": (base(slots=None, slot_rule=(
        '\n  - {from: "08:00", to: "09:00", minutes: 20, dates: [2026-12-19]}'
        '\n  - {from: "09:00", to: "10:00", minutes: x, dates: [2026-12-19]}')), [
        "9: slot_rule.minutes: expected a whole number of minutes above 0, got 'x'"]),
    "several problems": (base(type="rapat", title='""', room_capacity="0"), [
        f"1: type: unknown type 'rapat' (expected one of {TYPES})",
        "2: title: is empty",
        "6: room_capacity: expected a whole number of families above 0, got '0'"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
async def test_bad_file_names_file_line_field_and_creates_nothing(
        sessions: Sessions, tmp_path: Path, case: str) -> None:
    await school(sessions)
    text, expected = BAD_FILES[case]
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(MeetingFileError) as caught:
        await create_meeting(sessions, path, default_timezone=JAKARTA)
    assert caught.value.errors == [f"{path}:{line}" for line in expected]
    assert await count(sessions, Meeting) == 0
    assert await count(sessions, MeetingSlot) == 0


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, """
        type: pembagian_rapor
        title: Pembagian Rapor
        audience: [class:VII-A
        location: Aula
    """, "broken.yaml")
    with pytest.raises(MeetingFileError) as caught:
        parse_meeting_file(path)
    assert caught.value.errors == [
        f"{path}:4: yaml: expected ',' or ']', but got ':' (column 9)"]
    tabs = write(tmp_path, "type: konsultasi\nslots:\n\t- {start: 2026-12-19T08:00}\n", "tabs.yaml")
    with pytest.raises(MeetingFileError) as caught:
        parse_meeting_file(tabs)
    assert caught.value.errors[0].startswith(f"{tabs}:3: yaml: ")
    assert "(column 1)" in caught.value.errors[0]


def test_empty_missing_and_non_mapping_files(tmp_path: Path) -> None:
    cases = {
        write(tmp_path, "# nothing yet\n", "empty.yaml"):
            "1: file: is empty (a meeting needs type, title, organizer, audience and slots)",
        write(tmp_path, "- type: konsultasi\n", "list.yaml"):
            "1: file: expected keys such as type: and title:, got a list",
    }
    for path, expected in cases.items():
        with pytest.raises(MeetingFileError) as caught:
            parse_meeting_file(path)
        assert caught.value.errors == [f"{path}:{expected}"]
    with pytest.raises(MeetingFileError) as caught:
        parse_meeting_file(tmp_path / "nowhere.yaml")
    assert caught.value.errors == [f"{tmp_path / 'nowhere.yaml'}: no such file"]


ROSTER_ERRORS = {
    "unknown organizer": (base(organizer="T-099"),
                          ["3: organizer: unknown staff_id 'T-099' (not in any school's roster)"]),
    "unknown class": (base(audience="class:VII-C"),
                      ["4: audience: unknown class 'VII-C' (UJI has VII-A, VII-B)"]),
    "unknown grade": (base(audience="grade:8 + class:VII-A"),
                      ["4: audience: no class in grade 8 at UJI"]),
    "unknown students": (base(audience="student:0071000001,0079999999,0078888888"), [
        "4: audience: unknown student NISN '0079999999' (not in the roster of UJI)",
        "4: audience: unknown student NISN '0078888888' (not in the roster of UJI)"]),
    "summons of an unknown student": (base(type="surat_panggilan", reason="Perlu bicara",
                                           audience="student:0079999999"), [
        "4: audience: unknown student NISN '0079999999' (not in the roster of UJI)"]),
}


@pytest.mark.parametrize("case", list(ROSTER_ERRORS))
async def test_roster_references_are_checked_and_nothing_is_created(
        sessions: Sessions, tmp_path: Path, case: str) -> None:
    await school(sessions)
    text, expected = ROSTER_ERRORS[case]
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(MeetingFileError) as caught:
        await create_meeting(sessions, path, default_timezone=JAKARTA)
    assert caught.value.errors == [f"{path}:{line}" for line in expected]
    assert await count(sessions, Meeting) == 0
    assert await count(sessions, MeetingSlot) == 0


async def test_school_code_limits_the_organizer(sessions: Sessions, tmp_path: Path) -> None:
    await school(sessions)
    other = tmp_path / "other"
    other.mkdir()
    (other / "students.csv").write_text("student_id,name,class\n0081000001,Dodi,VIII-A\n")
    (other / "guardians.csv").write_text("student_id,name,relation,phone,language,proxy\n"
                                         "0081000001,Ibu Dodi,ibu,081399990001,id,no\n")
    (other / "staff.csv").write_text("staff_id,name,role,phone,language,homeroom_class,classes,"
                                     "subjects,office_hours\nG-001,Guru Lain,teacher,"
                                     "081299990001,id,VIII-A,VIII-A,IPS,\n")
    await import_roster(sessions, other, school_code="LAIN", school_name="SMP Lain")
    path = write(tmp_path, base(), "meeting.yaml")
    with pytest.raises(MeetingFileError) as caught:
        await create_meeting(sessions, path, school_code="LAIN", default_timezone=JAKARTA)
    assert caught.value.errors == [
        f"{path}:3: organizer: unknown staff_id 'T-001' (not in the roster of LAIN)"]
    with pytest.raises(MeetingFileError) as caught:
        await create_meeting(sessions, path, school_code="NOPE", default_timezone=JAKARTA)
    assert caught.value.errors == ["--school: unknown school 'NOPE'"]
    # The audience is checked in the organizer's school: VII-A is UJI's, not LAIN's.
    lain = write(tmp_path, base(organizer="G-001"), "lain.yaml")
    with pytest.raises(MeetingFileError) as caught:
        await create_meeting(sessions, lain, default_timezone=JAKARTA)
    assert caught.value.errors == [f"{lain}:4: audience: unknown class 'VII-A' (LAIN has VIII-A)"]
    assert await count(sessions, Meeting) == 0
    created = await create_meeting(sessions, path, school_code="UJI",
                                   default_timezone=JAKARTA)
    assert created.slots == 1


# ---------------------------------------------------------------- the command line


def test_cli_meeting_create(tmp_path: Path, sqlite_url: str) -> None:
    db = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested in test_cli.py
    imported = jembatan("roster", "import", str(SCHOOL), "--school", "UJI",
                        database_url=db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr

    made = jembatan("meeting", "create", str(MEETINGS / "pembagian_rapor.yaml"), "--json",
                    database_url=db, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == {"id": 1, "slots": 24}
    human = jembatan("meeting", "create", str(MEETINGS / "surat_panggilan.yaml"),
                     database_url=db, cwd=tmp_path)
    assert human.returncode == 0 and "Meeting 2 created with 2 slots." in human.stdout

    bad = write(tmp_path, base(organizer="T-099", room_capacity="0"), "bad.yaml")
    failed = jembatan("meeting", "create", str(bad), database_url=db, cwd=tmp_path)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.splitlines() == [  # the file's problems and the roster's, all at once
        "jembatan: meeting not created, nothing was changed:",
        f"{bad}:3: organizer: unknown staff_id 'T-099' (not in any school's roster)",
        f"{bad}:6: room_capacity: expected a whole number of families above 0, got '0'",
    ]
    unknown = write(tmp_path, base(organizer="T-099"), "unknown.yaml")
    as_json = jembatan("meeting", "create", str(unknown), "--json", database_url=db, cwd=tmp_path)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"errors": [
        f"{unknown}:3: organizer: unknown staff_id 'T-099' (not in any school's roster)"]}
    assert f"{unknown}:3: organizer: " in as_json.stderr

    missing = jembatan("meeting", "create", "nowhere.yaml", database_url=db, cwd=tmp_path)
    assert missing.returncode == 1 and "nowhere.yaml: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr + failed.stderr
    assert jembatan("meeting", database_url=db, cwd=tmp_path).returncode == 2
    again = jembatan("meeting", "create", str(MEETINGS / "rapat_komite.yaml"), "--json",
                     database_url=db, cwd=tmp_path)
    assert json.loads(again.stdout) == {"id": 3, "slots": 2}  # the failures used no id
    one = write(tmp_path, base(), "one.yaml")
    single = jembatan("meeting", "create", str(one), database_url=db, cwd=tmp_path)
    assert single.returncode == 0 and single.stdout.strip() == "Meeting 4 created with 1 slot."


async def test_every_problem_of_a_file_is_reported_in_one_go(sessions: Sessions, tmp_path: Path) -> None:
    """A newcomer fixes a file once: its own mistakes and what the roster lacks, together."""
    await school(sessions)
    path = write(tmp_path, base(audience="class:VII-Z", room_capacity="lots", type="rapat_ortu"))
    with pytest.raises(MeetingFileError) as raised:
        await create_meeting(sessions, path, default_timezone=JAKARTA)
    assert [error.split(": ")[1] for error in raised.value.errors] == ["type", "audience", "room_capacity"]
    assert "unknown class 'VII-Z'" in raised.value.errors[1]
    assert await count(sessions, Meeting) == 0
