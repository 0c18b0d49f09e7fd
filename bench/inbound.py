"""Benchmark: parents' concerns arriving at a real `jembatan serve`, on SQLite and PostgreSQL,
against a bare Starlette endpoint under the same uvicorn.

A school of N one-child families is imported; half the families link on Telegram (their own
contact), half on WhatsApp (they write "menu"), and the staff on Telegram. Then a load generator
in another process posts concerns — Telegram updates and signed Twilio forms, alternating, each
with a fresh ``update_id``/``MessageSid`` — to 127.0.0.1:

- closed loop (``--concurrency`` connections back to back, driven by ``wrk`` with the requests
  precomputed, see ``bench.wrk``; the Python generator only when wrk is missing): the sustained
  concerns/s one worker takes. Each 200 means the update was stored, routed and its answers written to the outbox
  (the webhook does all of that before it answers);
- open loop at half that rate (the Python generator, ``bench.loadgen``, whose own ceiling
  against the bare endpoint is printed too): p50/p99 latency, measured from when each request
  was due.

The bare endpoint only reads the body and answers; the ratio jembatan/bare says how much of
the machine's HTTP capacity the conversation leaves. Targets: >= 200 concerns/s, p99 < 50 ms at
half load, two workers >= 1.6x one (``--scale``); the share of the wrk-measured bare endpoint is
printed as it is, every ratio from the same run. ``--profile`` also samples the server with
py-spy under load and prints where its time goes.

Run from the repository root: ``.venv/bin/python -m bench.inbound [--json] [--pg-url URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from bench.common import (
    Server,
    School,
    free_port,
    greet_whatsapp_requests,
    link_staff_requests,
    link_telegram_requests,
    loadgen,
    post_all,
    postgres_ready,
    prepare_database,
    report,
    reset_postgres,
    service_env,
    sqlite_url,
    verdict,
    write_school,
)
from bench.footprint import cpu_by_role, cpu_seconds
from bench.loadgen import build_requests
from bench.wrk import run_wrk, wrk_binary
from storage.db import sync_url
from storage.models import OutboxMessage
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.twilio_api import FakeTwilioAPI

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/jb_bench"
TARGET_RATE = 200.0
TARGET_P99_MS = 50.0
PROJECT_DIRS = ("bot/", "handlers/", "storage/", "scheduler/", "templates/")
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


def _spec(url: str, school: School, twilio: FakeTwilioAPI, *, mode: str, duration: float,
          concurrency: int, rate: float = 0.0, update_id_start: int) -> dict[str, Any]:
    """Concerns from the Telegram half and the WhatsApp half of the families, alternating."""
    half = len(school.guardians) // 2
    return {"url": url, "mode": mode, "duration": duration, "concurrency": concurrency, "rate": rate,
            "update_id_start": update_id_start,
            "telegram": {"users": [school.telegram_user(n) for n in range(half)]},
            "whatsapp": {"phones": school.guardians[half:], "auth_token": twilio.auth_token}}


def _counts(database_url: str) -> dict[str, int]:
    """What the server wrote: processed updates (and failures), concerns, outbox rows."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            def scalar(sql: str) -> int:
                return int(conn.execute(text(sql)).scalar() or 0)

            return {
                "inbox_processed": scalar("SELECT count(*) FROM inbox_message WHERE processed_at IS NOT NULL"),
                "inbox_unprocessed": scalar("SELECT count(*) FROM inbox_message WHERE processed_at IS NULL"),
                "inbox_errors": scalar("SELECT count(*) FROM inbox_message WHERE error IS NOT NULL"),
                "concerns": scalar("SELECT count(*) FROM concern"),
                "outbox_rows": scalar("SELECT count(*) FROM outbox_message"),
            }
    finally:
        engine.dispose()


