"""The audit log of staff actions on personal data: who answered a family, announced, summoned,
exported, signed in to or opened what on the dashboard (``AuditEntry`` rows)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEntry, Staff


def record_action(session: AsyncSession, staff: Staff, action: str, subject: str, *, now: datetime,
                  reason: str | None = None) -> None:
    """One entry, in the caller's transaction (so it exists exactly when the action does)."""
    session.add(AuditEntry(school_id=staff.school_id, staff_id=staff.id, action=action,  # type: ignore[arg-type]
                           subject=subject, at=now, reason=reason))
