"""A local, in-memory Twilio REST API (Programmable Messaging, WhatsApp) for tests.

The app's real Twilio client is pointed at it, so twilio-python's own request and response code
is exercised — Basic auth, form encoding, repeated ``MediaUrl`` fields, JSON error bodies turned
into ``TwilioRestException`` — without ever reaching api.twilio.com::

    client = Client(api.account_sid, api.auth_token, http_client=AsyncTwilioHttpClient())
    client.api.base_url = api.base_url        # Client has no base-URL argument
    await client.messages.create_async(to=..., from_=..., body=...)
    await client.http_client.close()          # closes the aiohttp session

``AsyncTwilioHttpClient`` creates its aiohttp session in its constructor: build it inside the
running loop. ``TWILIO_EDGE`` / ``TWILIO_REGION`` in the environment make twilio-python rewrite
the host name; tests must not set them.

It runs a real uvicorn server on 127.0.0.1 (free port) inside the current event loop and speaks
Twilio's wire format: 201 with a Message resource on success, and the legacy error body
``{"code": N, "message": ..., "more_info": ..., "status": S}`` on failure (twilio-python turns a
body *without* ``type``/``title`` into ``TwilioRestException(status, uri, msg, code)``).

Where Twilio is strict in ways that catch real bugs it is strict here too (``whatsapp:+E.164``
addresses, From/To on the same channel, Body length, ContentSid shape, ContentVariables being a
JSON object of non-empty single-line strings, per-sender throughput when ``mps`` is set). One
deliberate extra strictness: Body and ContentSid together are refused (Twilio would silently
ignore one of them, which hides a bug in the caller).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hmac
import json
import math
import re
import secrets
import struct
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.clocks import DEFAULT_TOLERANCE, RateClock, seconds_from
from tests.fakes.server import LocalServer

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "MAX_BODY",
    "SANDBOX_FROM",
    "FakeTwilioAPI",
]

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2  # "AC" + 32 hex, like a real one
DEFAULT_AUTH_TOKEN = "fedcba9876543210" * 2  # 32 hex, like a real auth token
SANDBOX_FROM = "whatsapp:+14155238886"  # Twilio's WhatsApp sandbox sender
MAX_BODY = 1600

_WHATSAPP_ADDRESS = re.compile(r"whatsapp:\+[1-9]\d{6,14}")
_SMS_ADDRESS = re.compile(r"\+[1-9]\d{6,14}")  # Programmable SMS: plain E.164 on both ends
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_STATUSES = frozenset({
    "accepted", "scheduled", "canceled", "queued", "sending", "sent", "failed", "delivered",
    "undelivered", "receiving", "received", "read",
})

# Twilio's wording for the errors the fake raises itself or that tests commonly inject.
_DEFAULT_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the "
    "'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21655: "The ContentSid is Invalid.",
    21656: "The ContentVariables Parameter is invalid.",
    21910: "Invalid From and To pair. From and To should be of the same channel",
    63003: "Channel could not find To address",
    63016: "Failed to send freeform message because you are outside the allowed window. If you "
    "want to send messages outside this window, please use a Template.",
    63018: "Rate limit exceeded for Channel",
    63024: "Invalid message recipient",
    63032: "User's number is part of an experiment",
}
# Error code Twilio uses when only an HTTP status is given to fail_next().
_CODE_FOR_STATUS = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


class _TwilioError(Exception):
    """A Twilio error answer: raised by route handlers, turned into Twilio's JSON error body."""

    def __init__(self, status: int, code: int, message: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code) or _phrase(status)
        super().__init__(f"{status} {code}: {self.message}")

    def response(self) -> JSONResponse:
        return JSONResponse(
            {
                "code": self.code,
                "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status,
            },
            status_code=self.status,
        )


@dataclass
class _Failure:
    error: _TwilioError
    to: str | None  # only sends to this address consume it; None: any send



