"""The shared flood-control buckets: read and written in the inbox's transaction, and their
housekeeping (bot/flood.py keeps the rule itself).

Every message reads and writes its sender's bucket, so the statements are SQLAlchemy Core, built
once (no unit of work, no statement built per message); a process that wrote the bucket last
writes it again without reading it (:func:`swap_bucket`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CTE, bindparam, delete, exists, insert, literal, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import FloodBucket

BUCKETS = FloodBucket.__table__  # type: ignore[attr-defined]
_LOCKED = select(BUCKETS.c.tokens, BUCKETS.c.at, BUCKETS.c.flooding, BUCKETS.c.alerted_at) \
    .where(BUCKETS.c.sender == bindparam("key")).with_for_update()
_NEW = insert(BUCKETS).values(sender=bindparam("key"), tokens=bindparam("b_tokens"), at=bindparam("b_at"),
                              flooding=bindparam("b_flooding"), alerted_at=bindparam("b_alerted_at"))
_SAVE = update(BUCKETS).where(BUCKETS.c.sender == bindparam("key")).values(
    tokens=bindparam("b_tokens"), at=bindparam("b_at"), flooding=bindparam("b_flooding"),
    alerted_at=bindparam("b_alerted_at"))


# The write of a bucket this process wrote last: it applies only while the row still holds what
# was written then (compare and swap), so the read before it is spared. Another worker's write
# in between, a rolled-back transaction or housekeeping makes it change nothing (rowcount 0).
_SWAP = update(BUCKETS).where(
    BUCKETS.c.sender == bindparam("key"), BUCKETS.c.tokens == bindparam("o_tokens"),
    BUCKETS.c.at.is_not_distinct_from(bindparam("o_at")), BUCKETS.c.flooding == bindparam("o_flooding"),
    BUCKETS.c.alerted_at.is_not_distinct_from(bindparam("o_alerted_at"))).values(
    tokens=bindparam("b_tokens"), at=bindparam("b_at"), flooding=bindparam("b_flooding"),
    alerted_at=bindparam("b_alerted_at"))


@dataclass
class StoredBucket:
    """One sender's bucket as stored (``stored``: its row exists)."""

    tokens: float
    at: datetime | None
    flooding: bool = False
    alerted_at: datetime | None = None
    stored: bool = True


async def locked_bucket(session: AsyncSession, key: str) -> StoredBucket | None:
    """The bucket under ``key``, its row locked until the transaction ends (None: no bucket yet)."""
    row = (await session.exec(_LOCKED, params={"key": key})).first()  # type: ignore[call-overload]
    return StoredBucket(row.tokens, row.at, bool(row.flooding), row.alerted_at) if row is not None else None


async def save_bucket(session: AsyncSession, key: str, bucket: StoredBucket) -> None:
    """Write the bucket back (its row made when it had none)."""
    await session.exec(_SAVE if bucket.stored else _NEW, params={  # type: ignore[call-overload]
        "key": key, "b_tokens": bucket.tokens, "b_at": bucket.at, "b_flooding": bucket.flooding,
        "b_alerted_at": bucket.alerted_at})
    bucket.stored = True

IDLE = timedelta(days=1)  # far longer than any bucket takes to fill again: forgetting loses nothing


async def forget_idle_buckets(session: AsyncSession, now: datetime) -> int:
    """Drop the buckets of senders quiet for :data:`IDLE`."""
    result = await session.exec(delete(FloodBucket).where(col(FloodBucket.at) < now - IDLE))  # type: ignore[call-overload]
    return int(result.rowcount or 0)


async def swap_bucket(session: AsyncSession, key: str, was: StoredBucket, bucket: StoredBucket) -> bool:
    """Write ``bucket`` over the row only if it still holds ``was`` (the row is locked until the
    transaction ends, as by :func:`locked_bucket`); False: nothing written, read it and save."""
    result = await session.exec(_SWAP, params=swap_params(key, was, bucket))  # type: ignore[call-overload]
    return bool(result.rowcount == 1)


def swap_params(key: str, was: StoredBucket, bucket: StoredBucket) -> dict[str, object]:
    """The values of the conditional write (:func:`swap_bucket`, :func:`swap_after`)."""
    return {"key": key, "o_tokens": was.tokens, "o_at": was.at, "o_flooding": was.flooding,
            "o_alerted_at": was.alerted_at, "b_tokens": bucket.tokens, "b_at": bucket.at,
            "b_flooding": bucket.flooding, "b_alerted_at": bucket.alerted_at}


def swap_after(lock: CTE) -> CTE:
    """The same write as a data-modifying CTE (PostgreSQL), for the inbox to send with the
    update's INSERT (``count(*)`` of it is 1 when it applied). It is tried only once ``lock`` (a
    CTE taking the sender's advisory lock) is read: the advisory lock before the bucket's row
    lock, the order every other path takes them in, so two transactions never wait on each other."""
    return _SWAP.where(exists(select(literal(1)).select_from(lock))).returning(BUCKETS.c.sender).cte("flood_swap")
