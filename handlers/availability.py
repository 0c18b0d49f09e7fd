"""``jadwal`` / ``availability``: a guardian (or a teacher) says when they can meet.

Words first ("Sabtu pagi, malam hari kerja setelah jam 7"); the bot repeats back what it
understood and keeps it for every meeting. What it cannot read, it says so and offers buttons
(days × parts of the day) instead. A guardian who still has a meeting time to choose is offered
slots right after, now that the bot knows what suits them.

Button data: ``av:t:GROUP:PART`` toggles a cell of the grid, ``av:save`` keeps the picked cells,
``av:grid`` shows the grid.
"""

from __future__ import annotations

from sqlmodel import col, select

from domain.messages import Button
from handlers.slot_offers import offer_message
from handlers.turn import Turn
from domain.availability import AvailabilityError, AvailabilityWindow, windows_from_json
from scheduler.availability import DAY_PARTS, describe_availability, parse_availability, window_for
from storage.models import Meeting, MeetingFamily, MeetingInvitation, MeetingSlot
from storage.stated_availability import save_availability, stated_by
from templates.render import label

FLOW = "availability"
# The grid's rows: the groups of days parents think in.
DAY_GROUPS = {"weekdays": (0, 1, 2, 3, 4), "sat": (5,), "sun": (6,)}


async def start(turn: Turn) -> None:
    """Ask when they can meet, showing what they said before."""
    current = await _current(turn)
    turn.set_state(FLOW, "text")
    turn.reply("availability_ask", {"current": describe_availability(current, turn.language) if current else None},
               buttons=[[Button(key="jadwal.use_buttons", data="av:grid")]])


async def on_flow_text(turn: Turn) -> None:
    text = (turn.inbound.text or "").strip()
    try:
        windows = parse_availability(text)
    except AvailabilityError as problem:
        turn.set_state(FLOW, "grid", picked=[])
        turn.reply("availability_not_understood", {"text": text, "part": str(problem)},
                   buttons=_grid(turn, []))
        return
    await _save(turn, text, windows)


async def on_callback(turn: Turn, data: str) -> None:
    parts = data.split(":")
    if parts[1:2] == ["grid"]:
        turn.set_state(FLOW, "grid", picked=[])
        turn.reply("availability_grid", {"picked": []}, buttons=_grid(turn, []))
        return
    if turn.conversation.flow != FLOW:
        turn.reply("stale_button")
        return
    picked: list[str] = list(turn.conversation.data.get("picked", []))
    if parts[1:2] == ["save"]:
        if not picked:
            turn.reply("availability_grid", {"picked": [], "empty": True}, buttons=_grid(turn, picked))
            return
        await _save(turn, "", _windows(picked))
        return
    if parts[1:2] == ["t"] and len(parts) == 4 and parts[2] in DAY_GROUPS and parts[3] in DAY_PARTS:
        cell = f"{parts[2]}:{parts[3]}"
        picked = [p for p in picked if p != cell] if cell in picked else [*picked, cell]
        turn.set_state(FLOW, "grid", picked=picked)
        described = describe_availability(_windows(picked), turn.language) if picked else None
        turn.reply("availability_grid", {"picked": picked, "described": described}, buttons=_grid(turn, picked))
        return
    turn.reply("stale_button")


def _windows(picked: list[str]) -> list[AvailabilityWindow]:
    windows = set()
    for cell in picked:
        group, part = cell.split(":")
        for weekday in DAY_GROUPS[group]:
            windows.add(window_for(weekday, part))
    return sorted(windows)


def _grid(turn: Turn, picked: list[str]) -> list[list[Button]]:
    """Days × parts of the day; a picked cell carries a tick so the person sees their choice."""
    rows = []
    for group in DAY_GROUPS:
        row = []
        for part in DAY_PARTS:
            cell = f"{group}:{part}"
            text = f"{label(turn.language, f'jadwal.days.{group}')} {label(turn.language, f'jadwal.parts.{part}')}"
            row.append(Button(label=f"✓ {text}" if cell in picked else text, data=f"av:t:{cell}"))
        rows.append(row)
    rows.append([Button(key="jadwal.save", data="av:save")])
    return rows


async def _current(turn: Turn) -> list[AvailabilityWindow] | None:
    row = await (stated_by(turn.session, guardian_id=turn.guardians[0].id) if turn.guardians
                 else stated_by(turn.session, staff_id=turn.staff[0].id))
    return windows_from_json(row.windows) if row is not None and row.windows else None


async def _save(turn: Turn, text: str, windows: list[AvailabilityWindow]) -> None:
    """Keep it (for each roster identity of this person), repeat it back, then offer any
    meeting time still to choose."""
    for guardian in turn.guardians:
        await save_availability(turn.session, school_id=guardian.school_id, guardian_id=guardian.id, text=text,
                                windows=windows, now=turn.now)
    if not turn.guardians:
        for member in turn.staff:
            await save_availability(turn.session, school_id=member.school_id, staff_id=member.id, text=text,
                                    windows=windows, now=turn.now)
    turn.clear_state()
    turn.reply("availability_saved", {"described": describe_availability(windows, turn.language),
                                      "staff": not turn.guardians},
               buttons=[[Button(key="jadwal.change", data="cmd:jadwal")]])
    await _offer_pending(turn)


async def _offer_pending(turn: Turn) -> None:
    """Meetings where this family still has a time to choose: offer slots that now fit."""
    if not turn.guardians:
        return
    rows = (await turn.session.exec(
        select(MeetingInvitation, MeetingFamily, Meeting)
        .join(MeetingFamily, col(MeetingFamily.id) == MeetingInvitation.family_id)
        .join(Meeting, col(Meeting.id) == MeetingInvitation.meeting_id)
        .where(col(MeetingInvitation.guardian_id).in_([g.id for g in turn.guardians]),
               Meeting.status != "cancelled", col(MeetingFamily.slot_id).is_(None),
               col(MeetingFamily.response).in_(["attend", "other_time"])))).all()
    offered: set[int] = set()
    for invitation, family, meeting in rows:
        if family.id in offered:
            continue
        slots = (await turn.session.exec(select(MeetingSlot.id).where(
            MeetingSlot.meeting_id == meeting.id, col(MeetingSlot.starts_at) > turn.now))).all()
        if len(slots) > 1:
            guardian = next(g for g in turn.guardians if g.id == invitation.guardian_id)
            turn.send(await offer_message(turn.session, meeting, family, guardian, now=turn.now))
            offered.add(family.id)  # type: ignore[arg-type]
