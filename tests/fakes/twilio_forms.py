"""Builders for the forms Twilio POSTs to our WhatsApp webhooks, and their signatures.

``inbound_form`` is an incoming WhatsApp message (``POST /webhooks/whatsapp``), ``status_form`` a
status callback (``POST /webhooks/whatsapp/status``); both are flat ``dict[str, str]`` with the
field set Twilio really sends, to be posted form-encoded. ``sign`` computes the
``X-Twilio-Signature`` header with twilio-python's own ``RequestValidator``, so a test signs
exactly as Twilio does: over the full public URL Twilio called (scheme, host, path and query)
plus every POST parameter.

Usage::

    form = inbound_form(message_sid=new_message_sid(), from_phone="+6281200000001", body="Halo")
    url = "https://jembatan.example/webhooks/whatsapp"     # PUBLIC_BASE_URL + path
    headers = {"X-Twilio-Signature": sign(url, form, DEFAULT_AUTH_TOKEN)}
    await client.post("/webhooks/whatsapp", data=form, headers=headers)
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence

from twilio.request_validator import RequestValidator

from tests.fakes.twilio_api import API_VERSION, DEFAULT_ACCOUNT_SID, SANDBOX_FROM

__all__ = [
    "DEFAULT_GUARDIAN_PHONE",
    "inbound_form",
    "new_message_sid",
    "sign",
    "status_form",
]

DEFAULT_GUARDIAN_PHONE = "+6281200000001"
# Twilio's WhatsApp sender ("channel install") sid appears in status callbacks.
_CHANNEL_INSTALL_SID = "XE" + "0123456789abcdef" * 2


def new_message_sid(*, media: bool = False) -> str:
    """A fresh Twilio message sid: "SM" + 32 hex (``"MM"`` for messages with media)."""
    return ("MM" if media else "SM") + secrets.token_hex(16)


def _whatsapp(phone: str) -> str:
    """``"+62812..."`` or ``"whatsapp:+62812..."`` → ``"whatsapp:+62812..."``."""
    return phone if phone.startswith("whatsapp:") else f"whatsapp:{phone}"


def _message_type(media: Sequence[tuple[str, str]], button: bool) -> str:
    if button:
        return "button"
    if not media:
        return "text"
    kind = media[0][1].split("/", 1)[0].lower()
    # WhatsApp's message types: anything that is not image/audio/video arrives as a document.
    return kind if kind in {"image", "audio", "video"} else "document"


def inbound_form(
    *,
    message_sid: str,
    from_phone: str,
    body: str = "",
    to: str = SANDBOX_FROM,
    profile_name: str = "Budi",
    num_media: int = 0,
    media: Sequence[tuple[str, str]] = (),
    replied_to_sid: str | None = None,
    button_payload: str | None = None,
    button_text: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> dict[str, str]:
    """An inbound WhatsApp message as Twilio posts it to the incoming-message webhook.

    ``from_phone`` is E.164 (``"+62812..."``; a ``"whatsapp:"`` prefix is accepted). ``media``
    are ``(url, content_type)`` pairs → ``MediaUrl<i>``/``MediaContentType<i>``; ``NumMedia`` is
    ``max(num_media, len(media))``, so a larger ``num_media`` fakes media whose URLs are missing.
    ``replied_to_sid`` makes it a reply to one of our messages (``OriginalRepliedMessageSid``,
    sender = ``to``). A quick-reply tap carries ``ButtonPayload``/``ButtonText`` and, as on
    Twilio, the button's text as ``Body`` unless ``body`` is given.
    """
    sender = _whatsapp(from_phone)
    button = button_payload is not None or button_text is not None
    if button and not body:
        body = button_text or ""
    form: dict[str, str] = {
        "SmsMessageSid": message_sid,
        "NumMedia": str(max(num_media, len(media))),
        "ProfileName": profile_name,
        "MessageType": _message_type(media, button),
        "SmsSid": message_sid,
        "WaId": re.sub(r"\D", "", sender),  # digits only, no "+"
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": API_VERSION,
    }
    for index, (url, content_type) in enumerate(media):
        form[f"MediaContentType{index}"] = content_type
        form[f"MediaUrl{index}"] = url
    if replied_to_sid is not None:
        form["OriginalRepliedMessageSender"] = to
        form["OriginalRepliedMessageSid"] = replied_to_sid
    if button_payload is not None:
        form["ButtonPayload"] = button_payload
    if button_text is not None:
        form["ButtonText"] = button_text
    return form


def status_form(
    *,
    message_sid: str,
    status: str,
    error_code: str | None = None,
    to: str = f"whatsapp:{DEFAULT_GUARDIAN_PHONE}",
    from_: str = SANDBOX_FROM,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> dict[str, str]:
    """A WhatsApp status callback (``MessageStatus`` sent/delivered/read/failed/undelivered...).

    ``ErrorCode`` is present only when given (Twilio sends it with failed/undelivered).
    Read and delivered receipts carry WhatsApp's ``EventType`` as well.
    """
    to = _whatsapp(to)
    form: dict[str, str] = {
        "ChannelPrefix": "whatsapp",
        "ApiVersion": API_VERSION,
        "MessageStatus": status,
        "SmsSid": message_sid,
        "SmsStatus": status,
        "ChannelInstallSid": _CHANNEL_INSTALL_SID,
        "To": to,
        "From": from_,
        "MessageSid": message_sid,
        "StructuredMessage": "false",
        "AccountSid": account_sid,
        "ChannelToAddress": to.removeprefix("whatsapp:"),
    }
    if status in {"read", "delivered"}:
        form["EventType"] = status.upper()
    if error_code is not None:
        form["ErrorCode"] = str(error_code)
    return form


def sign(url: str, form: Mapping[str, str], auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a POST of ``form`` to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, dict(form))
