"""Parents' stated availability ("Sabtu pagi", "weekday evenings after 6") as weekly windows.

Pure tests: no database, no network. Windows are written ``w("0-4", "19:00", "21:00")``:
the days ("5", "0-4", "5,6", "*" for every day) and the hours, school-local.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.availability import AvailabilityError, AvailabilityWindow, windows_from_json, windows_to_json
from scheduler.availability import DAY_PARTS, MEETING_DAY, button_grid, describe_availability, fits, is_preferred_time, parse_availability, window_for
from templates.render import words

WIB = ZoneInfo("Asia/Jakarta")


def _days(spec: str) -> list[int]:
    if spec == "*":
        return list(range(7))
    days: list[int] = []
    for item in spec.split(","):
        first, _, last = item.partition("-")
        days.extend(range(int(first), int(last or first) + 1))
    return days


def w(days: str, start: str, end: str) -> list[AvailabilityWindow]:
    """One window on each of ``days`` from ``start`` to ``end``."""
    return [AvailabilityWindow(day, time.fromisoformat(start), time.fromisoformat(end))
            for day in _days(days)]


PAGI, SIANG, SORE, MALAM = ("07:00", "11:00"), ("11:00", "15:00"), ("15:00", "18:00"), (
    "18:00", "21:00")
ANY = ("07:00", "21:00")
WEEKDAY_EVENINGS_FROM_7 = w("0-4", "19:00", "21:00")
ALL_BUT_FRIDAY = w("0-3,5,6", *ANY)

PHRASES: list[tuple[str, list[AvailabilityWindow]]] = [
    # Indonesian days and day parts
    ("Sabtu pagi", w("5", *PAGI)),
    ("Minggu sore", w("6", *SORE)),
    ("Jumat siang", w("4", *SIANG)),
    ("Senin malam", w("0", *MALAM)),
    ("Sabtu", w("5", *ANY)),
    ("sabtu minggu", w("5,6", *ANY)),
    ("SABTU PAGI", w("5", *PAGI)),
    ("setiap Sabtu siang hari", w("5", *SIANG)),
    ("Minggu seharian", w("6", *ANY)),
    ("malam minggu", w("5", *MALAM)),  # "malam <day>" is the evening before that day
    ("Minggu malam", w("6", *MALAM)),
    # chat spelling and typos
    ("sbtu pgi", w("5", *PAGI)),
    ("mggu sore2", w("6", *SORE)),
    ("hari Sabtu pagi-pagi", w("5", *PAGI)),
    ("Kamis malem", w("3", *MALAM)),
    ("jum'at sore", w("4", *SORE)),
    ("snin mlm", w("0", *MALAM)),
    ("rebo sore", w("2", *SORE)),
    ("malming", w("5", *MALAM)),
    ("Sabtu pagi 🙏", w("5", *PAGI)),
    ("insya Allah Sabtu pagi pak", w("5", *PAGI)),
    ("saya bisanya hari Minggu aja bu", w("6", *ANY)),
    ("kalo sabtu sih bisa jam 10an pak", w("5", "10:00", "11:00")),
    # groups of days
    ("akhir pekan", w("5,6", *ANY)),
    ("wiken", w("5,6", *ANY)),
    ("weekend", w("5,6", *ANY)),
    ("akhir minggu sore", w("5,6", *SORE)),
    ("hari kerja", w("0-4", *ANY)),
    ("hr kerja mlm", w("0-4", *MALAM)),
    ("hari libur pagi", w("5,6", *PAGI)),
    ("setiap hari", w("*", *ANY)),
    ("jumat-senin", w("0,4-6", *ANY)),  # a range may wrap over the weekend
    # any time
    ("kapan saja", w("*", *ANY)),
    ("bebas", w("*", *ANY)),
    ("terserah bapak", w("*", *ANY)),
    ("kpn aja bs bu", w("*", *ANY)),
    ("jam berapa aja hari Sabtu", w("5", *ANY)),
    # clock times
    ("malam hari kerja setelah jam 7", WEEKDAY_EVENINGS_FROM_7),
    ("Senin-Jumat setelah 19.00", WEEKDAY_EVENINGS_FROM_7),
    ("mlm hr kerja stlh jm 7", WEEKDAY_EVENINGS_FROM_7),
    ("Senin s/d Jumat pukul 19.00-21.00", WEEKDAY_EVENINGS_FROM_7),
    ("Senin s.d. Jumat jam 7 malam ke atas", WEEKDAY_EVENINGS_FROM_7),
    ("senin sampai jumat sesudah jam 7 malam", WEEKDAY_EVENINGS_FROM_7),
    ("sen - jum 19:00 – 21:00", WEEKDAY_EVENINGS_FROM_7),
    ("Sabtu jam 9", w("5", "09:00", "10:00")),
    ("Sabtu jam 9-11", w("5", "09:00", "11:00")),
    ("Sabtu 09.00-11.00", w("5", "09:00", "11:00")),
    ("Sabtu pukul 9:00 - 11:00", w("5", "09:00", "11:00")),
    ("Minggu jam 7 malam", w("6", "19:00", "20:00")),
    ("Minggu jam 4 sore", w("6", "16:00", "17:00")),
    ("Minggu sore jam 4-6", w("6", "16:00", "18:00")),
    ("Sabtu jam 1 siang", w("5", "13:00", "14:00")),
    ("Sabtu jam 4", w("5", "16:00", "17:00")),  # nobody meets at 04:00
    ("Sabtu jam 7", w("5", "07:00", "08:00")),  # no evening word: as written
    ("Sabtu setengah 8 malam", w("5", "19:30", "20:30")),
    ("Sabtu pagi sebelum jam 9", w("5", "07:00", "09:00")),
    ("Sabtu sebelum jam 10", w("5", "07:00", "10:00")),
    ("Sabtu sampai jam 11", w("5", "07:00", "11:00")),
    ("Sabtu setelah jam 5 sebelum jam 8", w("5", "17:00", "20:00")),
    ("Sabtu dari jam 8 sampai jam 12", w("5", "08:00", "12:00")),
    ("antara jam 7 dan 9 malam hari Jumat", w("4", "19:00", "21:00")),
    ("Sabtu jam 7 keatas", w("5", "07:00", "21:00")),
    ("Rabu 7-9 malam", w("2", "19:00", "21:00")),
    ("Sabtu jam 10-2", w("5", "10:00", "14:00")),
    ("Sabtu 6-8", w("5", "18:00", "20:00")),
    ("Sabtu pkl. 09.00", w("5", "09:00", "10:00")),
    ("Sabtu jam 11 malam", w("5", "23:00", "23:59")),
    ("Sabtu 7-21", w("5", "07:00", "21:00")),
    # prayer times and work
    ("abis maghrib", w("*", "18:30", "21:00")),
    ("hari kerja ba'da isya", w("0-4", "19:30", "21:00")),
    ("tiap hari habis isya", w("*", "19:30", "21:00")),
    ("Sabtu sebelum dzuhur", w("5", "07:00", "12:00")),
    ("Jumat setelah jumatan", w("4", "13:00", "21:00")),
    ("hari kerja pulang kerja", w("0-4", "17:00", "21:00")),
    ("sore sebelum maghrib", w("*", *SORE)),
    # several parts
    ("Sabtu pagi, Minggu sore", w("5", *PAGI) + w("6", *SORE)),
    ("Sabtu pagi dan Minggu sore", w("5", *PAGI) + w("6", *SORE)),
    ("Sabtu pagi atau sore", w("5", *PAGI) + w("5", *SORE)),
    ("Sabtu dan Minggu pagi", w("5,6", *PAGI)),
    ("Senin, Rabu dan Jumat malam", w("0,2,4", *MALAM)),
    ("sabtu/minggu pagi", w("5,6", *PAGI)),
    ("Sabtu sama Minggu sore", w("5,6", *SORE)),
    ("Sabtu pagi; Senin-Jumat setelah 19.00", w("5", *PAGI) + WEEKDAY_EVENINGS_FROM_7),
    ("Sabtu pagi. Minggu sore", w("5", *PAGI) + w("6", *SORE)),
    ("- Sabtu pagi\n- Minggu sore", w("5", *PAGI) + w("6", *SORE)),
    ("Sabtu jam 9 atau jam 2", w("5", "09:00", "10:00") + w("5", "14:00", "15:00")),
    ("Sabtu, Minggu; Senin malam", w("5,6", *ANY) + w("0", *MALAM)),
    ("Sabtu pagi atau siang", w("5", "07:00", "15:00")),  # touching windows are merged
    ("Sabtu pagi sampai siang", w("5", "07:00", "15:00")),
    ("Sabtu atau Minggu, pagi", w("5,6", *PAGI)),
    ("jam 7 ampe 9 malam", w("*", "19:00", "21:00")),
    # exclusions
    ("kapan saja kecuali Jumat", ALL_BUT_FRIDAY),
    ("kecuali Jumat", ALL_BUT_FRIDAY),
    ("bebas, tapi Jumat tidak bisa", ALL_BUT_FRIDAY),
    ("selain hari Jumat", ALL_BUT_FRIDAY),
    ("kapan saja asal jangan Jumat", ALL_BUT_FRIDAY),
    ("Jumat sama Sabtu tidak bisa", w("0-3,6", *ANY)),
    ("Senin-Jumat malam, Rabu tidak bisa", w("0,1,3,4", *MALAM)),
    ("Sabtu kecuali siang", w("5", *PAGI) + w("5", "15:00", "21:00")),
    ("kapan saja kecuali malam", w("*", "07:00", "18:00")),
    ("hari kerja setelah jam 7 malam kecuali Rabu", w("0,1,3,4", "19:00", "21:00")),
    ("kecuali Jumat dan Sabtu pagi", w("0-3,6", *ANY) + w("5", "11:00", "21:00")),
    ("Sabtu pagi kecuali jam 9-10", w("5", "07:00", "09:00") + w("5", "10:00", "11:00")),
    ("kecuali hari kerja", w("5,6", *ANY)),
    ("Sabtu tidak bisa pagi", w("5", "11:00", "21:00")),
    ("tidak bisa Jumat, bisa Sabtu pagi", w("5", *PAGI)),
    ("gak bisa hari minggu", w("0-5", *ANY)),
    # English
    ("weekday evenings after 6", w("0-4", *MALAM)),
    ("Saturday 9-11", w("5", "09:00", "11:00")),
    ("Saturday morning", w("5", *PAGI)),
    ("sunday afternoon", w("6", *SORE)),
    ("Wednesday midday", w("2", *SIANG)),
    ("weekends", w("5,6", *ANY)),
    ("weeknights", w("0-4", *MALAM)),
    ("Mon-Fri after 7pm", WEEKDAY_EVENINGS_FROM_7),
    ("Monday through Friday evenings", w("0-4", *MALAM)),
    ("Saturday 10am-noon", w("5", "10:00", "12:00")),
    ("Sunday 2-4 pm", w("6", "14:00", "16:00")),
    ("Saturday 9 a.m. to 11", w("5", "09:00", "11:00")),
    ("between 9 and 11 on Saturday", w("5", "09:00", "11:00")),
    ("Tuesday 7:30pm", w("1", "19:30", "20:30")),
    ("I'm free on Saturdays before noon", w("5", "07:00", "12:00")),
    ("every day after work", w("*", "17:00", "21:00")),
    ("weekends from 10am", w("5,6", "10:00", "21:00")),
    ("Saturday morning or Sunday after 2", w("5", *PAGI) + w("6", "14:00", "21:00")),
    ("Sat & Sun mornings", w("5,6", *PAGI)),
    ("anytime except Friday", ALL_BUT_FRIDAY),
    ("anytime but Friday", ALL_BUT_FRIDAY),
    ("weekdays after 6 but not Friday", w("0-3", *MALAM)),
    ("any day except Sunday", w("0-5", *ANY)),
    ("no weekends", w("0-4", *ANY)),
    ("Friday not available", ALL_BUT_FRIDAY),
    # both languages in one message
    ("weekend pagi", w("5,6", *PAGI)),
    ("hari kerja after 7pm", WEEKDAY_EVENINGS_FROM_7),
    ("Saturday pagi atau Sunday sore", w("5", *PAGI) + w("6", *SORE)),
    ("Sabtu morning", w("5", *PAGI)),
    ("weekday malam after 7", WEEKDAY_EVENINGS_FROM_7),
]


def test_the_phrase_table_is_large_and_has_no_duplicates() -> None:
    texts = [text for text, _ in PHRASES]
    assert len(texts) >= 80
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize(("text", "expected"), PHRASES, ids=[t for t, _ in PHRASES])
def test_phrase(text: str, expected: list[AvailabilityWindow]) -> None:
    assert parse_availability(text) == sorted(expected)


@pytest.mark.parametrize(("text", "part", "reason"), [
    ("", "", "empty"),
    ("   ", "", "empty"),
    ("?!", "?!", "empty"),
    ("asdfgh", "asdfgh", "cannot read"),
    ("nanti saya kabari", "nanti saya kabari", "cannot read"),
    ("saya bisa", "saya bisa", "cannot read"),  # says nothing about when
    ("kapan2", "kapan2", "cannot read"),  # "some other time" is not "any time"
    ("Sabtu pagi, asdf", "asdf", "cannot read"),
    ("Sabtu pagi asdf", "Sabtu pagi asdf", "cannot read"),
    ("Sabtu minggu depan", "Sabtu minggu depan", "cannot read"),  # a date, not a week
    ("Sabtu saya kerja", "Sabtu saya kerja", "cannot read"),
    ("jam 25", "jam 25", "impossible time"),
    ("Sabtu 25.00", "Sabtu 25.00", "impossible time"),
    ("Sabtu jam 24", "Sabtu jam 24", "impossible time"),
    ("jam 7.75", "jam 7.75", "impossible time"),
    ("jam 7.5", "jam 7.5", "impossible time"),
    ("13pm", "13pm", "impossible time"),
    ("19.00-18.00", "19.00-18.00", "ends before it starts"),
    ("19/12", "19/12", "a date, not a weekly time"),
    ("tidak bisa", "tidak bisa", "nothing to exclude"),
    ("Sabtu kecuali", "Sabtu kecuali", "nothing to exclude"),
    ("kapan saja kecuali setiap hari", "kapan saja kecuali setiap hari",
     "nothing left after the exclusions"),
])
def test_what_cannot_be_read_is_an_error_naming_the_part(text: str, part: str,
                                                          reason: str) -> None:
    with pytest.raises(AvailabilityError) as caught:
        parse_availability(text)
    assert caught.value.part == part
    assert str(caught.value) == part  # what the bot quotes back
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_english_day_part_words_map_onto_the_same_table() -> None:
    for indonesian, english in [("pagi", "morning"), ("siang", "midday"), ("sore", "afternoon"),
                                ("malam", "evening"), ("malam", "night"), ("kapan saja", "anytime")]:
        assert parse_availability(f"Sabtu {indonesian}") == parse_availability(f"Saturday {english}")


def test_day_parts_cover_the_meeting_day_without_gaps() -> None:
    bounds = list(DAY_PARTS.values())
    assert bounds[0][0] == MEETING_DAY[0] and bounds[-1][1] == MEETING_DAY[1]
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert list(DAY_PARTS) == ["pagi", "siang", "sore", "malam"]


# --- describe -------------------------------------------------------------------------------


@pytest.mark.parametrize(("windows", "lang", "expected"), [
    (w("5", *PAGI) + WEEKDAY_EVENINGS_FROM_7, "id",
     "Senin–Jumat 19.00–21.00; Sabtu pagi (07.00–11.00)"),
    (w("5", *PAGI) + WEEKDAY_EVENINGS_FROM_7, "en",
     "Monday–Friday 19:00–21:00; Saturday morning (07:00–11:00)"),
    (w("*", *ANY), "id", "setiap hari kapan saja (07.00–21.00)"),
    (w("*", *ANY), "en", "every day any time (07:00–21:00)"),
    (w("0,2,4", *MALAM), "id", "Senin, Rabu dan Jumat malam (18.00–21.00)"),
    (w("0,2,4", *MALAM), "en", "Monday, Wednesday and Friday evening (18:00–21:00)"),
    (w("5,6", *SIANG), "en", "Saturday and Sunday midday (11:00–15:00)"),
    (w("6", *SORE), "en", "Sunday afternoon (15:00–18:00)"),
    (ALL_BUT_FRIDAY, "id", "Senin–Kamis, Sabtu dan Minggu kapan saja (07.00–21.00)"),
    (w("5", *PAGI) + w("5", "19:30", "20:30"), "id",
     "Sabtu pagi (07.00–11.00) dan 19.30–20.30"),
    (w("6", "02:00", "05:00") + w("6", *ANY), "en", "Sunday 02:00–05:00 and 07:00–21:00"),
    ([], "id", "belum ada"),
    ([], "en", "none yet"),
    (w("5", *PAGI), "fr", "Sabtu pagi (07.00–11.00)"),  # unknown language: Indonesian
])
def test_describe(windows: list[AvailabilityWindow], lang: str, expected: str) -> None:
    assert describe_availability(windows, lang) == expected


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("text", [text for text, _ in PHRASES])
def test_describe_reads_back_to_the_same_windows(text: str, lang: str) -> None:
    windows = parse_availability(text)
    assert parse_availability(describe_availability(windows, lang)) == windows


@pytest.mark.parametrize("lang", ["id", "en"])
def test_describe_reads_back_for_any_windows(lang: str) -> None:
    rng = random.Random(20261128)  # fixed: the same cases every run
    named = list(DAY_PARTS.values()) + [MEETING_DAY]
    for _ in range(400):
        windows = []
        for _ in range(rng.randint(1, 8)):
            if rng.random() < 0.4:
                start, end = rng.choice(named)
            else:
                first = rng.randrange(0, 95)
                last = rng.randrange(first + 1, 97)
                start = time(first // 4, 15 * (first % 4))
                end = time(23, 59) if last == 96 else time(last // 4, 15 * (last % 4))
            windows.append(AvailabilityWindow(rng.randrange(7), start, end))
        merged = windows_from_json(windows_to_json(windows))
        text = describe_availability(merged, lang)
        assert parse_availability(text) == merged, text


@pytest.mark.parametrize("lang", ["id", "en"])
def test_describe_takes_its_words_from_the_words_file(lang: str) -> None:
    vocabulary = words(lang)["availability"]
    windows = w("5,6", *PAGI) + w("0-4", *ANY)
    text = describe_availability(windows, lang)
    for name in (vocabulary["days"][0], vocabulary["days"][4], vocabulary["days"][5],
                 vocabulary["days"][6], vocabulary["parts"]["pagi"], vocabulary["and"]):
        assert name in text, (name, text)
    assert vocabulary["every_day"] in describe_availability(w("*", *MALAM), lang)
    assert describe_availability([], lang) == vocabulary["none"]


# --- fits, preferred times ------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the week of Monday 2026-11-23 (day 0 = Monday), Jakarta time."""
    return datetime(2026, 11, 23 + day, hour, minute, tzinfo=WIB)


