"""Meeting files (CONTRACT section 6): read, check and create a meeting with its slots.

``parse_meeting_file`` checks everything that needs no database and reports every problem at
once as ``FILE:LINE: field: reason``, LINE being the YAML line of the offending key or value
(the file is composed into a node tree, which keeps each node's position). ``create_meeting``
then checks the file against the school's roster (organizer, audience) and writes the meeting
and its slots in one transaction: a meeting is created whole or not at all.

Times in the file are local to the school; slots are stored as UTC. The audience syntax
(CONTRACT section 2) is parsed here too: ``parse_audience``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.slot_rules import (
    RULE_KEYS,
    Slot,
    check_slot_rule,
    local_to_utc,
    merge_slots,
    rule_local_slots,
)
from storage.db import transaction
from storage.models import Meeting, MeetingSlot, School, SchoolClass, Staff, Student, utcnow
from storage.roster import class_grade, normalize_class

MEETING_TYPES = (
    "rapat_komite", "pembagian_rapor", "tahun_ajaran_baru", "persiapan_ujian",
    "pertemuan_khusus", "surat_panggilan", "kunjungan_rumah", "konsultasi",
)
KEYS = ("type", "title", "organizer", "audience", "location", "room_capacity", "reason", "level",
        "bring", "slots", "slot_rule")
# One family at a time is what these meetings are, so room_capacity may be left out (1).
ONE_FAMILY_TYPES = ("surat_panggilan", "konsultasi", "kunjungan_rumah")
# A home visit takes place at the family's home: no location needed.
NO_LOCATION_TYPES = ("kunjungan_rumah",)
# More slots than this is a typo (minutes: 1), not a plan; refuse before writing thousands of rows.
MAX_SLOTS = 2000
_NULL = "tag:yaml.org,2002:null"
_LOCAL_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{1,2})[:.](\d{2})(?::(\d{2}))?$")


# ---------------------------------------------------------------- audience


class AudienceError(ValueError):
    """Audience text not in the form ``school | grade:N | class:NAME | student:NISN,...``."""


@dataclass(frozen=True)
class AudiencePart:
    """One ``+``-joined part of an audience: ``kind`` with its normalized ``values``.

    ``school`` has no values; ``grade`` one grade number as text (``"7"``); ``class`` one class
    name (``"VII-A"``); ``student`` one or more NISNs.
    """

    kind: str  # school | grade | class | student
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.kind if not self.values else f"{self.kind}:{','.join(self.values)}"


AUDIENCE_EXAMPLE = "school, grade:7, class:VII-A or student:NISN[,NISN...], joined with +"


def parse_audience(text: str) -> list[AudiencePart]:
    """The parts of an audience such as ``class:VII-A+student:0071000003``, duplicates once.

    Raises ``AudienceError`` naming the part it cannot read.
    """
    if not text or not text.strip():
        raise AudienceError(f"no audience given (expected {AUDIENCE_EXAMPLE})")
    parts: list[AudiencePart] = []
    for raw in text.split("+"):
        item = raw.strip()
        if not item:
            raise AudienceError(f"empty part in {text.strip()!r} (parts are joined with +)")
        kind, colon, value = (piece.strip() for piece in item.partition(":"))
        kind = kind.lower()
        if kind == "school":
            if value:
                raise AudienceError(f"{item!r}: school takes no value (write just school)")
            part = AudiencePart("school")
        elif kind == "grade":
            grade = int(value) if value.isdigit() else 0
            if not 1 <= grade <= 12:
                raise AudienceError(f"{item!r}: expected a grade number like grade:7")
            part = AudiencePart("grade", (str(grade),))
        elif kind == "class":
            name = normalize_class(value)
            if class_grade(name) is None:
                raise AudienceError(f"{item!r}: expected a class name like class:VII-A")
            part = AudiencePart("class", (name,))
        elif kind == "student":
            nisns = [nisn.strip() for nisn in value.split(",")]
            if not value or not all(nisns) or any(" " in nisn for nisn in nisns):
                raise AudienceError(f"{item!r}: expected NISNs like student:0071000001,0071000002")
            part = AudiencePart("student", tuple(dict.fromkeys(nisns)))
        else:
            raise AudienceError(f"unknown audience {item!r} (expected {AUDIENCE_EXAMPLE})")
        if part not in parts:
            parts.append(part)
    return parts


# ---------------------------------------------------------------- errors and results


class MeetingFileError(Exception):
    """The meeting cannot be created; ``errors`` lists every problem.

    Each reads ``FILE:LINE: field: reason``; ``str()`` is all of them, one per line.
    """

    def __init__(self, errors: list[str], references: MeetingReferences | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)
        # What the file names in the roster (organizer, audience), when it could be read that far:
        # ``create_meeting`` checks those too, so every problem is reported in one go.
        self.references = references


@dataclass
class MeetingReferences:
    """The parts of a meeting file that point into the roster, with the file's lines."""

    source: str
    organizer: str | None
    audience_parts: list[AudiencePart]
    lines: dict[str, int] = field(default_factory=dict)

    def error(self, name: str, reason: str) -> str:
        """A ``FILE:LINE: field: reason`` message at ``name``'s line (line 1 if it has none)."""
        return f"{self.source}:{self.lines.get(name, 1)}: {name}: {reason}"


