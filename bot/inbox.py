"""The idempotent inbox: each platform update is stored once and answered exactly once.

A webhook's update is stored, already marked processed, and answered in one transaction. A
failing turn rolls that transaction back, and the update is stored again on its own with the
failed attempt counted (to be retried), as when the transaction itself is lost (the database
went away); if even that fails the webhook is refused (503) and the platform sends it again.
(No SAVEPOINT around the turn: two statements less on every message, one transaction more on
the rare one that fails.) A repeated update fails on the unique key before any work. Updates
stored earlier (recovery, an operator's retry, a button press whose spinner is stopped first)
are claimed with one conditional UPDATE, so two workers never both answer one; a failing turn
rolls the claim back with it, and the attempt is counted in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import traceback
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.clock import Clock
from bot.flood import FloodGuard, Verdict
from bot.logs import log_context
from handlers.flood import slow_down
from domain.messages import Inbound
from handlers.router import dispatch
from handlers.turn import Policy, Turn
from storage.models import ChannelAccount, Conversation, InboxMessage, School
from storage.accounts import school_id_of, touch_account
from storage.channel_routes import people_on
from storage.flood_buckets import swap_after, swap_params
from storage.outbox import enqueue
from storage.phones import mask_phone
from storage.transient import describe, is_transient

log = logging.getLogger(__name__)
# A webhook slower than this is logged with where its time went (Telegram gives up on a webhook
# after about a minute and sends it again; a parent's answer waits meanwhile).
SLOW_WEBHOOK_SECONDS = 2.0
MAX_ATTEMPTS = 8  # a database or network failure: about half an hour of retries, then parked
MAX_ATTEMPTS_AFTER_A_BUG = 3  # our own exception: retried a little (it may be a race), then parked
FIRST_RETRY = timedelta(seconds=15)
LAST_RETRY = timedelta(minutes=15)
INBOX = InboxMessage.__table__  # type: ignore[attr-defined]
_UNREAD = object()
# A webhook's update, stored already processed (its turn runs in the same transaction); built
# once, the values bound at each run. _STORE_LOCKING takes the sender's advisory lock too.
_STORE = insert(INBOX).values(
    channel=bindparam("b_channel"), bot=bindparam("b_bot"), external_id=bindparam("b_external_id"),
    payload=bindparam("b_payload"), received_at=bindparam("b_now"), processed_at=bindparam("b_now"),
    attempts=0).returning(INBOX.c.id)
_LOCK_KEY = bindparam("lock_key", type_=Integer)
_STORE_LOCKING = _STORE.returning(func.pg_advisory_xact_lock(_LOCK_KEY))
# ... and writes the sender's flood bucket as this process last wrote it (bot/flood.py), if the
# row still holds that (``swapped``: 1 when it did), once the sender's lock is held.
_SENDER_LOCK = sa_select(func.pg_advisory_xact_lock(_LOCK_KEY).label("locked")).cte("sender_lock")
_FLOOD_SWAP = swap_after(_SENDER_LOCK)
_STORE_LOCKING_FLOOD = _STORE_LOCKING.add_cte(_SENDER_LOCK).add_cte(_FLOOD_SWAP).returning(
    sa_select(func.count()).select_from(_FLOOD_SWAP).scalar_subquery().label("swapped"))

Translator = Callable[[dict[str, Any]], Inbound | None]


class _Duplicate(Exception):
    """The update was stored before: acknowledged, not answered again."""


class _TurnFailed(Exception):
    """The turn raised (logged already): its transaction is rolled back, the attempt recorded in
    another."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(describe(cause))
        self.cause = cause


