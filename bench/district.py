"""Benchmark: a district of 100 schools on one deployment, on PostgreSQL, against fakes that
enforce the platforms' limits — a morning when 20 schools announce at once while parents of
every school write.

1. ``--schools`` rosters of ``--families`` one-child families each are generated and imported;
   every family is linked to its school's own bot (70 %) or WhatsApp number (30 %; half of them
   wrote within the last 24 hours), and every staff member to the school's bot (set-up, written
   straight into the database: linking 100,000 families over webhooks is not what is measured);
2. a fake Bot API per school (Telegram's 30 messages/s per bot, 1/s per chat) and one fake
   Twilio (10 messages/s per sender) start; CHANNELS_FILE gives every school its own bot and
   sender; `jembatan serve` (web and a sender) and ``--senders - 1`` more `jembatan scheduler`
   processes start against the one database;
3. ``--announcing`` schools announce to all their families at once (the same code as `siaran`)
   while parents of all schools write concerns to their school's webhook at ``--concern-rate``
   a second; the outbox depth per school, the database's connections and each process's CPU are
   sampled every second until everything is sent.

Per school: the concerns' answers' p99 from the webhook to the parent's phone (the fake's
clock), the announcement's duration and its rate against the platform's limit, 429s and the
deepest queue. Then what limits the deployment: the platform, the senders' CPU, the database.

Run from the repository root: ``.venv/bin/python -m bench.district [--schools N] [--families N]
[--json]``; ``BENCH_DATABASE_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/jb_district``)
is emptied first.

Every run keeps what is needed to tell afterwards what went wrong, in ``var/bench-district/<time>/``
(printed): the servers' logs, every webhook's status and time (``webhooks.jsonl``; a webhook not
answered 200 is printed too, with its status or exception), and every second the database's
sessions by process, state and wait, with who blocks whom (``db_activity.jsonl``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import insert, text

from bench.common import (
    Server,
    jembatan,
    machine,
    percentile,
    postgres_ready,
    report,
    reset_postgres,
    service_env,
    write_school,
)
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import text_update
from tests.fakes.twilio_api import FakeTwilioAPI

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jb_district"
RUNS = Path(__file__).resolve().parents[1] / "var" / "bench-district"  # each run's logs and records, kept
TEXT = "Pengumuman: rapat komite sekolah hari Sabtu pukul 08.00 di aula. Mohon hadir."
CONCERNS = (
    "Selamat pagi Bu, anak saya sakit demam hari ini, mohon izin tidak masuk sekolah.",
    "Nilai matematika anak saya turun semester ini, bagaimana cara membantunya di rumah?",
    "Anak saya sering diejek temannya di kelas, sekarang dia jadi malas berangkat sekolah.",
)
TELEGRAM_RATE, TWILIO_MPS = 30, 10
TG_USER_BASE, STAFF_USER_BASE = 1_000_000_000, 2_000_000_000
SECRET = "district-bench-secret"
CONTENT_SID = "HX" + "d" * 32


def code(s: int) -> str:
    return f"S{s:03d}"


def token(s: int) -> str:
    return f"{700000 + s}:DISTRICT-BENCH-TOKEN-{s:03d}-abcdefghijklmnop"


def whatsapp_from(s: int) -> str:
    return f"whatsapp:+6281100{s:05d}"


def family_user(s: int, n: int) -> int:
    return TG_USER_BASE + s * 100_000 + n


def write_roster(root: Path, s: int, families: int) -> tuple[list[str], list[str]]:
    """School ``s``'s roster with phones of its own (guardians +62813sss..., staff +62812sss...)."""
    school = write_school(root / code(s), families)
    for name in ("staff.csv", "guardians.csv"):
        path = school.folder / name
        path.write_text(re.sub(r"\+6281([23])000", lambda m: f"+6281{m[1]}{s:03d}", path.read_text("utf-8")),
                        encoding="utf-8")
    guardians = [g.replace("+62813000", f"+62813{s:03d}", 1) for g in school.guardians]
    staff = [p.replace("+62812000", f"+62812{s:03d}", 1) for p in school.staff]
    return guardians, staff


