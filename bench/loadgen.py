"""A load generator for Jembatan's webhooks, run in its own process so it does not share a CPU
slice or an event loop with the server or the fakes.

Guardians post concerns: Telegram updates (secret header) and/or Twilio WhatsApp forms (signed
with Twilio's ``RequestValidator``), every one with a fresh ``update_id`` / ``MessageSid`` so the
server really processes each. Two modes:

- ``closed``: ``concurrency`` workers post back to back for ``duration`` seconds (the sustained
  rate the server can take);
- ``open``: a fixed ``rate`` a second whatever the server does; latency is measured from the
  moment a request was due, so a server that falls behind is not flattered.

Usage: ``python -m bench.loadgen '<spec JSON>'``; prints one JSON document (see ``run``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from typing import Any

import httpx

from bench.common import (
    CONCERNS,
    latency_summary,
    telegram_headers,
    twilio_request,
    whatsapp_form,
)
from tests.fakes.telegram_updates import text_update

Request = tuple[str, str, bytes, dict[str, str]]  # kind, path, body, headers


def build_requests(spec: dict[str, Any], count: int) -> list[Request]:
    """``count`` concern webhooks alternating over the spec's channels and guardians."""
    kinds = [kind for kind in ("telegram", "whatsapp") if spec.get(kind)]
    if not kinds:
        raise ValueError("the spec names no channel (telegram and/or whatsapp)")
    texts = spec.get("texts") or list(CONCERNS)
    update_id = int(spec.get("update_id_start", 50_000_000))
    # Parents from all over the school, not class by class: shuffled, reproducibly.
    shuffle = random.Random(int(spec.get("seed", 20261201))).shuffle
    users: list[int] = list(spec["telegram"]["users"]) if spec.get("telegram") else []
    phones: list[str] = list(spec["whatsapp"]["phones"]) if spec.get("whatsapp") else []
    shuffle(users)
    shuffle(phones)
    out: list[Request] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        turn = i // len(kinds)
        text = texts[turn % len(texts)]
        if kind == "telegram":
            update = text_update(update_id + i, users[turn % len(users)], text)
            out.append((kind, "/webhooks/telegram", json.dumps(update).encode(), telegram_headers()))
        else:
            body, headers = twilio_request("/webhooks/whatsapp", whatsapp_form(phones[turn % len(phones)], text),
                                           spec["whatsapp"]["auth_token"])
            out.append((kind, "/webhooks/whatsapp", body, headers))
    return out


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Post for ``spec["duration"]`` seconds; returns counts, throughput and latency (ms)."""
    mode = spec.get("mode", "closed")
    duration = float(spec["duration"])
    concurrency = int(spec.get("concurrency", 16))
    rate = float(spec.get("rate", 0))
    budget = int(rate * duration) + 1 if mode == "open" else int(spec.get("max_requests", 1500 * duration))
    requests = build_requests(spec, budget)
    latencies: dict[str, list[float]] = {"telegram": [], "whatsapp": []}
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=spec["url"], timeout=30, limits=limits) as client:

        async def one(request: Request, due: float) -> None:
            kind, path, body, headers = request
            try:
                response = await client.post(path, content=body, headers=headers)
                statuses[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                return
            latencies[kind].append(time.perf_counter() - due)

        began = time.perf_counter()
        if mode == "open":
            tasks = []
            for i, request in enumerate(requests):
                due = began + i / rate
                if due >= began + duration:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(request, due)))
            await asyncio.gather(*tasks)
        else:
            position = 0
            deadline = began + duration

            async def worker() -> None:
                nonlocal position
                while position < len(requests) and time.perf_counter() < deadline:
                    request = requests[position]
                    position += 1
                    await one(request, time.perf_counter())

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began

    done = sum(len(values) for values in latencies.values())
    every = latencies["telegram"] + latencies["whatsapp"]
    return {
        "mode": mode, "concurrency": concurrency, "rate": rate or None, "elapsed_s": round(elapsed, 3),
        "requests": done, "statuses": dict(statuses), "ok": statuses.get("200", 0),
        "throughput_per_s": round(statuses.get("200", 0) / elapsed, 1) if elapsed else 0.0,
        "latency": latency_summary(every),
        "by_channel": {kind: latency_summary(values) for kind, values in latencies.items() if values},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="post guardians' concerns to Jembatan's webhooks")
    parser.add_argument("spec", help="JSON: url, mode (closed|open), duration, concurrency, rate, "
                                     "telegram {users}, whatsapp {phones, auth_token}, update_id_start")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(json.loads(args.spec)))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
