"""The transactional outbox: a handler's messages are rendered and stored with its state change.

Each ``Outbound`` becomes one row for the recipient's most recently used channel, in their
language — or for their Telegram chat when that channel would be billed (WhatsApp outside the
24-hour window, SMS) and they did not ask for it: the free channel first. A WhatsApp row carries
its foreseen pricing category (domain/whatsapp_costs.py). A person with no reachable account gets
a ``held`` row (status ``held``, error ``unreachable``) so the school can see who was not reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, bindparam, func, insert, inspect, text, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Button, Outbound, Recipient
from domain.whatsapp_costs import category, in_window
from storage.channel_routes import route_of
from storage.reach import reaches_by_number
from storage.models import ChannelAccount, Conversation, Guardian, OutboxMessage, Staff, built
from storage.people import guardians_by_phone, linked_accounts, prefetch_linked_accounts, staff_by_phone
from templates.render import has_template, label, language_or_default, render

NUMBERED_CHANNELS = {"whatsapp", "sms"}
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
# PostgreSQL: every transaction that writes outbox rows notifies this channel (on commit), so a
# sender in another process (`jembatan scheduler`, `serve --sender-process`) wakes at once.
OUTBOX_CHANNEL = "jembatan_outbox"
_INSERT = insert(OUTBOX).returning(OUTBOX.c.id)  # built once (see storage.people)
# On PostgreSQL the same statement notifies the sender's channel (delivered on commit, once per
# transaction however many rows call it): no round trip of its own.
_INSERT_ORDERED = insert(OUTBOX).returning(OUTBOX.c.id, func.pg_notify(OUTBOX_CHANNEL, ""),
                                           sort_by_parameter_order=True)
_COLUMNS = [column.key for column in OUTBOX.columns if column.key != "id"]


class NeedsWrite(Exception):
    """Rendering in a read-only transaction (see :func:`render_rows`) would have to create an
    account: render again in the transaction that writes."""


READ_ONLY = "jembatan.read_only"  # session.info key: this transaction must not write


async def enqueue(session: AsyncSession, outs: Iterable[Outbound], *, now: datetime,
                  simulator_enabled: bool, default_language: str = "id",
                  conversation: Conversation | None = None, answering: int | None = None) -> list[OutboxMessage]:
    """Render and store the messages in the caller's transaction; the sender delivers them later.

    ``conversation``: the turn's own, already loaded: its choices are set without a query, and it
    is stamped with the turn's time and written once, with the outbox rows. ``answering``: its
    account, answered by these messages: when the last one to it asks nothing (no buttons), the
    choices it was offered before mean nothing any more and are forgotten. The rows are inserted
    in one statement (SQLAlchemy Core); the returned objects carry their ids and are not in the
    session."""
    await session.flush()  # what the caller changed is visible to the lookups below
    rows = await render_rows(session, outs, now=now, simulator_enabled=simulator_enabled,
                             default_language=default_language, conversation=conversation)
    mine = [row for row in rows if answering is not None and row.account_id == answering]
    if conversation is not None and mine and not mine[-1].buttons:
        conversation.choices = []  # answered without a question: old numbers mean nothing now
    return await store_rows(session, rows, now=now, conversation=conversation)


async def render_rows(session: AsyncSession, outs: Iterable[Outbound], *, now: datetime,
                      simulator_enabled: bool, default_language: str = "id",
                      conversation: Conversation | None = None) -> list[OutboxMessage]:
    """The rows for these messages, rendered for each recipient's channel and language, not yet
    stored. In a session marked :data:`READ_ONLY` nothing is written: a recipient who would need
    a new account raises :class:`NeedsWrite`."""
    outs = list(outs)
    rows: list[OutboxMessage] = []
    withdrawn = await _withdrawn(session, {out.to.guardian_id for out in outs if out.to.guardian_id})
    phones = {out.to.phone for out in outs if out.to.phone}
    if len(phones) > 1:  # the writer and the staff member they write to, or a thousand families:
        # every phone's accounts in one query (a few for an announcement), not one each
        await prefetch_linked_accounts(session, phones)
    with session.no_autoflush:  # the lookups read people and accounts, never what this loop sets
        for out in outs:
            rows.append(await _row(session, out, withdrawn, now=now, simulator_enabled=simulator_enabled,
                                   default_language=default_language, conversation=conversation))
    return rows


async def store_rows(session: AsyncSession, rows: list[OutboxMessage], *, now: datetime,
                     conversation: Conversation | None = None) -> list[OutboxMessage]:
    """Insert rendered rows (and write the turn's conversation, stamped ``now``, once)."""
    ordered = session.bind.dialect.name == "postgresql"
    # PostgreSQL: a stored conversation is written by the rows' INSERT itself (a data-modifying
    # CTE), one round trip instead of two; elsewhere, or without rows, by a statement of its own.
    together = _conversation_params(conversation, now) if ordered and rows and conversation is not None \
        else None
    if conversation is not None and together is None:
        await _save_conversation(session, conversation, now)
    await session.flush()
    if rows:
        # One multi-row INSERT. PostgreSQL returns the ids in the rows' order when asked; on SQLite
        # (one writer at a time) the rows of one INSERT take ascending ids in the order written.
        statement = _INSERT_ORDERED_SAVING if together is not None else _INSERT_ORDERED if ordered else _INSERT
        params = [_values(row) for row in rows]
        if together is not None:
            params = [{**values, **together} for values in params]  # (the CTE reads the first row's)
        ids = (await session.exec(statement, params=params)).scalars().all()  # type: ignore[call-overload]
        for row, row_id in zip(rows, ids if ordered else sorted(ids), strict=True):
            row.id = row_id
    return rows


async def _row(session: AsyncSession, out: Outbound, withdrawn: set[int | None], *, now: datetime,
               simulator_enabled: bool, default_language: str,
               conversation: Conversation | None) -> OutboxMessage:
    """One message rendered for its recipient's channel and language (not yet stored)."""
    at = max(now, out.not_before or now)  # when it goes: the 24-hour window is judged then
    account = await _account_for(session, out, now=now, at=at, simulator_enabled=simulator_enabled)
    if out.to.guardian_id in withdrawn:
        account = None  # they withdrew their consent: kept as a record, never sent
    lang = language_or_default(out.to.language or await _language_of(session, out.to), default_language)
    buttons = _render_buttons(lang, out.buttons)
    variant = f"sms/{out.template}" if account is not None and account.channel == "sms" else None
    text = render(lang, variant if variant and has_template(lang, variant) else out.template, out.context)
    if account is not None and account.channel in NUMBERED_CHANNELS and buttons:
        # No buttons on this channel: the same choices as a numbered list.
        text += "\n\n" + render(lang, "numbered_choices",
                                 {"labels": [b["label"] for row in buttons for b in row]})
    row = built(OutboxMessage, dict(
        school_id=out.to.school_id, channel=account.channel if account else "none",
        bot=account.bot if account else "", chat_id=account.chat_id if account else "",
        account_id=account.id if account else None,
        guardian_id=out.to.guardian_id, staff_id=out.to.staff_id, template=out.template,
        text=text, buttons=buttons, media=list(out.media), caused_by_staff_id=out.caused_by_staff_id,
        concern_id=out.concern_id, created_at=now, next_attempt_at=max(now, out.not_before or now),
        broadcast_id=out.broadcast_id, priority=out.priority,
        pricing_category=category(out.template, out.broadcast_id,
                                  window_open=in_window(account.last_seen_at, at))
        if account is not None and account.channel == "whatsapp" else None,
        status="pending" if account and not account.blocked else "held",
        error=None if account and not account.blocked else
        "withdrawn" if out.to.guardian_id in withdrawn else "unreachable",
    ))
    if account is not None and buttons and not (out.not_before and out.not_before > now):
        if session.info.get(READ_ONLY):
            raise NeedsWrite("choices")
        # A message held for later (night, a chosen time) is remembered when it is delivered
        # (the sender): until then "1" must still answer what the person was last asked.
        await remember_choices(session, account, buttons, now, conversation)
    return row


_CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
_CONVERSATION_STATE = ("flow", "step", "data", "choices", "updated_at")
_SAVE_CONVERSATION = update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == bindparam("b_id")).values(
    {key: bindparam(f"b_{key}", type_=_CONVERSATIONS.c[key].type) for key in _CONVERSATION_STATE})