SATURDAY_MORNING = w("5", *PAGI)


@pytest.mark.parametrize(("windows", "start", "end", "expected"), [
    (SATURDAY_MORNING, at(5, 9), at(5, 9, 30), True),
    (SATURDAY_MORNING, at(5, 7), at(5, 11), True),  # exactly the window
    (SATURDAY_MORNING, at(5, 10, 30), at(5, 11), True),
    (SATURDAY_MORNING, at(5, 10, 45), at(5, 11, 15), False),  # runs past the end
    (SATURDAY_MORNING, at(5, 6, 45), at(5, 7, 15), False),  # starts before it
    (SATURDAY_MORNING, at(4, 9), at(4, 9, 30), False),  # Friday
    (SATURDAY_MORNING, at(5, 9, 30), at(5, 9), False),  # ends before it starts
    (w("5", "21:00", "23:59"), at(5, 23, 30), at(6, 0, 30), False),  # over midnight
    (w("5", *PAGI) + w("5", *SIANG), at(5, 10, 30), at(5, 11, 30), True),  # two guardians
    ([], at(5, 9), at(5, 9, 30), False),
])
def test_fits(windows: list[AvailabilityWindow], start: datetime, end: datetime,
              expected: bool) -> None:
    assert fits(windows, start, end) is expected


