"""Meetings end to end: invite → RSVP → reminders (across a restart) → attendance → report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from handlers.meetings import invite_meeting
from handlers import reminders
from storage.meetings import create_meeting
from storage.models import Guardian, ReminderLog
from storage.reports import participation
from tests.harness import HENDRA, MAYA, RAHMAT, SRI, YULIA, running_school

COMMITTEE = """\
type: rapat_komite
title: Rapat Komite Semester Genap
organizer: T-001
audience: class:VII-A+class:VII-B
location: Aula Sekolah
room_capacity: 40
bring: Buku penghubung
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T10:00}
"""


async def _meeting(school, tmp_path: Path, text: str) -> int:  # type: ignore[no-untyped-def]
    path = tmp_path / "meeting.yaml"
    path.write_text(text)
    created = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
    return created.id


async def _invite(school, meeting_id: int):  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session, session.begin():
        return await invite_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=True)


async def _guardian_id(school, phone: str) -> int:  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session:
        return (await session.exec(select(Guardian.id).where(Guardian.phone == phone))).one()


def _press(message: dict, answer: str) -> str:
    return next(b["data"] for row in message["buttons"] for b in row if b["data"].endswith(f":{answer}"))


async def test_invite_answer_remind_attend_and_report(database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url, run_scheduler=True) as school:
        meeting_id = await _meeting(school, tmp_path, COMMITTEE)
        result = await _invite(school, meeting_id)
        assert (result.families, result.invited) == (2, 3)  # Hendra and Maya's family, Yulia's
        assert (await _invite(school, meeting_id)).invited == 0  # running it again sends nothing twice

        hendra = await school.inbox(HENDRA)
        assert len(hendra) == 1, "siblings in one audience: one invitation"
        assert "Sabtu, 19 Desember 2026 pukul 08.00 WIB" in hendra[0]["text"]
        assert "Ani Wijaya (VII-A)" in hendra[0]["text"] and "Bima Wijaya (VII-B)" in hendra[0]["text"]
        assert "Aula Sekolah" in hendra[0]["text"] and "Buku penghubung" in hendra[0]["text"]
        maya = await school.inbox(MAYA)
        assert "Ani Wijaya" in maya[0]["text"] and "Bima" not in maya[0]["text"]

        # Maya answers for the family; Hendra is told; the organizer hears of it.
        thanks = await school.say(MAYA, press=_press(maya[0], "attend"))
        assert thanks
        told = await school.inbox(HENDRA)
        assert "Maya Wijaya" in told[-1]["text"]
        late = await school.say(HENDRA, press=_press(hendra[0], "decline"))
        assert "Maya Wijaya" in late[-1]["text"]
        assert any("Maya Wijaya" in m["text"] for m in await school.inbox(SRI))

        # Yulia sends her proxy guardian: Rahmat is invited in her place, the organizer told.
        yulia = await school.inbox(YULIA)
        await school.say(YULIA, press=_press(yulia[0], "proxy"))
        rahmat = await school.inbox(RAHMAT)
        assert len(rahmat) == 1 and "Citra Lestari" in rahmat[0]["text"]
        assert any("Rahmat Hidayat" in m["text"] for m in await school.inbox(SRI))

        await school.services.scheduler.sync_reminders()
        maya_id = await _guardian_id(school, MAYA)
        job = reminders.job_id(meeting_id, maya_id, "day_before")
        assert school.services.scheduler.scheduler.get_job(job) is not None

    # A restart: a new app on the same database, the day before the meeting.
    day_before = datetime(2026, 12, 18, 1, 0, tzinfo=UTC)
    from domain.clock import ManualClock

    async with running_school(database_url, clock=ManualClock(day_before), run_scheduler=True,
                              import_school=False) as school:
        assert school.services.scheduler.scheduler.get_job(job) is not None, "the job survived the restart"
        await school.inbox(MAYA)  # what came before the restart
        assert await reminders.send_reminder(meeting_id, maya_id, "day_before") == "sent"
        assert await reminders.send_reminder(meeting_id, maya_id, "day_before") == "already"
        reminder = await school.inbox(MAYA)
        assert len(reminder) == 1 and "Aula Sekolah" in reminder[0]["text"]

        # The process was down at the two-hours mark and came back after the start: skipped, recorded.
        school.clock.advance(days=1, hours=1)
        assert await reminders.send_reminder(meeting_id, maya_id, "two_hours") == "skipped_past"
        assert await school.inbox(MAYA) == []
        async with school.services.sessions() as session:
            logged = (await session.exec(select(ReminderLog.kind, ReminderLog.outcome).where(
                ReminderLog.guardian_id == maya_id))).all()
        assert sorted(logged) == [("day_before", "sent"), ("two_hours", "skipped_past")]

        # The homeroom teacher records who came.
        recorded = await school.say(SRI, "hadir 0071000001")
        assert "1" in recorded[-1]["text"] and "Ani Wijaya" in recorded[-1]["text"]
        async with school.services.sessions() as session:
            rows = await participation(session, meeting_id)
        total = rows[0].as_json()
        assert total["class"] == "" and total["invited"] == 2
        assert (total["accepted"], total["proxy"], total["attended"], total["unreachable"]) == (1, 1, 1, 0)
        by_class = {row.class_name: row for row in rows[1:]}
        assert by_class["VII-A"].invited == 2 and by_class["VII-B"].invited == 1
        assert by_class["VII-B"].attended == 1  # Bima's family came (with Ani)


async def test_a_summons_goes_only_to_the_students_own_guardians(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        path = Path(__file__).parent / "data" / "meetings" / "surat_panggilan.yaml"
        created = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
        result = await _invite(school, created.id)
        assert (result.families, result.invited) == (1, 1)
        summons = await school.inbox(HENDRA)
        assert "tiga kali tidak masuk" in summons[0]["text"] and "Rina Marlina" in summons[0]["text"]
        for other in (MAYA, YULIA, RAHMAT):
            assert await school.inbox(other) == []


async def test_invitations_for_families_without_a_channel_are_counted_unreachable(sqlite_url: str,
                                                                                  tmp_path: Path) -> None:
    async with running_school(sqlite_url, simulator=False) as school:
        meeting_id = await _meeting(school, tmp_path, COMMITTEE)
        async with school.services.sessions() as session, session.begin():
            result = await invite_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=False)
        assert result.unreachable == 3
        async with school.services.sessions() as session:
            total = (await participation(session, meeting_id))[0]
        assert total.unreachable == 2 and total.delivered == 0


async def test_rsvp_by_number_on_whatsapp_and_by_button_on_telegram(sqlite_url: str, tmp_path: Path) -> None:
    from tests.phones import network

    async with network(sqlite_url) as net:
        sri = await net.phone("telegram", SRI)
        maya = await net.phone("whatsapp", MAYA)
        yulia = await net.phone("telegram", YULIA)
        await maya.say("menu")  # inside the 24-hour window
        path = tmp_path / "meeting.yaml"
        path.write_text(COMMITTEE)
        created = await create_meeting(net.services.sessions, path, default_timezone="Asia/Jakarta")
        async with net.services.sessions() as session, session.begin():
            await invite_meeting(session, created.id, now=net.clock.now(), simulator_enabled=False)
        invitation = (await maya.new())[-1]
        assert invitation["choices"][:2] == ["Hadir", "Tidak dapat hadir"]
        await maya.say("1")
        assert any("Maya Wijaya" in m["text"] for m in await sri.new())
        yulia_invitation = (await yulia.new())[-1]
        assert "Saturday, 19 December 2026 at 08:00 WIB" in yulia_invitation["text"]  # she reads English
        thanks = await yulia.press(yulia_invitation, "I cannot attend")
        assert thanks
        async with net.services.sessions() as session:
            total = (await participation(session, created.id))[0]
        assert (total.invited, total.accepted, total.declined, total.proxy) == (2, 1, 1, 1)
        assert total.unreachable == 0  # Hendra has no chat account, but Maya answers for their family


async def test_moving_and_cancelling_tell_the_families_and_move_the_reminders(sqlite_url: str,
                                                                                tmp_path: Path) -> None:
    from datetime import timedelta

    from handlers.meetings import change_meeting

    async with running_school(sqlite_url, run_scheduler=True) as school:
        meeting_id = await _meeting(school, tmp_path, COMMITTEE)
        await _invite(school, meeting_id)
        invitation = (await school.inbox(MAYA))[-1]
        await school.say(MAYA, press=_press(invitation, "attend"))
        await school.services.scheduler.sync_reminders()
        maya_id = await _guardian_id(school, MAYA)
        jobs = school.services.scheduler.scheduler
        before = jobs.get_job(reminders.job_id(meeting_id, maya_id, "day_before")).trigger.run_date

        new_start = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)  # Sunday 08.00 WIB
        async with school.services.sessions() as session, session.begin():
            told = await change_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=True,
                                        new_start=new_start, note="Aula dipakai lomba")
        assert told == 3  # Hendra, Maya and Yulia were invited
        moved = (await school.inbox(MAYA))[-1]
        assert "Minggu, 20 Desember 2026" in moved["text"] and "Aula dipakai lomba" in moved["text"]
        await school.services.scheduler.sync_reminders()
        after = jobs.get_job(reminders.job_id(meeting_id, maya_id, "day_before")).trigger.run_date
        assert after - before == timedelta(days=1)

        async with school.services.sessions() as session, session.begin():
            await change_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=True, cancel=True)
        assert "dibatalkan" in (await school.inbox(HENDRA))[-1]["text"]
        await school.services.scheduler.sync_reminders()
        assert jobs.get_job(reminders.job_id(meeting_id, maya_id, "day_before")) is None
        assert await reminders.send_reminder(meeting_id, maya_id, "day_before") == "skipped_not_attending"


async def test_organizer_sees_read_answered_came_and_agreed_in_chat(sqlite_url: str, tmp_path: Path) -> None:
    from storage.models import OutboxMessage

    async with running_school(sqlite_url) as school:
        path = Path(__file__).parent / "data" / "meetings" / "surat_panggilan.yaml"
        created = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
        await _invite(school, created.id)
        summons = (await school.inbox(HENDRA))[-1]
        async with school.services.sessions() as session, session.begin():  # WhatsApp would report this
            row = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.external_message_id == summons["id"]))).one()
            row.delivery = "read"
        await school.say(HENDRA, press=_press(summons, "attend"))
        overview = await school.say("+6281200000003", "rapat")  # Rina, the counselor who summoned
        text = overview[-1]["text"]
        assert "Panggilan Orang Tua Bima Wijaya" in text and "Bima Wijaya" in text
        assert "dibaca 1" in text and "akan hadir 1" in text and "datang 0" in text


async def test_attendance_from_the_list_and_a_late_reminder(sqlite_url: str, tmp_path: Path) -> None:
    from domain.clock import ManualClock

    async with running_school(sqlite_url, run_scheduler=True) as school:
        meeting_id = await _meeting(school, tmp_path, COMMITTEE)
        await _invite(school, meeting_id)
        invitation = (await school.inbox(YULIA))[-1]
        await school.say(YULIA, press=_press(invitation, "attend"))
        yulia_id = await _guardian_id(school, YULIA)
    # Down at the day-before mark; back three hours before the start: the reminder comes late.
    async with running_school(sqlite_url, clock=ManualClock(datetime(2026, 12, 18, 22, 0, tzinfo=UTC)),
                              run_scheduler=True, import_school=False) as school:
        await school.inbox(YULIA)
        assert await reminders.send_reminder(meeting_id, yulia_id, "day_before") == "sent_late"
        assert len(await school.inbox(YULIA)) == 1
        school.clock.advance(hours=3, minutes=30)  # the meeting has begun
        listed = await school.say(SRI, "hadir")
        names = [b["label"] for row in listed[-1]["buttons"] for b in row]
        assert "Citra Lestari (0071000003)" in names
        recorded = await school.say(SRI, press="hd:0071000003")
        assert "Citra Lestari" in recorded[-1]["text"]
        again = await school.say(SRI, "hadir")
        assert all("Citra" not in b["label"] for row in again[-1]["buttons"] for b in row)


async def test_asking_for_another_time_is_counted_in_the_report_and_on_the_dashboard(database_url: str,
                                                                                     tmp_path: Path) -> None:
    import csv
    import json

    from tests.harness import AHMAD
    from tests.test_cli import jembatan
    from tests.test_dashboard import csv_rows, signed_in, visible_text

    async with running_school(database_url) as school:
        meeting_id = await _meeting(school, tmp_path, COMMITTEE)
        await _invite(school, meeting_id)
        invitation = (await school.inbox(YULIA))[-1]  # Citra's mother (VII-A), reads English
        await school.say(YULIA, press=_press(invitation, "other_time"))

        done = jembatan("report", "participation", str(meeting_id), "--json", "--csv", str(tmp_path / "p.csv"),
                        database_url=database_url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        rows = {row["class"]: row for row in json.loads(done.stdout)["rows"]}
        assert (rows[""]["asked_other_time"], rows["VII-A"]["asked_other_time"], rows["VII-B"]["asked_other_time"]) \
            == (1, 1, 0)
        with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        assert table[0] == ["meeting", "title", "class", "invited", "delivered", "read", "accepted", "declined",
                            "proxy", "attended", "unreachable", "asked_other_time"]
        assert table[1][-1] == "1" and table[1][3] == "2"
        text = jembatan("report", "participation", str(meeting_id), database_url=database_url, cwd=tmp_path).stdout
        assert "asked_other_time" in text.splitlines()[0] and text.splitlines()[1].split()[-1] == "1"

        browser = await signed_in(school, AHMAD)
        page = visible_text((await browser.get(f"/dashboard/meetings/{meeting_id}")).text)
        assert "1 Minta waktu lain" in page
        listed = csv_rows(await browser.get("/dashboard/meetings?format=csv&table=meetings"))
        assert listed[0][-1] == "Minta waktu lain" and listed[1][-1] == "1"
