"""The sender: delivers outbox rows through each channel within its rate limits, with retries.

Limits are the platforms': Telegram about 30 messages/s per bot and about 1/s per chat (short
bursts tolerated). A 429 pauses the whole channel for ``retry_after``. Transient failures retry
with exponential backoff; permanent ones (blocked by the user, unknown chat) fail the row and
mark the account so it is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import zlib
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, literal_column, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.logs import log_context
from domain.clock import Clock
from domain.whatsapp_costs import category, in_window
from handlers.broadcasts import report_finished
from storage.delivery import tell_staff_undelivered
from storage.inbox_health import beat
from storage.models import ChannelAccount, OutboxMessage, School, SendPace
from storage.db import reading_sessions
from storage.outbox import OUTBOX_CHANNEL, remember_choices
from storage.phones import mask_phone
from storage.transient import describe

log = logging.getLogger(__name__)
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]

MAX_ATTEMPTS = 8
# A delivered row, marked in one statement built once (values bound at each run); its pricing
# category is the one it was billed as, when WhatsApp bills it.
_SENT = update(OUTBOX).where(OUTBOX.c.id == bindparam("row_id")).values(
    status="sent", sent_at=bindparam("sent_at"), external_message_id=bindparam("external_id"),
    claimed_until=None, delivery=func.coalesce(OUTBOX.c.delivery, "sent"), attempts=OUTBOX.c.attempts + 1,
    error=None, pricing_category=func.coalesce(bindparam("billed_as", type_=OUTBOX.c.pricing_category.type),
                                               OUTBOX.c.pricing_category))
HEARTBEAT_SECONDS = 10.0  # how often the running sender records that it is alive
LANE_IDLE_FACTOR = 30  # an idle lane is woken by the process's one scan, not its own polling
FAIR_SHARE_WINDOW = timedelta(minutes=10)  # a concern's recent sends count against its turn this long
# A claimed row is another process's this long: longer than any batch takes (a killed process's
# rows are sent by another after it; only the message it had in flight may go twice).
CLAIM_LEASE = timedelta(seconds=30)
# On PostgreSQL a running sender also holds a session advisory lock (CLAIMANT_LOCK, its token) on
# a connection of its own and writes its token into what it claims. When the process dies its
# connection closes, PostgreSQL frees the lock, and another process takes the claims over at once
# instead of after the lease; the lease stays for a claimant that cannot be told dead (an older
# version, a connection that went silent). See README, "Several processes".
_CLAIM_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
CLAIMANT_LOCK = 0x6A636C6D  # "jclm": the first key of every claimant's lock, the token the second
_LIVE_CLAIMANTS = select(literal_column("l.objid::bigint")).select_from(text("pg_locks l")).where(text(
    f"l.locktype = 'advisory' AND l.classid = {CLAIMANT_LOCK} AND l.objsubid = 2 AND l.granted "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"))
# A sender looks this often whether other sending processes are alive (their claimant locks): only
# then are its sends paced through the database. One that starts beside others waits this long
# plus a window before its first send, so that theirs, unrecorded until they saw it, have left.
PACE_CHECK_SECONDS = 0.5
# Several processes share a bot's or sender's rate through the database, counted over a window
# this much wider than the platform's second: network jitter between processes must not
# squeeze one more into the platform's window.
SHARED_PACE_MARGIN = 1.15


class RetryLater(Exception):
    """The platform asked us to wait (429) or failed transiently."""

    def __init__(self, seconds: float | None, reason: str, *, whole_channel: bool = False,
                 throttled: bool = False) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason
        self.whole_channel = whole_channel
        self.throttled = throttled  # the platform's rate limit (a 429), counted in /metrics


class PermanentFailure(Exception):
    """The message can never be delivered as it is (blocked bot, unknown chat, bad request)."""

    def __init__(self, reason: str, *, unreachable: bool = False, try_sms: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable
        self.try_sms = try_sms  # the number has no WhatsApp: SMS may still reach it


class _Stopped(Exception):
    """The sender was stopped while a row waited for the limits: the row is left unsent."""


class NeedsTemplate(Exception):
    """Outside the platform's free-form window and no approved template for this message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChannelClient(Protocol):
    """What the sender needs of a channel adapter."""

    name: str
    owner: str  # "" the deployment's default, else the school code of its own bot or sender
    rate_per_second: float
    chat_rate_per_second: float

    async def deliver(self, message: OutboxMessage, account: ChannelAccount | None) -> str:
        """Send one message; return the platform's message id."""
        ...


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float = 0.0
    stamp: datetime | None = None

    def wait_time(self, now: datetime) -> float:
        self._refill(now)
        if self.tokens >= 1 - 1e-6:  # float dust must not turn into endless micro-waits
            return 0.0
        return max((1 - self.tokens) / self.rate, 0.001)

    def take(self, now: datetime) -> None:
        self._refill(now)
        self.tokens -= 1

    def _refill(self, now: datetime) -> None:
        if self.stamp is None:
            self.tokens = self.burst
        else:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp).total_seconds() * self.rate)
        self.stamp = now


