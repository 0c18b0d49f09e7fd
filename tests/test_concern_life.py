"""A concern over days and weeks (CONTRACT section 8), over the real wire on Telegram and WhatsApp:
one topic per concern, "Salah tujuan?", `alihkan`, staff text that is never guessed, auto-close.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from domain.clock import ManualClock
from handlers.escalation import escalate_overdue
from storage.models import AuditEntry, Concern, ConcernHandover, ConcernMessage, RoutingExample, Staff
from storage.roster import import_roster
from tests.harness import (
    BUDI,
    DEWI,
    HENDRA,
    MAYA,
    MONDAY_MORNING,
    RAHMAT,
    RINA,
    SCHOOL,
    SRI,
    YULIA,
)
from tests.phones import Network, Phone, network

PHONE_DIGITS = re.compile(r"(\+?62|0)8\d{8,}")
CHANNELS = ["telegram", "whatsapp"]
VIOLENCE = "Bu, Citra cerita dia dipukul kakak kelas waktu istirahat dan diancam jangan bilang siapa-siapa"
AUTO_CLOSE_SID = "HX" + "cd" * 16


async def staff_phone(net: Network, channel: str, number: str) -> Phone:
    """A staff member's phone; on WhatsApp they open their 24-hour window by writing once."""
    phone = await net.phone(channel, number)
    if channel == "whatsapp":
        await phone.say("menu")
    return phone


async def concerns(net: Network) -> list[Concern]:
    async with net.services.sessions() as session:
        return list((await session.exec(select(Concern).order_by(col(Concern.id)))).all())


async def rows(net: Network, model: Any) -> list[Any]:
    async with net.services.sessions() as session:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())


def choice(message: dict[str, Any], words: str) -> str:
    """The one offered choice whose label contains ``words``."""
    found = [c for c in message["choices"] if words in c]
    assert len(found) == 1, (words, message["choices"])
    return found[0]


# ---------------------------------------------------------------- 1. one topic per concern


@pytest.mark.parametrize("channel", CHANNELS)
async def test_violence_after_a_sick_note_reaches_the_counselor_as_a_new_concern(
        database_url: str, channel: str) -> None:
    async with network(database_url) as net:
        sri, rina = await net.phone("telegram", SRI), await net.phone("telegram", RINA)
        rahmat = await net.phone(channel, RAHMAT)
        first = await rahmat.say("Mohon izin, Citra hari ini sakit demam jadi tidak masuk sekolah")
        assert "Wali Kelas, Bapak/Ibu Sri Wahyuni" in first[-1]["text"]
        assert len(await sri.new()) == 1

        # An unclear follow-up ("the photo of the letter") continues the sick-day concern.
        follow = await rahmat.say("foto suratnya nanti saya kirim bu")
        assert "Tambahan Bapak/Ibu sudah kami teruskan kepada Wali Kelas" in follow[-1]["text"]
        assert "foto suratnya" in (await sri.new())[-1]["text"]

        # The violence report is another topic: a new concern, to the guru BK, and he is told so.
        told = await rahmat.say(VIOLENCE)
        assert "urusan lain" in told[-1]["text"] and "pesan baru" in told[-1]["text"]
        assert "Guru BK, Bapak/Ibu Rina Marlina" in told[-1]["text"]
        forwarded = await rina.new()
        assert len(forwarded) == 1 and VIOLENCE in forwarded[0]["text"]
        assert "Rahmat Hidayat" in forwarded[0]["text"] and "Citra Lestari" in forwarded[0]["text"]
        assert not PHONE_DIGITS.search(forwarded[0]["text"])
        assert await sri.new() == [], "the wali kelas never sees the violence report"
        sick, violence = await concerns(net)
        assert (sick.category, sick.staff_id) != (violence.category, violence.staff_id)
        assert violence.category == "bullying" and sick.category == "absence"

        # "Thank you" could belong to either open concern: he is asked, never guessed for.
        asked = await rahmat.say("terima kasih bu")
        assert "urusan yang mana" in asked[-1]["text"]
        assert len(asked[-1]["choices"]) == 3 and "Urusan baru" in asked[-1]["choices"]
        assert await sri.new() == [] and await rina.new() == []
        await rahmat.press(asked[-1], choice(asked[-1], "dipukul"))
        assert "terima kasih bu" in (await rina.new())[-1]["text"]
        assert await sri.new() == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_bullying_report_during_a_grades_concern_goes_to_the_counselor(sqlite_url: str, channel: str) -> None:
    async with network(sqlite_url) as net:
        sri, rina = await net.phone("telegram", SRI), await net.phone("telegram", RINA)
        maya = await net.phone(channel, MAYA)
        await maya.say("Nilai matematika Ani turun, apa ada remedial?")
        assert len(await sri.new()) == 1
        told = await maya.say("Ani dibully kakak kelasnya, dia jadi takut ke sekolah")
        assert "Guru BK, Bapak/Ibu Rina Marlina" in told[-1]["text"] and "pesan baru" in told[-1]["text"]
        assert "dibully kakak kelasnya" in (await rina.new())[-1]["text"]
        assert await sri.new() == []
        # A fee question is the office's, also while both are open.
        dewi = await net.phone("telegram", DEWI)
        fee = await maya.say("Bu, uang komite bulan ini bayarnya ke mana ya?")
        assert "Tata Usaha, Bapak/Ibu Dewi Lestari" in fee[-1]["text"]
        assert "uang komite" in (await dewi.new())[-1]["text"]
        assert await sri.new() == [] and await rina.new() == []


