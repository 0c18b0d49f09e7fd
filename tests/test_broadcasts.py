"""Announcements: frozen recipients, one message per guardian, STOP respected, the unreachable
listed, quiet hours, and concerns never queued behind a broadcast."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from handlers.broadcasts import after_quiet_hours, send_broadcast
from storage.models import AuditEntry, Broadcast, Guardian, Staff
from tests.harness import BUDI, HENDRA, JOKO, MAYA, RINA, SRI, YULIA, running_school
from tests.phones import network
from tests.test_cli import SCHOOL, jembatan


def test_quiet_hours_wait_for_the_morning() -> None:
    tz = "Asia/Jakarta"
    evening = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 22.00 WIB
    assert after_quiet_hours(evening, tz) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 06.00 WIB next day
    small_hours = datetime(2026, 11, 23, 20, 30, tzinfo=UTC)  # 03.30 WIB
    assert after_quiet_hours(small_hours, tz) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert after_quiet_hours(noon, tz) == noon


def test_broadcast_from_the_command_line(tmp_path: Path, sqlite_url: str) -> None:
    db = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested in test_cli.py
    jembatan("roster", "import", str(SCHOOL), "--school", "UJI", database_url=db, cwd=tmp_path)
    sent = jembatan("broadcast", "--audience", "class:VII-A+class:VII-B", "--text", "Besok libur nasional.",
                    "--author", "T-003", "--json", database_url=db, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    # Hendra (Ani and Bima: once), Maya, Yulia; Rahmat is a proxy guardian, not a recipient.
    assert json.loads(sent.stdout) == {"id": 1, "recipients": 3, "opted_out": 0, "unreachable": 0}
    refused = jembatan("broadcast", "--audience", "school", "--text", "Halo", "--author", "T-006",
                       database_url=db, cwd=tmp_path)
    assert refused.returncode == 1 and "only counselors, the principal, admins and a wali kelas" in refused.stderr
    # Sri is the wali kelas of VII-A: her own class, and nothing else.
    wider = jembatan("broadcast", "--audience", "class:VII-A+class:VII-B", "--text", "Halo", "--author", "T-001",
                     database_url=db, cwd=tmp_path)
    assert wider.returncode == 1 and "may announce to class:VII-A only" in wider.stderr
    own = jembatan("broadcast", "--audience", "class:VII-A", "--text", "Halo", "--author", "T-001", "--json",
                   database_url=db, cwd=tmp_path)
    assert own.returncode == 0 and json.loads(own.stdout)["recipients"] == 3
    bad = jembatan("broadcast", "--audience", "kelas:7", "--text", "Halo", "--author", "T-003",
                   database_url=db, cwd=tmp_path)
    assert bad.returncode == 1 and "--audience" in bad.stderr


async def _announce(net, text: str, *, audience: str = "class:VII-A+class:VII-B", urgent: bool = False):  # type: ignore[no-untyped-def]
    async with net.services.sessions() as session, session.begin():
        author = (await session.exec(select(Staff).where(Staff.phone == RINA))).one()
        return await send_broadcast(session, author=author, audience=audience, text=text, now=net.clock.now(),
                                    simulator_enabled=False, urgent=urgent)


async def test_each_guardian_once_on_their_channel_stop_respected_unreachable_listed(database_url: str) -> None:
    async with network(database_url) as net:
        maya = await net.phone("whatsapp", MAYA)
        yulia = await net.phone("telegram", YULIA)
        await maya.say("menu")
        await yulia.say("STOP")
        result = await _announce(net, "Pembagian rapor hari Sabtu pukul 08.00.")
        # Maya gets it; Yulia opted out; Hendra has no chat account: the school phones him.
        assert (result.recipients, result.opted_out, result.unreachable) == (1, 1, 1)
        got = await maya.new()
        assert len(got) == 1 and "Pembagian rapor hari Sabtu" in got[0]["text"] and "Rina Marlina" in got[0]["text"]
        assert await yulia.new() == []
        await net.deliver()
        assert len(await maya.new()) == 0, "never twice"


async def test_concerns_are_not_queued_behind_an_announcement(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        sri = await net.phone("telegram", SRI)
        maya = await net.phone("whatsapp", MAYA)
        hendra = await net.phone("whatsapp", HENDRA)
        await maya.say("menu")
        await hendra.say("menu")
        await _announce(net, "Pengumuman panjang untuk semua keluarga.")
        await _announce(net, "Pengumuman kedua.")
        response = await maya.post(body="Nilai matematika Ani turun, mohon bantuan")
        assert response.status_code == 200
        await net.deliver()
        # Maya's acknowledgement went out before both announcements queued earlier.
        to_maya = [m["Body"] for m in net.twilio.messages_to(f"whatsapp:{MAYA}")][-3:]
        assert "Sri Wahyuni" in to_maya[0]
        assert "Pengumuman panjang" in to_maya[1] and "Pengumuman kedua" in to_maya[2]
        assert any("Nilai matematika Ani turun" in m["text"] for m in await sri.new())


async def test_night_announcements_wait_unless_urgent(sqlite_url: str) -> None:
    from domain.clock import ManualClock

    night = ManualClock(datetime(2026, 11, 23, 15, 30, tzinfo=UTC))  # 22.30 WIB
    async with network(sqlite_url, clock=night) as net:
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        await _announce(net, "Rapat besok dibatalkan.")
        assert await maya.new() == []
        await _announce(net, "Sekolah tutup besok karena banjir.", urgent=True)
        assert "banjir" in (await maya.new())[-1]["text"]
        net.clock.advance(hours=8)  # 06.30 WIB
        assert "dibatalkan" in (await maya.new())[-1]["text"]
        async with net.services.sessions() as session:
            guardian = (await session.exec(select(Guardian).where(Guardian.phone == MAYA))).one()
        assert guardian.opted_out is False


async def test_the_author_asks_for_the_delivery_report(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        result = await _announce(net, "Pembagian rapor hari Sabtu pukul 08.00.")
        got = await maya.new()
        assert (await maya.status(got[-1], "read")).status_code == 200
        report = await rina.say("laporan")
        text = report[-1]["text"]
        assert f"#{result.id}" in text and "Terkirim 1 dari 1" in text and "dibaca 1" in text
        assert "Belum terjangkau 2" in text  # Hendra and Yulia: no chat account
        joko = await net.phone("telegram", JOKO)  # a subject teacher, no wali kelas: no announcements
        refused = await joko.say("report")
        assert "can only be sent by homeroom teachers (to the parents of their own class)" in refused[-1]["text"]


async def test_siaran_from_chat_with_preview_and_confirmation(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        asked = await rina.say("siaran")
        assert "untuk orang tua siswa mana" in asked[-1]["text"]
        refused = await rina.say("IX-A")
        assert "tidak ada di sekolah" in refused[-1]["text"]
        await rina.press(asked[-1], asked[-1]["choices"][0])  # her grade 7
        preview = await rina.say("Jumat depan ada pemeriksaan kesehatan. Mohon anak sarapan.")
        text = preview[-1]["text"]
        assert "Akan dikirim kepada 1 orang tua/wali" in text
        assert "Hendra Wijaya" in text and "Yulia Lestari" in text  # to be phoned
        assert "+62" not in text
        sent = await rina.press(preview[-1], "Kirim sekarang")
        assert "sedang dikirim kepada 1" in "\n".join(m["text"] for m in sent)
        assert "pemeriksaan kesehatan" in (await maya.new())[-1]["text"]
        # When sending ends the author gets the delivery report, once.
        report = [m for m in await rina.new() + sent if "Laporan pengiriman" in m["text"]]
        assert len(report) == 1 and "Terkirim 1 dari 1" in report[0]["text"]
        await net.deliver()
        assert not [m for m in await rina.new() if "Laporan pengiriman" in m["text"]]
        joko = await net.phone("telegram", JOKO)
        assert "can only be sent by homeroom teachers" in (await joko.say("siaran"))[-1]["text"]


async def test_a_wali_kelas_announces_to_their_own_class_and_only_to_it(database_url: str) -> None:
    async with running_school(database_url) as school:
        asked = await school.say(SRI, "siaran")  # Sri: wali kelas of VII-A, also teaches VII-B
        assert "untuk orang tua siswa mana" in asked[-1]["text"]
        assert [b["label"] for row in asked[-1]["buttons"] for b in row] == ["VII-A"]
        for other in ("VII-B", "sekolah", "kelas 7", "0071000002"):
            refused = await school.say(SRI, other)
            assert ("sebagai wali kelas Bapak/Ibu dapat mengirim pengumuman hanya kepada orang tua "
                    "siswa kelas VII-A") in refused[-1]["text"], other
        await school.say(SRI, "VII-A")
        preview = await school.say(SRI, "Besok kelas VII-A pulang pukul 11.00.")
        assert "Akan dikirim kepada 3 orang tua/wali" in preview[-1]["text"]
        sent = await school.say(SRI, press="sb:send")
        assert "sedang dikirim kepada 3" in "\n".join(m["text"] for m in sent)
        for parent in (HENDRA, MAYA, YULIA):  # Ani's parents, Citra's mother
            assert "pulang pukul 11.00" in (await school.last(parent))["text"]
        async with school.services.sessions() as session:
            [broadcast] = (await session.exec(select(Broadcast))).all()
            sri = (await session.exec(select(Staff).where(Staff.phone == SRI))).one()
            audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "broadcast"))).all()
        assert broadcast.audience == "class:VII-A" and broadcast.author_staff_id == sri.id
        assert [(a.staff_id, a.subject) for a in audit] == [(sri.id, f"broadcast:{broadcast.id}")]

        # Budi (wali kelas VII-B, reads Indonesian) may not take Sri's class; Joko teaches, no class of his own.
        await school.say(BUDI, "siaran")
        assert "hanya kepada orang tua siswa kelas VII-B" in (await school.say(BUDI, "VII-A"))[-1]["text"]
        refused = await school.say(JOKO, "siaran")
        assert "can only be sent by homeroom teachers" in refused[-1]["text"]
