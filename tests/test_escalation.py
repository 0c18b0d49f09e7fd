"""Escalation: an unanswered concern goes up the chain after the school's limit, the guardian is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.concerns import answer_deadline
from handlers.escalation import escalate_overdue
from tests.harness import MAYA, RINA, SRI, running_school


def test_deadline_moves_into_office_hours() -> None:
    friday_afternoon = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # Friday 16.00 WIB
    due = answer_deadline(friday_afternoon, 24, "Sen-Jum 07.00-15.00", "Asia/Jakarta")
    # Saturday 16.00 is outside office hours: the next opening is Monday 07.00 WIB.
    assert due == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    monday = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 09.00 WIB
    assert answer_deadline(monday, 24, "Sen-Jum 07.00-15.00", "Asia/Jakarta") == monday + timedelta(hours=24)
    assert answer_deadline(monday, 24, "", "Asia/Jakarta") == monday + timedelta(hours=24)


async def test_unanswered_concern_escalates_once_and_guardian_is_told(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, "Nilai matematika Ani turun terus, mohon bantuan")
        assert len(await school.inbox(SRI)) == 1
        services = school.services
        kwargs = {"simulator_enabled": True}
        # Before the limit nothing happens.
        school.clock.advance(hours=23)
        assert await escalate_overdue(services.sessions, now=school.clock.now(), **kwargs) == 0
        school.clock.advance(hours=1, minutes=1)
        assert await escalate_overdue(services.sessions, now=school.clock.now(), **kwargs) == 1
        school.clock.advance(hours=5)
        assert await escalate_overdue(services.sessions, now=school.clock.now(), **kwargs) == 0

        # Sri is the wali kelas of VII-A, so it goes to the class's counselor.
        escalated = await school.inbox(RINA)
        assert len(escalated) == 1
        assert "belum dijawab oleh Wali Kelas, Bapak/Ibu Sri Wahyuni" in escalated[0]["text"]
        assert "Nilai matematika Ani turun terus" in escalated[0]["text"]
        told = await school.inbox(MAYA)
        assert "Guru BK, Bapak/Ibu Rina Marlina" in told[-1]["text"]

        # The counselor may answer by replying to the escalated message.
        await school.say(RINA, "Bu, saya akan bicara dengan Ani dan wali kelasnya.", reply_to=escalated[0]["id"])
        answer = await school.inbox(MAYA)
        assert "saya akan bicara dengan Ani" in answer[-1]["text"]


async def test_answered_concern_does_not_escalate(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "PR matematika Ani banyak sekali")
        forwarded = await school.inbox(SRI)
        await school.say(SRI, "Baik Bu, akan saya cek.", reply_to=forwarded[0]["id"])
        later = school.clock.now() + timedelta(days=3)
        assert await escalate_overdue(school.services.sessions, now=later, simulator_enabled=True) == 0