class FakeTwilioAPI:
    """A local Twilio REST API for WhatsApp messages.

    Records sends, enforces an MPS, injects errors. ``mps``: accepted sends a second per From
    (sliding window), else 429 with Twilio's error 20429 and ``throttled`` counts it. ``clock``:
    what the MPS limit reads — a seconds callable (default ``time.monotonic``) or an object with
    ``now() -> datetime`` such as the app's ``ManualClock``. ``tolerance``: seconds of slack
    before a send counts as too early.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        mps: float | None = None,
        media_auth: bool = False,
        clock: RateClock | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        latency: float = 0.0,
    ) -> None:
        self.account_sid = account_sid
        # Seconds every answer takes to come back: the round trip to Twilio's servers, which
        # loopback does not have (benchmarks only; tests keep 0 and never wait on the wall clock).
        self.latency = latency
        self.auth_token = auth_token
        # Max accepted sends per second per From (sliding window); None: unlimited.
        self.mps: float | None = mps
        self.clock = seconds_from(clock)
        self.tolerance = tolerance
        # Every authenticated Messages.json POST that was accepted, throttled or failed on
        # purpose (fail_next): {"at": seconds on the MPS clock, "to", "status"}.
        self.send_log: list[dict[str, Any]] = []
        # Like Twilio's "HTTP Basic Authentication for media" setting: /media/* needs sid:token.
        self.media_auth = media_auth
        self.sent: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.throttled = 0
        self.port: int | None = None

        self._messages: dict[str, dict[str, Any]] = {}  # sid → Message resource (as JSON)
        self._sent_by_sid: dict[str, dict[str, Any]] = {}
        self._failures: deque[_Failure] = deque()
        self._send_times: dict[str, deque[float]] = {}  # From → clock times of accepted sends
        self._media: dict[str, tuple[bytes, str]] = {}
        self._http = LocalServer("fake-twilio-api")
        self._changed = asyncio.Condition()  # a request arrived / a message was accepted

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """What to assign to ``client.api.base_url``; sends go to ``{base_url}/2010-04-01/...``."""
        if self.port is None:
            raise RuntimeError("FakeTwilioAPI is not started")
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self._http.running:
            return
        # Conditions bind to the loop that first uses them: make a fresh one for this loop.
        self._changed = asyncio.Condition()
        prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"
        app = Starlette(routes=[
            Route(f"{prefix}/Messages.json", self._messages_endpoint, methods=["GET", "POST"]),
            Route(f"{prefix}/Messages/{{sid}}.json", self._fetch_message, methods=["GET"]),
            Route("/media/{name}", self._media_endpoint, methods=["GET", "HEAD"]),
            Route("/{path:path}", self._not_found,
                  methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
        ])
        self.port = await self._http.start(app)

    async def stop(self) -> None:
        if not self._http.running:
            return
        await self._http.stop()

    async def __aenter__(self) -> FakeTwilioAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------ test-side API

    def messages_to(self, to: str) -> list[dict[str, Any]]:
        """Every accepted send to ``to`` (``"whatsapp:+62812..."``), oldest first."""
        return [m for m in self.sent if m.get("To") == to]

    def message(self, sid: str) -> dict[str, Any] | None:
        """The Message resource (as Twilio's JSON) of an accepted send, or None."""
        found = self._messages.get(sid)
        return copy.deepcopy(found) if found is not None else None

    async def wait_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool] | None = None,
        *,
        count: int | None = None,
        timeout: float = 10,
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(sent)`` holds and/or ``len(sent) >= count``; return ``sent``.

        With neither, waits for at least one accepted send. Re-checked whenever any request
        arrives, so the predicate may also look at ``requests`` or ``throttled``. On timeout
        raises AssertionError listing what was sent.
        """

        def satisfied() -> bool:
            if count is not None and len(self.sent) < count:
                return False
            if predicate is not None:
                return bool(predicate(list(self.sent)))
            return count is not None or len(self.sent) >= 1

        await self._wait(satisfied, timeout, f"count={count}" if count is not None else None)
        return list(self.sent)

    async def wait_for_requests(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool] | None = None,
        *,
        count: int | None = None,
        timeout: float = 10,
    ) -> list[dict[str, Any]]:
        """Like ``wait_for`` but over ``requests`` (refused ones included)."""

        def satisfied() -> bool:
            if count is not None and len(self.requests) < count:
                return False
            if predicate is not None:
                return bool(predicate(list(self.requests)))
            return count is not None or len(self.requests) >= 1

        await self._wait(
            satisfied, timeout, f"{count} requests" if count is not None else None
        )
        return list(self.requests)

    def fail_next(
        self,
        *,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
        times: int = 1,
        to: str | None = None,
    ) -> None:
        """Refuse the next ``times`` sends (Messages.json POSTs) with a Twilio error body.

        ``code`` defaults from the status (500 → 20500, 503 → 20503, 429 → 20429, ...);
        ``message`` defaults to Twilio's wording for the code (63016, 21211, 63003, ...). With
        ``to``, only sends to that address consume the failure, so one guardian can be outside
        the 24-hour window while the others are not. Injected failures are checked after
        authentication and before validation, and are not counted in ``throttled``.
        """
        if code is None:
            code = _CODE_FOR_STATUS.get(status, status)
        for _ in range(times):
            self._failures.append(_Failure(_TwilioError(status, code, message), to))

    def set_status(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Move an accepted message to ``status`` (what GET .../Messages/{sid}.json returns).

        Also updates the ``status`` of its ``sent`` record. Returns the resource.
        """
        if status not in _STATUSES:
            raise ValueError(f"not a Twilio message status: {status!r}")
        resource = self._messages.get(sid)
        if resource is None:
            raise KeyError(f"no message {sid!r} was accepted by the fake")
        now = _rfc2822(datetime.now(UTC))
        resource["status"] = status
        resource["date_updated"] = now
        if status in {"sent", "delivered", "read"} and resource["date_sent"] is None:
            resource["date_sent"] = now
        if error_code is not None:
            resource["error_code"] = error_code
            resource["error_message"] = error_message or _DEFAULT_MESSAGES.get(error_code)
        self._sent_by_sid[sid]["status"] = status
        return copy.deepcopy(resource)

    def add_media(self, name: str, content: bytes, content_type: str) -> str:
        """Serve ``content`` at ``/media/<name>``; returns its URL."""
        if "/" in name or not name:
            raise ValueError(f"bad media name: {name!r}")
        self._media[name] = (content, content_type)
        return f"{self.base_url}/media/{name}"

    def media_url(self, name: str) -> str:
        """URL of a tiny built-in file: ``*.png`` (a 1×1 PNG) or ``*.pdf`` (a one-page PDF).

        Point an inbound form's ``MediaUrl0`` at it so the app downloads something real; with
        ``media_auth`` set, fetching it needs Basic auth (account sid : auth token).
        """
        if name not in self._media:
            lowered = name.lower()
            if lowered.endswith(".png"):
                self.add_media(name, TINY_PNG, "image/png")
            elif lowered.endswith(".pdf"):
                self.add_media(name, TINY_PDF, "application/pdf")
            else:
                raise ValueError(f"built-in media are *.png or *.pdf, not {name!r}; "
                                 "use add_media() for others")
        return f"{self.base_url}/media/{name}"

    # ------------------------------------------------------------------------------ HTTP side

    async def _messages_endpoint(self, request: Request) -> Response:
        response = await self._messages_answer(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        return response

    async def _messages_answer(self, request: Request) -> Response:
        record = await self._record(request)
        try:
            self._authenticate(request, record)
            if request.method == "GET":
                response: Response = self._list_messages(request)
            else:
                response = self._create_message(record)
        except _TwilioError as exc:
            response = exc.response()
        return await self._finish(record, response)

    async def _fetch_message(self, request: Request) -> Response:
        record = await self._record(request)
        try:
            self._authenticate(request, record)
            resource = self._messages.get(request.path_params["sid"])
            if resource is None:
                raise _not_found(request.url.path)
            response: Response = JSONResponse(resource)
        except _TwilioError as exc:
            response = exc.response()
        return await self._finish(record, response)

    async def _media_endpoint(self, request: Request) -> Response:
        record = await self._record(request)
        found = self._media.get(request.path_params["name"])
        if self.media_auth and not self._credentials_ok(request):
            response: Response = _TwilioError(401, 20003).response()
        elif found is None:
            response = _not_found(request.url.path).response()
        else:
            content, content_type = found
            response = Response(content, media_type=content_type)
        return await self._finish(record, response)

    async def _not_found(self, request: Request) -> Response:
        record = await self._record(request)
        return await self._finish(record, _not_found(request.url.path).response())

    def _create_message(self, record: dict[str, Any]) -> JSONResponse:
        form: dict[str, Any] = record["form"]
        to = _single(form, "To")

        for failure in list(self._failures):
            if failure.to is None or failure.to == to:
                self._failures.remove(failure)
                self.send_log.append({"at": self.clock(), "to": to, "status": failure.error.status})
                raise failure.error

        fields = _validate_send(form)
        sender = fields["From"] or fields.get("MessagingServiceSid") or ""
        try:
            self._check_rate(sender)
        except _TwilioError:
            self.send_log.append({"at": self.clock(), "to": to, "status": 429})
            raise
        self.send_log.append({"at": self.clock(), "to": to, "status": 201})

        media: list[str] = fields["MediaUrl"]
        # Twilio gives messages with media an "MM" sid and text-only ones an "SM" sid.
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        now = _rfc2822(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        resource: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            # A template's rendered text is not known here: Twilio fills it in later too.
            "body": fields.get("Body") or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields["From"],
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": str(len(media)),
            "num_segments": "1",  # WhatsApp messages are never split
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        self._messages[sid] = resource
        sent = {**fields, "sid": sid, "status": "queued"}
        self._sent_by_sid[sid] = sent
        self.sent.append(sent)
        return JSONResponse(resource, status_code=201)

    def _list_messages(self, request: Request) -> JSONResponse:
        """Minimal ``GET Messages.json``: filters To/From, one page, newest first like Twilio."""
        query = request.query_params
        found = [
            m for m in reversed(self._messages.values())
            if (not query.get("To") or m["to"] == query["To"])
            and (not query.get("From") or m["from"] == query["From"])
        ]
        page_size = int(query.get("PageSize", "50") or 50)
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return JSONResponse({
            "messages": found[:page_size],
            "start": 0,
            "end": max(min(len(found), page_size) - 1, 0),
            "page": 0,
            "page_size": page_size,
            "first_page_uri": uri,
            "previous_page_uri": None,
            "next_page_uri": None,
            "uri": uri,
        })

    def _check_rate(self, sender: str) -> None:
        """Sliding-window throughput per sender; refused sends do not use up the budget."""
        if self.mps is None:
            return
        # Rates below 1/s need a longer window to admit a whole message.
        window = max(1.0, 1.0 / self.mps)
        capacity = max(1, math.floor(self.mps * window + 1e-9))
        now = self.clock()
        times = self._send_times.setdefault(sender, deque())
        while times and now - times[0] >= window - self.tolerance:
            times.popleft()
        if len(times) >= capacity:
            self.throttled += 1
            raise _TwilioError(429, 20429)
        times.append(now)

    def _authenticate(self, request: Request, record: dict[str, Any]) -> None:
        ok = self._credentials_ok(request)
        record["auth_ok"] = ok
        # Valid credentials of another account do not open this one's resources either.
        if not ok or request.path_params.get("account_sid") != self.account_sid:
            record["auth_ok"] = False
            raise _TwilioError(401, 20003)

    def _credentials_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return hmac.compare_digest(user.encode(), self.account_sid.encode()) and \
            hmac.compare_digest(password.encode(), self.auth_token.encode())

    async def _record(self, request: Request) -> dict[str, Any]:
        form: dict[str, Any] = {}
        content_type = request.headers.get("content-type", "").lower()
        if request.method == "POST" and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            async with request.form() as data:
                for key in data:
                    values = [str(v) for v in data.getlist(key)]
                    # Twilio repeats MediaUrl for several files: always a list.
                    form[key] = values if key == "MediaUrl" or len(values) > 1 else values[0]
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "form": form,
            "auth_ok": None,  # None: route needs no auth
            "status": None,
        }
        self.requests.append(record)
        return record

    async def _finish(self, record: dict[str, Any], response: Response) -> Response:
        record["status"] = response.status_code
        if record["auth_ok"] is None and response.status_code == 401:
            record["auth_ok"] = False
        async with self._changed:
            self._changed.notify_all()
        return response

    async def _wait(self, satisfied: Callable[[], bool], timeout: float, want: str | None) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(satisfied), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {want or 'the condition'}; "
                    f"throttled={self.throttled}; sent so far:\n{self._describe_sent()}\n"
                    f"requests: {[(r['method'], r['path'], r['status']) for r in self.requests]}"
                ) from None

    def _describe_sent(self) -> str:
        if not self.sent:
            return "  (nothing)"
        return "\n".join(
            f"  {m['sid']} {m.get('From')} → {m.get('To')}: "
            + (f"{m['Body']!r}" if "Body" in m else f"{m.get('ContentSid')} "
               f"{json.dumps(m.get('ContentVariablesParsed'), ensure_ascii=False)}")
            + (f" media={m['MediaUrl']}" if m["MediaUrl"] else "")
            for m in self.sent
        )