@dataclass
class MeetingSpec:
    """A meeting file that passed every check that needs no database.

    ``slots`` are naive school-local (start, end) pairs, explicit and rule slots merged and
    sorted. ``lines`` holds the YAML line of each field, for errors found later.
    """

    source: str
    type: str
    title: str
    organizer: str
    audience: str  # as written (stripped)
    audience_parts: list[AudiencePart]
    location: str
    room_capacity: int
    reason: str | None
    bring: str | None
    slots: list[Slot]
    lines: dict[str, int] = field(default_factory=dict)
    level: int | None = None  # surat_panggilan only: 1, 2 or 3 as written (None: the next one)

    def error(self, name: str, reason: str) -> str:
        """A ``FILE:LINE: field: reason`` message at ``name``'s line (line 1 if it has none)."""
        return f"{self.source}:{self.lines.get(name, 1)}: {name}: {reason}"

    def utc_slots(self, tz: str) -> list[Slot]:
        """The slots as UTC-aware datetimes, the file's times read in the timezone ``tz``."""
        return [(local_to_utc(start, tz), local_to_utc(end, tz)) for start, end in self.slots]


@dataclass
class CreatedMeeting:
    """What ``create_meeting`` wrote: the meeting's id and how many slots it has."""

    id: int
    slots: int

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON document for ``jembatan meeting create --json``."""
        return {"id": self.id, "slots": self.slots}


# ---------------------------------------------------------------- reading the YAML


class _Errors:
    """Collects ``FILE:LINE: field: reason`` messages, reported in file order."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[int, int, str]] = []

    def add(self, line: int, name: str, reason: str) -> None:
        self.items.append((line, len(self.items), f"{self.source}:{line}: {name}: {reason}"))

    def __bool__(self) -> bool:
        return bool(self.items)

    def messages(self) -> list[str]:
        return [message for _, _, message in sorted(self.items)]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "text"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def _mapping(node: yaml.MappingNode, name: str, allowed: tuple[str, ...],
             errors: _Errors) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Key -> (key node, value node); unknown, duplicate and non-text keys are errors."""
    found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            errors.add(_line(key_node), name or "key", f"a key must be text, got {_kind(key_node)}")
            continue
        key = key_node.value
        label = f"{name}.{key}" if name else key
        if key not in allowed:
            errors.add(_line(key_node), label, f"unknown key (expected {', '.join(allowed)})")
        elif key in found:
            errors.add(_line(key_node), label,
                       f"given twice (first on line {_line(found[key][0])})")
        else:
            found[key] = (key_node, value_node)
    return found


def _text(node: yaml.Node, name: str, errors: _Errors, *, required: bool = True) -> str | None:
    """A scalar's text as written (``12:00`` stays text), None when absent or empty."""
    if not isinstance(node, yaml.ScalarNode):
        errors.add(_line(node), name, f"expected text, got {_kind(node)}")
        return None
    if _is_null(node) or not str(node.value).strip():
        if required:
            errors.add(_line(node), name, "is empty")
        return None
    return str(node.value).strip()


