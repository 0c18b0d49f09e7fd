"""Meeting slots: a slot rule expanded into concrete times, merged with explicit slots.

A slot rule (CONTRACT section 6) reads
``{days: [sat, sun], from: "08:00", to: "12:00", minutes: 20, dates: [2026-12-19, 2026-12-20]}``:
every listed date that falls on one of ``days`` gets back-to-back slots of ``minutes`` from
``from`` until ``to``; a last slot that would run past ``to`` is dropped. Times are local to the
school; ``expand_slot_rule`` returns them as timezone-aware UTC. Everything here is pure.
Slots inside weekly free windows are ``scheduler/free_slots.py``.

Day names are English or Indonesian, short or full (``sat``, ``saturday``, ``sab``, ``sabtu``),
or a range of them (``mon-fri``, ``sen-jum``).
A ``dates`` item may also be a range ``2026-12-14..2026-12-27``, so "every weekend of these two
weeks" is one line. ``days`` may be left out: then every listed date counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# The day names office hours accept (0 = Monday), so staff learn one vocabulary.
from domain.office_hours import DAYS as WEEKDAYS

Slot = tuple[datetime, datetime]

RULE_KEYS = ("days", "from", "to", "minutes", "dates")
REQUIRED_RULE_KEYS = ("from", "to", "minutes", "dates")
_CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_RANGE = re.compile(r"^\s*(\S+)\s*\.\.\s*(\S+)\s*$")
# A range longer than this is surely a typo in a year, not a plan.
MAX_RANGE_DAYS = 366


class SlotRuleError(ValueError):
    """One problem in a slot rule: ``field`` is a rule key; ``index`` the list item, if any."""

    def __init__(self, field: str, reason: str, index: int | None = None) -> None:
        super().__init__(field, reason, index)
        self.field = field
        self.reason = reason
        self.index = index

    def __str__(self) -> str:
        where = self.field if self.index is None else f"{self.field}[{self.index}]"
        return f"{where}: {self.reason}"


def parse_weekday(word: str) -> int:
    """0 (Monday) .. 6 (Sunday) for an English or Indonesian day name; ``ValueError`` if unknown."""
    try:
        return WEEKDAYS[word.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown day {word!r} (expected e.g. sat, sun, sab, min)") from None


def parse_days(word: str) -> set[int]:
    """The weekdays of one ``days`` item: a day name, or a range such as ``mon-fri``."""
    first, dash, last = word.partition("-")
    if not dash:
        return {parse_weekday(word)}
    start, stop = parse_weekday(first), parse_weekday(last)
    return {(start + n) % 7 for n in range((stop - start) % 7 + 1)}  # sat-mon wraps the week


def parse_clock(value: object) -> time:
    """``08:00`` (or ``08.00``, ``8:00``) as a time of day; ``ValueError`` otherwise."""
    if isinstance(value, time):
        return value
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a time like \"08:00\", got {value!r}")
    hours, minutes = int(match[1]), int(match[2])
    if hours > 23 or minutes > 59:
        raise ValueError(f"no such time of day: {value!r}")
    return time(hours, minutes)


def parse_date(value: object) -> date:
    """An ISO date (``2026-12-19``) or a ``date``; ``ValueError`` otherwise."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date like 2026-12-19, got {value!r}")


def parse_dates(value: object) -> list[date]:
    """One ``dates`` item: a date, or an inclusive range ``2026-12-14..2026-12-27``."""
    match = _RANGE.match(value) if isinstance(value, str) else None
    if match is None:
        return [parse_date(value)]
    first, last = parse_date(match[1]), parse_date(match[2])
    if last < first:
        raise ValueError(f"the range {value!r} ends before it starts")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ValueError(f"the range {value!r} is longer than a year")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def parse_minutes(value: object) -> int:
    """A positive whole number of minutes; ``ValueError`` otherwise."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number <= 0:
        raise ValueError(f"expected a whole number of minutes above 0, got {value!r}")
    return number


def _items(value: object) -> list[Any]:
    """A YAML list, or one value standing for a list of one; ``days: sat, sun`` as two."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and "," in value:
        return [part for part in value.split(",") if part.strip()]
    return [value]


