"""Announcements (siaran) to the families of a school, grade, class or chosen students.

Only counselors, the principal and admins announce. The recipients are frozen when the
announcement is confirmed: one outbox row per guardian (a guardian of siblings once), written in
the same transaction as the broadcast, so a crash and restart finish exactly that list. Opted-out
guardians (STOP) and guardians the school cannot reach (storage.reach) are recorded, not sent to.

The ``siaran`` flow: audience → text (or a ready template: the guru BK explainer series) →
preview. The preview is where the author finishes the announcement: send now, send at a chosen
time (``parse_when``; a non-urgent time in the quiet hours moves to 06.00 and the author is told),
and one-tap answer buttons ("Sudah dibaca", or "Hadir / Tidak dapat hadir").

Answers: each guardian's answer is recorded once per broadcast; pressing another answer replaces
it (people change their minds about coming), pressing the same one again changes nothing. Both
get a short thank-you saying what is recorded. The delivery report counts the answers.

Costs: the preview says how many go by Telegram, by WhatsApp inside and outside the 24-hour
window, and by SMS, with the cost from the configured prices (a family on both Telegram and
WhatsApp gets it on Telegram: free). A WhatsApp sender's billed messages stay within its daily
tier of unique recipients: the rest go on the following days, and the author is told when.

Guardians who chose the daily digest (``ringkasan``) get non-urgent announcements as a
``DigestItem`` instead of an outbox row; they count as recipients, and as sent once their digest
is sent (``handlers.digest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import bk_series
from domain.messages import Button, Outbound, Recipient
from domain.whatsapp_costs import CostPolicy, Reach, category, in_window
from handlers.summons import audience_choices, read_audience
from scheduler.when import WhenProblem, parse_when
from handlers.turn import Turn
from storage.audience import audience_in_words, audience_students
from storage.audit import record_action
from storage.channel_routes import daily_tiers
from storage.digest import digest_due
from storage.meetings import AudienceError, parse_audience
from storage.roster import normalize_class
from storage.models import (
    Broadcast,
    BroadcastAnswer,
    BroadcastSkip,
    DigestItem,
    Guardian,
    GuardianStudent,
    OutboxMessage,
    School,
    Staff,
)
from storage.outbox import Rendered, enqueue, insert_rendered, preview_account, render_rows, rendered
from storage.people import prefetch_linked_accounts
from storage.reach import reachable_phones
from storage.whatsapp_tier import merge, plan_days, spread_broadcast
from templates.render import render, zone_abbreviation

ANNOUNCERS = ("counselor", "principal", "admin")
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(6, 0)  # school time: announcements wait for the morning
BULK = 10  # outbox priority: after every conversation message
MAX_TEXT = 3000
# One-tap answers an announcement may carry: the kind the author chose → the buttons under it.
ANSWERS: dict[str, tuple[str, ...]] = {"read": ("read",), "attend": ("attend", "decline")}
TEMPLATES = (bk_series.TEMPLATE,)


class NotAllowed(PermissionError):
    """Only counselors, the principal, admins and a wali kelas (to their own class) may announce."""


def homeroom_audience(author: Staff) -> str | None:
    """A wali kelas who is no other announcer may announce to their own class only: its audience."""
    if author.role in ANNOUNCERS or author.role != "teacher" or not author.homeroom_class:
        return None
    return f"class:{normalize_class(author.homeroom_class)}"


def may_announce(author: Staff) -> bool:
    return author.role in ANNOUNCERS or homeroom_audience(author) is not None


def announcer(staff: list[Staff]) -> Staff | None:
    """The staff row someone announces as: a school-wide announcer first, else their wali kelas row."""
    return next((s for s in staff if s.role in ANNOUNCERS), None) or next(
        (s for s in staff if may_announce(s)), None)


def outside_homeroom(author: Staff, audience: str) -> str | None:
    """The wali kelas's own class when ``audience`` is anything else (refused), else None."""
    own = homeroom_audience(author)
    if own is None:
        return None
    try:
        parts = [str(part) for part in parse_audience(audience)]
    except AudienceError:
        parts = []
    return None if parts == [own] else own.removeprefix("class:")


@dataclass
class BroadcastResult:
    id: int
    recipients: int
    opted_out: int
    unreachable: int
    send_at: datetime | None = None
    digest: int = 0  # of the recipients, those who get it in their daily digest
    already: int = 0  # a ready template: guardians who had already received it
    reach: Reach = field(default_factory=Reach)  # by which channel the messages go
    # The billed WhatsApp messages by day, when the senders' daily tiers spread them: (time, how many)
    batches: list[tuple[datetime, int]] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {
            "id": self.id,
            "recipients": self.recipients,
            "opted_out": self.opted_out,
            "unreachable": self.unreachable,
        }


