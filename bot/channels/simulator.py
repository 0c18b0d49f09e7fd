"""The local chat simulator: a web page where anyone of the roster can chat as themselves.

It is just another channel: the page posts what a person typed or pressed, the inbox runs the
same conversation, and "delivery" makes the outbox row visible in that person's transcript.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.inbox import Inbox
from bot.web import BadInput, read_json
from handlers.messages import Inbound
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
from storage.phones import InvalidPhone, normalize_phone
from templates.render import render_page, words

MAX_TEXT = 4096


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
    rate_per_second = 1000.0
    chat_rate_per_second = 1000.0

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        inbox.register("simulator", payload_to_inbound)

    async def deliver(self, message: OutboxMessage, account: ChannelAccount | None = None) -> str:
        return str(message.id)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/simulator/api/people", self.people, methods=["GET"]),
            Route("/simulator/api/messages", self.messages, methods=["GET"]),
            Route("/simulator/api/send", self.send, methods=["POST"]),
        ]

    async def page(self, request: Request) -> Response:
        lang = "en" if request.query_params.get("lang") == "en" else "id"
        return HTMLResponse(render_page("simulator.html", {"lang": lang}))

    async def people(self, request: Request) -> Response:
        """Everyone one can chat as: staff first, then guardians with their children."""
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
            {"phone": s.phone, "name": s.name, "kind": "staff", "role": _staff_role(s, said),
             "detail": _staff_detail(s, said), "school": schools[s.school_id].name} for s in staff]
        guardians: dict[int, dict[str, Any]] = {}
        for guardian, link, student, school_class in rows:
            entry = guardians.setdefault(guardian.id, {  # type: ignore[arg-type]
                "phone": guardian.phone, "name": guardian.name, "kind": "guardian",
                "role": said["relations"].get(link.relation, link.relation),
                "children": [], "school": schools[guardian.school_id].name})
            entry["children"].append(f"{student.name} ({school_class.name})")
        people.extend(guardians.values())
        return JSONResponse({"people": people})

    async def messages(self, request: Request) -> Response:
        """One person's transcript: what they sent and what the bot delivered to them."""
        phone = request.query_params.get("phone", "")
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
        return JSONResponse({"messages": items})

    async def send(self, request: Request) -> Response:
        try:
            body = await read_json(request)
            phone = normalize_phone(str(body.get("phone", "")))
        except (BadInput, InvalidPhone) as exc:
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
