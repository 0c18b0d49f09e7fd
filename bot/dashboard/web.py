"""The dashboard's HTTP side: one-time-link sign-in, the signed session cookie, pages and CSV.

Sign-in: the bot sends ``/dashboard/login/<token>``. Opening it shows a button (a chat app's
link preview must not spend the link); pressing it spends the token and sets the session cookie
(signed, HttpOnly, SameSite=Lax). Every page then loads the staff member from the database, so
a changed role or a removed person takes effect at once. No page runs a script.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.formparsers import MultiPartException
from starlette.routing import Route

from domain.clock import Clock
from bot.dashboard.cookies import COOKIE, SessionCookie
from bot.dashboard.pages import (
    Confidential,
    Forbidden,
    NotFound,
    Page,
    View,
    audit_page,
    broadcasts_page,
    class_page,
    concern_page,
    concerns_page,
    meeting_page,
    meetings_page,
    reach_page,
)
from bot.dashboard.counsel_pages import (
    bk_report_page,
    bk_report_pdf,
    casebook_page,
    casebook_pdf,
    meeting_letters_download,
)
from bot.dashboard.office import OfficeRoutes
from bot.dashboard.tables import to_csv
from bot.settings import Settings
from handlers.letters import NoStudents, print_enrolment_letters
from storage.dashboard import reach, scope_for
from storage.audit import record_action
from storage.dashboard_access import link_holder, redeem_link, shared_secret
from storage.models import School, Staff
from templates.render import LANGUAGES, render_page, words

log = logging.getLogger(__name__)

LANG_COOKIE = "jembatan_dashboard_lang"
HEADERS = {
    # No script, no outside resource, no framing; the sign-in token never leaves in a Referer.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
NAV = ("reach", "meetings", "concerns", "broadcasts", "bk_report", "audit", "office")
NAV_PATHS = {"reach": "/dashboard", "meetings": "/dashboard/meetings", "concerns": "/dashboard/concerns",
             "broadcasts": "/dashboard/broadcasts", "bk_report": "/dashboard/bk-report", "audit": "/dashboard/audit",
             "office": "/dashboard/office"}
# Tabs only some roles get (the others would find nothing there).
NAV_ROLES = {"audit": ("principal", "admin"), "bk_report": ("principal", "counselor"),
             "office": ("principal", "admin")}

Builder = Callable[[View, dict[str, Any]], Awaitable[Page]]


class Dashboard:
    """The ``/dashboard`` routes; the database and clock are the app's own."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._cookie: SessionCookie | None = None

    def routes(self) -> list[Route]:
        page = self._page_route
        return [
            Route("/dashboard", page(lambda view, _: reach_page(view)), methods=["GET"]),
            Route("/dashboard/classes/{name}", page(lambda view, p: class_page(view, p["name"])), methods=["GET"]),
            Route("/dashboard/classes/{name}/letters", self.class_letters, methods=["POST"]),
            Route("/dashboard/meetings", page(lambda view, _: meetings_page(view)), methods=["GET"]),
            Route("/dashboard/meetings/{id:int}", page(lambda view, p: meeting_page(view, p["id"])),
                  methods=["GET"]),
            Route("/dashboard/concerns", page(lambda view, _: concerns_page(view)), methods=["GET"]),
            Route("/dashboard/concerns/{id:int}", page(lambda view, p: concern_page(view, p["id"])),
                  methods=["GET"]),
            Route("/dashboard/concerns/{id:int}", self.open_with_reason, methods=["POST"]),
            Route("/dashboard/broadcasts", page(lambda view, _: broadcasts_page(view)), methods=["GET"]),
            Route("/dashboard/audit", page(lambda view, _: audit_page(view)), methods=["GET"]),
            Route("/dashboard/students/{nisn}/casebook", page(lambda view, p: casebook_page(view, p["nisn"])),
                  methods=["GET"]),
            Route("/dashboard/students/{nisn}/casebook.pdf",
                  self._file_route(lambda view, p: casebook_pdf(view, p["nisn"])), methods=["GET"]),
            Route("/dashboard/bk-report", page(lambda view, _: bk_report_page(view)), methods=["GET"]),
            Route("/dashboard/bk-report.pdf", self._file_route(lambda view, _: bk_report_pdf(view)),
                  methods=["GET"]),
            Route("/dashboard/meetings/{id:int}/letters.pdf", self._file_route(
                lambda view, p: meeting_letters_download(view, p["id"], telegram_bot=None,
                                                         whatsapp_from=self.settings.twilio_whatsapp_from)),
                  methods=["GET"]),
            *OfficeRoutes(self).routes(),
            Route("/dashboard/login/{token}", self.login_form, methods=["GET"]),
            Route("/dashboard/login/{token}", self.login, methods=["POST"]),
            Route("/dashboard/logout", self.logout, methods=["POST"]),
        ]

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
        return request.app.state.services.sessions  # type: ignore[no-any-return]

    async def _cookies(self, request: Request) -> SessionCookie:
        if self._cookie is None:
            secret = self.settings.dashboard_secret or await shared_secret(self._sessions(request),
                                                                           now=self.clock.now())
            self._cookie = SessionCookie(secret)
        return self._cookie

    def _language(self, request: Request, staff: Staff | None = None) -> str:
        for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                          staff.language if staff else None, self.settings.default_language):
            if candidate in LANGUAGES:
                return candidate
        return "id"

    def _html(self, template: str, context: dict[str, Any], *, status: int = 200, lang: str = "id",
              started: float | None = None) -> Response:
        html = render_page(template, {"lang": lang, "d": words(lang)["dashboard"], "w": words(lang), **context})
        headers = dict(HEADERS)
        if started is not None:
            headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return HTMLResponse(html, status_code=status, headers=headers)

    def _notice(self, request: Request, kind: str, *, status: int, staff: Staff | None = None) -> Response:
        """A page with one message: sign in needed, link refused, not found, not for this role."""
        lang = self._language(request, staff)
        d = words(lang)["dashboard"]
        title, text = {
            "needed": (d["login"]["needed_title"], d["login"]["needed"]),
            "refused": (d["login"]["refused_title"], d["login"]["refused"]),
            "signed_out": (d["login"]["needed_title"], d["login"]["signed_out"]),
            "cross_site": (d["login"]["cross_site_title"], d["login"]["cross_site"]),
            "stale_form": (d["login"]["cross_site_title"], d["office"]["form_stale"]),
            "not_found": (d["not_found"]["title"], d["not_found"]["text"]),
            "forbidden": (d["forbidden"]["title"], d["forbidden"]["text"]),
            "confidential": (d["confidential"]["title"], d["confidential"]["text"]),
        }[kind]
        return self._html("dashboard_notice.html", {"title": title, "text": text, "kind": kind,
                                                    "signed_in": staff is not None,
                                                    "other_lang": _other(lang, request)},
                          status=status, lang=lang)

    def _same_origin(self, request: Request) -> bool:
        """A form post from our own pages (a cross-site post could sign someone in as another).

        Browsers say where a request comes from in Sec-Fetch-Site, which no page can forge; our
        no-referrer policy makes their Origin "null", so Origin only counts without that header.
        """
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser (curl, a script): nothing to forge on someone's behalf
        if origin == "null":
            return False
        ours = {f"{request.url.scheme}://{request.url.netloc}"}
        if self.settings.public_base_url:
            public = urlsplit(self.settings.public_base_url)
            ours.add(f"{public.scheme}://{public.netloc}")
        return origin.rstrip("/") in ours

    def _secure(self, request: Request) -> bool:
        base = self.settings.public_base_url or ""
        return request.url.scheme == "https" or base.startswith("https://")

    # ------------------------------------------------------------ sign-in

    async def login_form(self, request: Request) -> Response:
        """The link from the chat: who it signs in, and a button; opening it spends nothing."""
        token = request.path_params["token"]
        async with self._sessions(request)() as session:
            staff = await link_holder(session, token, now=self.clock.now())
            school = await session.get(School, staff.school_id) if staff else None
        if staff is None or school is None:
            return self._notice(request, "refused", status=410)
        lang = self._language(request, staff)
        d = words(lang)["dashboard"]
        return self._html("dashboard_login.html", {
            "who": d["login"]["as"].format(name=staff.name, role=words(lang)["roles"].get(staff.role, staff.role),
                                           school=school.name),
            "note": d["login"]["note"].format(hours=int((await self._cookies(request)).lifetime.total_seconds()
                                                        // 3600)),
            "other_lang": _other(lang, request)}, lang=lang)

    async def login(self, request: Request) -> Response:
        """Spend the link and start the session; a used, expired or unknown link is refused."""
        if not self._same_origin(request):
            return self._notice(request, "cross_site", status=403)
        now = self.clock.now()
        async with self._sessions(request)() as session, session.begin():
            staff = await redeem_link(session, request.path_params["token"], now=now)
            if staff is not None:
                record_action(session, staff, "sign_in", "", now=now)
        if staff is None:
            return self._notice(request, "refused", status=410)
        log.info("dashboard: staff %s signed in", staff.id)
        cookies = await self._cookies(request)
        response = RedirectResponse("/dashboard", status_code=303, headers=HEADERS)
        response.set_cookie(COOKIE, cookies.dump(staff.id, now, staff.session_generation),  # type: ignore[arg-type]
                            max_age=int(cookies.lifetime.total_seconds()), path="/dashboard", httponly=True, samesite="lax", secure=self._secure(request))
        return response

    async def logout(self, request: Request) -> Response:
        if not self._same_origin(request):
            return self._notice(request, "cross_site", status=403)
        async with self._sessions(request)() as session, session.begin():
            staff = await self._signed_in(request, session)
            if staff is not None:  # every cookie of this person's is void now, on every worker
                staff.session_generation += 1
                session.add(staff)
        if staff is not None:
            log.info("dashboard: staff %s signed out", staff.id)
        response = self._notice(request, "signed_out", status=200)
        response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="lax",
                               secure=self._secure(request))
        return response

    async def class_letters(self, request: Request) -> Response:
        """Admins and the principal print a class's enrolment letters: fresh codes, one PDF."""
        if not self._same_origin(request):
            return self._notice(request, "cross_site", status=403)
        name = request.path_params["name"]
        try:
            form = await request.form(max_files=0, max_fields=5, max_part_size=1024)
            missing = form.get("missing") == "1"
            nisn = str(form.get("nisn") or "").strip()  # one family's new code (a lost letter)
        except (MultiPartException, ValueError):
            missing, nisn = False, ""
        services = request.app.state.services
        telegram_bot = services.telegram.username if services.telegram is not None else None
        now = self.clock.now()
        with tempfile.TemporaryDirectory(prefix="jembatan-letters-") as folder:
            out = Path(folder) / "letters.pdf"
            async with self._sessions(request)() as session, session.begin():
                staff = await self._signed_in(request, session)
                if staff is None:
                    return self._notice(request, "needed", status=401)
                if staff.role not in ("admin", "principal"):
                    return self._notice(request, "forbidden", status=403, staff=staff)
                school = await session.get(School, staff.school_id)
                scope = await scope_for(session, staff)
                school_class = scope.class_named(name)
                if school is None or school_class is None:
                    return self._notice(request, "not_found", status=404, staff=staff)
                audience = f"class:{school_class.name}"
                if nisn:
                    _, families = await reach(session, scope, simulator_enabled=self.settings.simulator_enabled,
                                              class_id=school_class.id)
                    if nisn not in {f.nisn for f in families}:
                        return self._notice(request, "not_found", status=404, staff=staff)
                    audience = f"student:{nisn}"
                elif missing:  # only the families not linked yet (those waiting have a code already)
                    _, families = await reach(session, scope, simulator_enabled=self.settings.simulator_enabled,
                                              class_id=school_class.id)
                    nisns = [f.nisn for f in families if not f.linked and not f.waiting]
                    if not nisns:
                        return self._notice(request, "not_found", status=404, staff=staff)
                    audience = "student:" + ",".join(nisns)
                try:
                    await print_enrolment_letters(
                        session, schools=[school], audience=audience, now=now, out=out,
                        telegram_bot=telegram_bot, whatsapp_from=self.settings.twilio_whatsapp_from)
                except NoStudents:
                    return self._notice(request, "not_found", status=404, staff=staff)
                record_action(session, staff, "print_letters",
                              f"student:{nisn}" if nisn else
                              f"class:{school_class.name}" + (" (not enrolled)" if missing else ""), now=now)
            data = out.read_bytes()
        log.info("dashboard: staff %s printed the letters of %s", staff.id, school_class.name)
        return Response(data, media_type="application/pdf", headers={
            **HEADERS, "Content-Disposition": f'attachment; filename="surat-pendaftaran-{school_class.name}.pdf"'})

    async def _signed_in(self, request: Request, session: AsyncSession) -> Staff | None:
        cookies, value = await self._cookies(request), request.cookies.get(COOKIE)
        claimed = cookies.claimed(value)
        staff = await session.get(Staff, claimed) if claimed is not None else None
        if staff is None or cookies.load(value, self.clock.now(), staff.session_generation) != staff.id:
            return None
        return staff

    # ------------------------------------------------------------ pages

    async def open_with_reason(self, request: Request) -> Response:
        """The principal's form: why they open a counseling concern (kept in the audit log)."""
        if not self._same_origin(request):
            return self._notice(request, "cross_site", status=403)
        try:
            form = await request.form(max_files=0, max_fields=5, max_part_size=4096)
            reason = str(form.get("reason") or "")
        except (MultiPartException, ValueError):  # malformed: as no reason, the form is shown again
            reason = ""
        return await self._page(request, lambda view, p: concern_page(view, p["id"], reason=reason))

    def _file_route(self, build: Callable[[View, dict[str, Any]], Awaitable[tuple[bytes, str]]],
                    ) -> Callable[[Request], Awaitable[Response]]:
        """A download (a PDF) for the signed-in staff member; what it records is committed."""
        async def endpoint(request: Request) -> Response:
            async with self._sessions(request)() as session:
                staff = await self._signed_in(request, session)
                if staff is None:
                    return self._notice(request, "needed", status=401)
                school = await session.get(School, staff.school_id)
                assert school is not None
                view = View(session=session, staff=staff, school=school, scope=await scope_for(session, staff),
                            lang=self._language(request, staff), now=self.clock.now(), path=request.url.path,
                            query=dict(request.query_params), simulator_enabled=self.settings.simulator_enabled)
                try:
                    body, filename = await build(view, request.path_params)
                except NotFound:
                    return self._notice(request, "not_found", status=404, staff=staff)
                await session.commit()
            return Response(body, media_type="application/pdf", headers={
                **HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})

        return endpoint

    def _page_route(self, build: Builder) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self._page(request, build)

        return endpoint

    async def _page(self, request: Request, build: Builder) -> Response:
        started = time.perf_counter()
        query = dict(request.query_params)
        wanted_csv = query.pop("format", None) == "csv"
        table_name = query.pop("table", None)
        language_asked = query.pop("lang", None)
        async with self._sessions(request)() as session:
            staff = await self._signed_in(request, session)
            if staff is None:
                return self._notice(request, "needed", status=401)
            school = await session.get(School, staff.school_id)
            assert school is not None  # a staff row belongs to its school
            lang = self._language(request, staff)
            view = View(session=session, staff=staff, school=school, scope=await scope_for(session, staff),
                        lang=lang, now=self.clock.now(), path=request.url.path, query=query,
                        simulator_enabled=self.settings.simulator_enabled)
            try:
                page = await build(view, request.path_params)
            except NotFound:
                return self._notice(request, "not_found", status=404, staff=staff)
            except Forbidden:
                return self._notice(request, "forbidden", status=403, staff=staff)
            except Confidential:
                return self._notice(request, "confidential", status=403, staff=staff)
            if page.audited:
                await session.commit()
        if wanted_csv:
            table = page.tables.get(table_name or "")
            if table is None:
                return self._notice(request, "not_found", status=404, staff=staff)
            slug = request.url.path.strip("/").replace("/", "-")
            return Response(to_csv(table), media_type="text/csv; charset=utf-8", headers={
                **HEADERS, "Content-Disposition": f'attachment; filename="{slug}-{table.name}.csv"'})
        response = self._html(page.template, {
            "page": page, "staff": staff, "school": school, "scope": view.scope,
            "nav": [(key, NAV_PATHS[key]) for key in NAV if staff.role in NAV_ROLES.get(key, (staff.role,))],
            "other_lang": _other(lang, request, page.context.get("get_path")), "path": request.url.path,
            "role": words(lang)["roles"].get(staff.role, staff.role),
            "csrf": (await self._cookies(request)).form_token(request.cookies.get(COOKIE) or ""),
            **page.context}, lang=lang, started=started)
        if language_asked in LANGUAGES:
            response.set_cookie(LANG_COOKIE, language_asked, max_age=365 * 86400, path="/dashboard",  # type: ignore[arg-type]
                                httponly=True, samesite="lax", secure=self._secure(request))
        return response


def _other(lang: str, request: Request, get_path: str | None = None) -> dict[str, str]:
    """The language switch: the same page in the other language (after a form, the page it is on)."""
    other = "en" if lang == "id" else "id"
    query = {k: v for k, v in request.query_params.items() if k not in ("lang", "format", "table")}
    query["lang"] = other
    path = get_path if get_path is not None else request.url.path
    return {"href": f"{path}?{urlencode(query)}", "label": words(lang)["dashboard"]["other_language"]}
