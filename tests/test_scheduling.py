"""Finding a time families can make: `jadwal`, slot offers, the waiting list, booking under
concurrency, one-to-one summons from free windows, `meeting schedule` and the timetable."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from handlers.meetings import invite_meeting
from handlers.scheduling import schedule_meeting
from handlers import reminders
from domain.availability import windows_from_json
from scheduler.availability import fits
from storage.booking import locked_family, take_place
from storage.db import make_engine, make_sessionmaker
from storage.meetings import create_meeting
from storage.models import (
    Availability,
    Guardian,
    Meeting,
    MeetingFamily,
    MeetingInvitation,
    MeetingSlot,
    SlotWaiting,
)
from tests.harness import HENDRA, MAYA, RINA, SRI, YULIA, running_school
from tests.test_cli import jembatan

WIB = ZoneInfo("Asia/Jakarta")

CONSULTATION_DAY = """\
type: pembagian_rapor
title: Pembagian Rapor Semester Ganjil
organizer: T-001
audience: class:VII-A
location: Ruang Kelas VII-A
room_capacity: 1
slots:
  - {start: 2026-12-16T19:00, end: 2026-12-16T19:20}
  - {start: 2026-12-19T08:00, end: 2026-12-19T08:20}
  - {start: 2026-12-19T08:20, end: 2026-12-19T08:40}
