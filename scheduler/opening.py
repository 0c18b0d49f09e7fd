"""Questions about office hours in time: open now, and when next. Times are school-local.

How the roster writes office hours, and saying them, is ``domain/office_hours.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.office_hours import OfficeWindow


def is_open(windows: Sequence[OfficeWindow], local_dt: datetime) -> bool:
    """Whether ``local_dt`` (school-local) falls in a window; no windows means always open."""
    if not windows:
        return True
    moment = local_dt.time()
    return any(w.weekday == local_dt.weekday() and w.start <= moment < w.end for w in windows)


def next_open(windows: Sequence[OfficeWindow], local_dt: datetime) -> datetime:
    """``local_dt`` itself when open, else the start of the next window (same timezone)."""
    if is_open(windows, local_dt):
        return local_dt
    ordered = sorted(windows, key=lambda w: w.start)
    # Eight days: today's later windows, the next six days, and today's weekday next week.
    for offset in range(8):
        day = (local_dt + timedelta(days=offset)).date()
        for window in ordered:
            if window.weekday != day.weekday():
                continue
            candidate = datetime.combine(day, window.start, tzinfo=local_dt.tzinfo)
            if candidate > local_dt:
                return candidate
    raise AssertionError("unreachable: non-empty windows open within a week")