def after_quiet_hours(now: datetime, tz: str) -> datetime:
    """``now``, or 06:00 school time when ``now`` falls between 21:00 and 06:00."""
    local = now.astimezone(ZoneInfo(tz))
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return now
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=ZoneInfo(tz))


def planned_send_at(now: datetime, wanted: datetime | None, tz: str, *, urgent: bool) -> datetime:
    """When it goes out: now or the chosen time, out of the quiet hours unless urgent."""
    at = max(wanted or now, now)
    return at if urgent else after_quiet_hours(at, tz)


def answer_buttons(broadcast_id: int, answers: str) -> list[list[Button]]:
    """The one-tap answers under an announcement ("ba:<broadcast>:<answer>")."""
    kinds = ANSWERS.get(answers, ())
    return (
        [[Button(key=f"broadcast_answers.{a}", data=f"ba:{broadcast_id}:{a}") for a in kinds]]
        if kinds
        else []
    )


def _check_author(author: Staff, audience: str) -> None:
    """Raise NotAllowed unless ``author`` may announce to ``audience``."""
    if not may_announce(author):
        raise NotAllowed(
            f"{author.name} is a {author.role}: only counselors, the principal, admins and a "
            "wali kelas (to their own class) announce"
        )
    own = outside_homeroom(author, audience)
    if own is not None:
        raise NotAllowed(f"{author.name} is the wali kelas of {own}: they may announce to class:{own} only")


async def send_broadcast(
    session: AsyncSession,
    *,
    author: Staff,
    audience: str,
    text: str,
    now: datetime,
    simulator_enabled: bool,
    urgent: bool = False,
    default_language: str = "id",
    answers: str = "",
    send_at: datetime | None = None,
    template: str | None = None,
    costs: CostPolicy | None = None,
) -> BroadcastResult:
    """Freeze the recipients and queue one message each, in the caller's transaction."""
    costs = costs or CostPolicy()
    _check_author(author, audience)
    if answers and answers not in ANSWERS:
        raise ValueError(f"answers: {answers!r} is not one of {', '.join(ANSWERS)}")
    if template is not None and template not in TEMPLATES:
        raise ValueError(f"template: {template!r} is not one of {', '.join(TEMPLATES)}")
    school = await session.get(School, author.school_id)
    assert school is not None
    plan = await plan_broadcast(
        session, author=author, audience=audience, simulator_enabled=simulator_enabled
    )
    when = planned_send_at(now, send_at, school.timezone, urgent=urgent and template is None)
    if template is not None:
        text = render(author.language, f"{template}_title")
        answers, urgent = "", False
    broadcast = Broadcast(
        school_id=school.id,
        author_staff_id=author.id,
        audience=audience,
        text=text,
        urgent=urgent,
        created_at=now,
        send_at=when,
        answers=answers,
        template=template,
    )
    session.add(broadcast)
    await session.flush()
    assert broadcast.id is not None
    record_action(session, author, "broadcast", f"broadcast:{broadcast.id}", now=now)
    for reason, skipped_guardians in (
        ("opted_out", plan.opted_out),
        ("unreachable", plan.unreachable),
    ):
        for guardian in skipped_guardians:
            session.add(
                BroadcastSkip(broadcast_id=broadcast.id, guardian_id=guardian.id, reason=reason)
            )
    if template is not None:
        started = await bk_series.start_for(
            session,
            broadcast,
            plan.recipients,
            now=now,
            tz=school.timezone,
            simulator_enabled=simulator_enabled,
            default_language=default_language,
        )
        broadcast.recipients, broadcast.opted_out, broadcast.unreachable = (
            len(started),
            len(plan.opted_out),
            len(plan.unreachable),
        )
        session.add(broadcast)
        reach, batches = await _spread(session, broadcast.id, when, costs)
        return BroadcastResult(
            broadcast.id,
            len(started),
            len(plan.opted_out),
            len(plan.unreachable),
            when,
            already=len(plan.recipients) - len(started),
            reach=reach,
            batches=batches,
        )
    prepared = await _render(session, author=author, school=school, plan=plan, text=text, when=when,
                             now=now, urgent=urgent, simulator_enabled=simulator_enabled,
                             default_language=default_language, answers=answers, broadcast_id=broadcast.id)
    return await _store(session, broadcast, prepared, costs)