# ---------------------------------------------------------------- 2. "Salah tujuan?"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_wrong_person_moves_the_concern_with_its_thread(database_url: str, channel: str) -> None:
    async with network(database_url) as net:
        sri, rina = await net.phone("telegram", SRI), await net.phone("telegram", RINA)
        maya = await net.phone(channel, MAYA)
        ack = (await maya.say("Ani sering terlambat masuk sekolah"))[-1]
        assert "Wali Kelas, Bapak/Ibu Sri Wahyuni" in ack["text"]
        assert ack["choices"] == ["Salah tujuan?"]
        forwarded = await sri.new()
        await sri.reply(forwarded[0], "Baik Bu, akan saya perhatikan.")
        assert "akan saya perhatikan" in (await maya.new())[-1]["text"]

        asked = (await maya.press(ack, "Salah tujuan?"))[-1]
        assert asked["choices"][:4] == ["Pelajaran, PR & nilai", "Izin / sakit / tidak masuk",
                                        "Perilaku, perasaan & pergaulan (BK)", "Biaya & dokumen"]
        moved = (await maya.press(asked, "Perilaku, perasaan & pergaulan (BK)"))[-1]
        assert "sekarang ditangani oleh Guru BK, Bapak/Ibu Rina Marlina" in moved["text"]

        thread = await rina.new()
        assert len(thread) == 1
        assert "Ani sering terlambat masuk sekolah" in thread[0]["text"]
        assert "Sri Wahyuni: \"Baik Bu, akan saya perhatikan.\"" in thread[0]["text"]
        assert "Maya Wijaya (Ibu dari Ani Wijaya, VII-A)" in thread[0]["text"]
        assert not PHONE_DIGITS.search(thread[0]["text"])
        left = await sri.new()
        assert len(left) == 1 and "sekarang ditangani oleh Guru BK, Bapak/Ibu Rina Marlina" in left[0]["text"]
        assert "terlambat" not in left[0]["text"], "no thread words beyond what she had"

        concern, = await concerns(net)
        rina_id = (await rows(net, Staff))[2].id
        assert concern.staff_id == rina_id and concern.staff_role == "counselor" and concern.status == "open"
        handover, = await rows(net, ConcernHandover)
        assert (handover.source, handover.category, handover.to_staff_id) == ("wrong_person", "absence", rina_id)
        example, = await rows(net, RoutingExample)
        assert (example.source, example.group, example.text) == ("wrong_person", "counseling",
                                                                "Ani sering terlambat masuk sekolah")

        # The new holder answers by replying to what she received; the old one can no longer.
        await rina.reply(thread[0], "Bu, besok saya temui Ani di ruang BK.")
        assert "besok saya temui Ani" in (await maya.new())[-1]["text"]
        refused = await sri.reply(forwarded[0], "Ini jawaban saya.")
        assert "Ini jawaban saya" not in "".join(m["text"] for m in await maya.new())
        assert refused

        if channel == "telegram":  # the first acknowledgement's button is stale now
            stale = await maya.press(ack, "Salah tujuan?")
            assert "sudah tidak berlaku" in stale[-1]["text"]
            assert await rina.new() == [] and await sri.new() == []
            assert len(await rows(net, ConcernHandover)) == 1