def test_fits_reads_the_slot_in_the_school_timezone_it_is_given() -> None:
    # 02:00 UTC is 09:00 in Jakarta: the caller converts, fits compares wall clocks.
    utc = datetime(2026, 11, 28, 2, 0, tzinfo=ZoneInfo("UTC"))
    local = utc.astimezone(WIB)
    assert fits(SATURDAY_MORNING, local, local.replace(minute=30))
    assert not fits(SATURDAY_MORNING, utc, utc.replace(minute=30))


@pytest.mark.parametrize(("start", "expected"), [
    (at(5, 9), True),  # Saturday
    (at(6, 8), True),  # Sunday
    (at(6, 21), True),
    (at(0, 17, 59), False),
    (at(0, 18), True),  # a weekday evening
    (at(2, 19, 30), True),
    (at(4, 10), False),
    (at(3, 7), False),
])
def test_is_preferred_time(start: datetime, expected: bool) -> None:
    assert is_preferred_time(start) is expected


# --- storage, buttons ---------------------------------------------------------------------


def test_json_round_trip() -> None:
    windows = parse_availability("Sabtu pagi, Senin-Jumat setelah 19.00, Minggu 20.30-23.59")
    data = windows_to_json(windows)
    assert data[0] == [0, "19:00", "21:00"]
    assert [5, "07:00", "11:00"] in data and [6, "20:30", "23:59"] in data
    assert windows_from_json(json.loads(json.dumps(data))) == windows
    assert windows_from_json([]) == []


