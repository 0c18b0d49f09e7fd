"""Family enrolment in chat: a code from a letter (``daftar KODE``, ``/start KODE``) or the
family's Dapodik number, then who the person is, their consent, and the link.

Steps (flow ``enrol``): ``who`` (the roster's guardians of the child as buttons, "Lainnya", and
on the family's number "Nomor ini milik siswa") → for "Lainnya" ``relation`` and ``name`` →
``consent`` (UU PDP 27/2022: nothing is linked without it) → linked at once when the sender's
number is that guardian's or the family's in the roster, otherwise the homeroom teacher confirms
with "Benar" / "Bukan"; unanswered for two days, the office is asked (``escalate_unanswered``).

Button data: ``ew:<guardian id>|other|student`` who they are, ``eo:<relation>`` the relation of
a person the roster lacks, ``ec:yes|no`` consent, ``ek:yes|no:<enrolment id>`` staff's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.messages import Button, Outbound, Recipient
from handlers.onboarding import link_account, office_contacts
from handlers.turn import Turn
from storage import enrolment as store
from storage.outbox import enqueue
from storage.models import ChannelAccount, Enrolment, Guardian, School, SchoolClass, Staff, Student
from storage.people import guardians_by_phone, staff_by_phone
from storage.phones import InvalidPhone, has_phone, normalize_phone

FLOW = "enrol"
looks_like_family_code = store.looks_like_family_code
RELATIONS = ("ayah", "ibu", "wali", "orang tua asuh")
NAME_LIMIT = 80


def _sender(turn: Turn) -> str:
    """Who typed a code, as a hash: a WhatsApp sender id is a phone number, not kept here."""
    return hashlib.sha256(f"{turn.inbound.channel}:{turn.inbound.sender_id}".encode()).hexdigest()[:32]


def _known_phone(turn: Turn) -> str | None:
    """The sender's own number when a channel vouched for it (WhatsApp), or the key of the
    guardian this account is already linked as."""
    return turn.account.phone or None


async def _child(session: AsyncSession, student_id: int) -> tuple[Student, SchoolClass, School]:
    student = await session.get(Student, student_id)
    assert student is not None
    school_class = await session.get(SchoolClass, student.class_id)
    school = await session.get(School, student.school_id)
    assert school_class is not None and school is not None
    return student, school_class, school


def _office(school: School) -> list[str]:
    """How to reach this school's office (the people told here belong to no other school)."""
    return [f"{school.name}: {school.office_contact}" if school.office_contact else school.name]


def _child_context(student: Student, school_class: SchoolClass, school: School) -> dict[str, Any]:
    return {"student_name": student.name, "class_name": school_class.name, "school_name": school.name}


# ---------------------------------------------------------------- the ways in


async def start_with_code(turn: Turn, raw: str) -> None:
    """`daftar KODE` / `register CODE` / `/start KODE`: check the code, then ask who they are."""
    turn.clear_state()
    sender = _sender(turn)
    if await store.guesses_blocked(turn.session, sender, now=turn.now):
        turn.reply("enrol_code_refused")  # says nothing about whether this code exists
        return
    if not raw.strip():
        turn.reply("enrol_code_missing")
        return
    check = await store.check_family_code(turn.session, raw, now=turn.now) \
        if store.looks_like_family_code(raw) else store.CodeCheck("unknown")
    store.record_attempt(turn.session, sender, ok=check.status == "ok", now=turn.now)
    if check.status == "unknown":
        turn.reply("enrol_code_wrong")
        return
    assert check.code is not None
    if check.status in ("expired", "replaced"):
        school = await turn.session.get(School, check.code.school_id)
        turn.reply("enrol_code_expired", {"office": _office(school) if school else await office_contacts(turn)})
        return
    assert check.student is not None
    student, school_class, school = await _child(turn.session, check.student.id)  # type: ignore[arg-type]
    if check.status == "used":
        turn.reply("enrol_code_used", {**_child_context(student, school_class, school),
                                       "office": _office(school)})
        return
    await _ask_who(turn, student, school_class, school, via="code", code_id=check.code.id)


async def start_with_family_number(turn: Turn, phone: str) -> bool:
    """An unlinked sender whose number is a student's family number in Dapodik: ask whose it is.
    False when the number is no family's."""
    students = await store.students_with_family_phone(turn.session, phone)
    if not students:
        return False
    student, school_class, school = await _child(turn.session, students[0].id)  # type: ignore[arg-type]
    await _ask_who(turn, student, school_class, school, via="family", phone=phone)
    return True


