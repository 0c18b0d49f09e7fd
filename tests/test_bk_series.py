"""The guru BK explainer series: part 1 in the welcome (one explainer, not two), the other three on
later days in the daytime, each at most once per guardian, paused by STOP, and started by a
counselor for an audience from the siaran flow for the families who have not received it."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.bk_series import next_slot, send_due_parts
from tests.harness import HENDRA, MAYA, RINA, YULIA, running_school
from tests.phones import network


def series(messages: list[dict]) -> list[str]:
    """The explainer parts among these messages, as "1/4", "2/4"..."""
    found = []
    for message in messages:
        for part in range(1, 5):
            if f"({part}/4)" in message["text"]:
                found.append(f"{part}/4")
    return found


async def _parts(school) -> int:  # type: ignore[no-untyped-def]
    return await send_due_parts(
        school.services.sessions,
        now=school.clock.now(),
        simulator_enabled=school.services.settings.simulator_enabled,
    )


def test_the_next_part_comes_three_days_later_at_ten() -> None:
    linked = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 22.00 WIB
    assert next_slot(linked, "Asia/Jakarta") == datetime(
        2026, 11, 26, 3, 0, tzinfo=UTC
    )  # Thursday 10.00 WIB


async def test_welcome_is_part_one_and_the_rest_follow_in_the_daytime(database_url: str) -> None:
    async with running_school(database_url) as school:
        welcome = await school.say(MAYA, "menu")
        assert series(welcome) == ["1/4"], "one explainer in the welcome"
        assert "Bapak/Ibu Rina Marlina" in welcome[1]["text"]  # the counselor of Ani's class
        assert await _parts(school) == 0

        school.clock.advance(days=3)  # Thursday 09.00 WIB: not before ten
        assert await _parts(school) == 0
        school.clock.advance(hours=1)
        assert await _parts(school) == 1
        assert await _parts(school) == 0, "never twice"
        second = await school.inbox(MAYA)
        assert series(second) == ["2/4"] and "Yth. Ibu Maya Wijaya" in second[0]["text"]
        assert "bukan hanya untuk siswa yang bermasalah" in second[0]["text"]

        school.clock.advance(days=3, hours=12)  # Sunday 22.00: due since ten, but it is night
        assert await _parts(school) == 0
        school.clock.advance(hours=10)  # Monday 08.00
        assert await _parts(school) == 1
        third = (await school.inbox(MAYA))[-1]["text"]
        assert "(3/4)" in third and "Rina Marlina" in third and "Senin–Jumat 07.00–15.00" in third

        await school.say(MAYA, "berhenti")
        school.clock.advance(days=3, hours=2)
        assert await _parts(school) == 0  # STOP pauses the series
        await school.say(MAYA, "mulai")
        assert await _parts(school) == 1
        fourth = (await school.inbox(MAYA))[-1]["text"]
        assert "(4/4)" in fourth and "konsultasi" in fourth and "pesan terakhir" in fourth

        school.clock.advance(days=9)
        assert await _parts(school) == 0
        assert series(await school.inbox(MAYA)) == []


async def test_a_second_chat_account_is_not_welcomed_with_the_explainer_again(
    sqlite_url: str,
) -> None:
    async with network(sqlite_url) as net:
        on_whatsapp = await net.phone("whatsapp", MAYA)
        first = await on_whatsapp.say("menu")
        assert series(first) == ["1/4"] and "Rina Marlina" in first[-1]["text"]
        on_telegram = await net.phone("telegram", MAYA)  # shares her contact: linked and welcomed
        welcome = on_telegram.received()
        assert "Maya Wijaya" in welcome[0]["text"] and series(welcome) == []
        assert 'Ketik "bk"' in welcome[-1]["text"]


async def test_a_counselor_starts_the_series_for_the_families_who_have_not_had_it(
    database_url: str,
) -> None:
    async with running_school(database_url) as school:
        await school.say(MAYA, "menu")  # Maya linked: she had part 1 in her welcome
        await school.say(YULIA, "stop")  # Yulia opted out of announcements
        asked = await school.say(RINA, "siaran")
        grade = next(
            b["data"] for row in asked[-1]["buttons"] for b in row if b["label"] == "Kelas 7"
        )
        ask_text = await school.say(RINA, press=grade)
        ready = next(
            b["data"]
            for row in ask_text[-1]["buttons"]
            for b in row
            if b["label"] == "Seri pengenalan Guru BK (4 pesan)"
        )
        preview = (await school.say(RINA, press=ready))[-1]
        assert "Akan dimulai untuk 1 orang tua/wali yang belum menerimanya" in preview["text"]
        assert "1 orang tua sudah menerima atau sedang menerima seri ini" in preview["text"]
        labels = [b["label"] for row in preview["buttons"] for b in row]
        assert not [label for label in labels if "tombol jawaban" in label]
        send = next(
            b["data"] for row in preview["buttons"] for b in row if b["label"] == "Kirim sekarang"
        )
        sent = await school.say(RINA, press=send)
        assert "dimulai untuk 1 orang tua/wali" in sent[0]["text"]

        hendra = await school.inbox(HENDRA)
        assert series(hendra) == ["1/4"] and "Yth. Bapak Hendra Wijaya" in hendra[0]["text"]
        assert series(await school.inbox(MAYA)) == [] and series(await school.inbox(YULIA)) == []
        # Hendra writes for the first time: welcomed, but not told the same thing twice.
        welcome = await school.say(HENDRA, "menu")
        assert series(welcome) == []

        again = await school.say(RINA, "siaran")
        ask_text = await school.say(RINA, press=grade)
        preview = (await school.say(RINA, press=ready))[-1]
        assert "Akan dimulai untuk 0 orang tua/wali" in preview["text"]
        assert again

        school.clock.advance(days=3, hours=1)
        assert await _parts(school) == 2  # Maya and Hendra; Yulia is paused (STOP)
        assert series(await school.inbox(HENDRA)) == ["2/4"]
        report = (await school.say(RINA, "laporan"))[-1]["text"]
        assert "Seri pengenalan Guru BK" in report and "Terkirim 1 dari 1" in report
