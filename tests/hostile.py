"""Shared by the fuzz and attack tests: an event loop kept across Hypothesis examples (the app
starts once per test, not once per example), ERROR logs of our code caught, hostile text, and
the database invariants no input may break.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Concern,
    ConcernMessage,
    Guardian,
    InboxMessage,
    Meeting,
    MeetingInvitation,
    MeetingSlot,
    OutboxMessage,
    Staff,
    Student,
)

T = TypeVar("T")
OUR_CODE = ("bot", "handlers", "storage", "scheduler", "templates")
# Deterministic by default so the suite is stable; FUZZ_RANDOM=1 FUZZ_SCALE=10 hunts for more.
FUZZ_SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * FUZZ_SCALE)), deadline=None, database=None,
                    derandomize=not os.environ.get("FUZZ_RANDOM"), print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


class LoopHost:
    """One event loop for a whole test: enter the app once, then run each example's coroutine."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._stack = AsyncExitStack()

    def enter(self, context: AbstractAsyncContextManager[T]) -> T:
        return self.run(self._stack.enter_async_context(context))

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return self._runner.run(wrapped())

    def close(self) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self._runner.close()


class OurErrors(logging.Handler):
    """ERROR (and worse) records logged by our own packages while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OUR_CODE:
            self.records.append(record)

    def __enter__(self) -> OurErrors:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)

    def check(self) -> None:
        assert not self.records, "our code logged errors:\n" + "\n".join(self.format(r) for r in self.records)


HOSTILE_TEXT = [
    "<b>tebal</b> <script>alert(1)</script> &amp; &lt;", "*miring* _garis_ `kode` [tautan](http://x.test)",
    "{{ 7*7 }}", "{% for x in range(3) %}ulang{% endfor %}", "{{ config }} {# komentar #}", "${7*7} #{7*7}",
    "Ani\x00dibully", "\u202eterbalik\u202c", "\u200b\u200d\ufeff", "🙏😀👨‍👩‍👧‍👦🏳️‍🌈", "🤬" * 50,
    "Robert'); DROP TABLE concern;--", "' OR '1'='1", "%s %d %n {0} {}", "\\", "\r\n\r\n\t", " ", "",
    "١٢٣", "ｍｅｎｕ", "MENU!!!", "/menu@JembatanBot", "selesai #1", "1", "0", "99", "-1", "2.", "9" * 40,
    "ya", "kirim", "batal", "ubah", "Sabtu pagi", "besok jam 7 malam", "14/12 13.00", "class:VII-A",
    "Nilai matematika Ani turun", "Bima dibully", "Citra sakit hari ini", "uang komite",
]


def hostile_text(max_size: int = 4096) -> st.SearchStrategy[str]:
    """Arbitrary text, emoji, markup and template syntax, and very long messages."""
    long = st.builds(lambda piece, times: (piece * times)[:max_size], st.text(min_size=1, max_size=12),
                     st.integers(min_value=100, max_value=max_size))
    return st.one_of(st.text(max_size=120), st.sampled_from(HOSTILE_TEXT), long,
                     st.builds(" ".join, st.lists(st.sampled_from(HOSTILE_TEXT), min_size=2, max_size=4)))


async def consistency_problems(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """What is wrong in the database after the inputs: each line names one broken invariant."""
    problems: list[str] = []
    async with sessions() as session:
        for row in (await session.exec(select(InboxMessage))).all():
            if row.processed_at is None:
                problems.append(f"inbox {row.id} ({row.channel}) never processed")
            elif row.error and not row.error.startswith("flood"):
                problems.append(f"inbox {row.id} ({row.channel}) failed: {row.error}")
        staff = {s.id: s for s in (await session.exec(select(Staff))).all()}
        guardians = {g.id: g for g in (await session.exec(select(Guardian))).all()}
        students = {s.id: s for s in (await session.exec(select(Student))).all()}
        with_words = set((await session.exec(select(ConcernMessage.concern_id))).all())
        for concern in (await session.exec(select(Concern))).all():
            schools = {concern.school_id, staff[concern.staff_id].school_id,
                       guardians[concern.guardian_id].school_id, students[concern.student_id].school_id}
            if concern.escalated_to_id is not None:
                schools.add(staff[concern.escalated_to_id].school_id)
            if len(schools) != 1:
                problems.append(f"concern {concern.id} spans schools {sorted(schools)}")
            if concern.id not in with_words:
                problems.append(f"concern {concern.id} has no message")
        meetings = {m.id: m for m in (await session.exec(select(Meeting))).all()}
        for invitation in (await session.exec(select(MeetingInvitation))).all():
            if guardians[invitation.guardian_id].school_id != meetings[invitation.meeting_id].school_id:
                problems.append(f"invitation {invitation.id} reaches another school's guardian")
        for slot in (await session.exec(select(MeetingSlot))).all():
            if not 0 <= slot.booked <= slot.capacity:
                problems.append(f"slot {slot.id} booked {slot.booked} of {slot.capacity}")
        failed = (await session.exec(select(OutboxMessage).where(
            col(OutboxMessage.status).in_(["failed", "pending"]),
            OutboxMessage.channel == "simulator"))).all()
        problems += [f"simulator message {m.id} {m.status}: {m.error}" for m in failed]
    return problems


def roster_phone_forms(phone: str) -> list[str]:
    """The ways a roster phone could leak into a text: +62812..., 62812..., 0812..."""
    digits = phone.lstrip("+")
    return [phone, digits, "0" + digits[2:]]


def leaked_phones(text: str, phones: list[str], allowed: Any = ()) -> list[str]:
    return [p for p in phones if p not in allowed and any(form in text for form in roster_phone_forms(p))]
