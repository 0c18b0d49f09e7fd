"""`hapus data` then `jembatan purge` leaves nothing of the family anywhere, and `export-person`
shows every copy that is held before.

A mother talks to the school over Telegram (the real python-telegram-bot client against the fake
Bot API): she shares her contact, writes a concern, gets an answer, her words are quoted in the
counselor's `kasus` list and kept as a routing example. After `hapus data` and the purge, every
text and JSON column of every table (read from ``SQLModel.metadata``, so a table added later is
checked too) is searched for her name, her phone in every writing, her Telegram id and her words.
Only her roster entry keeps her name and number: it is the school's record.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import SQLModel, select

from storage.models import Guardian
from storage.privacy import export_person, purge
from storage.routing_examples import record_correction
from tests.harness import MAYA, RINA
from tests.phones import network

MAYA_TELEGRAM = 918273645
PHRASE = "kalung giok peninggalan neneknya"
WORDS = f"Bu, Ani diejek teman sekelas karena {PHRASE}, dia menangis terus di rumah"
FORMS = [MAYA, MAYA.lstrip("+"), "0" + MAYA[3:], MAYA[3:], str(MAYA_TELEGRAM), "Maya Wijaya", PHRASE]


async def everything_stored(sessions) -> list[tuple[str, str, Any, str]]:  # type: ignore[no-untyped-def]
    """(table, column, row id, text) for every non-empty cell of every table."""
    cells = []
    async with sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await session.exec(core_select(table))).mappings().all():
                key = row.get("id")
                for column, value in row.items():
                    if value is None:
                        continue
                    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
                    cells.append((table.name, column, key, text))
    return cells


def traces_in(cells: list[tuple[str, str, Any, str]], roster_id: int) -> list[str]:
    return [f"{table}.{column} #{key}: {form!r} in {text[:160]!r}" for table, column, key, text in cells
            for form in FORMS if form in text and not (table == "guardian" and key == roster_id)]


async def test_hapus_data_then_purge_leaves_no_copy_in_any_table(database_url: str) -> None:
    async with network(database_url) as net:
        rina = await net.phone("telegram", RINA)
        maya = await net.phone("telegram", MAYA, user_id=MAYA_TELEGRAM)
        await maya.say(WORDS)
        forwarded = (await rina.new())[-1]
        assert PHRASE in forwarded["text"]
        await rina.reply(forwarded, "Terima kasih Bu, besok saya bicara dengan Ani.")
        await maya.new()
        cases = await rina.say("kasus")
        assert "Maya Wijaya" in cases[-1]["text"] or "Ani Wijaya" in cases[-1]["text"]
        async with net.services.sessions() as session, session.begin():
            guardian = (await session.exec(select(Guardian).where(Guardian.phone == MAYA))).one()
            record_correction(session, school_id=guardian.school_id, text=WORDS, group="counseling",
                              source="asked", now=net.clock.now(), guardian_id=guardian.id)

        # Before: everything that is held shows in her export, the raw updates included.
        async with net.services.sessions() as session:
            exported = await export_person(session, MAYA)
        held = exported["held_elsewhere"]
        assert any(str(MAYA_TELEGRAM) in json.dumps(u) for u in held["inbox_message"])
        assert any(MAYA.lstrip("+") in json.dumps(u) for u in held["inbox_message"]), "the shared contact"
        assert any(PHRASE in json.dumps(u) for u in held["inbox_message"])
        assert any(PHRASE in (o.get("text") or "") for o in held["outbox_message"])
        assert any(PHRASE in r["text"] for r in held["routing_example"])
        json.dumps(exported)
        before = traces_in(await everything_stored(net.services.sessions), guardian.id)
        assert {line.split(" ")[0].split(".")[0] for line in before} >= {"inbox_message", "outbox_message",
                                                                          "concern_message", "routing_example"}

        asked = await maya.say("hapus data")
        await maya.press(asked[-1], "Ya, hapus data saya")
        async with net.services.sessions() as session, session.begin():
            result = await purge(session, older_than=timedelta(days=365),
                                 now=net.clock.now())
        assert result.guardians_erased == 1

        leaks = traces_in(await everything_stored(net.services.sessions), guardian.id)
        assert not leaks, f"{len(leaks)} copies left:\n" + "\n".join(leaks[:30])
        # Her roster entry stays (the school's record), and stored updates keep their rows.
        async with net.services.sessions() as session:
            kept = await session.get(Guardian, guardian.id)
            tombstones = (await session.exec(core_select(SQLModel.metadata.tables["inbox_message"]))).mappings().all()
        assert kept is not None and kept.name == "Maya Wijaya" and kept.erased_at is not None
        assert sum(1 for row in tombstones if row["payload"] == {"erased": True}) >= 4
