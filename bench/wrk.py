"""The closed-loop load generator that is not the ceiling: ``wrk`` (Debian package) with a Lua
script that cycles through webhooks precomputed here.

Python builds the requests once (``bench.loadgen.build_requests``: Telegram updates with unique
``update_id``s, Twilio forms with unique ``MessageSid``s, signed as Twilio signs them) and writes
them as a Lua table; each wrk thread posts its own share of them, in turn, so no request is sent
twice unless the run outlasts the file (``wrapped`` in the result says by how many). wrk's
``done`` hook prints one JSON line with the counts and its latency percentiles.

``make bench`` installs wrk with apt-get when it is missing (as root); without it the benchmarks
fall back to the Python generator and say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.loadgen import Request

SCRIPT = r"""
-- Jembatan's webhooks from a precomputed file (JB_WRK_REQUESTS), each thread its own share.
local reqs = dofile(os.getenv("JB_WRK_REQUESTS"))
local nthreads = tonumber(os.getenv("JB_WRK_THREADS") or "1")
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
end

function request()
  local r = reqs[((id + sent * nthreads) % #reqs) + 1]
  sent = sent + 1
  return wrk.format("POST", r[1], r[2], r[3])
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("sent") end
  local e = summary.errors
  io.write(string.format(
    'JBWRK {"requests":%d,"duration_us":%d,"status_errors":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"issued":%d,' ..
    '"distinct":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    total, #reqs))
end
"""


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def _lua_string(data: bytes) -> str:
    """A Lua string literal holding ``data`` exactly (decimal escapes for anything unusual)."""
    out = []
    for byte in data:
        char = chr(byte)
        if char in '\\"' or byte < 32 or byte > 126:
            out.append(f"\\{byte}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def write_requests(path: Path, requests: Sequence[Request]) -> Path:
    """The requests as a Lua file returning ``{{path, headers, body}, ...}``."""
    with open(path, "w", encoding="ascii") as handle:
        handle.write("return {\n")
        for _kind, url_path, body, headers in requests:
            fields = ", ".join(f"[{_lua_string(k.encode())}] = {_lua_string(v.encode())}"
                               for k, v in headers.items())
            handle.write(f"{{{_lua_string(url_path.encode())}, {{{fields}}}, {_lua_string(body)}}},\n")
        handle.write("}\n")
    return path


async def run_wrk(url: str, requests: Sequence[Request], *, duration: float, connections: int,
                  workdir: Path, threads: int = 1, name: str = "wrk") -> dict[str, Any]:
    """Post ``requests`` (cycled) with wrk for ``duration`` seconds, ``connections`` in flight.

    Returns the shape of ``bench.loadgen.run``'s closed-loop report (``throughput_per_s`` counts
    200-class answers only), plus ``generator``, ``wrapped`` and wrk's own latency percentiles."""
    binary = wrk_binary()
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk, or `make bench` as root)")
    data = write_requests(workdir / f"{name}-requests.lua", requests)
    script = workdir / f"{name}.lua"
    script.write_text(SCRIPT)
    threads = max(1, min(threads, connections))
    env = {**os.environ, "JB_WRK_REQUESTS": str(data), "JB_WRK_THREADS": str(threads)}
    proc = await asyncio.create_subprocess_exec(
        binary, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
        "-s", str(script), url, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    line = next((ln for ln in out.decode().splitlines() if ln.startswith("JBWRK ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.decode()[-1500:]} {err.decode()[-1500:]}")
    raw = json.loads(line.removeprefix("JBWRK "))
    elapsed = raw["duration_us"] / 1e6
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    ok = raw["requests"] - raw["status_errors"]
    return {
        "generator": "wrk", "mode": "closed", "concurrency": connections, "threads": threads,
        "elapsed_s": round(elapsed, 3), "requests": raw["requests"],
        "statuses": {"2xx/3xx": ok, "other": raw["status_errors"], "socket_errors": socket_errors},
        "ok": ok, "throughput_per_s": round(ok / elapsed, 1) if elapsed else 0.0,
        "latency": {"count": raw["requests"], "p50_ms": round(raw["p50_us"] / 1000, 2),
                    "p90_ms": round(raw["p90_us"] / 1000, 2), "p99_ms": round(raw["p99_us"] / 1000, 2),
                    "max_ms": round(raw["max_us"] / 1000, 2)},
        "distinct_requests": raw["distinct"], "wrapped": max(0, raw["issued"] - raw["distinct"]),
    }
