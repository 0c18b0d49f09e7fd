"""The conversation's front door: commands, buttons and free text to the handler that owns them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from handlers import availability, broadcasts, concerns, digest, follow_ups, greetings, meetings, menu, onboarding, other_time, privacy, replies, slot_offers, summons
from handlers.dashboard import send_link as send_dashboard_link
from handlers.turn import Turn

# Command words, with or without '/', in either case; the whole message must be the command
# so that "Stop bullying my child!" is a concern, not an opt-out.
COMMANDS = {
    "start": "start", "menu": "menu", "help": "menu", "bantuan": "menu",
    "bk": "bk", "bahasa": "language", "language": "language",
    "stop": "stop", "berhenti": "stop", "mulai": "resume",
    "kasus": "cases", "cases": "cases", "selesai": "done", "done": "done",
    "batal": "cancel", "cancel": "cancel",
    "sms": "sms", "whatsapp": "whatsapp", "wa": "whatsapp",
    "hadir": "attendance", "present": "attendance",
    "panggil": "summon", "summon": "summon", "undang": "invite", "invite": "invite",
    "kesepakatan": "agreement", "agreement": "agreement",
    "rapat": "meetings", "meetings": "meetings", "pertemuan": "meetings",
    "laporan": "reports", "report": "reports",
    "siaran": "broadcast", "broadcast": "broadcast", "pengumuman": "broadcast",
    "ringkasan": "digest", "digest": "digest",
    "dasbor": "dashboard", "dashboard": "dashboard",
    "jadwal": "availability", "availability": "availability",
}
_TAKES_ARGUMENT = {"start", "done", "attendance", "summon", "invite", "reports", "meetings"}


# Commands of two or three words, said as a whole message.
PHRASES = {
    "stop semua": "stop_all", "berhenti semua": "stop_all", "stop all": "stop_all",
    "hapus data": "erase", "hapus data saya": "erase", "delete my data": "erase",
}


def parse_command(text: str | None) -> tuple[str, str] | None:
    """('done', '12') for '/selesai 12'; None when the text is not a command."""
    if not text:
        return None
    cleaned = re.sub(r"[.!?]+$", "", text.strip())
    phrase = PHRASES.get(" ".join(cleaned.lstrip("/").casefold().split()))
    if phrase is not None:
        return phrase, ""
    word, _, argument = cleaned.partition(" ")
    word = word.lstrip("/").split("@")[0].casefold()
    command = COMMANDS.get(word)
    if command is None or (argument.strip() and command not in _TAKES_ARGUMENT):
        return None
    return command, argument.strip()


def offered_choice(choices: list[dict], text: str | None) -> str | None:
    """The button data meant by '2' or by a button's label, where buttons are not shown."""
    cleaned = re.sub(r"[.!?)]+$", "", (text or "").strip()).casefold()
    if not cleaned or not choices:
        return None
    if cleaned.isdigit():
        number = int(cleaned)
        return choices[number - 1]["data"] if 1 <= number <= len(choices) else None
    return next((c["data"] for c in choices if c["label"].casefold() == cleaned), None)


async def dispatch(turn: Turn) -> None:
    """Answer one inbound message; the answers collect in ``turn.replies``."""
    inbound = turn.inbound
    if not turn.linked:
        await onboarding.handle_unlinked(turn)
        return
    command = parse_command(inbound.text)
    privacy.record_consent(turn)
    if turn.guardians and not turn.staff and all(g.withdrawn_at for g in turn.guardians) and (
            command is None or command[0] not in ("resume", "start", "menu", "language", "erase")):
        turn.reply("withdrawn_hint")  # they asked for nothing more: not even a concern is taken
        return
    if turn.first_contact:
        await onboarding.welcome(turn)
        if command is not None and command[0] in ("start", "menu"):
            return
    if inbound.contact_phone is not None:
        await menu.show_menu(turn)  # already linked: sharing the contact again changes nothing
        return
    if inbound.callback is not None:
        await _on_callback(turn, inbound.callback)
        return
    chosen = offered_choice(turn.conversation.choices, inbound.text)
    if chosen is not None:
        await _on_callback(turn, chosen)
        return
    if command is not None and command[1] and turn.staff and turn.conversation.flow == "broadcast":
        command = None  # "Rapat komite Sabtu..." is the announcement being written, not `rapat`
    if command is not None:
        await _on_command(turn, *command)
        return
    if inbound.has_media and not concerns.attachments(turn) and turn.guardians:
        # A voice note, a sticker, a shared location...: say what we can take on this channel.
        turn.reply("media_unsupported", {"channel": inbound.channel})
        if not (inbound.text or "").strip():
            return
    elif not (inbound.text or "").strip() and not (turn.guardians and concerns.attachments(turn)):
        turn.reply("media_unsupported" if inbound.has_media else "empty_message", {"channel": inbound.channel})
        return
    if turn.conversation.flow == availability.FLOW:
        await availability.on_flow_text(turn)
        return
    if turn.staff and turn.conversation.flow in ("summons", "invitation"):
        await summons.on_flow_text(turn)
        return
    if turn.staff and turn.conversation.flow == "broadcast":
        await broadcasts.on_flow_text(turn)
        return
    if turn.staff and turn.conversation.flow == other_time.FLOW:
        await other_time.on_flow_text(turn)
        return
    if turn.staff and turn.conversation.flow == "agreement":
        await follow_ups.on_flow_text(turn)
        return
    if turn.guardians and turn.conversation.flow == "check_in":
        await follow_ups.on_check_in_note(turn)
        return
    if turn.staff and (inbound.reply_to is not None or not turn.guardians):
        await replies.on_staff_text(turn)
        return
    if turn.conversation.flow == "concern":
        await concerns.on_flow_text(turn)
        return
    greeting = greetings.greeting_in(inbound.text)
    if greeting is not None and turn.guardians and await concerns.open_concern_of(turn) is None:
        await menu.show_menu(turn, greeting=greeting)  # "halo", "selamat pagi bu": not a concern yet
        return
    await concerns.on_guardian_text(turn)