# The same UPDATE as text inside the INSERT: as a Core UPDATE there it would also take the
# outbox row's parameters named like a conversation column (account_id) as values to set.
_INSERT_ORDERED_SAVING = _INSERT_ORDERED.add_cte(text(
    f"UPDATE {_CONVERSATIONS.name} SET {', '.join(f'{key} = :b_{key}' for key in _CONVERSATION_STATE)} "
    "WHERE id = :b_id").bindparams(
    *(bindparam(f"b_{key}", type_=_CONVERSATIONS.c[key].type) for key in _CONVERSATION_STATE),
    bindparam("b_id", type_=_CONVERSATIONS.c.id.type)).columns().cte("saved_conversation"))


def _conversation_params(conversation: Conversation, now: datetime) -> dict[str, Any] | None:
    """The turn's stored conversation, stamped ``now``, as the parameters of its UPDATE; the
    object is left as if just loaded (the caller sends the UPDATE in its transaction). None for
    a new one, which the session inserts."""
    conversation.updated_at = now
    if not inspect(conversation).persistent:
        return None
    params = {"b_id": conversation.id, **{f"b_{key}": getattr(conversation, key) for key in _CONVERSATION_STATE}}
    for key in _CONVERSATION_STATE:
        set_committed_value(conversation, key, getattr(conversation, key))
    return params


