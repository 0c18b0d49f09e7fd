"""Benchmark: the sender's own cost per delivered message, in process, against a client that
answers at once (no platform, no limits): CPU milliseconds and SQL statements per message.

N pending rows are written to a fresh database (SQLite file, or ``--pg-url``), spread over
``--chats`` chats of one lane; ``Sender.drain_once`` then runs until nothing is due. The CPU
is this process's (all threads: aiosqlite's included; PostgreSQL's own not). What a concern's
two deliveries cost the serving process is twice the figure, plus the platform's HTTP call.

Run from the repository root: ``.venv/bin/python -m bench.sender_cost [--pg-url URL] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert

from bench.common import report, reset_postgres
from bot.sender import PACE_CHECK_SECONDS, SHARED_PACE_MARGIN, Sender
from domain.clock import SystemClock
from storage.db import make_engine, make_sessionmaker
from storage.models import OutboxMessage

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


class InstantClient:
    """A channel that accepts every message at once (the platform's cost left out)."""

    name = "telegram"
    owner = ""
    rate_per_second = 1_000_000.0
    chat_rate_per_second = 1_000_000.0

    def __init__(self) -> None:
        self.sent = 0

    async def deliver(self, message: Any, account: Any) -> str:
        self.sent += 1
        return f"m{message.id}"


async def _write(engine: Any, first: int, count: int, chats: int) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(OUTBOX), [
            {"channel": "telegram", "bot": "", "chat_id": str(1000 + n % chats), "template": "bench",
             "text": f"pesan {n}", "buttons": [], "media": [], "status": "pending", "attempts": 0,
             "priority": 0, "created_at": now, "next_attempt_at": now} for n in range(first, first + count)])


async def measure(url: str, *, messages: int, chats: int, trickle: int = 0) -> dict[str, Any]:
    """``trickle`` 0: the whole backlog written first, then drained (full batches); else that
    many rows written, drained, and again (the sender keeping up: a concern's two at a time)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    if not trickle:
        await _write(engine, 0, messages, chats)
    statements: collections.Counter[str] = collections.Counter()
    counting = [True]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if counting[0]:
            statements[statement.split(None, 1)[0].upper()] += 1

    client = InstantClient()
    sender = Sender(sessions, [client], clock=SystemClock())
    sender._running = True  # noqa: SLF001 - a running sender's claims (PostgreSQL: its claimant lock)
    if sender.shared:  # running a moment, as a service's sender is: alone, it keeps no shared pace
        await sender._hold_claimant()  # noqa: SLF001
        await sender._others_sending(1.0)  # noqa: SLF001 - its first look
        await asyncio.sleep(PACE_CHECK_SECONDS * 2 + SHARED_PACE_MARGIN + 0.1)
    cpu = wall = 0.0
    batches = 0
    for first in range(0, messages, trickle or messages):
        if trickle:
            counting[0] = False
            await _write(engine, first, trickle, chats)
            counting[0] = True
        began_cpu, began_wall = time.process_time(), time.perf_counter()
        while await sender.drain_once():
            batches += 1
        cpu, wall = cpu + time.process_time() - began_cpu, wall + time.perf_counter() - began_wall
    await sender._drop_claimant()  # noqa: SLF001
    await engine.dispose()
    sent = max(client.sent, 1)
    return {"backend": engine.dialect.name, "trickle": trickle, "messages": client.sent, "batches": batches,
            "cpu_ms_per_message": round(1000 * cpu / sent, 3), "wall_ms_per_message": round(1000 * wall / sent, 3),
            "statements_per_message": round(sum(statements.values()) / sent, 2),
            "statements": dict(statements.most_common())}


def _migrate(url: str, cwd: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--trickle", type=int, default=0,
                        help="write this many rows, drain, again (0: the whole backlog first)")
    parser.add_argument("--pg-url", default="", help="also measure on this PostgreSQL database (emptied)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="jb-bench-sender-") as tmp:
        urls = [f"sqlite+aiosqlite:///{tmp}/sender.db"]
        if args.pg_url:
            reset_postgres(args.pg_url)
            urls.append(args.pg_url)
        for url in urls:
            _migrate(url, Path(tmp))
            results.append(asyncio.run(measure(url, messages=args.messages, chats=args.chats,
                                               trickle=args.trickle)))
    lines = [f"{r['backend']}: {r['messages']} messages in {r['batches']} batches: "
             f"{r['cpu_ms_per_message']} ms CPU and {r['statements_per_message']} statements a message "
             f"({r['statements']})" for r in results]
    report("sender_cost", {"results": results}, lines, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
