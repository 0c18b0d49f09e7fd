"""Slots inside weekly free windows: what a one-to-one meeting can offer. Pure.

Slot rules of a meetings file (and the ``Slot`` pair) are ``domain/slot_rules.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.slot_rules import Slot


def slots_from_windows(windows: Iterable[Any], *, first_day: date, days: int, length: timedelta, tz: str,
                       busy: Iterable[Slot] = (), after: datetime | None = None) -> list[Slot]:
    """Back-to-back slots of ``length`` inside weekly free windows (``weekday``, ``start``,
    ``end`` in school time) on ``days`` days from ``first_day``, leaving out any that overlap
    ``busy`` or start before ``after``; UTC, earliest first. A one-to-one meeting offers these."""
    zone = ZoneInfo(tz)
    taken = list(busy)
    slots: list[Slot] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        for window in sorted(w for w in windows if w.weekday == day.weekday()):
            start = datetime.combine(day, window.start, tzinfo=zone)
            close = datetime.combine(day, window.end, tzinfo=zone)
            while start + length <= close:
                slot = (start.astimezone(UTC), (start + length).astimezone(UTC))
                if (after is None or slot[0] > after) and not any(
                        slot[0] < b_end and b_start < slot[1] for b_start, b_end in taken):
                    slots.append(slot)
                start += length
    return sorted(set(slots))