@dataclass
class PreparedBroadcast:
    """An announcement read and rendered, not yet written (see :func:`prepare_broadcast`)."""

    author_staff_id: int
    school_id: int
    timezone: str
    audience: str
    text: str
    urgent: bool
    now: datetime
    when: datetime
    rows: Rendered  # on SQLite with their INSERT's parameters: the write transaction stays short
    digest_guardians: list[tuple[int, int]]  # (guardian id, school id): their daily digest
    opted_out: list[int]
    unreachable: list[int]


async def prepare_broadcast(session: AsyncSession, *, author: Staff, audience: str, text: str, now: datetime,
                            simulator_enabled: bool, urgent: bool = False,
                            default_language: str = "id") -> PreparedBroadcast:
    """Everything of a plain announcement (no answer buttons, no template) that only reads: the
    recipients frozen and each one's message rendered, for :func:`store_broadcast` to write in a
    short transaction of its own. Raises ``storage.outbox.NeedsWrite`` when a recipient needs a
    new account (the simulator, a school's own sender): then use :func:`send_broadcast`."""
    _check_author(author, audience)
    school = await session.get(School, author.school_id)
    assert school is not None
    plan = await plan_broadcast(session, author=author, audience=audience, simulator_enabled=simulator_enabled)
    when = planned_send_at(now, None, school.timezone, urgent=urgent)
    prepared = await _render(session, author=author, school=school, plan=plan, text=text, when=when, now=now,
                             urgent=urgent, simulator_enabled=simulator_enabled,
                             default_language=default_language, answers="", broadcast_id=None)
    prepared.audience = audience
    return prepared


async def store_broadcast(session: AsyncSession, prepared: PreparedBroadcast, author: Staff,
                          costs: CostPolicy | None = None) -> BroadcastResult:
    """Write a prepared announcement: its row, the skipped and digest families, the outbox rows."""
    broadcast = Broadcast(school_id=prepared.school_id, author_staff_id=author.id, audience=prepared.audience,
                          text=prepared.text, urgent=prepared.urgent, created_at=prepared.now,
                          send_at=prepared.when, answers="", template=None)
    session.add(broadcast)
    await session.flush()
    assert broadcast.id is not None
    record_action(session, author, "broadcast", f"broadcast:{broadcast.id}", now=prepared.now)
    for reason, skipped in (("opted_out", prepared.opted_out), ("unreachable", prepared.unreachable)):
        for guardian_id in skipped:
            session.add(BroadcastSkip(broadcast_id=broadcast.id, guardian_id=guardian_id, reason=reason))
    return await _store(session, broadcast, prepared, costs or CostPolicy())


async def _render(session: AsyncSession, *, author: Staff, school: School, plan: BroadcastPlan, text: str,
                  when: datetime, now: datetime, urgent: bool, simulator_enabled: bool, default_language: str,
                  answers: str, broadcast_id: int | None) -> PreparedBroadcast:
    outs, digest = [], []
    for guardian in plan.recipients:
        if guardian.digest and not urgent:
            digest.append((guardian.id, guardian.school_id))
            continue
        outs.append(
            Outbound(
                to=Recipient(
                    phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id
                ),
                template="announcement",
                broadcast_id=broadcast_id,
                priority=BULK,
                not_before=when,
                buttons=answer_buttons(broadcast_id, answers) if answers and broadcast_id else [],
                context={
                    "text": text,
                    "author_name": author.name,
                    "author_role": author.role,
                    "school_name": school.name,
                    "guardian_name": guardian.name,
                    "answers": answers,
                },
            )
        )
    await session.flush()
    rows = rendered(session.bind.dialect, await render_rows(
        session, outs, now=now, simulator_enabled=simulator_enabled, default_language=default_language))
    return PreparedBroadcast(
        author.id, school.id, school.timezone, "", text, urgent, now, when, rows, digest,  # type: ignore[arg-type]
        [g.id for g in plan.opted_out], [g.id for g in plan.unreachable])  # type: ignore[misc]