def check_slot_rule(rule: Mapping[str, Any]) -> list[SlotRuleError]:
    """Every problem in ``rule``, without stopping at the first (empty when it is valid)."""
    problems: list[SlotRuleError] = []
    for key in rule:
        if key not in RULE_KEYS:
            problems.append(SlotRuleError(
                str(key), f"unknown key (a slot rule has {', '.join(RULE_KEYS)})"))
    for key in REQUIRED_RULE_KEYS:
        if rule.get(key) is None:
            problems.append(SlotRuleError(key, "missing"))

    days: set[int] | None = None
    if rule.get("days") is not None:
        days = set()
        names = _items(rule["days"])
        if not names:
            problems.append(SlotRuleError("days", "no day listed (leave days out for every date)"))
        for index, word in enumerate(names):
            if not isinstance(word, str):
                problems.append(SlotRuleError("days", f"expected a day name, got {word!r}", index))
                continue
            try:
                days |= parse_days(word)
            except ValueError as exc:
                problems.append(SlotRuleError("days", str(exc), index))

    clocks: dict[str, time] = {}
    for key in ("from", "to"):
        if rule.get(key) is not None:
            try:
                clocks[key] = parse_clock(rule[key])
            except ValueError as exc:
                problems.append(SlotRuleError(key, str(exc)))
    if len(clocks) == 2 and clocks["from"] >= clocks["to"]:
        problems.append(SlotRuleError(
            "to", f"{clocks['to']:%H:%M} is not after from {clocks['from']:%H:%M}"))

    minutes: int | None = None
    if rule.get("minutes") is not None:
        try:
            minutes = parse_minutes(rule["minutes"])
        except ValueError as exc:
            problems.append(SlotRuleError("minutes", str(exc)))

    dates: list[date] = []
    if rule.get("dates") is not None:
        items = _items(rule["dates"])
        if not items:
            problems.append(SlotRuleError("dates", "no date listed"))
        for index, item in enumerate(items):
            try:
                dates.extend(parse_dates(item))
            except ValueError as exc:
                problems.append(SlotRuleError("dates", str(exc), index))
    if problems:
        return problems

    # The rule reads well; now say why it would give no slot at all, which is surely a mistake.
    assert minutes is not None
    span = datetime.combine(date.min, clocks["to"]) - datetime.combine(date.min, clocks["from"])
    if timedelta(minutes=minutes) > span:
        problems.append(SlotRuleError(
            "minutes", f"{minutes} minutes do not fit between {clocks['from']:%H:%M} and "
                       f"{clocks['to']:%H:%M}"))
    if days is not None and not any(d.weekday() in days for d in dates):
        listed = ", ".join(str(d) for d in dates[:5]) + (", ..." if len(dates) > 5 else "")
        problems.append(SlotRuleError(
            "dates", f"none of the dates ({listed}) falls on the listed days"))
    return problems


def rule_local_slots(rule: Mapping[str, Any]) -> list[Slot]:
    """The rule's slots as naive school-local datetimes, sorted; ``SlotRuleError`` if invalid."""
    problems = check_slot_rule(rule)
    if problems:
        raise problems[0]
    days = ({day for word in _items(rule["days"]) for day in parse_days(word)}
            if rule.get("days") is not None else None)
    start_of_day, end_of_day = parse_clock(rule["from"]), parse_clock(rule["to"])
    step = timedelta(minutes=parse_minutes(rule["minutes"]))
    dates = sorted({d for item in _items(rule["dates"]) for d in parse_dates(item)})
    slots: list[Slot] = []
    for day in dates:
        if days is not None and day.weekday() not in days:
            continue
        start, stop = datetime.combine(day, start_of_day), datetime.combine(day, end_of_day)
        while start + step <= stop:  # a last partial slot is dropped
            slots.append((start, start + step))
            start += step
    return slots


def local_to_utc(moment: datetime, tz: str) -> datetime:
    """A naive school-local time as an aware UTC datetime."""
    if moment.tzinfo is not None:
        raise ValueError("expected a naive local time")
    return moment.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def expand_slot_rule(rule: Mapping[str, Any], tz: str) -> list[Slot]:
    """The rule's slots in the school's timezone ``tz``, as UTC-aware (start, end), sorted.

    Raises ``SlotRuleError`` (a ``ValueError``) naming the first invalid field.
    """
    return [(local_to_utc(start, tz), local_to_utc(end, tz))
            for start, end in rule_local_slots(rule)]


def merge_slots(*groups: Iterable[Slot]) -> list[Slot]:
    """All slots of all groups, identical (start, end) pairs once, sorted by start then end."""
    return sorted({slot for group in groups for slot in group})


def overlaps(first: Slot, second: Slot) -> bool:
    """True when two slots share any moment (touching ends do not count)."""
    return first[0] < second[1] and second[0] < first[1]