class Inbox:
    """Accepts updates from every channel and runs the conversation for each, exactly once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, clock: Clock, policy: Policy,
                 simulator_enabled: bool, on_outbox: Callable[[], None] = lambda: None,
                 flood: FloodGuard | None = None) -> None:
        self.sessions = sessions
        self.flood = flood  # per-sender limit on what is answered (None: no limit)
        self.clock = clock
        self.policy = policy
        self.simulator_enabled = simulator_enabled
        self.on_outbox = on_outbox
        self.translators: dict[str, Translator] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.slow_seconds = SLOW_WEBHOOK_SECONDS  # a webhook this slow is logged with its phases

    def register(self, channel: str, translator: Translator) -> None:
        self.translators[channel] = translator

    async def accept(self, channel: str, external_id: str, payload: dict[str, Any], bot: str = "",
                     *, inbound: Inbound | None | object = _UNREAD) -> bool:
        """Store an update durably and answer it; False when it was seen before. ``bot``: the
        school whose own bot or sender received it ("" for the deployment's default);
        ``inbound``: the update already translated by the webhook (it is not parsed again).

        Raises the database's error when the update could not be stored at all (the webhook
        answers 503 and the platform sends it again)."""
        now = self.clock.now()
        try:
            if inbound is _UNREAD:
                inbound = self._translate(channel, payload)
            inbound = _without_nul(inbound)  # type: ignore[arg-type]
            if inbound is not None and bot:
                inbound = dataclasses.replace(inbound, bot=bot)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a payload we cannot read
            log.warning("%s update %s not readable: %s", channel, external_id, describe(exc))
            return await self._store_alone(channel, external_id, payload, bot, now, exc, park=True)
        lock = self._lock(inbound if isinstance(inbound, Inbound) else None, channel)
        began = time.monotonic()
        locked, connected, busy = began, None, None
        with log_context(channel=channel, bot=bot or "default", school=bot or None):
            async with lock:
                locked = time.monotonic()
                try:
                    busy = _checked_out(self.sessions)
                    async with self.sessions() as session, session.begin():
                        await session.connection()  # (timed apart: a pool that every connection is out of)
                        connected = time.monotonic()
                        params: dict[str, Any] = {"b_channel": channel, "b_bot": bot, "b_external_id": external_id,
                                                  "b_payload": payload, "b_now": now}
                        statement, key = _STORE, _lock_key(session, inbound)
                        swap = self.flood.plan(_who(inbound), now) if key is not None and self.flood else None  # type: ignore[arg-type]
                        if key is not None:  # PostgreSQL: the sender's lock in the same round trip,
                            statement, params["lock_key"] = _STORE_LOCKING, key
                        if swap is not None:  # and the flood bucket's write too
                            statement = _STORE_LOCKING_FLOOD
                            params.update(swap_params(swap.key, swap.was, swap.bucket))
                        try:
                            stored = (await session.exec(statement, params=params)).one()  # type: ignore[call-overload]
                        except IntegrityError as exc:
                            raise _Duplicate from exc
                        inbox_id = stored[0]
                        verdict = self.flood.settle(swap, bool(stored.swapped)) \
                            if swap is not None and self.flood else None
                        wrote = await self._answer(session, inbox_id, inbound, channel, external_id,  # type: ignore[arg-type]
                                                   received_at=now, verdict=verdict)
                except _Duplicate:
                    log.info("duplicate %s update %s acknowledged, not processed again", channel, external_id)
                    return False
                except _TurnFailed as failed:  # rolled back: keep the update, answer it later
                    return await self._store_alone(channel, external_id, payload, bot, now, failed.cause)
                except Exception as exc:  # the transaction is lost: keep the update, answer it later
                    log.warning("processing %s update %s failed, will retry: %s", channel, external_id,
                                describe(exc))
                    return await self._store_alone(channel, external_id, payload, bot, now, exc)
                finally:
                    _log_if_slow(channel, external_id, began, locked, connected, busy, self.slow_seconds)
        if wrote:
            self.on_outbox()
        return True

    async def store(self, channel: str, external_id: str, payload: dict[str, Any],
                    bot: str = "") -> InboxMessage | None:
        """Store an update unprocessed (for :meth:`process` after a call that must not run inside
        a transaction); None when it was seen before."""
        now = self.clock.now()
        try:
            async with self.sessions() as session, session.begin():
                inbox_id = (await session.exec(insert(INBOX).values(  # type: ignore[call-overload]
                    channel=channel, bot=bot, external_id=external_id, payload=payload, received_at=now,
                    attempts=0).returning(INBOX.c.id))).scalar_one()
        except IntegrityError:
            log.info("duplicate %s update %s acknowledged, not processed again", channel, external_id)
            return None
        return InboxMessage(id=inbox_id, channel=channel, bot=bot, external_id=external_id, payload=payload,
                            received_at=now, attempts=0)

    async def _store_alone(self, channel: str, external_id: str, payload: dict[str, Any], bot: str,
                           now: datetime, exc: Exception, *, park: bool = False) -> bool:
        """Store an update with its first failed attempt counted (or parked: unreadable input);
        False when it is there already (a commit that did land after all, or another worker's)."""
        error = describe(exc)
        values: dict[str, Any] = {"channel": channel, "bot": bot, "external_id": external_id, "payload": payload,
                                  "received_at": now, "attempts": 1, "last_error": error}
        if park:
            values.update(processed_at=now, parked_at=now, error=error)
        else:
            values["next_attempt_at"] = now + retry_delay(1)
        try:
            async with self.sessions() as session, session.begin():
                inbox_id = (await session.exec(insert(INBOX).values(**values).returning(INBOX.c.id))).scalar_one()  # type: ignore[call-overload]
        except IntegrityError:
            return False
        if park:
            _log_parked(inbox_id, channel, external_id, 1, error, unreadable=True)
        return True

    def _translate(self, channel: str, payload: dict[str, Any]) -> Inbound | None:
        translator = self.translators.get(channel)
        return translator(payload) if translator else None

    def _lock(self, inbound: Inbound | None, channel: str) -> asyncio.Lock:
        return self._locks.setdefault(f"{_who(inbound) if inbound else channel}", asyncio.Lock())

    async def process(self, inbox_id: int, stored: InboxMessage | None = None, *,
                      last_chance: bool = False) -> None:
        """Answer one update stored earlier; errors are recorded, never raised.

        A failure leaves the update to be tried again (see :meth:`_record_failure`), so an
        acknowledged update is answered once the database is back, and never twice.
        ``stored``: the row just written by :meth:`store`, which spares reading it back (the
        conditional UPDATE in the transaction still decides who processes it). ``last_chance``:
        an operator's retry; failing again parks the update at once."""
        row = stored
        try:
            if row is None:
                async with self.sessions() as peek:
                    row = await peek.get(InboxMessage, inbox_id)
        except Exception as exc:  # the database went away: a later recovery tick tries again
            log.warning("inbox update %s not read: %s", inbox_id, describe(exc))
            return
        if row is None or row.processed_at is not None:
            return
        try:
            inbound = _without_nul(self._translate(row.channel, row.payload))
            if inbound is not None and row.bot:
                inbound = dataclasses.replace(inbound, bot=row.bot)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a payload we cannot read
            log.warning("%s update %s not readable: %s", row.channel, row.external_id, describe(exc))
            await self._record_failure(inbox_id, exc, park=True, unreadable=True)
            return
        # Every line about this update names the channel and bot (and, on a school's own bot, its
        # school; on the default one, the school of whoever wrote, once known).
        with log_context(channel=row.channel, bot=row.bot or "default", school=row.bot or None):
            await self._process_locked(inbox_id, row, inbound, last_chance)

    async def _process_locked(self, inbox_id: int, row: InboxMessage, inbound: Inbound | None,
                              last_chance: bool) -> None:
        async with self._lock(inbound, row.channel):
            try:
                async with self.sessions() as session, session.begin():
                    # One statement claims it: a second worker on the same row waits for this
                    # transaction (PostgreSQL's row lock), then finds it processed and gets nothing.
                    claimed = (await session.exec(_locking(  # type: ignore[call-overload]
                        session, update(INBOX).where(INBOX.c.id == inbox_id, INBOX.c.processed_at.is_(None))
                        .values(processed_at=self.clock.now())
                        .returning(INBOX.c.received_at), inbound))).first()
                    if claimed is None:
                        return  # another worker got there first
                    wrote = await self._answer(session, inbox_id, inbound, row.channel, row.external_id,
                                               received_at=claimed.received_at)
            except _TurnFailed as failed:  # rolled back (the claim too): count the attempt in another one
                await self._record_failure(inbox_id, failed.cause, park=last_chance)
                return
            except Exception as exc:  # the transaction is lost: count the attempt in another one
                log.warning("processing %s update %s failed, will retry: %s", row.channel,
                            row.external_id, describe(exc))
                await self._record_failure(inbox_id, exc, park=last_chance)
                return
        if wrote:
            self.on_outbox()

    async def _answer(self, session: AsyncSession, inbox_id: int, inbound: Inbound | None, channel: str,
                      external_id: str, *, received_at: datetime, verdict: Verdict | None = None) -> bool:
        """Run the turn in the transaction that marked the update processed; a failing turn
        raises :class:`_TurnFailed` (logged here) for the caller to roll back and record.
        ``verdict``: the flood check's, when it was made with the statement that stored it."""
        if inbound is None:
            return False  # an update we do not handle (edited message, channel post...)
        # (On PostgreSQL the sender's advisory lock was taken by the statement that stored or
        # claimed the update: see _locking.)
        try:
            return await self._turn_and_reply(session, inbox_id, inbound, received_at, verdict)
        except Exception as exc:  # neither a lost database nor a bug may lose the update
            if is_transient(exc):
                log.warning("processing %s update %s failed, will retry: %s", channel, external_id,
                            describe(exc))
            else:  # a bug: the frames to find it, never the values it held
                log.error("processing %s update %s failed: %s\n%s", channel, external_id,
                          describe(exc), "".join(traceback.format_tb(exc.__traceback__)))
            raise _TurnFailed(exc) from exc

    async def _turn_and_reply(self, session: AsyncSession, inbox_id: int, inbound: Inbound,
                              received_at: datetime, verdict: Verdict | None = None) -> bool:
        if verdict is None and self.flood:
            verdict = await self.flood.check_shared(session, _who(inbound), received_at)
        if verdict is not None and not verdict.admitted:
            await session.exec(update(INBOX).where(INBOX.c.id == inbox_id)  # type: ignore[call-overload]
                                  .values(error="flood: stored, not answered"))
            if not verdict.tell_sender:
                return False
            turn = await self._turn(session, inbound)
            await slow_down(turn, alert_admin=verdict.alert_admin)
            log.warning("%s account %s is flooding: asked to slow down", inbound.channel, turn.account.id)
            await enqueue(session, turn.replies, now=turn.now, simulator_enabled=self.simulator_enabled,
                          default_language=self.policy.default_language, conversation=turn.conversation)
            return True
        turn = await self._turn(session, inbound)
        await dispatch(turn)
        await enqueue(session, turn.replies, now=turn.now, simulator_enabled=self.simulator_enabled,
                      default_language=self.policy.default_language, conversation=turn.conversation,
                      answering=turn.account.id)  # (its choices forgotten when answered without a question)
        school_ids = {p.school_id for p in [*turn.guardians, *turn.staff]}
        school = await session.get(School, school_ids.pop()) if len(school_ids) == 1 else None
        log.info("%s message from account %s (%s) answered with %d message(s)", inbound.channel,
                 turn.account.id, mask_phone(turn.account.phone) if turn.account.phone else "unlinked",
                 len(turn.replies), extra={"school": school.code} if school and not inbound.bot else None)
        return bool(turn.replies)

    async def _record_failure(self, inbox_id: int, exc: Exception, *, park: bool = False,
                              unreadable: bool = False) -> None:
        """Count a failed attempt and schedule the next, or park the update after too many."""
        try:
            async with self.sessions() as session, session.begin():
                failed = await session.get(InboxMessage, inbox_id, with_for_update=True, populate_existing=True)
                if failed is None or failed.processed_at is not None:
                    return  # its transaction did commit after all, or another worker finished it
                for name, value in _failure(exc, (failed.attempts or 0) + 1, self.clock.now(), park=park).items():
                    setattr(failed, name, value)
                if failed.parked_at is not None:
                    _log_parked(failed.id, failed.channel, failed.external_id, failed.attempts, failed.last_error,
                                unreadable=unreadable)
        except Exception as again:  # still no database: the row stays unprocessed and is recovered
            log.warning("inbox update %s: failure not recorded (%s); recovery will pick it up",
                        inbox_id, describe(again))

    async def _turn(self, session: AsyncSession, inbound: Inbound) -> Turn:
        now = self.clock.now()
        # Their account, stamped in the same statement that reads it: where to answer, seen now,
        # reachable again (they wrote to us), and the number the channel vouches for (WhatsApp,
        # the simulator), linked now when it is new to the account.
        account, conversation = await touch_account(
            session, channel=inbound.channel, bot=inbound.bot, external_id=inbound.sender_id,
            chat_id=inbound.chat_id, phone=inbound.phone, now=now)
        first_contact = account is None
        if account is None:
            account = ChannelAccount(channel=inbound.channel, bot=inbound.bot, external_id=inbound.sender_id,
                                     chat_id=inbound.chat_id, display_name=inbound.display_name,
                                     last_seen_at=now, blocked=False)
            if inbound.phone:
                account.phone, account.linked_at = inbound.phone, now
            session.add(account)
            await session.flush()
        if conversation is None:
            conversation = Conversation(account_id=account.id, data={}, updated_at=now)  # type: ignore[arg-type]
            session.add(conversation)
        phone = account.phone
        # On a school's own bot or sender, people are known only within that school: a guardian
        # of two schools talks to each through its own bot.
        school_id = await school_id_of(session, inbound.bot) if inbound.bot else None
        if inbound.bot and school_id is None:
            school_id = -1  # its school is not (yet) imported: no one is known here
        guardians, staff = await people_on(session, phone, channel=inbound.channel, bot=inbound.bot,
                                           school_id=school_id) if phone else ([], [])
        return Turn(session=session, inbound=inbound, account=account, conversation=conversation,
                    guardians=guardians, staff=staff, now=now, policy=self.policy,
                    first_contact=first_contact and bool(guardians or staff), school_id=school_id)

    async def recover(self, older_than: timedelta | None = None) -> int:
        """Process updates stored but never processed (the process stopped in between, a worker
        was killed mid-request) and failed ones whose next attempt is due; ``older_than`` leaves
        alone those a worker may be on now."""
        now = self.clock.now()
        fresh = col(InboxMessage.next_attempt_at).is_(None)
        if older_than is not None:
            fresh = fresh & (col(InboxMessage.received_at) < now - older_than)
        query = select(InboxMessage.id).where(
            col(InboxMessage.processed_at).is_(None), col(InboxMessage.parked_at).is_(None),
            fresh | (col(InboxMessage.next_attempt_at) <= now))
        try:
            async with self.sessions() as session:
                ids = list((await session.exec(query.order_by(InboxMessage.id))).all())
        except Exception as exc:
            log.warning("inbox recovery: database unavailable (%s); the next tick tries again", describe(exc))
            return 0
        for inbox_id in ids:
            await self.process(inbox_id)  # type: ignore[arg-type]
        return len(ids)

    async def retry_parked(self, ids: list[int] | None) -> dict[int, str]:
        """Put parked updates (``None``: all) back in the queue and process them now, once.

        Returns each one's outcome: ``processed``, ``parked`` (failed again: parked at once),
        ``pending`` (its database went away: the service retries it), or ``not parked`` for an
        id that names no parked update."""
        async with self.sessions() as session, session.begin():
            query = select(InboxMessage).where(col(InboxMessage.parked_at).is_not(None)).with_for_update()
            if ids is not None:
                query = query.where(col(InboxMessage.id).in_(ids))
            rows = list((await session.exec(query.order_by(InboxMessage.id))).all())
            for row in rows:
                row.processed_at = row.parked_at = row.next_attempt_at = None
                row.attempts, row.error = 0, None
        outcome = {inbox_id: "not parked" for inbox_id in ids or []}
        for row in rows:
            await self.process(row.id, last_chance=True)  # type: ignore[arg-type]
        async with self.sessions() as session:
            for row in rows:
                done = await session.get(InboxMessage, row.id)
                assert done is not None
                outcome[row.id] = ("parked" if done.parked_at is not None else  # type: ignore[index]
                                   "processed" if done.processed_at is not None else "pending")
        return outcome


def _failure(exc: Exception, attempts: int, now: datetime, *, park: bool) -> dict[str, Any]:
    """The inbox row's columns after its ``attempts``-th failed attempt: retried later, or
    parked (done, for an operator) after the cap or when ``park``."""
    cap = MAX_ATTEMPTS if is_transient(exc) else MAX_ATTEMPTS_AFTER_A_BUG
    error = describe(exc)
    if park or attempts >= cap:
        return {"attempts": attempts, "last_error": error, "processed_at": now, "parked_at": now,
                "next_attempt_at": None, "error": error}
    return {"attempts": attempts, "last_error": error, "processed_at": None,
            "next_attempt_at": now + retry_delay(attempts)}


def _log_parked(inbox_id: int | None, channel: str, external_id: str, attempts: int, error: str | None, *,
                unreadable: bool = False) -> None:
    # Unreadable input is the sender's doing; a failure after every retry is ours.
    log.log(logging.WARNING if unreadable else logging.ERROR,
            "%s update %s parked after %d attempt(s): %s (`jembatan inbox retry %s` once fixed)",
            channel, external_id, attempts, error, inbox_id)


def _checked_out(sessions: async_sessionmaker[AsyncSession]) -> int | None:
    """How many of the process's pooled connections are in use now (None: not a counting pool)."""
    counted = getattr(getattr(sessions.kw.get("bind"), "pool", None), "checkedout", None)
    return counted() if counted is not None else None


def _log_if_slow(channel: str, external_id: str, began: float, locked: float, connected: float | None,
                 busy: int | None, threshold: float) -> None:
    """A webhook that took long enough for a platform to give up on it: where its time went, for
    an operator (and bench/district.py) to read in the log."""
    done = time.monotonic()
    if done - began < threshold:
        return
    if connected is None:  # no connection came (the pool's timeout, no database)
        connected = done
    log.warning("%s update %s took %.1f s: %.1f s behind the same sender's previous update, %.1f s waiting "
                "for a database connection (%s in use when it asked), %.1f s in its transaction", channel,
                external_id, done - began, locked - began, connected - locked, busy, done - connected)


def _lock_key(session: AsyncSession, inbound: Inbound | None | object) -> int | None:
    """The key of the sender's advisory lock (PostgreSQL; None: no lock to take)."""
    if not isinstance(inbound, Inbound) or session.bind.dialect.name != "postgresql":
        return None
    return zlib.crc32(_who(inbound).encode()) - 2**31


def _locking(session: AsyncSession, statement: Any, inbound: Inbound | None | object) -> Any:
    """``statement`` (an INSERT or UPDATE ... RETURNING of the inbox row) that, on PostgreSQL,
    also takes the sender's transaction-scoped advisory lock, so that one sender's messages are
    answered one at a time across worker processes too, without a round trip of its own. The
    lock is taken as the row is returned, before any of the turn's reads."""
    key = _lock_key(session, inbound)
    return statement if key is None else statement.returning(func.pg_advisory_xact_lock(key))


def _who(inbound: Inbound) -> str:
    """One sender on one bot: the key of their lock and flood bucket (unchanged off school bots)."""
    if inbound.bot:
        return f"{inbound.channel}@{inbound.bot}:{inbound.sender_id}"
    return f"{inbound.channel}:{inbound.sender_id}"


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt: 15 s, 30 s, 1, 2, 4, 8 min, then every 15 min."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)


def _without_nul(inbound: Inbound | None) -> Inbound | None:
    """NUL characters mean nothing to a person, and PostgreSQL text cannot hold them."""
    if inbound is None:
        return None
    cleaned = {name: value.replace("\x00", "") for name, value in vars(inbound).items()
               if isinstance(value, str) and "\x00" in value}
    return dataclasses.replace(inbound, **cleaned) if cleaned else inbound
