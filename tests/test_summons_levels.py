"""Summons levels: the first surat panggilan of a school year is level 1, then 2, then 3."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from domain.clock import ManualClock
from storage.meetings import MeetingFileError, create_meeting, parse_meeting_file
from storage.models import Meeting
from storage.summons_levels import school_year_label, school_year_start
from tests.harness import HENDRA, RINA, running_school

REASON = "Bima sudah tiga kali tidak masuk tanpa keterangan bulan ini. Kami ingin membantunya."


def test_school_year_runs_july_to_june() -> None:
    assert school_year_start(date(2026, 11, 23)) == date(2026, 7, 1)
    assert school_year_start(date(2027, 6, 30)) == date(2026, 7, 1)
    assert school_year_start(date(2027, 7, 1)) == date(2027, 7, 1)
    assert school_year_label(date(2027, 3, 1)) == "2026/2027"


async def _summon(school, when: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """`panggil Bima` through to Kirim; returns the reason question (with the earlier summons)."""
    asked = await school.say(RINA, "panggil Bima")
    await school.say(RINA, REASON)
    await school.say(RINA, when)
    summary = await school.say(RINA, press="pg:where")
    sent = await school.say(RINA, press="pg:confirm")
    assert sent, "the organizer is told the summons went out"
    return [asked[-1], summary[-1]]


async def test_levels_across_two_summons_and_a_new_school_year(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 09.00 WIB, 2026/2027
    async with running_school(database_url, clock=clock) as school:
        first = await _summon(school, "14/12 13.00")
        assert "Belum ada panggilan pada tahun ajaran ini" in first[0]["text"]
        assert "Surat Panggilan ke-1" in first[0]["text"] and "Tingkat: Surat Panggilan ke-1" in first[-1]["text"]
        invitation = (await school.inbox(HENDRA))[-1]
        assert "Surat Panggilan ke-1" in invitation["text"]

        clock.advance(days=30)
        second = await _summon(school, "15/1 13.00")
        assert "Surat Panggilan ke-1, Senin, 23 November 2026" in second[0]["text"]  # the earlier one shown
        assert "Panggilan ini akan menjadi Surat Panggilan ke-2" in second[0]["text"]
        assert "Surat Panggilan ke-2" in (await school.inbox(HENDRA))[-1]["text"]

        clock.advance(seconds=(datetime(2027, 7, 19, 2, 0, tzinfo=UTC) - clock.now()).total_seconds())  # a new school year: counting starts again
        third = await _summon(school, "26/7 13.00")
        assert "Belum ada panggilan pada tahun ajaran ini" in third[0]["text"]
        assert "Surat Panggilan ke-1" in (await school.inbox(HENDRA))[-1]["text"]

        async with school.services.sessions() as session:
            levels = [m.summons_level for m in (await session.exec(select(Meeting).order_by(Meeting.id))).all()]
        assert levels == [1, 2, 1]


def _file(tmp_path: Path, level: str | None, kind: str = "surat_panggilan") -> Path:
    path = tmp_path / "summons.yaml"
    path.write_text(
        f"type: {kind}\ntitle: Panggilan Orang Tua Bima\norganizer: T-003\naudience: student:0071000002\n"
        "location: Ruang BK\nreason: Bima sering terlambat.\n"
        + (f"level: {level}\n" if level is not None else "")
        + "slots:\n  - {start: 2026-12-14T13:00, end: 2026-12-14T13:30}\n")
    return path


async def test_meeting_file_level_counts_and_overrides(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    async with running_school(database_url, clock=clock) as school:
        sessions = school.services.sessions
        first = await create_meeting(sessions, _file(tmp_path, None), default_timezone="Asia/Jakarta",
                                     now=clock.now())
        second = await create_meeting(sessions, _file(tmp_path, None), default_timezone="Asia/Jakarta",
                                      now=clock.now())
        third = await create_meeting(sessions, _file(tmp_path, "3"), default_timezone="Asia/Jakarta",
                                     now=clock.now())
        fourth = await create_meeting(sessions, _file(tmp_path, None), default_timezone="Asia/Jakarta",
                                      now=clock.now())
        async with sessions() as session:
            levels = [(await session.get(Meeting, m.id)).summons_level for m in (first, second, third, fourth)]  # type: ignore[union-attr]
        assert levels == [1, 2, 3, 3]  # never above 3


@pytest.mark.parametrize(("level", "kind", "reason"), [
    ("4", "surat_panggilan", "level: expected 1, 2 or 3, got '4'"),
    ("dua", "surat_panggilan", "level: expected 1, 2 or 3, got 'dua'"),
    ("2", "konsultasi", "level: only a surat_panggilan has a level"),
])
def test_bad_level_is_reported_at_its_line(tmp_path: Path, level: str, kind: str, reason: str) -> None:
    path = _file(tmp_path, level, kind)
    with pytest.raises(MeetingFileError) as caught:
        parse_meeting_file(path)
    assert f"{path}:7: {reason}" in caught.value.errors[0]
