"""The dashboard's pages: each turns the storage queries for one staff member into tables and charts.

A page builder never decides who may see what by itself: the scope (storage.dashboard) limits
every query, and a class, meeting or concern outside it is simply not found. The one rule on
top is confidentiality: a counseling concern's words are read only by those who hold it
(``concern_page``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cache
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_day_names, get_month_names
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.dashboard.charts import Chart, Segment, Stack, bar_rows, columns
from bot.dashboard.tables import Cell, Column, Table, cell
from storage.dashboard import (
    ConcernFacts,
    FamilyReach,
    Scope,
    Thread,
    audit_log,
    broadcasts,
    concern_thread,
    concerns,
    follow_ups_due,
    participation,
    reach,
    routing_help,
    school_year_bounds,
    school_year_of,
    tally,
    timetable,
    week_bounds,
)
from storage.audience import audience_in_words
from storage.audit import record_action
from handlers.violence_reports import CATEGORY as VIOLENCE_REPORT
from handlers.violence_reports import may_see_reporter
from handlers.escalation import counseling_category
from storage.casebook import may_read_casebook
from storage.inbox_health import parked_count, parked_updates
from storage.models import Concern, School, SchoolClass, Staff, Student
from storage.people import covers_class
from storage.reports import ParticipationRow
from storage.routing import homeroom_teacher
from templates.render import words

TEXT_PREVIEW = 140  # characters of an announcement shown in its row (the CSV has all of it)
REASON_MAX = 500  # characters of a principal's reason for opening a counseling concern


class NotFound(LookupError):
    """Not there, or not in this person's scope: the same answer either way (404)."""


class Forbidden(PermissionError):
    """A page this role does not get (403)."""


class Confidential(PermissionError):
    """A counseling concern of this person's classes whose words are not theirs to read (403):
    they may know that it exists, nothing more."""


@cache
def _names(lang: str) -> tuple[dict[int, str], dict[int, str]]:
    """Abbreviated month and weekday names of a language, as Babel has them."""
    return (dict(get_month_names("abbreviated", locale=lang)), dict(get_day_names("abbreviated", locale=lang)))