def _local_time(text: str) -> datetime:
    """``2026-12-19T08:00`` (or ``2026-12-19 08.00``) as a naive school-local datetime."""
    match = _LOCAL_TIME.match(text)
    if match is None:
        if re.search(r"(Z|[+-]\d{2}:?\d{2})$", text) and "T" in text:
            raise ValueError(f"{text!r} has a UTC offset; times are local to the school, "
                             "write them without one")
        raise ValueError(f"expected a local date and time like 2026-12-19T08:00, got {text!r}")
    day, hours, minutes, seconds = match.groups()
    try:
        return datetime.fromisoformat(f"{day}T{int(hours):02d}:{minutes}:{seconds or '00'}")
    except ValueError:
        raise ValueError(f"no such date and time: {text!r}") from None


def _span(slot: Slot) -> str:
    start, end = slot
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


@dataclass
class _Placed:
    """A slot with where it came from, for overlap messages."""

    slot: Slot
    line: int
    name: str  # slots | slot_rule


def _read_slots(node: yaml.Node, errors: _Errors) -> list[_Placed]:
    if _is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        errors.add(_line(node), "slots",
                   f"expected a list of {{start: ..., end: ...}}, got {_kind(node)}")
        return []
    placed: list[_Placed] = []
    for item in node.value:
        if not isinstance(item, yaml.MappingNode):
            errors.add(_line(item), "slots",
                       f"expected {{start: 2026-12-19T08:00, end: 2026-12-19T08:20}}, "
                       f"got {_kind(item)}")
            continue
        keys = _mapping(item, "slots", ("start", "end"), errors)
        times: dict[str, datetime] = {}
        for key in ("start", "end"):
            if key not in keys:
                errors.add(_line(item), f"slots.{key}", "missing")
                continue
            value_node = keys[key][1]
            text = _text(value_node, f"slots.{key}", errors)
            if text is None:
                continue
            try:
                times[key] = _local_time(text)
            except ValueError as exc:
                errors.add(_line(value_node), f"slots.{key}", str(exc))
        if len(times) == 2:
            if times["end"] <= times["start"]:
                errors.add(_line(keys["end"][1]), "slots.end",
                           f"{times['end']:%Y-%m-%d %H:%M} is not after start "
                           f"{times['start']:%Y-%m-%d %H:%M}")
            else:
                placed.append(_Placed((times["start"], times["end"]), _line(item), "slots"))
    return placed


def _read_rule(node: yaml.Node, errors: _Errors) -> list[_Placed]:
    """One slot rule's slots, its problems reported at the line of the offending value."""
    if not isinstance(node, yaml.MappingNode):
        errors.add(_line(node), "slot_rule",
                   "expected {days: [...], from: \"08:00\", to: \"12:00\", minutes: 20, "
                   f"dates: [...]}}, got {_kind(node)}")
        return []
    keys = _mapping(node, "slot_rule", RULE_KEYS, errors)
    rule: dict[str, Any] = {}
    lines: dict[str, int] = {}
    item_lines: dict[str, list[int]] = {}
    for key, (_, value_node) in keys.items():
        lines[key] = _line(value_node)
        name = f"slot_rule.{key}"
        if _is_null(value_node):
            continue  # reported as missing below
        if isinstance(value_node, yaml.SequenceNode):
            values: list[str] = []
            for item in value_node.value:
                text = _text(item, name, errors)
                if text is not None:
                    values.append(text)
                    item_lines.setdefault(key, []).append(_line(item))
            rule[key] = values
        elif key in ("days", "dates"):
            text = _text(value_node, name, errors, required=False)
            if text is not None:
                # "sat, sun" is a list of two, each on this line.
                rule[key] = [part.strip() for part in text.split(",") if part.strip()]
                item_lines[key] = [_line(value_node)] * len(rule[key])
        else:
            # An empty value is reported once, as missing, by check_slot_rule.
            rule[key] = _text(value_node, name, errors, required=False)
    problems = check_slot_rule(rule)
    for problem in problems:
        line = lines.get(problem.field, _line(node))
        if problem.index is not None and problem.index < len(item_lines.get(problem.field, [])):
            line = item_lines[problem.field][problem.index]
        errors.add(line, f"slot_rule.{problem.field}", problem.reason)
    if problems:
        return []
    return [_Placed(slot, _line(node), "slot_rule") for slot in rule_local_slots(rule)]


def _blame(first: _Placed, second: _Placed) -> tuple[_Placed, _Placed]:
    """(the slot to report, the other): an explicit slot rather than the rule, which is one
    line for many slots; between two explicit slots, the later one in the file."""
    if first.name != second.name:
        return (first, second) if first.name == "slots" else (second, first)
    return (first, second) if first.line >= second.line else (second, first)


