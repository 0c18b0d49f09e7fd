"""A guardian's consent (UU 27/2022): recorded when they first chat with the bot, withdrawn with
``stop semua`` (nothing more is sent) or ``hapus data`` (and their chat data is deleted by the
school's next ``jembatan purge``); ``mulai`` gives it again.

Button data: ``er:yes`` confirms the erasure request, ``er:no`` keeps everything.
"""

from __future__ import annotations

from domain.messages import Button
from handlers.turn import Turn

def record_consent(turn: Turn) -> None:
    """The first message from a linked guardian: when, and through which channel."""
    for guardian in turn.guardians:
        if guardian.consent_at is None:
            guardian.consent_at, guardian.consent_channel = turn.now, turn.inbound.channel
            turn.session.add(guardian)


async def start_erase(turn: Turn) -> None:
    """`hapus data` / `delete my data`: say what will happen, then ask to confirm."""
    if not turn.guardians:
        turn.reply("stop_not_guardian")
        return
    turn.set_state("erase", "confirm")
    turn.reply("erase_confirm", buttons=[[Button(key="privacy.erase_yes", data="er:yes"),
                                          Button(key="privacy.erase_no", data="er:no")]])


async def on_callback(turn: Turn, data: str) -> None:
    if turn.conversation.flow != "erase":
        turn.reply("stale_button")
        return
    turn.clear_state()
    if data != "er:yes":
        turn.reply("erase_kept")
        return
    for guardian in turn.guardians:
        guardian.withdrawn_at = guardian.withdrawn_at or turn.now
        guardian.erase_requested_at = turn.now
        guardian.opted_out = True
        turn.session.add(guardian)
    turn.reply("erase_requested")


async def stop_everything(turn: Turn) -> None:
    """`stop semua` / `stop all`: no message of any kind from the school any more."""
    if not turn.guardians:
        turn.reply("stop_not_guardian")
        return
    for guardian in turn.guardians:
        guardian.withdrawn_at = guardian.withdrawn_at or turn.now
        guardian.opted_out = True
        turn.session.add(guardian)
    turn.reply("stopped_everything")


def give_consent_again(turn: Turn) -> bool:
    """`mulai` after a withdrawal: messages again (an erasure not yet carried out is called off).
    True when consent had been withdrawn."""
    withdrew = False
    for guardian in turn.guardians:
        if guardian.withdrawn_at is not None and guardian.erased_at is None:
            guardian.withdrawn_at = guardian.erase_requested_at = None
            guardian.consent_at, guardian.consent_channel = turn.now, turn.inbound.channel
            turn.session.add(guardian)
            withdrew = True
    return withdrew