def _outbox(database_url: str, after_id: int = 0) -> dict[str, Any]:
    """The outbox past ``after_id``: sent, pending, the last id, and how long the sent rows
    waited from written to delivered (p50/p99 ms)."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            last = int(conn.execute(select(func.max(OUTBOX.c.id))).scalar() or 0)
            counts = dict(conn.execute(select(OUTBOX.c.status, func.count()).where(OUTBOX.c.id > after_id)
                                       .group_by(OUTBOX.c.status)).all())
            waits = sorted((sent - created).total_seconds() * 1000 for created, sent in conn.execute(
                select(OUTBOX.c.created_at, OUTBOX.c.sent_at).where(
                    OUTBOX.c.id > after_id, OUTBOX.c.status == "sent")).all())
    finally:
        engine.dispose()

    def pct(p: float) -> float | None:
        return round(waits[min(len(waits) - 1, int(p * len(waits)))], 1) if waits else None

    return {"last_id": last, "sent": int(counts.get("sent", 0)), "pending": int(counts.get("pending", 0)),
            "delivery_p50_ms": pct(0.5), "delivery_p99_ms": pct(0.99)}


async def closed_loop(spec: dict[str, Any], *, workdir: Path, name: str) -> dict[str, Any]:
    """The sustained rate: wrk when installed (not the ceiling), else the Python generator."""
    if wrk_binary() is None:
        return {**await loadgen(spec), "generator": "python (wrk not installed)"}
    # Enough unique updates for 1,500/s; ``wrapped`` in the result says if that was too few.
    requests = build_requests(spec, int(1500 * spec["duration"]))
    return await run_wrk(spec["url"], requests, duration=spec["duration"], connections=spec["concurrency"],
                         workdir=workdir, name=name)


async def _py_spy(pid: int, seconds: float, out: Path) -> Path | None:
    """Sample ``pid`` with py-spy (collapsed stacks); None when py-spy is not installed."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(binary).exists():
        return None
    proc = await asyncio.create_subprocess_exec(
        binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await proc.wait()
    return out if out.exists() else None


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares from py-spy's collapsed stacks (``frame;frame;... N``)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    project: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        raw = stack.split(";")
        frames = [_short(frame) for frame in raw]
        own[frames[-1]] += count
        packages[_package(raw[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
        for original, frame in zip(reversed(raw), reversed(frames), strict=True):
            where = original.partition(" (")[2]
            if any(where.startswith(d) or f"/{d}" in where for d in PROJECT_DIRS):
                project[frame] += count  # the innermost frame of our own code
                break

    def share(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)]

    interesting = collections.Counter({f: n for f, n in inclusive.items() if any(
        key in f for key in ("sqlalchemy", "aiosqlite", "asyncpg", "jinja2", "h11", "uvicorn", "httpx",
                             "telegram", "twilio", "json", "logging", "pydantic", "sastrawi", "Sastrawi"))})
    return {"samples": total, "self": share(own), "self_by_package": share(packages),
            "inclusive_libraries": share(interesting), "innermost_project_frame": share(project)}


def _package(frame: str) -> str:
    """The top folder of a py-spy frame's file: ``sqlalchemy``, ``asyncio``, ``bot`` ..."""
    where = frame.partition(" (")[2].rstrip(")").rpartition(":")[0]
    for marker in ("site-packages/", "python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return where.split("/", 1)[0].removesuffix(".py") if where else "?"


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` → ``func (path/to/file.py)``: one entry per function."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for marker in ("site-packages/", "python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


async def run_backend(backend: str, database_url: str, *, families: int, duration: float,
                      concurrency: int, workdir: Path, profile: bool, workers: int = 1,
                      keep_profile: Path | None = None, sender_process: bool = False,
                      unlimited: bool = False) -> dict[str, Any]:
    """Link the families, then measure closed- and open-loop concerns on one database."""
    school = write_school(workdir / "roster", families)
    if backend == "postgresql":
        reset_postgres(database_url)
    async with FakeBotAPI.telegram_like() as telegram, FakeTwilioAPI(mps=80) as twilio:
        env = service_env(database_url, telegram=telegram, twilio=twilio)
        await prepare_database(database_url, school, cwd=workdir, env=env)
        half = families // 2
        fast = {"TELEGRAM_RATE_PER_SECOND": "2000", "TELEGRAM_CHAT_RATE_PER_SECOND": "100",
                "TWILIO_MESSAGES_PER_SECOND": "2000"}
        telegram.flood.rate_limit = telegram.flood.chat_rate_limit = None
        twilio.mps = None
        server = Server.jembatan({**env, **fast}, workdir, workdir / f"serve-link-{backend}.log")
        await server.start()
        try:
            linking = (link_telegram_requests(school, range(half), 1)
                       + greet_whatsapp_requests(school, range(half, families), twilio.auth_token)
                       + link_staff_requests(school, 10 * families))
            began = time.perf_counter()
            failed = await post_all(server.url, linking, concurrency=concurrency)
            link_rate = len(linking) / (time.perf_counter() - began)
            if failed:
                raise RuntimeError(f"{failed} linking webhooks failed; see {server.log}")
            await _settle(lambda: len(telegram.sent) + len(twilio.sent))
        finally:
            await server.stop()
        if not unlimited:  # the platforms' real limits (--unlimited-sends: none, so the sender must keep up)
            telegram.flood.rate_limit, telegram.flood.chat_rate_limit = 30, 1.0
            twilio.mps = 80

        extra = ["--sender-process"] if sender_process else []
        server = Server.jembatan({**env, **fast} if unlimited else env, workdir,
                                 workdir / f"serve-{backend}-{workers}.log", workers=workers, extra=extra)
        await server.start()
        try:
            base = _counts(database_url)
            await loadgen(_spec(server.url, school, twilio, mode="closed", duration=2, concurrency=4,
                                update_id_start=20_000_000))  # warm-up
            if unlimited:
                await _settle(lambda: len(telegram.sent) + len(twilio.sent), quiet=0.5)
            outbox_before = _outbox(database_url)
            cpu_before, roles_before = cpu_seconds(server.pid), cpu_by_role(server.pid)
            sent_before = len(telegram.sent) + len(twilio.sent)
            closed = await closed_loop(_spec(server.url, school, twilio, mode="closed", duration=duration,
                                             concurrency=concurrency, update_id_start=30_000_000),
                                       workdir=workdir, name=f"closed-{workers}")
            # The server's own CPU (its workers and sender included; PostgreSQL's not) per concern:
            # what a busy shared machine changes least.
            closed["server_cpu_ms_per_concern"] = round(
                1000 * (cpu_seconds(server.pid) - cpu_before) / max(closed["ok"], 1), 2)
            roles = cpu_by_role(server.pid)
            closed["cpu_ms_per_concern_by_process"] = {
                role: round(1000 * (roles[role] - roles_before[role]) / max(closed["ok"], 1), 2) for role in roles}
            # The sender: what it delivered meanwhile, and what was left to send at the end.
            delivered = len(telegram.sent) + len(twilio.sent) - sent_before
            after_closed = _outbox(database_url, outbox_before["last_id"])
            closed["outbox"] = {"written": after_closed["last_id"] - outbox_before["last_id"],
                                "delivered_per_s": round(delivered / duration, 1),
                                "backlog_at_end": after_closed["pending"]}
            if unlimited:  # the backlog drains before the latency run (under the real limits it cannot)
                began = time.perf_counter()
                await _settle(lambda: len(telegram.sent) + len(twilio.sent), quiet=1.0)
                closed["outbox"]["drained_in_s"] = round(time.perf_counter() - began - 1.0, 1)
            half_rate = max(1.0, closed["throughput_per_s"] / 2)
            before_open = _outbox(database_url)["last_id"]
            opened = await loadgen(_spec(server.url, school, twilio, mode="open", duration=duration,
                                         concurrency=64, rate=half_rate, update_id_start=40_000_000))
            if unlimited:
                await _settle(lambda: len(telegram.sent) + len(twilio.sent), quiet=1.0)
            opened["outbox"] = _outbox(database_url, before_open)
            profiled = None
            if profile:
                spy = asyncio.create_task(_py_spy(server.pid, duration, workdir / f"py-spy-{backend}.txt"))
                await asyncio.sleep(0.3)  # py-spy attaches
                await closed_loop(_spec(server.url, school, twilio, mode="closed", duration=duration,
                                        concurrency=concurrency, update_id_start=60_000_000),
                                  workdir=workdir, name="profiled")
                raw = await spy
                profiled = summarize_profile(raw) if raw else {"error": "py-spy is not installed"}
                if raw and keep_profile:
                    keep_profile.mkdir(parents=True, exist_ok=True)
                    shutil.copy(raw, keep_profile / f"py-spy-{backend}-{workers}.txt")
            after = _counts(database_url)
        finally:
            await server.stop()
    written = {key: after[key] - base.get(key, 0) for key in after}
    return {"backend": backend, "workers": workers, "sender_process": sender_process or workers > 1,
            "unlimited_sends": unlimited, "families": families, "linking_per_s": round(link_rate, 1),
            "closed": closed, "open_half_load": opened, "written": written, "profile": profiled}


async def run_bare(*, duration: float, concurrency: int, rate: float, workdir: Path) -> dict[str, Any]:
    """The same load against ``bench.bare`` under the same uvicorn settings as `jembatan serve`."""
    school = write_school(workdir / "bare-roster", 2)
    port = free_port()
    server = Server([sys.executable, "-m", "uvicorn", "bench.bare:app", "--host", "127.0.0.1",
                     "--port", str(port), "--log-level", "info"],
                    env=service_env("sqlite+aiosqlite:///unused.db"), cwd=Path(__file__).resolve().parent.parent,
                    log=workdir / "bare.log", port=port)
    twilio = FakeTwilioAPI()  # only its auth token signs the forms; not started
    await server.start()
    try:
        closed = await closed_loop(_spec(server.url, school, twilio, mode="closed", duration=duration,
                                         concurrency=concurrency, update_id_start=1),
                                   workdir=workdir, name="bare")
        # The Python generator against the same endpoint: its own ceiling, so the open-loop
        # latency runs below are known to be within what it can drive.
        python_ceiling = await loadgen(_spec(server.url, school, twilio, mode="closed",
                                             duration=min(duration, 5.0), concurrency=concurrency,
                                             update_id_start=5_000_000))
        opened = await loadgen(_spec(server.url, school, twilio, mode="open", duration=duration,
                                     concurrency=64, rate=rate, update_id_start=10_000_000))
    finally:
        await server.stop()
    return {"closed": closed, "open_same_rate": opened, "python_generator_ceiling": python_ceiling}


async def _settle(count: Any, quiet: float = 1.0, timeout: float = 300) -> None:
    """Wait until ``count()`` has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_count = count()
        if now_count != last:
            last, since = now_count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the outbox did not settle")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    backends: list[tuple[str, str]] = [("sqlite", "")] if args.only in (None, "sqlite") else []
    if args.only in (None, "postgresql") and args.pg_url and postgres_ready(args.pg_url):
        backends.append(("postgresql", args.pg_url))
    results = []
    with tempfile.TemporaryDirectory(prefix="jb-bench-inbound-") as tmp:
        for backend, url in backends:
            workdir = Path(tmp) / backend
            workdir.mkdir()
            results.append(await run_backend(backend, url or sqlite_url(workdir), families=args.families,
                                             duration=args.duration, concurrency=args.concurrency,
                                             workdir=workdir, profile=args.profile, keep_profile=args.profile_out,
                                             sender_process=args.sender_process, unlimited=args.unlimited_sends))
        if args.scale and any(backend == "postgresql" for backend, _ in backends):
            # Issue 8.3: the same load on two web workers against one, on PostgreSQL.
            workdir = Path(tmp) / "postgresql-2"
            workdir.mkdir()
            two = await run_backend("postgresql", args.pg_url, families=args.families, duration=args.duration,
                                    concurrency=args.concurrency, workdir=workdir, profile=False, workers=2,
                                    unlimited=args.unlimited_sends)
            one = next(r for r in results if r["backend"] == "postgresql")
            two["scale_vs_one_worker"] = round(two["closed"]["throughput_per_s"]
                                               / max(one["closed"]["throughput_per_s"], 1e-9), 2)
            results.append(two)
        rate = max(1.0, results[0]["closed"]["throughput_per_s"] / 2)
        bare = None if args.skip_bare else await run_bare(duration=args.duration, concurrency=args.concurrency,
                                                          rate=rate, workdir=Path(tmp))
    for result in results:
        result["share_of_bare"] = round(result["closed"]["throughput_per_s"]
                                        / max(bare["closed"]["throughput_per_s"], 1e-9), 3) if bare else None
    skipped = None if any(backend == "postgresql" for backend, _ in backends) or args.only == "sqlite" else f"PostgreSQL not reachable at {args.pg_url}"
    return {"results": results, "bare": bare, "postgresql_skipped": skipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each measured phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pg-url", default=DEFAULT_PG,
                        help="the benchmark's own PostgreSQL database ('' to skip); it is emptied")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy under load")
    parser.add_argument("--profile-out", type=Path, default=None,
                        help="keep py-spy's raw stacks (py-spy-BACKEND-WORKERS.txt) in this folder")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None,
                        help="measure one database only (the bare endpoint is always measured)")
    parser.add_argument("--scale", action="store_true",
                        help="also run PostgreSQL with `serve --workers 2` and print the ratio to one worker")
    parser.add_argument("--sender-process", action="store_true",
                        help="one worker with `serve --sender-process` (the sender in the background process)")
    parser.add_argument("--unlimited-sends", action="store_true",
                        help="the measured phases without the platforms' rate limits: the sender must keep "
                             "up with every concern's two messages")
    parser.add_argument("--skip-bare", action="store_true", help="leave out the bare Starlette endpoint")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    bare = result["bare"]
    lines: list[str] = []
    if bare:
        ceiling = bare["python_generator_ceiling"]
        lines = [f"bare Starlette: {bare['closed']['throughput_per_s']} req/s closed loop "
                 f"(c={args.concurrency}, {bare['closed'].get('generator', 'python')}), "
                 f"p50 {bare['closed']['latency']['p50_ms']} ms; at the same half "
                 f"load p99 {bare['open_same_rate']['latency']['p99_ms']} ms",
                 f"  the Python generator alone tops out at {ceiling['throughput_per_s']} req/s against it "
                 "(used only for the open-loop latency runs, far below that)"]
    for r in result["results"]:
        closed, opened = r["closed"], r["open_half_load"]
        lines += [
            f"{r['backend']} ({r['workers']} worker(s){', sender process' if r['sender_process'] else ''}"
            f"{', unlimited sends' if r['unlimited_sends'] else ''}): {closed['throughput_per_s']} concerns/s sustained "
            f"(c={args.concurrency}, {closed.get('generator', 'python')}, "
            f"{closed['ok']}/{closed['requests']} ok; target >= {TARGET_RATE:g}: "
            f"{verdict(closed['throughput_per_s'] >= TARGET_RATE)}), p50 {closed['latency']['p50_ms']} ms, "
            f"p99 {closed['latency']['p99_ms']} ms; server CPU {closed['server_cpu_ms_per_concern']} ms a concern",
            f"  at half load ({opened['rate']:g}/s asked, {opened['requests'] / opened['elapsed_s']:.1f}/s "
            f"sent): p50 {opened['latency']['p50_ms']} ms, "
            f"p99 {opened['latency']['p99_ms']} ms (target < {TARGET_P99_MS:g}: "
            f"{verdict(opened['latency']['p99_ms'] < TARGET_P99_MS)}); by channel: "
            + ", ".join(f"{k} p99 {v['p99_ms']} ms" for k, v in opened["by_channel"].items()),
            f"  share of the wrk-measured bare endpoint: {r['share_of_bare']} (target: printed as measured, "
            f"in the same run); linking webhooks {r['linking_per_s']}/s",
            f"  written: {r['written']}",
            f"  server CPU by process (ms a concern): {closed['cpu_ms_per_concern_by_process']}; outbox during "
            f"the sustained run: {closed['outbox']}; at half load: {opened['outbox']}",
        ]
        if closed.get("wrapped"):
            lines.append(f"  WARNING: wrk outran its {closed['distinct_requests']} unique updates "
                         f"({closed['wrapped']} repeats were answered as duplicates)")
        if "scale_vs_one_worker" in r:
            lines.append(f"  two web workers against one: {r['scale_vs_one_worker']}x "
                         f"(target >= 1.6: {verdict(r['scale_vs_one_worker'] >= 1.6)})")
        if r["profile"] and "self" in r["profile"]:
            lines.append(f"  py-spy ({r['profile']['samples']} samples), innermost project frames:")
            lines += [f"    {pct:5.1f}%  {frame}" for frame, pct in r["profile"]["innermost_project_frame"][:10]]
            lines.append("  own time by package:")
            lines += [f"    {pct:5.1f}%  {name}" for name, pct in r["profile"]["self_by_package"][:10]]
            lines.append("  libraries (inclusive):")
            lines += [f"    {pct:5.1f}%  {frame}" for frame, pct in r["profile"]["inclusive_libraries"][:10]]
    if result["postgresql_skipped"]:
        lines.append(f"postgresql: skipped ({result['postgresql_skipped']})")
    report("inbound", result, lines, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