async def _store(session: AsyncSession, broadcast: Broadcast, prepared: PreparedBroadcast,
                 costs: CostPolicy) -> BroadcastResult:
    for guardian_id, school_id in prepared.digest_guardians:
        session.add(DigestItem(school_id=school_id, guardian_id=guardian_id, broadcast_id=broadcast.id,
                               due_at=digest_due(prepared.when, prepared.timezone), created_at=prepared.now))
    # Rendered before the announcement had its id: its id, and billed as part of it.
    prepared.rows.set("pricing_category", lambda row: None if row.pricing_category is None else category(
        row.template, broadcast.id, window_open=row.pricing_category == "service"))
    prepared.rows.set("broadcast_id", lambda row: broadcast.id)
    await insert_rendered(session, prepared.rows, now=prepared.now)
    recipients = len(prepared.rows.rows) + len(prepared.digest_guardians)
    broadcast.recipients, broadcast.opted_out, broadcast.unreachable = (
        recipients, len(prepared.opted_out), len(prepared.unreachable))
    session.add(broadcast)
    reach, batches = await _spread(session, broadcast.id, prepared.when, costs)  # type: ignore[arg-type]
    return BroadcastResult(broadcast.id, recipients, len(prepared.opted_out),  # type: ignore[arg-type]
                           len(prepared.unreachable), prepared.when, digest=len(prepared.digest_guardians),
                           reach=reach, batches=batches)


async def _spread(
    session: AsyncSession, broadcast_id: int, when: datetime, costs: CostPolicy
) -> tuple[Reach, list[tuple[datetime, int]]]:
    """Keep each WhatsApp sender within its daily tier; how the messages go, and the days."""
    batches = await spread_broadcast(
        session, broadcast_id, when, tiers=await daily_tiers(session), default_tier=costs.daily_tier
    )
    reach = Reach()
    for channel, billed_as in (
        await session.exec(
            select(OutboxMessage.channel, OutboxMessage.pricing_category).where(
                OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == "pending"
            )
        )
    ).all():
        reach.add(channel, billed_as == "service")
    return reach, batches if _spread_out(batches, when) else []


def _spread_out(batches: list[tuple[datetime, int]], when: datetime) -> bool:
    """The tier moved some messages to a later day (worth telling the author)."""
    return len(batches) > 1 or bool(batches and batches[0][0] > when)


async def foresee(
    session: AsyncSession,
    guardians: list[Guardian],
    *,
    at: datetime,
    simulator_enabled: bool,
    costs: CostPolicy,
) -> tuple[Reach, list[tuple[datetime, int]]]:
    """For a preview: by which channel each guardian would get it at ``at``, and the days the
    WhatsApp senders' tiers would spread the billed ones over (nothing is written)."""
    reach = Reach()
    billed: dict[str, int] = {}
    for guardian in guardians:
        account = await preview_account(
            session,
            Recipient(phone=guardian.phone, guardian_id=guardian.id, school_id=guardian.school_id),
            at=at,
            simulator_enabled=simulator_enabled,
        )
        if account is None:
            continue
        window_open = in_window(account.last_seen_at, at)
        reach.add(account.channel, window_open)
        if account.channel == "whatsapp" and not window_open:
            billed[account.bot] = billed.get(account.bot, 0) + 1
    tiers = await daily_tiers(session)
    plans = [
        await plan_days(session, bot=bot, count=count, start=at, tier=tiers.get(bot, costs.daily_tier))
        for bot, count in billed.items()
    ]
    batches = merge(plans)
    return reach, batches if _spread_out(batches, at) else []


def reach_context(
    reach: Reach, batches: list[tuple[datetime, int]], costs: CostPolicy
) -> dict[str, Any]:
    """What the preview and the confirmation say about channels, cost and days."""
    return {
        "reach": {**reach.as_json(costs.prices), "other": reach.other},
        "batches": [{"at": at, "count": count} for at, count in batches],
        "marketing_price": costs.prices.marketing,
    }


@dataclass
class BroadcastPlan:
    """Who an announcement would reach, and who not (STOP, or no chat account)."""

    recipients: list[Guardian]
    opted_out: list[Guardian]
    unreachable: list[Guardian]


async def plan_broadcast(
    session: AsyncSession, *, author: Staff, audience: str, simulator_enabled: bool
) -> BroadcastPlan:
    """The audience's guardians (each once, proxies aside), sorted by who is reached."""
    students = await audience_students(session, author.school_id, audience)
    guardians = list(
        {
            g.id: g
            for g in (
                await session.exec(
                    select(Guardian)
                    .join(GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id)
                    .where(
                        col(GuardianStudent.student_id).in_([s.id for s in students]),
                        col(GuardianStudent.proxy).is_(False),
                    )
                    .order_by(Guardian.id)
                )
            ).all()
        }.values()
    )
    plan = BroadcastPlan([], [], [])
    # Every family's accounts in a few queries (enqueue reads them again from memory).
    await prefetch_linked_accounts(session, [g.phone for g in guardians if g.phone])
    reachable = await reachable_phones(session, [g.phone for g in guardians], simulator_enabled=simulator_enabled)
    for guardian in guardians:
        if guardian.opted_out:
            plan.opted_out.append(guardian)
        elif guardian.phone not in reachable:
            plan.unreachable.append(guardian)
        else:
            plan.recipients.append(guardian)
    return plan


