"""The counselor's papers from the command line: `report casebook NISN` and `meeting letter ID`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli import UserError


async def report_casebook(sessions, args: argparse.Namespace) -> tuple[dict[str, Any], str]:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from storage.casebook import UnknownStudent, casebook
    from storage.meeting_letters import letterhead
    from storage.models import School
    from templates.counsel_pdf import casebook_pdf
    from templates.render import render

    async with sessions() as session:
        school_id = None
        if args.school is not None:
            school = (await session.exec(select(School).where(School.code == args.school))).first()
            if school is None:
                raise UserError(f"--school: unknown school {args.school!r}")
            school_id = school.id
        try:
            book = await casebook(session, args.nisn, school_id=school_id)
        except UnknownStudent as exc:
            raise UserError(f"NISN: {exc}") from exc
        school = (await session.exec(select(School).where(School.code == book["school"]["code"]))).one()
        head = letterhead(school)
    data = {"student": book["student"], "entries": book["entries"]}
    if args.pdf is not None:
        try:
            casebook_pdf(book, head, args.pdf)
        except OSError as exc:
            raise UserError(f"{args.pdf}: {exc.strerror}") from exc
    return data, render("id", "casebook", book)


async def meeting_letter(sessions, args: argparse.Namespace, *, telegram_bot: str | None,  # type: ignore[no-untyped-def]
                         whatsapp_from: str | None) -> tuple[dict[str, Any], str]:
    from storage.meeting_letters import LetterPatternError, NotInvited, letterhead, meeting_letters
    from storage.models import Meeting, School, utcnow
    from templates.counsel_pdf import meeting_letters_pdf

    out: Path = args.out or Path(f"surat-rapat-{args.id}.pdf")
    async with sessions() as session, session.begin():
        meeting = await session.get(Meeting, args.id)
        if meeting is None:
            raise UserError(f"no meeting with id {args.id}")
        school = await session.get(School, meeting.school_id)
        assert school is not None
        try:
            letters = await meeting_letters(session, meeting, now=utcnow(), telegram_bot=telegram_bot,
                                            whatsapp_from=whatsapp_from)
        except LetterPatternError as exc:
            raise UserError(f"school.yaml: {exc}") from exc
        except NotInvited as exc:
            raise UserError(str(exc)) from exc
        try:  # inside the transaction: a PDF that cannot be written uses up no number
            meeting_letters_pdf([letter.context for letter in letters], letterhead(school), out)
        except OSError as exc:
            raise UserError(f"{out}: {exc.strerror}") from exc
    numbers = [letter.number for letter in letters]
    data = {"letters": len(letters), "numbers": numbers, "file": str(out)}
    return data, f"{len(letters)} letter(s) written to {out}: {', '.join(numbers)}"
