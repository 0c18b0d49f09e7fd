"""A real uvicorn server for a fake API, inside the test's own event loop, on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    """uvicorn without signal capture (the test process, not the fake, owns Ctrl-C) and without
    its pauses of a tenth of a second when stopping: a test starts and stops hundreds of fakes."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_now = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        await self.on_tick(0)  # the Date and Server headers, once (uvicorn polls every 0.1 s)
        await self.stop_now.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's, waiting for the connections and requests themselves instead of in steps of
        0.1 s (idle keep-alive connections close at once; a request on its way is answered)."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0)
        while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        for task in self.server_state.tasks:
            task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")


class LocalServer:
    """Serve ``app`` on 127.0.0.1; ``port`` is known once ``start()`` returns."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port: int | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self, app: ASGIApp) -> int:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name=self.name)
        deadline = time.monotonic() + 10
        while not self._server.started:  # uvicorn offers no startup event to await
            if self._task.done():  # startup failed (uvicorn calls sys.exit)
                exc = self._task.exception()
                self._task = None
                raise RuntimeError(f"{self.name} did not start: {exc!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start within 10 s")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        self._server.stop_now.set()
        try:
            await asyncio.wait_for(self._task, timeout=10)
        finally:
            self._server = None
            self._task = None