# ---------------------------------------------------------------- one-tap answers


async def on_answer(turn: Turn, data: str) -> None:
    """A guardian pressed (or typed the number of) an answer under an announcement."""
    parts = data.split(":")
    broadcast = (
        await turn.session.get(Broadcast, int(parts[1]))
        if len(parts) == 3 and parts[1].isdigit()
        else None
    )
    guardian = await _recipient(turn, broadcast) if broadcast is not None else None
    if broadcast is None or guardian is None or parts[2] not in ANSWERS.get(broadcast.answers, ()):
        turn.reply("stale_button")
        return
    answer = parts[2]
    recorded = (
        await turn.session.exec(
            select(BroadcastAnswer).where(
                BroadcastAnswer.broadcast_id == broadcast.id,
                BroadcastAnswer.guardian_id == guardian.id,
            )
        )
    ).first()
    if recorded is None:
        outcome = "recorded"
        recorded = BroadcastAnswer(
            broadcast_id=broadcast.id,
            guardian_id=guardian.id,
            answer=answer,
            answered_at=turn.now,
        )
    elif recorded.answer == answer:
        outcome = "same"
    else:
        outcome = "changed"
        recorded.answer, recorded.answered_at = answer, turn.now
    turn.session.add(recorded)
    turn.reply(
        "broadcast_answer_thanks",
        {
            "answer": answer,
            "outcome": outcome,
            "guardian_name": guardian.name,
            "excerpt": _excerpt(broadcast.text),
        },
    )


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


async def _recipient(turn: Turn, broadcast: Broadcast) -> Guardian | None:
    """The sender's guardian row the announcement went to (directly or in a digest), if any."""
    ids = [g.id for g in turn.guardians if g.school_id == broadcast.school_id]
    if not ids:
        return None
    direct = (
        await turn.session.exec(
            select(OutboxMessage.guardian_id).where(
                OutboxMessage.broadcast_id == broadcast.id, col(OutboxMessage.guardian_id).in_(ids)
            )
        )
    ).first()
    digested = (
        direct
        or (
            await turn.session.exec(
                select(DigestItem.guardian_id).where(
                    DigestItem.broadcast_id == broadcast.id,
                    DigestItem.status == "sent",
                    col(DigestItem.guardian_id).in_(ids),
                )
            )
        ).first()
    )
    return next((g for g in turn.guardians if g.id == digested), None)


# ---------------------------------------------------------------- delivery report


async def delivery_report(session: AsyncSession, broadcast_id: int) -> dict[str, object]:
    """Sent, delivered, read, failed (with reasons), unreachable, opted out, answers and the digest
    for one broadcast. A digest recipient counts as sent once their digest is sent."""
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    rows = list(
        (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id)
            )
        ).all()
    )
    items = list(
        (
            await session.exec(select(DigestItem).where(DigestItem.broadcast_id == broadcast_id))
        ).all()
    )
    carried = {i.outbox_id for i in items if i.outbox_id is not None}
    if carried:
        by_id = {
            r.id: r
            for r in (
                await session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(carried)))
            ).all()
        }
        rows += [by_id[i.outbox_id] for i in items if i.outbox_id in by_id]
    waiting_items = [i for i in items if i.status == "pending"]
    dropped = sum(1 for i in items if i.status == "dropped")
    failed = [
        row for row in rows if row.status == "failed" or row.delivery in ("failed", "undelivered")
    ]
    counts = dict(
        (
            await session.exec(
                select(BroadcastAnswer.answer, func.count())
                .where(BroadcastAnswer.broadcast_id == broadcast_id)
                .group_by(BroadcastAnswer.answer)
            )
        ).all()
    )
    kinds = ANSWERS.get(broadcast.answers, ())
    return {
        "id": broadcast.id,
        "text": broadcast.text,
        "created_at": broadcast.created_at,
        "queued": len(rows) + len(waiting_items),
        "waiting": sum(1 for row in rows if row.status == "pending") + len(waiting_items),
        "sent": sum(1 for row in rows if row.status == "sent"),
        "delivered": sum(1 for row in rows if row.delivery in ("delivered", "read")),
        "read": sum(1 for row in rows if row.delivery == "read"),
        "failed": len(failed),
        "reasons": sorted({(row.delivery_error or row.error or "")[:60] for row in failed}),
        "held": sum(1 for row in rows if row.status == "held"),
        "unreachable": broadcast.unreachable,
        "opted_out": broadcast.opted_out + dropped,
        "in_digest": len(waiting_items),
        "digest_at": min((i.due_at for i in waiting_items if i.due_at), default=None),
        "send_at": broadcast.send_at,
        "template": broadcast.template,
        "answers": [{"answer": a, "count": int(counts.get(a, 0))} for a in kinds],
        "unanswered": max(
            len(rows) + len(waiting_items) - sum(int(counts.get(a, 0)) for a in kinds), 0
        ),
    }


