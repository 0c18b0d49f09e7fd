"""Personal data: consent recorded and withdrawn, `hapus data` carried out by the purge, the
retention rule, and a guardian's own data exported."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlmodel import select

from handlers.meetings import invite_meeting
from storage.meetings import create_meeting
from storage.db import sync_url
from storage.models import (
    AuditEntry,
    Availability,
    ChannelAccount,
    Concern,
    ConcernHandover,
    ConcernMessage,
    Guardian,
    InboxMessage,
    OutboxMessage,
    RoutingExample,
)
from storage.privacy import consent_record, export_person, purge
from tests.harness import MAYA, SCHOOL, SRI, YULIA, running_school
from tests.test_cli import jembatan

CONCERN = "Bu, nilai ulangan Matematika Ani turun. Mohon bimbingannya."
MEETING = """\
type: rapat_komite
title: Rapat Komite
organizer: T-001
audience: class:VII-A
location: Aula
room_capacity: 40
slots:
  - {start: 2026-12-19T08:00, end: 2026-12-19T10:00}
"""


async def _guardian(school, phone: str) -> Guardian:  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session:
        return (await session.exec(select(Guardian).where(Guardian.phone == phone))).one()


async def test_consent_is_recorded_withdrawn_and_given_again(database_url: str, tmp_path: Path) -> None:
    async with running_school(database_url) as school:
        assert (await _guardian(school, YULIA)).consent_at is None
        await school.say(YULIA, "hello")
        yulia = await _guardian(school, YULIA)
        assert yulia.consent_at == school.clock.now() and yulia.consent_channel == "simulator"
        async with school.services.sessions() as session:
            record = {row["guardian"]: row for row in await consent_record(session)}
        assert record["Yulia Lestari"]["channel"] == "simulator" and record["Yulia Lestari"]["withdrawn_at"] == ""
        assert record["Yulia Lestari"]["phone"] != YULIA  # masked for the admin's list

        stopped = await school.say(YULIA, "stop all")
        assert "send you nothing through this chat" in stopped[-1]["text"]
        ignored = await school.say(YULIA, "My daughter's maths grade dropped, can we talk?")
        assert "we have not passed this message on" in ignored[-1]["text"]
        assert await school.inbox(SRI) == []  # nothing reached a teacher
        path = tmp_path / "meeting.yaml"
        path.write_text(MEETING)
        meeting_id = (await create_meeting(school.services.sessions, path, default_timezone="Asia/Jakarta")).id
        async with school.services.sessions() as session, session.begin():
            result = await invite_meeting(session, meeting_id, now=school.clock.now(), simulator_enabled=True)
        assert await school.inbox(YULIA) == [], "not even an invitation after withdrawing consent"
        async with school.services.sessions() as session:
            held = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.template == "invitation_rapat_komite",
                OutboxMessage.guardian_id == (await _guardian(school, YULIA)).id))).one()
        assert (held.status, held.error) == ("held", "withdrawn")
        assert result.unreachable >= 1

        back = await school.say(YULIA, "START")
        assert back[-1]["text"]
        again = await _guardian(school, YULIA)
        assert again.withdrawn_at is None and not again.opted_out
        answered = await school.say(YULIA, "My daughter's maths test score dropped, can we talk?")
        assert answered and "not passed this message on" not in answered[-1]["text"]


async def test_hapus_data_then_purge_removes_the_chat_data_and_keeps_the_roster(database_url: str) -> None:
    async with running_school(database_url) as school:
        ack = (await school.say(MAYA, CONCERN))[-1]
        asked = await school.say(MAYA, press=ack["buttons"][0][0]["data"])  # "Salah tujuan?"
        await school.say(MAYA, press=asked[-1]["buttons"][2][0]["data"])  # to the guru BK: a correction
        await school.say(MAYA, "jadwal")
        await school.say(MAYA, "Sabtu pagi")
        asked = await school.say(MAYA, "hapus data")
        assert "Apakah Bapak/Ibu yakin?" in asked[-1]["text"]
        assert [b["data"] for row in asked[-1]["buttons"] for b in row] == ["er:yes", "er:no"]
        done = await school.say(MAYA, press="er:yes")
        assert "Permintaan penghapusan data sudah kami catat" in done[-1]["text"]
        maya = await _guardian(school, MAYA)
        assert maya.erase_requested_at is not None and maya.withdrawn_at is not None and maya.opted_out

        async with school.services.sessions() as session, session.begin():
            result = await purge(session, older_than=timedelta(days=365), now=school.clock.now())
        assert result.guardians_erased == 1 and result.concerns == 1
        async with school.services.sessions() as session:
            assert (await session.exec(select(Concern))).all() == []
            assert (await session.exec(select(ConcernMessage))).all() == []
            assert (await session.exec(select(Availability))).all() == []
            assert (await session.exec(select(ConcernHandover))).all() == []
            assert (await session.exec(select(RoutingExample))).all() == []
            assert (await session.exec(select(ChannelAccount).where(ChannelAccount.phone == MAYA))).all() == []
            kept = (await session.exec(select(Guardian).where(Guardian.phone == MAYA))).one()
            words = [o.text for o in (await session.exec(select(OutboxMessage).where(
                OutboxMessage.guardian_id == kept.id))).all()]
        assert kept.erased_at is not None and kept.name == "Maya Wijaya"  # the school's roster entry stays
        assert all(CONCERN not in text for text in words)
        # Writing again later: still nothing taken in until she says MULAI.
        await school.say(MAYA, CONCERN)
        assert "belum kami teruskan" in (await school.last(MAYA))["text"]

        async with school.services.sessions() as session, session.begin():
            again = await purge(session, older_than=timedelta(days=365), now=school.clock.now())
        assert again.guardians_erased == 0  # done once


async def test_hapus_data_can_be_called_off(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "hapus data")
        kept = await school.say(MAYA, press="er:no")
        assert "tidak ada yang kami ubah" in kept[-1]["text"]
        assert (await _guardian(school, MAYA)).erase_requested_at is None
        stale = await school.say(MAYA, press="er:yes")  # the question is closed
        assert "tidak berlaku" in stale[-1]["text"]
        assert (await _guardian(school, MAYA)).erase_requested_at is None


async def test_retention_purge_deletes_only_what_is_old_and_closed(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, CONCERN)
        await school.say(MAYA, "selesai")  # she closes it herself
        school.clock.advance(days=200)
        await school.say(YULIA, "My daughter's maths test score dropped, can we talk?")  # open, recent
        async with school.services.sessions() as session, session.begin():
            result = await purge(session, older_than=timedelta(days=180), now=school.clock.now())
        assert (result.concerns, result.concern_messages) == (1, 1)
        assert result.inbox >= 2  # Maya's two updates, 200 days old
        async with school.services.sessions() as session:
            left = (await session.exec(select(Concern))).all()
            inbox = (await session.exec(select(InboxMessage))).all()
            guardian = await session.get(Guardian, left[0].guardian_id)
        assert len(left) == 1 and left[0].status != "closed" and guardian is not None and guardian.phone == YULIA
        assert all(row.received_at >= school.clock.now() - timedelta(days=180) for row in inbox)  # type: ignore[operator]


async def test_a_guardian_gets_their_own_data(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, CONCERN)
        await school.say(MAYA, "jadwal")
        await school.say(MAYA, "Sabtu pagi")
        async with school.services.sessions() as session:
            data = await export_person(session, MAYA)
    assert data["guardian"][0]["name"] == "Maya Wijaya"
    assert data["guardian"][0]["consent"]["channel"] == "simulator"
    assert data["children"] == [{"name": "Ani Wijaya", "class": "VII-A", "relation": "ibu", "proxy": False}]
    assert data["concerns"][0]["messages"][0]["text"] == CONCERN
    assert data["availability"][0]["text"] == "Sabtu pagi"
    assert any(m["template"] == "concern_received" for m in data["messages_received"])
    json.dumps(data)  # one JSON document


def test_purge_export_and_consent_from_the_command_line(tmp_path: Path, sqlite_url: str) -> None:
    url = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested in test_cli.py
    assert jembatan("roster", "import", str(SCHOOL), "--school", "UJI", database_url=url, cwd=tmp_path).returncode == 0
    purged = jembatan("purge", "--older-than", "365", "--json", database_url=url, cwd=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout)["concerns"] == 0
    exported = jembatan("export-person", "0813-0000-0002", "--json", "--by", "T-005", database_url=url, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["guardian"][0]["name"] == "Maya Wijaya"
    consent = jembatan("report", "consent", "--json", database_url=url, cwd=tmp_path)
    assert consent.returncode == 0 and len(json.loads(consent.stdout)["guardians"]) == 4
    unknown = jembatan("export-person", "+6289999999999", database_url=url, cwd=tmp_path)
    assert unknown.returncode == 1 and "no guardian" in unknown.stderr and "9999999999" not in unknown.stderr
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT action, subject FROM audit_entry")).all()
    engine.dispose()
    assert [tuple(row) for row in audit] == [("export_person", "guardian:0002")]
    bad = jembatan("purge", "--older-than", "0", database_url=url, cwd=tmp_path)
    assert bad.returncode == 1 and "--older-than" in bad.stderr


async def test_staff_actions_on_family_data_are_in_the_audit_log(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, CONCERN)
        forwarded = await school.inbox(SRI)
        await school.say(SRI, "Baik Bu, besok saya panggil Ani.", reply_to=forwarded[-1]["id"])
        async with school.services.sessions() as session:
            entries = (await session.exec(select(AuditEntry))).all()
            concern = (await session.exec(select(Concern))).one()
        assert [(e.action, e.subject) for e in entries] == [("answer_concern", f"concern:{concern.id}")]