"""


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message["buttons"] for b in row]


def _data(message: dict[str, Any]) -> list[str]:
    return [b["data"] for b in _buttons(message)]


def _slot_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in _buttons(message) if b["data"].startswith("sl:t:")]


async def _meeting(school, tmp_path: Path, text: str) -> int:  # type: ignore[no-untyped-def]
    path = tmp_path / "meeting.yaml"
    path.write_text(text)
    return (await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")).id


async def _slots(school, meeting_id: int) -> list[MeetingSlot]:  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session:
        return list((await session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == meeting_id)
                                        .order_by(MeetingSlot.starts_at))).all())


async def _families(school, meeting_id: int) -> list[MeetingFamily]:  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session:
        return list((await session.exec(select(MeetingFamily).where(MeetingFamily.meeting_id == meeting_id)
                                        .order_by(MeetingFamily.id))).all())


async def _schedule(school, meeting_id: int):  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session, session.begin():
        return await schedule_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=True)


# ---------------------------------------------------------------- jadwal


async def test_a_parent_states_when_she_can_come_and_hears_it_back(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, "halo")
        await school.inbox(MAYA)
        asked = await school.say(MAYA, "jadwal")
        assert "Kapan Bapak/Ibu biasanya bisa datang" in asked[-1]["text"]
        assert "av:grid" in _data(asked[-1])

        saved = await school.say(MAYA, "Sabtu 08.00-11.00, Senin-Jumat setelah 19.00")
        text = saved[-1]["text"]
        assert "Kami catat Bapak/Ibu dapat bertemu pada" in text
        assert "Sabtu" in text and "08.00" in text and "11.00" in text
        assert "Senin" in text and "Jumat" in text and "19.00" in text
        async with school.services.sessions() as session:
            [row] = (await session.exec(select(Availability))).all()
        windows = windows_from_json(row.windows)
        assert fits(windows, datetime(2026, 12, 19, 8, 0, tzinfo=WIB), datetime(2026, 12, 19, 8, 20, tzinfo=WIB))
        assert fits(windows, datetime(2026, 12, 16, 19, 0, tzinfo=WIB), datetime(2026, 12, 16, 19, 20, tzinfo=WIB))
        assert not fits(windows, datetime(2026, 12, 16, 9, 0, tzinfo=WIB), datetime(2026, 12, 16, 9, 20, tzinfo=WIB))

        again = await school.say(MAYA, "jadwal")  # what she said before is shown, and can be replaced
        assert "saat ini" in again[-1]["text"] and "Sabtu" in again[-1]["text"]


async def test_what_the_bot_cannot_read_it_says_so_and_offers_buttons(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(YULIA, "availability")
        unclear = await school.say(YULIA, "qwerty zxcv")
        assert "could not understand" in unclear[-1]["text"]
        grid = _buttons(unclear[-1])
        assert "av:t:sat:pagi" in [b["data"] for b in grid] and "av:save" in [b["data"] for b in grid]
        assert "Saturday morning" in [b["label"] for b in grid]

        picked = await school.say(YULIA, press="av:t:sat:pagi")
        assert "✓ Saturday morning" in [b["label"] for b in _buttons(picked[-1])]
        await school.say(YULIA, press="av:t:weekdays:malam")
        await school.say(YULIA, press="av:t:weekdays:malam")  # pressed again: taken back
        saved = await school.say(YULIA, press="av:save")
        assert "We have noted that you can meet" in saved[-1]["text"]
        assert "Saturday" in saved[-1]["text"] and "Monday" not in saved[-1]["text"]
        # Nothing she typed became a concern for a teacher.
        assert await school.inbox(SRI) == []


async def test_a_stale_grid_button_changes_nothing(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(YULIA, "hello")
        stale = await school.say(YULIA, press="av:t:sat:pagi")  # no availability question open
        assert "no longer valid" in stale[-1]["text"] or "tidak berlaku" in stale[-1]["text"]
        async with school.services.sessions() as session:
            assert (await session.exec(select(Availability))).all() == []


# ---------------------------------------------------------------- offers, full slots, waiting list


async def test_slots_inside_availability_first_then_full_slot_and_waiting_list(database_url: str,
                                                                                 tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        meeting_id = await _meeting(school, tmp_path, CONSULTATION_DAY)
        evening, saturday_8, saturday_820 = await _slots(school, meeting_id)
        await school.say(HENDRA, "jadwal")
        await school.say(HENDRA, "Sabtu 08.00-11.00")
        await school.say(YULIA, "hello")
        await school.inbox(HENDRA)
        await school.inbox(YULIA)

        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=True)
        [invitation] = await school.inbox(HENDRA)
        attend = next(d for d in _data(invitation) if d.endswith(":attend"))
        offer = (await school.say(HENDRA, press=attend))[-1]
        assert "sesuai dengan jadwal luang" in offer["text"]
        assert [b["data"].split(":")[-1] for b in _slot_buttons(offer)] == [str(saturday_8.id), str(saturday_820.id)]
        assert _slot_buttons(offer)[0]["label"].startswith("Sab, 19 Des 08.00")

        # Yulia takes the first Saturday place before Hendra presses it.
        [yulia_invitation] = await school.inbox(YULIA)
        offer_yulia = (await school.say(YULIA, press=next(d for d in _data(yulia_invitation) if d.endswith(":attend"))))[-1]
        yulia_take = next(b["data"] for b in _slot_buttons(offer_yulia) if b["data"].endswith(f":{saturday_8.id}"))
        booked = await school.say(YULIA, press=yulia_take)
        assert "Your time for" in booked[0]["text"] and "08:00" in booked[0]["text"]

        full = await school.say(HENDRA, press=_slot_buttons(offer)[0]["data"])
        assert "baru saja penuh" in full[0]["text"]
        wait = next(d for d in _data(full[0]) if d.startswith("sl:w:"))
        assert [b["data"].split(":")[-1] for b in _slot_buttons(full[1])] == [str(saturday_820.id)]
        waiting = await school.say(HENDRA, press=wait)
        assert "daftar tunggu" in waiting[-1]["text"] and "urutan ke-1" in waiting[-1]["text"]
        took = await school.say(HENDRA, press=_slot_buttons(full[1])[0]["data"])
        assert "sudah kami catat" in took[-1]["text"] and "08.20" in took[-1]["text"]

        # Yulia cannot come after all: her place goes to the first family waiting for it.
        change = await school.say(YULIA, press=f"sl:c:{(await _families(school, meeting_id))[1].id}")
        assert "choose another time" in change[-1]["text"]
        families = await _families(school, meeting_id)
        yulia_family = next(f for f in families if f.slot_id == saturday_8.id)
        declined = await school.say(YULIA, press=f"sl:x:{yulia_family.id}")
        assert "cannot attend" in declined[-1]["text"]
        [freed] = await school.inbox(HENDRA)
        assert "ada tempat kosong" in freed["text"] and "08.00" in freed["text"]
        moved = await school.say(HENDRA, press=_data(freed)[0])
        assert "sudah kami catat" in moved[-1]["text"]

        slots = {s.id: s for s in await _slots(school, meeting_id)}
        assert (slots[saturday_8.id].booked, slots[saturday_820.id].booked, slots[evening.id].booked) == (1, 0, 0)
        hendra_family = next(f for f in await _families(school, meeting_id) if f.response == "attend")
        assert hendra_family.slot_id == saturday_8.id and hendra_family.slot_state == "booked"
        async with school.services.sessions() as session:
            assert (await session.exec(select(SlotWaiting))).all() == []  # he got it: no longer waiting
            # Reminders follow the family's own time, not the meeting's first slot.
            wanted = await reminders.attending(session, now=school.clock.now())
        guardian_ids = await _guardian_ids(school, HENDRA)
        assert {start for m, g, start in wanted if g in guardian_ids} == {saturday_8.starts_at}


async def _guardian_ids(school, phone: str) -> set[int]:  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session:
        return set((await session.exec(select(Guardian.id).where(Guardian.phone == phone))).all())


async def test_someone_elses_slot_button_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    async with running_school(sqlite_url) as school:
        meeting_id = await _meeting(school, tmp_path, CONSULTATION_DAY)
        await school.say(YULIA, "hello")
        await _schedule(school, meeting_id)
        families = await _families(school, meeting_id)
        hendra_family = families[0]  # Ani's family (Hendra and Maya)
        refused = await school.say(YULIA, press=f"sl:ok:{hendra_family.id}")
        assert "no longer valid" in refused[-1]["text"]
        assert (await _families(school, meeting_id))[0].slot_state == "proposed"


# ---------------------------------------------------------------- the last place, pressed at once


async def test_the_last_place_pressed_by_many_at_once_is_given_once(database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        meeting_id = await _meeting(school, tmp_path, CONSULTATION_DAY)
        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=True)
        families = await _families(school, meeting_id)
        last = (await _slots(school, meeting_id))[0]

    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)

    async def press(family_id: int) -> bool:
        async with sessions() as session, session.begin():
            family = await locked_family(session, family_id)
            slot = await session.get(MeetingSlot, last.id)
            assert family is not None and slot is not None
            return await take_place(session, family, slot)

    try:
        # Both families, several times each, all at once (separate connections: a real race on PostgreSQL).
        results = await asyncio.gather(*(press(f.id) for f in families for _ in range(4)))  # type: ignore[arg-type]
        async with sessions() as session:
            slot = await session.get(MeetingSlot, last.id)
            holders = (await session.exec(select(MeetingFamily).where(MeetingFamily.slot_id == last.id))).all()
    finally:
        await engine.dispose()
    assert slot is not None and slot.booked == 1 and len(holders) == 1
    assert sum(results) >= 1 and slot.capacity == 1


async def test_two_parents_press_the_last_place_through_the_chat(database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        meeting_id = await _meeting(school, tmp_path, CONSULTATION_DAY.replace(
            "  - {start: 2026-12-19T08:00, end: 2026-12-19T08:20}\n"
            "  - {start: 2026-12-19T08:20, end: 2026-12-19T08:40}\n", ""))
        await school.say(HENDRA, "halo")
        await school.say(YULIA, "hello")
        await _schedule(school, meeting_id)  # one slot, two families: one proposal, one "no time left"
        [slot] = await _slots(school, meeting_id)
        families = await _families(school, meeting_id)
        proposed = next(f for f in families if f.slot_id == slot.id)
        other = next(f for f in families if f.slot_id is None)
        assert slot.booked == 1
        # The one without a place and the one with it: the proposed family accepts, the other tries to take it.
        phone_of = {families[0].id: HENDRA, families[1].id: YULIA}
        await asyncio.gather(school.say(phone_of[proposed.id], press=f"sl:ok:{proposed.id}"),
                             school.say(phone_of[other.id], press=f"sl:t:{other.id}:{slot.id}"))
        [slot] = await _slots(school, meeting_id)
        families = await _families(school, meeting_id)
        assert slot.booked == 1
        assert [f.slot_id for f in families if f.slot_id] == [slot.id]
        assert next(f for f in families if f.id == proposed.id).slot_state == "booked"


# ---------------------------------------------------------------- meeting schedule


def _report_card_roster(tmp_path: Path, families: int) -> Path:
    """A homeroom class IX-A of ``families`` students, each with one parent on the chat."""
    roster = tmp_path / "roster"
    roster.mkdir()
    (roster / "staff.csv").write_text(
        "staff_id,name,role,phone,language,homeroom_class,classes,subjects,office_hours\n"
        "T-100,Wulan Sari,teacher,081200000100,id,IX-A,IX-A,Matematika,Sen-Jum 07.00-15.00\n"
        "C-100,Rina Marlina,counselor,081200000101,id,,9,,Sen-Jum 07.00-15.00\n", encoding="utf-8")
    students = ["student_id,name,class"]
    guardians = ["student_id,name,relation,phone,language,proxy"]
    for n in range(families):
        students.append(f"00910000{n:02d},Siswa {n:02d},IX-A")
        guardians.append(f"00910000{n:02d},Orang Tua {n:02d},ibu,0815000001{n:02d},id,no")
    (roster / "students.csv").write_text("\n".join(students) + "\n", encoding="utf-8")
    (roster / "guardians.csv").write_text("\n".join(guardians) + "\n", encoding="utf-8")
    return roster


REPORT_CARD_DAY = """\
type: pembagian_rapor
title: Pembagian Rapor Semester Ganjil
organizer: T-100
audience: class:IX-A
location: Ruang Kelas IX-A
room_capacity: 1
slot_rule: {days: [sat], from: "08:00", to: "11:00", minutes: 20, dates: [2026-12-19]}
slots:
"""


def _evening_slots() -> str:
    lines = []
    for day in range(14, 19):  # Monday 14 to Friday 18 December, 19.00-21.00
        for start in ("19:00", "19:20", "19:40", "20:00", "20:20", "20:40"):
            hour, minute = map(int, start.split(":"))
            end = (datetime(2026, 12, day, hour, minute) + timedelta(minutes=20)).strftime("%H:%M")
            lines.append(f"  - {{start: 2026-12-{day}T{start}, end: 2026-12-{day}T{end}}}")
    return "\n".join(lines) + "\n"


def _phone(n: int) -> str:
    return f"+62815000001{n:02d}"


async def test_report_card_day_for_36_families_from_one_command(database_url: str, tmp_path: Path) -> None:
    """9 parents can only come Saturday morning (9 places), 15 only on weekday evenings, 6 any
    time, 6 said nothing. First come, first served would let the flexible ones take Saturday;
    `schedule` gives every parent who said a time a place inside it, and everyone a place."""
    roster = _report_card_roster(tmp_path, 36)
    async with running_school(database_url, roster=roster) as school:
        meeting_id = await _meeting(school, tmp_path, REPORT_CARD_DAY + _evening_slots())
        said = {}
        for n in range(36):
            text = ("kapan saja" if n < 6 else "Sabtu 08.00-11.00" if n < 15
                    else "Senin-Jumat setelah 19.00" if n < 30 else None)
            if text is None:
                await school.say(_phone(n), "halo")
            else:
                await school.say(_phone(n), "jadwal")
                await school.say(_phone(n), text)
            said[n] = text
            await school.inbox(_phone(n))

        result = await _schedule(school, meeting_id)
        assert (result.families, result.assigned, result.unassigned) == (36, 36, 0)
        assert (result.stated_availability, result.matched_availability) == (30, 30)

        slots = {s.id: s for s in await _slots(school, meeting_id)}
        assert all(s.booked <= s.capacity for s in slots.values())
        async with school.services.sessions() as session:
            rows = (await session.exec(select(MeetingFamily, Guardian.phone, Availability.windows)
                                       .join(MeetingInvitation, col(MeetingInvitation.family_id) == MeetingFamily.id)
                                       .join(Guardian, col(Guardian.id) == MeetingInvitation.guardian_id)
                                       .join(Availability, col(Availability.guardian_id) == Guardian.id,
                                             isouter=True))).all()
        for family, phone, windows in rows:
            slot = slots[family.slot_id]  # type: ignore[index]
            if windows:
                assert fits(windows_from_json(windows), slot.starts_at.astimezone(WIB),  # type: ignore[union-attr]
                            slot.ends_at.astimezone(WIB)), (phone, slot.starts_at)  # type: ignore[union-attr]
            saturday = slot.starts_at.astimezone(WIB).weekday() == 5  # type: ignore[union-attr]
            n = int(phone[-2:])
            if 6 <= n < 15:
                assert saturday, "Saturday-only parents get Saturday"

        # Each family got its proposed time with accept / change / cannot buttons.
        proposal = (await school.inbox(_phone(7)))[-1]
        assert "kami mengusulkan waktu berikut" in proposal["text"] and "Sabtu, 19 Desember 2026" in proposal["text"]
        assert "sesuai dengan jadwal luang" in proposal["text"]
        assert [d.split(":")[1] for d in _data(proposal)] == ["ok", "c", "x"]
        accepted = await school.say(_phone(7), press=_data(proposal)[0])
        assert "sudah kami catat" in accepted[-1]["text"]

        # Running it again keeps the accepted booking and tells nobody anything new.
        again = await _schedule(school, meeting_id)
        assert (again.assigned, again.kept, again.proposed, again.matched_availability) == (36, 1, 0, 30)

        # The homeroom teacher sees the timetable per slot in chat.
        table = (await school.say("+6281200000100", f"rapat {meeting_id}"))[-1]["text"]
        assert "Sab, 19 Des 08.00–08.20" in table and "Ruang Kelas IX-A" in table
        assert "Siswa 07 (IX-A)" in table and "Orang Tua 07" in table
        assert "[usulan, belum dikonfirmasi]" in table
        # The full list is a page away on the dashboard, never a command to run on a server.
        assert f"http://127.0.0.1:8000/dashboard/meetings/{meeting_id}" in table
        assert "jembatan" not in table and "--csv" not in table


async def test_schedule_and_timetable_from_the_command_line(tmp_path: Path, sqlite_url: str) -> None:
    url = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested in test_cli.py
    roster = _report_card_roster(tmp_path, 4)
    assert jembatan("roster", "import", str(roster), "--school", "UJI", database_url=url, cwd=tmp_path).returncode == 0
    path = tmp_path / "rapor.yaml"
    path.write_text(REPORT_CARD_DAY.replace("slots:\n", "").replace("2026-12-19", "2027-06-19"))
    created = jembatan("meeting", "create", str(path), "--json", database_url=url, cwd=tmp_path)
    meeting_id = json.loads(created.stdout)["id"]

    scheduled = jembatan("meeting", "schedule", str(meeting_id), "--json", database_url=url, cwd=tmp_path)
    assert scheduled.returncode == 0, scheduled.stderr
    result = json.loads(scheduled.stdout)
    assert (result["assigned"], result["unassigned"], result["matched_availability"]) == (4, 0, 0)

    table = jembatan("report", "timetable", str(meeting_id), "--json", "--csv", str(tmp_path / "t.csv"),
                     database_url=url, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    data = json.loads(table.stdout)
    assert sum(len(s["families"]) for s in data["slots"]) == 4
    assert (tmp_path / "t.csv").read_text().count("Siswa 0") == 4

    missing = jembatan("meeting", "schedule", "999", database_url=url, cwd=tmp_path)
    assert missing.returncode == 1 and "no meeting with id 999" in missing.stderr


# ---------------------------------------------------------------- one-to-one: the family picks a time


async def test_a_counselor_lets_the_family_choose_from_her_free_times(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(RINA, "jadwal")
        saved = await school.say(RINA, "Selasa 13.00-14.00, Sabtu 09.00-10.00")
        assert "konsultasi" in saved[-1]["text"]
        await school.say(HENDRA, "jadwal")
        await school.say(HENDRA, "Sabtu 08.00-12.00")
        await school.inbox(HENDRA)

        await school.say(RINA, "panggil")
        await school.say(RINA, "Bima")
        when = await school.say(RINA, "Bima sering terlambat masuk kelas; kami ingin berbincang bersama Bapak/Ibu.")
        choose = next(b["data"] for b in _buttons(when[-1]) if b["data"].endswith(":when:choose"))
        where = await school.say(RINA, press=choose)
        summary = (await school.say(RINA, press=_data(where[-1])[0]))[-1]
        assert "dipilih keluarga" in summary["text"]
        sent = await school.say(RINA, press="pg:confirm")
        assert "waktu dipilih keluarga" in sent[-1]["text"]

        received = await school.inbox(HENDRA)
        offer = received[-1]
        # Only Saturdays 09.00-09.30 and 09.30-10.00 lie in both her free time and his.
        labels = [b["label"] for b in _slot_buttons(offer)]
        assert labels and all(label.startswith("Sab, ") for label in labels)
        assert "sesuai dengan jadwal luang" in offer["text"]
        took = await school.say(HENDRA, press=_slot_buttons(offer)[0]["data"])
        assert "sudah kami catat" in took[-1]["text"]
        told = await school.inbox(RINA)
        assert any("Hendra Wijaya" in m["text"] and "memesan waktu" in m["text"] for m in told)
        async with school.services.sessions() as session:
            meeting = (await session.exec(select(Meeting))).one()
            slots = (await session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == meeting.id))).all()
        local = {s.starts_at.astimezone(WIB).strftime("%a %H:%M") for s in slots}  # type: ignore[union-attr]
        assert local <= {"Tue 13:00", "Tue 13:30", "Sat 09:00", "Sat 09:30"}
        assert sum(s.booked for s in slots) == 1


async def test_consultation_day_where_each_family_picks_from_the_teachers_free_times(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(SRI, "jadwal")
        await school.say(SRI, "Sabtu 08.00-10.00")
        await school.say(YULIA, "availability")
        await school.say(YULIA, "Saturday 9-10")
        await school.inbox(YULIA)

        await school.say(SRI, "undang")
        await school.say(SRI, "class:VII-A")
        await school.say(SRI, press="ug:type:konsultasi")
        when = (await school.say(SRI, press="ug:title"))[-1]
        assert "ug:when:choose" in _data(when)
        where = (await school.say(SRI, press="ug:when:choose"))[-1]
        await school.say(SRI, press=_data(where)[0])
        summary = (await school.say(SRI, "-"))[-1]
        assert "dipilih setiap keluarga (30 menit)" in summary["text"]
        await school.say(SRI, press="ug:confirm")

        offer = (await school.inbox(YULIA))[-1]
        labels = [b["label"] for b in _slot_buttons(offer)]
        assert labels and all(label.startswith("Sat, ") and " 09:" in label for label in labels)
        async with school.services.sessions() as session:
            meeting = (await session.exec(select(Meeting))).one()
            slots = (await session.exec(select(MeetingSlot).where(MeetingSlot.meeting_id == meeting.id))).all()
        assert meeting.type == "konsultasi" and {s.capacity for s in slots} == {1}
        assert {s.starts_at.astimezone(WIB).strftime("%a %H:%M") for s in slots} == {  # type: ignore[union-attr]
            "Sat 08:00", "Sat 08:30", "Sat 09:00", "Sat 09:30"}
