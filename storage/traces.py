"""Where one guardian's personal data lies, in every table: found for ``export-person``, wiped for
erasure (``hapus data`` then ``jembatan purge``).

Copies of a family's data spread beyond the rows that point at them: a raw webhook body holds
their Telegram id, their shared contact or their words; a staff member's ``kasus`` list quotes
their name and first words; a principal's audit reason may name them. So the search is generic:
every text and JSON column of every table in ``SQLModel.metadata`` (a new table is covered
without anyone remembering it) except the roster itself, for the guardian's *traces* — their
name, their phone in any writing, their chat ids, and what they wrote.

A matched row is then handled by what it is: a stored update keeps its row (the platform may
still retry it, and it must stay processed exactly once) with its body replaced by a tombstone;
a sent message keeps its row for the school's counts with its text blanked; a routing example
is deleted; any other cell has the traces cut out of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, String, Table, Text, cast, delete, or_, select, update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChannelAccount, ConcernMessage, Concern, Guardian

ERASED = "[dihapus]"  # what is left where a trace was cut out of a text
TOMBSTONE = {"erased": True}  # a stored update's body once its sender is erased
# The school's own record: kept on erasure (it marks the guardian as not to be messaged).
ROSTER_TABLES = frozenset({"school", "school_class", "staff", "student", "guardian", "guardian_student"})
DELETED_TABLES = frozenset({"routing_example", "link_code"})  # a row that is theirs goes entirely
PREFIX = 24  # characters of a message quoted as its "first words" (kasus lists, buttons)
MIN_PHRASE = 6  # shorter texts are too common to be told apart from anyone else's


@dataclass
class Traces:
    """What identifies one guardian inside any text: ``phrases`` as substrings, ``ids`` only as
    whole values (a Telegram id like 5001 is also part of many other numbers)."""

    phrases: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)

    def add_phrase(self, text: str | None) -> None:
        text = (text or "").strip()
        if len(text) >= MIN_PHRASE:
            self.phrases.add(text)

    def in_text(self, text: str) -> bool:
        return text in self.ids or any(p in text for p in self.phrases)

    def in_json(self, value: Any) -> bool:
        if isinstance(value, dict):
            return any(self.in_json(k) or self.in_json(v) for k, v in value.items())
        if isinstance(value, list):
            return any(self.in_json(v) for v in value)
        if isinstance(value, bool) or value is None:
            return False
        return self.in_text(str(value)) if isinstance(value, str) else str(value) in self.ids

    def cut(self, text: str) -> str:
        if text in self.ids:
            return ERASED
        for phrase in sorted(self.phrases, key=len, reverse=True):
            text = text.replace(phrase, ERASED)
        return text

    def cut_json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self.cut(k) if isinstance(k, str) else k: self.cut_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.cut_json(v) for v in value]
        if isinstance(value, str):
            return self.cut(value)
        if not isinstance(value, bool) and value is not None and str(value) in self.ids:
            return ERASED
        return value

    def needles(self) -> list[str]:
        """Substrings for the database's LIKE pre-filter (also as JSON writes them, escaped)."""
        out: set[str] = set()
        for text in self.phrases | self.ids:
            out.add(text)
            out.add(json.dumps(text)[1:-1])
        return sorted(out)


def phone_forms(e164: str) -> list[str]:
    """+6281234567890 written every way a log, a contact or a roster writes it; the national
    number (81234567890) is inside all of them."""
    digits = e164.lstrip("+")
    national = digits[2:] if digits.startswith("62") else digits
    return [e164, digits, "0" + national, national]


async def traces_of(session: AsyncSession, guardians: list[Guardian], accounts: list[ChannelAccount],
                    *, words_only: bool = False) -> Traces:
    """A guardian's traces: name, phone, chat ids, and every text they wrote in a concern.

    ``words_only`` for a guardian who is also staff: their name, number and accounts stay (they
    are staff's), only what they wrote as a parent goes."""
    traces = Traces()
    ids = [g.id for g in guardians]
    if words_only:
        guardians, accounts = [], []
    for guardian in guardians:
        traces.add_phrase(guardian.name)
        for form in phone_forms(guardian.phone):
            traces.add_phrase(form)
    for account in accounts:
        traces.ids.update(v for v in (account.external_id, account.chat_id) if v)
        for form in phone_forms(account.external_id) if account.external_id.startswith("+") else ():
            traces.add_phrase(form)
    written = (await session.exec(  # type: ignore[call-overload]
        select(ConcernMessage.text).join(Concern, Concern.id == ConcernMessage.concern_id)
        .where(Concern.guardian_id.in_(ids), ConcernMessage.author == "guardian"))).all()  # type: ignore[union-attr]
    for (text,) in written:
        traces.add_phrase(text)
        flat = " ".join(text.split())
        traces.add_phrase(flat)
        if len(flat) > PREFIX:
            traces.add_phrase(flat[:PREFIX])
    return traces


