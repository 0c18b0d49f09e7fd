"""Benchmark: an announcement to 1,000 families through a real `jembatan serve`, against fakes
that enforce the platforms' limits, while parents keep writing.

For each channel (Telegram at 30 messages/s and 1/s per chat; WhatsApp at a Twilio MPS):

1. a roster of N one-child families is generated, migrated into a fresh SQLite file (and, with
   PostgreSQL reachable at ``--pg-url``, into that emptied database) and imported with
   `jembatan roster import`;
2. every family links (Telegram: shares its own contact; WhatsApp: writes "menu"), and so does
   the staff — served by a `jembatan serve` allowed to send fast, against unlimited fakes;
3. `jembatan serve` is restarted with the real limits, and the fakes start enforcing them; it
   answers a few concerns first (warm; the first one's round trip is printed as the cold one);
4. a load generator (another process) posts parents' concerns at a steady rate to the webhook,
   from a second before `jembatan broadcast --audience grade:7 --urgent` freezes the N
   recipients (so its reading, rendering and writing count too) until the announcement is
   mostly out.

Figures: how long the announcement took against the ideal (every message the sender delivered
in that time, divided by the limit — the concerns' answers share the budget), the same for the
announcement alone, the platform's 429s (target 0), exactly-once delivery, and the webhook
round-trip latency of the concerns posted meanwhile (target p99 < 100 ms).

Run from the repository root: ``.venv/bin/python -m bench.broadcast [--json] [--families N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Server,
    School,
    greet_whatsapp_requests,
    jembatan,
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
    twilio_request,
    verdict,
    whatsapp_form,
    write_school,
)
from bench.loadgen import build_requests
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.twilio_api import FakeTwilioAPI

TEXT = "Pembagian rapor semester ganjil hari Sabtu pukul 08.00 di kelas masing-masing. Terima kasih."
TARGET_RATIO = 0.95
TARGET_P99_MS = 100.0
TELEGRAM_RATE = 30  # Telegram: about 30 messages a second per bot
TELEGRAM_CHAT_RATE = 1.0  # and about one a second to one chat
WARM_UP = 10  # concerns answered by the restarted server before the measured load (not counted)
WARM_UP_AFTER_S = 2.0  # and after its start-up's own preloads (the router's model a second in)
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/jb_bench"


async def _wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


async def _drained(count: Any, timeout: float, what: str) -> None:
    """Wait until ``count()`` stops growing for a second (the outbox has been delivered)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        now_count = count()
        if now_count != last:
            last, since = now_count, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def _load_spec(url: str, channel: str, school: School, rate: float, duration: float,
               auth_token: str | None) -> dict[str, Any]:
    families = range(len(school.guardians))
    spec: dict[str, Any] = {"url": url, "mode": "open", "rate": rate, "duration": duration,
                            "concurrency": 32, "update_id_start": 90_000_000}
    if channel == "telegram":
        spec["telegram"] = {"users": [school.telegram_user(n) for n in families]}
    else:
        spec["whatsapp"] = {"phones": list(school.guardians), "auth_token": auth_token}
    return spec


