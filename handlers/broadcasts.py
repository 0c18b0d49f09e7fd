"""Announcements (siaran) to the families of a school, grade, class or chosen students.

Only counselors, the principal and admins announce. The recipients are frozen when the
announcement is confirmed: one outbox row per guardian (a guardian of siblings once), written in
the same transaction as the broadcast, so a crash and restart finish exactly that list. Opted-out
guardians (STOP) and guardians with no reachable chat account are recorded, not sent to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.messages import Button, Outbound, Recipient
from handlers.summons import audience_choices, read_audience
from handlers.turn import Turn
from storage.audience import audience_students
from storage.models import (
    Broadcast,
    BroadcastSkip,
    ChannelAccount,
    Guardian,
    GuardianStudent,
    OutboxMessage,
    School,
    Staff,
)
from storage.outbox import enqueue

ANNOUNCERS = ("counselor", "principal", "admin")
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(6, 0)  # school time: announcements wait for the morning
BULK = 10  # outbox priority: after every conversation message
MAX_TEXT = 3000


class NotAllowed(PermissionError):
    """Only counselors, the principal and admins may announce."""


@dataclass
class BroadcastResult:
    id: int
    recipients: int
    opted_out: int
    unreachable: int

    def as_json(self) -> dict[str, int]:
        return {"id": self.id, "recipients": self.recipients, "opted_out": self.opted_out,
                "unreachable": self.unreachable}


def after_quiet_hours(now: datetime, tz: str) -> datetime:
    """``now``, or 06:00 school time when ``now`` falls between 21:00 and 06:00."""
    local = now.astimezone(ZoneInfo(tz))
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return now
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=ZoneInfo(tz))


async def send_broadcast(session: AsyncSession, *, author: Staff, audience: str, text: str, now: datetime,
                         simulator_enabled: bool, urgent: bool = False,
                         default_language: str = "id") -> BroadcastResult:
    """Freeze the recipients and queue one message each, in the caller's transaction."""
    if author.role not in ANNOUNCERS:
        raise NotAllowed(f"{author.name} is a {author.role}: only counselors, the principal and admins announce")
    school = await session.get(School, author.school_id)
    assert school is not None
    plan = await plan_broadcast(session, author=author, audience=audience, simulator_enabled=simulator_enabled)
    send_at = now if urgent else after_quiet_hours(now, school.timezone)
    broadcast = Broadcast(school_id=school.id, author_staff_id=author.id, audience=audience, text=text,  # type: ignore[arg-type]
                          urgent=urgent, created_at=now, send_at=send_at)
    session.add(broadcast)
    await session.flush()
    outs, skipped = [], {"opted_out": len(plan.opted_out), "unreachable": len(plan.unreachable)}
    for reason, skipped_guardians in (("opted_out", plan.opted_out), ("unreachable", plan.unreachable)):
        for guardian in skipped_guardians:
            session.add(BroadcastSkip(broadcast_id=broadcast.id, guardian_id=guardian.id, reason=reason))  # type: ignore[arg-type]
    for guardian in plan.recipients:
        outs.append(Outbound(
            to=Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
            template="announcement", broadcast_id=broadcast.id, priority=BULK, not_before=send_at,
            context={"text": text, "author_name": author.name, "author_role": author.role,
                     "school_name": school.name, "guardian_name": guardian.name}))
    await enqueue(session, outs, now=now, simulator_enabled=simulator_enabled, default_language=default_language)
    broadcast.recipients, broadcast.opted_out, broadcast.unreachable = len(outs), skipped["opted_out"], \
        skipped["unreachable"]
    session.add(broadcast)
    return BroadcastResult(broadcast.id, len(outs), skipped["opted_out"], skipped["unreachable"])  # type: ignore[arg-type]


@dataclass
class BroadcastPlan:
    """Who an announcement would reach, and who not (STOP, or no chat account)."""

    recipients: list[Guardian]
    opted_out: list[Guardian]
    unreachable: list[Guardian]


