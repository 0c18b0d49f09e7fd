"""aiosqlite with the statements of an open transaction run on the event loop's own thread.

aiosqlite runs every call (execute, each fetch, cursor, close) on its worker thread and wakes the
event loop when it is done: a concern's 20 statements cost about 60 thread hops, each a queue put,
a self-pipe write, a loop wake-up and a GIL hand-over, worth more CPU than the statements
themselves (microseconds each on a local file). Here only the calls that may wait run on that
thread: COMMIT (the fsync, and a WAL checkpoint now and then), anything outside a transaction,
and BEGIN when another process holds SQLite's write lock (BEGIN is first tried here with the busy
handler off: it either takes the lock at once or says the database is locked, and only then waits
on that thread). Inside a transaction begun with BEGIN IMMEDIATE nothing waits for a lock (this
connection holds the write lock, and WAL readers never wait), so those calls run inline. The connection is used by one
caller at a time (SQLAlchemy's pool), never from both threads at once.

The trade-off: a long query inside a transaction (a large dashboard page) holds the event loop
for its duration instead of only its caller; the pool's one SQLite connection serializes that
work anyway (see ``storage.db``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite


_BUSY = object()
_BEGINS = ("BEGIN", "BEGIN IMMEDIATE")


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls inside a transaction run without a thread hop.

    Never inline while a call is still running on the worker thread: a caller cancelled while
    awaiting its COMMIT (a task cancelled at shutdown) leaves the COMMIT running there, and the
    ROLLBACK its clean-up sends would otherwise run on the loop's thread at the same time — two
    threads in one SQLite connection, which can crash the process. Such a call queues behind it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_thread: list[object] = []  # calls queued or running on the worker thread

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        if conn is None or not self._running:
            return await super()._execute(fn, *args, **kwargs)  # "Connection closed"
        if not self._on_thread:
            if (conn.in_transaction and fn != conn.commit) or fn == conn.cursor:  # a cursor never waits
                return fn(*args, **kwargs)
            if args and args[0] in _BEGINS and getattr(fn, "__name__", "") == "execute":
                began = _begin_without_waiting(conn, fn, *args, **kwargs)
                if began is not _BUSY:
                    return began
        token = object()
        self._on_thread.append(token)  # list.append and list.remove are atomic under the GIL

        def tracked() -> Any:  # runs on the worker thread: done when the call is, awaited or not
            try:
                return fn(*args, **kwargs)
            finally:
                self._on_thread.remove(token)

        return await super()._execute(tracked)


def _begin_without_waiting(conn: sqlite3.Connection, execute: Any, *args: Any, **kwargs: Any) -> Any:
    """BEGIN on the loop's thread when it does not have to wait: with the busy handler off, SQLite
    answers at once, either with the write lock or with "database is locked" (another process
    writes); then :data:`_BUSY`, and the caller begins on aiosqlite's thread, waiting as usual."""
    waits = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout=0")
    try:
        return execute(*args, **kwargs)
    except sqlite3.OperationalError as exc:
        if conn.in_transaction or "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return _BUSY
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(waits)}")


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> InlineConnection:
    """As ``aiosqlite.connect``; passed to SQLAlchemy as ``connect_args["async_creator_fn"]``."""
    kwargs["check_same_thread"] = False  # the loop's thread uses it too, never at the same time

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(str(database), **kwargs)

    connection = InlineConnection(connector, iter_chunk_size)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
    return connection