async def show_reports(turn: Turn, argument: str) -> None:
    """`laporan [N]`: the delivery report of the author's announcements (the latest three)."""
    if announcer(turn.staff) is None:
        turn.reply("broadcast_not_allowed")
        return
    query = select(Broadcast.id).where(
        col(Broadcast.author_staff_id).in_([s.id for s in turn.staff])
    )
    if argument.lstrip("#").isdigit():
        query = query.where(Broadcast.id == int(argument.lstrip("#")))
    ids = list((await turn.session.exec(query.order_by(col(Broadcast.id).desc()).limit(3))).all())
    school = await turn.session.get(School, turn.staff[0].school_id)
    reports = [await delivery_report(turn.session, broadcast_id) for broadcast_id in ids]  # type: ignore[arg-type]
    turn.reply(
        "broadcast_reports",
        {
            "reports": reports,
            "now": turn.now,
            "tz": school.timezone if school else turn.policy.default_timezone,
        },
    )


# ---------------------------------------------------------------- the siaran conversation


async def start(turn: Turn) -> None:
    """`siaran`: to whom? Buttons for the classes or grades this person covers, or typed."""
    author = announcer(turn.staff)
    if author is None:
        turn.reply("broadcast_not_allowed")
        return
    turn.set_state("broadcast", "audience", staff_id=author.id)
    await _ask_audience(turn, {"staff_id": author.id})


async def _ask_audience(
    turn: Turn, data: dict[str, Any], problem: dict[str, Any] | None = None
) -> None:
    author = next((s for s in turn.staff if s.id == data.get("staff_id")), None)
    own = homeroom_audience(author) if author is not None else None
    choices = [(own, own.removeprefix("class:"))] if own else await audience_choices(turn, data)
    details = {"unknown": [], "refused": [], "classes": [], **(problem or {})}
    turn.reply(
        "broadcast_ask_audience",
        {**details, "problem": details.get("code"), "text": (turn.inbound.text or "").strip()},
        buttons=[[Button(label=label, data=f"sb:aud:{audience}")] for audience, label in choices],
    )


def _ask_text(turn: Turn, too_long: bool = False) -> None:
    turn.reply(
        "broadcast_ask_text",
        {"too_long": too_long},
        buttons=[[Button(key=f"broadcast_options.{t}", data=f"sb:tpl:{t}")] for t in TEMPLATES],
    )


async def on_flow_text(turn: Turn) -> None:
    data, text = dict(turn.conversation.data), (turn.inbound.text or "").strip()
    if turn.conversation.step == "audience":
        audience, problem = (
            await _read_audience(turn, data, text) if text else (None, {"code": "unreadable"})
        )
        if audience is None:
            await _ask_audience(turn, data, problem)
            return
        turn.set_state("broadcast", "text", **data, audience=audience)
        _ask_text(turn)
    elif turn.conversation.step == "text":
        if not text or len(text) > MAX_TEXT:
            _ask_text(turn, too_long=len(text) > MAX_TEXT)
            return
        turn.set_state("broadcast", "confirm", **data, text=text, template=None)
        await _confirm(turn)
    elif turn.conversation.step == "when":
        await _read_when(turn, data, text)
    else:
        turn.reply("use_buttons")


