"""Enrolment letters (``jembatan letters AUDIENCE``): one page per student with a fresh family
code and the links that open the chat with it, laid out by templates/letters.py."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.audience import audience_students
from storage.enrolment import CODE_DAYS, issue_family_codes
from storage.models import School, SchoolClass
from templates.letters import enrolment_letters


class NoStudents(LookupError):
    """The audience names no student of the school (nothing to print)."""


@dataclass
class LettersResult:
    pages: int
    codes: int
    file: str


def telegram_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def whatsapp_link(whatsapp_from: str, code: str) -> str:
    """``wa.me`` takes the number as digits only, the message URL-encoded."""
    digits = re.sub(r"\D", "", whatsapp_from)
    return f"https://wa.me/{digits}?text={quote(f'DAFTAR {code}')}"


async def print_enrolment_letters(session: AsyncSession, *, schools: Sequence[School], audience: str,
                                  now: datetime, out: Path, telegram_bot: str | None,
                                  whatsapp_from: str | None) -> LettersResult:
    """Issue a code per student of the audience (in each of ``schools``) and write their letters
    to ``out``, in the caller's transaction: when the PDF cannot be written the caller rolls
    the codes back."""
    number = (whatsapp_from or "").removeprefix("whatsapp:").strip() or None
    letters = []
    for school in schools:
        assert school.id is not None
        students = await audience_students(session, school.id, audience)
        issued = await issue_family_codes(session, school.id, students, now=now)
        classes = {c.id: c.name for c in [await session.get(SchoolClass, s.class_id) for s in students] if c}
        zone = ZoneInfo(school.timezone)
        head = school.letterhead or {}
        today = format_date(now.astimezone(zone).date(), "d MMMM y", locale="id")
        expires = format_date((now + timedelta(days=CODE_DAYS)).astimezone(zone).date(), "d MMMM y",
                              locale="id")
        city = head.get("city")
        for student, code in issued:
            letters.append({
                "student_name": student.name, "class_name": classes.get(student.class_id, ""),
                "code": code, "school_name": head.get("name") or school.name, "letterhead": head,
                "place_date": f"{city}, {today}" if city else today, "expires": expires,
                "telegram_bot": telegram_bot, "whatsapp_number": number,
                "telegram_url": telegram_link(telegram_bot, code) if telegram_bot else None,
                "whatsapp_url": whatsapp_link(number, code) if number else None,
            })
    if not letters:
        codes = ", ".join(school.code for school in schools)
        raise NoStudents(f"no student of {codes} is in the audience {audience!r}")
    pages = enrolment_letters(letters, out)
    return LettersResult(pages=pages, codes=len(letters), file=str(out))
