"""Benchmark: the footprint of `jembatan serve` with a 1,000-student school — resident memory and
the time from launch to a healthy ``/healthz``.

Two set-ups on a fresh SQLite file with the roster imported (`jembatan roster import`):

- ``simulator``: no channel configured, as ``make run`` serves the demo;
- ``channels``: Telegram (webhook mode) and WhatsApp configured against the local fakes.

Start-up is measured ``--starts`` times (median; the first launch also compiles bytecode).
Memory is read from /proc through psutil: RSS once healthy, RSS after every family has linked
(Telegram contacts; simulator messages) and a round of concerns, and the peak (VmHWM). Targets:
RSS < 200 MB, start-up < 1 s (the CPU it used by then is printed too: on a shared machine
the wall time stretches with everyone else's load).

Run from the repository root: ``.venv/bin/python -m bench.footprint [--json] [--families N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
    CONCERNS,
    Server,
    link_telegram_requests,
    post_all,
    prepare_database,
    report,
    service_env,
    sqlite_url,
    telegram_headers,
    verdict,
    write_school,
)
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_updates import text_update
from tests.fakes.twilio_api import FakeTwilioAPI

TARGET_RSS_MB = 200.0
TARGET_STARTUP_S = 1.0  # issue 18
MB = 1024 * 1024


def memory(pid: int) -> dict[str, float]:
    """RSS now and its peak so far (VmHWM), in MB."""
    process = psutil.Process(pid)
    rss = process.memory_info().rss / MB
    peak = rss
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1)}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children have used: start-up's own cost,
    which a busy shared machine stretches in wall time but barely changes."""
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def cpu_by_role(pid: int) -> dict[str, float]:
    """CPU time (user + system) of `jembatan serve` by role: ``web`` (the serving process and its
    web workers) and ``background`` (`jembatan scheduler`: the sender, the scheduler)."""
    process = psutil.Process(pid)
    roles = {"web": 0.0, "background": 0.0}
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
            role = "background" if "scheduler" in each.cmdline() else "web"
        except psutil.Error:
            continue
        roles[role] += times.user + times.system
    return roles


def background_pid(pid: int) -> int | None:
    """The background process (`jembatan scheduler`) of a `jembatan serve`, if it has one."""
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "scheduler" in child.cmdline():
                return child.pid
        except psutil.Error:
            continue
    return None


async def _sender_ready(database: str, pid: int, timeout: float = 30) -> None:
    """Until the background process ``pid`` has recorded its sender's first heartbeat."""
    from sqlalchemy import create_engine, text

    from storage.db import sync_url

    engine = create_engine(sync_url(database))
    deadline = time.perf_counter() + timeout
    try:
        while time.perf_counter() < deadline:
            with engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM heartbeat WHERE part = 'sender' AND pid = :pid"),
                                {"pid": pid}).scalar():
                    return
            await asyncio.sleep(0.01)
    finally:
        engine.dispose()
    raise RuntimeError("the background process's sender did not start")


async def measure(setup: str, *, families: int, starts: int, workdir: Path,
                  sender_process: bool = False) -> dict[str, Any]:
    """Launch ``starts`` times for the start-up figure; load the last one for memory."""
    school = write_school(workdir / "roster", families)
    database = sqlite_url(workdir)
    async with FakeBotAPI() as telegram, FakeTwilioAPI() as twilio:
        if setup == "channels":
            env = service_env(database, telegram=telegram, twilio=twilio)
        else:
            env = service_env(database, SIMULATOR="on")
        imported = await prepare_database(database, school, cwd=workdir, env=env)
        startups, cpus, sender_startups = [], [], []
        for attempt in range(starts):
            server = Server.jembatan(env, workdir, workdir / f"serve-{setup}.log",
                                     extra=["--sender-process"] if sender_process else [])
            began = time.perf_counter()
            startups.append(await server.start())
            if sender_process:
                child = None
                while child is None:
                    child = background_pid(server.pid)
                    await asyncio.sleep(0.005)
                await _sender_ready(database, child)
                sender_startups.append(time.perf_counter() - began)
            cpus.append(cpu_seconds(server.pid))
            if attempt < starts - 1:
                await server.stop()
        try:
            healthy = memory(server.pid)
            child = background_pid(server.pid)
            background_healthy = memory(child) if child else None
            if setup == "channels":
                requests = link_telegram_requests(school, range(families), 1)
                requests += [("/webhooks/telegram",
                              json.dumps(text_update(10 * families + n, school.telegram_user(n),
                                                     CONCERNS[n % len(CONCERNS)])).encode(),
                              telegram_headers()) for n in range(0, families, 3)]
            else:
                requests = [("/simulator/api/send",
                             json.dumps({"phone": phone, "text": "menu"}).encode(),
                             {"Content-Type": "application/json"}) for phone in school.guardians]
                requests += [("/simulator/api/send",
                              json.dumps({"phone": school.guardians[n], "text": CONCERNS[n % len(CONCERNS)]}).encode(),
                              {"Content-Type": "application/json"}) for n in range(0, families, 3)]
            failed = await post_all(server.url, requests, concurrency=8)
            await asyncio.sleep(2)  # the sender delivers the answers
            loaded = memory(server.pid)
            background_loaded = memory(child) if child else None
        finally:
            await server.stop()
    return {"setup": setup, "families": families, "students": imported.get("students"),
            "startup_s": [round(s, 3) for s in startups], "startup_median_s": round(statistics.median(startups), 3),
            "startup_cpu_s": [round(c, 3) for c in cpus], "startup_cpu_median_s": round(statistics.median(cpus), 3),
            "healthy": healthy, "after_traffic": loaded, "requests": len(requests), "failed": failed,
            "sender_process": sender_process,
            "sender_startup_median_s": round(statistics.median(sender_startups), 3) if sender_startups else None,
            "background_healthy": background_healthy, "background_after_traffic": background_loaded}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for setup in ("simulator", "channels"):
        with tempfile.TemporaryDirectory(prefix=f"jb-bench-footprint-{setup}-") as tmp:
            results.append(await measure(setup, families=args.families, starts=args.starts, workdir=Path(tmp),
                                         sender_process=args.sender_process))
    return {"results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=3, help="launches timed for the start-up figure")
    parser.add_argument("--sender-process", action="store_true",
                        help="`serve --sender-process`: the background process's start-up and memory too")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    lines = []
    for r in result["results"]:
        worst = max(r["healthy"]["rss_mb"], r["after_traffic"]["peak_rss_mb"])
        lines += [
            f"{r['setup']}: {r['students']} students; start-up to a healthy /healthz "
            f"{r['startup_median_s']} s median of {r['startup_s']} (target < {TARGET_STARTUP_S:g} s: "
            f"{verdict(r['startup_median_s'] < TARGET_STARTUP_S)}); CPU used by then "
            f"{r['startup_cpu_median_s']} s median (wall time on a busy machine is longer)",
            f"  RSS healthy {r['healthy']['rss_mb']} MB; after {r['requests']} requests "
            f"{r['after_traffic']['rss_mb']} MB, peak {r['after_traffic']['peak_rss_mb']} MB "
            f"(target < {TARGET_RSS_MB:g} MB: {verdict(worst < TARGET_RSS_MB)})",
        ]
        if r["sender_process"]:
            lines.append(f"  background process: its sender running {r['sender_startup_median_s']} s after launch "
                         f"(median); RSS healthy {r['background_healthy']['rss_mb']} MB, after the requests "
                         f"{r['background_after_traffic']['rss_mb']} MB, peak "
                         f"{r['background_after_traffic']['peak_rss_mb']} MB")
    report("footprint", result, lines, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