async def prepare(database_url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Migrate, import every school, link every family and staff member (set-up, timed apart)."""
    from storage.db import make_engine, make_sessionmaker
    from storage.models import ChannelAccount
    from storage.roster import import_roster

    reset_postgres(database_url)
    await jembatan("db", "upgrade", env=service_env(database_url), cwd=workdir)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    began = time.monotonic()
    rng = random.Random(19)
    now = datetime.now(UTC)
    channels: dict[int, dict[int, str]] = {}
    try:
        for s in range(args.schools):
            guardians, staff = write_roster(workdir / "rosters", s, args.families)
            await import_roster(sessions, workdir / "rosters" / code(s), school_code=code(s),
                                school_name=f"SMP Negeri {s + 1}")
            rows, kinds = [], {}
            for n, phone in enumerate(guardians):
                if rng.random() < args.whatsapp_share:
                    seen = now - timedelta(hours=2) if rng.random() < 0.5 else now - timedelta(days=3)
                    rows.append({"channel": "whatsapp", "bot": code(s), "external_id": phone,
                                 "chat_id": f"whatsapp:{phone}", "phone": phone, "linked_at": seen,
                                 "last_seen_at": seen, "display_name": "", "blocked": False, "preferred": False})
                    kinds[n] = "whatsapp"
                else:
                    user = family_user(s, n)
                    rows.append({"channel": "telegram", "bot": code(s), "external_id": str(user),
                                 "chat_id": str(user), "phone": phone, "linked_at": now - timedelta(days=30),
                                 "last_seen_at": now - timedelta(days=3), "display_name": "", "blocked": False,
                                 "preferred": False})
                    kinds[n] = "telegram"
            for k, phone in enumerate(staff):
                user = STAFF_USER_BASE + s * 1000 + k
                rows.append({"channel": "telegram", "bot": code(s), "external_id": str(user), "chat_id": str(user),
                             "phone": phone, "linked_at": now - timedelta(days=30), "last_seen_at": now,
                             "display_name": "", "blocked": False, "preferred": False})
            async with sessions() as session, session.begin():
                await session.exec(insert(ChannelAccount), params=rows)  # type: ignore[call-overload]
            channels[s] = kinds
    finally:
        await engine.dispose()
    return {"seconds": round(time.monotonic() - began, 1), "channels": channels}


def channels_file(path: Path, bots: list[FakeBotAPI]) -> None:
    lines = []
    for s, bot in enumerate(bots):
        lines += [f"{code(s)}:", f'  telegram_bot_token: "{token(s)}"', f'  telegram_webhook_secret: "{SECRET}"',
                  f'  telegram_api_base_url: "{bot.base_url}"', f'  twilio_whatsapp_from: "{whatsapp_from(s)}"',
                  "  whatsapp_daily_tier: 1000"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def announce(database_url: str, schools: list[int]) -> dict[str, Any]:
    """The announcing schools' counselors confirm their announcement at once (as `siaran` does)."""
    from sqlmodel import select

    from domain.whatsapp_costs import CostPolicy
    from handlers.broadcasts import send_broadcast
    from storage.db import make_engine, make_sessionmaker
    from storage.models import School, Staff

    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)

    async def one(s: int) -> tuple[int, float, int]:
        began = time.monotonic()
        async with sessions() as session, session.begin():
            school = (await session.exec(select(School).where(School.code == code(s)))).one()
            author = (await session.exec(select(Staff).where(Staff.school_id == school.id,
                                                             Staff.staff_code == "C-01"))).one()
            result = await send_broadcast(session, author=author, audience="grade:7", text=TEXT,
                                          now=datetime.now(UTC), simulator_enabled=False, urgent=True,
                                          costs=CostPolicy())
        return s, time.monotonic() - began, result.recipients

    try:
        began = time.monotonic()
        done = await asyncio.gather(*(one(s) for s in schools))
        return {"seconds": round(time.monotonic() - began, 2),
                "per_school_s": {code(s): round(took, 2) for s, took, _ in done},
                "recipients": sum(n for _, _, n in done)}
    finally:
        await engine.dispose()


