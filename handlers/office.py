"""The school office's corrections of a family's contact, made on the dashboard.

Each returns the messages it causes, for the caller to put in the outbox in the same
transaction as the change; the caller records the change in the audit log.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Outbound, Recipient
from storage.models import ChannelAccount, Guardian, GuardianStudent, School, Student
from storage.phones import InvalidPhone, normalize_phone


class PhoneRefused(ValueError):
    """``reason``: bad (not a phone number) or taken (another guardian of the school has it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _children(session: AsyncSession, guardian: Guardian) -> str:
    names = (await session.exec(select(Student.name).join(
        GuardianStudent, col(GuardianStudent.student_id) == Student.id).where(
        GuardianStudent.guardian_id == guardian.id).order_by(Student.name))).all()
    return ", ".join(names)


async def change_guardian_phone(session: AsyncSession, guardian: Guardian, raw: str, *,
                                now: datetime) -> list[Outbound]:
    """Give ``guardian`` a new number: every chat account linked by the old number is unlinked
    (it may be a lost phone) and told there, on the old channel, once."""
    try:
        phone = normalize_phone(raw)
    except InvalidPhone:
        raise PhoneRefused("bad") from None
    if phone == guardian.phone:
        return []
    taken = (await session.exec(select(Guardian).where(
        Guardian.school_id == guardian.school_id, Guardian.phone == phone))).first()
    if taken is not None:
        raise PhoneRefused("taken")
    school = await session.get(School, guardian.school_id)
    assert school is not None
    old = guardian.phone
    others = (await session.exec(select(Guardian).where(
        Guardian.phone == old, Guardian.id != guardian.id))).all()  # the same person at another school
    outs: list[Outbound] = []
    if not others:
        students = await _children(session, guardian)
        office = [f"{school.name}: {school.office_contact}" if school.office_contact else school.name]
        for account in (await session.exec(select(ChannelAccount).where(ChannelAccount.phone == old))).all():
            outs.append(Outbound(to=Recipient(account_id=account.id, school_id=school.id),
                                 template="office_phone_changed",
                                 context={"name": guardian.name, "students": students, "office": office}))
            account.phone, account.linked_at = None, None
            session.add(account)
    guardian.phone = phone
    session.add(guardian)
    await session.flush()
    return outs


def stop_messages(session: AsyncSession, guardian: Guardian, *, now: datetime) -> None:
    """The school will send this guardian nothing more (as their own "stop semua")."""
    guardian.opted_out = True
    guardian.withdrawn_at = guardian.withdrawn_at or now
    session.add(guardian)
