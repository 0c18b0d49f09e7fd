"""The fictional demo school, "SMP Negeri Contoh Jembatan", seeded by ``jembatan demo``.

Its roster lives next to this module in ``storage/demo/`` (staff.csv, students.csv,
guardians.csv). Every person and number in it is invented: the phones are obviously fictional
``+62 812-0000-xxxx`` numbers that are valid Indonesian mobiles, so the simulator can use them.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import School
from storage.roster import ImportResult, apply_roster, read_roster

DEMO_ROSTER = Path(__file__).resolve().parent / "demo"
DEMO_CODE = "DEMO"
DEMO_NAME = "SMP Negeri Contoh Jembatan"
DEMO_TIMEZONE = "Asia/Jakarta"
DEMO_OFFICE_CONTACT = (
    "Tata Usaha SMP Negeri Contoh Jembatan, Senin–Jumat 07.00–15.00, (0751) 000-000"
)


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession], *, if_empty: bool
) -> ImportResult | None:
    """Import the demo roster into school ``DEMO``; with ``if_empty`` only into an empty database.

    Returns None when ``if_empty`` is set and any school exists already (nothing is touched).
    Re-seeding an existing demo school is idempotent, like any roster re-import.
    """
    roster = read_roster(DEMO_ROSTER)
    async with sessions() as session, session.begin():
        if if_empty and (await session.exec(select(School.id).limit(1))).first() is not None:
            return None
        school = (await session.exec(select(School).where(School.code == DEMO_CODE))).first()
        if school is None:
            school = School(code=DEMO_CODE, name=DEMO_NAME)
        # One transaction for the school's details and its roster: a demo is whole or absent.
        school.name = DEMO_NAME
        school.timezone = DEMO_TIMEZONE
        school.office_contact = DEMO_OFFICE_CONTACT
        session.add(school)
        await session.flush()
        return await apply_roster(session, school, roster)
