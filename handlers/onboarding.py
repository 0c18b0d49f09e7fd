"""Onboarding: linking a chat account to roster people, the welcome, and the refusals."""

from __future__ import annotations

from sqlmodel import col, select

from handlers import bk_series
from handlers.menu import greeting_context, menu_buttons
from domain.messages import Button
from handlers.turn import Turn
from storage.channel_routes import people_on
from storage.models import LinkCode, OutboxMessage
from storage.people import schools
from storage.phones import InvalidPhone, normalize_phone


async def handle_unlinked(turn: Turn) -> None:
    """An account we cannot yet tie to the roster: link it, or ask for its contact."""
    inbound = turn.inbound
    if inbound.phone is not None:
        # The channel vouched for the number (WhatsApp, SMS): it is simply not in any roster.
        turn.reply("not_in_roster", {"office": await office_contacts(turn)})
        return
    if inbound.contact_phone is not None:
        await _link_by_contact(turn)
        return
    text = (inbound.text or "").strip()
    parts = text.split(maxsplit=1)
    if parts and parts[0].lower().lstrip("/").split("@")[0] == "start" and len(parts) == 2:
        await redeem_link_code(turn, parts[1].strip())
        return
    # The full welcome once; after it a short reminder of the one thing to do.
    welcomed = (await turn.session.exec(select(OutboxMessage.id).where(  # school_id: indexed, None before linking
        col(OutboxMessage.school_id).is_(None), OutboxMessage.account_id == turn.account.id,
        OutboxMessage.template == "ask_contact"))).first()
    turn.reply("ask_contact", {"office": await office_contacts(turn), "again": welcomed is not None},
               buttons=[[Button(key="buttons.share_contact", request_contact=True)]])


async def _link_by_contact(turn: Turn) -> None:
    inbound = turn.inbound
    if not inbound.contact_is_own:
        turn.reply("contact_not_own", {"office": await office_contacts(turn)},
                   buttons=[[Button(key="buttons.share_contact", request_contact=True)]])
        return
    try:
        phone = normalize_phone(inbound.contact_phone or "")
    except InvalidPhone:
        phone = None
    if phone is None or not any(await people_on(turn.session, phone, channel=inbound.channel,
                                                bot=inbound.bot, school_id=turn.school_id)):
        turn.reply("not_in_roster", {"office": await office_contacts(turn)})
        return
    await link_account(turn, phone)


async def redeem_link_code(turn: Turn, code: str) -> None:
    """`/start CODE`: a one-time code from the school office links this account."""
    row = (await turn.session.exec(select(LinkCode).where(LinkCode.code == code))).first()
    if row is None or row.used_at is not None or (row.expires_at and row.expires_at <= turn.now) \
            or (turn.school_id is not None and row.school_id != turn.school_id):  # another school's bot
        turn.reply("link_code_invalid", {"office": await office_contacts(turn)})
        return
    row.used_at = turn.now
    row.used_by_account_id = turn.account.id
    turn.session.add(row)
    await link_account(turn, row.phone)


async def link_account(turn: Turn, phone: str) -> None:
    """Tie the account to the roster phone and welcome the person in two short messages."""
    turn.account.phone = phone
    turn.account.linked_at = turn.now
    turn.session.add(turn.account)
    turn.guardians, turn.staff = await people_on(turn.session, phone, channel=turn.inbound.channel,
                                                 bot=turn.inbound.bot, school_id=turn.school_id)
    await welcome(turn)


async def welcome(turn: Turn) -> None:
    """The first two messages: what the bot does (and who you are), then what a guru BK is for.

    For a guardian the second message is part 1 of the guru BK explainer series (logged, the rest
    to follow on later days); a guardian who already had it (a second chat account) is not told again.
    """
    context = await greeting_context(turn)
    turn.reply("welcome", context)
    if turn.guardians:
        series = await bk_series.start_on_welcome(turn)
        turn.reply("welcome_counselor", {**context, **series}, buttons=menu_buttons(turn))
    else:
        turn.reply("welcome_staff", context, buttons=menu_buttons(turn))


async def office_contacts(turn: Turn) -> list[str]:
    """How to reach the school office(s), for people the bot cannot serve."""
    return [f"{school.name}: {school.office_contact}" if school.office_contact else school.name
            for school in await schools(turn.session)]

