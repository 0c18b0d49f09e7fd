"""Benchmark: optimal meeting slot assignment against first-come-first-served.

A seeded, realistic school-wide consultation week: 60 slots of 20 minutes (Saturday and Sunday
mornings, weekday afternoons and evenings), each seating as many families as teachers are on
duty, and 1,000 families from 30 classes. Many families can only come at weekends or in the
evening, some state no availability at all, and some have a sibling already booked with another
class's teacher (that slot is blocked, the ones touching it are "near").

Reports the time ``assign`` takes, families placed inside their availability by ``assign``, by
first-come-first-served (families in the order they answered) and the max-flow bound, and the
ratios. Run from the repository root::

    .venv/bin/python -m bench.slot_assignment [--json] [--seed N] [--families N] ...
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from scheduler.assignment import (
    Assignment,
    FamilyDemand,
    SlotSupply,
    assign,
    first_come_first_served,
    max_matched_bound,
)

SLOT_MINUTES = 20
FIRST_SATURDAY = datetime(2026, 12, 12)
TARGET_SECONDS = 2.0


def make_slots(count: int, rnd: random.Random) -> list[SlotSupply]:
    """``count`` slots cycling over a week: weekend mornings first (the week starts on
    Saturday, as report-card weeks do), then weekday afternoons and evenings."""
    # (day offset from Saturday, first start, slots that day); preferred = weekend or evening.
    pattern = [(0, (8, 0), 10), (1, (8, 0), 10)]
    for weekday in range(2, 7):
        pattern += [(weekday, (14, 0), 4), (weekday, (19, 0), 4)]
    slots: list[SlotSupply] = []
    week = 0
    while len(slots) < count:
        for day, (hour, minute), many in pattern:
            start = FIRST_SATURDAY + timedelta(days=7 * week + day, hours=hour, minutes=minute)
            for k in range(many):
                if len(slots) == count:
                    break
                at = start + timedelta(minutes=SLOT_MINUTES * k)
                preferred = day < 2 or hour >= 18
                on_duty = rnd.randint(14, 22)  # teachers at their desks in that slot
                slots.append(
                    SlotSupply(
                        len(slots) + 1, on_duty, at, at + timedelta(minutes=SLOT_MINUTES), preferred
                    )
                )
        week += 1
    return slots


def _window(ids: list[int], rnd: random.Random) -> set[int]:
    """A contiguous part (at least a third) of one day's slots: "Saturday 8 to 10"."""
    if not ids:
        return set()
    length = rnd.randint(max(1, len(ids) // 3), len(ids))
    first = rnd.randint(0, len(ids) - length)
    return set(ids[first : first + length])


def make_families(
    count: int, classes: int, slots: list[SlotSupply], rnd: random.Random
) -> list[FamilyDemand]:
    """Families with a seeded mix of availability profiles, some with a booked sibling."""
    by_part: dict[tuple[datetime, str], list[int]] = {}
    for s in slots:
        part = "weekend" if s.starts_at.weekday() >= 5 else ("evening" if s.preferred else "day")
        by_part.setdefault((s.starts_at.replace(hour=0, minute=0), part), []).append(s.id)
    weekend = [ids for (_, part), ids in by_part.items() if part == "weekend"]
    evening = [ids for (_, part), ids in by_part.items() if part == "evening"]
    daytime = [ids for (_, part), ids in by_part.items() if part == "day"]
    every = [s.id for s in slots]
    # Back to back: a slot ending as the sibling's starts, or starting as it ends.
    neighbours = {
        a.id: {b.id for b in slots if b.ends_at == a.starts_at or b.starts_at == a.ends_at}
        for a in slots
    }

    def some(groups: list[list[int]], most: int) -> set[int]:
        chosen = rnd.sample(groups, k=min(len(groups), rnd.randint(1, most)))
        return set().union(*(_window(ids, rnd) for ids in chosen))

    families: list[FamilyDemand] = []
    for n in range(count):
        roll = rnd.random()
        fitting: set[int] | None
        if roll < 0.30:
            fitting = some(weekend, 2)  # works all week
        elif roll < 0.55:
            fitting = some(evening, 3)  # works days
        elif roll < 0.65:
            fitting = some(weekend, 2) | some(evening, 2)
        elif roll < 0.85:
            fitting = set(rnd.sample(every, k=int(len(every) * rnd.uniform(0.4, 0.9))))
        elif roll < 0.90:
            fitting = some(daytime, 3)  # shift workers, free in the afternoon
        else:
            fitting = None  # never answered the availability question
        blocked: set[int] = set()
        near: set[int] = set()
        if rnd.random() < 0.15:  # a sibling already booked with another class's teacher
            sibling_slot = rnd.choice(every)
            blocked = {sibling_slot}
            near = neighbours[sibling_slot]
        families.append(
            FamilyDemand(
                f"kelas{n % classes + 1:02}-keluarga{n // classes + 1:03}",
                None if fitting is None else frozenset(fitting),
                frozenset(blocked),
                frozenset(near),
            )
        )
    rnd.shuffle(families)  # the order they answered in, which first-come-first-served follows
    return families


def _row(result: Assignment) -> dict[str, int]:
    return {
        "matched": result.matched,
        "assigned": result.assigned,
        "unassigned": result.unassigned,
        "near_sibling": result.near,
        "preferred": result.preferred,
    }


def run(families: int, slots: int, classes: int, seed: int, repeat: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    slot_list = make_slots(slots, rnd)
    family_list = make_families(families, classes, slot_list, rnd)

    timings: list[float] = []
    best: Assignment | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        best = assign(slot_list, family_list)
        timings.append(time.perf_counter() - started)
    assert best is not None
    started = time.perf_counter()
    fcfs = first_come_first_served(slot_list, family_list)
    fcfs_seconds = time.perf_counter() - started
    bound = max_matched_bound(slot_list, family_list)

    return {
        "seed": seed,
        "families": families,
        "slots": slots,
        "classes": classes,
        "seats": sum(s.capacity for s in slot_list),
        "no_availability": sum(f.fitting is None for f in family_list),
        "with_sibling_booking": sum(bool(f.near or f.blocked) for f in family_list),
        "bound": bound,
        "assign": {**_row(best), "seconds": statistics.median(timings), "runs": timings},
        "first_come_first_served": {**_row(fcfs), "seconds": fcfs_seconds},
        "assign_over_bound": best.matched / bound if bound else 1.0,
        "fcfs_over_bound": fcfs.matched / bound if bound else 1.0,
        "optimal": best.matched == bound,
        "under_target": statistics.median(timings) < TARGET_SECONDS,
    }


def table(report: dict[str, Any]) -> str:
    opt, fcfs = report["assign"], report["first_come_first_served"]
    lines = [
        f"{report['families']} families, {report['slots']} slots ({report['seats']} seats), "
        f"{report['classes']} classes, seed {report['seed']}: "
        f"{report['no_availability']} without stated availability, "
        f"{report['with_sibling_booking']} with a sibling booking",
        "",
        f"{'':26}{'matched':>9}{'/ bound':>9}{'assigned':>10}{'near':>6}{'weekend/eve':>13}"
        f"{'seconds':>10}",
    ]
    for name, row, ratio in [
        ("assign (min-cost flow)", opt, report["assign_over_bound"]),
        ("first come, first served", fcfs, report["fcfs_over_bound"]),
    ]:
        lines.append(
            f"{name:26}{row['matched']:>9}{ratio:>9.1%}{row['assigned']:>10}"
            f"{row['near_sibling']:>6}{row['preferred']:>13}{row['seconds']:>10.3f}"
        )
    lines.append(f"{'max-flow bound':26}{report['bound']:>9}")
    lines.append("")
    verdict = "optimal (== bound)" if report["optimal"] else "NOT optimal"
    speed = "under" if report["under_target"] else "OVER"
    lines.append(
        f"assign: {verdict}, median {opt['seconds']:.3f} s of {len(opt['runs'])} runs, "
        f"{speed} the {TARGET_SECONDS:.0f} s target; "
        f"{opt['matched'] - fcfs['matched']} more families inside their availability than FCFS"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=60)
    parser.add_argument("--classes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20261212)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of assign (median)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = run(args.families, args.slots, args.classes, args.seed, max(args.repeat, 1))
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0 if report["optimal"] and report["under_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
