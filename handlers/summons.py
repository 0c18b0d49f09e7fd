"""Staff create a summons (`panggil`) or an invitation (`undang`) from chat, with confirmation."""

from __future__ import annotations

from handlers.turn import Turn


async def start_summons(turn: Turn, argument: str) -> None:
    turn.reply("staff_only")


async def start_invitation(turn: Turn, argument: str) -> None:
    turn.reply("staff_only")


async def on_flow_text(turn: Turn) -> None:
    turn.clear_state()


async def on_callback(turn: Turn, data: str) -> None:
    turn.reply("stale_button")