async def plan_broadcast(session: AsyncSession, *, author: Staff, audience: str,
                         simulator_enabled: bool) -> BroadcastPlan:
    """The guardians of the audience's students (each once, proxies aside), sorted by who is reached."""
    students = await audience_students(session, author.school_id, audience)
    guardians = list({g.id: g for g in (await session.exec(select(Guardian).join(
        GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id).where(
        col(GuardianStudent.student_id).in_([s.id for s in students]),
        col(GuardianStudent.proxy).is_(False)).order_by(Guardian.id))).all()}.values())
    plan = BroadcastPlan([], [], [])
    for guardian in guardians:
        if guardian.opted_out:
            plan.opted_out.append(guardian)
        elif not simulator_enabled and not await _reachable(session, guardian.phone):
            plan.unreachable.append(guardian)
        else:
            plan.recipients.append(guardian)
    return plan


async def _reachable(session: AsyncSession, phone: str) -> bool:
    account = (await session.exec(select(ChannelAccount).where(
        ChannelAccount.phone == phone, col(ChannelAccount.blocked).is_(False),
        ChannelAccount.channel != "simulator"))).first()
    return account is not None


async def delivery_report(session: AsyncSession, broadcast_id: int) -> dict[str, object]:
    """Sent, delivered, read, failed (with reasons), unreachable and opted out for one broadcast."""
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    rows = list((await session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id))).all())
    failed = [row for row in rows if row.status == "failed" or row.delivery in ("failed", "undelivered")]
    return {
        "id": broadcast.id, "text": broadcast.text, "created_at": broadcast.created_at, "queued": len(rows),
        "waiting": sum(1 for row in rows if row.status == "pending"),
        "sent": sum(1 for row in rows if row.status == "sent"),
        "delivered": sum(1 for row in rows if row.delivery in ("delivered", "read")),
        "read": sum(1 for row in rows if row.delivery == "read"),
        "failed": len(failed), "reasons": sorted({(row.delivery_error or row.error or "")[:60] for row in failed}),
        "held": sum(1 for row in rows if row.status == "held"),
        "unreachable": broadcast.unreachable, "opted_out": broadcast.opted_out,
    }


async def show_reports(turn: Turn, argument: str) -> None:
    """`laporan [N]`: the delivery report of the author's announcements (the latest three)."""
    if not any(s.role in ANNOUNCERS for s in turn.staff):
        turn.reply("broadcast_not_allowed")
        return
    query = select(Broadcast.id).where(col(Broadcast.author_staff_id).in_([s.id for s in turn.staff]))
    if argument.lstrip("#").isdigit():
        query = query.where(Broadcast.id == int(argument.lstrip("#")))
    ids = list((await turn.session.exec(query.order_by(col(Broadcast.id).desc()).limit(3))).all())
    school = await turn.session.get(School, turn.staff[0].school_id)
    reports = [await delivery_report(turn.session, broadcast_id) for broadcast_id in ids]  # type: ignore[arg-type]
    turn.reply("broadcast_reports", {"reports": reports, "tz": school.timezone if school else turn.policy.default_timezone})


async def start(turn: Turn) -> None:
    """`siaran`: to whom? Buttons for the classes or grades this person covers, or typed."""
    author = next((s for s in turn.staff if s.role in ANNOUNCERS), None)
    if author is None:
        turn.reply("broadcast_not_allowed")
        return
    turn.set_state("broadcast", "audience", staff_id=author.id)
    await _ask_audience(turn, {"staff_id": author.id})


async def _ask_audience(turn: Turn, data: dict[str, Any], problem: dict[str, Any] | None = None) -> None:
    choices = await audience_choices(turn, data)
    details = {"unknown": [], "refused": [], "classes": [], **(problem or {})}
    turn.reply("broadcast_ask_audience", {**details, "problem": details.get("code"),
                                          "text": (turn.inbound.text or "").strip()},
               buttons=[[Button(label=label, data=f"sb:aud:{audience}")] for audience, label in choices])


async def on_flow_text(turn: Turn) -> None:
    data, text = dict(turn.conversation.data), (turn.inbound.text or "").strip()
    if turn.conversation.step == "audience":
        audience, problem = await read_audience(turn, data, text) if text else (None, {"code": "unreadable"})
        if audience is None:
            await _ask_audience(turn, data, problem)
            return
        turn.set_state("broadcast", "text", **data, audience=audience)
        turn.reply("broadcast_ask_text")
    elif turn.conversation.step == "text":
        if not text or len(text) > MAX_TEXT:
            turn.reply("broadcast_ask_text", {"too_long": len(text) > MAX_TEXT})
            return
        turn.set_state("broadcast", "confirm", **data, text=text)
        await _confirm(turn)
    else:
        turn.reply("use_buttons")


