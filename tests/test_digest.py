"""The daily digest (ringkasan): non-urgent announcements once a day in one message, urgent ones
at once, nothing lost across a restart, and the delivery report counting digest recipients as sent
when their digest is sent."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from domain.clock import ManualClock
from handlers.broadcasts import send_broadcast
from handlers.digest import send_due_digests
from storage.digest import digest_due
from storage.models import Staff
from tests.harness import HENDRA, MAYA, RINA, SRI, running_school
from tests.phones import network

SEVEN_PM = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday 19.00 WIB


def test_the_digest_goes_out_at_seven_in_the_evening_school_time() -> None:
    morning = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09.00 WIB
    assert digest_due(morning, "Asia/Jakarta") == SEVEN_PM
    assert digest_due(SEVEN_PM, "Asia/Jakarta") == SEVEN_PM
    late = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)  # 19.30 WIB: tomorrow's
    assert digest_due(late, "Asia/Jakarta") == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert digest_due(morning, "Asia/Jayapura") == datetime(
        2026, 11, 23, 10, 0, tzinfo=UTC
    )  # 19.00 WIT


async def _announce(school, text: str, **options):  # type: ignore[no-untyped-def]
    async with school.services.sessions() as session, session.begin():
        author = (await session.exec(select(Staff).where(Staff.phone == RINA))).one()
        return await send_broadcast(
            session,
            author=author,
            audience="grade:7",
            text=text,
            now=school.clock.now(),
            simulator_enabled=school.services.settings.simulator_enabled,
            **options,
        )


async def _digests(school) -> int:  # type: ignore[no-untyped-def]
    return await send_due_digests(
        school.services.sessions,
        now=school.clock.now(),
        simulator_enabled=school.services.settings.simulator_enabled,
    )


async def test_announcements_wait_for_the_digest_urgent_ones_do_not(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, "menu")  # first contact: the welcome
        menu = await school.say(MAYA, "menu")
        assert "ringkasan" in menu[-1]["text"]
        switched = await school.say(MAYA, "ringkasan")
        assert "sekali sehari dalam satu pesan, pukul 19.00 WIB" in switched[-1]["text"]
        first = await _announce(school, "Besok seragam batik.", answers="read")
        await _announce(school, "Kamis ada pemeriksaan gigi.")
        await _announce(school, "Sekolah pulang pukul 10.00 hari ini karena banjir.", urgent=True)
        assert first.recipients == 3 and first.digest == 1

        now = [m["text"] for m in await school.inbox(MAYA)]
        assert len(now) == 1 and "banjir" in now[0]  # urgent: at once
        assert len([m for m in await school.inbox(HENDRA) if "Pengumuman" in m["text"]]) == 3

        # The end-of-sending report comes once the direct messages are out, saying one waits.
        told = [m["text"] for m in await school.inbox(RINA) if "Laporan pengiriman" in m["text"]]
        assert len(told) == 3 and "Menunggu ringkasan harian: 1" in told[0]
        report = (await school.say(RINA, f"laporan {first.id}"))[-1]["text"]
        assert "Terkirim 2 dari 3 (menunggu 1)" in report
        assert (
            "Menunggu ringkasan harian: 1 (dikirim Senin, 23 November 2026 pukul 19.00 WIB)"
            in report
        )

        school.clock.advance(hours=9, minutes=59)  # 18.59
        assert await _digests(school) == 0
        school.clock.advance(minutes=1)  # 19.00 WIB
        assert await _digests(school) == 1
        assert await _digests(school) == 0  # never twice
        digest = await school.inbox(MAYA)
        assert len(digest) == 1, "one combined message"
        text = digest[0]["text"]
        assert "Ringkasan pengumuman SMP Uji Coba" in text
        assert "1) Besok seragam batik." in text and "2) Kamis ada pemeriksaan gigi." in text
        assert "banjir" not in text
        assert labels(digest[0]) == ["Sudah dibaca (pengumuman 1)"]

        thanks = await school.say(MAYA, press=digest[0]["buttons"][0][0]["data"])
        assert '"Sudah dibaca"' in thanks[-1]["text"]
        report = (await school.say(RINA, f"laporan {first.id}"))[-1]["text"]
        assert "Terkirim 3 dari 3 ·" in report and "Menunggu ringkasan" not in report
        assert "Sudah dibaca 1 · belum menjawab 2" in report

        back = await school.say(MAYA, "ringkasan")
        assert "satu per satu" in back[-1]["text"]
        await _announce(school, "Jumat pulang lebih awal.")
        assert "Jumat pulang lebih awal" in (await school.inbox(MAYA))[-1]["text"]
        refused = await school.say(SRI, "ringkasan")
        assert "hanya berlaku untuk orang tua/wali" in refused[-1]["text"]


def labels(message: dict) -> list[str]:
    return [b["label"] for row in message["buttons"] for b in row]


async def test_nothing_waiting_for_the_digest_is_lost_across_a_restart(database_url: str) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, "ringkasan")
        await _announce(school, "Pekan depan ujian tengah semester.")
        assert not [m for m in await school.inbox(MAYA) if "ujian" in m["text"]]
    # The process stops; the next one starts in the evening, on the same database.
    async with running_school(
        database_url, clock=ManualClock(SEVEN_PM), import_school=False
    ) as school:
        assert await _digests(school) == 1
        got = [m for m in await school.inbox(MAYA) if "ujian tengah semester" in m["text"]]
        assert len(got) == 1 and "Ringkasan pengumuman" in got[0]["text"]
        assert await _digests(school) == 0


async def test_stop_before_the_digest_drops_what_waited(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        await school.say(MAYA, "ringkasan")
        first = await _announce(school, "Lomba kebersihan kelas minggu depan.")
        await school.say(MAYA, "berhenti")
        school.clock.advance(hours=10)
        assert await _digests(school) == 0
        assert not [m for m in await school.inbox(MAYA) if "Lomba" in m["text"]]
        report = (await school.say(RINA, f"laporan {first.id}"))[-1]["text"]
        assert "berhenti berlangganan 1" in report and "Terkirim 2 dari 2" in report


async def test_digest_on_whatsapp_answers_with_numbers(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        maya = await net.phone("whatsapp", MAYA)
        rina = await net.phone("telegram", RINA)
        await maya.say("ringkasan")
        asked = await rina.say("siaran")
        await rina.press(asked[-1], "Kelas 7")
        preview = await rina.say("Rapat orang tua kelas 7 hari Sabtu pukul 09.00.")
        assert "1 di antaranya memilih ringkasan harian" in preview[-1]["text"]
        preview = await rina.press(preview[-1], "Tambah tombol jawaban: Hadir / Tidak dapat hadir")
        sent = await rina.press(preview[-1], "Kirim sekarang")
        assert (
            "menerimanya dalam ringkasan harian Senin, 23 November 2026 pukul 19.00 WIB"
            in sent[0]["text"]
        )
        assert await maya.new() == []

        net.clock.advance(hours=10)
        assert (
            await send_due_digests(
                net.services.sessions, now=net.clock.now(), simulator_enabled=False
            )
            == 1
        )
        digest = (await maya.new())[-1]
        assert "Rapat orang tua kelas 7" in digest["text"]
        assert digest["choices"] == ["Hadir (pengumuman 1)", "Tidak dapat hadir (pengumuman 1)"]
        thanks = await maya.say("2")
        assert '"Tidak dapat hadir"' in thanks[-1]["text"]
        report = [m for m in await rina.new() if "Laporan pengiriman" in m["text"]]
        assert len(report) == 1 and "Terkirim 1 dari 1" in report[0]["text"]
        report = await rina.say("laporan")
        assert "Hadir 0 · Tidak dapat hadir 1 · belum menjawab 0" in report[-1]["text"]
