"""The counselor's pages of the dashboard: a student's case book, the month's BK report, and the
official letters of a meeting as PDF downloads.

Who sees what: the case book only the counselors covering the student's class and the
principal (the principal's opening is written to the audit log); everyone else gets "not
found", as for anything outside their scope. The monthly report: the principal and the
counselors. A meeting's letters: its organizer, the principal and the office.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.dashboard.pages import NotFound, Page, View
from bot.dashboard.tables import Column, Table, cell
from storage.audit import record_action
from storage.casebook import UnknownStudent, casebook, find_student, may_read_casebook, monthly_report
from storage.meeting_letters import LetterPatternError, NotInvited, letterhead, meeting_letters
from storage.models import Meeting


def _when(view: View, iso: str | None) -> str:
    from datetime import datetime

    return view.when(datetime.fromisoformat(iso)) if iso else view.w["none"]


def _summary(view: View, entry: dict[str, Any]) -> str:
    """One line for an entry of the case book, in the reader's language."""
    wc = view.w["casebook"]
    kind = entry["kind"]
    if kind == "concern":
        who = entry["guardian"] or wc["hidden_reporter"]
        lines = [f"{view.label('categories', entry['category'])}"
                 + (f" ({entry['case_number']})" if entry.get("case_number") else "")
                 + f" · {view.label('statuses', entry['status'])} · {entry['staff']} · {who}"]
        lines += [f"[{_when(view, m['at'])}] {m['staff'] or who}: {m['text']}" for m in entry["messages"]]
        return "\n".join(lines)
    if kind == "summons":
        outcome = entry["outcome"]
        parts = [wc["level"].format(level=entry["level"] or "?"), entry["reason"] or entry["title"],
                 wc["read"] if outcome["read"] else wc["delivered"] if outcome["delivered"] else wc["not_delivered"]]
        if outcome["answered"]:
            parts.append(view.label("rsvp", outcome["answered"]))
        if outcome["attended"]:
            parts.append(wc["attended"])
        if outcome["agreement"]:
            parts.append(wc["agreement"])
        parts += [wc["printed"].format(number=letter["number"]) for letter in entry["letters"]]
        return " · ".join(str(p) for p in parts)
    if kind == "home_visit":
        return wc["visit"].format(date=entry["date"], staff=entry["staff"], met=entry["met"],
                                  discussed=entry["discussed"], agreed=entry["agreed"] or "-")
    if kind == "agreement":
        return f"\"{entry['text']}\" · {entry['staff']} · {wc['check_in_at']} {_when(view, entry['check_in_at'])}"
    if kind == "check_in":
        answer = view.label("check_in", entry["answer"]) if entry["answer"] != "note" else wc["note"]
        return f"{entry['guardian']}: {answer}" + (f" — \"{entry['note']}\"" if entry.get("note") else "")
    return f"{entry.get('from')} → {entry.get('to')}"


async def _readable_book(view: View, nisn: str) -> dict[str, Any]:
    try:
        student, school_class, _ = await find_student(view.session, nisn, view.school.id)
    except UnknownStudent:
        raise NotFound(nisn) from None
    if not may_read_casebook(view.staff, school_class):
        raise NotFound(nisn)  # confidential: the same answer as a student who is not there
    if view.staff.role == "principal":
        record_action(view.session, view.staff, "open_casebook", f"student:{student.nisn}", now=view.now)
    return await casebook(view.session, nisn, school_id=view.school.id)


async def casebook_page(view: View, nisn: str) -> Page:
    book = await _readable_book(view, nisn)
    wc = view.w["casebook"]
    student = book["student"]
    page = Page("dashboard_casebook.html", "concerns", wc["heading"].format(name=student["name"]))
    page.audited = True  # the principal's opening is committed with the page
    table = page.table(view, Table("casebook", wc["table"], [
        Column("at", wc["at"]), Column("kind", wc["kind"]), Column("entry", wc["entry"])]))
    for entry in book["entries"]:
        table.add(at=cell(_when(view, entry["at"]), csv=entry["at"]),
                  kind=view.words["casebook"]["kinds"][entry["kind"]], entry=_summary(view, entry))
    page.context = {"student": student, "pdf_href": f"/dashboard/students/{student['nisn']}/casebook.pdf"}
    return page


