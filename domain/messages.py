"""What crosses the line between channels and the conversation: ``Inbound`` in, ``Outbound`` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Inbound:
    """One thing a person did in a chat, in channel-neutral terms."""

    channel: str  # telegram | whatsapp | simulator
    sender_id: str  # the platform's id of the person (Telegram user id, WhatsApp number)
    chat_id: str  # where answers go
    message_id: str | None = None  # the platform's id of this message
    text: str | None = None
    callback: str | None = None  # data of a pressed button
    reply_to: str | None = None  # platform id of the bot message this replies to
    contact_phone: str | None = None  # a shared contact's phone number
    contact_is_own: bool = False  # the shared contact is the sender's own (Telegram user_id check)
    display_name: str = ""
    has_media: bool = False  # a sticker, photo, voice note... that we did not read as text
    media: tuple[tuple[str, str], ...] = ()  # (url, content type) of attached files we can forward
    phone: str | None = None  # the sender's phone when the channel vouches for it (WhatsApp, simulator)
    bot: str = ""  # whose bot or sender it came through: "" the default, else a school's code


@dataclass(frozen=True)
class Button:
    """A choice offered under a message; ``data`` comes back as ``Inbound.callback``."""

    label: str = ""  # shown as written (a child's name)...
    data: str = ""
    key: str | None = None  # ...or a words.yaml key, rendered in the reader's language
    request_contact: bool = False  # Telegram: share my phone number


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: a roster person (by phone) or, before linking, the account itself."""

    phone: str | None = None
    account_id: int | None = None
    guardian_id: int | None = None
    staff_id: int | None = None
    school_id: int | None = None
    language: str | None = None


@dataclass
class Outbound:
    """A message to send: a template in the recipient's language, its data, and buttons."""

    to: Recipient
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    buttons: list[list[Button]] = field(default_factory=list)
    concern_id: int | None = None
    media: list[dict[str, str]] = field(default_factory=list)  # [{url, content_type}] to pass on
    caused_by_staff_id: int | None = None  # the staff member to tell if it cannot be delivered
    broadcast_id: int | None = None
    priority: int = 0
    not_before: datetime | None = None  # quiet hours: deliver from this time on