@dataclass
class SlidingWindow:
    """At most ``rate`` sends in any one-second window: bursts up to the rate, never more.

    This is what Telegram's "30 messages a second" and Twilio's MPS count. (A token bucket whose
    burst equals its rate lets almost twice the rate through in its first second.) Below one a
    second the window widens to admit a single send.
    """

    rate: float
    sent: deque[datetime] = field(default_factory=deque)

    def wait_time(self, now: datetime, in_flight: int = 0) -> float:
        """Seconds until one more send may start; ``in_flight`` sends started and not yet
        answered count as sent (they are recorded, with their answer's time, by :meth:`take`)."""
        window = timedelta(seconds=max(1.0, 1.0 / self.rate))
        while self.sent and now - self.sent[0] >= window:
            self.sent.popleft()
        over = len(self.sent) + in_flight - max(1, math.floor(self.rate * window.total_seconds() + 1e-9))
        if over < 0:
            return 0.0
        # ``in_flight`` stays below the capacity (Sender.slots), so a recorded send leaves first.
        return max((self.sent[min(over, len(self.sent) - 1)] + window - now).total_seconds(), 0.001)

    def take(self, now: datetime) -> None:
        self.wait_time(now)  # forget sends that left the window
        self.sent.append(now)


@dataclass
class _ChannelState:
    client: ChannelClient
    overall: SlidingWindow
    chats: dict[str, TokenBucket] = field(default_factory=dict)
    paused_until: datetime | None = None
    # Requests on their way to the platform (started, not answered), never two to one chat (its
    # messages keep their order). At most ``slots`` at once, opened one by one as answers come
    # back (``ramp``) and back to one after a 429: nothing piles onto a platform that refuses.
    in_flight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    slots: int = 1
    ramp: int = 1


# Requests a lane keeps on their way at once (a client may say otherwise: ``in_flight``). With
# one, a lane sends one message per round trip: at 150 ms to the platform a Telegram broadcast
# ran at 0.20 of the 30/s allowed, at 0.65 with four (bench.broadcast --platform-latency-ms 150,
# BENCHMARKS.md). The price: a process killed mid-send may repeat up to this many messages per
# lane once its claims lapse, instead of one (tests/test_district_failover.py).
IN_FLIGHT = 4


Lane = tuple[str, str]  # (channel, bot): one sending account, with its own limits and queue