async def handle_unlinked(turn: Turn, command: tuple[str, str] | None, chosen: str | None) -> bool:
    """Enrolment's part of an unlinked account's message (``command`` as the router read it,
    ``chosen`` the offered choice its text names); False when it is not about enrolling."""
    inbound = turn.inbound
    if command is not None and command[0] == "enrol":
        await start_with_code(turn, command[1])
        return True
    if command is not None and command[0] == "start" and command[1] \
            and store.looks_like_family_code(command[1]):
        await start_with_code(turn, command[1])
        return True
    if command is not None and command[0] == "cancel" and turn.conversation.flow == FLOW:
        turn.clear_state()
        turn.reply("enrol_cancelled")
        return True
    if turn.conversation.flow == FLOW and command is None:
        data = inbound.callback or chosen
        if data is not None:
            await on_callback(turn, data)
        else:
            await on_flow_text(turn)
        return True
    if command is not None or inbound.callback is not None:
        return False
    earlier = (await turn.session.exec(select(Enrolment).where(
        Enrolment.account_id == turn.account.id, col(Enrolment.status).in_(("pending", "student_own")))
        .order_by(col(Enrolment.id).desc()))).first()
    if earlier is not None:
        student, school_class, school = await _child(turn.session, earlier.student_id)
        template = "enrol_still_waiting" if earlier.status == "pending" else "enrol_student_own"
        turn.reply(template, {**_child_context(student, school_class, school), "name": earlier.name})
        return True
    phone = inbound.phone
    if phone is None and inbound.contact_phone is not None and inbound.contact_is_own:
        try:
            phone = normalize_phone(inbound.contact_phone)
        except InvalidPhone:
            return False
        if await guardians_by_phone(turn.session, phone) or await staff_by_phone(turn.session, phone):
            return False  # a roster person's own number: onboarding links it
    return phone is not None and await start_with_family_number(turn, phone)


# ---------------------------------------------------------------- the questions


async def _ask_who(turn: Turn, student: Student, school_class: SchoolClass, school: School, *,
                   via: str, code_id: int | None = None, phone: str | None = None) -> None:
    choices = await store.open_choices(turn.session, student.id)  # type: ignore[arg-type]
    listed = [[Button(label=f"{relation} {guardian.name}", data=f"ew:{guardian.id}")]
              for relation, guardian in choices if guardian is not None]
    buttons = list(listed)
    if via == "family":
        buttons.append([Button(key="enrol.student_own", data="ew:student")])
    if any(guardian is None for _, guardian in choices) and (via == "code" or not listed):
        # On the family's number "Lainnya" only when Dapodik names nobody left to choose.
        buttons.append([Button(key="enrol.other", data="ew:other")])
    turn.set_state(FLOW, "who", student_id=student.id, code_id=code_id, via=via, phone=phone)
    turn.reply("enrol_family_number" if via == "family" else "enrol_who",
               _child_context(student, school_class, school), buttons=buttons)


async def on_callback(turn: Turn, data: str) -> None:
    """A button of the enrolment questions (``ew``, ``eo``, ``ec``)."""
    state = dict(turn.conversation.data or {})
    if turn.conversation.flow != FLOW or "student_id" not in state:
        turn.reply("stale_button")
        return
    student, school_class, school = await _child(turn.session, state["student_id"])
    kind, _, value = data.partition(":")
    step = turn.conversation.step
    if kind == "ew" and step == "who":
        if value == "student" and state.get("via") == "family":
            await _student_own(turn, student, school_class, school)
            return
        if value == "other":
            turn.set_state(FLOW, "relation", **state)
            turn.reply("enrol_ask_relation", _child_context(student, school_class, school),
                       buttons=[[Button(key=f"relations.{relation}", data=f"eo:{relation}")]
                                for relation in RELATIONS])
            return
        choices = await store.open_choices(turn.session, student.id)  # type: ignore[arg-type]
        chosen = next(((relation, g) for relation, g in choices
                       if g is not None and str(g.id) == value), None)
        if chosen is None:
            turn.reply("stale_button")
            return
        relation, guardian = chosen
        await _ask_consent(turn, student, school, {**state, "roster_guardian_id": guardian.id,
                                                   "relation": relation, "name": guardian.name})
        return
    if kind == "eo" and step == "relation" and value in RELATIONS:
        turn.set_state(FLOW, "name", **{**state, "relation": value})
        turn.reply("enrol_ask_name", _child_context(student, school_class, school))
        return
    if kind == "ec" and step == "consent":
        if value == "yes":
            await _finish(turn, student, school_class, school, state)
        else:
            turn.clear_state()
            turn.reply("enrol_consent_refused", _child_context(student, school_class, school))
        return
    turn.reply("stale_button")


