"""The school office's pages: roster upload with a preview, enrolment progress, people.

Only ``admin`` and ``principal`` get them (``Forbidden`` for everyone else, checked on every
request). Every change is a POST from our own pages (``Sec-Fetch-Site``/``Origin``) carrying the
form token of the session that showed the form (``SessionCookie.form_token``): a cross-site
post, or a form kept from an earlier sign-in, is refused. Every change is in the audit log, in
the same transaction as the change and the messages it causes.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.dashboard.cookies import COOKIE
from bot.dashboard.pages import Forbidden, NotFound, Page, View, class_href
from bot.dashboard.tables import Column, Table, cell
from handlers.enrolment import decide_enrolment
from handlers.meetings import invite_meeting
from handlers.office import PhoneRefused, change_guardian_phone, stop_messages
from storage import enrolment as enrolment_store
from storage.audit import record_action
from storage.dashboard import reach
from storage.meeting_forms import FIELDS, create_from_form
from storage.meetings import MEETING_TYPES
from storage.models import Enrolment, Guardian, Meeting, SchoolClass, Staff, Student
from storage.outbox import enqueue
from storage.people import find_people
from storage.phones import has_phone
from storage.staff_edits import FIELDS as STAFF_FIELDS
from storage.staff_edits import save_staff
from templates.render import reason as translated
from storage.roster_uploads import (
    MAX_FILES,
    MAX_UPLOAD,
    UploadRefused,
    pending_upload,
    preview_upload,
    save_upload,
)

if TYPE_CHECKING:
    from bot.dashboard.web import Dashboard

OFFICE_ROLES = ("admin", "principal")
TABS = (("enrolment", "/dashboard/office"), ("roster", "/dashboard/office/roster"),
        ("people", "/dashboard/office/people"), ("staff", "/dashboard/office/staff"),
        ("meeting", "/dashboard/office/meetings"))
HARD_LIMIT = 4 * MAX_UPLOAD  # a body this large is refused before it is read
_PROBLEM_KINDS = ("students", "guardians", "links", "staff", "classes")


def _office(view: View) -> None:
    if view.staff.role not in OFFICE_ROLES:
        raise Forbidden(view.staff.role)


def _page(view: View, template: str, tab: str) -> Page:
    _office(view)
    page = Page(template, "office", view.w["office"][f"heading_{tab}"])
    page.context = {"tabs": [(view.w["office"]["tabs"][key], href, key == tab) for key, href in TABS],
                    "get_path": dict(TABS)[tab]}
    return page


def masked(phone: str) -> str:
    """A number as the office first sees it: all but the last 4 digits hidden."""
    return "•" * max(len(phone) - 4, 0) + phone[-4:]


def split_problem(text: str) -> tuple[str, str, str, str]:
    """``file:line: column: reason`` as its four parts (a file-wide problem has no line)."""
    head, _, rest = text.partition(": ")
    name, _, line = head.rpartition(":")
    if not line.isdigit():
        return head, "", "", rest
    column, _, reason = rest.partition(": ")
    if not reason:
        column, reason = "", rest
    return name, line, column, reason


# ---------------------------------------------------------------- roster


async def roster_page(view: View, *, preview: Any = None, refused: str | None = None,
                      saved: Any = None, problems: list[str] | None = None) -> Page:
    page = _page(view, "dashboard_office_roster.html", "roster")
    w = view.w["office"]
    page.context.update(upload=None, ignored=[], totals="", files=[], took=None,
                        limit=w["limit"].format(mib=MAX_UPLOAD // (1024 * 1024)), refused=refused,
                        saved=saved and w["saved"].format(created=saved.created, updated=saved.updated))
    result = preview.result if preview is not None else None
    if result is not None:
        table = page.table(view, Table("changes", w["preview_heading"], [
            Column("kind", w["kind"]), Column("new", w["new"], numeric=True),
            Column("updated", w["updated"], numeric=True), Column("left", w["left"], numeric=True)]))
        for kind in _PROBLEM_KINDS:
            counts = result.changes.get(kind, {})
            table.add(kind=w["kinds"][kind], new=counts.get("new", 0), updated=counts.get("updated", 0),
                      left=counts.get("left", 0))
        page.context.update(upload=preview.upload, ignored=result.ignored_columns or [],
                            totals=w["totals"].format(students=result.students, guardians=result.guardians,
                                                      staff=result.staff, classes=result.classes),
                            files=preview.files)
    problems = problems if problems is not None else (preview.errors if preview is not None else [])
    if problems:
        table = page.table(view, Table("problems", w["problems"], [
            Column("file", w["problem_file"]), Column("line", w["problem_line"]),
            Column("column", w["problem_column"]), Column("reason", w["problem_reason"])]))
        for problem in problems:
            name, line, column, reason = split_problem(problem)
            table.add(file=name, line=line, column=column, reason=translated(view.lang, reason))
    return page


# ---------------------------------------------------------------- enrolment


async def enrolment_page(view: View, *, notice: str | None = None) -> Page:
    """Per class: linked, waiting for the wali kelas, not enrolled; the waiting enrolments."""
    page = _page(view, "dashboard_office_enrolment.html", "enrolment")
    w = view.w["office"]
    _, families = await reach(view.session, view.scope, simulator_enabled=view.simulator_enabled)
    by_class: dict[str, list[int]] = {}
    for family in families:
        counts = by_class.setdefault(family.school_class.name, [0, 0, 0, 0])
        counts[0] += 1
        counts[1 if family.linked else 2 if family.waiting else 3] += 1
    progress = page.table(view, Table("progress", w["progress_table"], [
        Column("class", w["class"]), Column("students", w["students"], numeric=True),
        Column("linked", w["linked"], numeric=True), Column("waiting", w["waiting"], numeric=True),
        Column("not_enrolled", w["not_enrolled"], numeric=True)]))
    for name, (total, linked, waiting, missing) in by_class.items():
        progress.add(**{"class": cell(name, href=class_href(name)), "students": total, "linked": linked,
                        "waiting": cell(waiting, css="warn" if waiting else ""),
                        "not_enrolled": cell(missing, css="bad" if missing else "")})
    pending = page.table(view, Table("pending", w["pending_table"], [
        Column("person", w["person"]), Column("relation", w["relation"]), Column("student", w["student"]),
        Column("class", w["class"]), Column("roster_name", w["roster_name"]), Column("since", w["since"])]))
    rows = (await view.session.exec(
        select(Enrolment, Student, SchoolClass).join(Student, col(Student.id) == Enrolment.student_id)
        .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
        .where(Enrolment.school_id == view.school.id, Enrolment.status == "pending")
        .order_by(SchoolClass.name, Student.name))).all()
    decisions = []
    for row, student, school_class in rows:
        roster = await view.session.get(Guardian, row.roster_guardian_id) if row.roster_guardian_id else None
        pending.add(person=row.name, relation=view.label("relations", row.relation), student=student.name,
                    **{"class": school_class.name}, roster_name=roster.name if roster else view.w["none"],
                    since=cell(view.when(row.created_at), csv=view.iso(row.created_at)))
        decisions.append({"id": row.id, "label": f"{row.name} — {student.name} ({school_class.name})"})
    page.context.update(classes=[(name, f"/dashboard/classes/{name}/letters", counts[3] > 0)
                                 for name, counts in by_class.items()],
                        decisions=decisions, notice=notice)
    return page


async def decide(view: View, enrolment_id: int, yes: bool) -> Page:
    _office(view)
    row = await view.session.get(Enrolment, enrolment_id)
    if row is None or row.school_id != view.school.id \
            or not await enrolment_store.may_confirm(view.session, view.staff, row):
        raise NotFound(enrolment_id)
    outs: list[Any] = []
    decided = await decide_enrolment(view.session, row, view.staff, yes=yes, now=view.now, send=outs.append)
    w = view.w["office"]
    if decided.already is not None:
        return await enrolment_page(view, notice=w["already_decided"])
    await enqueue(view.session, outs, now=view.now, simulator_enabled=view.simulator_enabled)
    record_action(view.session, view.staff, "confirm_enrolment" if yes else "refuse_enrolment",
                  f"enrolment:{row.id}", now=view.now)
    text = w["decided_linked" if yes else "decided_refused"].format(
        person=row.name, student=decided.context["student_name"])
    page = await enrolment_page(view, notice=text)
    page.audited = True
    return page


# ---------------------------------------------------------------- people


async def people_page(view: View, *, shown: int | None = None, notice: str | None = None,
                      error: tuple[int, str] | None = None) -> Page:
    """Find a student or a guardian; a guardian's number masked until "tampilkan"."""
    page = _page(view, "dashboard_office_people.html", "people")
    w = view.w["office"]
    text = view.query.get("q", "").strip()[:80]
    page.context.update(q=text, notice=notice, error=error, guardians=[], hint=None, letters=[])
    if len(text) < 3:
        page.context["hint"] = w["search_hint"]
        return page
    students, guardians = await find_people(view.session, view.school.id, text)  # type: ignore[arg-type]
    table = page.table(view, Table("students", w["students_table"], [
        Column("name", w["name"]), Column("nisn", w["nisn"]), Column("class", w["class"])]))
    page.context["letters"] = [
        {"nisn": s.nisn, "label": f"{s.name} ({s.nisn})", "href": f"/dashboard/classes/{c.name}/letters"}
        for s, c in students if s.left_at is None]
    for student, school_class in students:
        table.add(name=student.name, nisn=student.nisn,
                  **{"class": cell(school_class.name, href=class_href(school_class.name))})
    for guardian in guardians:
        real = has_phone(guardian.phone)
        page.context["guardians"].append({
            "id": guardian.id, "name": guardian.name,
            "phone": (guardian.phone if shown == guardian.id else masked(guardian.phone)) if real else w["no_phone"],
            "real": real, "shown": shown == guardian.id,
            "stopped": guardian.withdrawn_at is not None,
            "children": await _children(view, guardian)})
    return page


