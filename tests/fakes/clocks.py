"""The clock the fakes' rate limits read: real monotonic time, or the test's injected clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

__all__ = ["DEFAULT_TOLERANCE", "RateClock", "seconds_from"]

# Slack for float rounding: a call this many seconds early still counts as on time.
DEFAULT_TOLERANCE = 0.001


class _DatetimeClock(Protocol):
    """Anything with ``now() -> datetime`` (the app's ``ManualClock`` or ``SystemClock``)."""

    def now(self) -> datetime: ...


RateClock = Callable[[], float] | _DatetimeClock


def seconds_from(clock: RateClock | None) -> Callable[[], float]:
    """A seconds reader from a ``time.monotonic``-like callable or a ``now() -> datetime`` clock.

    None means ``time.monotonic``. A datetime clock is read relative to its first reading, so
    differences stay exact to the microsecond instead of losing precision in an epoch float.
    """
    if clock is None:
        return time.monotonic
    now = getattr(clock, "now", None)
    if now is None:
        return clock  # type: ignore[return-value]
    origin: datetime = now()
    return lambda: (now() - origin).total_seconds()
