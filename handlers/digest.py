"""The daily digest (ringkasan): a guardian's choice, and the job that sends the digests.

`ringkasan` / `digest` toggles it. While it is on, non-urgent announcements wait as
``DigestItem`` rows (written with the announcement) and go out together at 19.00 school time;
urgent ones still arrive at once. The job turns each guardian's due items into one message
(split only where a channel's length limit would cut it) and marks the items sent in the same
transaction that writes the outbox rows: nothing is lost across a restart, nothing sent twice.
Announcements already waiting when the guardian turns the digest off still come at 19.00; those
of a guardian who said STOP in the meantime are dropped (the delivery report counts them opted out).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.broadcasts import ANSWERS, BULK
from domain.messages import Button, Outbound, Recipient
from handlers.turn import Turn
from storage.digest import digest_due, waiting_items
from storage.models import Broadcast, DigestItem, Guardian, School, Staff
from storage.outbox import enqueue
from templates.render import label, language_or_default

MESSAGE_BUDGET = 1200  # characters of announcement text per digest message (WhatsApp cuts at 1600)


async def toggle(turn: Turn) -> None:
    """`ringkasan`: announcements once a day in one message, or one by one again."""
    if not turn.guardians:
        turn.reply("stop_not_guardian")  # "announcement settings are for parents"
        return
    on = not all(g.digest for g in turn.guardians)
    for guardian in turn.guardians:
        guardian.digest = on
        turn.session.add(guardian)
    school = await turn.session.get(School, turn.guardians[0].school_id)
    tz = school.timezone if school else turn.policy.default_timezone
    turn.reply(
        "digest_switched",
        {
            "on": on,
            "at": digest_due(turn.now, tz),
            "tz": tz,
            "waiting": await waiting_items(turn.session, [g.id for g in turn.guardians if g.id]),
            "opted_out": any(g.opted_out for g in turn.guardians),
        },
    )


async def send_due_digests(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    simulator_enabled: bool,
    default_language: str = "id",
) -> int:
    """The job: each guardian's due announcements in one digest; returns how many got one."""
    async with sessions() as session, session.begin():
        items = list(
            (
                await session.exec(
                    select(DigestItem)
                    .where(DigestItem.status == "pending", col(DigestItem.due_at) <= now)
                    .order_by(DigestItem.guardian_id, DigestItem.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        groups: dict[int, list[DigestItem]] = {}
        for item in items:
            groups.setdefault(item.guardian_id, []).append(item)
        sent = 0
        for guardian_id, group in groups.items():
            guardian = await session.get(Guardian, guardian_id)
            if guardian is None or guardian.opted_out:
                for item in group:
                    item.status, item.sent_at = "dropped", now
                    session.add(item)
                continue
            await _send_digest(
                session,
                guardian,
                group,
                now=now,
                simulator_enabled=simulator_enabled,
                default_language=default_language,
            )
            sent += 1
    return sent


async def _send_digest(
    session: AsyncSession,
    guardian: Guardian,
    items: Sequence[DigestItem],
    *,
    now: datetime,
    simulator_enabled: bool,
    default_language: str,
) -> None:
    school = await session.get(School, guardian.school_id)
    assert school is not None  # a guardian belongs to a school
    lang = language_or_default(guardian.language, default_language)
    entries: list[tuple[DigestItem, dict[str, Any]]] = []
    for n, item in enumerate(items, start=1):
        broadcast = await session.get(Broadcast, item.broadcast_id)
        author = await session.get(Staff, broadcast.author_staff_id) if broadcast else None
        if broadcast is None:
            continue
        entries.append(
            (
                item,
                {
                    "n": n,
                    "id": broadcast.id,
                    "text": broadcast.text,
                    "answers": broadcast.answers,
                    "author_name": author.name if author else "",
                    "author_role": author.role if author else "admin",
                    "at": broadcast.send_at,
                },
            )
        )
    chunks = _chunks(entries)
    for part, chunk in enumerate(chunks, start=1):
        buttons = [
            [
                Button(
                    label=label(lang, "digest.answer").format(
                        answer=label(lang, f"broadcast_answers.{a}"), n=entry["n"]
                    ),
                    data=f"ba:{entry['id']}:{a}",
                )
                for a in ANSWERS.get(entry["answers"], ())
            ]
            for _, entry in chunk
            if entry["answers"]
        ]
        rows = await enqueue(
            session,
            [
                Outbound(
                    to=Recipient(
                        phone=guardian.phone,
                        guardian_id=guardian.id,
                        school_id=guardian.school_id,
                        language=lang,
                    ),
                    template="digest",
                    priority=BULK,
                    buttons=buttons,
                    context={
                        "items": [entry for _, entry in chunk],
                        "school_name": school.name,
                        "tz": school.timezone,
                        "guardian_name": guardian.name,
                        "today": now,
                        "part": part,
                        "parts": len(chunks),
                        "total": len(entries),
                    },
                )
            ],
            now=now,
            simulator_enabled=simulator_enabled,
            default_language=default_language,
        )
        for item, _ in chunk:
            item.status, item.sent_at, item.outbox_id = "sent", now, rows[0].id
            session.add(item)


def _chunks(
    entries: list[tuple[DigestItem, dict[str, Any]]],
) -> list[list[tuple[DigestItem, dict[str, Any]]]]:
    """One message, unless the texts together would be cut by a channel: then as few as fit."""
    chunks: list[list[tuple[DigestItem, dict[str, Any]]]] = []
    size = 0
    for entry in entries:
        length = len(entry[1]["text"])
        if not chunks or size + length > MESSAGE_BUDGET and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += length
    return chunks