async def on_callback(turn: Turn, data: str) -> None:
    state = turn.conversation
    saved = dict(state.data)
    step = state.step if state.flow == "broadcast" else None
    if step == "audience" and data.startswith("sb:aud:"):
        audience, problem = await _read_audience(turn, saved, data[len("sb:aud:") :])
        if audience is None:
            await _ask_audience(turn, saved, problem)
            return
        turn.set_state("broadcast", "text", **saved, audience=audience)
        _ask_text(turn)
        return
    if step == "text" and data.startswith("sb:tpl:") and data[len("sb:tpl:") :] in TEMPLATES:
        turn.set_state(
            "broadcast", "confirm", **saved, text="", template=data[len("sb:tpl:") :], answers=""
        )
        await _confirm(turn)
        return
    if step in ("confirm", "when") and data == "sb:cancel":
        turn.clear_state()
        turn.reply("cancelled")
        return
    if step in ("confirm", "when") and data == "sb:now":
        turn.set_state("broadcast", "confirm", **{**saved, "send_at": None})
        await _confirm(turn)
        return
    if step == "confirm":
        if data in ("sb:send", "sb:urgent"):
            await _send(turn, urgent=data == "sb:urgent")
            return
        if data == "sb:later":
            turn.set_state("broadcast", "when", **saved)
            await _ask_when(turn)
            return
        kind = data[len("sb:ans:") :] if data.startswith("sb:ans:") else None
        if kind is not None and (kind in ANSWERS or kind == "none") and not saved.get("template"):
            turn.set_state(
                "broadcast", "confirm", **{**saved, "answers": "" if kind == "none" else kind}
            )
            await _confirm(turn)
            return
    turn.reply("stale_button")


async def _read_audience(turn: Turn, data: dict[str, Any], text: str) -> tuple[str | None, dict[str, Any]]:
    """The audience typed or pressed; a wali kelas's must be their own class, and only it."""
    author = next((s for s in turn.staff if s.id == data.get("staff_id")), None)
    audience, problem = await read_audience(turn, data, text)
    if author is not None and homeroom_audience(author) is not None:
        own = outside_homeroom(author, audience or text)
        if own is not None and problem.get("code") != "unreadable":
            return None, {"code": "homeroom_only", "homeroom": own}
    return audience, problem


async def _author(turn: Turn) -> Staff | None:
    author = next((s for s in turn.staff if s.id == turn.conversation.data.get("staff_id")), None)
    if author is None:
        turn.clear_state()
        turn.reply("stale_button")
    return author


async def _timezone(turn: Turn, author: Staff) -> str:
    school = await turn.session.get(School, author.school_id)
    return school.timezone if school else turn.policy.default_timezone


def _wanted(data: dict[str, Any], now: datetime) -> datetime | None:
    """The time the author chose, while it is still ahead (a past one means now)."""
    at = datetime.fromisoformat(data["send_at"]) if data.get("send_at") else None
    return at if at is not None and at > now else None


async def _ask_when(turn: Turn, problem: WhenProblem | None = None) -> None:
    author = await _author(turn)
    if author is None:
        return
    tz = await _timezone(turn, author)
    turn.reply(
        "broadcast_ask_when",
        {
            "problem": problem.code if problem else None,
            "at": problem.at if problem else None,
            "tz": tz,
            "tz_name": zone_abbreviation(tz),
            "text": (turn.inbound.text or "").strip(),
        },
        buttons=[
            [Button(key="broadcast_options.now", data="sb:now")],
            [Button(key="broadcast.cancel", data="sb:cancel")],
        ],
    )


async def _read_when(turn: Turn, data: dict[str, Any], text: str) -> None:
    author = await _author(turn)
    if author is None:
        return
    try:
        start, _ = parse_when(text, turn.now, await _timezone(turn, author))
    except WhenProblem as problem:
        await _ask_when(turn, problem)
        return
    turn.set_state("broadcast", "confirm", **{**data, "send_at": start.isoformat()})
    await _confirm(turn)


