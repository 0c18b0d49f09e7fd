"""Every target of issue 18 next to its figure, from the benchmarks ``make bench`` just ran.

Each benchmark appends its JSON document to ``BENCH_RESULTS`` (see ``bench.common.report``); this
reads that file and prints one table: figure, target, verdict. A benchmark that did not run (or a
backend it skipped) shows as "not measured".

Run from the repository root: ``.venv/bin/python -m bench.summary FILE``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import verdict


def _load(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if line.strip():
            document = json.loads(line)
            found[document["benchmark"]] = document
    return found


def rows(found: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(what, figure, target, verdict) for each target of the issue."""
    out: list[tuple[str, str, str, str]] = []
    inbound = found.get("inbound", {})
    results = inbound.get("results", [])
    for backend in ("sqlite", "postgresql"):
        one = next((r for r in results if r["backend"] == backend and r.get("workers", 1) == 1), None)
        if one is None:
            out.append((f"concerns/s, one worker, {backend}", "not measured", ">= 200 (aim 500)", "-"))
            continue
        rate = one["closed"]["throughput_per_s"]
        p99 = one["open_half_load"]["latency"]["p99_ms"]
        out.append((f"concerns/s, one worker, {backend}", f"{rate}/s", ">= 200 (aim 500)",
                    verdict(rate >= 200)))
        out.append((f"p99 at half load, {backend}", f"{p99} ms", "< 50 ms", verdict(p99 < 50)))
        out.append((f"share of the wrk-measured bare endpoint, {backend}", f"{one['share_of_bare']}",
                    "printed honestly", "-"))
    two = next((r for r in results if r.get("scale_vs_one_worker") is not None), None)
    out.append(("two workers vs one (PostgreSQL)", f"{two['scale_vs_one_worker']}x" if two else "not measured",
                ">= 1.6x", verdict(two["scale_vs_one_worker"] >= 1.6) if two else "-"))
    if inbound.get("bare"):
        out.append(("bare Starlette (wrk), same run", f"{inbound['bare']['closed']['throughput_per_s']} req/s",
                    "(reference)", "-"))
    for r in found.get("broadcast", {}).get("results", []):
        p99 = r["webhooks_during_broadcast"]["latency"]["p99_ms"]
        where = f"{r['channel']}, {r.get('backend', 'sqlite')}"
        out.append((f"inbound p99 during a {r['broadcast']['recipients']}-family broadcast ({where})",
                    f"{p99} ms", "< 100 ms", verdict(p99 < 100)))
        out.append((f"  `jembatan broadcast` enqueue ({where})", f"{r['enqueue_s']} s", "(write lock)", "-"))
    for r in found.get("footprint", {}).get("results", []):
        worst = max(r["healthy"]["rss_mb"], r["after_traffic"]["peak_rss_mb"])
        out.append((f"start-up to a healthy /healthz ({r['setup']})", f"{r['startup_median_s']} s "
                    f"(CPU {r['startup_cpu_median_s']} s)", "< 1 s", verdict(r["startup_median_s"] < 1.0)))
        out.append((f"RSS with the learned router loaded ({r['setup']})", f"{worst} MB", "< 200 MB",
                    verdict(worst < 200)))
    profile = found.get("profile_inbound", {})
    if profile:
        kinds = [v for k, v in profile["per_kind"].items() if "_concern_" in k]
        statements = max(k["statements_per_message"] for k in kinds)
        commits = max(k["commits_per_message"] for k in kinds)
        cpu = sum(k["cpu_ms_per_message"] for k in kinds) / len(kinds)
        out.append(("SQL statements per concern (in process)", f"{statements}", "(was 31)", "-"))
        out.append(("commits per concern", f"{commits}", "(was 2)", "-"))
        out.append(("CPU per concern (in process, mean of the kinds)", f"{cpu:.1f} ms",
                    "~5 ms for 200/s", verdict(cpu <= 5.0)))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    found = _load(Path(args[0] if args else "var/bench-results.jsonl"))
    table = rows(found)
    width = max(len(what) for what, *_ in table)
    print("== issue 18 targets (figures from this `make bench` run)")
    for what, figure, target, ok in table:
        print(f"   {what:{width}s}  {figure:>22s}  target {target:18s} {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
