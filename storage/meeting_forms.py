"""A meeting from the dashboard's form, checked exactly as a meeting file (storage/meetings.py).

The form's fields are written as the YAML document the office would otherwise have typed, and
``create_meeting`` reads that: one set of rules for the file and the form. Its
``FILE:LINE: field: reason`` messages are then put next to the form's fields, all at once.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.meetings import CreatedMeeting, MeetingFileError, create_meeting, parse_meeting_file

FIELDS = ("type", "title", "audience", "location", "room_capacity", "bring", "slots",
          "rule_days", "rule_from", "rule_to", "rule_minutes", "rule_dates")
_SLOT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}[:.]\d{2})\s*[-–]\s*(\d{1,2}[:.]\d{2})$")
_MESSAGE = re.compile(r"^[^:]*:\d+: ([\w.]+): (.*)$", re.S)
_FIELD_OF = {"slot_rule.days": "rule_days", "slot_rule.from": "rule_from", "slot_rule.to": "rule_to",
             "slot_rule.minutes": "rule_minutes", "slot_rule.dates": "rule_dates",
             "slots.start": "slots", "slots.end": "slots", "slot_rule": "rule_dates"}


@dataclass
class FormResult:
    created: CreatedMeeting | None
    errors: dict[str, list[str]] = field(default_factory=dict)  # form field ("" for the form) -> reasons


def _list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]


def meeting_document(values: dict[str, str], organizer: str) -> tuple[str, dict[str, list[str]]]:
    """The YAML meeting file the form stands for, and the slot lines it could not read.

    ``slots`` is one slot a line, ``2026-12-19 08:00-08:20``; the rule's days and dates are
    lists written with commas."""
    doc: dict[str, object] = {"organizer": organizer}
    for key in ("type", "title", "audience", "location", "room_capacity", "bring"):
        text = " ".join(values.get(key, "").split())
        if text or key in ("type", "title", "audience"):
            doc[key] = text
    errors: dict[str, list[str]] = {}
    slots = []
    for number, line in enumerate(values.get("slots", "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _SLOT.match(line)
        if match is None:
            errors.setdefault("slots", []).append(
                f"line {number}: expected a date and times like 2026-12-19 08:00-08:20, got {line!r}")
            continue
        day, start, end = match.groups()
        slots.append({"start": f"{day}T{start}", "end": f"{day}T{end}"})
    if slots:
        doc["slots"] = slots
    rule = {key: values.get(f"rule_{key}", "").strip() for key in ("days", "from", "to", "minutes", "dates")}
    if any(rule.values()):
        doc["slot_rule"] = {
            **({"days": _list(rule["days"])} if rule["days"] else {}),
            "from": rule["from"], "to": rule["to"], "minutes": rule["minutes"],
            "dates": _list(rule["dates"]),
        }
    if errors and "slots" not in doc and "slot_rule" not in doc:
        doc["slots"] = []  # the unreadable lines are the slots' problem, not "no slot given"
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), errors


def field_errors(messages: list[str]) -> dict[str, list[str]]:
    """Each ``FILE:LINE: field: reason`` under the form field it is about."""
    found: dict[str, list[str]] = {}
    for message in messages:
        match = _MESSAGE.match(message)
        name, reason = (match.group(1), match.group(2)) if match else ("", message)
        key = _FIELD_OF.get(name, name.split(".")[0])
        found.setdefault(key if key in FIELDS else "", []).append(reason)
    return found


async def create_from_form(sessions: async_sessionmaker[AsyncSession], values: dict[str, str], *,
                           organizer: str, school_code: str, default_timezone: str) -> FormResult:
    """Check the form as a meeting file and create the meeting, or say what is wrong where."""
    text, errors = meeting_document(values, organizer)
    with tempfile.TemporaryDirectory(prefix="jembatan-meeting-") as folder:
        path = Path(folder) / "meeting.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            if errors:  # slot lines it could not read: still report everything else at once
                parse_meeting_file(path)
                return FormResult(None, errors)
            created = await create_meeting(sessions, path, school_code=school_code,
                                           default_timezone=default_timezone)
        except MeetingFileError as exc:
            for key, reasons in field_errors(exc.errors).items():
                errors.setdefault(key, []).extend(reasons)
            return FormResult(None, errors)
    return FormResult(created)