async def _confirm(turn: Turn) -> None:
    """The preview: the text, who gets it (and who must be phoned), when, and the answer buttons."""
    data = dict(turn.conversation.data)
    author = await _author(turn)
    if author is None:
        return
    plan = await plan_broadcast(
        turn.session,
        author=author,
        audience=data["audience"],
        simulator_enabled=turn.policy.simulator_enabled,
    )
    tz = await _timezone(turn, author)
    template, answers = data.get("template"), data.get("answers") or ""
    wanted = _wanted(data, turn.now)
    moment = wanted or turn.now
    waits = after_quiet_hours(moment, tz)
    recipients, already = plan.recipients, []
    if template is not None:
        recipients, already = await bk_series.split_audience(turn.session, plan.recipients)
    buttons = [
        [Button(key="broadcast_options.schedule" if wanted else "broadcast.send", data="sb:send")]
    ]
    if waits > moment and template is None:
        buttons.append(
            [
                Button(
                    key="broadcast_options.urgent_at" if wanted else "broadcast.urgent",
                    data="sb:urgent",
                )
            ]
        )
    if wanted:
        buttons.append([Button(key="broadcast_options.now", data="sb:now")])
    buttons.append(
        [
            Button(
                key="broadcast_options.change_time" if wanted else "broadcast_options.later",
                data="sb:later",
            )
        ]
    )
    if template is None:
        buttons += [
            [Button(key=f"broadcast_options.answers_{kind}", data=f"sb:ans:{kind}")]
            for kind in ("read", "attend", "none")
            if kind != (answers or "none")
        ]
    buttons.append([Button(key="broadcast.cancel", data="sb:cancel")])
    direct = (
        recipients if template is not None else [g for g in recipients if not g.digest]
    )
    reach, batches = await foresee(
        turn.session,
        direct,
        at=waits if waits > moment else moment,
        simulator_enabled=turn.policy.simulator_enabled,
        costs=turn.policy.costs,
    )
    turn.reply(
        "broadcast_confirm",
        {
            **reach_context(reach, batches, turn.policy.costs),
            "text": data["text"],
            "audience": await audience_in_words(turn.session, author.school_id, data["audience"], turn.language),
            "recipients": len(recipients),
            "opted_out": len(plan.opted_out),
            "unreachable": [g.name for g in plan.unreachable],
            "waits_until": waits if waits > moment else None,
            "tz": tz,
            "send_at": wanted,
            "answers": answers,
            "answer_kinds": ANSWERS.get(answers, ()),
            "template": template,
            "already": len(already),
            "first_at": waits if waits > moment else wanted,
            "digest": sum(1 for g in recipients if g.digest) if template is None else 0,
            "digest_at": digest_due(waits, tz),
        },
        buttons=buttons,
    )


async def _send(turn: Turn, *, urgent: bool) -> None:
    data = dict(turn.conversation.data)
    author = next((s for s in turn.staff if s.id == data.get("staff_id")), None)
    turn.clear_state()
    if author is None:
        turn.reply("stale_button")
        return
    result = await send_broadcast(
        turn.session,
        author=author,
        audience=data["audience"],
        text=data["text"],
        now=turn.now,
        simulator_enabled=turn.policy.simulator_enabled,
        urgent=urgent,
        default_language=turn.policy.default_language,
        answers=data.get("answers") or "",
        send_at=_wanted(data, turn.now),
        template=data.get("template"),
        costs=turn.policy.costs,
    )
    tz = await _timezone(turn, author)
    later = result.send_at if result.send_at and result.send_at > turn.now else None
    turn.reply(
        "broadcast_sent",
        {
            **result.as_json(),
            **reach_context(result.reach, result.batches, turn.policy.costs),
            "send_at": later,
            "tz": tz,
            "digest": result.digest,
            "digest_at": digest_due(result.send_at or turn.now, tz),
            "template": data.get("template"),
            "already": result.already,
        },
    )


# ---------------------------------------------------------------- the end-of-sending report


async def report_finished(
    session: AsyncSession,
    broadcast_ids: set[int],
    *,
    now: datetime,
    simulator_enabled: bool,
    digest_outbox_ids: list[int] | None = None,
) -> int:
    """Send the delivery report of each of these broadcasts whose messages are all out; each once.

    ``digest_outbox_ids``: digest messages just sent, whose announcements count too. Announcements
    still waiting for tonight's digest do not hold the report back: it says how many wait.
    """
    if digest_outbox_ids:
        broadcast_ids = set(broadcast_ids) | set(
            (
                await session.exec(
                    select(DigestItem.broadcast_id).where(
                        col(DigestItem.outbox_id).in_(digest_outbox_ids)
                    )
                )
            ).all()
        )
    open_ids = list(
        (
            await session.exec(
                select(Broadcast.id).where(
                    col(Broadcast.id).in_(broadcast_ids), col(Broadcast.reported_at).is_(None)
                )
            )
        ).all()
    )
    reported = 0
    for broadcast_id in open_ids:
        pending = (
            await session.exec(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == "pending"
                )
                .limit(1)
            )
        ).first()
        pending = (
            pending
            or (
                await session.exec(
                    select(OutboxMessage.id)
                    .join(DigestItem, col(DigestItem.outbox_id) == OutboxMessage.id)
                    .where(
                        DigestItem.broadcast_id == broadcast_id, OutboxMessage.status == "pending"
                    )
                    .limit(1)
                )
            ).first()
        )
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
        await enqueue(
            session,
            [
                Outbound(
                    to=Recipient(
                        phone=author.phone, staff_id=author.id, school_id=author.school_id
                    ),
                    template="broadcast_reports",
                    context={"reports": [report], "tz": school.timezone, "now": now},
                )
            ],
            now=now,
            simulator_enabled=simulator_enabled,
        )
        reported += 1
    return reported
