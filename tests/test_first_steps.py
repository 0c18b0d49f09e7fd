"""A new user's first steps with the demo-like test school, as their phone shows them."""

from __future__ import annotations

from pathlib import Path

from handlers.meetings import invite_meeting
from storage.meetings import create_meeting
from tests.harness import HENDRA, MAYA, RAHMAT, running_school

MEETING = """\
type: rapat_komite
title: Rapat Komite
organizer: T-001
audience: class:VII-A
location: Aula Sekolah
room_capacity: 40
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T12:00}
"""


async def test_a_father_is_bapak_a_mother_ibu_and_a_foster_parent_bapak_ibu(database_url: str,
                                                                             tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        assert "Selamat datang, Bapak Hendra Wijaya" in (await school.say(HENDRA, "menu"))[0]["text"]
        assert "Selamat datang, Ibu Maya Wijaya" in (await school.say(MAYA, "menu"))[0]["text"]
        assert "Selamat datang, Bapak/Ibu Rahmat Hidayat" in (await school.say(RAHMAT, "menu"))[0]["text"]
        assert "Halo, Ibu Maya Wijaya" in (await school.say(MAYA, "menu"))[0]["text"]

        path = tmp_path / "meeting.yaml"
        path.write_text(MEETING)
        meeting = await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")
        async with school.services.sessions() as session, session.begin():
            await invite_meeting(session, meeting.id, now=school.clock.now(), simulator_enabled=True)
        assert "Yth. Bapak Hendra Wijaya," in (await school.inbox(HENDRA))[0]["text"]
        assert "Yth. Ibu Maya Wijaya," in (await school.inbox(MAYA))[0]["text"]