class Sender:
    """Drains the outbox; ``notify()`` wakes it when a transaction wrote new rows.

    Each sending account (a channel's default bot or sender, or a school's own) is a lane of its
    own: its own rate limits, its own queue, its own loop, so one school's broadcast never waits
    behind another's, nor holds up another school's concerns."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clients: list[ChannelClient], *,
                 clock: Clock, batch: int = 30, simulator_enabled: bool = False, listen: bool = False) -> None:
        self.sessions = sessions
        # The idle scan for due rows reads without SQLite's write lock (it may run many times a
        # second in a process of its own, beside the web worker that writes).
        self._reading = reading_sessions(sessions) if sessions.kw.get("bind") is not None else sessions
        # PostgreSQL: woken by the NOTIFY of every transaction that writes outbox rows (a sender
        # in a process of its own, which the web workers cannot call): LISTEN on the claimant
        # lock's connection.
        self.listen = listen
        self.simulator_enabled = simulator_enabled
        self.clock = clock
        self.batch = batch
        self.channels: dict[Lane, _ChannelState] = {}
        self._wakes: dict[Lane, asyncio.Event] = {}
        self._emptied: set[Lane] = set()  # lanes whose last drain read and started every due row
        self._lanes: dict[Lane, asyncio.Task[None]] = {}
        self._running = False  # run() started: a lane added later gets its own loop at once
        self._stopping = False
        self._stopped = asyncio.Event()  # set by stop(): a wait for the limits ends at once
        for client in clients:
            self.add(client)
        self._wake = asyncio.Event()  # the heartbeat loop's
        self.throttled: dict[Lane, int] = {}  # 429s met per lane by this process (for /metrics)
        self._reporting = asyncio.Lock()  # one delivery report at a time, whichever lane finished
        self._idle_seconds = 1.0
        bind = sessions.kw.get("bind")
        # On PostgreSQL several processes may send: claims, and rates shared in the database.
        self.shared = bind is not None and bind.dialect.name == "postgresql"
        self._beaten_at = -math.inf  # monotonic time of the last heartbeat written
        # Per staff chat and concern: messages sent lately, and when the last went (fair turns).
        self._served: dict[tuple[str, str, str, int], tuple[int, datetime]] = {}
        self._school_codes: dict[int, str] = {}  # school id → code, for the logs
        # This process's claimant lock (PostgreSQL, while run() runs): its connection and token.
        self._claimant: AsyncConnection | None = None
        self._claimant_driver: object | None = None  # the driver's connection, to see it closed
        self.claimant_token: int | None = None
        self._claimant_lock = asyncio.Lock()
        self._others_lock = asyncio.Lock()  # one look at the other senders at a time
        # On the sender's clock (the one its pauses wait on), in seconds: when the claimant lock
        # was taken, and when another sending process was last seen alive.
        self._claimant_since = -math.inf
        self._others_seen_at = math.inf
        self._others_checked_at = -math.inf

    def add(self, client: ChannelClient) -> None:
        """A sending account (at start, or when CHANNELS_FILE gives a school its own)."""
        lane = (client.name, getattr(client, "owner", ""))
        window = SlidingWindow(client.rate_per_second)
        capacity = max(1, math.floor(client.rate_per_second * max(1.0, 1.0 / client.rate_per_second) + 1e-9))
        # Fewer in flight than the window holds: a free slot then always waits for time alone.
        slots = max(1, min(getattr(client, "in_flight", IN_FLIGHT), capacity - 1))
        self.channels[lane] = _ChannelState(client, window, slots=slots)
        self._wakes.setdefault(lane, asyncio.Event()).set()
        if self._running and lane not in self._lanes and not self._stopping:  # running: start its loop
            self._lanes[lane] = asyncio.create_task(self._run_lane(lane), name=f"outbox-{lane[0]}-{lane[1]}")

    async def remove(self, lane: Lane) -> None:
        """Stop sending through an account (a school's own, dropped from CHANNELS_FILE)."""
        self.channels.pop(lane, None)
        task = self._lanes.pop(lane, None)
        self._wakes.pop(lane, None)
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def notify(self) -> None:
        self._wake.set()
        for wake in self._wakes.values():
            wake.set()

    async def run(self, idle_seconds: float = 1.0) -> None:
        """Deliver until stopped: one loop per lane, each batch after batch while rows are due,
        then waiting for notify() or ``idle_seconds`` (retries coming due)."""
        self._idle_seconds = idle_seconds
        self._running = True
        await self._hold_claimant()
        for lane in list(self.channels):
            self._lanes[lane] = asyncio.create_task(self._run_lane(lane), name=f"outbox-{lane[0]}-{lane[1]}")
        try:
            while not self._stopping:
                await self._heartbeat()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=idle_seconds)
                except TimeoutError:
                    await self._wake_due_lanes()
        finally:
            for task in list(self._lanes.values()):
                try:
                    await asyncio.wait_for(task, timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
            await self._drop_claimant()

    async def _wake_due_lanes(self) -> None:
        """One query for the whole process: which idle lanes have rows come due (a retry, a
        message held for the morning, another process's enqueue). A district has hundreds of
        lanes; each polling on its own would take a database connection every second apiece."""
        if not self._lanes:
            return
        try:
            due = await self._due_lanes()
        except Exception as exc:  # no database: the lanes wait, the next tick asks again
            log.warning("outbox scan failed: %s", describe(exc))
            return
        for lane in due:
            wake = self._wakes.get(lane)
            if wake is not None:
                wake.set()

    async def _due_lanes(self) -> set[Lane]:
        """The lanes with rows to send now (one query, whatever the number of lanes)."""
        now = self.clock.now()
        async with self._reading() as session:
            return {(channel, bot) for channel, bot in (await session.exec(
                select(OutboxMessage.channel, OutboxMessage.bot).where(
                    OutboxMessage.status == "pending",
                    or_(col(OutboxMessage.next_attempt_at).is_(None), col(OutboxMessage.next_attempt_at) <= now),
                    self._unclaimed(now)).distinct())).all()}

    async def _run_lane(self, lane: Lane) -> None:
        while not self._stopping and lane in self.channels:
            wake = self._wakes[lane]
            wake.clear()  # before draining, so a notify() during the drain is not lost
            try:
                attempted = await self._drain_lane(lane)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive a database hiccup
                log.exception("outbox drain of %s failed; retrying", lane[0])
                attempted = 0
            if self._stopping:
                break
            if attempted and lane not in self._emptied:
                continue  # more may be due (a broadcast): no idle pause between batches
            # Read all that was due and started all of it: what comes next wakes the lane
            # (notify(), NOTIFY, the scan), without one more read to find nothing.
            try:
                # Idle: woken by notify() or by run()'s one scan for due rows (_wake_due_lanes);
                # the long timeout only guards against a wake lost to a database outage.
                await asyncio.wait_for(wake.wait(), timeout=self._idle_seconds * LANE_IDLE_FACTOR)
            except TimeoutError:
                pass

    async def _heartbeat(self) -> None:
        """Tell `/healthz` the sender is alive (every few seconds, not every batch)."""
        if time.monotonic() - self._beaten_at < HEARTBEAT_SECONDS:
            return
        try:
            async with self.sessions() as session, session.begin():
                await beat(session, "sender", self.clock.now())
            self._beaten_at = time.monotonic()
        except Exception as exc:  # no database: /healthz says so itself
            log.warning("sender heartbeat not recorded: %s", describe(exc))

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self.notify()

    async def drain_once(self) -> int:
        """Send every due row once (within the limits), every lane at once; return how many
        were attempted."""
        lanes = list(self.channels)
        if len(lanes) > 1:  # only those with something due: one query instead of one a lane
            due = await self._due_lanes()
            lanes = [lane for lane in lanes if lane in due]
        if not lanes:
            return 0
        return sum(await asyncio.gather(*(self._drain_lane(lane) for lane in lanes)))

    async def _drain_lane(self, lane: Lane) -> int:
        """One batch of one sending account's due rows."""
        channel, bot = lane
        now = self.clock.now()
        # To a staff member, one family's concern after another's in turn: a family flooding a
        # teacher with messages does not push another family's forward behind all of theirs (a
        # teacher's chat takes about one message a second). A concern's place is its message's
        # rank among the concern's pending ones plus how many of them went out lately; each
        # concern keeps its own order, and a family's own chat is first come, first served.
        turn = case((col(OutboxMessage.staff_id).is_not(None), func.row_number().over(
            partition_by=(OutboxMessage.channel, OutboxMessage.chat_id, OutboxMessage.concern_id),
            order_by=OutboxMessage.id)), else_=1)
        if self._running:
            await self._hold_claimant()
        token = self.claimant_token
        # Read and claim in one transaction: the batch with its accounts (the 24-hour window
        # needs them) in one query, then the claim in one UPDATE.
        async with self.sessions() as session, session.begin():
            ranked = list((await session.exec(
                select(OutboxMessage, turn, ChannelAccount)
                .outerjoin(ChannelAccount, col(ChannelAccount.id) == OutboxMessage.account_id).where(
                    OutboxMessage.status == "pending", OutboxMessage.channel == channel, OutboxMessage.bot == bot,
                    or_(col(OutboxMessage.next_attempt_at).is_(None), col(OutboxMessage.next_attempt_at) <= now),
                    self._unclaimed(now))
                .order_by(OutboxMessage.priority, turn, OutboxMessage.id).limit(self.batch))).all())
            rows = [row for row, _, _ in sorted(ranked, key=lambda found: (
                found[0].priority, found[1] + self._served_lately(found[0], now), found[0].id))]
            accounts = {account.id: account for _, _, account in ranked if account is not None}
            unknown = {row.school_id for row in rows if row.school_id and row.school_id not in self._school_codes}
            if unknown:
                self._school_codes.update((await session.exec(select(School.id, School.code).where(
                    col(School.id).in_(unknown)))).all())
            rows = await self._claim(session, lane, rows, now, token)
        # A chat over its own limit (a teacher with several forwards) is left for the next drain
        # instead of holding up everyone behind it; each chat's messages keep their order. The
        # next drain reads the outbox again, so what arrived meanwhile (another family's forward)
        # takes its turn instead of waiting behind a whole batch read earlier.
        # A few requests are on their way at once (the platform's latency would otherwise cap
        # a lane far below its rate), never two to one chat.
        state = self.channels.get(lane)
        attempted: list[OutboxMessage] = []
        waiting: set[tuple[str, str]] = set()
        try:
            for row in rows:
                if state is not None and row.chat_id in state.in_flight:
                    await asyncio.wait([state.in_flight[row.chat_id]])  # its chat's last one first
                if (row.channel, row.chat_id) in waiting or self._chat_wait(row) > 0:
                    waiting.add((row.channel, row.chat_id))
                    continue
                await self._start(row, accounts.get(row.account_id), token)
                attempted.append(row)
            if rows and not attempted:  # every due chat is at its limit: wait for the first in turn
                first = next(row for row in rows if (row.channel, row.chat_id) in waiting)
                await self._start(first, accounts.get(first.account_id), token)
                attempted.append(first)
        except _Stopped:  # stopping, or our claims may be another's: what was not started stays pending
            pass
        finally:
            await self._finish(lane)
        started = {id(row) for row in attempted}
        left = [row.id for row in rows if id(row) not in started]
        if len(ranked) < self.batch and not left and len(rows) == len(ranked):
            self._emptied.add(lane)
        else:
            self._emptied.discard(lane)
        if left:  # claimed, not sent this time (its chat was at its limit): free for the next drain
            await self._release(left)
        for row in attempted:
            self._count_served(row)
        broadcasts = {row.broadcast_id for row in attempted if row.broadcast_id}
        digests = [row.id for row in attempted if row.template == "digest" and row.id is not None]
        if broadcasts or digests:
            await self._report_finished(broadcasts, digests)
        return len(attempted)

    async def _claim(self, session: AsyncSession, lane: Lane, rows: list[OutboxMessage], now: datetime,
                     token: int | None) -> list[OutboxMessage]:
        """Take these rows for this process for :data:`CLAIM_LEASE` (several processes may send),
        in one UPDATE, in the transaction that read them.

        Rows another process holds are skipped (``FOR UPDATE SKIP LOCKED``; on SQLite the read
        and the claim share the one write lock), and so is every row of a chat one of whose
        messages another process holds: a family's messages keep their order. Claims of one lane
        are taken one process at a time (an advisory lock for the claiming transaction only; the
        UPDATE, a statement after it, sees every claim committed before), so two cannot each
        take half of one family's messages."""
        if not rows:
            return rows
        if self.shared:
            await session.exec(_CLAIM_LOCK, params={"key": _lock_key(f"outbox-claim:{lane[0]}:{lane[1]}")})
        ids = [row.id for row in rows]
        free = select(OutboxMessage.id).where(
            col(OutboxMessage.id).in_(ids), OutboxMessage.status == "pending", self._unclaimed(now),
            col(OutboxMessage.chat_id).not_in(self._held_chats(lane, now))).with_for_update(skip_locked=True)
        # Our token only while our lock is held (checked in this very statement): a claim never
        # names a claimant that other processes already see dead.
        claimant = _LIVE_CLAIMANTS.where(text("l.objid = :token").bindparams(token=token)).scalar_subquery() \
            if self.shared and token is not None else None
        claimed = set((await session.exec(update(OUTBOX).where(  # type: ignore[call-overload]
            OUTBOX.c.id.in_(free.scalar_subquery())).values(
            claimed_until=now + CLAIM_LEASE, claimed_by=claimant).returning(OUTBOX.c.id))).scalars().all())
        return [row for row in rows if row.id in claimed]

    def _held_chats(self, lane: Lane, now: datetime) -> Select[Any]:
        """The chats of this lane one of whose pending messages another process holds."""
        return select(OutboxMessage.chat_id).where(
            OutboxMessage.status == "pending", OutboxMessage.channel == lane[0], OutboxMessage.bot == lane[1],
            ~self._unclaimed(now))

    def _unclaimed(self, now: datetime) -> ColumnElement[bool]:
        """No process holds the row: never claimed, its lease over, or (PostgreSQL) its claimant
        dead, i.e. the claimant's advisory lock gone with its connection."""
        lapsed = or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < now)
        if not self.shared:
            return lapsed
        return or_(lapsed, and_(col(OutboxMessage.claimed_by).is_not(None),
                                col(OutboxMessage.claimed_by).not_in(_LIVE_CLAIMANTS)))

    async def _hold_claimant(self) -> None:
        """(PostgreSQL, a running sender) Hold this process's claimant lock, again after its
        connection was lost; without one (no database) claims fall back on the lease alone."""
        if not self.shared:
            return
        async with self._claimant_lock:
            if self._claimant is not None and not self._claimant_lost():
                return
            await self._drop_claimant()
            bind = self.sessions.kw.get("bind")
            try:
                conn = await bind.connect()
            except Exception as exc:
                log.warning("sender claimant lock not taken: %s", describe(exc))
                return
            try:
                for _ in range(3):  # a token another process holds (1 in 2**31): draw again
                    token = secrets.randbelow(2**31 - 1) + 1
                    got = (await conn.execute(text("SELECT pg_try_advisory_lock(:ns, :token)"),
                                              {"ns": CLAIMANT_LOCK, "token": token})).scalar()
                    await conn.commit()  # the lock is the session's: it outlives this transaction
                    if got:
                        self._claimant, self.claimant_token = conn, token
                        self._claimant_since, self._others_checked_at = self._seconds(), -math.inf
                        self._others_seen_at = math.inf  # until the first look: pace
                        self._claimant_driver = driver = (await conn.get_raw_connection()).driver_connection
                        if self.listen:
                            await driver.add_listener(OUTBOX_CHANNEL, self._notified)
                            self.notify()  # what was written while nobody listened
                        return
            except Exception as exc:
                log.warning("sender claimant lock not taken: %s", describe(exc))
            await _close_quietly(conn)

    def _notified(self, *_: object) -> None:
        self.notify()

    def _claimant_lost(self) -> bool:
        """Our claimant connection closed (PostgreSQL saw it go too, and freed the lock)."""
        is_closed = getattr(self._claimant_driver, "is_closed", None)
        return self._claimant is None or (is_closed is not None and is_closed())

    async def _drop_claimant(self) -> None:
        conn, self._claimant, self._claimant_driver, self.claimant_token = self._claimant, None, None, None
        if conn is not None:
            await _close_quietly(conn)

    async def _release(self, ids: list[int | None]) -> None:
        async with self.sessions() as session, session.begin():
            await session.exec(update(OutboxMessage).where(  # type: ignore[call-overload]
                col(OutboxMessage.id).in_(ids)).values(claimed_until=None))

    def _served_lately(self, row: OutboxMessage, now: datetime) -> int:
        """How many of this concern's messages to this staff chat went out lately (0 for others)."""
        if row.staff_id is None or row.concern_id is None:
            return 0
        count, at = self._served.get((row.channel, row.bot, row.chat_id, row.concern_id), (0, now))
        return count if now - at < FAIR_SHARE_WINDOW else 0

    def _count_served(self, row: OutboxMessage) -> None:
        if row.staff_id is None or row.concern_id is None:
            return
        now, key = self.clock.now(), (row.channel, row.bot, row.chat_id, row.concern_id)
        if len(self._served) > 10_000:
            self._served.clear()  # a memory, not a record: forgetting only costs a little fairness
        self._served[key] = (self._served_lately(row, now) + 1, now)

    async def _report_finished(self, broadcast_ids: set[int],
                               digest_ids: list[int] | None = None) -> None:
        """Tell each author whose announcement has nothing left to send how it went."""
        async with self._reporting, self.sessions() as session, session.begin():
            if await report_finished(session, broadcast_ids, now=self.clock.now(),
                                     simulator_enabled=self.simulator_enabled,
                                     digest_outbox_ids=digest_ids):
                self.notify()

    async def _start(self, row: OutboxMessage, account: ChannelAccount | None, token: int | None = None) -> None:
        """Send a row once a slot is free and the limits allow, without waiting for the answer.

        ``token``: the claimant lock the row was claimed under. Once it is lost, other processes
        may be sending the row already: it is not started (only what was on its way may go twice,
        as when the process is killed)."""
        state = self.channels[(row.channel, row.bot)]
        while len(state.in_flight) >= min(state.ramp, state.slots):
            await asyncio.wait(list(state.in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
        await self._respect_limits(state, row.chat_id)
        if token is not None and (self.claimant_token != token or self._claimant_lost()):
            raise _Stopped

        async def send() -> None:
            try:
                await self._send(row, account, state)
            finally:
                state.in_flight.pop(row.chat_id, None)

        state.in_flight[row.chat_id] = asyncio.create_task(send(), name=f"send-{row.channel}-{row.id}")

    async def _finish(self, lane: Lane) -> None:
        """Wait for every request of the lane still on its way; re-raise the first failure."""
        state = self.channels.get(lane)
        if state is None or not state.in_flight:
            return
        results = await asyncio.gather(*state.in_flight.values(), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _send(self, row: OutboxMessage, account: ChannelAccount | None, state: _ChannelState) -> None:
        # Every line about this message names its school, channel and bot or sender; a number
        # only masked (a Telegram chat id is not a phone number, and is left out).
        school = self._school_codes.get(row.school_id or 0) or row.bot or None
        to = mask_phone(row.chat_id.split(":", 1)[-1]) if row.channel in ("whatsapp", "sms") else None
        with log_context(school=school, channel=row.channel, bot=row.bot or "default", to=to,
                         outbox_id=row.id):
            await self._send_in_context(row, account, state)

    async def _send_in_context(self, row: OutboxMessage, account: ChannelAccount | None,
                               state: _ChannelState) -> None:
        try:
            try:
                external_id = await state.client.deliver(row, account)
            finally:
                self._spend(state, row.chat_id)
        except NeedsTemplate as exc:
            log.warning("held: %s", exc.reason)
            await self._hold(row, exc.reason)
        except RetryLater as exc:
            log.info("to be retried: %s", exc.reason)
            state.ramp = 1
            if exc.throttled:
                self.throttled[(row.channel, row.bot)] = self.throttled.get((row.channel, row.bot), 0) + 1
            if exc.whole_channel and exc.seconds is not None:
                state.paused_until = self.clock.now() + timedelta(seconds=exc.seconds)
            await self._retry(row, exc.seconds, exc.reason)
        except PermanentFailure as exc:
            log.warning("not delivered: %s", exc.reason)
            sms = ("sms", row.bot) if ("sms", row.bot) in self.channels else ("sms", "")
            await self._fail(row, exc.reason, unreachable=exc.unreachable,
                             fallback=sms if exc.try_sms and sms in self.channels else None)
        except Exception as exc:  # unknown errors are treated as transient
            log.warning("sending outbox %s on %s failed: %s", row.id, row.channel, exc)
            await self._retry(row, None, f"{type(exc).__name__}: {exc}")
        else:
            state.ramp = min(state.ramp + 1, state.slots)
            now = self.clock.now()
            # Held for later (night, a chosen time): its numbered choices count from now on.
            deferred = row.attempts == 0 and row.created_at is not None and \
                row.next_attempt_at is not None and row.next_attempt_at > row.created_at
            # As billed: the 24-hour window as it was when it went.
            billed_as = category(row.template, row.broadcast_id, window_open=in_window(
                account.last_seen_at if account is not None else None, now)) if row.channel == "whatsapp" else None
            async with self.sessions() as session, session.begin():
                # One statement (the row was read and claimed by this process in this drain).
                await session.exec(_SENT, params={  # type: ignore[call-overload]
                    "row_id": row.id, "sent_at": now, "external_id": external_id, "billed_as": billed_as or None})
                if deferred and row.buttons and account is not None:
                    await remember_choices(session, account, row.buttons, now)
            log.info("sent", extra={"category": billed_as} if billed_as else None)

    async def _respect_limits(self, state: _ChannelState, chat_id: str) -> None:
        chat = state.chats.setdefault(chat_id, TokenBucket(state.client.chat_rate_per_second, 3.0))
        while True:
            now = self.clock.now()
            pause = (state.paused_until - now).total_seconds() if state.paused_until else 0.0
            wait = max(pause, state.overall.wait_time(now, len(state.in_flight)), chat.wait_time(now))
            if wait <= 0:
                break
            await self._pause(wait)
        span = max(1.0, 1.0 / state.client.rate_per_second)
        if self.shared and await self._others_sending(span * SHARED_PACE_MARGIN):
            # Just started beside another sender: its sends so far are not in the shared pace
            # (a sender alone keeps no pace there); they have left the window after this.
            joined = self._claimant_since + PACE_CHECK_SECONDS + span * SHARED_PACE_MARGIN - self._seconds()
            if joined > 0:
                await self._pause(joined)
            wait = await self._shared_slot(state)
            if wait > 0:
                await self._pause(wait)

    async def _others_sending(self, window: float) -> bool:
        """(PostgreSQL) Whether another sending process is alive, or was within ``window``
        seconds (its last sends are in the shared pace only), so that sends are paced through the
        database (:meth:`_shared_slot`, a transaction per message); asked at most every
        :data:`PACE_CHECK_SECONDS`. A sender alone (the usual deployment: one process sends) is
        held to the platform's rate by its own window. Without a claimant lock of its own it
        cannot tell, and paces."""
        token = self.claimant_token
        if token is None or self._claimant_lost():
            return True
        now = self._seconds()
        if now - self._others_checked_at >= PACE_CHECK_SECONDS:
            # One lane looks for the process; the others wait for its answer (every busy lane of a
            # district, 40 a process, asked at once: 7 % of the web process's CPU, BENCHMARKS.md).
            async with self._others_lock:
                if now - self._others_checked_at >= PACE_CHECK_SECONDS:
                    try:
                        async with self.sessions() as session:
                            live = set((await session.exec(_LIVE_CLAIMANTS)).all())  # type: ignore[call-overload]
                    except Exception as exc:  # cannot tell: pace
                        log.warning("other senders not counted: %s", describe(exc))
                        return True
                    self._others_checked_at = now
                    if live - {token}:
                        self._others_seen_at = now
                    elif self._others_seen_at == math.inf:  # the first look: one that just died counts as seen at our start
                        self._others_seen_at = self._claimant_since
        return now - self._others_seen_at < window + PACE_CHECK_SECONDS

    def _seconds(self) -> float:
        """Now on the sender's clock, in seconds: the joining wait is paused on that clock, so it
        is measured on it too (an injected clock that pauses advance would otherwise see every
        send as the first second after joining)."""
        return self.clock.now().timestamp()

    async def _pause(self, seconds: float) -> None:
        """Wait (on the clock) for the limits; :class:`_Stopped` when the sender is stopped first.

        A chat's limit can mean seconds of waiting: `jembatan serve` must not take that long to
        stop (the row just stays pending for the next start)."""
        if self._stopping:
            raise _Stopped
        sleep = asyncio.ensure_future(self.clock.sleep(seconds))
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((sleep, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            stopped.cancel()
        if self._stopping:
            raise _Stopped

    async def _shared_slot(self, state: _ChannelState) -> float:
        """Reserve this process's next send on the bot's or sender's shared sliding window (one
        row in the database that every sending process reserves from); seconds until it.

        As the in-process window: up to the rate at once, never more within a window, which is
        :data:`SHARED_PACE_MARGIN` times the platform's."""
        lane = f"{state.client.name}:{getattr(state.client, 'owner', '')}"
        key = hashlib.sha256(f"jembatan-pace:{lane}".encode()).hexdigest()
        rate = state.client.rate_per_second
        span = max(1.0, 1.0 / rate)
        capacity = max(1, math.floor(rate * span + 1e-9))
        window = span * SHARED_PACE_MARGIN
        try:
            async with self.sessions() as session, session.begin():
                now = self.clock.now()
                pace = await session.get(SendPace, key, with_for_update=True, populate_existing=True)
                if pace is None:
                    pace = SendPace(key=key, due=now, recent=[])
                at = now.timestamp()
                recent = [t for t in pace.recent if at - t < window]
                slot = at if len(recent) < capacity else max(at, recent[-capacity] + window)
                pace.recent = [*recent, slot][-capacity:]
                pace.due = datetime.fromtimestamp(slot, tz=now.tzinfo)
                session.add(pace)
        except Exception as exc:  # the shared pace is a courtesy to other processes: never a stop
            log.warning("shared send pace not reserved: %s", describe(exc))
            return 0.0
        return slot - at

    def _chat_wait(self, row: OutboxMessage) -> float:
        """Seconds until this row's chat may receive again (0 when it may now)."""
        chat = self.channels[(row.channel, row.bot)].chats.get(row.chat_id)
        return chat.wait_time(self.clock.now()) if chat is not None else 0.0

    def _spend(self, state: _ChannelState, chat_id: str) -> None:
        """Count a send once the platform has answered: it saw the request no later than that,
        so network jitter can never squeeze more than the limit into the platform's window."""
        now = self.clock.now()
        state.overall.take(now)
        state.chats[chat_id].take(now)

    async def _retry(self, row: OutboxMessage, seconds: float | None, reason: str) -> None:
        async with self.sessions() as session, session.begin():
            failed = await session.get(OutboxMessage, row.id)
            if failed is None:
                return
            failed.attempts += 1
            failed.error = reason[:500]
            failed.claimed_until = None
            if failed.attempts >= MAX_ATTEMPTS:
                failed.status = "failed"
                return
            delay = seconds if seconds is not None else min(2 ** failed.attempts, 300)
            failed.next_attempt_at = self.clock.now() + timedelta(seconds=delay)

    async def _fail(self, row: OutboxMessage, reason: str, *, unreachable: bool, fallback: Lane | None = None) -> None:
        async with self.sessions() as session, session.begin():
            failed = await session.get(OutboxMessage, row.id)
            if failed is None:
                return
            failed.status, failed.error = "failed", reason[:500]
            failed.attempts += 1
            failed.claimed_until = None
            account = await session.get(ChannelAccount, failed.account_id) if failed.account_id else None
            if unreachable and account is not None:
                account.blocked = True
            if fallback and account is not None and account.phone:
                await self._resend_on(session, failed, fallback, account.phone)

    async def _resend_on(self, session: AsyncSession, row: OutboxMessage, lane: Lane, phone: str) -> None:
        """The same message through another channel of the same person (WhatsApp → SMS)."""
        channel, bot = lane
        account = (await session.exec(select(ChannelAccount).where(
            ChannelAccount.channel == channel, ChannelAccount.bot == bot,
            ChannelAccount.external_id == phone))).first()
        if account is None:
            account = ChannelAccount(channel=channel, bot=bot, external_id=phone, chat_id=phone, phone=phone,
                                     linked_at=self.clock.now())
            session.add(account)
            await session.flush()
        if account.blocked:
            return
        now = self.clock.now()
        session.add(OutboxMessage(
            school_id=row.school_id, channel=channel, bot=bot, chat_id=account.chat_id, account_id=account.id,
            guardian_id=row.guardian_id, staff_id=row.staff_id, template=row.template, text=row.text,
            buttons=row.buttons, concern_id=row.concern_id, caused_by_staff_id=row.caused_by_staff_id,
            created_at=now, next_attempt_at=now))
        self.notify()

    async def _hold(self, row: OutboxMessage, reason: str) -> None:
        """Keep the message, marked, and tell the staff member whose action it carried."""
        async with self.sessions() as session, session.begin():
            held = await session.get(OutboxMessage, row.id)
            if held is None:
                return
            held.status, held.error = "held", reason[:500]
            held.claimed_until = None
            await tell_staff_undelivered(session, held, reason="window", now=self.clock.now(),
                                         simulator_enabled=self.simulator_enabled)



async def _close_quietly(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):  # a connection already gone: nothing to close
        await conn.close()


def _lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64-bit) for a name."""
    return zlib.crc32(name.encode()) - 2**31