async def _save_conversation(session: AsyncSession, conversation: Conversation, now: datetime) -> None:
    """Write the turn's conversation, stamped ``now``: a stored one with one Core UPDATE of its
    state (no unit of work; the object is left as if just loaded), a new one through the session."""
    with session.no_autoflush:  # (a flush would write it first)
        params = _conversation_params(conversation, now)
        if params is None:
            session.add(conversation)
            return
        await session.exec(_SAVE_CONVERSATION, params=params)  # type: ignore[call-overload]


def _values(row: OutboxMessage) -> dict[str, Any]:
    return {key: getattr(row, key) for key in _COLUMNS}


@dataclass
class Rendered:
    """Rendered rows, and on SQLite their INSERT's parameters already in the driver's form (JSON as
    text, times as strings), made before the transaction that writes them (:func:`rendered`).

    SQLite has one write lock, held from a transaction's first statement to its commit, and every
    webhook's transaction waits for it. A 1,000-family announcement's rows inserted the usual way
    (its parameters built, then SQLAlchemy's INSERT … RETURNING, in the transaction) held it 80 to
    270 ms in all; ready parameters through the driver's executemany, 25 to 30 ms (BENCHMARKS.md,
    issue 18 item 5). No ids are read back on that path: :func:`insert_rendered` leaves the rows'
    ``id`` unset."""

    rows: list[OutboxMessage]
    statement: str | None = None  # SQLite: the positional INSERT, its columns in _COLUMNS order
    params: list[list[Any]] | None = None
    processors: dict[str, Callable[[Any], Any] | None] | None = None

    def set(self, key: str, value_of: Callable[[OutboxMessage], Any]) -> None:
        """Give every row ``value_of(row)`` for column ``key`` (an id known only when writing)."""
        if self.params is None or self.processors is None:
            for row in self.rows:
                setattr(row, key, value_of(row))
            return
        at, process = _COLUMNS.index(key), self.processors[key]
        for row, params in zip(self.rows, self.params, strict=True):
            params[at] = process(value_of(row)) if process else value_of(row)


def rendered(dialect: Dialect, rows: list[OutboxMessage]) -> Rendered:
    """``rows`` ready for :func:`insert_rendered` (on SQLite, their parameters built now)."""
    if dialect.name != "sqlite" or not rows:
        return Rendered(rows)  # PostgreSQL: no write lock to spare; one INSERT … RETURNING as usual
    processors = {key: OUTBOX.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in _COLUMNS}
    compiled = insert(OUTBOX).compile(dialect=dialect, column_keys=_COLUMNS)
    assert list(compiled.positiontup or ()) == _COLUMNS  # the statement's ? in our order
    params = [[process(value) if process else value for value, process in
               ((getattr(row, key), processors[key]) for key in _COLUMNS)] for row in rows]
    return Rendered(rows, str(compiled), params, processors)


async def insert_rendered(session: AsyncSession, rows: Rendered, *, now: datetime) -> None:
    """Insert rows made ready by :func:`rendered`, in the caller's transaction."""
    if rows.params is None or rows.statement is None:
        await store_rows(session, rows.rows, now=now)
        return
    await session.flush()
    connection = await session.connection()
    await connection.exec_driver_sql(rows.statement, [tuple(params) for params in rows.params])


_WITHDRAWN = select(Guardian.id).where(col(Guardian.id).in_(bindparam("ids", expanding=True)),
                                      col(Guardian.withdrawn_at).is_not(None))  # built once (storage.people)


async def _withdrawn(session: AsyncSession, guardian_ids: set[int | None]) -> set[int | None]:
    if not guardian_ids:
        return set()
    return set((await session.exec(_WITHDRAWN, params={"ids": list(guardian_ids)})).all())


async def remember_choices(session: AsyncSession, account: ChannelAccount, buttons: list[Any],
                            now: datetime, known: Conversation | None = None) -> None:
    """The last question asked on an account, so "2" or a label answers it without buttons."""
    conversation = known if known is not None and known.account_id == account.id else \
        (await session.exec(select(Conversation).where(Conversation.account_id == account.id))).first()
    if conversation is None:
        conversation = Conversation(account_id=account.id, data={}, updated_at=now)  # type: ignore[arg-type]
    conversation.choices = [b for row in buttons for b in row if b.get("data")]
    session.add(conversation)


