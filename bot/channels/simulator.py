"""The local chat simulator: a web page where anyone of the roster can chat as themselves.

It is just another channel: the page posts what a person typed or pressed, the inbox runs the
same conversation, and "delivery" makes the outbox row visible in that person's transcript.

People are chosen by an opaque id (``guardian:12``, ``staff:3``); the list shows phone numbers
only masked. Beside real channels (``guarded``) the simulator holds real families' data and
lets one chat as the principal, so every route needs ``SIMULATOR_SECRET``: scripts send it in
the ``X-Simulator-Secret`` header, a browser unlocks once on the page and keeps an HttpOnly,
SameSite=Strict cookie (a keyed hash of the secret, never the secret itself). Without a secret
configured, a guarded simulator answers nothing but that it is locked.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.formparsers import MultiPartException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.inbox import Inbox
from bot.web import BadInput, read_json
from domain.messages import Inbound
from storage.phones import has_phone
from storage.models import (
    ChannelAccount,
    Guardian,
    GuardianStudent,
    InboxMessage,
    OutboxMessage,
    School,
    SchoolClass,
    Staff,
    Student,
)
from storage.phones import InvalidPhone, mask_phone, normalize_phone
from templates.render import render_page, words

MAX_TEXT = 4096
SECRET_HEADER = "X-Simulator-Secret"
COOKIE = "jembatan_simulator"
COOKIE_HOURS = 12
NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def payload_to_inbound(payload: dict[str, Any]) -> Inbound:
    phone = payload["phone"]
    return Inbound(channel="simulator", sender_id=phone, chat_id=phone, phone=phone,
                   message_id=payload.get("id"), text=payload.get("text"), callback=payload.get("callback"),
                   reply_to=payload.get("reply_to"), display_name=payload.get("name", ""))


def _staff_role(staff: Staff, said: dict[str, Any]) -> str:
    role = "homeroom_teacher" if staff.role == "teacher" and staff.homeroom_class else staff.role
    return str(said["roles"].get(role, role))


def _staff_detail(staff: Staff, said: dict[str, Any]) -> str:
    """What a staff member looks after, in words: 'kelas VII-A · Matematika', 'kelas 8, 9'."""
    parts = []
    if staff.homeroom_class:
        parts.append(said["audience"]["class"].format(name=staff.homeroom_class))
    if staff.subjects:
        parts.append(staff.subjects.replace(";", ", "))
    if staff.classes and not parts:
        parts.append(said["audience"]["class"].format(name=staff.classes.replace(";", ", ")))
    return " · ".join(parts)


class SimulatorChannel:
    """Delivery to the simulator is immediate: the page reads the outbox row."""

    name = "simulator"
    owner = ""  # the simulator is the deployment's, never a school's own
    rate_per_second = 1000.0
    chat_rate_per_second = 1000.0

    def __init__(self, inbox: Inbox, *, guarded: bool = False, secret: str | None = None,
                 secure_cookie: bool = False) -> None:
        self.inbox = inbox
        self.guarded = guarded
        self.secret = secret
        self.secure_cookie = secure_cookie
        inbox.register("simulator", payload_to_inbound)

    async def deliver(self, message: OutboxMessage, account: ChannelAccount | None = None) -> str:
        return str(message.id)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/simulator/unlock", self.unlock, methods=["POST"]),
            Route("/simulator/api/people", self.people, methods=["GET"]),
            Route("/simulator/api/messages", self.messages, methods=["GET"]),
            Route("/simulator/api/send", self.send, methods=["POST"]),
        ]

    # ------------------------------------------------------------ the lock

    def _cookie_value(self) -> str:
        assert self.secret is not None
        return hmac.new(self.secret.encode(), b"jembatan-simulator-session", hashlib.sha256).hexdigest()

    def _allowed(self, request: Request) -> bool:
        if not self.guarded:
            return True
        if not self.secret:
            return False
        given = request.headers.get(SECRET_HEADER)
        if given is not None:
            return hmac.compare_digest(given.encode(), self.secret.encode())
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), self._cookie_value().encode())

    def _locked(self) -> Response:
        reason = "the simulator runs beside real channels: it needs SIMULATOR_SECRET" + (
            "" if self.secret else ", which is not set")
        return JSONResponse({"error": reason}, status_code=401 if self.secret else 403, headers=NO_STORE)

    @staticmethod
    def _lang(request: Request) -> str:
        return "en" if request.query_params.get("lang") == "en" else "id"

    async def page(self, request: Request) -> Response:
        lang = self._lang(request)
        if not self._allowed(request):
            return HTMLResponse(render_page("simulator_unlock.html", {
                "lang": lang, "configured": bool(self.secret), "wrong": False}),
                status_code=401 if self.secret else 403, headers=NO_STORE)
        return HTMLResponse(render_page("simulator.html", {"lang": lang}), headers=NO_STORE)

    async def unlock(self, request: Request) -> Response:
        """The page's one-time form: the secret, typed once, becomes a session cookie."""
        lang = self._lang(request)
        try:
            form = await request.form(max_files=0, max_fields=3, max_part_size=4096)
            given = str(form.get("secret") or "")
        except (MultiPartException, ValueError):
            given = ""
        if not (self.guarded and self.secret and hmac.compare_digest(given.encode(), self.secret.encode())):
            return HTMLResponse(render_page("simulator_unlock.html", {
                "lang": lang, "configured": bool(self.secret), "wrong": bool(self.secret)}),
                status_code=401 if self.secret else 403, headers=NO_STORE)
        response = RedirectResponse("/" + ("?lang=en" if lang == "en" else ""), status_code=303, headers=NO_STORE)
        response.set_cookie(COOKIE, self._cookie_value(), max_age=COOKIE_HOURS * 3600, path="/",
                            httponly=True, samesite="strict", secure=self.secure_cookie)
        return response

    # ------------------------------------------------------------ the API

    async def _phone_of(self, person: str | None, phone: str | None) -> str:
        """The phone a request chats as: by the list's opaque id, or (scripts, tests, a ``?as=``
        link) by number."""
        kind, _, number = (person or "").partition(":")
        model = {"staff": Staff, "guardian": Guardian}.get(kind)
        if person and model is None:
            phone = person
        elif model is not None:
            if not number.isdigit():
                raise BadInput("unknown person")
            async with self.inbox.sessions() as session:
                row = await session.get(model, int(number))  # type: ignore[arg-type]
            if row is None:
                raise BadInput("unknown person")
            return str(row.phone)  # type: ignore[attr-defined]
        try:
            return normalize_phone(str(phone or ""))
        except InvalidPhone as exc:
            raise BadInput(str(exc)) from exc

    async def people(self, request: Request) -> Response:
        """Everyone one can chat as: staff first, then guardians with their children; numbers masked."""
        if not self._allowed(request):
            return self._locked()
        async with self.inbox.sessions() as session:
            schools = {s.id: s for s in (await session.exec(select(School))).all()}
            staff = (await session.exec(select(Staff).order_by(Staff.school_id, Staff.role, Staff.name))).all()
            rows = (await session.exec(
                select(Guardian, GuardianStudent, Student, SchoolClass)
                .join(GuardianStudent, col(GuardianStudent.guardian_id) == Guardian.id)
                .join(Student, col(Student.id) == GuardianStudent.student_id)
                .join(SchoolClass, col(SchoolClass.id) == Student.class_id)
                .order_by(SchoolClass.name, Student.name))).all()
        said = words("en" if request.query_params.get("lang") == "en" else "id")
        people: list[dict[str, Any]] = [
            {"id": f"staff:{s.id}", "phone": mask_phone(s.phone), "name": s.name, "kind": "staff",
             "role": _staff_role(s, said), "detail": _staff_detail(s, said),
             "school": schools[s.school_id].name} for s in staff]
        guardians: dict[int, dict[str, Any]] = {}
        for guardian, link, student, school_class in rows:
            if not has_phone(guardian.phone):
                continue  # named by Dapodik, not enrolled yet: nobody can be them here
            entry = guardians.setdefault(guardian.id, {  # type: ignore[arg-type]
                "id": f"guardian:{guardian.id}", "phone": mask_phone(guardian.phone), "name": guardian.name,
                "kind": "guardian", "role": said["relations"].get(link.relation, link.relation),
                "children": [], "school": schools[guardian.school_id].name})
            entry["children"].append(f"{student.name} ({school_class.name})")
        people.extend(guardians.values())
        return JSONResponse({"people": people}, headers=NO_STORE)

    async def messages(self, request: Request) -> Response:
        """One person's transcript: what they sent and what the bot delivered to them."""
        if not self._allowed(request):
            return self._locked()
        try:
            phone = await self._phone_of(request.query_params.get("person"), request.query_params.get("phone"))
        except BadInput:
            return JSONResponse({"messages": []}, headers=NO_STORE)
        async with self.inbox.sessions() as session:
            sent = (await session.exec(select(InboxMessage).where(
                InboxMessage.channel == "simulator",
                col(InboxMessage.external_id).startswith(f"{phone}:")).order_by(InboxMessage.id))).all()
            received = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.channel == "simulator", OutboxMessage.chat_id == phone,
                OutboxMessage.status == "sent").order_by(OutboxMessage.id))).all()
        items = [{"id": f"in-{m.id}", "from": "me", "at": m.received_at.isoformat() if m.received_at else "",
                  "text": m.payload.get("text") or m.payload.get("label") or ""} for m in sent
                 if m.payload.get("text") or m.payload.get("label")]
        items += [{"id": m.external_message_id, "from": "bot", "at": m.sent_at.isoformat() if m.sent_at else "",
                   "text": m.text, "buttons": m.buttons, "concern_id": m.concern_id} for m in received]
        items.sort(key=lambda item: item["at"])
        return JSONResponse({"messages": items}, headers=NO_STORE)

    async def send(self, request: Request) -> Response:
        if not self._allowed(request):
            return self._locked()
        try:
            body = await read_json(request)
            person = body.get("person")
            phone = await self._phone_of(person if isinstance(person, str) else None, body.get("phone"))
        except BadInput as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        text = body.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            return JSONResponse({"error": f"text must be a string of at most {MAX_TEXT} characters"},
                                status_code=400)
        payload = {"phone": phone, "id": uuid.uuid4().hex, "text": text,
                   "callback": body.get("callback") if isinstance(body.get("callback"), str) else None,
                   "label": body.get("label") if isinstance(body.get("label"), str) else None,
                   "reply_to": str(body["reply_to"]) if body.get("reply_to") else None}
        await self.inbox.accept("simulator", f"{phone}:{payload['id']}", payload)
        return JSONResponse({"ok": True})
