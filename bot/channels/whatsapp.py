"""WhatsApp adapter (Twilio): inbound forms to ``Inbound``, outbox rows to Messages.json.

Inside the 24-hour customer-service window a message goes as free-form ``Body``; outside it,
as the approved Content template configured for its name in ``TWILIO_CONTENT_SIDS`` (its one
variable carries the text). Without one the sender holds the message. No school logic here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any


from domain.clock import Clock
from bot.inbox import Inbox
from bot.sender import NeedsTemplate, PermanentFailure, RetryLater
from domain.messages import Inbound
from domain.whatsapp_costs import SERVICE_WINDOW, in_window
from storage.models import ChannelAccount, OutboxMessage
from storage.phones import InvalidPhone, normalize_phone

if TYPE_CHECKING:
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

log = logging.getLogger(__name__)

WINDOW = SERVICE_WINDOW
MAX_BODY = 1600
FORWARDABLE_MEDIA = ("image/jpeg", "image/png", "image/webp", "application/pdf")
OUTSIDE_WINDOW = 63016
UNSUBSCRIBED = 21610
NOT_ON_WHATSAPP = (63003, 21211, 21614)
PRELOAD_DELAY = 1.0  # seconds after start-up: Twilio's client is read then, in a thread


def form_to_inbound(form: dict[str, str], channel: str = "whatsapp") -> Inbound | None:
    """Translate Twilio's inbound form (WhatsApp or SMS); the From number is the sender's identity."""
    try:
        phone = normalize_phone(form.get("From", ""))
    except InvalidPhone:
        return None
    media = []
    digits = form.get("NumMedia") or "0"
    count = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 5 else 0  # not "²"
    for index in range(min(count, 10)):
        url, kind = form.get(f"MediaUrl{index}"), form.get(f"MediaContentType{index}", "")
        if url:
            media.append((url, kind.split(";")[0].strip().lower()))
    text = form.get("Body") or None
    return Inbound(
        channel=channel, sender_id=phone, chat_id=f"whatsapp:{phone}" if channel == "whatsapp" else phone,
        phone=phone,
        message_id=form.get("MessageSid"), text=None if form.get("ButtonPayload") else text,
        callback=form.get("ButtonPayload") or None, reply_to=form.get("OriginalRepliedMessageSid") or None,
        # A shared location (Latitude/Longitude, no Body) is content we cannot pass on, like a sticker.
        display_name=form.get("ProfileName", ""), has_media=bool(media) or "Latitude" in form,
        media=tuple(media),
    )


def template_variable(text: str) -> str:
    """WhatsApp template parameters allow no newlines, tabs or runs of spaces: one flowing line."""
    flat = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return re.sub(r"\s{2,}", " ", flat)[:1024]


def signature_is_valid(auth_token: str | None, url: str, form: dict[str, str], signature: str) -> bool:
    """Twilio's own check; fails closed without a token or a signature."""
    if not auth_token or not signature:
        return False
    from twilio.request_validator import RequestValidator  # 10 ms of imports: not at start-up

    return RequestValidator(auth_token).validate(url, form, signature)


class WhatsAppChannel:
    """Delivers outbox rows through the Twilio REST API without blocking the loop."""

    name = "whatsapp"
    chat_rate_per_second = 1.0

    def __init__(self, *, account_sid: str, auth_token: str, sender: str, api_base_url: str,
                 content_sids: dict[str, str], rate_per_second: float, status_callback: str | None,
                 clock: Clock, inbox: Inbox, owner: str = "") -> None:
        self.owner = owner  # "" the deployment's sender, else the code of the school it belongs to
        self.account_sid, self.auth_token, self.sender = account_sid, auth_token, sender
        self.api_base_url = api_base_url
        self.content_sids = content_sids
        self.rate_per_second = rate_per_second
        self.status_callback = status_callback
        self.clock = clock
        self.client: Client | None = None
        inbox.register(self.name, lambda form: form_to_inbound(form, self.name))

    async def start(self) -> None:
        """Nothing to connect: the REST client is made at the first call to Twilio (see
        :meth:`_client`), and its modules are read in a thread soon after start-up."""
        loop = asyncio.get_running_loop()
        loop.call_later(PRELOAD_DELAY, lambda: loop.run_in_executor(None, _import_client))

    def _client(self) -> Client:
        # Twilio's REST client and aiohttp cost 0.15 to 0.3 s of imports: not before the service
        # is healthy. The aiohttp session is made in the constructor: inside the running loop.
        if self.client is None:
            Client, AsyncTwilioHttpClient = _import_client()
            self.client = Client(self.account_sid, self.auth_token, http_client=AsyncTwilioHttpClient())
            self.client.api.base_url = self.api_base_url
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.http_client.close()  # type: ignore[attr-defined]

    def in_window(self, account: ChannelAccount | None, now: datetime) -> bool:
        return account is not None and in_window(account.last_seen_at, now)

    async def deliver(self, message: OutboxMessage, account: ChannelAccount | None = None) -> str:
        client = self._client()
        fields: dict[str, Any] = {"to": message.chat_id, "from_": self.sender}
        if self.status_callback:
            fields["status_callback"] = self.status_callback
        fields.update(self.content(message, account))
        from twilio.base.exceptions import TwilioRestException  # loaded with the client

        try:
            sent = await client.messages.create_async(**fields)
        except TwilioRestException as exc:
            raise _classify(exc) from exc
        return str(sent.sid)

    async def fetch_status(self, external_id: str) -> tuple[str, str | None]:
        """Ask Twilio how a message fared (status callbacks are never retried and can be lost)."""
        found = await self._client().messages(external_id).fetch_async()
        return str(found.status), str(found.error_code) if found.error_code else None

    def content(self, message: OutboxMessage, account: ChannelAccount | None) -> dict[str, Any]:
        """Free-form inside the 24-hour window, the approved template outside it."""
        fields: dict[str, Any] = {}
        if self.in_window(account, self.clock.now()):
            text = message.text if len(message.text) <= MAX_BODY else message.text[: MAX_BODY - 1] + "…"
            fields["body"] = text
            if message.media:
                fields["media_url"] = [m["url"] for m in message.media]
        elif message.template in self.content_sids:
            fields["content_sid"] = self.content_sids[message.template]
            fields["content_variables"] = json.dumps({"1": template_variable(message.text)}, ensure_ascii=False)
        else:
            raise NeedsTemplate(f"outside the 24-hour window and no approved template for {message.template!r}")
        return fields


def _import_client() -> tuple[type[Client], type]:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    return Client, AsyncTwilioHttpClient


def _classify(exc: TwilioRestException) -> Exception:
    """Twilio's error as the sender's retry, hold or give-up."""
    code, status = exc.code, exc.status
    if code == OUTSIDE_WINDOW:
        return NeedsTemplate("outside the 24-hour window (63016)")
    if status == 429 or code == 20429:
        return RetryLater(1.0, f"twilio {status} {code}: {exc.msg}", throttled=True)  # over the MPS: soon
    if status is not None and status >= 500:
        return RetryLater(None, f"twilio {status} {code}: {exc.msg}")  # exponential backoff
    if code == UNSUBSCRIBED:
        return PermanentFailure(f"unsubscribed ({code})", unreachable=True)
    if code in NOT_ON_WHATSAPP:
        return PermanentFailure(f"not reachable on WhatsApp ({code}): {exc.msg}", unreachable=True, try_sms=True)
    return PermanentFailure(f"twilio {status} {code}: {exc.msg}")

