"""A staff member added or changed on the dashboard, checked and written as the roster does.

The school's whole staff list, with the one row changed or added, goes through the roster's own
staff checks (role, phone, homeroom class unique, classes and grades the school has, office
hours) and its upsert: the dashboard and ``staff.csv`` cannot disagree about what is valid.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import SchoolClass, Staff
from storage.roster import RosterError, check_staff_rows, write_staff_rows

FIELDS = ("staff_id", "name", "role", "phone", "homeroom_class", "classes", "subjects",
          "office_hours", "teams")


def _row(staff: Staff) -> dict[str, str]:
    return {"staff_id": staff.staff_code, "name": staff.name, "role": staff.role, "phone": staff.phone,
            "language": staff.language, "homeroom_class": staff.homeroom_class or "",
            "classes": staff.classes or "", "subjects": staff.subjects or "",
            "office_hours": staff.office_hours or "", "teams": staff.teams or ""}


async def save_staff(session: AsyncSession, school_id: int, values: dict[str, str],
                     staff_id: int | None) -> tuple[Staff | None, dict[str, list[str]]]:
    """Change staff ``staff_id`` (its code stays; an empty phone keeps the number) or add one;
    returns the row, or the problems by field."""
    everyone = list((await session.exec(select(Staff).where(
        Staff.school_id == school_id).order_by(Staff.id))).all())
    classes = {c.name: c.grade for c in (await session.exec(
        select(SchoolClass).where(SchoolClass.school_id == school_id))).all()}
    rows = [(n, _row(s)) for n, s in enumerate(everyone, start=1)]
    wanted = {key: " ".join(values.get(key, "").split()) for key in FIELDS}
    if staff_id is not None:
        index = next((n for n, s in enumerate(everyone) if s.id == staff_id), None)
        if index is None:
            raise LookupError(staff_id)
        current = rows[index][1]
        line = index + 1
        rows[index] = (line, {**current, **wanted, "staff_id": current["staff_id"],
                              "phone": wanted["phone"] or current["phone"]})
    else:
        line = len(rows) + 1
        rows.append((line, {**wanted, "language": ""}))
    checked, problems = check_staff_rows(rows, classes)
    mine: dict[str, list[str]] = {}
    for problem_line, column, reason in problems:
        if problem_line == line:
            mine.setdefault(column if column in FIELDS else "", []).append(reason)
    if mine:
        return None, mine
    try:
        await write_staff_rows(session, school_id, checked)
    except RosterError as exc:  # e.g. the phone of someone no longer listed; the caller rolls back
        return None, {"": exc.errors}
    code = rows[line - 1][1]["staff_id"].strip()
    saved = (await session.exec(select(Staff).where(
        Staff.school_id == school_id, Staff.staff_code == code))).one()
    return saved, {}