def _merge(placed: list[_Placed], errors: _Errors) -> list[Slot]:
    """Identical slots once; any other overlap is an error at the explicit (or later) slot."""
    unique: dict[Slot, _Placed] = {}
    for item in placed:
        unique.setdefault(item.slot, item)
    ordered = sorted(unique.values(), key=lambda p: p.slot)
    latest: _Placed | None = None  # the slot reaching furthest so far
    blamed: set[Slot] = set()  # one message per slot, however many it overlaps
    for item in ordered:
        if latest is not None and item.slot[0] < latest.slot[1]:
            blame, other = _blame(item, latest)
            if blame.slot not in blamed:
                blamed.add(blame.slot)
                origin = "slot_rule, " if other.name == "slot_rule" else ""
                errors.add(blame.line, blame.name,
                           f"{_span(blame.slot)} overlaps {_span(other.slot)} "
                           f"({origin}line {other.line})")
        if latest is None or item.slot[1] > latest.slot[1]:
            latest = item
    return merge_slots(unique)


def _capacity(node: yaml.Node, errors: _Errors) -> int | None:
    text = _text(node, "room_capacity", errors)
    if text is None:
        return None
    if not text.isdigit() or int(text) <= 0:
        errors.add(_line(node), "room_capacity",
                   f"expected a whole number of families above 0, got {text!r}")
        return None
    return int(text)


def _bring(node: yaml.Node, errors: _Errors) -> str | None:
    """What to bring: text, or a list of things written as one line."""
    if isinstance(node, yaml.SequenceNode):
        things = [_text(item, "bring", errors) for item in node.value]
        return ", ".join(thing for thing in things if thing) or None
    return _text(node, "bring", errors, required=False)


def _load(path: Path, source: str) -> yaml.Node | None:
    if not path.exists():
        raise MeetingFileError([f"{source}: no such file"])
    if not path.is_file():
        raise MeetingFileError([f"{source}: not a file (expected a meeting .yaml file)"])
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise MeetingFileError([f"{source}:{line}: file: not UTF-8 text"]) from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "cannot read the YAML"
        raise MeetingFileError(
            [f"{source}:{line}: yaml: {problem} (column {column})"]) from None
    except yaml.YAMLError as exc:
        raise MeetingFileError([f"{source}:1: yaml: {exc}"]) from None


