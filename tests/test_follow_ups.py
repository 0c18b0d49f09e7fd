"""Follow-ups: the counselor records agreements, the family is asked on the check-in day."""

from __future__ import annotations

from datetime import date

from handlers.follow_ups import parse_check_in, send_due_check_ins
from tests.harness import HENDRA, MAYA, RINA, running_school


def test_check_in_dates() -> None:
    today = date(2026, 11, 23)
    assert parse_check_in("2 minggu", today) == date(2026, 12, 7)
    assert parse_check_in("10 hari", today) == date(2026, 12, 3)
    assert parse_check_in("2 weeks", today) == date(2026, 12, 7)
    assert parse_check_in("14/12", today) == date(2026, 12, 14)
    assert parse_check_in("5/1", today) == date(2027, 1, 5)
    assert parse_check_in("2027-01-05", today) == date(2027, 1, 5)
    assert parse_check_in("31/02", today) is None
    assert parse_check_in("besok lusa", today) is None


async def test_agreement_then_check_in_answer_reaches_the_counselor(database_url: str) -> None:
    async with running_school(database_url) as school:
        asked = await school.say(RINA, "kesepakatan")
        assert "siswa siapa" in asked[-1]["text"]
        await school.say(RINA, "0071000002")
        await school.say(RINA, "Bima datang tepat waktu; orang tua memeriksa buku penghubung setiap malam.")
        bad = await school.say(RINA, "kemarin")
        assert "bukan tanggal" in bad[-1]["text"]
        confirm = await school.say(RINA, "2 minggu")
        assert "Senin, 7 Desember 2026 pukul 09.00 WIB" in confirm[-1]["text"]
        saved = await school.say(RINA, press="ks:save")
        assert "tersimpan" in saved[-1]["text"]
        agreement = await school.inbox(HENDRA)
        assert "memeriksa buku penghubung" in agreement[-1]["text"]
        assert await school.inbox(MAYA) == []  # Maya is Ani's mother, not Bima's

        sessions = school.services.sessions
        assert await send_due_check_ins(sessions, now=school.clock.now(), simulator_enabled=True) == 0
        school.clock.advance(days=14, hours=1)
        assert await send_due_check_ins(sessions, now=school.clock.now(), simulator_enabled=True) == 1
        assert await send_due_check_ins(sessions, now=school.clock.now(), simulator_enabled=True) == 0
        question = (await school.inbox(HENDRA))[-1]
        assert "bagaimana perkembangan Bima Wijaya" in question["text"]
        labels = [b["label"] for row in question["buttons"] for b in row]
        assert labels == ["Membaik", "Masih sama", "Memburuk", "Tulis catatan"]
        await school.say(HENDRA, "4")
        await school.say(HENDRA, "Sudah lebih rajin, tapi masih susah bangun pagi.")
        told = await school.inbox(RINA)
        assert "susah bangun pagi" in told[-1]["text"] and "Hendra Wijaya" in told[-1]["text"]
        stale = await school.say(HENDRA, press=question["buttons"][0][0]["data"].replace(":improved", ":bogus"))
        assert "tidak berlaku" in stale[-1]["text"]


async def test_only_staff_record_agreements(sqlite_url: str) -> None:
    async with running_school(sqlite_url) as school:
        refused = await school.say(HENDRA, "kesepakatan")
        assert "khusus untuk guru" in refused[-1]["text"]
