"""Which failures are worth retrying, and how to name one without the data it carried.

A connection reset, a database restarting, a deadlock or a serialization failure says nothing
about the update being processed: the same work will succeed later. Anything else (a bug in our
code, a constraint we broke) is counted too, but the row is parked sooner.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

# SQLSTATE classes and codes that mean "try again": connection exceptions (08), transaction
# rollbacks such as serialization failure and deadlock (40), insufficient resources (53),
# operator intervention such as admin shutdown or "cannot connect now" (57P), lock timeouts.
_TRANSIENT_CLASSES = ("08", "40", "53", "57P")
_TRANSIENT_CODES = ("55P03", "57014")  # lock not available, statement cancelled (timeout)
_MESSAGE_HINTS = ("connection was closed", "connection is closed", "connection reset",
                  "broken pipe", "server closed the connection", "terminating connection",
                  "database is locked", "database is busy", "timeout", "timed out")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (``orig``) and what caused it, each once."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                stack.append(inner)


def is_transient(error: BaseException) -> bool:
    """True when the same work may well succeed if tried again in a moment."""
    for current in _chain(error):
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                                sa_exc.DisconnectionError)):
            return True
        if isinstance(current, (ConnectionError, TimeoutError, asyncio.TimeoutError, sqlite3.OperationalError)):
            return True
        if isinstance(current, OSError) and current.errno is not None:
            return True  # refused, unreachable, reset: the network, not the update
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and (state.startswith(_TRANSIENT_CLASSES) or state in _TRANSIENT_CODES):
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in (
                "InterfaceError", "ConnectionDoesNotExistError", "ConnectionFailureError",
                "InternalClientError"):
            return True
        if isinstance(current, sa_exc.DBAPIError) and any(
                hint in str(current.orig).lower() for hint in _MESSAGE_HINTS):
            return True
    return False


def describe(error: BaseException, limit: int = 300) -> str:
    """``Class: message`` of the underlying error, first line only, without SQL parameters or
    the ``DETAIL`` a constraint violation adds (it quotes the offending values)."""
    inner = getattr(error, "orig", None)
    shown = inner if isinstance(inner, BaseException) else error
    message = str(shown).split("DETAIL:")[0].strip().splitlines()
    name = type(error).__name__ if shown is error else f"{type(error).__name__} ({type(shown).__name__})"
    text = f"{name}: {message[0] if message else ''}".rstrip(": ")
    if isinstance(shown, sa_exc.StatementError):  # no orig: never the statement's parameters
        text = f"{name}: {shown.args[0] if shown.args else ''}".split("[SQL")[0].strip()
    return text[:limit]
