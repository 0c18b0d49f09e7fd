"""A date and time typed for one meeting: ``14/12 13.00``, ``Senin 14 Desember 13.00``,
``besok jam 9``, ``Sabtu 19 Desember jam 8 pagi sampai jam 12``. Pure.

``parse_when`` reads it in the school's zone. A time said in words (``jam 8 pagi sampai jam 12``)
is read by the availability reader (``scheduler/availability.py``), so there is one reader of how
people say times; day names are the ones office hours know (``domain/office_hours.py``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.availability import AvailabilityError
from domain.office_hours import DAYS
from scheduler.availability import parse_availability


class WhenProblem(ValueError):
    """A typed date and time that cannot be used; ``code`` says why (the template explains it)."""

    def __init__(self, code: str, at: datetime | None = None) -> None:
        super().__init__(code)
        self.code = code  # unreadable | no_time | no_date | no_such_date | weekday | past | too_far | end_before_start
        self.at = at  # the date understood, where showing it helps (a weekday mismatch, a past date)


_WEEKDAYS = DAYS  # the day names office hours and the availability reader know
MONTHS = _MONTHS = {
    "januari": 1, "january": 1, "jan": 1, "februari": 2, "pebruari": 2, "february": 2, "feb": 2,
    "maret": 3, "march": 3, "mar": 3, "april": 4, "apr": 4, "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6, "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "agu": 8, "agt": 8, "ags": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nopember": 11, "nov": 11, "desember": 12, "december": 12, "des": 12, "dec": 12,
}
_RELATIVE = {"today": 0, "besok": 1, "tomorrow": 1, "lusa": 2}
# "pukul 13.00", "jam 13", "13:00", "1.30 pm"; an hour alone only with "pukul"/"jam" or am/pm.
_TIME = r"(?:(?P<p{n}>pukul|pkl|pk|jam|at)\.?\s*)?(?P<h{n}>\d{{1,2}})(?:[.:](?P<m{n}>\d{{2}}))?\s*(?P<ap{n}>am|pm)?"
_RANGE = re.compile(_TIME.format(n=1) + r"(?:\s*(?:-|s\.?\s?d\.?|s/d|sampai|hingga|to|until)\s*"
                    + _TIME.format(n=2) + ")?")
_DATES = (
    ("ymd", re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")),
    ("dmy", re.compile(r"(\d{1,2})[/-](\d{1,2})(?:[/-](\d{4}|\d{2}))?")),
    ("dmy", re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")),  # 14.12.2026 (a year, so not a time)
    ("d_month", re.compile(r"(\d{1,2})\s*([a-z]+)\.?(?:\s+(\d{4}))?")),
    ("month_d", re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:\s+(\d{4}))?")),
)
# A date typed without a year that fell at most this long ago is a mistake to point out, not next
# year's date: "20/11" written on 23 November means last week, "5/1" written in December means January.
PAST_WINDOW = timedelta(days=182)
MAX_AHEAD = timedelta(days=366)


def _clock(match: re.Match[str], n: int, *, alone_ok: bool) -> time | None:
    hour, minutes, ampm = int(match[f"h{n}"]), match[f"m{n}"], match[f"ap{n}"]
    if not (minutes or ampm or match[f"p{n}"] or alone_ok):
        return None  # a bare number is a day or a year, not an hour
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    minute = int(minutes or 0)
    return time(hour, minute) if hour <= 23 and minute <= 59 else None


def _split_time(text: str) -> tuple[str, time, time | None] | None:
    """(date part, start, end or None): the time (range) at the end of the text, else at its start."""
    cuts = [0] + [m.end() for m in re.finditer(r"\s+", text)]
    for cut in cuts:  # leftmost first, so "08.00-12.00" is read as a range rather than "12.00"
        match = _RANGE.fullmatch(text, cut)
        if match and (start := _clock(match, 1, alone_ok=False)) is not None:
            end = _clock(match, 2, alone_ok=True) if match["h2"] else None
            if match["h2"] and end is None:
                continue
            return text[:cut].strip(), start, end
    for cut in reversed(cuts[1:]):  # "13.00 14/12"
        match = _RANGE.fullmatch(text[:cut].strip())
        if match and (start := _clock(match, 1, alone_ok=False)) is not None:
            end = _clock(match, 2, alone_ok=True) if match["h2"] else None
            if match["h2"] and end is None:
                continue
            return text[cut:].strip(), start, end
    return None


_RANGE_WORDS = re.compile(r"sampai|hingga|s\.?d\.?|until|\bto\b|-")


def _spoken_time(text: str) -> tuple[str, time, time | None] | None:
    """The time the way people say it, read by the availability reader (one reader of times):
    "Sabtu 19 Desember jam 8 pagi sampai jam 12", "besok jam 7 malam", "14/12 pukul 1 siang"."""
    for cut in [m.end() for m in re.finditer(r"\s+", text)]:
        tail = text[cut:]
        if not re.search(r"\d", tail):
            continue
        try:
            windows = parse_availability(tail)
        except AvailabilityError:
            continue
        spans = {(w.start, w.end) for w in windows}
        if len(windows) != 7 or len(spans) != 1:  # a day named in the tail: not just a time
            continue
        start, end = spans.pop()
        return text[:cut].strip(), start, end if _RANGE_WORDS.search(tail) else None
    return None


def _year_for(month: int, day: int, today: date) -> date:
    """The date with no year written: this year's, or next year's once this year's is long gone."""
    try:
        this_year = date(today.year, month, day)
    except ValueError:  # 29 February in a common year: the next leap year's would be too far
        raise WhenProblem("no_such_date") from None
    if this_year >= today or today - this_year <= PAST_WINDOW:
        return this_year
    try:
        return date(today.year + 1, month, day)
    except ValueError:
        raise WhenProblem("no_such_date") from None


