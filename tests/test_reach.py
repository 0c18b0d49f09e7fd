"""Who the school can reach, counted one way everywhere (issue 20, item 6).

In simulator mode the simulator stands in for WhatsApp: a guardian with a number in the roster
is reached even before they write; one named by Dapodik without a number, who never enrolled,
is not. ``meeting invite --json``, ``broadcast --json``, ``report participation``, the dashboard
and the simulator itself must all say the same.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from handlers.broadcasts import send_broadcast
from handlers.meetings import invite_meeting
from storage.meetings import create_meeting
from storage.models import Guardian, GuardianStudent, SchoolClass, Staff, Student
from storage.phones import placeholder_phone
from tests.harness import AHMAD, HENDRA, MAYA, YULIA, running_school
from tests.test_cli import jembatan
from tests.test_dashboard import csv_rows, signed_in, visible_text

GATHERING = """\
type: rapat_komite
title: Rapat Orang Tua Kelas VII-A
organizer: T-001
audience: class:VII-A
location: Ruang Kelas VII-A
room_capacity: 40
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T10:00}
"""


async def _family_named_by_dapodik_only(school) -> int:  # type: ignore[no-untyped-def]
    """Dodi of VII-A, whose father the export names without a number (as Dapodik does)."""
    async with school.services.sessions() as session, session.begin():
        school_class = (await session.exec(select(SchoolClass).where(SchoolClass.name == "VII-A"))).one()
        student = Student(school_id=school_class.school_id, nisn="0071000009", name="Dodi Saputra",
                          class_id=school_class.id)
        father = Guardian(school_id=school_class.school_id, name="Sutrisno Saputra",
                          phone=placeholder_phone("0071000009", "ayah"))
        session.add_all([student, father])
        await session.flush()
        session.add(GuardianStudent(school_id=school_class.school_id, guardian_id=father.id,  # type: ignore[arg-type]
                                    student_id=student.id, relation="ayah"))  # type: ignore[arg-type]
        return father.id  # type: ignore[return-value]


def _cli(database_url: str, tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    done = jembatan(*args, "--json", database_url=database_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_every_count_of_unreachable_families_agrees_in_simulator_mode(database_url: str,
                                                                            tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        father = await _family_named_by_dapodik_only(school)
        await school.say(HENDRA, "menu")  # Ani's father writes; Maya and Yulia never did
        path = tmp_path / "meeting.yaml"
        path.write_text(GATHERING)
        meeting = (await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")).id
        # What `meeting invite --json` and `broadcast --json` print, on the app's clock.
        async with school.services.sessions() as session, session.begin():
            invited = (await invite_meeting(session, meeting, now=school.clock.now(),
                                            simulator_enabled=True)).as_json()
            office = (await session.exec(select(Staff).where(Staff.staff_code == "T-005"))).one()
            announced = (await send_broadcast(session, author=office, audience="class:VII-A",
                                              text="Besok pulang pukul 11.00.", now=school.clock.now(),
                                              simulator_enabled=True)).as_json()
        assert (invited["families"], invited["invited"], invited["unreachable"]) == (3, 4, 1)
        assert (announced["recipients"], announced["unreachable"]) == (3, 1)
        [total, per_class] = _cli(database_url, tmp_path, "report", "participation", str(meeting))["rows"]
        assert (total["invited"], total["unreachable"]) == (3, 1)
        assert (per_class["class"], per_class["unreachable"]) == ("VII-A", 1)

        # The simulator delivers to every roster number, linked or not ...
        for phone in (HENDRA, MAYA, YULIA):
            texts = [m["text"] for m in await school.messages(phone)]
            assert any("Rapat Orang Tua Kelas VII-A" in t for t in texts), phone
            assert any("Besok pulang pukul 11.00." in t for t in texts), phone
        # ... and shows nothing for the father without a number: he is not even on its list.
        people = (await school.client.get("/simulator/api/people")).json()["people"]
        assert f"guardian:{father}" not in {p["id"] for p in people}
        shown = await school.client.get("/simulator/api/messages", params={"person": f"guardian:{father}"})
        assert shown.json()["messages"] == []

        # The dashboard: the same one family to phone, on the reach page and the meeting counts.
        browser = await signed_in(school, AHMAD)
        page = visible_text((await browser.get("/dashboard")).text)
        to_phone = page.split("Keluarga yang perlu ditelepon")[1].split("Jangkauan per kelas")[0]
        assert "Dodi Saputra" in to_phone and "Sutrisno Saputra (Ayah)" in to_phone
        assert "Citra Lestari" not in to_phone and "Ani Wijaya" not in to_phone
        classes = csv_rows(await browser.get("/dashboard?format=csv&table=classes"))
        header = classes[0]
        vii_a = dict(zip(header, next(r for r in classes if r[0] == "VII-A"), strict=True))
        assert vii_a["Belum terjangkau"] == "1" and vii_a["Keluarga"] == "3"
        meetings = csv_rows(await browser.get("/dashboard/meetings?format=csv&table=meetings"))
        row = dict(zip(meetings[0], next(r for r in meetings if "Rapat Orang Tua Kelas VII-A" in r), strict=True))
        assert row["Tak terjangkau"] == "1" and row["Diundang"] == "3"