async def _children(view: View, guardian: Guardian) -> str:
    from storage.models import GuardianStudent

    rows = (await view.session.exec(select(Student.name, Student.nisn).join(
        GuardianStudent, col(GuardianStudent.student_id) == Student.id).where(
        GuardianStudent.guardian_id == guardian.id).order_by(Student.name))).all()
    return ", ".join(f"{name} ({nisn})" for name, nisn in rows)


async def _guardian(view: View, guardian_id: int) -> Guardian:
    _office(view)
    guardian = await view.session.get(Guardian, guardian_id)
    if guardian is None or guardian.school_id != view.school.id or guardian.erased_at is not None:
        raise NotFound(guardian_id)
    return guardian


async def show_phone(view: View, guardian_id: int) -> Page:
    guardian = await _guardian(view, guardian_id)
    record_action(view.session, view.staff, "show_phone", f"guardian:{guardian.id}", now=view.now)
    page = await people_page(view, shown=guardian.id)
    page.audited = True
    return page


async def change_phone(view: View, guardian_id: int, raw: str) -> Page:
    guardian = await _guardian(view, guardian_id)
    w = view.w["office"]
    try:
        outs = await change_guardian_phone(view.session, guardian, raw, now=view.now)
    except PhoneRefused as exc:
        return await people_page(view, error=(guardian.id, w[f"phone_{exc.reason}"]))
    await enqueue(view.session, outs, now=view.now, simulator_enabled=view.simulator_enabled)
    record_action(view.session, view.staff, "change_phone", f"guardian:{guardian.id}", now=view.now)
    page = await people_page(view, notice=w["phone_changed"].format(name=guardian.name))
    page.audited = True
    return page