async def on_flow_text(turn: Turn) -> None:
    """Typed text during enrolment: the name a person the roster lacks gives; else a reminder."""
    state = dict(turn.conversation.data or {})
    text = " ".join((turn.inbound.text or "").split())
    if turn.conversation.step == "name" and "student_id" in state:
        student, _, school = await _child(turn.session, state["student_id"])
        if not (2 <= len(text) <= NAME_LIMIT) or not any(ch.isalpha() for ch in text):
            turn.reply("enrol_bad_name", {"limit": NAME_LIMIT})
            return
        await _ask_consent(turn, student, school, {**state, "roster_guardian_id": None, "name": text})
        return
    turn.reply("enrol_use_buttons")


async def _ask_consent(turn: Turn, student: Student, school: School, state: dict[str, Any]) -> None:
    turn.set_state(FLOW, "consent", **state)
    turn.reply("enrol_consent", {"student_name": student.name, "school_name": school.name,
                                 "name": state["name"], "relation": state["relation"]},
               buttons=[[Button(key="enrol.agree", data="ec:yes")],
                        [Button(key="enrol.disagree", data="ec:no")]])


async def _student_own(turn: Turn, student: Student, school_class: SchoolClass, school: School) -> None:
    """The family's number is the student's own: noted, never linked as a guardian."""
    turn.clear_state()
    turn.session.add(Enrolment(school_id=student.school_id, student_id=student.id, account_id=turn.account.id,  # type: ignore[arg-type]
                               relation="student", name=student.name, status="student_own",
                               created_at=turn.now, decided_at=turn.now))
    turn.reply("enrol_student_own", _child_context(student, school_class, school))


# ---------------------------------------------------------------- linking


async def _finish(turn: Turn, student: Student, school_class: SchoolClass, school: School,
                  state: dict[str, Any]) -> None:
    """Consent given: link at once when the number vouches for the person, else ask the school."""
    turn.clear_state()
    roster_guardian = await turn.session.get(Guardian, state["roster_guardian_id"]) \
        if state.get("roster_guardian_id") else None
    phone = state.get("phone") or _known_phone(turn)
    instant = state.get("via") == "family" or (phone is not None and has_phone(phone) and (
        phone == student.family_phone or (roster_guardian is not None and phone == roster_guardian.phone)))
    row = Enrolment(school_id=student.school_id, student_id=student.id, family_code_id=state.get("code_id"),  # type: ignore[arg-type]
                    account_id=turn.account.id, roster_guardian_id=state.get("roster_guardian_id"),  # type: ignore[arg-type]
                    relation=state["relation"], name=state["name"], consent_at=turn.now,
                    consent_channel=turn.inbound.channel, created_at=turn.now)
    turn.session.add(row)
    if instant:
        guardian = await store.link_guardian(
            turn.session, student=student, roster_guardian=roster_guardian, relation=row.relation,
            name=row.name, phone=phone, consent_at=turn.now, consent_channel=turn.inbound.channel)
        row.status, row.guardian_id, row.decided_at = "linked", guardian.id, turn.now
        if state.get("via") == "family" and phone:
            await _siblings(turn.session, phone, student, guardian, row.relation, now=turn.now)
        await link_account(turn, guardian.phone)
        return
    await turn.session.flush()
    await _ask_school(turn.session, row, turn.send, escalated=False)
    turn.reply("enrol_waiting", {**_child_context(student, school_class, school), "name": row.name,
                                 "relation": row.relation})


async def _siblings(session: AsyncSession, phone: str, student: Student, guardian: Guardian,
                    relation: str, *, now: datetime) -> None:
    """The family's number names siblings too: the same parent (relation and name) is linked to
    each of them, as one person."""
    for other in await store.students_with_family_phone(session, phone):
        if other.id == student.id:
            continue
        for link, listed in await store.roster_guardians(session, other.id):  # type: ignore[arg-type]
            if link.relation == relation and listed.name.casefold() == guardian.name.casefold() \
                    and listed.id != guardian.id:
                await store.link_guardian(session, student=other, roster_guardian=listed,
                                          relation=relation, name=listed.name, phone=phone,
                                          consent_at=guardian.consent_at or now,
                                          consent_channel=guardian.consent_channel or "")


