"""Slow and vanishing clients against the real server (`jembatan serve`, uvicorn, raw sockets):
a client that trickles its request head or its body is dropped within seconds instead of holding
a connection for as long as it likes, and one that hangs up mid-body costs a log line, not an
ERROR with a traceback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.protocol import HEAD_SECONDS
from bot.web import BODY_SECONDS
from storage.db import upgrade
from tests.harness import until_healthy

SLOW_CLIENTS = 50
PARTIAL_HEAD = b"POST /simulator/api/send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _closed_after(reader: asyncio.StreamReader, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it said before."""
    started, said = time.monotonic(), b""
    while chunk := await asyncio.wait_for(reader.read(65536), timeout=limit):
        said += chunk
    return time.monotonic() - started, said


async def test_slow_and_vanishing_clients_are_dropped_quietly(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'jembatan.db'}"
    upgrade(database)
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))},
           "DATABASE_URL": database, "SIMULATOR": "on", "LOG_LEVEL": "INFO"}
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env,
                                  cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await until_healthy(base, server, log_file.read_text)

            # Fifty clients send half a request head and then nothing more.
            loris = [await asyncio.open_connection("127.0.0.1", port) for _ in range(SLOW_CLIENTS)]
            for _, writer in loris:
                writer.write(PARTIAL_HEAD)
                await writer.drain()
            # One sends its head, then a trickle of the body it announced; one hangs up mid-body.
            trickle_reader, trickle = await asyncio.open_connection("127.0.0.1", port)
            trickle.write(b"POST /simulator/api/send HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"phone\":")
            await trickle.drain()
            _, quitter = await asyncio.open_connection("127.0.0.1", port)
            quitter.write(b"POST /simulator/api/send HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"phone\":")
            await quitter.drain()

            # Meanwhile everyone else is served at once.
            started = time.monotonic()
            assert (await client.get("/healthz")).status_code == 200
            assert time.monotonic() - started < 2
            quitter.transport.abort()

            closed = await asyncio.gather(*(_closed_after(reader, HEAD_SECONDS + 10) for reader, _ in loris))
            assert max(seconds for seconds, _ in closed) < HEAD_SECONDS + 3, "slow heads were held"
            seconds, said = await _closed_after(trickle_reader, BODY_SECONDS + 10)
            assert seconds < BODY_SECONDS + 3 and said.startswith(b"HTTP/1.1 408"), said[:100]
            for _, writer in loris:
                writer.close()
            trickle.close()
            assert (await client.get("/healthz")).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
    logged = log_file.read_text()
    assert "client disconnected before its body was in" in logged
    assert "client too slow before its body was in" in logged
    assert "no complete request within" in logged
    assert " ERROR " not in logged and "ERROR:" not in logged and "Traceback" not in logged, logged[-3000:]