Action = Callable[[Turn, str], Awaitable[None]]

# Button data prefix → (who may press it, what it does). Anyone else gets "no longer valid".
CALLBACKS: dict[str, tuple[str, Action]] = {
    "cc": ("guardian", concerns.on_callback),
    "cg": ("guardian", concerns.on_callback),
    "rv": ("guardian", meetings.on_rsvp),
    "fu": ("guardian", follow_ups.on_check_in_answer),
    "er": ("guardian", privacy.on_callback),
    "ba": ("guardian", broadcasts.on_answer),
    "sl": ("guardian", slot_offers.on_callback),
    "av": ("anyone", availability.on_callback),
    "pg": ("staff", summons.on_callback),
    "ug": ("staff", summons.on_callback),
    "hd": ("staff", meetings.on_attendance_button),
    "sb": ("staff", broadcasts.on_callback),
    "ks": ("staff", follow_ups.on_callback),
    "ot": ("staff", other_time.on_callback),
}

# Commands for staff only, with their argument (a guardian is told these are for teachers).
STAFF_COMMANDS: dict[str, Action] = {
    "cases": lambda turn, _: replies.list_cases(turn),
    "summon": summons.start_summons,
    "invite": summons.start_invitation,
    "broadcast": lambda turn, _: broadcasts.start(turn),
    "reports": broadcasts.show_reports,
    "meetings": meetings.show_meetings,
    "agreement": lambda turn, _: follow_ups.start_agreement(turn),
    "attendance": meetings.record_attendance,
    "dashboard": send_dashboard_link,
}


async def _on_callback(turn: Turn, data: str) -> None:
    if data.startswith("cmd:"):
        command = parse_command(data[4:])
        if command is not None:
            await _on_command(turn, *command)
            return
    who, action = CALLBACKS.get(data.partition(":")[0], ("", None))
    allowed = {"staff": turn.staff, "guardian": turn.guardians, "anyone": turn.linked}[who] if who else False
    if action is not None and allowed:
        await action(turn, data)
        return
    turn.reply("stale_button")


async def _on_command(turn: Turn, command: str, argument: str) -> None:
    if command != "done":
        turn.clear_state()  # a command leaves any half-finished question behind
    if command in STAFF_COMMANDS:
        await (STAFF_COMMANDS[command](turn, argument) if turn.staff else _staff_only(turn))
    elif command == "start":
        if argument:
            await onboarding.redeem_link_code(turn, argument)
        elif turn.guardians and any(g.opted_out or g.withdrawn_at for g in turn.guardians):
            privacy.give_consent_again(turn)  # START after STOP: back in (CONTRACT section 7)
            await menu.resume_announcements(turn)
        else:
            await menu.start(turn)
    elif command == "menu":
        await menu.show_menu(turn)
    elif command == "availability":
        await availability.start(turn)
    elif command == "bk":
        menu.counselor_info(turn)
    elif command == "language":
        await menu.switch_language(turn)
    elif command == "stop":
        await menu.stop_announcements(turn)
    elif command == "stop_all":
        await privacy.stop_everything(turn)
    elif command == "erase":
        await privacy.start_erase(turn)
    elif command == "resume":
        privacy.give_consent_again(turn)
        await menu.resume_announcements(turn)
    elif command == "digest":
        await digest.toggle(turn)
    elif command in ("sms", "whatsapp"):
        await menu.prefer_channel(turn, command)
    elif command == "cancel":
        turn.reply("cancelled")
    elif command == "done":
        turn.clear_state()
        if turn.staff and (turn.inbound.reply_to is not None or argument or not turn.guardians):
            await replies.close_case(turn, argument)
        else:
            await concerns.close_by_guardian(turn)


async def _staff_only(turn: Turn) -> None:
    turn.reply("staff_only")
