"""The conversation's front door: commands, buttons and free text to the handler that owns them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from handlers import (
    availability,
    broadcasts,
    concerns,
    digest,
    enrolment,
    follow_ups,
    greetings,
    home_visits,
    meetings,
    menu,
    moves,
    onboarding,
    other_time,
    privacy,
    replies,
    slot_offers,
    summons,
    violence_reports,
)
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
    "kunjungan": "home_visit",
    "rapat": "meetings", "meetings": "meetings", "pertemuan": "meetings",
    "laporan": "reports", "report": "reports", "lapor": "violence_report",
    "siaran": "broadcast", "broadcast": "broadcast", "pengumuman": "broadcast",
    "ringkasan": "digest", "digest": "digest",
    "dasbor": "dashboard", "dashboard": "dashboard",
    "jadwal": "availability", "availability": "availability",
    "alihkan": "handover", "handover": "handover",
    "daftar": "enrol", "register": "enrol",
}
_TAKES_ARGUMENT = {"start", "done", "handover", "attendance", "summon", "invite", "reports", "meetings", "enrol"}


# Commands of two or three words, said as a whole message.
PHRASES = {
    "stop semua": "stop_all", "berhenti semua": "stop_all", "stop all": "stop_all",
    "hapus data": "erase", "hapus data saya": "erase", "delete my data": "erase",
    "kunjungan rumah": "home_visit", "home visit": "home_visit",
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
    if command == "handover" and argument.strip() and not argument.strip().lstrip("#").isdigit():
        return None  # "alihkan ke BK saja, anak saya..." from a parent is a message, not a command
    return command, argument.strip()


def offered_choice(choices: list[dict], text: str | None) -> str | None:
    """The button data meant by '2' or by a button's label, where buttons are not shown."""
    cleaned = re.sub(r"[.!?)]+$", "", (text or "").strip()).casefold()
    if not cleaned or not choices:
        return None
    if cleaned.isdigit():
        number = int(cleaned)
        return choices[number - 1]["data"] if 1 <= number <= len(choices) else None
    # A label may itself end in ")" ("Perilaku, perasaan & pergaulan (BK)"): compare it as typed too.
    typed = re.sub(r"[.!?]+$", "", (text or "").strip()).casefold()
    return next((c["data"] for c in choices if c["label"].casefold() in (cleaned, typed)), None)


async def dispatch(turn: Turn) -> None:
    """Answer one inbound message; the answers collect in ``turn.replies``."""
    inbound = turn.inbound
    if not turn.linked:
        # A letter's code or the family's number first; otherwise linking by contact or link code.
        if not await enrolment.handle_unlinked(turn, parse_command(inbound.text),
                                               offered_choice(turn.conversation.choices, inbound.text)):
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
    if turn.guardians and turn.conversation.flow == violence_reports.FLOW:
        await violence_reports.on_flow_text(turn)  # before the media checks: a photo belongs here
        return
    if turn.guardians and inbound.reply_to is not None and await violence_reports.continue_report(turn):
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
    if turn.conversation.flow == enrolment.FLOW:
        await enrolment.on_flow_text(turn)
        return
    if turn.staff and turn.conversation.flow in ("summons", "invitation"):
        await summons.on_flow_text(turn)
        return
    if turn.staff and turn.conversation.flow == "broadcast":
        await broadcasts.on_flow_text(turn)
        return
    if turn.staff and turn.conversation.flow == home_visits.FLOW:
        await home_visits.on_flow_text(turn)
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
    if greeting is not None and turn.guardians and not await concerns.open_concerns_of(turn):
        await menu.show_menu(turn, greeting=greeting)  # "halo", "selamat pagi bu": not a concern yet
        return
    await concerns.on_guardian_text(turn)


Action = Callable[[Turn, str], Awaitable[None]]

# Button data prefix → (who may press it, what it does). Anyone else gets "no longer valid".
CALLBACKS: dict[str, tuple[str, Action]] = {
    "cc": ("guardian", concerns.on_callback),
    "cg": ("guardian", concerns.on_callback),
    "cw": ("guardian", concerns.on_callback),
    "gd": ("guardian", concerns.on_done_callback),
    "wp": ("guardian", moves.on_wrong_person),
    "wg": ("guardian", moves.on_wrong_person),
    "rv": ("guardian", meetings.on_rsvp),
    "fu": ("guardian", follow_ups.on_check_in_answer),
    "er": ("guardian", privacy.on_callback),
    "ba": ("guardian", broadcasts.on_answer),
    "sl": ("guardian", slot_offers.on_callback),
    "av": ("anyone", availability.on_callback),
    "ew": ("anyone", enrolment.on_callback),
    "eo": ("anyone", enrolment.on_callback),
    "ec": ("anyone", enrolment.on_callback),
    "ek": ("staff", enrolment.on_confirm),
    "pg": ("staff", summons.on_callback),
    "ug": ("staff", summons.on_callback),
    "hd": ("staff", meetings.on_attendance_button),
    "sb": ("staff", broadcasts.on_callback),
    "ks": ("staff", follow_ups.on_callback),
    "ho": ("staff", moves.on_staff_callback),
    "hw": ("staff", moves.on_staff_callback),
    "sa": ("staff", replies.on_which_callback),
    "lr": ("guardian", violence_reports.on_callback),
    "kr": ("staff", home_visits.on_callback),
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
    "home_visit": lambda turn, _: home_visits.start(turn),
    "attendance": meetings.record_attendance,
    "dashboard": send_dashboard_link,
    "handover": moves.start_handover,
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
    if command == "violence_report" or (command == "reports" and turn.guardians and not turn.staff
                                        and turn.inbound.text is not None
                                        and turn.inbound.text.strip().lstrip("/").casefold().startswith("report")):
        # `lapor` is a guardian's violence report; `report` too, from a guardian who is not staff
        # (staff keep `report` / `laporan` for their broadcasts' delivery reports).
        await (violence_reports.start(turn) if turn.guardians else _staff_only_report(turn))
    elif _letter_meeting(turn, command, argument) is not None:
        # The QR code of a printed letter (`/start rapat_N`, `RAPAT N`): the family's invitation again.
        if not await meetings.show_invitation(turn, _letter_meeting(turn, command, argument)):  # type: ignore[arg-type]
            turn.reply("stale_button")
    elif command in STAFF_COMMANDS:
        await (STAFF_COMMANDS[command](turn, argument) if turn.staff else _staff_only(turn))
    elif command == "enrol":
        await enrolment.start_with_code(turn, argument)
    elif command == "start":
        if argument and enrolment.looks_like_family_code(argument):
            await enrolment.start_with_code(turn, argument)
        elif argument:
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


def _letter_meeting(turn: Turn, command: str, argument: str) -> int | None:
    """The meeting a guardian's `/start rapat_N` or `rapat N` names (a letter's QR code)."""
    if command not in ("start", "meetings") or not turn.guardians or turn.staff:
        return None
    found = re.fullmatch(r"(?:rapat[_ ]?)?(\d{1,9})" if command == "meetings" else r"rapat[_ ]?(\d{1,9})",
                         argument.strip().casefold())
    return int(found[1]) if found else None


async def _staff_only_report(turn: Turn) -> None:
    turn.reply("report_guardians_only")


async def _staff_only(turn: Turn) -> None:
    turn.reply("staff_only")
