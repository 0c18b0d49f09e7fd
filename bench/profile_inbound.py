"""Profile of the inbound hot path: what one parent's concern costs inside the app.

The real app (``create_app``) runs in this process over ``httpx.ASGITransport`` on a fresh SQLite
file (or ``--database-url``), with Telegram and WhatsApp configured against the local fakes and the
sender off, so only the webhook's own work is measured: store the update, route the concern,
write the answers to the outbox. For each kind of webhook it counts the database round trips
(statements sent to the driver) and transactions per message, then profiles a run of concerns
with cProfile and prints the functions where the time goes.

Run from the repository root: ``.venv/bin/python -m bench.profile_inbound [--json] [--messages N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import collections
import io
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event

from bench.common import (
    CONCERNS,
    PUBLIC,
    TG_SECRET,
    School,
    report,
    telegram_headers,
    twilio_request,
    whatsapp_form,
    write_school,
)
from bot.app import Services, create_app
from bot.settings import Settings
from storage.db import upgrade
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import contact_update, text_update
from tests.fakes.twilio_api import SANDBOX_FROM, FakeTwilioAPI

PROJECT = ("/bot/", "/handlers/", "/storage/", "/scheduler/", "/templates/")


class Counter:
    """Statements and commits seen by the engine (round trips to the database), and the pool's
    pings of a connection before handing it out (on asyncpg three round trips each: BEGIN, a
    SELECT and ROLLBACK, which no statement event sees)."""

    def __init__(self, services: Services) -> None:
        self.statements = 0
        self.commits = 0
        self.pings = 0
        self.connects = 0  # new connections: a pool that reconnects on every checkout shows here
        self.by_kind: collections.Counter[str] = collections.Counter()
        engine = services.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "connect", self._connect)
        ping = engine.dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            self.pings += 1
            return ping(dbapi_connection)

        engine.dialect.do_ping = counted  # type: ignore[method-assign]

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements += 1
        self.by_kind[statement.split(None, 1)[0].upper()] += 1

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def _connect(self, dbapi_connection: Any, record: Any) -> None:
        self.connects += 1

    def snapshot(self) -> tuple[int, int, collections.Counter[str]]:
        by_kind = collections.Counter(self.by_kind)
        if self.pings:
            by_kind["(ping)"] = self.pings
        if self.connects:
            by_kind["(connect)"] = self.connects
        return self.statements, self.commits, by_kind


async def measure(client: httpx.AsyncClient, counter: Counter, requests: list[tuple[str, bytes, dict[str, str]]]
                  ) -> dict[str, Any]:
    """Post ``requests`` one by one; round trips and wall time per message."""
    statements, commits, kinds = counter.snapshot()
    began, cpu = time.perf_counter(), time.process_time()
    for path, body, headers in requests:
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    after_statements, after_commits, after_kinds = counter.snapshot()
    n = len(requests)
    return {"messages": n, "ms_per_message": round(1000 * elapsed / n, 2),
            "cpu_ms_per_message": round(1000 * cpu / n, 2),
            "statements_per_message": round((after_statements - statements) / n, 1),
            "commits_per_message": round((after_commits - commits) / n, 2),
            "by_statement": {k: round((after_kinds[k] - kinds[k]) / n, 1) for k in sorted(after_kinds)
                             if after_kinds[k] - kinds[k]}}


def telegram_concern(school: School, family: int, update_id: int, text: str) -> tuple[str, bytes, dict[str, str]]:
    return ("/webhooks/telegram", json.dumps(text_update(update_id, school.telegram_user(family), text)).encode(),
            telegram_headers())


def whatsapp_concern(school: School, family: int, text: str, token: str) -> tuple[str, bytes, dict[str, str]]:
    return ("/webhooks/whatsapp", *twilio_request("/webhooks/whatsapp", whatsapp_form(school.guardians[family], text),
                                                   token))


def top_functions(profile: cProfile.Profile, limit: int, messages: int) -> dict[str, Any]:
    """The project's functions by cumulative time, every function by own time, and own time
    per message grouped by package (the event loop's thread only: cProfile does not see the
    aiosqlite worker thread)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    packages: collections.Counter[str] = collections.Counter()
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((f"{name} ({_short(filename)}:{line})", calls, own, cumulative, filename))
        packages[_package(filename)] += own
    project = [r for r in rows if any(p in r[4] for p in PROJECT)]
    return {
        # Function calls on the event loop's thread per message: what the load does not change.
        "calls_per_message": round(stats.total_calls / messages),  # type: ignore[attr-defined]
        "project_cumulative_ms": [(r[0], r[1], round(r[3] * 1000, 1))
                                  for r in sorted(project, key=lambda r: -r[3])[:limit]],
        "own_time_ms": [(r[0], r[1], round(r[2] * 1000, 1)) for r in sorted(rows, key=lambda r: -r[2])[:limit]],
        "own_ms_per_message_by_package": {name: round(1000 * seconds / messages, 2)
                                          for name, seconds in packages.most_common(limit)},
    }


