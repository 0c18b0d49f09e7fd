"""Per-sender flood control: one token bucket per sender, read on the injected clock.

A sender may write ``burst`` messages at once and ``rate_per_minute`` after that. What comes
faster is still acknowledged and stored by the inbox, but not answered. The first message over
the limit opens a flood episode: the sender is asked, once, to slow down, and the school's admin
is alerted (at most once an hour per sender). The episode ends when the sender's bucket is full
again, i.e. after they have kept quiet for ``burst`` messages' worth of time. Every sender has
their own bucket, so a flood never slows anyone else. The count is kept per process: with
several web workers each counts its own share, which bounds a flood all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

ALERT_EVERY = timedelta(hours=1)  # one alert per episode, and no more often than this per sender
MAX_SENDERS = 10_000  # idle buckets are forgotten beyond this many senders


@dataclass(frozen=True)
class Verdict:
    admitted: bool  # answer it as usual
    tell_sender: bool = False  # the first message over the limit in this episode
    alert_admin: bool = False


@dataclass
class _Bucket:
    tokens: float
    at: datetime
    flooding: bool = False
    alerted_at: datetime | None = None


class FloodGuard:
    """Decides, per sender, whether a message is answered or only stored."""

    def __init__(self, rate_per_minute: float = 30.0, burst: int = 30) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("the inbound rate must be positive and the burst at least 1")
        self.rate_per_second = rate_per_minute / 60
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def check(self, sender: str, at: datetime) -> Verdict:
        """Count one message from ``sender`` received at ``at``."""
        bucket = self._buckets.get(sender)
        if bucket is None:
            self._forget_idle(at)
            bucket = self._buckets[sender] = _Bucket(tokens=float(self.burst), at=at)
        elapsed = max((at - bucket.at).total_seconds(), 0.0)  # out of order counts as simultaneous
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_second)
        bucket.at = max(bucket.at, at)
        if bucket.tokens >= self.burst:
            bucket.flooding = False  # quiet long enough: a later flood is a new episode
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict(admitted=True)
        if bucket.flooding:
            return Verdict(admitted=False)
        bucket.flooding = True
        alert = bucket.alerted_at is None or at - bucket.alerted_at >= ALERT_EVERY
        if alert:
            bucket.alerted_at = at
        return Verdict(admitted=False, tell_sender=True, alert_admin=alert)

    def _forget_idle(self, now: datetime) -> None:
        if len(self._buckets) < MAX_SENDERS:
            return
        full_after = timedelta(seconds=self.burst / self.rate_per_second)
        for sender, bucket in list(self._buckets.items()):
            if now - bucket.at >= full_after:  # full again: forgetting it changes nothing
                del self._buckets[sender]