async def no_messages(view: View, guardian_id: int) -> Page:
    guardian = await _guardian(view, guardian_id)
    stop_messages(view.session, guardian, now=view.now)
    record_action(view.session, view.staff, "stop_messages", f"guardian:{guardian.id}", now=view.now)
    page = await people_page(view, notice=view.w["office"]["stopped"].format(name=guardian.name))
    page.audited = True
    return page


def _in_language(view: View, errors: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Each field's reasons in the staff member's language (the checks write English)."""
    required = view.w["office"]["m_required"]
    return {key: [required if reason in ("missing", "is empty") else translated(view.lang, reason)
                  for reason in reasons] for key, reasons in (errors or {}).items()}


# ---------------------------------------------------------------- staff


async def staff_page(view: View, *, editing: int | None = None, values: dict[str, str] | None = None,
                     errors: dict[str, list[str]] | None = None, notice: str | None = None) -> Page:
    """The school's staff; one of them (``?edit=ID``) or a new one in the form."""
    page = _page(view, "dashboard_office_staff.html", "staff")
    w = view.w["office"]
    people = (await view.session.exec(select(Staff).where(
        Staff.school_id == view.school.id).order_by(Staff.name))).all()
    table = page.table(view, Table("staff", w["staff_table"], [
        Column("name", w["name"]), Column("staff_id", w["staff_code"]), Column("role", w["role"]),
        Column("phone", w["phone"]), Column("homeroom", w["homeroom"]), Column("classes", w["classes"]),
        Column("subjects", w["subjects"]), Column("office_hours", w["office_hours"]),
        Column("teams", w["teams"])]))
    for person in people:
        table.add(name=cell(person.name, href=f"/dashboard/office/staff?edit={person.id}#staff-form"),
                  staff_id=person.staff_code, role=view.words["roles"].get(person.role, person.role),
                  phone=masked(person.phone), homeroom=person.homeroom_class or "",
                  classes=(person.classes or "").replace(";", ", "),
                  subjects=(person.subjects or "").replace(";", ", "), office_hours=person.office_hours or "",
                  teams=(person.teams or "").replace(";", ", "))
    if editing is None and view.query.get("edit", "").isdigit():
        editing = int(view.query["edit"])
    person = next((p for p in people if p.id == editing), None)
    if values is None:
        values = {} if person is None else {
            "name": person.name, "role": person.role, "homeroom_class": person.homeroom_class or "",
            "classes": (person.classes or "").replace(";", "; "), "subjects": (person.subjects or "").replace(";", "; "),
            "office_hours": person.office_hours or "", "teams": (person.teams or "").replace(";", "; ")}
    page.context.update(
        person=person, values=values, errors=_in_language(view, errors), notice=notice,
        roles=[(role, view.words["roles"].get(role, role)) for role in ("teacher", "counselor", "principal", "admin")],
        action=f"/dashboard/office/staff/{person.id}" if person else "/dashboard/office/staff")
    return page


async def save_staff_member(view: View, staff_id: int | None, values: dict[str, str]) -> Page:
    _office(view)
    try:
        saved, errors = await save_staff(view.session, view.school.id, values, staff_id)  # type: ignore[arg-type]
    except LookupError:
        raise NotFound(staff_id) from None
    if saved is None:  # nothing is committed: the page is not audited
        return await staff_page(view, editing=staff_id, values=values, errors=errors)
    record_action(view.session, view.staff, "change_staff" if staff_id else "add_staff",
                  f"staff:{saved.staff_code}", now=view.now)
    page = await staff_page(view, editing=saved.id, notice=view.w["office"]["staff_saved"].format(name=saved.name))
    page.audited = True
    return page


# ---------------------------------------------------------------- meetings


async def meeting_form_page(view: View, *, values: dict[str, str] | None = None,
                            errors: dict[str, list[str]] | None = None, created: Any = None,
                            invited: Any = None) -> Page:
    """A meeting from a form, checked as a meeting file; then its invitations."""
    page = _page(view, "dashboard_office_meeting.html", "meeting")
    w = view.w["office"]
    classes = (await view.session.exec(select(SchoolClass).where(
        SchoolClass.school_id == view.school.id).order_by(SchoolClass.grade, SchoolClass.name))).all()
    audiences = [("school", w["m_whole_school"])]
    audiences += [(f"grade:{grade}", w["m_grade"].format(grade=grade))
                  for grade in sorted({c.grade for c in classes})]
    audiences += [(f"class:{c.name}", c.name) for c in classes]
    page.context.update(
        types=[(key, view.label("meeting_types", key)) for key in MEETING_TYPES], audiences=audiences,
        values=values or {"room_capacity": "1"}, created=created, invited=invited,
        errors=_in_language(view, errors))
    return page


async def create_meeting_from_form(view: View, sessions: Any, values: dict[str, str], *,
                                   default_timezone: str) -> Page:
    _office(view)
    await view.session.commit()  # nothing written yet: frees its connection for the meeting's
    result = await create_from_form(sessions, values, organizer=view.staff.staff_code,
                                    school_code=view.school.code, default_timezone=default_timezone)
    if result.created is None:
        return await meeting_form_page(view, values=values, errors=result.errors)
    record_action(view.session, view.staff, "create_meeting", f"meeting:{result.created.id}", now=view.now)
    page = await meeting_form_page(view, created=result.created)
    page.audited = True
    return page


async def invite(view: View, meeting_id: int) -> Page:
    _office(view)
    meeting = await view.session.get(Meeting, meeting_id)
    if meeting is None or meeting.school_id != view.school.id:
        raise NotFound(meeting_id)
    result = await invite_meeting(view.session, meeting_id, now=view.now,
                                  simulator_enabled=view.simulator_enabled)
    record_action(view.session, view.staff, "invite_meeting", f"meeting:{meeting_id}", now=view.now)
    page = await meeting_form_page(view, invited={"id": meeting_id, "text": view.w["office"]["m_invited"].format(
        families=result.families, sent=result.invited - result.unreachable, held=result.unreachable)})
    page.audited = True
    return page


# ---------------------------------------------------------------- routes


class OfficeRoutes:
    """The office's routes, on the dashboard's sign-in, pages and checks."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    def routes(self) -> list[Route]:
        d = self.dashboard
        return [
            Route("/dashboard/office", d._page_route(lambda view, _: enrolment_page(view)), methods=["GET"]),
            Route("/dashboard/office/roster", d._page_route(lambda view, _: roster_page(view)), methods=["GET"]),
            Route("/dashboard/office/people", d._page_route(lambda view, _: people_page(view)), methods=["GET"]),
            Route("/dashboard/office/meetings", d._page_route(lambda view, _: meeting_form_page(view)),
                  methods=["GET"]),
            Route("/dashboard/office/meetings", self._post(self._meeting), methods=["POST"]),
            Route("/dashboard/office/meetings/{id:int}/invite", self._post(
                lambda request, form: lambda view, p: invite(view, p["id"])), methods=["POST"]),
            Route("/dashboard/office/staff", d._page_route(lambda view, _: staff_page(view)), methods=["GET"]),
            Route("/dashboard/office/staff", self._post(
                lambda request, form: lambda view, p: save_staff_member(view, None, _values(form, STAFF_FIELDS))),
                  methods=["POST"]),
            Route("/dashboard/office/staff/{id:int}", self._post(
                lambda request, form: lambda view, p: save_staff_member(view, p["id"], _values(form, STAFF_FIELDS))),
                  methods=["POST"]),
            Route("/dashboard/office/roster", self._post(self._upload), methods=["POST"]),
            Route("/dashboard/office/roster/{id:int}", self._post(self._save), methods=["POST"]),
            Route("/dashboard/office/enrolments/{id:int}", self._post(
                lambda request, form: lambda view, p: decide(view, p["id"], form.get("answer") == "yes")),
                  methods=["POST"]),
            Route("/dashboard/office/guardians/{id:int}/show", self._post(
                lambda request, form: lambda view, p: show_phone(view, p["id"])), methods=["POST"]),
            Route("/dashboard/office/guardians/{id:int}/phone", self._post(
                lambda request, form: lambda view, p: change_phone(view, p["id"], str(form.get("phone") or ""))),
                  methods=["POST"]),
            Route("/dashboard/office/guardians/{id:int}/stop", self._post(
                lambda request, form: lambda view, p: no_messages(view, p["id"])), methods=["POST"]),
        ]

    def _post(self, action: Callable[[Request, FormData], Any]) -> Callable[[Request], Awaitable[Response]]:
        """A change: same origin, this session's form token, then the page the action builds."""
        d = self.dashboard

        async def endpoint(request: Request) -> Response:
            if not d._same_origin(request):
                return d._notice(request, "cross_site", status=403)
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > HARD_LIMIT:
                return await d._page(request, lambda view, _: roster_page(view, refused=_refusal(
                    view, UploadRefused("too_large"))))
            try:
                form = await request.form(max_files=MAX_FILES, max_fields=30, max_part_size=64 * 1024)
            except (MultiPartException, HTTPException, ValueError):  # malformed: refused below
                form = None
            cookies = await d._cookies(request)
            value = request.cookies.get(COOKIE) or ""
            token = str(form.get("csrf") or "") if form is not None else ""
            if not value or not hmac.compare_digest(token.encode(), cookies.form_token(value).encode()):
                return d._notice(request, "stale_form", status=403)
            assert form is not None
            build = action(request, form)
            if isinstance(build, Awaitable):
                build = await build
            return await d._page(request, build)

        return endpoint

    async def _upload(self, request: Request, form: FormData) -> Callable[[View, dict[str, Any]], Awaitable[Page]]:
        files: list[tuple[str, bytes]] = []
        for item in form.getlist("files"):
            if isinstance(item, UploadFile) and item.filename:
                files.append((item.filename, await item.read(MAX_UPLOAD + 1)))
        sessions = request.app.state.services.sessions

        async def build(view: View, _: dict[str, Any]) -> Page:
            _office(view)
            started = time.perf_counter()
            await view.session.commit()  # nothing written: frees its connection for the dry run's
            try:
                preview = await preview_upload(sessions, view.staff, view.school, files, now=view.now)
            except UploadRefused as exc:
                return await roster_page(view, refused=_refusal(view, exc))
            page = await roster_page(view, preview=preview)
            page.context["took"] = f"{time.perf_counter() - started:.2f}"
            return page

        return build

    def _meeting(self, request: Request, form: FormData) -> Callable[[View, dict[str, Any]], Awaitable[Page]]:
        values = _values(form, FIELDS)
        sessions = request.app.state.services.sessions
        timezone = self.dashboard.settings.school_timezone

        async def build(view: View, _: dict[str, Any]) -> Page:
            return await create_meeting_from_form(view, sessions, values, default_timezone=timezone)

        return build

    def _save(self, request: Request, form: FormData) -> Callable[[View, dict[str, Any]], Awaitable[Page]]:
        digest = str(form.get("digest") or "")

        async def build(view: View, params: dict[str, Any]) -> Page:
            _office(view)
            upload = await pending_upload(view.session, view.staff, params["id"], digest, now=view.now)
            if upload is None:
                return await roster_page(view, refused=view.w["office"]["save_refused"])
            result, problems = await save_upload(view.session, upload, view.school, now=view.now)
            if result is None:
                return await roster_page(view, problems=problems)
            record_action(view.session, view.staff, "import_roster", f"upload:{upload.id}", now=view.now,
                          reason=f"{result.created} new, {result.updated} updated, {result.left} left")
            page = await roster_page(view, saved=result)
            page.audited = True
            return page

        return build


def _values(form: FormData, fields: tuple[str, ...]) -> dict[str, str]:
    return {key: str(form.get(key) or "")[:4000] for key in fields}


def _refusal(view: View, exc: UploadRefused) -> str:
    return str(view.w["office"]["refused"][exc.reason]).format(
        name=exc.name, count=MAX_FILES, mib=MAX_UPLOAD // (1024 * 1024))
