"""Greeting and menu, the guru BK explainer, language switch and announcement opt-out."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from domain.messages import Button, Outbound, Recipient
from handlers.turn import Turn
from storage.models import ChannelAccount, Staff
from storage.people import children_of, guardians_by_phone, staff_by_phone
from storage.routing import homeroom_teacher


async def greeting_context(turn: Turn) -> dict[str, Any]:
    """Who the sender is linked as: a guardian's children and classes, a staff member's role."""
    children = await children_of(turn.session, [g.id for g in turn.guardians if g.id])
    return {
        "guardian_name": turn.guardians[0].name if turn.guardians else None,
        "children": [{"name": c.name, "class_name": c.school_class.name,
                      "relation": c.link.relation} for c in children],
        "staff": [staff_view(s) for s in turn.staff],
    }


def staff_view(staff: Staff) -> dict[str, Any]:
    return {"name": staff.name, "role": staff.role, "homeroom_class": staff.homeroom_class,
            "subjects": [s for s in staff.subjects.split(";") if s]}


def menu_buttons(turn: Turn) -> list[list[Button]]:
    rows: list[list[Button]] = []
    if turn.staff:
        rows.append([Button(key="buttons.cases", data="cmd:kasus")])
    if turn.guardians:
        rows.append([Button(key="buttons.counselor_info", data="cmd:bk")])
    rows.append([Button(key="buttons.language", data="cmd:bahasa")])
    return rows


async def show_menu(turn: Turn, greeting: str | None = None) -> None:
    """The menu; ``greeting`` (a words.yaml ``greetings`` key) answers a "halo" in kind."""
    turn.reply("menu", {**await greeting_context(turn), "greeting": greeting}, buttons=menu_buttons(turn))


async def start(turn: Turn) -> None:
    """`/start`: greet and, for an opted-out guardian, resume announcements (START means that too)."""
    if any(g.opted_out for g in turn.guardians):
        await resume_announcements(turn)
    await show_menu(turn)


def counselor_info(turn: Turn) -> None:
    turn.reply("counselor_info")


async def switch_language(turn: Turn) -> None:
    """Toggle Bahasa Indonesia / English for every roster row of this person."""
    new = "en" if turn.language == "id" else "id"
    phone = turn.account.phone
    if phone:
        for person in [*await guardians_by_phone(turn.session, phone, turn.school_id),
                       *await staff_by_phone(turn.session, phone, turn.school_id)]:
            person.language = new
            turn.session.add(person)
    for person in [*turn.guardians, *turn.staff]:
        person.language = new
    turn.reply("language_switched")


async def stop_announcements(turn: Turn) -> None:
    """STOP / BERHENTI: no more announcements; notices still come; homeroom teachers are told."""
    if not turn.guardians:
        turn.reply("stop_not_guardian")
        return
    already = all(g.opted_out for g in turn.guardians)
    for guardian in turn.guardians:
        guardian.opted_out = True
        turn.session.add(guardian)
    turn.reply("stopped")
    if already:
        return
    children = await children_of(turn.session, [g.id for g in turn.guardians if g.id])
    told: set[int] = set()
    for child in children:
        teacher = await homeroom_teacher(turn.session, child.student.school_id, child.school_class.name)
        if teacher and teacher.id not in told:
            told.add(teacher.id)  # type: ignore[arg-type]
            guardian = next(g for g in turn.guardians if g.school_id == child.student.school_id)
            turn.send(Outbound(to=Recipient(phone=teacher.phone, staff_id=teacher.id),
                               template="staff_told_opt_out",
                               context={"guardian_name": guardian.name, "relation": child.link.relation,
                                        "child_name": child.name, "class_name": child.school_class.name}))


async def resume_announcements(turn: Turn) -> None:
    """MULAI / START: announcements again."""
    if not turn.guardians:
        turn.reply("stop_not_guardian")
        return
    for guardian in turn.guardians:
        guardian.opted_out = False
        turn.session.add(guardian)
    turn.reply("resumed")



async def prefer_channel(turn: Turn, channel: str) -> None:
    """`sms` / `whatsapp`: where the school's messages should reach this person from now on."""
    phone = turn.account.phone
    if channel == "sms" and not turn.policy.sms_enabled or phone is None:
        turn.reply("sms_unavailable")
        return
    accounts = list((await turn.session.exec(select(ChannelAccount).where(ChannelAccount.phone == phone))).all())
    chosen = next((a for a in accounts if a.channel == channel), None)
    if chosen is None and channel == "sms":
        chosen = ChannelAccount(channel="sms", external_id=phone, chat_id=phone, phone=phone,
                                linked_at=turn.now, last_seen_at=turn.now)
        turn.session.add(chosen)
        accounts.append(chosen)
    for account in accounts:
        account.preferred = account is chosen and channel == "sms"
        turn.session.add(account)
    turn.reply("channel_preferred", {"channel": channel})
