"""Office hours as schools write them, and when a staff member can be expected to answer."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from domain.office_hours import OfficeWindow, describe, parse_office_hours
from scheduler.opening import is_open, next_open

WIB = ZoneInfo("Asia/Jakarta")
WEEKDAYS_7_15 = [OfficeWindow(day, time(7), time(15)) for day in range(5)]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the week of Monday 2026-11-23 (day 0 = Monday), Jakarta time."""
    return datetime(2026, 11, 23 + day, hour, minute, tzinfo=WIB)


@pytest.mark.parametrize("text", [
    "Mon-Fri 07:00-15:00",
    "Sen-Jum 07.00-15.00",
    "sen - jum 7.00 - 15.00",
    "Senin-Jumat 07.00-15.00",
    "Mon-Wed 07:00-15:00, Thu-Fri 07:00-15:00",
    "Mon 07:00-15:00; Tue 07:00-15:00; Wed-Fri 07.00-15.00",
    "Mon–Fri 07:00–15:00",  # en dashes from a word processor
])
def test_weekday_office_hours_in_english_and_indonesian(text: str) -> None:
    assert parse_office_hours(text) == WEEKDAYS_7_15


def test_several_ranges_and_single_days() -> None:
    windows = parse_office_hours("Sen-Jum 07.00-15.00; Sab 08.00-12.00")
    assert windows[-1] == OfficeWindow(5, time(8), time(12))
    assert len(windows) == 6
    assert parse_office_hours("Sat 08:00-12:00") == [OfficeWindow(5, time(8), time(12))]
    assert parse_office_hours("Min 09.00-10.00") == [OfficeWindow(6, time(9), time(10))]


def test_a_range_may_run_over_the_weekend() -> None:
    days = [w.weekday for w in parse_office_hours("Fri-Mon 08:00-10:00")]
    assert days == [0, 4, 5, 6]


@pytest.mark.parametrize("text", ["", "   ", " ; "])
def test_empty_means_always(text: str) -> None:
    assert parse_office_hours(text) == []
    assert is_open([], at(6, 3))


@pytest.mark.parametrize(("text", "reason"), [
    ("Foo-Fri 07:00-15:00", "unknown day 'Foo'"),
    ("Sen-Jum 7-15", "cannot read 'Sen-Jum 7-15' (expected e.g. Mon-Fri 07:00-15:00)"),
    ("Mon-Fri 25:00-26:00", "invalid time '25:00'"),
    ("Mon-Fri 15:00-07:00", "closing time 07:00 is not after opening time 15:00"),
    ("always", "cannot read 'always' (expected e.g. Mon-Fri 07:00-15:00)"),
])
def test_unreadable_office_hours_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_office_hours(text)
    assert str(caught.value) == reason


def test_is_open_inside_windows_only() -> None:
    assert is_open(WEEKDAYS_7_15, at(0, 7))
    assert is_open(WEEKDAYS_7_15, at(4, 14, 59))
    assert not is_open(WEEKDAYS_7_15, at(4, 15))  # closing time is closed
    assert not is_open(WEEKDAYS_7_15, at(2, 6, 59))
    assert not is_open(WEEKDAYS_7_15, at(5, 10))  # Saturday


def test_next_open_is_now_when_open() -> None:
    now = at(1, 9, 30)
    assert next_open(WEEKDAYS_7_15, now) == now
    assert next_open([], at(6, 23)) == at(6, 23)


def test_next_open_later_the_same_day_and_after_the_weekend() -> None:
    assert next_open(WEEKDAYS_7_15, at(2, 5)) == at(2, 7)
    assert next_open(WEEKDAYS_7_15, at(2, 16)) == at(3, 7)
    friday_evening = at(4, 18)
    monday = next_open(WEEKDAYS_7_15, friday_evening)
    assert monday == datetime(2026, 11, 30, 7, 0, tzinfo=WIB)
    assert monday.tzinfo is WIB


def test_next_open_a_week_later_for_a_single_day() -> None:
    saturday_only = parse_office_hours("Sab 08.00-12.00")
    assert next_open(saturday_only, at(5, 13)) == datetime(2026, 12, 5, 8, 0, tzinfo=WIB)


def test_next_open_with_a_break_in_the_day() -> None:
    split = parse_office_hours("Mon 07:00-10:00; Mon 13:00-15:00")
    assert next_open(split, at(0, 11)) == at(0, 13)


def test_describe_in_both_languages() -> None:
    windows = parse_office_hours("Sen-Jum 07.00-15.00")
    assert describe(windows, "id") == "Senin–Jumat 07.00–15.00"
    assert describe(windows, "en") == "Monday–Friday 07:00–15:00"
    assert describe([], "id") == "kapan saja"
    assert describe([], "en") == "any time"


def test_describe_several_ranges() -> None:
    windows = parse_office_hours("Sen-Jum 07.00-15.00; Sab 08.00-12.00")
    assert describe(windows, "id") == "Senin–Jumat 07.00–15.00; Sabtu 08.00–12.00"
    assert describe(parse_office_hours("Mon-Sun 08:00-20:00"), "en") == "every day 08:00–20:00"
