"""What the slowest webhooks of a traced benchmark run waited on (see ``bench/tracing``).

Reads the JSON lines that ``bench/tracing/sitecustomize.py`` wrote (the last `jembatan serve`,
`jembatan broadcast` and load generator of the folder) and prints: the broadcast command's
transactions (when it held SQLite's write lock, and for how long), then for each of the slowest
webhooks its round trip split into the server's phases (pool wait, BEGIN, statements, COMMIT,
the rest: Python and waiting for the event loop), with what else the server did meanwhile (loop
stalls and their stacks, other tasks' slow statements and commits, GC pauses).

Usage: ``.venv/bin/python -m bench.trace_report DIR [--slowest N]``. Times are in ms from the
load generator's first request.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def _last(folder: Path, role: str) -> list[dict[str, Any]]:
    files = sorted(folder.glob(f"{role}-*.jsonl"), key=os.path.getmtime)
    return [json.loads(line) for line in files[-1].open()] if files else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--slowest", type=int, default=6)
    args = parser.parse_args(argv)
    serve, broadcast, load = (_last(args.folder, role) for role in ("serve", "broadcast", "loadgen"))
    posts = {e["id"]: e for e in load if e["ev"] == "post"}
    if not posts or not serve:
        raise SystemExit(f"{args.folder}: no traced load generator or server")
    origin = min(e["t"] for e in posts.values())

    def at(t: float) -> str:
        return f"{(t - origin) * 1000:8.1f}"

    print("== jembatan broadcast: transactions")
    for e in broadcast:
        if e["ev"] in ("start", "exit"):
            print(at(e["t"]), e["ev"], f"cpu {e['cpu']:.2f} s" if "cpu" in e else "")
        elif e["ev"] == "sql" and (e["kind"].startswith("BEGIN") or e["d"] > 0.005):
            print(at(e["t"]), e["kind"], f"{e['d'] * 1000:.1f} ms", e.get("stmt", "")[:60].replace("\n", " "))
        elif e["ev"] == "commit":
            print(at(e["t"]), "COMMIT", f"{e['d'] * 1000:.1f} ms (ends {at(e['t'] + e['d']).strip()})")

    timed = sorted(((posts[q["id"]]["d"], q, posts[q["id"]]) for q in serve
                    if q["ev"] == "req" and q.get("id") in posts), key=lambda x: -x[0])
    ordered = sorted(x[0] for x in timed)
    print(f"== {len(timed)} webhooks: p50 {ordered[len(ordered) // 2] * 1000:.1f} ms, "
          f"max {ordered[-1] * 1000:.1f} ms; the slowest:")
    for latency, q, post in timed[:args.slowest]:
        sql = q.get("sql", [])
        pool = sum(d for _, d in q.get("pool", []))
        begin = sum(d for _, d, kind in sql if kind.startswith("BEGIN"))
        commit = sum(d for _, d, kind in sql if kind == "COMMIT")
        statements = sum(d for _, d, kind in sql if not kind.startswith("BEGIN") and kind != "COMMIT")
        inside = q["t1"] - q["t0"]
        print(f"{latency * 1000:.1f} ms, sent at {at(post['t']).strip()}: reached the server after "
              f"{(q['t0'] - post['t']) * 1000:.1f} ms; in it {inside * 1000:.1f} ms = pool wait {pool * 1000:.1f}"
              f" + BEGIN {begin * 1000:.1f} + {len(sql)} statements {statements * 1000:.1f} + COMMIT "
              f"{commit * 1000:.1f} + the rest {(inside - pool - begin - commit - statements) * 1000:.1f}")
        for start, d, kind in sql:
            if d > 0.002:
                print(f"    its {kind} at {at(start).strip()}: {d * 1000:.1f} ms")
        began, ended = post["t"], post["t"] + latency
        for e in serve:
            if e["ev"] in ("stall", "gc", "pool_wait", "commit", "sql") and e.get("d", 0) > 0.004 \
                    and e["t"] < ended and e["t"] + e["d"] > began:
                what = (f"{e['stacks'][0][1]} samples: " + " <- ".join(e["stacks"][0][0].split(" <- ")[:8])
                        if e["ev"] == "stall" and e["stacks"] else
                        f"gen {e['gen']}" if e["ev"] == "gc" else f"{e.get('kind', '')} {e.get('task', '')}")
                print(f"    meanwhile {e['ev']} at {at(e['t']).strip()}, {e['d'] * 1000:.1f} ms: {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
