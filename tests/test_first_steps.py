"""A new user's first steps with the demo-like test school, as their phone shows them."""

from __future__ import annotations

import re
from pathlib import Path

from handlers.meetings import invite_meeting
from storage.meetings import create_meeting
from tests.harness import AHMAD, HENDRA, MAYA, RAHMAT, RINA, running_school
from tests.test_dashboard import csv_rows, signed_in, visible_text

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


async def test_people_read_words_never_the_codes_behind_them(database_url: str) -> None:
    """The siaran preview, the dashboard's announcements, audit log and concerns CSV, the simulator."""
    async with running_school(database_url) as school:
        await school.say(RINA, "siaran")
        await school.say(RINA, "VII-A")
        preview = (await school.say(RINA, "Jumat depan ada pemeriksaan kesehatan."))[-1]
        assert "(kelas VII-A)" in preview["text"] and "class:" not in preview["text"]
        await school.say(RINA, press=next(b["data"] for row in preview["buttons"] for b in row
                                          if b["data"] == "sb:send"))
        await school.say(HENDRA, "Nilai matematika Ani turun, mohon bimbingannya")

        principal = await signed_in(school, AHMAD)
        announcements = visible_text((await principal.get("/dashboard/broadcasts")).text)
        assert "kelas VII-A" in announcements and "class:" not in announcements
        assert (await principal.get("/dashboard/concerns/1")).status_code == 200
        audit = visible_text((await principal.get("/dashboard/audit")).text)
        assert "Pengumuman #1" in audit and "Pesan orang tua #1" in audit
        assert not re.search(r"(broadcast|concern|meeting):\d", audit)

        listing = csv_rows(await principal.get("/dashboard/concerns?format=csv&table=list"))
        assert listing[0][-1] == "Status" and all(row[-1] for row in listing), listing
        assert listing[1][-1] == "menunggu jawaban"

        people = (await school.client.get("/simulator/api/people")).json()["people"]
        said = {p["name"]: f'{p["role"]} · {p.get("detail") or ", ".join(p.get("children", []))}' for p in people}
        assert said["Rina Marlina"] == "Guru BK · kelas 7"
        assert said["Sri Wahyuni"] == "Wali Kelas · kelas VII-A · Matematika"
        assert said["Hendra Wijaya"].startswith("Ayah · ")
        english = (await school.client.get("/simulator/api/people", params={"lang": "en"})).json()["people"]
        assert {p["role"] for p in english} >= {"Guidance Counselor (Guru BK)", "Principal", "Father"}