def test_json_is_read_sorted_and_merged() -> None:
    data = [[5, "09:00", "11:00"], [0, "19:00", "21:00"], [5, "07:00", "09:00"]]
    assert windows_from_json(data) == w("0", "19:00", "21:00") + w("5", *PAGI)


@pytest.mark.parametrize("item", [
    [7, "07:00", "08:00"], [-1, "07:00", "08:00"], [1, "08:00", "07:00"], [1, "x", "y"],
    [1, "07:00"], [1, "25:00", "26:00"], None, "5 07:00 11:00",
])
def test_json_that_is_not_a_window_is_refused(item: Any) -> None:
    with pytest.raises(AvailabilityError):
        windows_from_json([item])


def test_buttons_are_days_by_day_parts() -> None:
    grid = button_grid()
    assert len(grid) == 7 and all(len(row) == len(DAY_PARTS) for row in grid)
    assert grid[5][0] == (5, "pagi")
    assert window_for(*grid[5][0]) == w("5", *PAGI)[0]
    assert window_for(0, "malam") == AvailabilityWindow(0, time(18), time(21))
    # The buttons say what the words say.
    assert [window_for(5, part) for part in DAY_PARTS] == [
        parse_availability(f"Sabtu {part}")[0] for part in DAY_PARTS]


@pytest.mark.parametrize(("weekday", "part"), [(7, "pagi"), (-1, "pagi"), (5, "subuh")])
def test_window_for_refuses_what_is_not_a_button(weekday: int, part: str) -> None:
    with pytest.raises(AvailabilityError):
        window_for(weekday, part)
