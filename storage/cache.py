"""What one transaction has already read: a school's staff, the channel routes, a phone's
accounts, guardians' children, a school's routing-examples stamp, and the schools, staff and
classes it loaded.

A turn asks for the same few rows several times (the router's subjects, the homeroom teacher, the
recipient's language, the school of a forward). SQLAlchemy's identity map holds rows only while
something references them, so each ask was a query again. Here they are kept until the
transaction ends (or a savepoint inside it), and all of it is dropped as soon as this session
writes to one of the tables it covers, so a cached answer is never one this transaction changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    ChannelAccount,
    ChannelRoute,
    GuardianStudent,
    RoutingExample,
    School,
    SchoolClass,
    Staff,
    Student,
)

KEPT = (School, Staff, SchoolClass, ChannelRoute)  # small rows a turn reads more than once
_CACHE = "jembatan.cache"
_KEPT = "jembatan.kept"
T = TypeVar("T")


async def remembered(session: AsyncSession, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
    """``load()``'s answer, read once per transaction under ``key``. A pending (unflushed) change
    to the tables it covers reads it again: the query flushes first, as without this memory."""
    if _pending(session.sync_session):
        forget(session)
    cache: dict[tuple[Any, ...], Any] = session.info.setdefault(_CACHE, {})
    if key not in cache:
        cache[key] = await load()
    return cache[key]  # type: ignore[no-any-return]


def remember(session: AsyncSession, key: tuple[Any, ...], value: Any) -> None:
    """Store an answer read some other way (many at once) for :func:`remembered` to give."""
    session.info.setdefault(_CACHE, {})[key] = value


def forget(session: AsyncSession | Session) -> None:
    """Drop what this session remembered (after a write that may change it)."""
    session.info.pop(_CACHE, None)


@event.listens_for(Session, "loaded_as_persistent")
def _keep(session: Session, instance: object) -> None:
    if isinstance(instance, KEPT):
        session.info.setdefault(_KEPT, []).append(instance)


_WATCHED_ROWS = (Staff, ChannelRoute, School, ChannelAccount, Student, SchoolClass, GuardianStudent, RoutingExample)


def _pending(session: Session) -> bool:
    return any(isinstance(row, _WATCHED_ROWS) for row in chain(session.new, session.dirty, session.deleted))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    if _pending(session):
        forget(session)


_WATCHED = {model.__tablename__ for model in _WATCHED_ROWS}  # the same tables, for Core statements


@event.listens_for(Session, "do_orm_execute")
def _before_bulk_write(state: Any) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and \
            getattr(getattr(state.statement, "table", None), "name", None) in _WATCHED:
        forget(state.session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: Any) -> None:
    if not (transaction.nested or transaction.parent is None):
        return  # the inner "transaction" of a flush
    # A rolled-back savepoint expires what it loaded: nothing kept may be read without the database.
    session.info.pop(_CACHE, None)
    session.info.pop(_KEPT, None)
