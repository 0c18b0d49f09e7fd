"""Benchmark: the router replaying held-out messages, corrected as staff would correct them.

A real database (a fresh SQLite file, or ``--database-url``) with two schools that teach the
same subjects. The held-out part of the routing corpus (tests/data/routing_corpus) is sent, in
order, to school LEARNS through ``handlers.routing.classify_message``; every message that went
to the wrong person, or was asked about where the label says asking was not needed, is corrected
as staff would (``record_correction`` with the right group: a hand-over, or the category the
guardian picked). Then the same messages come back lightly reworded (other greeting and
salutation, chat spelling, lower case: how another parent of the school writes the same thing)
to LEARNS and to school CONTROL, which never corrected anything. Right first time:

- pass 1, first half vs second half (the corpus's messages are all different, so the first
  half's corrections seldom apply to the second);
- pass 2, the reworded messages: LEARNS (with its corrections) vs CONTROL (without).

Also: the learned layer's build time (the n-gram model is trained at first use), the process's
resident memory before and after it (RSS delta), and the time per message through
``classify_message`` (database round trip for the school's corrections included).

Run from the repository root: ``python -m bench.routing_replay [--json]`` (``make bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handlers import router_model, school_memory
from handlers.routing import classify_message
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import School, Staff
from storage.routing_examples import record_correction
from tests.routing_corpus import SUBJECTS, judge, part

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
_GREETING = re.compile(r"^\s*(assalamu'?alaikum( wr\.? ?wb\.?)?|selamat (pagi|siang|sore|malam)|"
                       r"good (morning|afternoon|evening)|halo|hallo|hi|permisi)[\s,.!]*", re.I)
_CHAT = {"saya": "sy", "tidak": "gak", "yang": "yg", "sudah": "udh", "dengan": "dgn",
         "untuk": "utk", "karena": "krn", "belum": "blm", "bagaimana": "gmn", "sekarang": "skrg"}
_SALUTATION = {"bu": "pak", "pak": "bu", "ibu": "bapak", "bapak": "ibu"}


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1024 / 1024


def reword(text: str, n: int) -> str:
    """The same message as another parent might type it: deterministic, per message number."""
    if _GREETING.match(text):
        text = _GREETING.sub("", text, count=1)
    else:
        text = ("Selamat pagi, " if n % 2 else "Assalamualaikum, ") + text
    words = re.split(r"(\W+)", text)
    out = []
    for word in words:
        low = word.lower()
        if low in _SALUTATION:
            out.append(_SALUTATION[low])
        elif low in _CHAT:
            out.append(_CHAT[low])
        else:
            out.append(word)
    return "".join(out).lower()


async def _schools(sessions: Any) -> tuple[int, int]:
    ids = []
    async with sessions() as session:
        for code in ("LEARNS", "CONTROL"):
            school = School(code=code, name=f"Sekolah {code}")
            session.add(school)
            await session.flush()
            assert school.id is not None
            session.add(Staff(school_id=school.id, staff_code="T-001", name="Guru", role="teacher",
                              phone=f"+6281200000{school.id:03d}", subjects=";".join(SUBJECTS)))
            ids.append(school.id)
        await session.commit()
    return ids[0], ids[1]


async def run(database_url: str | None) -> dict[str, Any]:
    rows = part("heldout")
    router_model.configure(router_model.BUILTIN)
    rss_before = rss_mb()
    started = time.perf_counter()
    layer = router_model.learned_layer()
    build_s = time.perf_counter() - started
    rss_after = rss_mb()
    if layer is None:
        raise SystemExit("the learned layer did not load (is scikit-learn installed?)")

    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'replay.db'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        school_memory.forget()
        learns, control = await _schools(sessions)
        timings: list[float] = []
        first: list[bool] = []
        corrections = 0
        for row in rows:
            async with sessions() as session:
                started = time.perf_counter()
                result = await classify_message(session, learns, row["text"])
                timings.append(time.perf_counter() - started)
                verdict = judge(row, result)
                first.append(verdict == "right")
                if verdict != "right":
                    source = "handover" if verdict == "wrong" else "asked"
                    record_correction(session, school_id=learns, text=row["text"],
                                      group=row["group"], source=source, now=NOW)
                    await session.commit()
                    corrections += 1
        again_learns: list[bool] = []
        again_control: list[bool] = []
        for n, row in enumerate(rows):
            text = reword(row["text"], n)
            async with sessions() as session:
                started = time.perf_counter()
                again_learns.append(
                    judge(row, await classify_message(session, learns, text)) == "right")
                timings.append(time.perf_counter() - started)
                again_control.append(
                    judge(row, await classify_message(session, control, text)) == "right")
        await engine.dispose()

    half = len(rows) // 2
    ms = sorted(t * 1000 for t in timings)
    return {
        "messages": len(rows),
        "corrections_recorded": corrections,
        "pass1_right_first_time": sum(first) / len(first),
        "pass1_first_half": sum(first[:half]) / half,
        "pass1_second_half": sum(first[half:]) / (len(first) - half),
        "pass2_reworded_with_corrections": sum(again_learns) / len(rows),
        "pass2_reworded_without_corrections": sum(again_control) / len(rows),
        "model_build_s": round(build_s, 3),
        "rss_before_mb": round(rss_before, 1),
        "rss_delta_mb": round(rss_after - rss_before, 1),
        "ms_per_message_p50": round(statistics.median(ms), 2),
        "ms_per_message_p95": round(ms[int(len(ms) * 0.95) - 1], 2),
        "database": "postgresql" if database_url and "postgres" in database_url else "sqlite",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--database-url", help="an empty, migratable database (default: SQLite)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.database_url))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"routing replay: {result['messages']} held-out messages ({result['database']}), "
          f"{result['corrections_recorded']} corrected as staff would")
    print(f"  pass 1 right first time: {result['pass1_right_first_time']:.1%} "
          f"(first half {result['pass1_first_half']:.1%}, "
          f"second half {result['pass1_second_half']:.1%})")
    print(f"  pass 2, reworded: {result['pass2_reworded_with_corrections']:.1%} with the school's "
          f"corrections, {result['pass2_reworded_without_corrections']:.1%} without")
    print(f"  model: built in {result['model_build_s']:.2f} s, RSS +{result['rss_delta_mb']} MB "
          f"(from {result['rss_before_mb']} MB); per message p50 "
          f"{result['ms_per_message_p50']} ms, p95 {result['ms_per_message_p95']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
