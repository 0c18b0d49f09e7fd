"""One-tap answers on announcements, and announcements sent at a chosen time.

The author adds "Sudah dibaca" or "Hadir / Tidak dapat hadir" in the siaran preview; each family
answers the school (not each other), once per announcement — pressing another answer replaces the
first, the same one again changes nothing — and the delivery report counts the answers. On
WhatsApp the buttons are numbered choices, remembered only once the announcement is delivered.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.clock import ManualClock
from tests.harness import HENDRA, MAYA, RAHMAT, RINA, SRI, YULIA, running_school
from tests.phones import network


def labels(message: dict) -> list[str]:
    return [b["label"] for row in message["buttons"] for b in row]


def data_of(message: dict, label: str) -> str:
    return next(b["data"] for row in message["buttons"] for b in row if b["label"] == label)


async def test_families_answer_the_school_once_and_the_report_counts_it(database_url: str) -> None:
    async with running_school(database_url) as school:
        asked = await school.say(RINA, "siaran")
        await school.say(RINA, press=data_of(asked[-1], "Kelas 7"))
        preview = await school.say(
            RINA, "Rapat komite hari Sabtu pukul 08.00 di aula. Mohon kabari kami."
        )
        assert "Akan dikirim kepada 3 orang tua/wali" in preview[-1]["text"]
        assert "Tambah tombol jawaban: Hadir / Tidak dapat hadir" in labels(preview[-1])
        with_buttons = await school.say(
            RINA, press=data_of(preview[-1], "Tambah tombol jawaban: Hadir / Tidak dapat hadir")
        )
        assert 'Tombol jawaban: "Hadir" / "Tidak dapat hadir"' in with_buttons[-1]["text"]
        assert "Tanpa tombol jawaban" in labels(with_buttons[-1])
        sent = await school.say(RINA, press=data_of(with_buttons[-1], "Kirim sekarang"))
        assert "sedang dikirim kepada 3" in sent[0]["text"]
        first_report = next(m["text"] for m in sent if "Laporan pengiriman" in m["text"])
        assert "Hadir 0 · Tidak dapat hadir 0 · belum menjawab 3" in first_report

        maya = (await school.inbox(MAYA))[-1]
        assert "Rapat komite" in maya["text"] and labels(maya) == ["Hadir", "Tidak dapat hadir"]
        yulia = (await school.inbox(YULIA))[-1]
        assert labels(yulia) == ["Will attend", "Cannot attend"]  # in her language

        thanks = await school.say(MAYA, press=data_of(maya, "Hadir"))
        assert (
            '"Hadir"' in thanks[-1]["text"]
            and "sudah kami sampaikan kepada sekolah" in thanks[-1]["text"]
        )
        again = await school.say(MAYA, press=data_of(maya, "Hadir"))
        assert "sudah tercatat" in again[-1]["text"]
        changed = await school.say(MAYA, press=data_of(maya, "Tidak dapat hadir"))
        assert 'sudah kami ubah menjadi "Tidak dapat hadir"' in changed[-1]["text"]
        hendra = (await school.inbox(HENDRA))[-1]
        await school.say(HENDRA, press=data_of(hendra, "Hadir"))
        # Families answer the school, not each other: nobody else hears of an answer.
        assert await school.inbox(YULIA) == [] and await school.inbox(SRI) == []

        report = (await school.say(RINA, "laporan"))[-1]["text"]
        assert "Hadir 1 · Tidak dapat hadir 1 · belum menjawab 1" in report

        # Stale or foreign buttons: a teacher, a proxy guardian it was not sent to, a wrong answer.
        for phone, data in (
            (SRI, data_of(maya, "Hadir")),
            (RAHMAT, data_of(maya, "Hadir")),
            (MAYA, data_of(maya, "Hadir").replace(":attend", ":read")),
            (MAYA, "ba:999:attend"),
            (MAYA, "ba:x"),
        ):
            stale = await school.say(phone, press=data)
            assert "sudah tidak berlaku" in stale[-1]["text"], phone
        report = (await school.say(RINA, "laporan"))[-1]["text"]
        assert "Hadir 1 · Tidak dapat hadir 1 · belum menjawab 1" in report


async def test_read_button_is_a_numbered_choice_on_whatsapp(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        asked = await rina.say("siaran")
        await rina.press(asked[-1], "Kelas 7")
        preview = await rina.say("Mulai Senin, jam masuk sekolah pukul 06.45.")
        preview = await rina.press(preview[-1], "Tambah tombol jawaban: Sudah dibaca")
        await rina.press(preview[-1], "Kirim sekarang")
        got = (await maya.new())[-1]
        assert "jam masuk sekolah pukul 06.45" in got["text"] and got["choices"] == ["Sudah dibaca"]
        thanks = await maya.say("1")
        assert '"Sudah dibaca"' in thanks[-1]["text"]
        # The answer is recorded once.
        report = await rina.say("laporan")
        assert "Sudah dibaca 1 · belum menjawab 0" in report[-1]["text"]


async def test_send_at_a_chosen_time_and_numbers_count_only_once_it_arrived(
    sqlite_url: str,
) -> None:
    async with network(sqlite_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("whatsapp", MAYA)
        await maya.say("menu")
        asked = await rina.say("siaran")
        await rina.press(asked[-1], "Kelas 7")
        preview = await rina.say("Besok ada kerja bakti. Mohon anak membawa sapu.")
        when = await rina.press(preview[-1], "Kirim pada waktu tertentu")
        assert "Kapan dikirim?" in when[-1]["text"]
        bad = await rina.say("kemarin sore")
        assert "belum dapat membaca" in bad[-1]["text"]
        preview = await rina.say("besok 07.00")
        assert "Dijadwalkan: Selasa, 24 November 2026 pukul 07.00 WIB" in preview[-1]["text"]
        preview = await rina.press(preview[-1], "Tambah tombol jawaban: Hadir / Tidak dapat hadir")
        scheduled = await rina.press(preview[-1], "Jadwalkan pengiriman")
        assert "dijadwalkan Selasa, 24 November 2026 pukul 07.00 WIB" in scheduled[-1]["text"]

        # Meanwhile Maya is asked something else: "3" answers that, not the unseen announcement.
        question = await maya.say("Selamat pagi Bu, saya mau bicara tentang Ani")
        assert "termasuk yang mana" in question[-1]["text"]
        assert "Guru BK" in (await maya.say("3"))[-1]["text"]
        assert not [m for m in await maya.new() if "kerja bakti" in m["text"]]

        net.clock.advance(hours=22)  # Tuesday 07.00
        arrived = (await maya.new())[-1]
        assert "kerja bakti" in arrived["text"] and arrived["choices"] == [
            "Hadir",
            "Tidak dapat hadir",
        ]
        thanks = await maya.say("2")
        assert '"Tidak dapat hadir"' in thanks[-1]["text"]
        report = [m for m in await rina.new() if "Laporan pengiriman" in m["text"]]
        assert len(report) == 1 and "Terkirim 1 dari 1" in report[0]["text"]


async def test_a_chosen_time_at_night_moves_to_the_morning_and_the_author_is_told(
    sqlite_url: str,
) -> None:
    async with running_school(sqlite_url) as school:
        asked = await school.say(RINA, "siaran")
        await school.say(RINA, press=data_of(asked[-1], "Kelas 7"))
        preview = await school.say(RINA, "Pengambilan rapor diundur ke hari Rabu.")
        await school.say(RINA, press=data_of(preview[-1], "Kirim pada waktu tertentu"))
        moved = (await school.say(RINA, "besok 22.00"))[-1]
        assert "termasuk jam istirahat malam (21.00–06.00)" in moved["text"]
        assert "akan dikirim Rabu, 25 November 2026 pukul 06.00 WIB" in moved["text"]
        assert "Tetap pada waktu itu (mendesak)" in labels(moved)
        sent = await school.say(RINA, press=data_of(moved, "Jadwalkan pengiriman"))
        assert "dijadwalkan Rabu, 25 November 2026 pukul 06.00 WIB" in sent[-1]["text"]
        school.clock.advance(hours=36, minutes=30)  # Tuesday 21.30: not yet
        assert not [m for m in await school.inbox(MAYA) if "diundur" in m["text"]]
        school.clock.advance(hours=9)  # Wednesday 06.30
        assert any("diundur" in m["text"] for m in await school.inbox(MAYA))


async def test_urgent_keeps_the_chosen_night_time(sqlite_url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # Monday 17.00 WIB
    async with running_school(sqlite_url, clock=clock) as school:
        asked = await school.say(RINA, "siaran")
        await school.say(RINA, press=data_of(asked[-1], "Kelas 7"))
        preview = await school.say(RINA, "Sekolah diliburkan besok karena banjir.")
        await school.say(RINA, press=data_of(preview[-1], "Kirim pada waktu tertentu"))
        moved = (await school.say(RINA, "hari ini 21.30"))[-1]
        await school.say(RINA, press=data_of(moved, "Tetap pada waktu itu (mendesak)"))
        school.clock.advance(hours=4, minutes=29)
        assert not [m for m in await school.inbox(YULIA) if "banjir" in m["text"]]
        school.clock.advance(minutes=1)  # 21.30 WIB
        assert any("banjir" in m["text"] for m in await school.inbox(YULIA))