async def _ask_school(session: AsyncSession, row: Enrolment, send: Any, *, escalated: bool) -> int:
    """Ask the homeroom teacher (or, escalated, the office) to confirm; how many were asked."""
    student = await session.get(Student, row.student_id)
    assert student is not None
    school_class = await session.get(SchoolClass, student.class_id)
    roster_guardian = await session.get(Guardian, row.roster_guardian_id) if row.roster_guardian_id else None
    account = await session.get(ChannelAccount, row.account_id)
    staff = await store.confirmers(session, student, escalated=escalated)
    for person in staff:
        send(Outbound(
            to=Recipient(phone=person.phone, staff_id=person.id, school_id=student.school_id),
            template="enrol_confirm_request",
            context={"person_name": row.name, "relation": row.relation, "student_name": student.name,
                     "class_name": school_class.name if school_class else "",
                     "roster_name": roster_guardian.name if roster_guardian else None,
                     "channel": account.channel if account else "", "escalated": escalated},
            buttons=[[Button(key="enrol.confirm_yes", data=f"ek:yes:{row.id}"),
                      Button(key="enrol.confirm_no", data=f"ek:no:{row.id}")]]))
    return len(staff)


async def on_confirm(turn: Turn, data: str) -> None:
    """`Benar` / `Bukan` from the homeroom teacher (or the office): link or refuse, and tell the family."""
    _, answer, raw_id = (data.split(":") + ["", ""])[:3]
    row = await turn.session.get(Enrolment, int(raw_id)) if raw_id.isdigit() else None
    staff = next((s for s in turn.staff if row is not None and s.school_id == row.school_id), None)
    if row is None or staff is None or not await store.may_confirm(turn.session, staff, row):
        turn.reply("stale_button")
        return
    decided = await decide_enrolment(turn.session, row, staff, yes=answer == "yes", now=turn.now,
                                     send=turn.send)
    if decided.already is not None:
        turn.reply("enrol_already_decided", decided.context)
        return
    turn.reply("enrol_decided_staff", {**decided.context, "linked": row.status == "linked"})


@dataclass
class Decided:
    """What deciding an enrolment did: ``already`` is the earlier decision when there was one."""

    context: dict[str, Any]
    already: str | None = None


async def decide_enrolment(session: AsyncSession, row: Enrolment, staff: Staff, *, yes: bool,
                           now: datetime, send: Callable[[Outbound], None]) -> Decided:
    """Link (``yes``) or refuse a waiting enrolment and tell the family: the wali kelas's
    "Benar"/"Bukan" in chat and the office's buttons on the dashboard both come here.
    The caller has checked ``store.may_confirm``."""
    student, school_class, school = await _child(session, row.student_id)
    context = {**_child_context(student, school_class, school), "person_name": row.name,
               "relation": row.relation}
    if row.status != "pending":
        decider = await session.get(Staff, row.decided_by_staff_id) if row.decided_by_staff_id else None
        return Decided({**context, "status": row.status, "by": decider.name if decider else None},
                       already=row.status)
    account = await session.get(ChannelAccount, row.account_id)
    row.decided_at, row.decided_by_staff_id = now, staff.id
    if not yes:
        row.status = "refused"
        session.add(row)
        if account is not None:
            send(Outbound(to=Recipient(account_id=account.id, school_id=row.school_id),
                          template="enrol_refused", context={**context, "office": _office(school)}))
        return Decided(context)
    roster_guardian = await session.get(Guardian, row.roster_guardian_id) if row.roster_guardian_id else None
    phone = account.phone if account is not None and account.phone else None
    guardian = await store.link_guardian(
        session, student=student, roster_guardian=roster_guardian, relation=row.relation,
        name=row.name, phone=phone, consent_at=row.consent_at or now,
        consent_channel=row.consent_channel or "")
    row.status, row.guardian_id = "linked", guardian.id
    session.add(row)
    if account is not None:
        account.phone, account.linked_at = guardian.phone, now
        session.add(account)
        await session.flush()
        send(Outbound(to=Recipient(phone=guardian.phone, account_id=account.id, guardian_id=guardian.id,
                                   school_id=row.school_id, language=guardian.language),
                      template="enrol_confirmed", context=context))
    return Decided(context)


# ---------------------------------------------------------------- time


async def escalate_unanswered(sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                              simulator_enabled: bool, default_language: str = "id") -> int:
    """Confirmations nobody answered for two days go to the office, once each: the row is
    marked in the same transaction as the messages (locked rows are left to whoever holds them)."""
    async with sessions() as session, session.begin():
        due = await store.unanswered_enrolments(session, now=now, lock=True)
        outs: list[Outbound] = []
        for row in due:
            row.escalated_at = now
            session.add(row)
            await _ask_school(session, row, outs.append, escalated=True)
        await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled,
                      default_language=default_language)
    return len(due)