ACTIVITY = text(
    "SELECT pid, client_port, state, wait_event_type, wait_event, pg_blocking_pids(pid) AS blocked_by, "
    "extract(epoch FROM now() - xact_start) AS xact_s, extract(epoch FROM now() - state_change) AS state_s, "
    "left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query "
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _owners(procs: dict[int, psutil.Process], names: dict[int, str]) -> dict[int, str]:
    """Local port → process name, for each process's connections (to tell whose session is whose
    in pg_stat_activity, by its client port)."""
    owners: dict[int, str] = {}
    for pid, proc in procs.items():
        try:
            for conn in proc.net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == 5432:
                    owners[conn.laddr.port] = names.get(pid, str(pid))
        except psutil.Error:
            pass
    return owners


def _activity(rows: list[Any], owners: dict[int, str]) -> dict[str, Any]:
    """One second's picture: sessions counted by process, state and wait; the waiting on a lock,
    each with what its blockers were doing."""
    by_pid = {row.pid: row for row in rows}
    counts: dict[str, int] = defaultdict(int)
    doing: dict[str, int] = defaultdict(int)
    blocked = []
    for row in rows:
        who = owners.get(row.client_port or 0, "bench" if row.client_port else "other")
        wait = f"{row.wait_event_type}:{row.wait_event}" if row.wait_event_type else "-"
        counts[f"{who} {row.state} {wait}"] += 1
        if row.state != "idle":  # a connection out of its pool: the statement it ran last
            doing[f"{who}: {row.query[:60]}"] += 1
        if row.blocked_by:
            blocked.append({"who": who, "query": row.query, "waiting_s": round(float(row.state_s or 0), 2),
                            "wait": wait, "blocked_by": [
                                {"who": owners.get(by_pid[b].client_port or 0, "bench") if b in by_pid else "?",
                                 "state": by_pid[b].state if b in by_pid else "?",
                                 "xact_s": round(float(by_pid[b].xact_s or 0), 2) if b in by_pid else None,
                                 "query": by_pid[b].query if b in by_pid else "?"} for b in row.blocked_by]})
    oldest = max((float(r.xact_s) for r in rows if r.xact_s is not None), default=0.0)
    return {"sessions": dict(sorted(counts.items())), "in_use": dict(sorted(doing.items())), "blocked": blocked,
            "oldest_xact_s": round(oldest, 2)}


async def announce_apart(schools: list[int]) -> dict[str, Any]:
    """:func:`announce` in a process of its own: rendering 20,000 messages is seconds of Python,
    which in this process would stall the load generator's loop (its requests would be sent late
    and their answers read late, counted as the server's slowness)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.district", "--announce-only", ",".join(str(s) for s in schools),
        cwd=Path(__file__).resolve().parents[1], stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the announcing process exited {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def lag(stop: asyncio.Event, into: dict[str, Any]) -> None:
    """How late this process's loop wakes (the load generator's own delay, not the server's)."""
    worst = 0.0
    while not stop.is_set():
        asked = time.monotonic()
        await asyncio.sleep(0.05)
        worst = max(worst, time.monotonic() - asked - 0.05)
    into["bench_loop_lag_max_ms"] = round(worst * 1000, 1)


async def sample(database_url: str, pids: list[int], stop: asyncio.Event, into: dict[str, Any],
                 names: dict[int, str], activity: Path) -> None:
    """Every second: pending outbox per school, the database's connections, CPU per process; and
    what every session of the database is doing (by process, state, wait), with the sessions a
    waiting one is blocked by, into ``activity`` (one JSON line a second)."""
    from storage.db import make_engine

    engine = make_engine(database_url)
    started = time.monotonic()
    procs = {pid: psutil.Process(pid) for pid in pids}
    for proc in procs.values():
        proc.cpu_percent(None)
    this = psutil.Process()
    this.cpu_percent(None)
    depth: dict[str, int] = defaultdict(int)
    cpu: dict[str, list[float]] = defaultdict(list)
    connections: list[int] = []
    total_pending: list[int] = []
    blocked_seconds = 0
    queued: dict[int, tuple[int, int]] = {}  # pid → nanoseconds run, waited to run (all its threads)
    runnable: dict[str, list[tuple[int, int]]] = defaultdict(list)
    log = activity.open("w", encoding="utf-8")
    try:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            async with engine.connect() as conn:
                rows = (await conn.execute(text(
                    "SELECT s.code, count(*) FROM outbox_message o JOIN school s ON s.id = o.school_id "
                    "WHERE o.status = 'pending' GROUP BY s.code"))).all()
                sessions = (await conn.execute(ACTIVITY)).all()
            connections.append(len(sessions) + 1)
            picture = _activity(sessions, _owners(procs, names))
            blocked_seconds += bool(picture["blocked"])
            log.write(json.dumps({"t": round(time.monotonic() - started, 1), **picture}, ensure_ascii=False) + "\n")
            for school, count in rows:
                depth[school] = max(depth[school], int(count))
            total_pending.append(sum(int(c) for _, c in rows))
            for pid, proc in procs.items():
                try:
                    cpu[f"server:{names.get(pid, pid)}/{pid}"].append(proc.cpu_percent(None))
                except psutil.Error:
                    pass
                ran, waited = _schedstat(pid)
                if ran is not None:
                    was = queued.get(pid)
                    queued[pid] = (ran, waited)
                    if was is not None:
                        runnable[f"server:{names.get(pid, pid)}/{pid}"].append((ran - was[0], waited - was[1]))
            cpu["bench (fakes and load)"].append(this.cpu_percent(None))
    finally:
        log.close()
        await engine.dispose()
    into.update(depth=dict(depth), cpu=dict(cpu), connections=connections, pending=total_pending,
                seconds_with_lock_waits=blocked_seconds,
                cpu_wait={name: round(sum(w for _, w in v) / max(1, sum(r for r, _ in v)), 2)
                          for name, v in runnable.items()})


def _schedstat(pid: int) -> tuple[int | None, int]:
    """(Linux) nanoseconds a process's threads have run, and waited on a run queue for a core."""
    ran = waited = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            parts = (task / "schedstat").read_text().split()
            ran, waited = ran + int(parts[0]), waited + int(parts[1])
    except (OSError, ValueError, IndexError):
        return None, 0
    return ran, waited


async def concerns(server_url: str, args: argparse.Namespace, kinds: dict[int, dict[int, str]],
                   stop_after: float) -> list[dict[str, Any]]:
    """Parents of every school write concerns to their school's bot, open loop."""
    rng = random.Random(7)
    sent: list[dict[str, Any]] = []
    ids = itertools.count(50_000_000)
    interval = 1.0 / args.concern_rate
    tasks = []
    # A kept-alive connection is let go before the server's 5 s idle timeout closes it: with both at
    # 5 s a request sent as the server closed it got no answer (ReadError), the client's doing.
    async with httpx.AsyncClient(base_url=server_url, timeout=60,
                                 limits=httpx.Limits(max_connections=64, keepalive_expiry=3.0)) as client:
        async def post(s: int, n: int) -> None:
            update = text_update(next(ids), family_user(s, n), rng.choice(CONCERNS))
            began = time.monotonic()
            error = ""
            try:
                response = await client.post(f"/webhooks/telegram/{code(s)}", json=update,
                                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                status = response.status_code
                if status != 200:
                    error = response.text[:200]
            except httpx.HTTPError as exc:  # a timed-out webhook: Telegram would retry it; an error
                status, error = 0, f"{type(exc).__name__}: {exc}"[:200]
            sent.append({"school": s, "user": family_user(s, n), "update_id": update["update_id"], "at": began,
                         "webhook_s": time.monotonic() - began, "status": status, "error": error})

        began = time.monotonic()
        k = 0
        while time.monotonic() - began < stop_after:
            s = rng.randrange(args.schools)
            telegram_families = [n for n, kind in kinds[s].items() if kind == "telegram"]
            n = rng.choice(telegram_families)
            tasks.append(asyncio.create_task(post(s, n)))
            k += 1
            await asyncio.sleep(max(0.0, began + k * interval - time.monotonic()))
        await asyncio.gather(*tasks)
    return sent


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not postgres_ready(database_url):
        raise SystemExit(f"PostgreSQL not reachable at {database_url}: set BENCH_DATABASE_URL")
    workdir = Path(tempfile.mkdtemp(prefix="jb-district-"))
    # What a user reads after the run (the rosters stay in the temporary folder).
    kept = RUNS / datetime.now().strftime("%Y%m%d-%H%M%S")
    kept.mkdir(parents=True, exist_ok=True)
    print(f"logs, webhooks and database activity of this run: {kept}", flush=True)
    prepared = await prepare(database_url, args, workdir)
    print(f"set-up: {args.schools} schools x {args.families} families imported and linked "
          f"in {prepared['seconds']} s", flush=True)
    bots = [FakeBotAPI(token(s), {"id": 700000 + s, "is_bot": True, "first_name": code(s),
                                   "username": f"{code(s).lower()}_bot"},
                       rate_limit=TELEGRAM_RATE, chat_rate_limit=1.0, chat_burst=3, tolerance=0.05)
            for s in range(args.schools)]
    twilio = FakeTwilioAPI(mps=TWILIO_MPS, tolerance=0.05)
    for bot in bots:
        await bot.start()
    await twilio.start()
    servers: list[Server] = []
    schedulers: list[asyncio.subprocess.Process] = []
    samples: dict[str, Any] = {}
    try:
        channels_file(workdir / "channels.yaml", bots)
        env = service_env(database_url, twilio=twilio, CHANNELS_FILE=str(workdir / "channels.yaml"),
                          TWILIO_CONTENT_SIDS=json.dumps({"announcement": CONTENT_SID}), LOG_LEVEL="WARNING",
                          TWILIO_MESSAGES_PER_SECOND=str(TWILIO_MPS), SIMULATOR="off")
        env.pop("TWILIO_WHATSAPP_FROM", None)
        web = Server.jembatan(env, workdir, kept / "serve.log",
                              extra=["--sender-process"] if args.sender_process else ())
        servers.append(web)
        await web.start(timeout=120)
        for k in range(args.senders - 1):
            log = open(kept / f"scheduler-{k}.log", "ab")  # noqa: SIM115 - handed to the child
            schedulers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "scheduler", env=env, cwd=workdir, stdout=log,
                stderr=asyncio.subprocess.STDOUT))
            log.close()
        await asyncio.sleep(5)  # every process has read CHANNELS_FILE and started its lanes
        names = {proc.pid: "serve" if proc.pid == server.pid else "serve-background"
                 for server in servers for proc in _tree(server.pid)}
        names |= {proc.pid: f"scheduler-{k}" for k, scheduler in enumerate(schedulers)
                  for proc in _tree(scheduler.pid)}
        names[os.getpid()] = "bench"
        for pid, name in names.items():  # the sending processes below the web process (the OS's priority)
            if args.nice_senders and name.startswith(("scheduler-", "serve-background")):
                psutil.Process(pid).nice(args.nice_senders)
        pids = [pid for pid in names if pid != os.getpid()]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(database_url, pids, stop, samples, names, kept / "db_activity.jsonl"))
        lagging = asyncio.create_task(lag(stop, samples))
        start = time.monotonic()
        announcing = list(range(min(args.announcing, args.schools)))
        load = asyncio.create_task(concerns(web.url, args, prepared["channels"], args.duration))
        announced = await announce_apart(announcing)
        announced["began_s"], announced["ended_s"] = 0.0, round(time.monotonic() - start, 2)
        posted = await load
        with (kept / "webhooks.jsonl").open("w", encoding="utf-8") as out:
            for post in posted:
                out.write(json.dumps({**post, "at": round(post["at"] - start, 3),
                                      "webhook_s": round(post["webhook_s"], 3)}) + "\n")
        deadline = time.monotonic() + args.timeout
        while True:
            pending = await _pending_now(database_url)
            if pending == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        finished = time.monotonic()
        stop.set()
        await sampler
        await lagging
    finally:
        for scheduler in schedulers:
            if scheduler.returncode is None:
                scheduler.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(scheduler.wait(), timeout=15)
                except TimeoutError:
                    scheduler.kill()
                    await scheduler.wait()
        for server in reversed(servers):
            await server.stop()
        for bot in bots:
            await bot.stop()
        await twilio.stop()
    result = summarize(args, prepared, announced, posted, bots, twilio, samples, start, finished, announcing)
    result["kept"] = str(kept)
    result["slow_webhooks_in_server_log"] = slow_webhooks(kept / "serve.log")
    (kept / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


SLOW = re.compile(r"update \S+ took ([\d.]+) s: ([\d.]+) s behind the same sender's previous update, ([\d.]+) s "
                  r"waiting for a database connection \((\d+|None) in use when it asked\), ([\d.]+) s in its transaction")


def slow_webhooks(log: Path) -> dict[str, Any]:
    """The server's own account of its slow webhooks (bot/inbox.py logs where their time went)."""
    found = [tuple(float(x) if x != "None" else -1.0 for x in m.groups())
             for m in SLOW.finditer(log.read_text("utf-8", "replace"))] if log.exists() else []
    return {"count": len(found), "took_s": round(sum(f[0] for f in found), 1),
            "behind_same_sender_s": round(sum(f[1] for f in found), 1),
            "waiting_for_connection_s": round(sum(f[2] for f in found), 1),
            "in_transaction_s": round(sum(f[4] for f in found), 1),
            "asked_with_pool_in_use": dict(sorted(Counter(int(f[3]) for f in found).items())),
            "worst": max(found, default=None)}


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


async def _pending_now(database_url: str) -> int:
    from storage.db import make_engine

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(
                "SELECT count(*) FROM outbox_message WHERE status = 'pending' "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= now())"))).scalar() or 0)
    finally:
        await engine.dispose()


def summarize(args: argparse.Namespace, prepared: dict[str, Any], announced: dict[str, Any],
              posted: list[dict[str, Any]], bots: list[FakeBotAPI], twilio: FakeTwilioAPI,
              samples: dict[str, Any], start: float, finished: float, announcing: list[int]) -> dict[str, Any]:
    schools: list[dict[str, Any]] = []
    answered: list[float] = []
    for s, bot in enumerate(bots):
        accepted = [(entry["at"], entry["chat_id"]) for entry in bot.send_log if entry["status"] == 200]
        messages = list(zip(accepted, bot.sent, strict=False))
        latencies = []
        for concern in (c for c in posted if c["school"] == s):
            replies = [at for (at, chat), message in messages
                       if int(chat) == concern["user"] and at >= concern["at"] and TEXT not in message.get("text", "")]
            if replies:
                latencies.append(min(replies) - concern["at"])
        answered += latencies
        row: dict[str, Any] = {"school": code(s), "concerns": len(latencies),
                               "answer_p50_s": round(statistics.median(latencies), 3) if latencies else None,
                               "answer_p99_s": round(percentile(latencies, 99), 3) if latencies else None,
                               "telegram_429s": bot.throttled, "max_queue": samples.get("depth", {}).get(code(s), 0)}
        if s in announcing:
            times = [at for (at, _), message in messages if TEXT in message.get("text", "")]
            if len(times) > 1:
                span = times[-1] - min(times[0], start)
                row.update(announced_telegram=len(times), announce_s=round(span, 1),
                           ratio_to_limit=round(len(times) / span / TELEGRAM_RATE, 3))
        schools.append(row)
    cpu = {name: {"mean_pct": round(statistics.mean(values), 1), "max_pct": round(max(values), 1)}
           for name, values in samples.get("cpu", {}).items() if values}
    announced_rows = [r for r in schools if "ratio_to_limit" in r]
    ratios = [r["ratio_to_limit"] for r in announced_rows]
    total_sent = sum(len(b.sent) for b in bots) + len(twilio.sent)
    span = finished - start
    server_cpu = sum(v["mean_pct"] for k, v in cpu.items() if k.startswith("server:"))
    result = {
        "schools": args.schools, "families_per_school": args.families, "announcing": len(announcing),
        "senders": args.senders, "sender_process": args.sender_process, "nice": args.nice_senders, "setup_s": prepared["seconds"], "announce_enqueue": announced,
        "concerns_posted": len(posted), "concern_rate": args.concern_rate,
        "webhook_p99_ms": round(percentile([c["webhook_s"] for c in posted], 99) * 1000, 1) if posted else None,
        "webhook_errors": sum(1 for c in posted if c["status"] != 200),
        "webhooks_not_200": [{"at_s": round(c["at"] - start, 2), "took_s": round(c["webhook_s"], 2),
                              "school": code(c["school"]), "update_id": c["update_id"], "status": c["status"],
                              "error": c["error"]} for c in posted if c["status"] != 200],
        "webhook_p50_ms": round(statistics.median([c["webhook_s"] for c in posted]) * 1000, 1) if posted else None,
        "webhook_max_ms": round(max(c["webhook_s"] for c in posted) * 1000, 1) if posted else None,
        "webhooks_over_1s_during_announcing": sum(
            1 for c in posted if c["webhook_s"] > 1 and c["at"] - start < announced["ended_s"]),
        "webhooks_over_1s_after": sum(
            1 for c in posted if c["webhook_s"] > 1 and c["at"] - start >= announced["ended_s"]),
        "seconds_with_lock_waits": samples.get("seconds_with_lock_waits", 0),
        "bench_loop_lag_max_ms": samples.get("bench_loop_lag_max_ms"),
        "servers_waiting_for_a_core_per_second_run": samples.get("cpu_wait", {}),
        "answer_p50_s": round(statistics.median(answered), 3) if answered else None,
        "answer_p99_s": round(percentile(answered, 99), 3) if answered else None,
        "answered": len(answered),
        "messages_sent": total_sent, "run_s": round(span, 1), "throughput_per_s": round(total_sent / span, 1),
        "platform_ceiling_per_s": len(announcing) * TELEGRAM_RATE + len(announcing) * TWILIO_MPS,
        "broadcast_ratio_min": min(ratios) if ratios else None,
        "broadcast_ratio_median": round(statistics.median(ratios), 3) if ratios else None,
        "telegram_429s": sum(b.throttled for b in bots), "twilio_429s": twilio.throttled,
        "max_outbox_pending": max(samples.get("pending", [0]) or [0]),
        "db_connections_max": max(samples.get("connections", [0]) or [0]),
        "cpu": cpu, "server_cpu_pct_sum": round(server_cpu, 1), "per_school": schools, "machine": machine(),
    }
    result["bottleneck"] = bottleneck(result)
    return result


def bottleneck(result: dict[str, Any]) -> str:
    """What limits the deployment, from the figures."""
    cores = psutil.cpu_count() or 1
    ratio = result["broadcast_ratio_median"] or 0
    busy = result["server_cpu_pct_sum"] + result["cpu"].get("bench (fakes and load)", {}).get("mean_pct", 0)
    if ratio >= 0.9:
        return "the platforms' limits (each bot sends at its 30/s): the deployment keeps up"
    if busy >= 80 * cores:
        return (f"CPU: the machine's {cores} cores are busy ({busy:.0f}% in all; the senders "
                f"{result['server_cpu_pct_sum']:.0f}%): sending is Python work per message "
                "(claim, shared pace, HTTP, mark sent), so the announcements go below their bots' 30/s")
    if result["db_connections_max"] >= 90:
        return "database connections: the pool of every process together is at PostgreSQL's max_connections"
    return (f"the senders' round trips: {result['throughput_per_s']}/s with the CPU not saturated "
            f"({busy:.0f}%): each message waits on several database round trips in turn")


def lines(result: dict[str, Any]) -> list[str]:
    out = [f"{result['schools']} schools x {result['families_per_school']} families, {result['announcing']} announcing "
           f"at once, {result['senders']} sending processes"
           f"{' (serve --sender-process: the web process sends nothing)' if result['sender_process'] else ''}"
           f"{', sending processes at nice ' + str(result['nice']) if result['nice'] else ''}; "
           f"set-up {result['setup_s']} s",
           f"announcements written: {result['announce_enqueue']['recipients']} recipients in "
           f"{result['announce_enqueue']['seconds']} s",
           f"concerns: {result['concerns_posted']} posted at {result['concern_rate']}/s, webhook p50 "
           f"{result['webhook_p50_ms']} ms, p99 {result['webhook_p99_ms']} ms, max {result['webhook_max_ms']} ms "
           f"({result['webhook_errors']} not 200; over 1 s: {result['webhooks_over_1s_during_announcing']} while "
           f"the announcements were written, {result['webhooks_over_1s_after']} after); answer on the phone p50 "
           f"{result['answer_p50_s']} s, p99 {result['answer_p99_s']} s ({result['answered']} answered)",
           f"sent {result['messages_sent']} in {result['run_s']} s = {result['throughput_per_s']}/s "
           f"(the announcing bots' and senders' limits allow {result['platform_ceiling_per_s']}/s)",
           f"announcement vs its bot's 30/s: median {result['broadcast_ratio_median']}, worst "
           f"{result['broadcast_ratio_min']}; 429s Telegram {result['telegram_429s']}, Twilio {result['twilio_429s']}",
           f"outbox pending at most {result['max_outbox_pending']}; database connections at most "
           f"{result['db_connections_max']}; seconds with a session waiting on a lock "
           f"{result['seconds_with_lock_waits']}",
           *(f"webhook not answered 200: {w['school']} update {w['update_id']} at {w['at_s']} s, after "
             f"{w['took_s']} s: {w['status'] or 'no answer'} {w['error']}" for w in result["webhooks_not_200"]),
           "webhooks over 2 s by the server's log: {count}, {took_s} s in all: {behind_same_sender_s} s behind the "
           "same sender, {waiting_for_connection_s} s waiting for a database connection, {in_transaction_s} s in "
           "their transactions; connections in use when they asked: {asked_with_pool_in_use}".format(
               **result["slow_webhooks_in_server_log"]),
           f"kept: {result['kept']} (serve.log, scheduler-*.log, webhooks.jsonl, db_activity.jsonl)",
           "CPU: " + ", ".join(f"{k} {v['mean_pct']}% (max {v['max_pct']}%)" for k, v in result["cpu"].items()),
           "seconds a server waited for a core per second it ran: " + ", ".join(
               f"{k} {v}" for k, v in result["servers_waiting_for_a_core_per_second_run"].items())
           + f"; the load generator's loop late by at most {result['bench_loop_lag_max_ms']} ms",
           f"limit: {result['bottleneck']}", "",
           f"{'school':>7} {'concerns':>8} {'p50 s':>7} {'p99 s':>7} {'429s':>5} {'queue':>6} "
           f"{'announce s':>10} {'ratio':>6}"]
    for row in result["per_school"]:
        out.append(f"{row['school']:>7} {row['concerns']:>8} {str(row['answer_p50_s']):>7} "
                   f"{str(row['answer_p99_s']):>7} {row['telegram_429s']:>5} {row['max_queue']:>6} "
                   f"{str(row.get('announce_s', '')):>10} {str(row.get('ratio_to_limit', '')):>6}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--announcing", type=int, default=20)
    parser.add_argument("--concern-rate", type=float, default=5.0, help="concerns a second, all schools together")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds parents keep writing")
    parser.add_argument("--senders", type=int, default=2, help="sending processes (serve + schedulers)")
    parser.add_argument("--whatsapp-share", type=float, default=0.3)
    parser.add_argument("--nice-senders", type=int, default=0,
                        help="run the processes that only send (`scheduler`, serve's background) at this niceness")
    parser.add_argument("--sender-process", action="store_true",
                        help="`serve --sender-process`: the web process sends nothing (its background process does)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the outbox to drain")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--announce-only", help=argparse.SUPPRESS)  # (the announcing process: school numbers)
    args = parser.parse_args(argv)
    if args.announce_only is not None:
        schools = [int(s) for s in args.announce_only.split(",") if s]
        print(json.dumps(asyncio.run(announce(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL), schools))))
        return 0
    result = asyncio.run(main_async(args))
    report("District: 100 schools on one deployment", result, lines(result), as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