# ----------------------------------------------------------------------------- validation


def _validate_send(form: dict[str, Any]) -> dict[str, Any]:
    """Check a Messages.json POST like Twilio does; return the decoded fields for ``sent``."""
    to = _single(form, "To")
    sender = _single(form, "From")
    service = _single(form, "MessagingServiceSid")
    body = _single(form, "Body")
    content_sid = _single(form, "ContentSid")
    variables = _single(form, "ContentVariables")
    media = form.get("MediaUrl") or []

    if not to:
        raise _TwilioError(400, 21604)
    if _SMS_ADDRESS.fullmatch(to):
        if not sender or not _SMS_ADDRESS.fullmatch(sender):
            raise _TwilioError(400, 21910)  # an SMS To needs an SMS From
        if not body:
            raise _TwilioError(400, 21602)
        if len(body) > MAX_BODY:
            raise _TwilioError(400, 21617)
        return {**form, "From": sender, "MediaUrl": [], "ContentVariablesParsed": None}
    if not _WHATSAPP_ADDRESS.fullmatch(to):
        raise _TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not sender and not service:
        raise _TwilioError(400, 21603)
    if sender and not sender.startswith("whatsapp:"):
        raise _TwilioError(400, 21910)  # a WhatsApp To needs a WhatsApp From
    if sender and not _WHATSAPP_ADDRESS.fullmatch(sender):
        raise _TwilioError(400, 21212, f"The 'From' number {sender} is not a valid phone "
                                       "number, shortcode, or alphanumeric sender ID.")
    if body and content_sid:
        # Stricter than Twilio, which ignores Body then: sending both is a bug in the caller.
        raise _TwilioError(400, 21619, "Send either Body or ContentSid, not both "
                                       "(the fake is stricter than Twilio here).")
    if not body and not content_sid and not media:
        raise _TwilioError(400, 21602)
    if body is not None and len(body) > MAX_BODY:
        raise _TwilioError(400, 21617)
    if content_sid is not None and not _CONTENT_SID.fullmatch(content_sid):
        raise _TwilioError(400, 21655)
    parsed: dict[str, str] | None = None
    if variables is not None:
        if content_sid is None:
            raise _TwilioError(400, 21656, "ContentVariables requires a ContentSid.")
        parsed = _parse_variables(variables)

    fields: dict[str, Any] = {k: v for k, v in form.items()}
    fields["From"] = sender
    fields["MediaUrl"] = list(media) if isinstance(media, list) else [media]
    fields["ContentVariablesParsed"] = parsed
    return fields


