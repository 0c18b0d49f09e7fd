"""Office hours as written in the roster (``Sen-Jum 07.00-15.00``): reading and saying them.

Staff answer families within their office hours; an empty text means "any time". Times are
local to the school. Whether a moment falls inside them is ``scheduler/opening.py``; the
roster import checks the text here, so it sits below storage. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from typing import Literal

# English and Indonesian names and abbreviations, 0 = Monday (datetime.weekday()).
DAYS: dict[str, int] = {}
for _index, _names in enumerate([
    ("mon", "monday", "sen", "senin"),
    ("tue", "tues", "tuesday", "sel", "selasa"),
    ("wed", "wednesday", "rab", "rabu"),
    ("thu", "thur", "thurs", "thursday", "kam", "kamis"),
    ("fri", "friday", "jum", "jumat", "jum'at"),
    ("sat", "saturday", "sab", "sabtu"),
    ("sun", "sunday", "min", "minggu", "ahad"),
]):
    for _name in _names:
        DAYS[_name] = _index

DAY_NAMES = {
    "id": ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}

_DASH = r"\s*[-–—]\s*"
_DAY = r"[A-Za-z']+"
_TIME = r"\d{1,2}[:.]\d{2}"
_RANGE = re.compile(
    rf"^(?P<first>{_DAY})(?:{_DASH}(?P<last>{_DAY}))?\s+(?P<start>{_TIME}){_DASH}(?P<end>{_TIME})$"
)
EXAMPLE = "Mon-Fri 07:00-15:00"


@dataclass(frozen=True, order=True)
class OfficeWindow:
    """One weekday's opening, ``start`` inclusive to ``end`` exclusive."""

    weekday: int  # 0 = Monday .. 6 = Sunday
    start: time
    end: time


def _day(word: str) -> int:
    try:
        return DAYS[word.lower()]
    except KeyError:
        raise ValueError(f"unknown day {word!r}") from None


def _time(text: str) -> time:
    hours, minutes = (int(part) for part in re.split(r"[:.]", text))
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid time {text!r}")
    return time(hours, minutes)


def parse_office_hours(text: str) -> list[OfficeWindow]:
    """Windows of ``Mon-Fri 07:00-15:00; Sat 08.00-12.00`` (``;`` or ``,`` between ranges).

    Empty text means always open and gives no windows. Raises ``ValueError`` with a short
    reason naming the part it could not read.
    """
    windows: set[OfficeWindow] = set()
    for part in re.split(r"[;,]", text or ""):
        part = " ".join(part.split())
        if not part:
            continue
        match = _RANGE.match(part)
        if match is None:
            raise ValueError(f"cannot read {part!r} (expected e.g. {EXAMPLE})")
        first = _day(match["first"])
        last = _day(match["last"]) if match["last"] else first
        start, end = _time(match["start"]), _time(match["end"])
        if end <= start:
            raise ValueError(
                f"closing time {match['end']} is not after opening time {match['start']}")
        # A range may wrap over the weekend, e.g. "Min-Sab" (Sunday to Saturday).
        count = (last - first) % 7 + 1
        for offset in range(count):
            windows.add(OfficeWindow((first + offset) % 7, start, end))
    return sorted(windows)


def _day_runs(days: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def describe(windows: Sequence[OfficeWindow], lang: Literal["id", "en"] = "id") -> str:
    """Office hours for people: ``Senin–Jumat 07.00–15.00`` / ``Monday–Friday 07:00–15:00``."""
    lang = "en" if lang == "en" else "id"
    if not windows:
        return "any time" if lang == "en" else "kapan saja"
    names = DAY_NAMES[lang]
    separator = ":" if lang == "en" else "."
    # Group days that share the same hours, so "Mon-Fri 07:00-15:00" reads as one range.
    groups: dict[tuple[time, time], list[int]] = {}
    for window in sorted(windows):
        groups.setdefault((window.start, window.end), []).append(window.weekday)
    parts: list[tuple[int, time, str]] = []
    for (start, end), days in groups.items():
        if len(set(days)) == 7:
            label = "every day" if lang == "en" else "setiap hari"
        else:
            label = ", ".join(
                names[a] if a == b else f"{names[a]}–{names[b]}" for a, b in _day_runs(days)
            )
        hours = f"{start.strftime('%H')}{separator}{start.strftime('%M')}–" \
                f"{end.strftime('%H')}{separator}{end.strftime('%M')}"
        parts.append((min(days), start, f"{label} {hours}"))
    return "; ".join(text for _, _, text in sorted(parts))


def described(text: str) -> dict[str, str]:
    """The roster's office-hours text said in each language, for a message's context."""
    windows = parse_office_hours(text)
    return {lang: describe(windows, lang) for lang in ("id", "en")}