async def test_wrong_person_keep_and_closed_concern(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        sri = await net.phone("telegram", SRI)
        maya = await net.phone("telegram", MAYA)
        ack = (await maya.say("Mohon izin, Ani hari ini sakit demam jadi tidak masuk sekolah"))[-1]
        asked = (await maya.press(ack, "Salah tujuan?"))[-1]
        kept = await maya.press(asked, "Sudah benar, tetap di sini")
        assert "tetap pada Wali Kelas, Bapak/Ibu Sri Wahyuni" in kept[-1]["text"]
        await sri.new()
        await sri.say("selesai")
        await maya.new()
        stale = await maya.press(asked, "Perilaku, perasaan & pergaulan (BK)")
        assert "sudah ditutup atau sudah dialihkan" in stale[-1]["text"]
        assert await rows(net, ConcernHandover) == [] and await rows(net, RoutingExample) == []


# ---------------------------------------------------------------- 3. alihkan / handover


@pytest.mark.parametrize("channel", CHANNELS)
async def test_handover_to_a_colleague_with_the_whole_thread(database_url: str, channel: str) -> None:
    async with network(database_url) as net:
        sri = await staff_phone(net, channel, SRI)
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("telegram", MAYA)
        await sri.new()
        await maya.say("Nilai matematika Ani turun, apa ada remedial?")
        forwarded = await sri.new()
        await sri.reply(forwarded[0], "Remedial hari Kamis jam 13.00, Bu.")
        await maya.say("Baik Bu, terima kasih. Apakah Ani perlu membawa buku latihan untuk remedialnya?")
        await sri.new()
        await maya.new()
        net.clock.advance(hours=5)

        offered = (await sri.reply(forwarded[0], "alihkan"))[-1]
        assert offered["choices"] == ["Guru BK: Rina Marlina", "Guru IPA: Budi Santoso",
                                      "Guru Bahasa Inggris: Joko Prasetyo", "Tata Usaha: Dewi Lestari",
                                      "Kepala Sekolah: Ahmad Fauzi"], "the child's staff, never Sri herself"
        done = await sri.press(offered, "Guru BK: Rina Marlina")
        assert "sudah dialihkan kepada Guru BK, Bapak/Ibu Rina Marlina" in done[-1]["text"]

        thread = await rina.new()
        assert len(thread) == 1
        for words in ("Nilai matematika Ani turun, apa ada remedial?", "Remedial hari Kamis jam 13.00, Bu.",
                      "Apakah Ani perlu membawa buku latihan untuk remedialnya?", "Maya Wijaya (Ibu dari Ani Wijaya, VII-A)",
                      "dialihkan kepada Bapak/Ibu oleh Wali Kelas, Bapak/Ibu Sri Wahyuni"):
            assert words in thread[0]["text"], words
        assert not PHONE_DIGITS.search(thread[0]["text"])
        told = await maya.new()
        assert len(told) == 1 and "sekarang ditangani oleh Guru BK, Bapak/Ibu Rina Marlina" in told[0]["text"]

        concern, = await concerns(net)
        staff = {s.phone: s for s in await rows(net, Staff)}
        assert concern.staff_id == staff[RINA].id and concern.status == "open"
        assert concern.escalated_at is None and concern.escalated_to_id is None
        assert concern.due_at == net.clock.now() + timedelta(hours=24), "timing restarts for Rina"
        assert [(a.action, a.staff_id) for a in await rows(net, AuditEntry)
                if a.action == "handover_concern"] == [("handover_concern", staff[SRI].id)]
        handover, = await rows(net, ConcernHandover)
        assert (handover.source, handover.from_staff_id, handover.to_staff_id) == (
            "handover", staff[SRI].id, staff[RINA].id)
        example, = await rows(net, RoutingExample)
        assert (example.source, example.group) == ("handover", "counseling")
        assert example.text == "Nilai matematika Ani turun, apa ada remedial?"

        # Escalation starts again from the hand-over: nothing before Rina's own limit.
        kwargs = {"simulator_enabled": False}
        assert await escalate_overdue(net.services.sessions, now=net.clock.now() + timedelta(hours=23), **kwargs) == 0
        assert await escalate_overdue(net.services.sessions, now=net.clock.now() + timedelta(hours=25), **kwargs) == 1

        # Rina answers; Sri's old forward no longer reaches the family.
        await rina.reply(thread[0], "Bu, saya akan bicara dengan Ani besok.")
        assert "saya akan bicara dengan Ani" in (await maya.new())[-1]["text"]


async def test_a_long_thread_arrives_whole_in_parts_on_whatsapp(sqlite_url: str) -> None:
    async with network(sqlite_url) as net:
        sri = await net.phone("telegram", SRI)
        rina = await staff_phone(net, "whatsapp", RINA)
        await rina.new()
        maya = await net.phone("whatsapp", MAYA)
        thanks = " ".join(["terima kasih atas perhatian Ibu selama ini."] * 15)
        said = ["Nilai matematika Ani turun. " + thanks] + [f"Tambahan {n}: {thanks}" for n in (1, 2, 3)]
        for text in said:
            await maya.say(text)
        assert len(await sri.new()) == 4
        offered = (await sri.say("alihkan"))[-1]
        await sri.press(offered, "Guru BK: Rina Marlina")
        parts = await rina.new()
        assert len(parts) >= 2 and all(len(m["text"]) <= 1600 for m in parts)
        assert "(bagian 1 dari" in parts[0]["text"] and "Balas (reply)" in parts[-1]["text"]
        received = "\n".join(m["text"] for m in parts)
        assert all(text in received for text in said), "every message, as written, none cut short"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_handover_bad_input_changes_nothing(database_url: str, channel: str, tmp_path: Path) -> None:
    async with network(database_url) as net:
        sri = await staff_phone(net, channel, SRI)
        budi = await staff_phone(net, "telegram", BUDI)
        await net.phone("telegram", RINA)
        maya = await net.phone("telegram", MAYA)
        await maya.say("Nilai matematika Ani turun")
        await sri.new()
        concern, = await concerns(net)
        number = concern.id

        foreign = await budi.say(f"alihkan {number}")
        assert f"pesan #{number} tidak termasuk pesan yang Bapak/Ibu tangani" in foreign[-1]["text"]
        unknown = await sri.say("alihkan 9999")
        assert "pesan #9999 tidak termasuk" in unknown[-1]["text"]
        guardian = await maya.say("alihkan 1")
        assert "khusus untuk guru" in guardian[-1]["text"]

        offered = (await sri.say(f"alihkan {number}"))[-1]
        assert "Guru IPA: Budi Santoso" in offered["choices"]
        # Budi stops teaching VII-A between the buttons and the press.
        roster = tmp_path / "roster"
        shutil.copytree(SCHOOL, roster)
        staff_csv = roster / "staff.csv"
        staff_csv.write_text(staff_csv.read_text().replace("VII-B,VII-A;VII-B,IPA", "VII-B,VII-B,IPA"))
        await import_roster(net.services.sessions, roster, school_code="UJI", school_name="SMP Uji Coba")
        gone = await sri.press(offered, "Guru IPA: Budi Santoso")
        assert "tidak lagi tercatat" in gone[-1]["text"]
        assert await budi.new() == []
        assert (await concerns(net))[0].staff_id == concern.staff_id
        assert await rows(net, ConcernHandover) == []

        again = (await sri.say(f"alihkan {number}"))[-1]
        assert "Guru IPA: Budi Santoso" not in again["choices"]
        await sri.press(again, "Tata Usaha: Dewi Lestari")
        assert len(await rows(net, ConcernHandover)) == 1
        if channel == "telegram":  # an old button, after the concern left her
            stale = await sri.press(offered, "Guru BK: Rina Marlina")
            assert "sudah tidak berlaku" in stale[-1]["text"]
            assert len(await rows(net, ConcernHandover)) == 1
        # Closed: nothing to hand on.
        dewi = await net.phone("telegram", DEWI)
        await dewi.say(f"selesai {number}")
        closed = await dewi.say(f"alihkan {number}")
        assert f"Pesan #{number} sudah ditutup" in closed[-1]["text"]
        assert len(await rows(net, ConcernHandover)) == 1


# ---------------------------------------------------------------- 4. staff text is never guessed


@pytest.mark.parametrize("channel", CHANNELS)
async def test_teacher_with_four_open_concerns_is_asked_which(database_url: str, channel: str) -> None:
    async with network(database_url) as net:
        sri = await staff_phone(net, channel, SRI)
        await net.phone("telegram", RINA)
        families = {number: await net.phone("telegram", number) for number in (MAYA, YULIA, HENDRA, RAHMAT)}
        await families[MAYA].say("Nilai matematika Ani turun")
        await families[YULIA].say("Mohon izin, Citra hari ini sakit demam jadi tidak masuk sekolah")
        await families[HENDRA].say("Ani besok izin tidak masuk karena ada acara keluarga")
        await families[RAHMAT].say("PR matematika Citra terlalu banyak")
        await families[RAHMAT].say(VIOLENCE)  # the newest concern: the guru BK's, not Sri's
        await sri.new()
        for phone in families.values():
            await phone.new()

        asked = (await sri.say("Baik Pak, terima kasih infonya."))[-1]
        assert "4 pesan orang tua" in asked["text"] and "Belum kami kirim" in asked["text"]
        assert len(asked["choices"]) == 4
        assert "Hendra Wijaya (Ayah)" in asked["text"]
        for phone in families.values():
            assert await phone.new() == [], "nothing is guessed"

        sent = await sri.press(asked, choice(asked, "Ani besok izin"))
        assert "Terkirim kepada Hendra Wijaya (Ayah dari Ani Wijaya, VII-A)" in sent[-1]["text"]
        got = await families[HENDRA].new()
        assert len(got) == 1 and "Baik Pak, terima kasih infonya." in got[0]["text"]
        for number in (MAYA, YULIA, RAHMAT):
            assert await families[number].new() == []
        assert len([m for m in await rows(net, ConcernMessage) if m.author == "staff"]) == 1

        if channel == "telegram":  # pressing again sends nothing twice
            stale = await sri.press(asked, choice(asked, "Ani besok izin"))
            assert "tidak berlaku" in stale[-1]["text"]
            assert await families[HENDRA].new() == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_with_one_open_concern_the_text_goes_there_and_says_to_whom(sqlite_url: str, channel: str) -> None:
    async with network(sqlite_url) as net:
        rina = await staff_phone(net, channel, RINA)
        maya = await net.phone("telegram", MAYA)
        await maya.say("Ani sering murung setelah pulang sekolah")
        await rina.new()
        sent = await rina.say("Baik Bu, besok saya ajak Ani berbicara.")
        assert "Terkirim kepada Maya Wijaya (Ibu dari Ani Wijaya, VII-A)" in sent[-1]["text"]
        assert "besok saya ajak Ani berbicara" in (await maya.new())[-1]["text"]


# ---------------------------------------------------------------- 5. auto-close


@pytest.mark.parametrize("channel", CHANNELS)
async def test_an_answered_quiet_concern_closes_itself_once_across_a_restart(database_url: str, channel: str) -> None:
    clock = ManualClock(MONDAY_MORNING)
    sids = f'{{"concern_auto_closed": "{AUTO_CLOSE_SID}"}}'  # outside WhatsApp's 24-hour window
    async with network(database_url, clock=clock, content_sids=sids, run_scheduler=True) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone(channel, MAYA)
        await maya.say("Ani sering murung setelah pulang sekolah")
        forwarded = await rina.new()
        await rina.reply(forwarded[0], "Baik Bu, saya temui Ani besok.")
        await maya.new()
        clock.advance(days=2)
        await net.services.scheduler.auto_close_tick()  # type: ignore[union-attr]
        assert (await concerns(net))[0].status == "answered" and await maya.new() == []

    clock.advance(days=1, minutes=1)  # three days without a word from either side
    async with network(database_url, clock=clock, content_sids=sids, run_scheduler=True,
                       update_ids_from=9000) as net:  # Telegram's update ids go on growing
        rina = await net.phone("telegram", RINA)
        maya = await net.phone(channel, MAYA)
        await net.services.scheduler.auto_close_tick()  # type: ignore[union-attr]
        told = await maya.new()
        assert len(told) == 1 and "menulis lagi kapan saja" in told[0]["text"]
        concern, = await concerns(net)
        assert concern.status == "closed" and concern.closed_at == clock.now()
        await net.services.scheduler.auto_close_tick()  # type: ignore[union-attr]
        assert await maya.new() == [] and await rina.new() == []

        # Her next message is a new concern.
        ack = await maya.say("Bu, Ani murung lagi sejak kemarin")
        assert "Terima kasih. Pesan Bapak/Ibu tentang Ani" in ack[-1]["text"]
        first, second = await concerns(net)
        assert first.status == "closed" and second.status == "open"
        assert f"Pesan #{second.id}" in (await rina.new())[-1]["text"]


async def test_auto_close_days_come_from_the_setting(sqlite_url: str) -> None:
    clock = ManualClock(MONDAY_MORNING)
    async with network(sqlite_url, clock=clock, run_scheduler=True, concern_auto_close_days=1) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("telegram", MAYA)
        await maya.say("Ani sering murung setelah pulang sekolah")
        await rina.reply((await rina.new())[0], "Baik Bu.")
        clock.advance(hours=23)
        await net.services.scheduler.auto_close_tick()  # type: ignore[union-attr]
        assert (await concerns(net))[0].status == "answered"
        # A message from either side starts the quiet time again.
        await maya.say("Baik bu, terima kasih")
        clock.advance(hours=23)
        await net.services.scheduler.auto_close_tick()  # type: ignore[union-attr]
        assert (await concerns(net))[0].status == "answered"
        clock.advance(hours=2)
        await net.services.scheduler.auto_close_tick()  # type: ignore[union-attr]
        assert (await concerns(net))[0].status == "closed"