def _parse_variables(raw: str) -> dict[str, str]:
    """ContentVariables must be a JSON object of non-empty, single-line string values."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise _TwilioError(400, 21656) from None
    if not isinstance(parsed, dict):
        raise _TwilioError(400, 21656)
    for key, value in parsed.items():
        # WhatsApp refuses empty variables and ones with newlines, tabs or 5+ spaces in a row.
        if not isinstance(value, str) or not value.strip():
            raise _TwilioError(400, 21656, f"The ContentVariables Parameter is invalid: "
                                           f"variable {key!r} is null or empty.")
        if "\n" in value or "\t" in value or "     " in value:
            raise _TwilioError(400, 21656, f"The ContentVariables Parameter is invalid: "
                                           f"variable {key!r} contains a newline, a tab or "
                                           "more than four consecutive spaces.")
    return parsed


def _single(form: dict[str, Any], key: str) -> str | None:
    value = form.get(key)
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _not_found(path: str) -> _TwilioError:
    return _TwilioError(404, 20404, f"The requested resource {path} was not found")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


def _rfc2822(moment: datetime) -> str:
    """Twilio's date format: "Thu, 24 Aug 2023 05:01:45 +0000"."""
    return format_datetime(moment.replace(microsecond=0))


# -------------------------------------------------------------------------------- media


def _tiny_png() -> bytes:
    """A valid 1×1 RGB PNG, built rather than pasted so it stays readable."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x1f\x6f\xb4")  # filter byte + one blue-ish pixel
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def _tiny_pdf() -> bytes:
    """A valid one-page PDF with a correct xref table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


TINY_PNG = _tiny_png()
TINY_PDF = _tiny_pdf()
