"""The idempotent inbox: store each platform update once, then answer it in one transaction.

A webhook stores the raw update and commits before it is acknowledged, so nothing accepted is
lost; processing the row, changing state and writing the outbox happen in a second, single
transaction that also marks the row processed, so nothing is processed twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import traceback
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.clock import Clock
from bot.flood import FloodGuard
from bot.logs import log_context
from handlers.flood import slow_down
from domain.messages import Inbound
from handlers.router import dispatch
from handlers.turn import Policy, Turn
from storage.models import ChannelAccount, Conversation, InboxMessage, School
from storage.channel_routes import people_on
from storage.outbox import enqueue
from storage.phones import mask_phone
from storage.transient import describe, is_transient

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8  # a database or network failure: about half an hour of retries, then parked
MAX_ATTEMPTS_AFTER_A_BUG = 3  # our own exception: retried a little (it may be a race), then parked
FIRST_RETRY = timedelta(seconds=15)
LAST_RETRY = timedelta(minutes=15)

Translator = Callable[[dict[str, Any]], Inbound | None]


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

    def register(self, channel: str, translator: Translator) -> None:
        self.translators[channel] = translator

    async def accept(self, channel: str, external_id: str, payload: dict[str, Any], bot: str = "") -> bool:
        """Store an update durably; False when it was seen before. Then process it. ``bot``: the
        school whose own bot or sender received it ("" for the deployment's default)."""
        row = await self.store(channel, external_id, payload, bot)
        if row is None:
            return False
        await self.process(row.id, stored=row)  # type: ignore[arg-type]
        return True

    async def store(self, channel: str, external_id: str, payload: dict[str, Any],
                    bot: str = "") -> InboxMessage | None:
        try:
            async with self.sessions() as session, session.begin():
                row = InboxMessage(channel=channel, bot=bot, external_id=external_id, payload=payload,
                                   received_at=self.clock.now())
                session.add(row)
            return row
        except IntegrityError:
            log.info("duplicate %s update %s acknowledged, not processed again", channel, external_id)
            return None

    async def process(self, inbox_id: int, stored: InboxMessage | None = None, *,
                      last_chance: bool = False) -> None:
        """Run the conversation for one stored update; errors are recorded, never raised.

        A failure leaves the update to be tried again (see :meth:`_record_failure`), so an
        acknowledged update is answered once the database is back, and never twice.
        ``stored``: the row just written by :meth:`store`, which spares reading it back (the
        locked read in :meth:`_process_locked` still decides who processes it). ``last_chance``:
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
        translator = self.translators.get(row.channel)
        try:
            inbound = _without_nul(translator(row.payload)) if translator else None
            if inbound is not None and row.bot:
                inbound = dataclasses.replace(inbound, bot=row.bot)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a payload we cannot read
            log.warning("%s update %s not readable: %s", row.channel, row.external_id, describe(exc))
            await self._record_failure(inbox_id, exc, park=True, unreadable=True)
            return
        lock = self._locks.setdefault(f"{_who(inbound) if inbound else row.channel}", asyncio.Lock())
        # Every line about this update names the channel and bot (and, on a school's own bot, its
        # school; on the default one, the school of whoever wrote, once known).
        with log_context(channel=row.channel, bot=row.bot or "default", school=row.bot or None):
            await self._process_with_lock(lock, inbox_id, row, inbound, last_chance)

    async def _process_with_lock(self, lock: asyncio.Lock, inbox_id: int, row: InboxMessage,
                                 inbound: Inbound | None, last_chance: bool) -> None:
        async with lock:
            try:
                wrote = await self._process_locked(inbox_id, inbound)
            except Exception as exc:  # neither a lost database nor a bug may lose the update
                if is_transient(exc):
                    log.warning("processing %s update %s failed, will retry: %s", row.channel,
                                row.external_id, describe(exc))
                else:  # a bug: the frames to find it, never the values it held
                    log.error("processing %s update %s failed: %s\n%s", row.channel, row.external_id,
                              describe(exc), "".join(traceback.format_tb(exc.__traceback__)))
                await self._record_failure(inbox_id, exc, park=last_chance)
                return
        if wrote:
            self.on_outbox()

    async def _record_failure(self, inbox_id: int, exc: Exception, *, park: bool = False,
                              unreadable: bool = False) -> None:
        """Count a failed attempt and schedule the next, or park the update after too many."""
        cap = MAX_ATTEMPTS if is_transient(exc) else MAX_ATTEMPTS_AFTER_A_BUG
        try:
            async with self.sessions() as session, session.begin():
                failed = await session.get(InboxMessage, inbox_id, with_for_update=True, populate_existing=True)
                if failed is None or failed.processed_at is not None:
                    return  # its transaction did commit after all, or another worker finished it
                now = self.clock.now()
                failed.attempts = (failed.attempts or 0) + 1
                failed.last_error = describe(exc)
                if park or failed.attempts >= cap:
                    failed.processed_at = failed.parked_at = now
                    failed.next_attempt_at = None
                    failed.error = failed.last_error
                    # Unreadable input is the sender's doing; a failure after every retry is ours.
                    log.log(logging.WARNING if unreadable else logging.ERROR,
                            "%s update %s parked after %d attempt(s): %s (`jembatan inbox retry %s` "
                            "once fixed)", failed.channel, failed.external_id, failed.attempts,
                            failed.last_error, failed.id)
                else:
                    failed.next_attempt_at = now + retry_delay(failed.attempts)
        except Exception as again:  # still no database: the row stays unprocessed and is recovered
            log.warning("inbox update %s: failure not recorded (%s); recovery will pick it up",
                        inbox_id, describe(again))

    async def _process_locked(self, inbox_id: int, inbound: Inbound | None) -> bool:
        async with self.sessions() as session, session.begin():
            # Locked: a second worker process holding the same update waits, then sees it done.
            row = await session.get(InboxMessage, inbox_id, with_for_update=True, populate_existing=True)
            if row is None or row.processed_at is not None:
                return False  # another worker got there first
            if inbound is not None and session.bind.dialect.name == "postgresql":
                # One sender's messages one at a time across worker processes, too.
                key = zlib.crc32(_who(inbound).encode()) - 2**31
                await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=key))
            now = self.clock.now()
            row.processed_at = now
            if inbound is None:
                return False  # an update we do not handle (edited message, channel post...)
            verdict = await self.flood.check_shared(session, _who(inbound),
                                                    row.received_at or now) if self.flood else None
            if verdict is not None and not verdict.admitted:
                row.error = "flood: stored, not answered"
                if not verdict.tell_sender:
                    return False
                turn = await self._turn(session, inbound)
                await slow_down(turn, alert_admin=verdict.alert_admin)
                log.warning("%s account %s is flooding: asked to slow down", inbound.channel, turn.account.id)
                await enqueue(session, turn.replies, now=now, simulator_enabled=self.simulator_enabled,
                              default_language=self.policy.default_language)
                return True
            turn = await self._turn(session, inbound)
            await dispatch(turn)
            turn.conversation.updated_at = now
            session.add(turn.conversation)
            rows = await enqueue(session, turn.replies, now=now, simulator_enabled=self.simulator_enabled,
                                 default_language=self.policy.default_language)
            mine = [row for row in rows if row.account_id == turn.account.id]
            if mine and not mine[-1].buttons:
                turn.conversation.choices = []  # answered without a question: old numbers mean nothing now
            school_ids = {p.school_id for p in [*turn.guardians, *turn.staff]}
            school = await session.get(School, school_ids.pop()) if len(school_ids) == 1 else None
            log.info("%s message from account %s (%s) answered with %d message(s)", inbound.channel,
                     turn.account.id, mask_phone(turn.account.phone) if turn.account.phone else "unlinked",
                     len(turn.replies), extra={"school": school.code} if school and not inbound.bot else None)
            return bool(turn.replies)

    async def _turn(self, session: AsyncSession, inbound: Inbound) -> Turn:
        now = self.clock.now()
        account = (await session.exec(select(ChannelAccount).where(
            ChannelAccount.channel == inbound.channel, ChannelAccount.bot == inbound.bot,
            ChannelAccount.external_id == inbound.sender_id))).first()
        first_contact = account is None
        if account is None:
            account = ChannelAccount(channel=inbound.channel, bot=inbound.bot, external_id=inbound.sender_id,
                                     chat_id=inbound.chat_id, display_name=inbound.display_name)
        account.chat_id = inbound.chat_id
        account.last_seen_at = now
        account.blocked = False  # they wrote to us, so they can be reached again
        if inbound.phone and account.phone != inbound.phone:
            account.phone = inbound.phone  # the channel vouches for this number (WhatsApp, simulator)
            account.linked_at = now
        session.add(account)
        await session.flush()
        conversation = (await session.exec(select(Conversation).where(
            Conversation.account_id == account.id))).first()
        if conversation is None:
            conversation = Conversation(account_id=account.id, data={}, updated_at=now)  # type: ignore[arg-type]
            session.add(conversation)
        phone = account.phone
        # On a school's own bot or sender, people are known only within that school: a guardian
        # of two schools talks to each through its own bot.
        school_id = (await session.exec(select(School.id).where(School.code == inbound.bot))).first() \
            if inbound.bot else None
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
