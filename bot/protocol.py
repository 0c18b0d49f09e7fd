"""The HTTP protocol `jembatan serve` runs uvicorn with: h11, plus a deadline for the request head.

uvicorn arms its keep-alive timer only after a response and cancels it on any byte received, so
a client that opens a connection and trickles its headers (slow loris) holds a connection, and
with enough of them the whole worker, for as long as it likes. Here a request's head (request
line and headers) must be complete within :data:`HEAD_SECONDS` of the connection opening or of
the previous response; the body has its own deadline in :func:`bot.web.read_body`.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
HEAD_SECONDS = 5.0
KEEP_ALIVE_SECONDS = 5  # uvicorn's timeout_keep_alive: an idle connection is closed after this


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that drops a client too slow to send its request head."""

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in: the app reads the rest
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(HEAD_SECONDS, self._too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.DONE):
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: not ours to cut
        log.info("closed a connection that sent no complete request within %.0f s", HEAD_SECONDS)
        self.transport.close()
