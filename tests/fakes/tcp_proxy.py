"""A TCP proxy the test can cut, reset and restore: the database "goes away" and comes back, or
every open connection to it is torn down mid-operation, for real."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` drops every connection and refuses
    new ones until ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._trap = False
        self._trap_on = b""
        self.sprung = 0  # connections reset mid-use by reset_next_use()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def reset(self) -> int:
        """Abort every established connection with a TCP RST (SO_LINGER 0), on both sides, while
        the proxy keeps listening: what a NAT timeout, a failover or a restarted pooler does.
        Returns how many connections were torn down."""
        writers = tuple(self._writers)
        self._writers.clear()
        self._abort(writers)
        return len(writers) // 2

    def reset_next_use(self, armed: bool = True, *, containing: bytes = b"") -> None:
        """Reset the next connection the client writes ``containing`` to (that write is not
        forwarded): the reset lands in the middle of a conversation with the database, never on
        an idle pooled connection, however fast that conversation is. ``armed=False`` takes an
        unsprung trap back."""
        self._trap = armed
        self._trap_on = containing

    @staticmethod
    def _abort(writers: tuple[asyncio.StreamWriter, ...]) -> None:
        for writer in writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    async def restore(self) -> None:
        await self.start()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, upstream_writer))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_client: bool) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await reader.read(65536):
                    if from_client and self._trap and self._trap_on in data:
                        self._trap = False
                        self.sprung += 1
                        self._writers.difference_update((client_writer, upstream_writer))
                        self._abort((client_writer, upstream_writer))
                        return
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, upstream_writer, from_client=True),
                             pipe(upstream_reader, client_writer, from_client=False))
        self._writers.difference_update((client_writer, upstream_writer))