async def run_channel(channel: str, *, families: int, rate: float, load_rate: float, tolerance: float,
                      workdir: Path, database: str, warm_up: int = WARM_UP,
                      latency: float = 0.0) -> dict[str, Any]:
    """Link, restart with limits, announce under load; return this channel's figures."""
    school = write_school(workdir / "roster", families)
    backend = "postgresql" if database.startswith("postgresql") else "sqlite"
    if backend == "postgresql":
        reset_postgres(database)
    telegram = FakeBotAPI(tolerance=tolerance) if channel == "telegram" else None
    twilio = FakeTwilioAPI(tolerance=tolerance) if channel == "whatsapp" else None
    fake: Any = telegram or twilio
    async with fake:
        env = service_env(database, telegram=telegram, twilio=twilio)
        imported = await prepare_database(database, school, cwd=workdir, env=env)

        # Linking: every family and staff member, served without limits (setup, not measured).
        fast = {"TELEGRAM_RATE_PER_SECOND": "2000", "TELEGRAM_CHAT_RATE_PER_SECOND": "100",
                "TWILIO_MESSAGES_PER_SECOND": "2000"}
        server = Server.jembatan({**env, **fast}, workdir, workdir / "serve-link.log")
        await server.start()
        try:
            if telegram is not None:
                requests = (link_telegram_requests(school, range(families), 1)
                            + link_staff_requests(school, 10 * families))
            else:
                assert twilio is not None
                requests = greet_whatsapp_requests(school, range(families), twilio.auth_token) + [
                    ("/webhooks/whatsapp", *twilio_request("/webhooks/whatsapp", whatsapp_form(phone, "menu"),
                                                           twilio.auth_token))
                    for phone in school.staff]
            failed = await post_all(server.url, requests)
            if failed:
                raise RuntimeError(f"{failed} linking webhooks failed; see {server.log}")
            await _drained(lambda: len(fake.sent), 300, "the welcome messages")
        finally:
            await server.stop()

        # The measured run: real limits on both sides, and the platform's round trip if asked.
        fake.latency = latency
        if telegram is not None:
            telegram.flood.rate_limit = int(rate)
            telegram.flood.chat_rate_limit = TELEGRAM_CHAT_RATE
            limits = {"TELEGRAM_RATE_PER_SECOND": str(rate)}
        else:
            assert twilio is not None
            twilio.mps = rate
            limits = {"TWILIO_MESSAGES_PER_SECOND": str(rate)}
        server = Server.jembatan({**env, **limits}, workdir, workdir / "serve.log")
        await server.start()
        try:
            # A restarted server's first answers pay for what it reads on first use (compiled
            # SQL, templates, prepared statements): that is start-up, printed apart. The figure
            # is a running server's answers while it announces (BENCHMARKS.md).
            first_webhook_ms = await _warm_up(server.url, channel, school, twilio.auth_token if twilio else None,
                                              warm_up) if warm_up else None
            sent_before, log_before = len(fake.sent), len(fake.send_log)
            throttled_before = fake.throttled
            # Parents write from before `jembatan broadcast` starts (while it reads, renders and
            # writes the rows) until the announcement is mostly out.
            duration = families / rate * 0.8 + 5
            load = asyncio.create_task(loadgen(_load_spec(
                server.url, channel, school, load_rate, duration, twilio.auth_token if twilio else None)))
            await asyncio.sleep(1.0)
            began = time.monotonic()
            created = await _broadcast(env, workdir)
            enqueued = time.monotonic()

            def announced() -> list[dict[str, Any]]:
                return [m for m in fake.sent[sent_before:] if TEXT in (m.get("text") or m.get("Body") or "")]

            await _wait_until(lambda: len(announced()) >= created["recipients"],
                              families / rate * 4 + 60, "every announcement")
            loaded = await load
            await _drained(lambda: len(fake.sent), 120, "the concerns' answers")
        finally:
            await server.stop()

    # The fakes log every accepted send in the order they append it to ``sent``: pair them up.
    times = [entry["at"] for entry in fake.send_log[log_before:] if entry["status"] in (200, 201)]
    key = "chat_id" if channel == "telegram" else "To"
    announcements = announced()
    arrivals = [at for at, message in zip(times, fake.sent[sent_before:], strict=True)
                if TEXT in (message.get("text") or message.get("Body") or "")]
    # From the moment the rows were committed (the command may still be exiting when the sender
    # starts) to the last family reached.
    start, last = min(enqueued, arrivals[0]), arrivals[-1]
    span = last - start
    in_span = sum(1 for at in times if start <= at <= last)
    per_recipient = Counter(m[key] for m in announcements)
    return {
        "channel": channel,
        "backend": backend,
        "families": families,
        "limit_per_s": rate,
        "roster_import": imported,
        "broadcast": created,
        "enqueue_s": round(enqueued - began, 3),
        "duration_s": round(span, 2),
        "ideal_s": round(in_span / rate, 2),
        "ratio": round(in_span / rate / span, 3) if span > 0 else 0.0,
        "announcement_only_ideal_s": round(len(announcements) / rate, 2),
        "announcement_only_ratio": round(len(announcements) / rate / span, 3) if span > 0 else 0.0,
        "messages_in_span": in_span,
        "delivered_once": len(per_recipient) == created["recipients"] and set(per_recipient.values()) == {1},
        "duplicates": sum(count - 1 for count in per_recipient.values()),
        "platform_429s": fake.throttled - throttled_before,
        "startup_s": round(server.started_in or 0.0, 3),
        "first_webhook_after_start_ms": first_webhook_ms,
        "webhooks_during_broadcast": loaded,
    }


async def _warm_up(url: str, channel: str, school: School, auth_token: str | None, count: int) -> float:
    """Post one concern at once (its round trip is returned, in ms), then, a moment later, a
    few more one by one, none of them counted in the figures."""
    spec = _load_spec(url, channel, school, 1.0, 1.0, auth_token)
    requests = build_requests({**spec, "update_id_start": 80_000_000, "seed": 7}, count)
    times = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for n, (_, path, body, headers) in enumerate(requests):
            began = time.perf_counter()
            response = await client.post(path, content=body, headers=headers)
            times.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise RuntimeError(f"warm-up concern answered {response.status_code}")
            if n == 0:
                await asyncio.sleep(WARM_UP_AFTER_S)
    return round(times[0] * 1000, 1)


