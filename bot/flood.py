"""Per-sender flood control: one token bucket per sender, read on the injected clock.

A sender may write ``burst`` messages at once and ``rate_per_minute`` after that. What comes
faster is still acknowledged and stored by the inbox, but not answered. The first message over
the limit opens a flood episode: the sender is asked, once, to slow down, and the school's admin
is alerted (at most once an hour per sender). The episode ends when the sender's bucket is full
again, i.e. after they have kept quiet for ``burst`` messages' worth of time. Every sender has
their own bucket, so a flood never slows anyone else.

The inbox keeps the buckets in the database (:meth:`FloodGuard.check_shared`, table
``flood_bucket``), read and written in the transaction that processes the message: every web
worker counts against the same bucket (with two workers a flooder is not answered twice as
often), and a message whose processing fails and is retried does not spend a token twice. The
inbox already holds the sender's lock there, so the bucket row is never contended by another
sender. A process remembers each bucket as it last wrote it, and writes it next with a conditional
UPDATE (compare and swap: one statement instead of a read and a write); when another worker wrote
in between, or that transaction was rolled back, nothing is written and the row is read as before.
:meth:`FloodGuard.check` is the same rule in memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.flood_buckets import StoredBucket, locked_bucket, save_bucket, swap_bucket

ALERT_EVERY = timedelta(hours=1)  # one alert per episode, and no more often than this per sender
MAX_SENDERS = 10_000  # idle buckets are forgotten beyond this many senders


@dataclass(frozen=True)
class Verdict:
    admitted: bool  # answer it as usual
    tell_sender: bool = False  # the first message over the limit in this episode
    alert_admin: bool = False


@dataclass(frozen=True)
class Swap:
    """A planned compare-and-swap of a stored bucket: ``was`` → ``bucket``, giving ``verdict``."""

    key: str
    was: StoredBucket
    bucket: StoredBucket
    verdict: Verdict


class Bucket(Protocol):
    tokens: float
    at: datetime | None
    flooding: bool
    alerted_at: datetime | None


def sender_key(sender: str) -> str:
    """The bucket's key: a hash, so the table holds no phone number or chat id."""
    return hashlib.sha256(b"jembatan-flood:" + sender.encode()).hexdigest()


class FloodGuard:
    """Decides, per sender, whether a message is answered or only stored."""

    def __init__(self, rate_per_minute: float = 30.0, burst: int = 30) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("the inbound rate must be positive and the burst at least 1")
        self.rate_per_second = rate_per_minute / 60
        self.burst = burst
        self._buckets: dict[str, StoredBucket] = {}  # in memory (one process): never stored
        # Shared buckets as this process last wrote them (a guess checked by the write itself).
        self._written: dict[str, StoredBucket] = {}

    def check(self, sender: str, at: datetime) -> Verdict:
        """Count one message from ``sender`` received at ``at`` (in this process's memory)."""
        bucket = self._buckets.get(sender)
        if bucket is None:
            self._forget_idle(at)
            bucket = self._buckets[sender] = StoredBucket(tokens=float(self.burst), at=at, stored=False)
        return self._take(bucket, at)

    def plan(self, sender: str, at: datetime) -> Swap | None:
        """The conditional write of ``sender``'s bucket as this process last wrote it, and its
        verdict, for the caller to send with another statement (None: nothing written here yet).
        :meth:`settle` says whether it applied."""
        key = sender_key(sender)
        written = self._written.get(key)
        if written is None:
            return None
        bucket = replace(written)
        return Swap(key, written, bucket, self._take(bucket, at))

    def settle(self, swap: Swap, applied: bool) -> Verdict | None:
        """The verdict of a planned write that ``applied`` (else None: :meth:`check_shared`)."""
        if not applied:
            return None
        self._written[swap.key] = swap.bucket
        return swap.verdict

    async def check_shared(self, session: AsyncSession, sender: str, at: datetime) -> Verdict:
        """Count one message from ``sender`` against its bucket in the database, inside the
        caller's transaction (which must hold the sender's lock, as the inbox does)."""
        key = sender_key(sender)
        swap = self.plan(sender, at)
        if swap is not None:  # this process wrote it last: one conditional UPDATE, no read
            verdict = self.settle(swap, await swap_bucket(session, key, swap.was, swap.bucket))
            if verdict is not None:
                return verdict
        bucket = await locked_bucket(session, key) or StoredBucket(tokens=float(self.burst), at=at, stored=False)
        verdict = self._take(bucket, at)
        await save_bucket(session, key, bucket)
        if len(self._written) >= MAX_SENDERS:
            self._written.clear()
        self._written[key] = replace(bucket)
        return verdict

    def _take(self, bucket: Bucket, at: datetime) -> Verdict:
        last = bucket.at or at
        elapsed = max((at - last).total_seconds(), 0.0)  # out of order counts as simultaneous
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_second)
        bucket.at = max(last, at)
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

