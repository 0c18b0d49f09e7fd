"""Availability windows as stored and passed between layers: a weekday and school-local hours.

How people write them (``Sabtu pagi``, ``malam kecuali Jumat``) is read in
``scheduler/availability.py``; this module holds the window, the reader's error, and the JSON
the database keeps. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any

DAY_END = 24 * 60
_Spans = dict[int, list[tuple[int, int]]]


@dataclass(frozen=True, order=True)
class AvailabilityWindow:
    """One weekday's window, ``start`` to ``end``, school-local."""

    weekday: int  # 0 = Monday .. 6 = Sunday
    start: time
    end: time


class AvailabilityError(ValueError):
    """Text that is not (entirely) understood. ``str()`` is the part that could not be read, as
    written, so the bot can quote it; ``reason`` says why."""

    def __init__(self, part: str, reason: str = "cannot read") -> None:
        super().__init__(part, reason)
        self.part = part
        self.reason = reason

    def __str__(self) -> str:
        return self.part


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _clock(minutes: int) -> time:
    # The last minute of the day stands for midnight, which ``time`` cannot hold as an end.
    return time(23, 59) if minutes >= DAY_END else time(minutes // 60, minutes % 60)


def _merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(s for s in spans if s[0] < s[1]):
        if merged and low <= merged[-1][1]:  # overlapping or touching
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _merge_windows(windows: Iterable[AvailabilityWindow]) -> list[AvailabilityWindow]:
    """Sorted, with overlapping or touching windows of one day joined."""
    by_day: _Spans = {}
    for window in windows:
        by_day.setdefault(window.weekday, []).append((_minutes(window.start),
                                                      _minutes(window.end)))
    return [AvailabilityWindow(day, _clock(low), _clock(high))
            for day in sorted(by_day) for low, high in _merge_spans(by_day[day])]


def windows_to_json(windows: Iterable[AvailabilityWindow]) -> list[list[Any]]:
    """``[[5, "07:00", "11:00"], ...]``: weekday, start and end as ``HH:MM``."""
    return [[w.weekday, w.start.strftime("%H:%M"), w.end.strftime("%H:%M")]
            for w in sorted(windows)]


def windows_from_json(data: Iterable[Sequence[Any]]) -> list[AvailabilityWindow]:
    """The windows ``windows_to_json`` wrote; ``AvailabilityError`` for anything else."""
    windows = []
    for item in data:
        try:
            weekday, start, end = item
            window = AvailabilityWindow(int(weekday), time.fromisoformat(start),
                                        time.fromisoformat(end))
        except (TypeError, ValueError):
            raise AvailabilityError(repr(item), "not a stored window") from None
        if not 0 <= window.weekday <= 6 or window.end <= window.start:
            raise AvailabilityError(repr(item), "not a stored window")
        windows.append(window)
    return _merge_windows(windows)