def parse_meeting_file(path: Path) -> MeetingSpec:
    """Read and check a meeting file; raises ``MeetingFileError`` listing every problem."""
    path = Path(path)
    source = str(path)
    root = _load(path, source)
    errors = _Errors(source)
    if root is None or _is_null(root):
        raise MeetingFileError([f"{source}:1: file: is empty (a meeting needs type, title, "
                                "organizer, audience and slots)"])
    if not isinstance(root, yaml.MappingNode):
        raise MeetingFileError([f"{source}:{_line(root)}: file: expected keys such as type: and "
                                f"title:, got {_kind(root)}"])
    keys = _mapping(root, "", KEYS, errors)
    top = _line(root)
    lines = {key: _line(value) for key, (_, value) in keys.items()}

    def value(key: str, *, required: bool = True) -> str | None:
        if key not in keys:
            if required:
                errors.add(top, key, "missing")
            return None
        return _text(keys[key][1], key, errors, required=required)

    meeting_type = value("type")
    if meeting_type is not None:
        meeting_type = "_".join(meeting_type.lower().replace("-", " ").split())
        if meeting_type not in MEETING_TYPES:
            errors.add(lines["type"], "type", f"unknown type {keys['type'][1].value!r} "
                                              f"(expected one of {', '.join(MEETING_TYPES)})")
            meeting_type = None
    title = value("title")
    title = " ".join(title.split()) if title else title
    organizer = value("organizer")

    audience = value("audience")
    parts: list[AudiencePart] = []
    if audience is not None:
        try:
            parts = parse_audience(audience)
        except AudienceError as exc:
            errors.add(lines["audience"], "audience", str(exc))
    if meeting_type == "surat_panggilan" and parts and (
            len(parts) != 1 or parts[0].kind != "student" or len(parts[0].values) != 1):
        errors.add(lines["audience"], "audience",
                   "a surat_panggilan summons the guardians of one student: write student:NISN")

    location = value("location", required=meeting_type not in NO_LOCATION_TYPES)

    capacity: int | None = None
    if "room_capacity" in keys:
        capacity = _capacity(keys["room_capacity"][1], errors)
    elif meeting_type in ONE_FAMILY_TYPES:
        capacity = 1
    elif meeting_type is not None:
        errors.add(top, "room_capacity", "missing (how many families the room holds at once)")

    reason = value("reason", required=False)
    if meeting_type == "surat_panggilan" and reason is None:
        errors.add(lines.get("reason", top), "reason",
                   "missing: a surat_panggilan tells the family why they are summoned")

    level: int | None = None
    if "level" in keys:
        text = _text(keys["level"][1], "level", errors)
        if text is not None and meeting_type is not None and meeting_type != "surat_panggilan":
            errors.add(lines["level"], "level", "only a surat_panggilan has a level (1, 2 or 3)")
        elif text is not None and text not in ("1", "2", "3"):
            errors.add(lines["level"], "level", f"expected 1, 2 or 3, got {text!r}")
        elif text is not None:
            level = int(text)

    bring = _bring(keys["bring"][1], errors) if "bring" in keys else None

    placed: list[_Placed] = []
    slot_errors = len(errors.items)
    if "slots" in keys:
        placed += _read_slots(keys["slots"][1], errors)
    if "slot_rule" in keys:
        rules = keys["slot_rule"][1]
        # Several rules may be listed, e.g. weekend mornings and weekday evenings.
        for rule in rules.value if isinstance(rules, yaml.SequenceNode) else [rules]:
            placed += _read_rule(rule, errors)
    slots = _merge(placed, errors)
    if not slots and len(errors.items) == slot_errors:
        where = lines.get("slots", lines.get("slot_rule", top))
        errors.add(where, "slots", "no slot given: write slots, a slot_rule or both")
    if len(slots) > MAX_SLOTS:
        errors.add(lines.get("slot_rule", top), "slot_rule",
                   f"gives {len(slots)} slots, more than {MAX_SLOTS}: check minutes and dates")

    if errors:
        raise MeetingFileError(errors.messages(), MeetingReferences(source, organizer, parts, lines))
    assert meeting_type and title and organizer and audience and capacity
    return MeetingSpec(
        source=source, type=meeting_type, title=title, organizer=organizer, audience=audience,
        audience_parts=parts, location=location or "", room_capacity=capacity, reason=reason,
        bring=bring, slots=slots, lines=lines, level=level,
    )


# ---------------------------------------------------------------- checking against the roster


async def _organizer(session: AsyncSession, refs: MeetingReferences,
                     school_code: str | None) -> tuple[Staff, School] | str:
    """The organizer and their school, or what is wrong with the file's ``organizer``."""
    assert refs.organizer is not None
    query = (select(Staff, School).join(School, col(School.id) == col(Staff.school_id))
             .where(func.lower(Staff.staff_code) == refs.organizer.lower()))
    if school_code is not None:
        query = query.where(School.code == school_code)
    found = list((await session.exec(query)).all())
    if not found:
        where = f"the roster of {school_code}" if school_code is not None else "any school's roster"
        return refs.error("organizer", f"unknown staff_id {refs.organizer!r} (not in {where})")
    if len(found) > 1:
        codes = ", ".join(sorted(school.code for _, school in found))
        return refs.error("organizer", f"staff_id {refs.organizer!r} is in several schools ({codes})")
    staff, school = found[0]
    return staff, school


async def _audience_errors(session: AsyncSession, refs: MeetingReferences, school: School) -> list[str]:
    """One message per class, grade or NISN of the audience that the school does not have."""
    classes = (await session.exec(
        select(SchoolClass).where(SchoolClass.school_id == school.id))).all()
    names = {row.name for row in classes}
    grades = {row.grade for row in classes}
    nisns = [nisn for part in refs.audience_parts if part.kind == "student" for nisn in part.values]
    known: set[str] = set()
    if nisns:
        known = set((await session.exec(select(Student.nisn).where(
            Student.school_id == school.id, col(Student.nisn).in_(nisns)))).all())
    errors: list[str] = []
    for part in refs.audience_parts:
        if part.kind == "class" and part.values[0] not in names:
            listed = ", ".join(sorted(names)[:12]) or "no classes"
            errors.append(refs.error("audience", f"unknown class {part.values[0]!r} "
                                                 f"({school.code} has {listed})"))
        elif part.kind == "grade" and int(part.values[0]) not in grades:
            errors.append(refs.error("audience",
                                     f"no class in grade {part.values[0]} at {school.code}"))
        elif part.kind == "student":
            errors += [refs.error("audience", f"unknown student NISN {nisn!r} (not in the roster "
                                              f"of {school.code})")
                       for nisn in part.values if nisn not in known]
    return errors