async def on_callback(turn: Turn, data: str) -> None:
    state = turn.conversation
    if state.flow == "broadcast" and state.step == "audience" and data.startswith("sb:aud:"):
        audience, problem = await read_audience(turn, dict(state.data), data[len("sb:aud:"):])
        if audience is None:
            await _ask_audience(turn, dict(state.data), problem)
            return
        turn.set_state("broadcast", "text", **state.data, audience=audience)
        turn.reply("broadcast_ask_text")
        return
    if state.flow == "broadcast" and state.step == "confirm" and data in ("sb:send", "sb:urgent", "sb:cancel"):
        if data == "sb:cancel":
            turn.clear_state()
            turn.reply("cancelled")
            return
        await _send(turn, urgent=data == "sb:urgent")
        return
    turn.reply("stale_button")


async def _confirm(turn: Turn) -> None:
    data = turn.conversation.data
    author = next((s for s in turn.staff if s.id == data.get("staff_id")), None)
    if author is None:
        turn.clear_state()
        turn.reply("stale_button")
        return
    plan = await plan_broadcast(turn.session, author=author, audience=data["audience"],
                                simulator_enabled=turn.policy.simulator_enabled)
    school = await turn.session.get(School, author.school_id)
    tz = school.timezone if school else turn.policy.default_timezone
    waits = after_quiet_hours(turn.now, tz)
    buttons = [[Button(key="broadcast.send", data="sb:send")]]
    if waits > turn.now:
        buttons.append([Button(key="broadcast.urgent", data="sb:urgent")])
    buttons.append([Button(key="broadcast.cancel", data="sb:cancel")])
    turn.reply("broadcast_confirm", {
        "text": data["text"], "audience": data["audience"], "recipients": len(plan.recipients),
        "opted_out": len(plan.opted_out), "unreachable": [g.name for g in plan.unreachable],
        "waits_until": waits if waits > turn.now else None, "tz": tz}, buttons=buttons)


async def _send(turn: Turn, *, urgent: bool) -> None:
    data = turn.conversation.data
    author = next((s for s in turn.staff if s.id == data.get("staff_id")), None)
    turn.clear_state()
    if author is None:
        turn.reply("stale_button")
        return
    result = await send_broadcast(turn.session, author=author, audience=data["audience"], text=data["text"],
                                  now=turn.now, simulator_enabled=turn.policy.simulator_enabled, urgent=urgent,
                                  default_language=turn.policy.default_language)
    turn.reply("broadcast_sent", result.as_json())


async def report_finished(session: AsyncSession, broadcast_ids: set[int], *, now: datetime,
                          simulator_enabled: bool) -> int:
    """Send the delivery report of each of these broadcasts whose messages are all out; each once."""
    open_ids = list((await session.exec(select(Broadcast.id).where(
        col(Broadcast.id).in_(broadcast_ids), col(Broadcast.reported_at).is_(None)))).all())
    reported = 0
    for broadcast_id in open_ids:
        pending = (await session.exec(select(OutboxMessage.id).where(
            OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == "pending").limit(1))).first()
        if pending is not None:
            continue
        broadcast = await session.get(Broadcast, broadcast_id)
        author = await session.get(Staff, broadcast.author_staff_id) if broadcast else None
        if broadcast is None or author is None:
            continue
        broadcast.reported_at = now
        session.add(broadcast)
        school = await session.get(School, broadcast.school_id)
        assert school is not None  # a broadcast belongs to its school
        report = await delivery_report(session, broadcast_id)  # type: ignore[arg-type]
        await enqueue(session, [Outbound(
            to=Recipient(phone=author.phone, staff_id=author.id, school_id=author.school_id),
            template="broadcast_reports", context={"reports": [report], "tz": school.timezone})],
            now=now, simulator_enabled=simulator_enabled)
        reported += 1
    return reported