def _text_columns(table: Table) -> list[Any]:
    """Columns holding text or JSON (SQLModel's ``str`` fields are an AutoString decorator)."""
    return [c for c in table.columns if not c.primary_key
            and isinstance(getattr(c.type, "impl_instance", c.type), String | JSON)]


@dataclass
class Found:
    table: str
    row: dict[str, Any]  # the whole row, as stored
    columns: list[str]  # the columns that hold a trace


async def find(session: AsyncSession, traces: Traces) -> list[Found]:
    """Every row outside the roster with a trace of this guardian in a text or JSON column."""
    needles = traces.needles()
    found: list[Found] = []
    if not needles:
        return found
    for table in SQLModel.metadata.sorted_tables:
        if table.name in ROSTER_TABLES:
            continue
        columns = _text_columns(table)
        if not columns:
            continue
        pre = or_(*(cast(c, Text).contains(n, autoescape=True) for c in columns for n in needles))
        for row in (await session.exec(select(table).where(pre))).mappings().all():  # type: ignore[call-overload]
            hits = [c.name for c in columns if row[c.name] is not None and (
                traces.in_json(row[c.name]) if isinstance(c.type, JSON) else traces.in_text(str(row[c.name])))]
            if hits:
                found.append(Found(table.name, dict(row), hits))
    return found


async def erase_traces(session: AsyncSession, traces: Traces) -> int:
    """Wipe every trace outside the roster; returns how many rows were changed or deleted."""
    changed = 0
    for item in await find(session, traces):
        table = SQLModel.metadata.tables[item.table]
        key = [c for c in table.primary_key.columns]
        where = [c == item.row[c.name] for c in key]
        if item.table in DELETED_TABLES:
            await session.exec(delete(table).where(*where))  # type: ignore[call-overload]
        else:
            await session.exec(update(table).where(*where).values(_wiped(item, traces)))  # type: ignore[call-overload]
        changed += 1
    return changed


def _wiped(item: Found, traces: Traces) -> dict[str, Any]:
    row = item.row
    if item.table == "inbox_message":
        values: dict[str, Any] = {"payload": TOMBSTONE}
        if "external_id" in item.columns:  # a simulator id carries the phone: keep it unique, not readable
            values["external_id"] = "erased:" + hashlib.sha256(row["external_id"].encode()).hexdigest()[:32]
        if "error" in item.columns:
            values["error"] = traces.cut(row["error"])
        return values
    if item.table == "outbox_message":
        values = {"text": "", "buttons": [], "media": []}
        values.update({c: traces.cut(row[c]) for c in item.columns if c not in values})
        return values
    table = SQLModel.metadata.tables[item.table]
    return {c: (traces.cut_json(row[c]) if isinstance(table.columns[c].type, JSON) else traces.cut(row[c]))
            for c in item.columns}


def describe(found: Iterable[Found], traces: Traces) -> dict[str, list[dict[str, Any]]]:
    """The rows found, per table, for ``export-person``: the cells holding their data, with the
    row's id and times. A cell that is someone else's too (a staff member's update quoting the
    family) gives only its strings that hold the trace, not the other person's data."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in found:
        table = SQLModel.metadata.tables[item.table]
        entry: dict[str, Any] = {k: v.isoformat() for k, v in item.row.items() if hasattr(v, "isoformat")}
        entry.update({c.name: item.row[c.name] for c in table.primary_key.columns})
        for column in item.columns:
            value = item.row[column]
            own = isinstance(table.columns[column].type, JSON) and _holds_id(value, traces)
            entry[column] = value if own or not isinstance(value, dict | list) else _excerpts(value, traces)
        out.setdefault(item.table, []).append(entry)
    return out


def _holds_id(value: Any, traces: Traces) -> bool:
    return Traces(ids=traces.ids).in_json(value)


def _excerpts(value: Any, traces: Traces) -> list[str]:
    if isinstance(value, dict):
        return [e for v in value.values() for e in _excerpts(v, traces)]
    if isinstance(value, list):
        return [e for v in value for e in _excerpts(v, traces)]
    return [value] if isinstance(value, str) and traces.in_text(value) else []