async def _roster_errors(session: AsyncSession, refs: MeetingReferences,
                         school_code: str | None) -> tuple[list[str], tuple[Staff, School] | None]:
    """What the file names that the roster does not have, and the organizer with their school."""
    if school_code is not None and (await session.exec(
            select(School).where(School.code == school_code))).first() is None:
        return [f"--school: unknown school {school_code!r}"], None
    if refs.organizer is None:
        return [], None
    organizer = await _organizer(session, refs, school_code)
    if isinstance(organizer, str):
        return [organizer], None
    return await _audience_errors(session, refs, organizer[1]), organizer


def _in_file_order(errors: list[str]) -> list[str]:
    """Messages sorted by their line (a message without one, like --school's, first)."""
    def line(message: str) -> int:
        found = re.match(r".*?:(\d+): ", message)
        return int(found.group(1)) if found else 0
    return sorted(errors, key=line)


def _timezone(spec: MeetingSpec, school: School, default_timezone: str) -> str:
    tz = school.timezone or default_timezone
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise MeetingFileError(
            [f"{spec.source}: school {school.code} has an unknown timezone {tz!r}"]) from None
    return tz


async def create_meeting(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    school_code: str | None = None,
    default_timezone: str,
    now: datetime | None = None,
) -> CreatedMeeting:
    """Create the meeting described in the file at ``path`` with all its slots, all or nothing.

    The school is the organizer's (only ``school_code``'s when given); the file's times are
    read in that school's timezone, ``default_timezone`` when it has none. Raises
    ``MeetingFileError`` (nothing written) when the file or its roster references are invalid.
    """
    spec: MeetingSpec | None = None
    try:
        spec = parse_meeting_file(path)
        refs, file_errors = MeetingReferences(spec.source, spec.organizer, spec.audience_parts, spec.lines), []
    except MeetingFileError as exc:
        if exc.references is None:
            raise
        refs, file_errors = exc.references, exc.errors
    try:
        async with transaction(sessions) as session:
            # The file's own problems and what it names that the roster lacks, all in one report.
            roster_errors, organizer = await _roster_errors(session, refs, school_code)
            if file_errors or roster_errors or spec is None or organizer is None:
                raise MeetingFileError(_in_file_order(file_errors + roster_errors))
            staff, school = organizer
            tz = _timezone(spec, school, default_timezone)
            assert school.id is not None and staff.id is not None
            created_at = now or utcnow()
            level = spec.level
            if spec.type == "surat_panggilan" and level is None:
                from storage.summons_levels import earlier_summons, next_level  # imports this module

                student = (await session.exec(select(Student).where(
                    Student.school_id == school.id,
                    Student.nisn == spec.audience_parts[0].values[0]))).one()
                level = next_level(await earlier_summons(session, student, now=created_at, tz=tz))
            meeting = Meeting(
                school_id=school.id, type=spec.type, title=spec.title,
                organizer_staff_id=staff.id, audience=spec.audience, location=spec.location,
                room_capacity=spec.room_capacity, reason=spec.reason, bring=spec.bring,
                summons_level=level, created_at=created_at,
            )
            session.add(meeting)
            await session.flush()
            assert meeting.id is not None
            slots = spec.utc_slots(tz)
            session.add_all([
                MeetingSlot(school_id=school.id, meeting_id=meeting.id, starts_at=start,
                            ends_at=end, capacity=spec.room_capacity)
                for start, end in slots
            ])
            await session.flush()
            return CreatedMeeting(id=meeting.id, slots=len(slots))
    except IntegrityError as exc:
        # The checks above should prevent this; report it as a file problem, not a crash.
        raise MeetingFileError(
            [f"{refs.source}: the database refused the meeting ({exc.orig})"]) from exc