async def _broadcast(env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """`jembatan broadcast` to grade 7 (every family), urgent so a night run is not deferred."""
    return await jembatan("broadcast", "--audience", "grade:7", "--text", TEXT, "--author", "C-01",
                          "--urgent", "--json", env=env, cwd=workdir)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    backends = [backend for backend in args.databases
                if backend == "sqlite" or (args.pg_url and postgres_ready(args.pg_url))]
    results = []
    for backend in backends:
        for channel in args.channels:
            rate = TELEGRAM_RATE if channel == "telegram" else args.wa_mps
            with tempfile.TemporaryDirectory(prefix=f"jb-bench-{channel}-") as tmp:
                database = args.pg_url if backend == "postgresql" else sqlite_url(Path(tmp))
                results.append(await run_channel(channel, families=args.families, rate=rate,
                                                 load_rate=args.load_rate, tolerance=args.tolerance,
                                                 workdir=Path(tmp), database=database, warm_up=args.warm_up,
                                                 latency=args.platform_latency_ms / 1000))
    skipped = None if "postgresql" in backends or "postgresql" not in args.databases else \
        f"PostgreSQL not reachable at {args.pg_url}"
    return {"results": results, "postgresql_skipped": skipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--channels", nargs="+", default=["telegram", "whatsapp"],
                        choices=["telegram", "whatsapp"])
    parser.add_argument("--wa-mps", type=float, default=80.0,
                        help="Twilio's MPS for the WhatsApp sender (Twilio's WhatsApp default is 80)")
    parser.add_argument("--load-rate", type=float, default=3.0,
                        help="concerns a second posted to the webhook during the announcement")
    parser.add_argument("--tolerance", type=float, default=0.001,
                        help="seconds of slack the fakes allow before counting a send as too early")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"],
                        help="PostgreSQL is skipped when --pg-url does not answer")
    parser.add_argument("--pg-url", default=DEFAULT_PG,
                        help="the benchmark's own PostgreSQL database ('' to skip); it is emptied")
    parser.add_argument("--warm-up", type=int, default=WARM_UP,
                        help="concerns the restarted server answers before the measured load (0: none, "
                             "as before: its first answers after start-up were then in the figure)")
    parser.add_argument("--platform-latency-ms", type=float, default=0.0,
                        help="each platform answer comes back this much later (the round trip to "
                             "Telegram or Twilio from a school's server; loopback has none)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    lines = []
    for r in result["results"]:
        hooks = r["webhooks_during_broadcast"]
        lines += [
            f"{r['channel']} on {r['backend']}: {r['broadcast']['recipients']} families at {r['limit_per_s']:g}/s",
            f"  announcement took {r['duration_s']} s; ideal {r['ideal_s']} s for the "
            f"{r['messages_in_span']} messages sent meanwhile -> ratio {r['ratio']} "
            f"(target >= {TARGET_RATIO}: {verdict(r['ratio'] >= TARGET_RATIO)})",
            f"  announcement alone: ideal {r['announcement_only_ideal_s']} s -> "
            f"ratio {r['announcement_only_ratio']}",
            f"  429s from the platform: {r['platform_429s']} (target 0: {verdict(r['platform_429s'] == 0)}); "
            f"delivered exactly once: {r['delivered_once']} (duplicates {r['duplicates']})",
            f"  webhooks meanwhile: {hooks['ok']}/{hooks['requests']} ok at {hooks['rate']:g}/s, "
            f"p50 {hooks['latency']['p50_ms']} ms, p99 {hooks['latency']['p99_ms']} ms "
            f"(target p99 < {TARGET_P99_MS:g} ms: {verdict(hooks['latency']['p99_ms'] < TARGET_P99_MS)})",
            f"  enqueueing the announcement (jembatan broadcast): {r['enqueue_s']} s; "
            f"serve healthy after {r['startup_s']} s" + (
                f"; its first webhook (cold, not counted above) {r['first_webhook_after_start_ms']} ms"
                if r["first_webhook_after_start_ms"] is not None else " (no warm-up)"),
        ]
    if result["postgresql_skipped"]:
        lines.append(result["postgresql_skipped"] + ": PostgreSQL skipped")
    report("broadcast", result, lines, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