def _package(filename: str) -> str:
    """The distribution (site-packages), our own top folder, or the stdlib module of a file."""
    if "/bench/" in filename:
        return "bench (the load)"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for folder in PROJECT:
        if folder in filename:
            return "jembatan:" + folder.strip("/")
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    return "stdlib:" + Path(filename).stem


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    school = write_school(workdir / "roster", args.families)
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'jembatan.db'}"
    if args.database_url:
        from bench.common import reset_postgres

        reset_postgres(database_url)
    await asyncio.to_thread(upgrade, database_url)
    half = args.families // 2
    async with FakeBotAPI() as telegram, FakeTwilioAPI() as twilio:
        settings = Settings(database_url=database_url, simulator=False, telegram_bot_token=telegram.token,
                            telegram_api_base_url=telegram.base_url, telegram_mode="webhook",
                            telegram_webhook_secret=TG_SECRET, twilio_account_sid=twilio.account_sid,
                            twilio_auth_token=twilio.auth_token, twilio_whatsapp_from=SANDBOX_FROM,
                            twilio_api_base_url=twilio.base_url, public_base_url=PUBLIC,
                            log_level=args.log_level, _env_file=None)  # type: ignore[call-arg]
        app = create_app(settings, run_scheduler=False, run_sender=False)
        async with LifespanManager(app) as manager:
            services: Services = app.state.services
            await import_roster(services.sessions, school.folder, school_code="BENCH", school_name="SMP Bench")
            counter = Counter(services)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://internal:8000") as client:
                links = [("/webhooks/telegram",
                          json.dumps(contact_update(n + 1, school.telegram_user(n),
                                                    school.guardians[n].lstrip("+"))).encode(),
                          telegram_headers()) for n in range(half)]
                linked = await measure(client, counter, links)
                first_whatsapp = await measure(client, counter, [
                    whatsapp_concern(school, n, "menu", twilio.auth_token) for n in range(half, args.families)])
                update = 1_000_000
                results: dict[str, Any] = {"telegram_contact_link": linked, "whatsapp_first_message": first_whatsapp}
                for index, text in enumerate(CONCERNS):
                    label = ("grades", "absence", "homework", "friendship")[index]
                    results[f"telegram_concern_{label}"] = await measure(client, counter, [
                        telegram_concern(school, n, update + n, text) for n in range(min(args.messages, half))])
                    update += half
                    results[f"whatsapp_concern_{label}"] = await measure(client, counter, [
                        whatsapp_concern(school, half + n, text, twilio.auth_token)
                        for n in range(min(args.messages, args.families - half))])
                mixed = [telegram_concern(school, n % half, update + n, CONCERNS[n % 4]) if n % 2 == 0
                         else whatsapp_concern(school, half + n % half, CONCERNS[n % 4], twilio.auth_token)
                         for n in range(args.messages)]
                profile = cProfile.Profile()
                profile.enable()
                profiled = await measure(client, counter, mixed)
                profile.disable()
    return {"backend": "postgresql" if args.database_url else "sqlite", "families": args.families,
            "log_level": args.log_level, "per_kind": results, "profiled_mixed": profiled,
            "profile": top_functions(profile, args.top, profiled["messages"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200, help="concerns per kind")
    parser.add_argument("--database-url", default="", help="a PostgreSQL URL of your own (it is emptied)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jb-bench-profile-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    lines = [f"{result['backend']}, {result['families']} families, LOG_LEVEL={result['log_level']} "
             "(one message at a time, in process, sender off)"]
    for kind, figures in result["per_kind"].items():
        lines.append(f"{kind:30s} {figures['ms_per_message']:6.2f} ms ({figures['cpu_ms_per_message']:6.2f} CPU) "
                     f"{figures['statements_per_message']:5.1f} "
                     f"statements  {figures['commits_per_message']:4.2f} commits  {figures['by_statement']}")
    lines.append(f"function calls per message (event loop's thread, mixed run): {result['profile']['calls_per_message']}")
    lines.append("project functions by cumulative time over the profiled mixed run "
                 f"({result['profiled_mixed']['messages']} concerns, cProfile on):")
    lines += [f"  {ms:9.1f} ms  {calls:7d} calls  {name}" for name, calls, ms in result["profile"]["project_cumulative_ms"]]
    lines.append("own time per message by package (event-loop thread, cProfile on):")
    lines += [f"  {ms:7.2f} ms  {name}" for name, ms in result["profile"]["own_ms_per_message_by_package"].items()]
    lines.append("all functions by own time:")
    lines += [f"  {ms:9.1f} ms  {calls:7d} calls  {name}" for name, calls, ms in result["profile"]["own_time_ms"]]
    report("profile_inbound", result, lines, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