@dataclass
class View:
    """One request of one signed-in staff member: whom, in which language, at what time."""

    session: AsyncSession
    staff: Staff
    school: School
    scope: Scope
    lang: str
    now: datetime
    path: str
    query: dict[str, str]
    simulator_enabled: bool

    @property
    def tz(self) -> str:
        return self.school.timezone

    @property
    def words(self) -> dict[str, Any]:
        return words(self.lang)

    @property
    def w(self) -> dict[str, Any]:
        return words(self.lang)["dashboard"]

    @property
    def year(self) -> int:
        """The school year asked for (``?year=2026``), or the current one."""
        asked = self.query.get("year", "")
        if asked.isdigit() and 2000 <= int(asked) <= 2100:
            return int(asked)
        return school_year_of(self.now, self.tz)

    def link(self, **params: object) -> str:
        """This page with some query parameters changed (None removes one)."""
        query = {**self.query, **{k: str(v) for k, v in params.items() if v is not None}}
        for key, value in params.items():
            if value is None:
                query.pop(key, None)
        return self.path + ("?" + urlencode(query) if query else "")

    def when(self, value: datetime | None) -> str:
        """'19 Des 2026, 08.00' (Babel's month names; a table may hold hundreds of these)."""
        if value is None:
            return self.w["none"]
        local = value.astimezone(ZoneInfo(self.tz))
        months, _ = _names(self.lang)
        separator = "." if self.lang == "id" else ":"
        return f"{local.day} {months[local.month]} {local.year}, {local:%H}{separator}{local:%M}"

    def day(self, value: datetime | date) -> str:
        """'Sab, 19 Des 2026'."""
        local = value.astimezone(ZoneInfo(self.tz)) if isinstance(value, datetime) else value
        months, days = _names(self.lang)
        return f"{days[local.weekday()]}, {local.day} {months[local.month]} {local.year}"

    def iso(self, value: datetime | None) -> str:
        return value.astimezone(ZoneInfo(self.tz)).strftime("%Y-%m-%d %H:%M") if value else ""

    def duration(self, value: timedelta | None) -> Cell:
        if value is None:
            return cell(self.w["none"], csv="")
        minutes = int(value.total_seconds() // 60)
        units = self.w["duration"]
        if minutes < 60:
            text = units["minutes"].format(m=minutes)
        elif minutes < 48 * 60:
            text = units["hours"].format(h=minutes // 60, m=minutes % 60)
        else:
            text = units["days"].format(d=minutes // 1440, h=minutes % 1440 // 60)
        return cell(text, csv=round(value.total_seconds() / 3600, 2))

    def label(self, group: str, key: str | None) -> str:
        """A word from the chat words (roles, categories, relations...), or the key as written."""
        if key is None:
            return self.w["none"]
        return str(self.words.get(group, {}).get(key, key))


@dataclass
class Page:
    template: str
    nav: str
    heading: str
    tables: dict[str, Table] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    audited: bool = False

    def table(self, view: View, table: Table) -> Table:
        """Register a table for the page and its CSV download."""
        table.csv_href = view.link(format="csv", table=table.name)
        table.empty = table.empty or view.w["empty"]
        self.tables[table.name] = table
        return table


def share(count: int, total: int) -> Cell:
    value = count / total * 100 if total else 0.0
    return cell(f"{round(value)}%", csv=round(value, 1))


def class_href(name: str) -> str:
    return f"/dashboard/classes/{quote(name, safe='')}"


def _guardians_text(view: View, family: FamilyReach) -> str:
    if not family.guardians:
        return view.w["none"]
    return ", ".join(f"{g.name} ({view.label('relations', g.relation)})" for g in family.guardians)


def _year_context(view: View) -> dict[str, Any]:
    year = view.year
    return {"year_label": view.w["school_year"].format(year=year, next=year + 1),
            "previous_year": view.link(year=year - 1), "next_year": view.link(year=year + 1)}


# ---------------------------------------------------------------- reach


async def reach_page(view: View) -> Page:
    """Which families of which class the school is not reaching by chat."""
    w = view.w["reach"]
    classes, families = await reach(view.session, view.scope, simulator_enabled=view.simulator_enabled)
    page = Page("dashboard_reach.html", "reach", w["heading"])
    totals = {key: sum(getattr(c, key) for c in classes) for key in ("families", "linked", "opted_out", "unreachable")}
    chart = bar_rows("reach", w["chart"], [
        (c.school_class.name, [Stack((
            Segment(c.share(c.reached - c.linked_opted_out), "good", f"{c.school_class.name}: {w['legend_reached']}"),
            Segment(c.share(c.linked_opted_out), "warn", f"{c.school_class.name}: {w['legend_opted_out']}"),
            Segment(c.share(c.unreachable), "bad", f"{c.school_class.name}: {w['legend_unreachable']}"),
        ), share(c.reached, c.families).text)]) for c in classes],
        [("good", w["legend_reached"]), ("warn", w["legend_opted_out"]), ("bad", w["legend_unreachable"])],
        label_width=62)
    per_class = page.table(view, Table("classes", w["classes_table"], [
        Column("class", w["class"]), Column("families", w["families"], True),
        Column("linked", w["linked"], True), Column("linked_share", w["linked_share"], True),
        Column("opted_out", w["opted_out"], True), Column("opted_out_share", w["opted_out_share"], True),
        Column("unreachable", w["unreachable"], True), Column("unreachable_share", w["unreachable_share"], True)]))
    for c in classes:
        per_class.add(**{"class": cell(c.school_class.name, href=class_href(c.school_class.name)),
                         "families": c.families, "linked": c.linked, "linked_share": share(c.linked, c.families),
                         "opted_out": c.opted_out, "opted_out_share": share(c.opted_out, c.families),
                         "unreachable": cell(c.unreachable, css="bad" if c.unreachable else ""),
                         "unreachable_share": share(c.unreachable, c.families)})
    _unreachable_table(view, page, [f for f in families if not f.reachable])
    page.context = {"tiles": [
        (w["families"], totals["families"], ""),
        (w["linked"], share(totals["linked"], totals["families"]).text, "good"),
        (w["opted_out"], totals["opted_out"], "warn"),
        (w["unreachable"], totals["unreachable"], "bad" if totals["unreachable"] else "good")],
        "charts": [chart] if classes else [], "all_reached": bool(families) and not totals["unreachable"]}
    return page


def _unreachable_table(view: View, page: Page, families: list[FamilyReach]) -> None:
    w = view.w["reach"]
    table = page.table(view, Table("unreachable", w["unreachable_table"], [
        Column("class", w["class"]), Column("student", w["student"]), Column("nisn", w["nisn"]),
        Column("guardians", w["guardians"]), Column("reason", w["reason"])], empty=w["all_reached"]))
    for family in families:
        table.add(**{"class": cell(family.school_class.name, href=class_href(family.school_class.name)),
                     "student": family.student_name, "nisn": family.nisn,
                     "guardians": _guardians_text(view, family),
                     "reason": w["reasons"][family.unreachable_reason or "no_account"]})


async def class_page(view: View, name: str) -> Page:
    """One class: every family and how it is reached, its meetings and its concerns this year."""
    school_class = view.scope.class_named(name)
    if school_class is None:
        raise NotFound(name)
    w, wm = view.w["reach"], view.w["meetings"]
    classes, families = await reach(view.session, view.scope, simulator_enabled=view.simulator_enabled,
                                    class_id=school_class.id)
    row = classes[0]
    page = Page("dashboard_class.html", "reach", f"{w['class']} {school_class.name}")
    homeroom = await homeroom_teacher(view.session, view.school.id, school_class.name)  # type: ignore[arg-type]
    table = page.table(view, Table("families", w["families_table"], [
        Column("student", w["student"]), Column("nisn", w["nisn"]), Column("guardians", w["guardians"]),
        Column("channels", w["channels"]), Column("opted_out", w["opted_out"]), Column("status", w["status"])]))
    for family in families:
        channels = sorted({ch for g in family.guardians for ch in g.channels})
        reason = family.unreachable_reason
        table.add(student=family.student_name, nisn=family.nisn, guardians=_guardians_text(view, family),
                  channels=", ".join(view.w["channels"].get(ch, ch) for ch in channels) or view.w["none"],
                  opted_out=view.w["yes_mark"] if family.opted_out else "",
                  status=cell(w["reached"] if reason is None else f"{w['unreachable']}: {w['reasons'][reason]}",
                              css="" if reason is None else "bad"))
    since, until = school_year_bounds(view.year, view.tz)
    only_this = dataclasses.replace(view.scope, classes=(school_class,), whole_school=False)
    report = await participation(view.session, only_this, since=since, until=until, tz=view.tz)
    meetings = page.table(view, Table("meetings", wm["meetings_table"], _participation_columns(view, "title")))
    for info, counts in report.meetings:
        if counts.invited:
            _participation_row(view, meetings, counts, title=cell(info.title, href=f"/dashboard/meetings/{info.id}"),
                               date=cell(view.day(info.starts_at), csv=view.iso(info.starts_at)))
    facts = [c for c in await concerns(view.session, view.scope, since=since, class_id=school_class.id)
             if c.created_at < until or c.status != "closed"]
    _tally_table(view, page, "by_category", view.w["concerns"]["by_category_table"],
                 tally(facts, lambda c: (c.category, view.label("categories", c.category)), view.now))
    page.context = {"tiles": [
        (w["families"], row.families, ""), (w["linked"], share(row.linked, row.families).text, "good"),
        (w["opted_out"], row.opted_out, "warn"),
        (w["unreachable"], row.unreachable, "bad" if row.unreachable else "good")],
        "homeroom": w["homeroom"].format(name=homeroom.name) if homeroom else None,
        "letters": f"/dashboard/classes/{school_class.name}/letters"
        if view.staff.role in ("admin", "principal") else None, **_year_context(view)}
    return page


# ---------------------------------------------------------------- meetings


def _participation_columns(view: View, first: str) -> list[Column]:
    wm = view.w["meetings"]
    head = {"title": [Column("date", wm["date"]), Column("title", wm["title"])],
            "class": [Column("class", wm["class"])], "type": [Column("type", wm["type"])]}[first]
    return head + [Column(key, wm[key], True) for key in (
        "invited", "delivered", "read", "accepted", "declined", "proxy", "attended")] + [
        Column("attended_share", wm["attended_share"], True), Column("unreachable", wm["unreachable"], True),
        Column("asked_other_time", wm["asked_other_time"], True)]


def _participation_row(view: View, table: Table, counts: ParticipationRow, **first: object) -> None:
    table.add(**first, invited=counts.invited, delivered=counts.delivered, read=counts.read,
              accepted=counts.accepted, declined=counts.declined, proxy=counts.proxy, attended=counts.attended,
              attended_share=share(counts.attended, counts.invited),
              unreachable=cell(counts.unreachable, css="bad" if counts.unreachable else ""),
              asked_other_time=cell(counts.asked_other_time, css="warn" if counts.asked_other_time else ""))


def _read_and_attended(view: View, label: str, counts: ParticipationRow) -> tuple[str, list[Stack]]:
    wm = view.w["meetings"]
    invited = counts.invited or 1
    return (label, [
        Stack((Segment(counts.read / invited, "read", f"{label}: {wm['legend_read']}"),),
              f"{round(counts.read / invited * 100)}%"),
        Stack((Segment(counts.attended / invited, "good", f"{label}: {wm['legend_attended']}"),),
              f"{round(counts.attended / invited * 100)}%")])


async def meetings_page(view: View) -> Page:
    """The year's meetings: participation per meeting, per class, per meeting type, per month."""
    wm = view.w["meetings"]
    since, until = school_year_bounds(view.year, view.tz)
    report = await participation(view.session, view.scope, since=since, until=until, tz=view.tz)
    page = Page("dashboard_meetings.html", "meetings", wm["heading"])
    legend = [("read", wm["legend_read"]), ("good", wm["legend_attended"])]
    months = {month: counts for month, counts in report.by_month}
    start = since.astimezone(ZoneInfo(view.tz)).date()
    points = []
    for offset in range(12):
        month = date(start.year + (start.month - 1 + offset) // 12, (start.month - 1 + offset) % 12 + 1, 1)
        counts = months.get(month)
        rate = counts.attended / counts.invited if counts and counts.invited else None
        label = format_date(month, "MMM", locale=view.lang)
        points.append((label, rate, f"{label}: {counts.attended}/{counts.invited}" if counts else label))
    charts: list[Chart] = []
    if report.meetings:
        charts = [
            columns("by_month", wm["by_month_chart"], points, "good", [("good", wm["legend_attended"])]),
            bar_rows("by_class", wm["by_class_chart"],
                     [_read_and_attended(view, row.class_name, row) for row in report.by_class if row.invited],
                     legend, label_width=62),
            bar_rows("by_type", wm["by_type_chart"],
                     [_read_and_attended(view, view.label("meeting_types", row.title), row)
                      for row in report.by_type], legend)]
    table = page.table(view, Table("meetings", wm["meetings_table"],
                                   _participation_columns(view, "title")[:2] + [Column("type", wm["type"]),
                                                                                Column("status", wm["status"])]
                                   + _participation_columns(view, "title")[2:]))
    for info, counts in report.meetings:
        _participation_row(view, table, counts, date=cell(view.day(info.starts_at), csv=view.iso(info.starts_at)),
                           title=cell(info.title, href=f"/dashboard/meetings/{info.id}"),
                           type=view.label("meeting_types", info.type),
                           status=wm["statuses"].get(info.status, info.status))
    by_class = page.table(view, Table("by_class", wm["by_class_table"], _participation_columns(view, "class")))
    for row in report.by_class:
        _participation_row(view, by_class, row, **{"class": cell(row.class_name, href=class_href(row.class_name))})
    by_type = page.table(view, Table("by_type", wm["by_type_table"], _participation_columns(view, "type")))
    for row in report.by_type:
        _participation_row(view, by_type, row, type=view.label("meeting_types", row.title))
    page.context = {"charts": charts, **_year_context(view)}
    return page


LISTED_SLOTS = 12  # more sessions than this: the empty ones are counted, not listed


async def meeting_page(view: View, meeting_id: int) -> Page:
    """One meeting's timetable by slot and room: who comes, for which child, RSVP and attendance."""
    wm = view.w["meetings"]
    found = await timetable(view.session, view.scope, meeting_id)
    if found is None:
        raise NotFound(meeting_id)
    meeting = found.meeting
    page = Page("dashboard_meeting.html", "meetings", meeting.title)
    room = meeting.location or wm["home_visit"]
    columns_ = [Column("slot", wm["slot"]), Column("room", wm["room"]), Column("booked", wm["booked"]),
                Column("family", wm["family"]), Column("who", wm["who"]), Column("rsvp", wm["rsvp"]),
                Column("attendance", wm["attendance"])]
    table = page.table(view, Table("timetable", wm["timetable_table"], columns_))
    totals = found.totals
    # A one-to-one meeting (the family picked from the organizer's free times) or a long day:
    # the page lists the sessions someone holds and counts the empty ones (the CSV has them all).
    collapse = totals.invited == 1 or len(found.slots) > LISTED_SLOTS
    slots, empty_slots = [], 0
    for slot in found.slots:
        span = f"{view.when(slot.starts_at)}–{_clock(view, slot.ends_at)}"
        booked = f"{slot.booked}/{slot.capacity}"
        rows = [_family_cells(view, family) for family in slot.families]
        for row in rows or [{}]:
            table.add(slot=cell(span, csv=view.iso(slot.starts_at)), room=room, booked=booked, **row)
        if rows or not collapse:
            slots.append({"span": span, "booked": booked, "rows": rows})
        else:
            empty_slots += 1
    # A one-to-one meeting (a summons the family picks a time for): its time is the one booked.
    held = [slot for slot in found.slots if slot.families]
    when = (f"{view.when(held[0].starts_at)}–{_clock(view, held[0].ends_at)}"
            if totals.invited == 1 and held else view.when(meeting.starts_at))
    unassigned = page.table(view, Table("unassigned", wm["unassigned_table"], columns_[3:]))
    for family in found.unassigned:
        unassigned.add(**_family_cells(view, family))
    page.context = {
        "meeting": meeting, "room": room, "slots": slots,
        "facts": [(wm["type"], view.label("meeting_types", meeting.type)), (wm["organizer"], meeting.organizer_name),
                  (wm["location"], room), (wm["capacity"], wm["families_at_once"].format(n=meeting.room_capacity)),
                  (wm["status"], wm["statuses"].get(meeting.status, meeting.status)),
                  (wm["date"], when)], "empty_slots": empty_slots,
        "tiles": [(wm["invited"], totals.invited, ""), (wm["read"], totals.read, "read"),
                  (wm["accepted"], totals.accepted, "good"), (wm["attended"], totals.attended, "good"),
                  (wm["unreachable"], totals.unreachable, "bad" if totals.unreachable else ""),
                  (wm["asked_other_time"], totals.asked_other_time, "warn" if totals.asked_other_time else "")]}
    return page


def _clock(view: View, value: datetime) -> str:
    return format_datetime(value, "HH.mm" if view.lang == "id" else "HH:mm", tzinfo=ZoneInfo(view.tz),
                           locale=view.lang)


def _family_cells(view: View, family: Any) -> dict[str, Cell]:
    wm = view.w["meetings"]
    children = ", ".join(f"{name} ({class_name})" for name, class_name in family.children)
    if family.responded_by:
        who = family.responded_by
    else:
        who = ", ".join(f"{name} ({wm['proxy_mark']})" if proxy else name for name, proxy in family.guardians)
    answer = view.label("rsvp", family.response) if family.response else wm["no_answer"]
    if family.slot_state == "proposed":
        answer += f" · {wm['proposed']}"
    return {"family": cell(children), "who": cell(who or view.w["none"]),
            "rsvp": cell(answer, css="" if family.response else "muted"),
            "attendance": cell(wm["came"] if family.attended else wm["not_yet"], csv="1" if family.attended else "0",
                               css="good" if family.attended else "")}


# ---------------------------------------------------------------- concerns


def _tally_table(view: View, page: Page, name: str, title: str, groups: list[Any],
                 roles: dict[str, str] | None = None) -> None:
    wc = view.w["concerns"]
    head = [Column("key", wc["staff"] if roles is not None else wc["category"])]
    if roles is not None:
        head.append(Column("role", wc["role"]))
    table = page.table(view, Table(name, title, head + [
        Column(key, wc[key], True) for key in ("open", "overdue", "answered", "closed", "total")] + [
        Column("median", wc["median"], True)]))
    for group in groups:
        extra = {"role": roles.get(group.key, "")} if roles is not None else {}
        table.add(key=group.label, **extra, open=group.open,
                  overdue=cell(group.overdue, css="bad" if group.overdue else ""), answered=group.answered,
                  closed=group.closed, total=group.total, median=view.duration(group.median_first_answer))


async def concerns_page(view: View) -> Page:
    """Concerns by state, category and staff member, the median first answer, and follow-ups due."""
    wc = view.w["concerns"]
    since, until = school_year_bounds(view.year, view.tz)
    facts = [c for c in await concerns(view.session, view.scope, since=since)
             if c.created_at < until or c.status != "closed"]
    page = Page("dashboard_concerns.html", "concerns", wc["heading"])
    overall = tally(facts, lambda c: ("all", ""), view.now)
    total = overall[0] if overall else None
    roles = {str(c.staff_id): view.label("roles", c.staff_role) for c in facts}
    _tally_table(view, page, "by_category", wc["by_category_table"],
                 tally(facts, lambda c: (c.category, view.label("categories", c.category)), view.now))
    _tally_table(view, page, "by_staff", wc["by_staff_table"],
                 tally(facts, lambda c: (str(c.staff_id), c.staff_name), view.now), roles)
    moved = page.table(view, Table("routing", wc["routing_table"], [
        Column("category", wc["category"]), Column("handovers", wc["handovers"], True),
        Column("wrong_person", wc["wrong_person"], True), Column("total", wc["total"], True)]))
    for item in await routing_help(view.session, view.scope, since=since, until=until):
        moved.add(category=view.label("categories", item.category), handovers=item.handovers,
                  wrong_person=item.wrong_person, total=item.total)
    oversight = view.staff.role == "principal"
    waiting = [c for c in facts if c.status != "closed" and (oversight or c.handled_by(view.staff.id))]  # type: ignore[arg-type]
    order = {"overdue": 0, "open": 1, "answered": 2}
    waiting.sort(key=lambda c: (order.get(c.state(view.now), 3), c.created_at))
    listing = page.table(view, Table("list", wc["list_table_all"] if oversight else wc["list_table_mine"], [
        Column("number", wc["number"], True), Column("received", wc["received"]), Column("class", wc["class"]),
        Column("student", wc["student"]), Column("category", wc["category"]), Column("handled_by", wc["handled_by"]),
        Column("status", wc["status"]), Column("open", "", in_csv=False)]))
    for concern in waiting:
        _concern_row(view, listing, concern)
    start, end = week_bounds(view.now, view.tz)
    follow = page.table(view, Table("follow_ups", wc["follow_ups_table"], [
        Column("check_in", wc["check_in"]), Column("student", wc["student"]), Column("class", wc["class"]),
        Column("agreement", wc["agreement"]), Column("staff", wc["staff"]), Column("answer", wc["answer"])]))
    for item in await follow_ups_due(view.session, view.scope, start=start, end=end):
        answer = view.label("check_in", item.answer) if item.answer else (
            wc["asked"] if item.asked_at else wc["not_asked"])
        follow.add(check_in=cell(view.day(item.check_in_at), csv=view.iso(item.check_in_at)),
                   student=item.student_name, **{"class": item.class_name}, agreement=item.text,
                   staff=item.staff_name, answer=answer)
    page.context = {"tiles": [
        (wc["open"], total.open if total else 0, ""),
        (wc["overdue"], total.overdue if total else 0, "bad" if total and total.overdue else ""),
        (wc["answered"], total.answered if total else 0, "good"),
        (wc["median"], view.duration(total.median_first_answer if total else None).text, "")],
        "oversight": oversight, **_year_context(view)}
    return page


def _concern_row(view: View, table: Table, concern: ConcernFacts) -> None:
    wc = view.w["concerns"]
    state = concern.state(view.now)
    handler = concern.staff_name + (f" → {concern.escalated_to_name}" if concern.escalated_to_name else "")
    table.add(number=concern.id, received=cell(view.when(concern.created_at), csv=view.iso(concern.created_at)),
              **{"class": concern.class_name}, student=concern.student_name,
              category=view.label("categories", concern.category), handled_by=handler,
              status=cell(wc["states"][state], css="bad" if state == "overdue" else ""),
              open=cell(wc["open_thread"], href=f"/dashboard/concerns/{concern.id}"))


async def concern_page(view: View, concern_id: int, reason: str | None = None) -> Page:
    """One concern's conversation, for the staff handling it and, in oversight, the principal.

    A counseling concern's words are only for the staff member holding it and the counselors
    covering the class (contract section 10); the principal opens one by giving a reason (a form:
    ``reason`` is what it posted), which the audit log keeps. Others of the class are told it is
    confidential; no one else learns it exists.
    """
    wc = view.w["concerns"]
    thread = await concern_thread(view.session, view.school.id, concern_id)  # type: ignore[arg-type]
    if thread is None:
        raise NotFound(concern_id)
    page = Page("dashboard_concern.html", "concerns", wc["thread_heading"].format(id=concern_id))
    if counseling_category(thread.concern.category):
        if not await _may_read_counseling(view, thread.concern):
            if view.staff.role != "principal":
                if view.scope.covers(thread.concern.class_id) or thread.concern.handled_by(view.staff.id):  # type: ignore[arg-type]
                    raise Confidential(concern_id)
                raise NotFound(concern_id)
            given = (reason or "").strip()
            if not given:  # the principal first says why
                await _concern_facts(view, page, thread, words_shown=False)
                page.context.update({"reason_form": True, "reason_missing": reason is not None})
                return page
            record_action(view.session, view.staff, "open_concern", f"concern:{concern_id}", now=view.now,
                          reason=given[:REASON_MAX])
            page.audited = True
    else:
        handler = thread.concern.handled_by(view.staff.id)  # type: ignore[arg-type]
        if not handler and view.staff.role != "principal":
            raise NotFound(concern_id)
        if not handler:
            record_action(view.session, view.staff, "open_concern", f"concern:{concern_id}", now=view.now)
            page.audited = True
    await _concern_facts(view, page, thread, words_shown=True)
    return page


async def _may_read_counseling(view: View, concern: ConcernFacts) -> bool:
    """The holder, a counselor the concern was escalated to, the counselors covering the class,
    and a principal it was escalated to (it reached them in chat with its words)."""
    me = view.staff
    if me.id == concern.staff_id:
        return True
    if me.id == concern.escalated_to_id and me.role in ("counselor", "principal"):
        return True
    if me.role != "counselor":
        return False
    school_class = await view.session.get(SchoolClass, concern.class_id)
    return school_class is not None and covers_class(me, school_class)


async def _concern_facts(view: View, page: Page, thread: Thread, *, words_shown: bool) -> None:
    wc = view.w["concerns"]
    raw = await view.session.get(Concern, thread.concern.id)
    _hide_reporter(view, thread, raw)
    student = await view.session.get(Student, raw.student_id) if raw else None
    school_class = await view.session.get(SchoolClass, student.class_id) if student else None
    casebook_href = f"/dashboard/students/{student.nisn}/casebook" if student and school_class and \
        may_read_casebook(view.staff, school_class) else None
    concern = thread.concern
    state = concern.state(view.now)
    messages = thread.messages if words_shown else []
    if words_shown:
        table = page.table(view, Table("messages", wc["messages_table"], [
            Column("at", wc["at"]), Column("author", wc["author"]), Column("text", wc["text"])]))
        for message in messages:
            text = message.text + (f" [{wc['attachments'].format(n=message.attachments)}]"
                                   if message.attachments else "")
            table.add(at=cell(view.when(message.at), csv=view.iso(message.at)), author=message.name, text=text)
    page.context = {
        "counseling": counseling_category(concern.category), "words_shown": words_shown,
        "reason_form": False, "reason_missing": False,
        "thread": thread, "state": state, "state_label": wc["states"][state],
        "facts": [(wc["student"], f"{concern.student_name} ({concern.class_name})"),
                  (wc["guardian"], f"{thread.guardian_name} ({view.label('relations', thread.relation)})"),
                  (wc["category"], view.label("categories", concern.category)),
                  *([(wc["subject"], thread.subject)] if thread.subject else []),
                  (wc["handled_by"], f"{concern.staff_name} ({view.label('roles', concern.routed_role)})"),
                  *([(wc["escalated_to"], concern.escalated_to_name)] if concern.escalated_to_name else []),
                  (wc["received"], view.when(concern.created_at)), (wc["due"], view.when(concern.due_at)),
                  (wc["first_answer"], view.when(concern.first_answer_at)), (wc["status"], wc["states"][state])],
        "casebook_href": casebook_href,
        "messages": [{"author": m.author, "name": m.name, "text": m.text, "at": view.when(m.at),
                      "attachments": wc["attachments"].format(n=m.attachments) if m.attachments else ""}
                     for m in messages]}


def _hide_reporter(view: View, thread: Any, concern: Concern | None) -> None:
    """A violence report whose reporter asked to stay within the TPPK team: no name for others."""
    if concern is None or concern.category != VIOLENCE_REPORT or may_see_reporter(view.staff, concern):
        return
    hidden = view.words["report"]["hidden_name"]
    for message in thread.messages:
        if message.author == "guardian":
            message.name = hidden
    thread.guardian_name = hidden


# ---------------------------------------------------------------- broadcasts and audit


async def broadcasts_page(view: View) -> Page:
    """The year's announcements with their delivery and read counts."""
    wb = view.w["broadcasts"]
    since, until = school_year_bounds(view.year, view.tz)
    page = Page("dashboard_broadcasts.html", "broadcasts", wb["heading"])
    table = page.table(view, Table("broadcasts", wb["table"], [
        Column("date", wb["date"]), Column("author", wb["author"]), Column("audience", wb["audience"]),
        Column("text", wb["text"])] + [Column(key, wb[key], True) for key in (
            "recipients", "waiting", "sent", "delivered", "read", "read_share", "failed", "held", "opted_out",
            "unreachable")]))
    for row in await broadcasts(view.session, view.scope, since=since, until=until):
        preview = row.text if len(row.text) <= TEXT_PREVIEW else row.text[:TEXT_PREVIEW - 1] + "…"
        table.add(date=cell(view.when(row.created_at), csv=view.iso(row.created_at)),
                  author=row.author_name, audience=await audience_in_words(
                      view.session, view.school.id, row.audience, view.lang) + (  # type: ignore[arg-type]
                      f" ({wb['urgent']})" if row.urgent else ""),
                  text=cell(preview, csv=row.text), recipients=row.recipients, waiting=row.waiting, sent=row.sent,
                  delivered=row.delivered, read=row.read, read_share=share(row.read, row.recipients),
                  failed=cell(row.failed, css="bad" if row.failed else ""), held=row.held,
                  opted_out=row.opted_out, unreachable=cell(row.unreachable, css="bad" if row.unreachable else ""))
    page.context = _year_context(view)
    return page


async def audit_page(view: View) -> Page:
    """Who signed in and which conversations the principal opened: for the principal and admins."""
    if view.staff.role not in ("principal", "admin"):
        raise Forbidden(view.staff.role)
    wa = view.w["audit"]
    page = Page("dashboard_audit.html", "audit", wa["heading"])
    table = page.table(view, Table("audit", wa["table"], [
        Column("at", wa["at"]), Column("staff", wa["staff"]), Column("role", wa["role"]),
        Column("action", wa["action"]), Column("subject", wa["subject"]), Column("reason", wa["reason"])]))
    for entry in await audit_log(view.session, view.school.id):  # type: ignore[arg-type]
        kind, _, number = entry.subject.partition(":")
        href = None
        if number.isdigit() and kind == "concern" and view.staff.role == "principal":
            href = f"/dashboard/concerns/{number}"
        elif number.isdigit() and kind == "meeting":
            href = f"/dashboard/meetings/{number}"
        # What the action was about, in words ("Pertemuan #2"), never the stored code ("meeting:2").
        said = wa["subjects"].get(kind, "") if number else ""
        subject = cell(said.format(n=number) if said else "", href=href)
        table.add(at=cell(view.when(entry.at), csv=view.iso(entry.at)), staff=entry.staff_name,
                  role=view.label("roles", entry.staff_role),
                  action=wa["actions"].get(entry.action, entry.action), subject=subject, reason=entry.reason or "")
    if view.staff.role == "admin":
        await _parked_table(view, page)
    return page


async def _parked_table(view: View, page: Page) -> None:
    """Messages received but not processed after every retry: how many and when, for the office
    to pass on to whoever runs the server. Never their words or their senders."""
    wp = view.w["parked"]
    count = await parked_count(view.session)
    table = page.table(view, Table("parked", wp["table"].format(count=count), [
        Column("id", wp["id"], numeric=True), Column("channel", wp["channel"]),
        Column("received", wp["received"]), Column("attempts", wp["attempts"], numeric=True)],
        empty=wp["empty"]))
    for row in await parked_updates(view.session):
        received = datetime.fromisoformat(row["received_at"]) if row["received_at"] else None
        table.add(id=row["id"], channel=view.label("channels", row["channel"]),
                  received=cell(view.when(received), csv=row["received_at"]), attempts=row["attempts"])
    page.context["parked_note"] = wp["note"] if count else ""