async def casebook_pdf(view: View, nisn: str) -> tuple[bytes, str]:
    book = await _readable_book(view, nisn)
    from templates.counsel_pdf import casebook_pdf_bytes  # fpdf2 and segno: only for a PDF

    return casebook_pdf_bytes(book, letterhead(view.school), lang=view.lang), f"buku-kasus-{nisn}.pdf"


def _month(view: View) -> str:
    asked = view.query.get("month", "")
    try:
        year, number = (int(p) for p in asked.split("-"))
        date(year, number, 1)
        return f"{year:04d}-{number:02d}"
    except ValueError:
        today = view.now.astimezone(ZoneInfo(view.tz)).date()
        return f"{today.year:04d}-{today.month:02d}"


def _may_see_month(view: View) -> None:
    if view.staff.role not in ("principal", "counselor"):
        raise NotFound("bk-report")


async def _month_context(view: View) -> dict[str, Any]:
    _may_see_month(view)
    month = _month(view)
    report = await monthly_report(view.session, view.school, month)
    year, number = (int(p) for p in month.split("-"))
    return {
        "month": month, "month_name": format_date(date(year, number, 1), "MMMM y", locale=view.lang),
        "school_name": report.school, "reports": report.reports, "reports_escalated": report.reports_escalated,
        "concerns": [{"label": view.label("categories", c), "count": n} for c, n in sorted(report.concerns.items())],
        "summons": [{"level": level, "count": n} for level, n in sorted(report.summons.items())],
        "visits": report.visits, "agreements": report.agreements, "check_ins_due": report.check_ins_due,
        "check_ins_answered": report.check_ins_answered, "rows": report.rows()}


async def bk_report_page(view: View) -> Page:
    context = await _month_context(view)
    wb = view.w["bk_report"]
    page = Page("dashboard_bk_report.html", "bk_report", wb["heading"].format(month=context["month_name"]))
    table = page.table(view, Table("bk_report", wb["table"], [
        Column("section", wb["section"]), Column("item", wb["item"]), Column("count", wb["count"], True)]))
    for section, item, count in context["rows"]:
        label = view.label("categories", item) if section == "concerns" else wb["items"].get(item, item)
        table.add(section=cell(wb["sections"][section], csv=section), item=cell(label, csv=item), count=count)
    year, number = (int(p) for p in context["month"].split("-"))
    previous = f"{year - (number == 1):04d}-{(number - 2) % 12 + 1:02d}"
    following = f"{year + (number == 12):04d}-{number % 12 + 1:02d}"
    page.context = {**context, "pdf_href": view.link(month=context["month"]).replace(
        "/dashboard/bk-report", "/dashboard/bk-report.pdf", 1),
        "previous_href": view.link(month=previous), "next_href": view.link(month=following)}
    return page


async def bk_report_pdf(view: View) -> tuple[bytes, str]:
    context = await _month_context(view)
    from templates.counsel_pdf import monthly_report_pdf  # fpdf2 and segno: only for a PDF

    return monthly_report_pdf(context, letterhead(view.school), lang=view.lang), f"laporan-bk-{context['month']}.pdf"


async def meeting_letters_download(view: View, meeting_id: int, *, telegram_bot: str | None,
                                   whatsapp_from: str | None) -> tuple[bytes, str]:
    """The meeting's official letters (numbered once, the printing recorded) as one PDF."""
    meeting = await view.session.get(Meeting, meeting_id)
    if meeting is None or meeting.school_id != view.school.id or not (
            view.staff.role in ("principal", "admin") or meeting.organizer_staff_id == view.staff.id):
        raise NotFound(meeting_id)
    try:
        letters = await meeting_letters(view.session, meeting, now=view.now, telegram_bot=telegram_bot,
                                        whatsapp_from=whatsapp_from)
    except (NotInvited, LetterPatternError):
        raise NotFound(meeting_id) from None
    record_action(view.session, view.staff, "print_letters", f"meeting:{meeting_id}", now=view.now)
    from templates.counsel_pdf import meeting_letters_pdf_bytes  # fpdf2 and segno: only for a PDF

    return (meeting_letters_pdf_bytes([letter.context for letter in letters], letterhead(view.school)),
            f"surat-rapat-{meeting_id}.pdf")