def _read_date(text: str, today: date, start: time, zone: ZoneInfo) -> date:
    """The calendar date of the date part of a message (weekday names checked against it)."""
    words = [w for w in text.split() if w not in ("depan", "next", "ini", "this")]
    upcoming = len(words) != len(text.split())  # "Senin depan": not today
    weekday = _WEEKDAYS.get(words[0].rstrip(".")) if words else None
    if weekday is not None:
        words = words[1:]
    rest = " ".join(words)
    if not rest:
        if weekday is None:
            raise WhenProblem("no_date")
        ahead = (weekday - today.weekday()) % 7
        return today + timedelta(days=ahead or (7 if upcoming else 0))
    if rest in _RELATIVE:
        day = today + timedelta(days=_RELATIVE[rest])
    else:
        day = _calendar_date(rest, today)
    if weekday is not None and day.weekday() != weekday:
        raise WhenProblem("weekday", datetime.combine(day, start, tzinfo=zone))
    return day


def _calendar_date(text: str, today: date) -> date:
    for kind, pattern in _DATES:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        if kind == "ymd":
            year, month, day = (int(g) for g in match.groups())
        elif kind == "dmy":
            day, month = int(match[1]), int(match[2])
            year = int(match[3]) if match[3] else 0
        else:
            day_text, month_text = (match[1], match[2]) if kind == "d_month" else (match[2], match[1])
            if month_text not in _MONTHS:
                continue
            day, month, year = int(day_text), _MONTHS[month_text], int(match[3]) if match[3] else 0
        if year == 0:
            return _year_for(month, day, today)
        year += 2000 if year < 100 else 0
        try:
            return date(year, month, day)
        except ValueError:
            raise WhenProblem("no_such_date") from None
    raise WhenProblem("unreadable")


def parse_when(text: str, now: datetime, tz: str) -> tuple[datetime, datetime | None]:
    """A typed date and time, read in the school's zone: (start, end or None) as UTC.

    Accepts "14/12 13.00", "14-12-2026 13:00", "2026-12-14 13:00", "14.12.2026 13.00",
    "Senin 14 Desember 13.00", "Monday 14 December 1pm", "December 14 13:00", "besok jam 9",
    "Sabtu 08.00" (the coming Saturday) and a range "19/12 08.00-12.00". Day names are optional
    but must agree with the date; a date without a year is the coming one. Raises ``WhenProblem``.
    """
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    cleaned = text.casefold().replace("\u2013", "-").replace("\u2014", "-").replace(",", " ")
    cleaned = re.sub(r"\bhari ini\b", "today", cleaned)
    cleaned = re.sub(r"(?<!\w)(?:tanggal|tgl\.?|hari|on|wib|wita|wit)(?!\w)", " ", cleaned)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise WhenProblem("unreadable")
    splits = [found for found in (_split_time(cleaned), _spoken_time(cleaned)) if found is not None]
    if not splits:
        try:
            _read_date(cleaned, today, time(0), zone)
        except WhenProblem:
            raise WhenProblem("unreadable") from None
        raise WhenProblem("no_time")
    for number, (date_text, start_time, end_time) in enumerate(splits):
        try:
            day = _read_date(date_text, today, start_time, zone)
            break
        except WhenProblem as problem:  # "jam 12" read as the time left "... jam 8 pagi sampai"
            if problem.code != "unreadable" or number == len(splits) - 1:
                raise
    start = datetime.combine(day, start_time, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day, end_time, tzinfo=zone).astimezone(UTC) if end_time else None
    if start <= now:
        raise WhenProblem("past", start)
    if start - now > MAX_AHEAD:
        raise WhenProblem("too_far", start)
    if end is not None and end <= start:
        raise WhenProblem("end_before_start", start)
    return start, end
