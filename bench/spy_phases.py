"""Where a server's CPU goes, by phase of a concern, from py-spy's raw stacks.

Each sample is given to the phase of its innermost frame that names one (the work being done:
a cache key computed inside a flush counts as "cache key"); the frames of the router and the
templates claim everything below them. "Inclusive" shares count a sample once for each of a few
frames anywhere in its stack (all a flush costs, all the ORM costs...). Idle samples (the event
loop waiting in ``select``/``epoll``) are counted apart; the shares are of the busy samples.

Run from the repository root: ``.venv/bin/python -m bench.spy_phases FILE [FILE ...]`` (files
kept by ``bench.inbound --profile --profile-out DIR``).
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

IDLE = ("select (selectors.py", "poll (selectors.py", "_worker (", "wait (threading.py")

CLAIMING = [("router (model, lexicon)", ("handlers/router_model.py", "handlers/classifier.py")),
            ("templates (Jinja)", ("jinja2/", "templates/render.py"))]
INCLUSIVE = [("ORM flush (unit of work)", ("Session.flush (",)),
             ("ORM execute (session.execute/get, loading included)", ("Session.execute (", "Session.get (")),
             ("commit", ("commit (",)),
             ("any SQLAlchemy / sqlmodel / driver", ("sqlalchemy/", "sqlmodel/", "aiosqlite/", "asyncpg/"))]
# (phase, substrings of a frame), tried on each frame from the innermost out; the first match wins.
PHASES: list[tuple[str, tuple[str, ...]]] = [
    ("SQL: cache key", ("cache_key.py", "_gen_cache_key", "_generate_cache_key")),
    ("SQL: compile", ("sql/compiler.py",)),
    ("SQL: ORM flush (unit of work)", ("unitofwork.py", "orm/persistence.py", "orm/dependency.py")),
    ("SQL: statement building (coercions)", ("sql/coercions.py", "sql/selectable.py", "sql/elements.py",
                                             "sql/dml.py", "sql/base.py", "sql/operators.py",
                                             "sql/default_comparator.py", "sqlmodel/sql/")),
    ("SQL: driver (sqlite3 / asyncpg)", ("aiosqlite/", "asyncpg/", "dialects/sqlite/aiosqlite.py",
                                        "dialects/postgresql/asyncpg.py", "storage/sqlite_driver.py")),
    ("SQL: ORM result loading (identity map)", ("orm/loading.py", "orm/identity.py", "orm/state.py",
                                                "orm/attributes.py", "orm/strategies.py")),
    ("SQL: ORM execute / session", ("sqlalchemy/orm/",)),
    ("SQL: Core execute / result", ("sqlalchemy/engine/", "sqlalchemy/sql/", "sqlalchemy/util/",
                                    "sqlalchemy/event/", "sqlalchemy/ext/asyncio", "sqlalchemy/pool/",
                                    "sqlmodel/", "greenlet")),
    ("Telegram parse (python-telegram-bot)", ("telegram/",)),
    ("Twilio signature", ("twilio/",)),
    ("logging", ("logging/", "bot/logs.py", "phonenumbers/")),
    ("JSON", ("json/",)),
    ("HTTP (uvicorn, h11, Starlette)", ("uvicorn/", "h11/", "starlette/", "bot/web.py")),
    ("handlers, storage (own code)", ("handlers/", "storage/", "bot/", "domain/")),
    ("asyncio", ("asyncio/",)),
]


def classify(frames: list[str]) -> str:
    for name, markers in CLAIMING:
        if any(marker in frame for frame in frames for marker in markers):
            return name
    for frame in reversed(frames):
        for name, markers in PHASES:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def phases(path: Path) -> tuple[int, int, collections.Counter[str], collections.Counter[str]]:
    busy = idle = 0
    counts: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        innermost = stack.rsplit(";", 1)[-1]
        if any(marker in innermost for marker in IDLE) or "_worker" in stack.split(";", 1)[0]:
            idle += count
            continue
        busy += count
        frames = stack.split(";")
        counts[classify(frames)] += count
        for name, markers in INCLUSIVE:
            if any(marker in frame for frame in frames for marker in markers):
                inclusive[name] += count
    return busy, idle, counts, inclusive


def main(argv: list[str]) -> int:
    for name in argv:
        busy, idle, counts, inclusive = phases(Path(name))
        print(f"{name}: {busy} busy samples, {idle} idle")
        for phase, n in counts.most_common():
            print(f"  {100 * n / max(busy, 1):5.1f}%  {phase}")
        print("  inclusive:")
        for phase, n in inclusive.most_common():
            print(f"  {100 * n / max(busy, 1):5.1f}%  {phase}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
