"""Which background process runs the scheduler: the one holding a PostgreSQL advisory lock.

Several background processes may run (on one machine or several, against one PostgreSQL): all
of them send, exactly one schedules (two schedulers would run each reminder twice). The leader
holds a session-level advisory lock on a connection of its own; when the process dies, its
connection closes and PostgreSQL frees the lock, and a follower — trying every
:data:`RETRY_SECONDS` — takes over. The lock has a lease too: a leader whose scheduler heartbeat
is older than :data:`LEASE` (hung, not dead: its connection still open) is deposed by a follower,
which ends the leader's database session and takes the lock. On SQLite there is one process:
it leads at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.clock import Clock
from storage.models import Heartbeat
from storage.transient import describe

log = logging.getLogger(__name__)
LOCK_KEY = 0x6A656D62  # "jemb": the scheduler's advisory lock
RETRY_SECONDS = 5.0  # a follower tries to take the lock this often; a leader checks it still holds it
LEASE = timedelta(seconds=30)  # a leader silent this long is deposed


class Leadership:
    """Calls ``lead()`` when this process becomes the leader and ``follow()`` when it stops being."""

    def __init__(self, engine: AsyncEngine, clock: Clock, *, lead: Callable[[], None],
                 follow: Callable[[], None]) -> None:
        self.engine, self.clock = engine, clock
        self.lead, self.follow = lead, follow
        self.leading = False
        self._conn: AsyncConnection | None = None
        self.postgres = engine.dialect.name == "postgresql"

    async def try_lead(self) -> bool:
        """One attempt to become the leader (at start, so a lone process leads at once)."""
        if self.leading:
            return True
        if not self.postgres:
            self._become_leader()
            return True
        try:
            conn = await self.engine.connect()
        except Exception as exc:
            log.warning("scheduler leadership: no database (%s)", describe(exc))
            return False
        try:
            got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                           {"key": LOCK_KEY})).scalar())
            if not got and await self._leader_is_stale(conn):
                await self._depose(conn)
                got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                               {"key": LOCK_KEY})).scalar())
            if got:  # a fresh heartbeat at once: no follower may take the old leader's for ours
                await conn.execute(text(
                    f"INSERT INTO {Heartbeat.__tablename__} (part, at, pid) VALUES ('scheduler', :at, :pid) "
                    "ON CONFLICT (part) DO UPDATE SET at = :at, pid = :pid"),
                    {"at": self.clock.now(), "pid": os.getpid()})
            await conn.commit()  # the lock is the session's: it outlives this transaction
        except Exception as exc:
            log.warning("scheduler leadership not decided (%s)", describe(exc))
            await _close(conn)
            return False
        if not got:
            await _close(conn)
            return False
        self._conn = conn
        self._become_leader()
        return True

    async def run(self) -> None:
        """Until cancelled: follow and try to lead; while leading, check the lock is still held."""
        try:
            while True:
                await asyncio.sleep(RETRY_SECONDS)
                if self.leading:
                    await self._check()
                else:
                    await self.try_lead()
        finally:
            await self.release()

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                await self._conn.commit()
            except Exception:  # closing the connection frees it anyway
                pass
            await _close(self._conn)
            self._conn = None
        if self.leading:
            self.leading = False
            self.follow()

    def _become_leader(self) -> None:
        self.leading = True
        log.info("this process now runs the scheduler")
        self.lead()

    async def _check(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
        except Exception as exc:  # the session (and with it the lock) is gone: someone else leads
            log.warning("scheduler leadership lost (%s); following", describe(exc))
            await _close(self._conn)
            self._conn = None
            self.leading = False
            self.follow()

    async def _leader_is_stale(self, conn: AsyncConnection) -> bool:
        at = (await conn.execute(text(f"SELECT at FROM {Heartbeat.__tablename__} WHERE part = 'scheduler'"))
              ).scalar()
        return at is not None and self.clock.now() - at > LEASE

    async def _depose(self, conn: AsyncConnection) -> None:
        """End the database session of a leader that stopped beating (hung): its lock is freed."""
        pids = (await conn.execute(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND ((classid::bigint << 32) | objid::bigint) = :key"), {"key": LOCK_KEY})).scalars().all()
        for pid in pids:
            log.warning("the scheduler's leader (database session %s) stopped beating: deposed", pid)
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def _close(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:
        pass