async def preview_account(session: AsyncSession, to: Recipient, *, at: datetime,
                          simulator_enabled: bool) -> ChannelAccount | None:
    """The account a message to ``to`` sent at ``at`` would go to, writing nothing (a preview)."""
    return await _account_for(session, Outbound(to=to, template=""), now=at, at=at,
                              simulator_enabled=simulator_enabled, dry_run=True)


def billed(account: ChannelAccount, at: datetime) -> bool:
    """A message to this account at ``at`` costs the school (SMS, WhatsApp outside the window)."""
    return account.channel == "sms" or (account.channel == "whatsapp" and not in_window(account.last_seen_at, at))


def _free_first(accounts: list[ChannelAccount], at: datetime) -> ChannelAccount | None:
    """The first account, unless it would be billed and the person did not ask for it while a
    free one (their Telegram chat, or a WhatsApp chat inside its window) reaches them too."""
    if not accounts:
        return None
    first = accounts[0]
    if first.preferred or not billed(first, at):
        return first
    return next((a for a in accounts if not billed(a, at)), first)


async def _account_for(session: AsyncSession, out: Outbound, *, now: datetime, at: datetime,
                       simulator_enabled: bool, dry_run: bool = False) -> ChannelAccount | None:
    if out.to.phone is None:
        return await session.get(ChannelAccount, out.to.account_id) if out.to.account_id else None
    # A school's messages go through its own bot or sender (CHANNELS_FILE), never another's.
    route = await route_of(session, school_id=out.to.school_id, guardian_id=out.to.guardian_id,
                           staff_id=out.to.staff_id)
    every = await linked_accounts(session, out.to.phone)
    linked = [a for a in every if not a.blocked]
    accounts = [a for a in linked if route is None or route.allows(a)]
    if not simulator_enabled:
        accounts = [a for a in accounts if a.channel != "simulator"]
    if out.to.account_id is not None:
        account = await session.get(ChannelAccount, out.to.account_id)
        if account is not None and account.phone == out.to.phone and (route is None or route.allows(account)):
            return _free_first([account, *(a for a in accounts if a.id != account.id)], at)
    if accounts:
        return _free_first(accounts, at)
    if route is not None:
        # Known on WhatsApp or SMS by their number: the school's own sender can reach them too.
        for other in linked:
            if other.channel in ("whatsapp", "sms") and route.bot(other.channel):
                return await _school_account(session, other, route.bot(other.channel), now, dry_run=dry_run)
    if reaches_by_number(out.to.phone, simulator_enabled=simulator_enabled,
                         blocked_channels=[a.channel for a in every if a.blocked]):
        # The simulator stands in for WhatsApp: anyone with a number in the roster gets a chat
        # there (storage.reach: the same rule the counts use).
        if session.info.get(READ_ONLY) and not dry_run:
            raise NeedsWrite(out.to.phone)
        account = ChannelAccount(channel="simulator", external_id=out.to.phone, chat_id=out.to.phone,
                                 phone=out.to.phone, linked_at=now)
        if not dry_run:
            session.add(account)
            await session.flush()
        return account
    return None


async def _school_account(session: AsyncSession, known: ChannelAccount, bot: str,
                          now: datetime, *, dry_run: bool = False) -> ChannelAccount:
    """The account of ``known``'s number on a school's own WhatsApp or SMS sender."""
    account = (await session.exec(select(ChannelAccount).where(
        ChannelAccount.channel == known.channel, ChannelAccount.bot == bot,
        ChannelAccount.external_id == known.external_id))).first()
    if account is None:
        if session.info.get(READ_ONLY) and not dry_run:
            raise NeedsWrite(known.external_id)
        account = ChannelAccount(channel=known.channel, bot=bot, external_id=known.external_id,
                                 chat_id=known.chat_id, phone=known.phone, linked_at=now)
        if not dry_run:
            session.add(account)
            await session.flush()
    return account


async def _language_of(session: AsyncSession, to: Recipient) -> str | None:
    # By id first: the person is usually loaded in this session already (no query at all).
    person = await session.get(Staff, to.staff_id) if to.staff_id is not None else \
        await session.get(Guardian, to.guardian_id) if to.guardian_id is not None else None
    if person is not None:
        return person.language
    if to.phone is None:
        return None
    for found in [*await staff_by_phone(session, to.phone), *await guardians_by_phone(session, to.phone)]:
        return found.language
    return None


def _render_buttons(lang: str, rows: list[list[Button]]) -> list[Any]:
    return [[{"label": label(lang, b.key) if b.key else b.label, "data": b.data,
              **({"request_contact": True} if b.request_contact else {})} for b in row] for row in rows]
